#include "simulators/drill_runner.h"

#include <catch2/catch.hpp>

#include "engine/config/city_data.h"
#include "engine/config/dispatch_config_file.h"
#include "tests/support/guangzhou.h"

namespace gz {
namespace {

const CityData& City() { return testing::GuangzhouDefault(); }

sim::Scenario Scenario(const char* name) {
  absl::StatusOr<sim::Scenario> s = sim::ReadScenario(
      std::string(DISPATCH_CONFIG_DIR) + "/scenarios/" + name + ".textproto", City());
  REQUIRE(s.ok());
  return *s;
}

TEST_CASE("an in-process drill replays the same events twice", "[sim][drill]") {
  const sim::Scenario scenario = Scenario("quiet_night");
  const auto alerts = sim::GenerateAlerts(scenario, City());
  const DispatchConfig config = DispatchConfig::Defaults();
  absl::StatusOr<DrillRecord> first = sim::RunInProcessDrill(City(), config, scenario, alerts);
  absl::StatusOr<DrillRecord> second = sim::RunInProcessDrill(City(), config, scenario, alerts);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(first->events.size() == second->events.size());
  CHECK(first->events == second->events);
  CHECK(first->end == second->end);
}

TEST_CASE("an in-process drill answers every alert and ends every incident", "[sim][drill]") {
  const sim::Scenario scenario = Scenario("tiny");
  const auto alerts = sim::GenerateAlerts(scenario, City());
  absl::StatusOr<DrillRecord> record =
      sim::RunInProcessDrill(City(), DispatchConfig::Defaults(), scenario, alerts);
  REQUIRE(record.ok());
  size_t answered = 0, opened = 0, closed = 0;
  for (const Event& e : record->events) {
    answered += std::holds_alternative<AlertAccepted>(e.body) ||
                std::holds_alternative<AlertRejected>(e.body);
    opened += std::holds_alternative<IncidentOpened>(e.body);
    if (const auto* c = std::get_if<IncidentStateChanged>(&e.body)) {
      closed += c->to == IncidentState::kClosed;
    }
  }
  CHECK(answered == alerts.size());
  CHECK(opened > 0);
  CHECK(closed == opened);  // the simulated operators resolve and close every incident
  const DrillReport report = BuildReport(*record, City());
  CHECK(report.overall.incidents == static_cast<int>(opened));
  CHECK(record->start == scenario.start);
  CHECK(record->end >= scenario.end());
}

}  // namespace
}  // namespace gz
