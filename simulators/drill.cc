// drill: synthetic alerts through the dispatch core, in-process, with a simulated clock and
// simulated responders, over the Guangzhou default (23,000 units). Prints what happened: incidents
// with their assignments, rings and times, then a summary against the 1/3/5/10/20-minute rings.
//
// Everything is deterministic: the same flags give the same output, byte for byte (wall-clock
// figures go to stderr).

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/config/city_data.h"
#include "engine/config/dispatch_config_file.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/dispatch/event_format.h"
#include "simulators/random.h"

ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR,
          "Directory with the dataset and dispatch.textproto.");
ABSL_FLAG(int, alerts, 300, "Number of synthetic alerts to raise.");
ABSL_FLAG(double, hours, 2.0, "Simulated span over which the alerts arrive (Poisson).");
ABSL_FLAG(uint64_t, seed, 20261126, "Seed for alerts and responder behaviour.");
ABSL_FLAG(double, decline_rate, 0.08, "Share of assignments a responder declines.");
ABSL_FLAG(double, silence_rate, 0.05, "Share of assignments a responder never answers.");
ABSL_FLAG(double, ack_delay_s, 12.0, "Mean delay before a responder acknowledges (exponential).");
ABSL_FLAG(int, show, 3, "Incidents whose whole timeline is printed.");
ABSL_FLAG(int, list, 30, "Incidents listed one per line (0: none, -1: all).");

namespace gz {
namespace {

struct Scheduled {
  absl::Time at;
  uint64_t order;  // ties in time are applied in scheduling order
  CommandBody command;
  bool operator>(const Scheduled& o) const { return at != o.at ? at > o.at : order > o.order; }
};

struct CategoryMix {
  Category category;
  int weight;
};
constexpr CategoryMix kCategoryMix[] = {
    {Category::kMedical, 30},        {Category::kPublicSecurity, 22}, {Category::kTraffic, 18},
    {Category::kFire, 12},           {Category::kRescue, 8},          {Category::kCrowd, 4},
    {Category::kNaturalDisaster, 4}, {Category::kHazmat, 2},
};
// Ⅳ / Ⅲ / Ⅱ / Ⅰ
constexpr int kLevelWeights[] = {80, 14, 5, 1};

class Drill {
 public:
  Drill(CityData city, DispatchConfig config, uint64_t seed)
      : city_(std::move(city)), random_(seed, 7) {
    auto registry = UnitRegistry::Create(city_.units, city_.projection, config.travel);
    if (!registry.ok()) Die(registry.status());
    auto core =
        DispatchCore::Create(std::move(config), city_.map.get(), *std::move(registry), start_);
    if (!core.ok()) Die(core.status());
    core_ = *std::move(core);
  }

  void Run(int alerts, absl::Duration span) {
    // Alert arrival times: a Poisson process over the span; places near a random unit's post, so
    // alerts follow where units (and people) are.
    absl::Time t = start_;
    const absl::Duration mean_gap = span / std::max(alerts, 1);
    for (int i = 0; i < alerts; ++i) {
      t += absl::Seconds(random_.Exponential(absl::ToDoubleSeconds(mean_gap)));
      const Unit& near = city_.units[random_.Below(city_.units.size())];
      const auto [dx, dy] = random_.NormalPair();
      PlanePoint p = city_.projection.ToPlane(near.position);
      p.x += dx * 150;
      p.y += dy * 150;
      RaiseAlert alert{absl::StrCat("drill-", 1 + i % 40), static_cast<uint64_t>(i + 1),
                       city_.projection.ToLonLat(p), PickCategory(), PickLevel()};
      Schedule(t, std::move(alert));
      // One alert in ten is reported again by a bystander a little later: it should merge.
      if (random_.Uniform() < 0.1) {
        const auto [ex, ey] = random_.NormalPair();
        RaiseAlert again{absl::StrCat("bystander-", i), 1,
                         city_.projection.ToLonLat({p.x + ex * 60, p.y + ey * 60}), last_category_,
                         last_level_};
        Schedule(t + absl::Seconds(random_.Uniform(20, 240)), std::move(again));
      }
    }

    const auto wall_start = std::chrono::steady_clock::now();
    std::vector<Event> events;
    for (;;) {
      const std::optional<absl::Time> deadline = core_->NextDeadline();
      const bool have_scheduled = !queue_.empty();
      if (!have_scheduled && !deadline) break;
      Command command;
      if (have_scheduled && (!deadline || queue_.top().at <= *deadline)) {
        command = Command{queue_.top().at, queue_.top().command};
        queue_.pop();
      } else {
        command = Command{*deadline, AdvanceTime{}};
      }
      events.clear();
      core_->Apply(command, &events);
      for (const Event& e : events) Observe(e);
    }
    wall_seconds_ =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  }

