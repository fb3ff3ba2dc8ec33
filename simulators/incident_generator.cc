#include "simulators/incident_generator.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "simulators/random.h"

namespace gz::sim {
namespace {

// Stream of the generator's Random (the drill's responders use other streams of the same seed).
constexpr uint64_t kGeneratorStream = 11;
constexpr double kRepeatMinDelayS = 20;
constexpr double kRepeatMaxDelayS = 240;
constexpr double kRepeatRadiusM = 80;
constexpr int kPlacementTries = 64;
constexpr int kBoxTries = 10000;

// A stretch of time over which every district's rate is constant.
struct Segment {
  absl::Time begin;
  absl::Time end;
  std::vector<double> per_hour;  // alerts per hour, indexed like RateModel::districts()
  double total_per_hour = 0;
};

// The piecewise-constant rate of scenario.h's model.
class RateModel {
 public:
  RateModel(const Scenario& scenario, const CityData& city) : scenario_(scenario) {
    for (const District& d : city.map->districts()) districts_.push_back(d.code);
    shares_.assign(districts_.size(), 0);
    if (!scenario.district_weights.empty()) {
      for (const DistrictWeight& w : scenario.district_weights) {
        const auto it = std::find(districts_.begin(), districts_.end(), w.district);
        if (it != districts_.end()) shares_[it - districts_.begin()] = w.weight;
      }
    } else {
      const std::vector<District>& all = city.map->districts();
      for (size_t i = 0; i < all.size(); ++i) shares_[i] = static_cast<double>(all[i].population);
      double population = 0;
      for (double p : shares_) population += p;
      if (!(population > 0)) shares_.assign(districts_.size(), 1);
    }
    double sum = 0;
    for (double w : shares_) sum += w;
    for (double& w : shares_) w = sum > 0 ? w / sum : 0;
    for (double m : scenario.hourly_curve) curve_sum_ += m;
  }

  const std::vector<DistrictCode>& districts() const { return districts_; }

  // The segments covering [from, to) ∩ [start, end), in time order.
  std::vector<Segment> Segments(absl::Time from, absl::Time to) const {
    const absl::Time begin = std::max(from, scenario_.start);
    const absl::Time end = std::min(to, scenario_.end());
    std::vector<Segment> segments;
    if (begin >= end) return segments;

    std::vector<absl::Time> cuts{begin, end};
    const absl::TimeZone tz = GuangzhouTime();
    for (absl::CivilHour h = absl::ToCivilHour(begin, tz) + 1;; ++h) {
      const absl::Time t = absl::FromCivil(h, tz);
      if (t >= end) break;
      cuts.push_back(t);
    }
    for (const Surge& s : scenario_.surges) {
      for (absl::Time t : {s.start, s.end}) {
        if (t > begin && t < end) cuts.push_back(t);
      }
    }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      Segment seg;
      seg.begin = cuts[i];
      seg.end = cuts[i + 1];
      const int hour = absl::ToCivilHour(seg.begin, tz).hour();
      const double base =
          scenario_.base_alerts_per_hour * scenario_.hourly_curve[hour] * 24 / curve_sum_;
      seg.per_hour.resize(districts_.size());
      for (size_t d = 0; d < districts_.size(); ++d) {
        double rate = base * shares_[d];
        for (const Surge& s : scenario_.surges) {
          if (seg.begin < s.start || seg.begin >= s.end) continue;
          if (!s.districts.empty() && std::find(s.districts.begin(), s.districts.end(),
                                                districts_[d]) == s.districts.end()) {
            continue;
          }
          rate *= s.rate_multiplier;
        }
        seg.per_hour[d] = rate;
        seg.total_per_hour += rate;
      }
      segments.push_back(std::move(seg));
    }
    return segments;
  }

