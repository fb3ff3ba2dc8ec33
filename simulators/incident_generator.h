// The synthetic incident generator: turns a Scenario into a time-ordered list of alerts for a
// drill.
//
// Arrivals are a non-homogeneous Poisson process over [scenario.start, scenario.end()). The rate
// (scenario.h) is constant between consecutive local hour boundaries and surge edges, so the
// process is simulated exactly, piece by piece, with exponential gaps restarted at each boundary
// (the exponential is memoryless). Each arrival then gets:
//   - a district, drawn with probability proportional to its current rate (weight × surges);
//   - a place: a random unit post of that district (the unit set already follows population) plus
//     a gaussian scatter of place_jitter_m in each axis, redrawn until the point lies in that
//     district (after 64 misses the post itself is used);
//   - a category and a level from the scenario's mixes;
//   - with probability repeat_report_share, a repeat report by a bystander: 20-240 s later
//     (uniform), uniformly within 80 m (still in the same district), same category and level.
//     A repeat that would fall at or after the scenario's end is not generated.
// The alerts are then sorted by time (ties: in the order generated) and numbered: reporter ids
// "110-<district code>-<n>" with n counting the district's alerts from 1, so every alert has its
// own reporter, and client_sequence 1, 2, 3, ... in time order. Times are whole milliseconds.
//
// Deterministic: the same scenario (seed included) and city give the same alerts, bit for bit, on
// every machine (simulators/random.h; no libm calls beyond sqrt).
//
// Thread-safety: plain functions with no shared state.

#ifndef SIMULATORS_INCIDENT_GENERATOR_H_
#define SIMULATORS_INCIDENT_GENERATOR_H_

#include <cstddef>
#include <map>
#include <vector>

#include "absl/time/time.h"
#include "engine/config/city_data.h"
#include "engine/dispatch/commands.h"
#include "engine/units/unit.h"
#include "simulators/scenario.h"

namespace gz::sim {

struct ScheduledAlert {
  absl::Time at;
  RaiseAlert alert;
  // A bystander reporting an incident again: the engine should merge it into `repeat_of`'s.
  bool repeat_report = false;
  // For a repeat report, the index of the alert it repeats in GenerateAlerts' result (always
  // earlier); 0 otherwise.
  size_t repeat_of = 0;
  // The district the alert lies in.
  DistrictCode district = 0;
  bool operator==(const ScheduledAlert&) const = default;
};

// The scenario's alerts, sorted by time. REQUIRES: scenario.Validate() is OK. District codes the
// city does not know get no alerts.
std::vector<ScheduledAlert> GenerateAlerts(const Scenario& scenario, const CityData& city);

// Expected number of first reports (repeats excluded) in [from, to) ∩ [start, end), by district
// (every district of the city, in code order): the integral of the rate. For tests and reports.
std::map<DistrictCode, double> ExpectedAlertsByDistrict(const Scenario& scenario,
                                                        const CityData& city, absl::Time from,
                                                        absl::Time to);

// The same summed over the districts; the two-argument form covers the whole scenario.
double ExpectedAlerts(const Scenario& scenario, const CityData& city, absl::Time from,
                      absl::Time to);
double ExpectedAlerts(const Scenario& scenario, const CityData& city);

}  // namespace gz::sim

#endif  // SIMULATORS_INCIDENT_GENERATOR_H_