  void Print(int show, int list) const {
    const CoreStats& s = core_->stats();
    std::printf("== Drill over %zu units, %zu districts, %zu zones (synthetic)\n",
                city_.units.size(), city_.map->districts().size(), city_.map->zones().size());
    std::printf("   started %s, simulated until %s\n\n",
                absl::FormatTime("%Y-%m-%d %H:%M:%S (UTC+8)", start_, absl::FixedTimeZone(8 * 3600))
                    .c_str(),
                FormatOffset(core_->now(), start_).c_str());

    int shown = 0;
    for (const auto& [id, inc] : core_->incidents()) {
      if (shown++ >= show) break;
      std::printf("-- Incident %llu: %s level %s in %s (zone %u), %d report(s)\n",
                  static_cast<unsigned long long>(id), CategoryName(inc.category).data(),
                  LevelName(inc.level).data(), DistrictName(inc.district).c_str(), inc.zone,
                  inc.reports);
      auto it = timelines_.find(id);
      if (it == timelines_.end()) continue;
      for (const auto& [at, line] : it->second) {
        std::printf("   %s  %s\n", FormatOffset(at, inc.opened_at).c_str(), line.c_str());
      }
      std::printf("\n");
    }

    if (list != 0) {
      std::printf("%-5s %-9s %-17s %-4s %-8s %-30s %-8s %-8s %-9s %s\n", "id", "opened", "category",
                  "lvl", "district", "frontline (unit eta/ring)", "1st ack", "1st arr", "assembled",
                  "state");
      int listed = 0;
      for (const auto& [id, inc] : core_->incidents()) {
        if (list > 0 && listed++ >= list) break;
        std::string frontline;
        for (AssignmentId aid : inc.assignments) {
          const Assignment* a = core_->FindAssignment(aid);
          if (a->role != AssignmentRole::kFrontline || a->status == AssignmentStatus::kDeclined ||
              a->status == AssignmentStatus::kExpired) {
            continue;
          }
          if (frontline.size() > 24) {
            frontline += "…";
            break;
          }
          absl::StrAppend(&frontline, frontline.empty() ? "" : " ", a->unit, " ",
                          static_cast<int>(a->eta_s / 60), "m/", absl::ToInt64Minutes(a->ring),
                          "'");
        }
        std::printf("%-5llu %-9s %-17s %-4s %-8s %-30s %-8s %-8s %-9s %s\n",
                    static_cast<unsigned long long>(id),
                    FormatOffset(inc.opened_at, start_).c_str(), CategoryName(inc.category).data(),
                    LevelName(inc.level).data(), DistrictName(inc.district).c_str(),
                    frontline.c_str(), Since(inc.first_ack_at, inc.opened_at).c_str(),
                    Since(inc.first_arrival_at, inc.opened_at).c_str(),
                    Since(inc.assembled_at, inc.opened_at).c_str(),
                    IncidentStateName(inc.state).data());
      }
      std::printf("\n");
    }

    std::vector<double> to_ack, to_arrival, to_assembly;
    std::map<int, int> arrival_within;  // ring minutes -> incidents whose first unit arrived in it
    const std::vector<int> rings{1, 3, 5, 10, 20};
    for (const auto& [id, inc] : core_->incidents()) {
      if (inc.first_ack_at != absl::InfinitePast()) {
        to_ack.push_back(absl::ToDoubleSeconds(inc.first_ack_at - inc.opened_at));
      }
      if (inc.first_arrival_at != absl::InfinitePast()) {
        const double s = absl::ToDoubleSeconds(inc.first_arrival_at - inc.opened_at);
        to_arrival.push_back(s);
        for (int r : rings) {
          if (s <= r * 60) ++arrival_within[r];
        }
      }
      if (inc.assembled_at != absl::InfinitePast()) {
        to_assembly.push_back(absl::ToDoubleSeconds(inc.assembled_at - inc.opened_at));
      }
    }
    const size_t incidents = core_->incidents().size();
    std::printf("== Summary\n");
    std::printf("   alerts: %llu opened incidents, %llu merged into one, %llu rejected\n",
                ULL(s.alerts_accepted), ULL(s.alerts_merged), ULL(s.alerts_rejected));
    std::printf(
        "   assignments: %llu issued, %llu acknowledged, %llu declined, %llu expired "
        "(silence), %llu released at the end\n",
        ULL(s.assignments_issued), ULL(s.assignments_acked), ULL(s.assignments_declined),
        ULL(s.assignments_expired), ULL(s.assignments_released));
    std::printf(
        "   cascade: %llu ring widenings, %llu notifications to centres/forces, %llu "
        "incidents short after every ring\n",
        ULL(s.ring_widenings), ULL(s.escalations), ULL(s.incidents_short));
    std::printf("   time to first acknowledgement: %s\n", Percentiles(to_ack).c_str());
    std::printf("   time to first unit on scene:   %s\n", Percentiles(to_arrival).c_str());
    std::printf(
        "   time to headcount assembled:   %s (%zu incidents with an assembly target met)\n",
        Percentiles(to_assembly).c_str(), to_assembly.size());
    std::printf("   first unit on scene within the ring:");
    for (int r : rings) {
      std::printf(
          "  %d min %.1f%%", r,
          incidents == 0 ? 0.0 : 100.0 * arrival_within[r] / static_cast<double>(incidents));
    }
    std::printf("\n");
    std::fflush(stdout);
    std::fprintf(stderr, "(replayed %s of simulated time in %.3f s of wall time: %.0fx)\n",
                 absl::FormatDuration(absl::Trunc(core_->now() - start_, absl::Seconds(1))).c_str(),
                 wall_seconds_, absl::ToDoubleSeconds(core_->now() - start_) / wall_seconds_);
  }