 private:
  const Scenario& scenario_;
  std::vector<DistrictCode> districts_;  // the city's, in code order
  std::vector<double> shares_;           // sum 1 (or all 0)
  double curve_sum_ = 0;
};

// An index drawn with probability weights[i] / sum(weights). REQUIRES: some weight > 0.
template <typename Weights>
size_t PickWeighted(const Weights& weights, Random& random) {
  double total = 0;
  for (double w : weights) total += w;
  double r = random.Uniform() * total;
  size_t last = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] <= 0) continue;
    if (r < weights[i]) return i;
    r -= weights[i];
    last = i;
  }
  return last;  // only reached through rounding
}

// A generated alert before it is numbered.
struct Draft {
  absl::Time at;
  size_t order = 0;  // generation order: breaks ties in time
  LonLat position;
  DistrictCode district = 0;
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;
  bool repeat = false;
  size_t repeat_of_order = 0;
};

class Generator {
 public:
  Generator(const Scenario& scenario, const CityData& city)
      : scenario_(scenario), city_(city), random_(scenario.seed, kGeneratorStream) {
    for (const Unit& unit : city.units) posts_[unit.district].push_back(&unit);
  }

  std::vector<ScheduledAlert> Run() {
    const RateModel model(scenario_, city_);
    for (const Segment& seg : model.Segments(scenario_.start, scenario_.end())) {
      if (!(seg.total_per_hour > 0)) continue;
      const double mean_gap_s = 3600 / seg.total_per_hour;
      const double length_s = absl::ToDoubleSeconds(seg.end - seg.begin);
      double offset_s = 0;
      while (true) {
        offset_s += random_.Exponential(mean_gap_s);
        if (offset_s >= length_s) break;
        const absl::Time at = seg.begin + WholeMilliseconds(offset_s);
        const DistrictCode district = model.districts()[PickWeighted(seg.per_hour, random_)];
        AddIncident(at, district);
      }
    }
    return Number();
  }

 private:
  static absl::Duration WholeMilliseconds(double seconds) {
    return absl::Milliseconds(static_cast<int64_t>(seconds * 1000));
  }

  void AddIncident(absl::Time at, DistrictCode district) {
    Draft first;
    first.at = at;
    first.order = drafts_.size();
    first.district = district;
    first.position = PlaceIn(district);
    first.category = static_cast<Category>(PickWeighted(scenario_.category_weights, random_));
    first.level = static_cast<Level>(PickWeighted(scenario_.level_weights, random_));
    drafts_.push_back(first);
    if (random_.Uniform() >= scenario_.repeat_report_share) return;

    Draft again = first;
    again.order = drafts_.size();
    again.at = at + WholeMilliseconds(random_.Uniform(kRepeatMinDelayS, kRepeatMaxDelayS));
    again.position = Near(first.position, district);
    again.repeat = true;
    again.repeat_of_order = first.order;
    if (again.at < scenario_.end()) drafts_.push_back(again);
  }

  bool InDistrict(LonLat p, DistrictCode code) const {
    const District* d = city_.map->DistrictAt(city_.projection.ToPlane(p));
    return d != nullptr && d->code == code;
  }

  // Near a random post of the district, scattered by place_jitter_m, inside the district.
  LonLat PlaceIn(DistrictCode code) {
    const auto it = posts_.find(code);
    if (it != posts_.end()) {
      const Unit& post = *it->second[random_.Below(it->second.size())];
      const PlanePoint centre = city_.projection.ToPlane(post.position);
      for (int i = 0; i < kPlacementTries; ++i) {
        const auto [dx, dy] = random_.NormalPair();
        const LonLat p = city_.projection.ToLonLat(
            {centre.x + dx * scenario_.place_jitter_m, centre.y + dy * scenario_.place_jitter_m});
        if (InDistrict(p, code)) return p;
      }
      return post.position;  // LoadCityData checked that posts lie in their district
    }
    // A district without units (a hand-made city): uniform over its bounding box.
    const District& d = *city_.map->FindDistrict(code);
    for (int i = 0; i < kBoxTries; ++i) {
      const LonLat p = city_.projection.ToLonLat(
          {random_.Uniform(d.min_x, d.max_x), random_.Uniform(d.min_y, d.max_y)});
      if (InDistrict(p, code)) return p;
    }
    return city_.projection.ToLonLat(d.polygons.front().rings.front().front());
  }

