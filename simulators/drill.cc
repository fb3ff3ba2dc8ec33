// drill: replays a drill scenario's synthetic alerts through the dispatch engine and reports what
// happened against the 1/3/5/10/20-minute response rings.
//
//   drill                                      # in-process, the normal-day scenario
//   drill --scenario=config/scenarios/typhoon_evening.textproto --out=typhoon
//   drill --live --speed=10 --keys_dir=keys    # against a running dispatchd (+ responder_fleet)
//
// In-process the core runs with a simulated clock and simulated people, as fast as the machine
// goes; the same scenario and seed print the same report, byte for byte (wall-clock figures go to
// stderr). It prints the first incidents' timelines and the Markdown summary, and writes
// <out>/report.md and <out>/report.html (one self-contained page with charts and the district map).

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "engine/auth/curve_keys.h"
#include "engine/config/city_data.h"
#include "engine/config/dispatch_config_file.h"
#include "engine/dispatch/event_format.h"
#include "simulators/drill_report.h"
#include "simulators/drill_runner.h"
#include "simulators/incident_generator.h"
#include "simulators/scenario.h"

ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR,
          "Directory with the dataset, dispatch.textproto and scenarios/.");
ABSL_FLAG(std::string, scenario, "",
          "Scenario file; default <config_dir>/scenarios/normal_day.textproto. Others: "
          "quiet_night, typhoon_evening, tiny.");
ABSL_FLAG(uint64_t, seed, 0, "Override the scenario's seed (0: keep it).");
ABSL_FLAG(std::string, out, "drill-report", "Directory for report.md and report.html.");
ABSL_FLAG(int, show, 2, "Incidents whose whole timeline is printed before the summary.");
ABSL_FLAG(bool, live, false,
          "Raise the alerts against a running dispatchd instead of the in-process core (run "
          "responder_fleet with --time_scale equal to --speed alongside).");
ABSL_FLAG(double, speed, 10, "Live only: scenario seconds per wall second.");
ABSL_FLAG(std::string, intake, "tcp://127.0.0.1:7401", "Live only: dispatchd's intake.");
ABSL_FLAG(std::string, operator_endpoint, "tcp://127.0.0.1:7403",
          "Live only: its operator socket.");
ABSL_FLAG(std::string, feed, "tcp://127.0.0.1:7404", "Live only: its feed.");
ABSL_FLAG(std::string, keys_dir, "",
          "Live only: dispatchd's key directory; the drill connects with its drill key "
          "(<dir>/drill.*).");
ABSL_FLAG(std::string, key, "", "Live only: connect with this key pair instead (<prefix>).");
ABSL_FLAG(std::string, server_key, "", "Live only: dispatchd's public key file, with --key.");
ABSL_FLAG(double, drain_minutes, 60,
          "Live only: after the last alert, wait at most this much scenario time for open "
          "incidents to end.");

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "drill: %s\n", what.c_str());
  return 1;
}