 private:
  static unsigned long long ULL(uint64_t v) { return static_cast<unsigned long long>(v); }

  [[noreturn]] static void Die(const absl::Status& status) {
    std::fprintf(stderr, "drill: %s\n", std::string(status.message()).c_str());
    std::exit(1);
  }

  static std::string Since(absl::Time t, absl::Time origin) {
    return t == absl::InfinitePast() ? "-" : FormatOffset(t, origin);
  }

  static std::string Percentiles(std::vector<double> v) {
    if (v.empty()) return "n/a";
    std::sort(v.begin(), v.end());
    const auto at = [&](double q) {
      return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
    };
    const auto fmt = [](double s) {
      return absl::StrFormat("%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
    };
    return absl::StrCat("p50 ", fmt(at(0.5)), ", p90 ", fmt(at(0.9)), ", max ", fmt(v.back()),
                        " (n=", v.size(), ")");
  }

  std::string DistrictName(DistrictCode code) const {
    const District* d = city_.map->FindDistrict(code);
    return d == nullptr ? absl::StrCat(code) : d->name_en;
  }

  Category PickCategory() {
    int total = 0;
    for (const CategoryMix& m : kCategoryMix) total += m.weight;
    int r = static_cast<int>(random_.Below(total));
    for (const CategoryMix& m : kCategoryMix) {
      if (r < m.weight) return last_category_ = m.category;
      r -= m.weight;
    }
    return last_category_ = Category::kMedical;
  }

  Level PickLevel() {
    int r = static_cast<int>(random_.Below(100));
    for (int l = 0; l < 4; ++l) {
      if (r < kLevelWeights[l]) return last_level_ = static_cast<Level>(l + 1);
      r -= kLevelWeights[l];
    }
    return last_level_ = Level::kIvGeneral;
  }

  void Schedule(absl::Time at, CommandBody command) {
    queue_.push(Scheduled{at, next_order_++, std::move(command)});
  }

  // The simulated responders and operators react to what the core decided.
  void Observe(const Event& e) {
    if (const auto* a = std::get_if<AssignmentIssued>(&e.body)) {
      const double roll = random_.Uniform();
      if (roll < absl::GetFlag(FLAGS_decline_rate)) {
        Schedule(e.at + absl::Seconds(random_.Uniform(3, 20)),
                 DeclineAssignment{a->unit, a->assignment,
                                   static_cast<DeclineReason>(1 + random_.Below(4))});
      } else if (roll >= absl::GetFlag(FLAGS_decline_rate) + absl::GetFlag(FLAGS_silence_rate)) {
        const absl::Duration ack =
            absl::Seconds(2 + random_.Exponential(absl::GetFlag(FLAGS_ack_delay_s)));
        Schedule(e.at + ack, AckAssignment{a->unit, a->assignment});
        Schedule(e.at + ack + absl::Seconds(a->eta_s), ReportArrival{a->unit, a->assignment});
      }
    } else if (const auto* arrived = std::get_if<UnitArrived>(&e.body)) {
      const Incident* inc = core_->FindIncident(arrived->incident);
      if (inc != nullptr && inc->first_arrival_at == e.at && resolving_.insert(inc->id).second) {
        // The operator resolves the incident after 10-40 minutes on scene, then closes it.
        const absl::Time resolve = e.at + absl::Minutes(random_.Uniform(10, 40));
        Schedule(resolve, ResolveIncident{inc->id});
        Schedule(resolve + absl::Minutes(2), CloseIncident{inc->id});
      }
    } else if (const auto* changed = std::get_if<IncidentStateChanged>(&e.body)) {
      if (changed->to == IncidentState::kEscalated && resolving_.insert(changed->incident).second) {
        // Professional forces took it over; the operator cancels the unit response later.
        Schedule(e.at + absl::Minutes(30), ResolveIncident{changed->incident});
        Schedule(e.at + absl::Minutes(32), CloseIncident{changed->incident});
      }
    }
    const IncidentId incident = IncidentOf(e.body);
    if (incident != 0 && static_cast<int>(incident) <= absl::GetFlag(FLAGS_show)) {
      timelines_[incident].emplace_back(e.at, FormatEvent(e.body));
    }
  }

  static IncidentId IncidentOf(const EventBody& body) {
    return std::visit(
        [](const auto& e) -> IncidentId {
          if constexpr (requires { e.incident; }) {
            return e.incident;
          } else {
            return 0;
          }
        },
        body);
  }

  CityData city_;
  sim::Random random_;
  absl::Time start_ =
      absl::FromCivil(absl::CivilSecond(2026, 7, 15, 8, 0, 0), absl::FixedTimeZone(8 * 3600));
  std::unique_ptr<DispatchCore> core_;
  std::priority_queue<Scheduled, std::vector<Scheduled>, std::greater<>> queue_;
  uint64_t next_order_ = 0;
  Category last_category_ = Category::kMedical;
  Level last_level_ = Level::kIvGeneral;
  absl::flat_hash_set<IncidentId> resolving_;
  std::map<IncidentId, std::vector<std::pair<absl::Time, std::string>>> timelines_;
  double wall_seconds_ = 0;
};

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs a drill of synthetic alerts through the dispatch core in-process, with simulated\n"
      "responders and a simulated clock, over the unit set in --config_dir, and prints the\n"
      "incidents, their assignments, rings and times, and a summary.\n\n"
      "  drill --alerts=300 --hours=2 --seed=7");
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_config_dir);
  absl::StatusOr<gz::CityData> city = gz::LoadCityData(dir);
  if (!city.ok()) {
    std::fprintf(stderr, "drill: cannot load the city from %s: %s\n", dir.c_str(),
                 std::string(city.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<gz::DispatchConfig> config =
      gz::ReadDispatchConfig(gz::ConfigPath(dir, gz::kDispatchConfigFile));
  if (!config.ok()) {
    std::fprintf(stderr, "drill: %s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  const int alerts = absl::GetFlag(FLAGS_alerts);
  const double hours = absl::GetFlag(FLAGS_hours);
  if (alerts < 0 || !(hours > 0)) {
    std::fprintf(stderr, "drill: --alerts must be >= 0 and --hours > 0\n");
    return 1;
  }
  gz::Drill drill(*std::move(city), *std::move(config), absl::GetFlag(FLAGS_seed));
  drill.Run(alerts, absl::Hours(hours));
  drill.Print(absl::GetFlag(FLAGS_show), absl::GetFlag(FLAGS_list));
  return 0;
}
