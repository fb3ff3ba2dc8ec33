// Drill replay: a scenario's alerts through the dispatch core, with simulated responders and
// operators, producing the DrillRecord the report is built from.
//
// In-process (RunInProcessDrill): the core with a simulated clock, as fast as the machine goes; the
// same scenario, seed and config give the same record, event for event. Simulated people follow the
// scenario's ResponderBehaviour: acknowledge after 2 s + an exponential delay, decline or stay
// silent at the given shares, travel at their unit's estimated time and report arrival; operators
// resolve an incident some minutes after its first unit arrived (professional forces take over an
// escalated one after 30 minutes) and close it two minutes later.
//
// Live (RunLiveDrill): the same alerts raised against a running dispatchd over ZeroMQ, N times
// faster than the scenario's clock, while responder_fleet plays the units (run it with the same
// --time_scale); the feed is recorded and its times mapped back onto the scenario's clock.

#ifndef SIMULATORS_DRILL_RUNNER_H_
#define SIMULATORS_DRILL_RUNNER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"
#include "engine/config/city_data.h"
#include "engine/dispatch/dispatch_config.h"
#include "simulators/drill_report.h"
#include "simulators/incident_generator.h"
#include "simulators/scenario.h"

namespace gz::sim {

// REQUIRES: config validates; alerts sorted by time (as GenerateAlerts returns them).
absl::StatusOr<DrillRecord> RunInProcessDrill(const CityData& city, const DispatchConfig& config,
                                              const Scenario& scenario,
                                              const std::vector<ScheduledAlert>& alerts);

struct LiveDrillOptions {
  std::string intake_endpoint = "tcp://127.0.0.1:7401";
  std::string operator_endpoint = "tcp://127.0.0.1:7403";
  std::string feed_endpoint = "tcp://127.0.0.1:7404";
  double speed = 1.0;  // scenario seconds per wall second
  // After the last alert, wait at most this much scenario time for open incidents to end.
  absl::Duration drain = absl::Hours(1);
  absl::Duration progress_every = absl::Seconds(5);  // wall time between progress lines
  // CURVE keys for all three channels: a drill key (drill --keys_dir picks <dir>/drill.*); empty
  // for a dispatchd run with --insecure_no_auth.
  auth::CurveClientKeys curve = {};
};

absl::StatusOr<DrillRecord> RunLiveDrill(const CityData& city, const Scenario& scenario,
                                         const std::vector<ScheduledAlert>& alerts,
                                         const LiveDrillOptions& options);

}  // namespace gz::sim

#endif  // SIMULATORS_DRILL_RUNNER_H_