void PrintTimelines(const gz::DrillRecord& record, int show) {
  std::map<gz::IncidentId, std::vector<const gz::Event*>> timelines;
  std::map<gz::IncidentId, absl::Time> opened;
  for (const gz::Event& e : record.events) {
    const gz::IncidentId id = gz::IncidentOf(e.body);
    if (id == 0) continue;
    if (std::holds_alternative<gz::IncidentOpened>(e.body)) {
      if (static_cast<int>(opened.size()) >= show) continue;
      opened[id] = e.at;
    }
    if (opened.count(id)) timelines[id].push_back(&e);
  }
  for (const auto& [id, events] : timelines) {
    std::printf("-- Incident %llu, opened %s\n", static_cast<unsigned long long>(id),
                gz::sim::FormatLocalTime(opened[id]).c_str());
    for (const gz::Event* e : events) {
      std::printf("   %s  %s\n", gz::FormatOffset(e->at, opened[id]).c_str(),
                  gz::FormatEvent(e->body).c_str());
    }
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Replays a drill scenario through the dispatch engine and reports what happened against\n"
      "the 1/3/5/10/20-minute response rings.\n\n"
      "  drill                                   # in-process: normal day, simulated clock\n"
      "  drill --scenario=config/scenarios/typhoon_evening.textproto --out=typhoon\n"
      "  drill --live --speed=10 --keys_dir=<dir>\n"
      "                                          # against dispatchd, with responder_fleet\n"
      "                                          #   --time_scale=10 playing the units");
  absl::ParseCommandLine(argc, argv);
  const std::string dir = absl::GetFlag(FLAGS_config_dir);
  absl::StatusOr<gz::CityData> city = gz::LoadCityData(dir);
  if (!city.ok()) return Fail(absl::StrCat("cannot load the city: ", city.status().message()));
  const std::string scenario_path = absl::GetFlag(FLAGS_scenario).empty()
                                        ? absl::StrCat(dir, "/scenarios/normal_day.textproto")
                                        : absl::GetFlag(FLAGS_scenario);
  absl::StatusOr<gz::sim::Scenario> scenario = gz::sim::ReadScenario(scenario_path, *city);
  if (!scenario.ok()) return Fail(std::string(scenario.status().message()));
  if (absl::GetFlag(FLAGS_seed) != 0) scenario->seed = absl::GetFlag(FLAGS_seed);
  const std::vector<gz::sim::ScheduledAlert> alerts = gz::sim::GenerateAlerts(*scenario, *city);

  absl::StatusOr<gz::DrillRecord> record;
  if (absl::GetFlag(FLAGS_live)) {
    gz::sim::LiveDrillOptions options;
    options.intake_endpoint = absl::GetFlag(FLAGS_intake);
    options.operator_endpoint = absl::GetFlag(FLAGS_operator_endpoint);
    options.feed_endpoint = absl::GetFlag(FLAGS_feed);
    options.speed = absl::GetFlag(FLAGS_speed);
    options.drain = absl::Minutes(absl::GetFlag(FLAGS_drain_minutes));
    absl::StatusOr<gz::auth::CurveClientKeys> keys =
        gz::auth::ClientKeysFromFlags(absl::GetFlag(FLAGS_keys_dir), absl::GetFlag(FLAGS_key),
                                      absl::GetFlag(FLAGS_server_key), gz::auth::kDrillKeyName);
    if (!keys.ok()) return Fail(std::string(keys.status().message()));
    options.curve = *std::move(keys);
    std::fprintf(stderr, "drill: live, %zu alerts over %s of scenario time at %gx\n", alerts.size(),
                 absl::FormatDuration(scenario->duration).c_str(), options.speed);
    record = gz::sim::RunLiveDrill(*city, *scenario, alerts, options);
  } else {
    absl::StatusOr<gz::DispatchConfig> config =
        gz::ReadDispatchConfig(gz::ConfigPath(dir, gz::kDispatchConfigFile));
    if (!config.ok()) return Fail(std::string(config.status().message()));
    record = gz::sim::RunInProcessDrill(*city, *config, *scenario, alerts);
  }
  if (!record.ok()) return Fail(std::string(record.status().message()));

  // The report leaves the wall-clock speed out (it goes to stderr below), so the same scenario
  // and seed give the same report, byte for byte.
  gz::DrillRecord deterministic = *record;
  deterministic.wall_seconds = 0;
  const gz::DrillReport report = gz::BuildReport(deterministic, *city);
  PrintTimelines(*record, absl::GetFlag(FLAGS_show));
  const std::string markdown = gz::RenderMarkdown(report);
  std::printf("%s", markdown.c_str());
  std::fflush(stdout);

  const std::filesystem::path out(absl::GetFlag(FLAGS_out));
  std::error_code error;
  std::filesystem::create_directories(out, error);
  std::ofstream(out / "report.md") << markdown;
  std::ofstream(out / "report.html") << gz::RenderHtml(report, *city);
  const double simulated = absl::ToDoubleSeconds(record->end - record->start);
  std::fprintf(
      stderr,
      "drill: wrote %s and %s; replayed %s of scenario time in %.2f s of wall time "
      "(%.0f simulated seconds per wall second)\n",
      (out / "report.md").c_str(), (out / "report.html").c_str(),
      absl::FormatDuration(absl::Trunc(record->end - record->start, absl::Seconds(1))).c_str(),
      record->wall_seconds, simulated / std::max(record->wall_seconds, 1e-9));
  return 0;
}
