// A drill scenario: when and where synthetic alerts arrive, what they are, and how the simulated
// responders behave. Plain data with a default for every field and one Validate().
//
// Planners write scenarios as text-format files (schema simulators/scenario.proto, examples in
// config/scenarios/, keys in config/README.md); ReadScenario converts one to this struct, resolving
// district names to codes. Protobuf stays inside scenario.cc.
//
// The alert rate model (used by GenerateAlerts in incident_generator.h): in district d at time t,
//
//   rate(d, t) = base_alerts_per_hour × hourly_curve[local hour of t] / mean(hourly_curve)
//                × share(d) × product of the rate_multiplier of every surge covering d at t
//
// where share(d) is d's weight over the sum of all weights (district_weights, or the population
// when that is empty). Without surges the city's rate averages base_alerts_per_hour over a day.
//
// Thread-safety: plain data; the functions share no state.

#ifndef SIMULATORS_SCENARIO_H_
#define SIMULATORS_SCENARIO_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/config/city_data.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/units/unit.h"

namespace gz::sim {

// Scenario times are local Guangzhou time: UTC+8 all year.
absl::TimeZone GuangzhouTime();

// The default daily curve: 24 hourly multipliers with mean 1 (see scenario.proto).
std::array<double, 24> DefaultHourlyCurve();

struct DistrictWeight {
  DistrictCode district = 0;
  double weight = 0;  // >= 0; only ratios matter
  bool operator==(const DistrictWeight&) const = default;
};

// The rate in `districts` is multiplied by `rate_multiplier` during [start, end).
struct Surge {
  std::string name;
  std::vector<DistrictCode> districts;  // empty: the whole city
  absl::Time start;
  absl::Time end;
  double rate_multiplier = 1;  // 0-100
  bool operator==(const Surge&) const = default;
};

// The simulated people on post and the operator (used by the drill, not by the generator).
struct ResponderBehaviour {
  double ack_delay_mean_s = 12;  // mean of the exponential delay before an acknowledgement
  double decline_share = 0.08;   // share of assignments declined
  double silence_share = 0.05;   // share never answered (the ack deadline expires)
  // The operator resolves an incident this long after its first unit is on scene, uniform.
  double on_scene_minutes_min = 10;
  double on_scene_minutes_max = 40;
  bool operator==(const ResponderBehaviour&) const = default;
};

struct Scenario {
  std::string name = "default";
  std::string description;
  // The drill covers [start, start + duration).
  absl::Time start = absl::FromCivil(absl::CivilMinute(2026, 7, 15, 8, 0), GuangzhouTime());
  absl::Duration duration = absl::Hours(2);
  // Seeds the generator and the simulated responders.
  uint64_t seed = 20261126;
  // The city's mean alert rate over a day, before surges: about 2,000 a day.
  double base_alerts_per_hour = 83.3;
  // Multipliers by local hour; the generator divides them by their mean.
  std::array<double, 24> hourly_curve = DefaultHourlyCurve();
  // Relative weight of each district. Empty: each district's resident population
  // (District::population; equal weights if no district has one). Districts not listed get none.
  std::vector<DistrictWeight> district_weights;
  std::vector<Surge> surges;
  // Relative weights indexed by Category and by Level; index 0 (unspecified) must stay 0.
  std::array<double, kCategoryCount> category_weights = {0, 12, 30, 22, 18, 4, 2, 4, 8};
  std::array<double, kLevelCount> level_weights = {0, 80, 14, 5, 1};
  // Share of incidents reported again by a bystander 20-240 s later within 80 m.
  double repeat_report_share = 0.1;
  // Standard deviation of an alert's scatter around the unit post it is drawn near, metres.
  double place_jitter_m = 300;
  ResponderBehaviour responders;

  absl::Time end() const { return start + duration; }

  // OK, or InvalidArgument naming the key as the scenario file spells it and what is wrong, e.g.
  // "surge[0].end: must be after start". District codes are not checked against a map here.
  absl::Status Validate() const;

  bool operator==(const Scenario&) const = default;
};

// Parses scenario text (source_name names it in errors): absent keys keep the defaults above, a
// missing name becomes the file stem of `source_name`, district names and codes are resolved
// against `city`, the hourly curve is normalised to mean 1, and the result is validated.
// InvalidArgument "<source_name>: <key>: <reason>" (or the line and column of a syntax error).
absl::StatusOr<Scenario> ParseScenario(const std::string& text, const std::string& source_name,
                                       const CityData& city);

// ParseScenario on the contents of the file at `path`; NotFound if it cannot be opened.
absl::StatusOr<Scenario> ReadScenario(const std::string& path, const CityData& city);

// "2026-07-15 08:00" (UTC+8) for `t`.
std::string FormatLocalTime(absl::Time t);

}  // namespace gz::sim

#endif  // SIMULATORS_SCENARIO_H_
