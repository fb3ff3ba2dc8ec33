#include "tests/support/grid_world.h"

#include <stdexcept>
#include <utility>

namespace gz::testing {

DispatchConfig SmallTestConfig() {
  DispatchConfig config = DispatchConfig::Defaults();
  config.travel.detour_factor = 1.0;
  config.travel.speed_mps = {1.0, 2.0, 4.0};
  ResponsePlan plan;
  plan.frontline_units = 2;
  plan.frontline_ring = absl::Minutes(1);
  plan.assembly_headcount = 0;
  plan.assembly_ring = absl::Minutes(1);
  plan.ack_deadline = absl::Seconds(30);
  for (int c = 1; c < kCategoryCount; ++c) {
    for (int l = 1; l < kLevelCount; ++l) {
      config.SetPlan(static_cast<Category>(c), static_cast<Level>(l), plan);
    }
  }
  return config;
}

GridWorld::GridWorld(const std::vector<std::string>& rows, DispatchConfig config, double cell_m)
    : cell_m_(cell_m) {
  const double height = static_cast<double>(rows.size()) * cell_m;
  const double width = rows.empty() ? 0 : static_cast<double>(rows[0].size()) * cell_m;
  constexpr double kMargin = 1000;
  District district;
  district.code = 440100;
  district.name_zh = "测试区";
  district.name_en = "Test";
  district.polygons.push_back(Polygon{{Ring{{-kMargin, kMargin},
                                            {width + kMargin, kMargin},
                                            {width + kMargin, -height - kMargin},
                                            {-kMargin, -height - kMargin}}}});
  std::vector<Zone> zones{
      Zone{1, 440100, "西", PlanePoint{-kMargin, -height / 2}, true},
      Zone{2, 440100, "东", PlanePoint{width + kMargin, -height / 2}, true},
  };
  map_ = std::make_unique<DistrictMap>(std::vector<District>{district}, zones);

  std::vector<Unit> units;
  bool have_alert = false;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      const char ch = rows[r][c];
      const PlanePoint plane{static_cast<double>(c) * cell_m, -static_cast<double>(r) * cell_m};
      if (ch == '*') {
        alert_point_ = projection_.ToLonLat(plane);
        have_alert = true;
      } else if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z')) {
        Unit u;
        u.id = static_cast<UnitId>(units.size() + 1);
        u.name = std::string(1, ch);
        u.kind = UnitKind::kShop;
        u.mode = (ch >= 'a' && ch <= 'z') ? TravelMode::kBicycle : TravelMode::kOnFoot;
        u.position = projection_.ToLonLat(plane);
        u.district = 440100;
        u.zone = map_->ZoneAt(plane).value_or(0);
        u.members = 10;
        u.on_post = 2;
        if (!units_.emplace(ch, u.id).second) throw std::invalid_argument("letter used twice");
        units.push_back(std::move(u));
      } else if (ch != '.') {
        throw std::invalid_argument(std::string("unknown map character: ") + ch);
      }
    }
  }
  (void)have_alert;
  auto registry = UnitRegistry::Create(std::move(units), projection_, config.travel);
  if (!registry.ok()) throw std::invalid_argument(std::string(registry.status().message()));
  auto core = DispatchCore::Create(std::move(config), map_.get(), *std::move(registry), start_);
  if (!core.ok()) throw std::invalid_argument(std::string(core.status().message()));
  core_ = *std::move(core);
}

UnitId GridWorld::unit(char name) const {
  auto it = units_.find(name);
  if (it == units_.end()) throw std::invalid_argument(std::string("no unit ") + name);
  return it->second;
}

char GridWorld::name(UnitId id) const {
  for (const auto& [ch, uid] : units_) {
    if (uid == id) return ch;
  }
  return '?';
}

LonLat GridWorld::Cell(double row, double column) const {
  return projection_.ToLonLat(PlanePoint{column * cell_m_, -row * cell_m_});
}

std::vector<Event> GridWorld::Apply(absl::Duration offset, CommandBody body) {
  std::vector<Event> out;
  core_->Apply(Command{start_ + offset, std::move(body)}, &out);
  events_.insert(events_.end(), out.begin(), out.end());
  return out;
}

std::vector<Event> GridWorld::RaiseAlertAtStar(absl::Duration offset, Category category,
                                               Level level) {
  return Apply(offset, RaiseAlert{"test", next_sequence_++, alert_point_, category, level});
}

std::string GridWorld::AssignedNames(const std::vector<Event>& events) const {
  std::string names;
  for (const AssignmentIssued& a : EventsOf<AssignmentIssued>(events)) names += name(a.unit);
  return names;
}

AssignmentId GridWorld::AssignmentOf(char name) const {
  const Assignment* a = core_->ActiveAssignmentOf(unit(name));
  return a == nullptr ? 0 : a->id;
}

}  // namespace gz::testing