  // Uniform within kRepeatRadiusM of `origin`, inside the district; `origin` after many misses.
  LonLat Near(LonLat origin, DistrictCode code) {
    const PlanePoint o = city_.projection.ToPlane(origin);
    for (int i = 0; i < kPlacementTries; ++i) {
      const double dx = random_.Uniform(-kRepeatRadiusM, kRepeatRadiusM);
      const double dy = random_.Uniform(-kRepeatRadiusM, kRepeatRadiusM);
      if (dx * dx + dy * dy > kRepeatRadiusM * kRepeatRadiusM) continue;
      const LonLat p = city_.projection.ToLonLat({o.x + dx, o.y + dy});
      if (InDistrict(p, code)) return p;
    }
    return origin;
  }

  // Sorts the drafts by time and gives them reporters and sequence numbers.
  std::vector<ScheduledAlert> Number() {
    std::sort(drafts_.begin(), drafts_.end(), [](const Draft& a, const Draft& b) {
      return a.at != b.at ? a.at < b.at : a.order < b.order;
    });
    std::vector<size_t> index_of_order(drafts_.size());
    for (size_t i = 0; i < drafts_.size(); ++i) index_of_order[drafts_[i].order] = i;

    std::vector<ScheduledAlert> alerts;
    alerts.reserve(drafts_.size());
    absl::flat_hash_map<DistrictCode, uint64_t> reporters;
    for (size_t i = 0; i < drafts_.size(); ++i) {
      const Draft& d = drafts_[i];
      ScheduledAlert a;
      a.at = d.at;
      a.alert.reporter_id = absl::StrCat("110-", d.district, "-", ++reporters[d.district]);
      a.alert.client_sequence = i + 1;
      a.alert.position = d.position;
      a.alert.category = d.category;
      a.alert.level = d.level;
      a.repeat_report = d.repeat;
      a.repeat_of = d.repeat ? index_of_order[d.repeat_of_order] : 0;
      a.district = d.district;
      alerts.push_back(std::move(a));
    }
    return alerts;
  }

  const Scenario& scenario_;
  const CityData& city_;
  Random random_;
  absl::flat_hash_map<DistrictCode, std::vector<const Unit*>> posts_;  // in file order
  std::vector<Draft> drafts_;
};

}  // namespace

std::vector<ScheduledAlert> GenerateAlerts(const Scenario& scenario, const CityData& city) {
  return Generator(scenario, city).Run();
}

std::map<DistrictCode, double> ExpectedAlertsByDistrict(const Scenario& scenario,
                                                        const CityData& city, absl::Time from,
                                                        absl::Time to) {
  const RateModel model(scenario, city);
  std::map<DistrictCode, double> expected;
  for (DistrictCode code : model.districts()) expected[code] = 0;
  for (const Segment& seg : model.Segments(from, to)) {
    const double hours = absl::ToDoubleHours(seg.end - seg.begin);
    for (size_t d = 0; d < model.districts().size(); ++d) {
      expected[model.districts()[d]] += seg.per_hour[d] * hours;
    }
  }
  return expected;
}

double ExpectedAlerts(const Scenario& scenario, const CityData& city, absl::Time from,
                      absl::Time to) {
  double total = 0;
  for (const auto& [code, n] : ExpectedAlertsByDistrict(scenario, city, from, to)) total += n;
  return total;
}

double ExpectedAlerts(const Scenario& scenario, const CityData& city) {
  return ExpectedAlerts(scenario, city, scenario.start, scenario.end());
}

}  // namespace gz::sim
