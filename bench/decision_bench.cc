// decision_bench: how long the dispatch core takes to decide an alert, in-process, over the
// 23,000-unit Guangzhou default: validation, service-area and zone lookup, merge check, k-nearest
// by travel time in the R-tree, reservation and the events out (no parsing or serialization: that
// is the codec's, measured with the transport).
//
// Baseline in the same run, interleaved with the core so both see the same machine noise: a
// brute-force scan of every unit computing travel time and keeping the k fastest.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "bench/bench_support.h"
#include "engine/config/city_data.h"
#include "engine/config/dispatch_config_file.h"
#include "engine/dispatch/dispatch_core.h"
#include "simulators/random.h"

ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR, "Dataset and dispatch.textproto.");
ABSL_FLAG(int, alerts, 20000, "Alerts to time (after the warm-up).");
ABSL_FLAG(int, warmup, 1000, "Alerts applied before timing starts.");
ABSL_FLAG(uint64_t, seed, 1, "Seed for alert positions.");
ABSL_FLAG(double, busy_share, 0.0, "Share of units made off post before the run (0..0.95).");

namespace gz {
namespace {

using Clock = std::chrono::steady_clock;

int64_t Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// The k offerable units with the smallest travel time within `max_s`, by scanning every unit.
size_t BruteForceNearest(const UnitRegistry& units, PlanePoint p, int k, double max_s,
                         std::vector<Candidate>* scratch) {
  scratch->clear();
  const TravelModel& travel = units.index().travel();
  for (Slot s = 0; s < units.size(); ++s) {
    if (!units.Offerable(s)) continue;
    const double d = Distance(units.index().position(s), p);
    const double t = travel.TravelSeconds(d, units.unit(s).mode);
    if (t <= max_s) scratch->push_back({s, d, t});
  }
  const size_t n = std::min<size_t>(k, scratch->size());
  std::partial_sort(scratch->begin(), scratch->begin() + n, scratch->end(),
                    [](const Candidate& a, const Candidate& b) { return a.travel_s < b.travel_s; });
  return n;
}

int Run() {
  bench::PrintEnvironment("decision_bench: in-process alert decision over the default unit set");
  const std::string dir = absl::GetFlag(FLAGS_config_dir);
  absl::StatusOr<CityData> city = LoadCityData(dir);
  absl::StatusOr<DispatchConfig> config = ReadDispatchConfig(ConfigPath(dir, kDispatchConfigFile));
  if (!city.ok() || !config.ok()) {
    std::fprintf(stderr, "decision_bench: %s\n",
                 std::string((city.ok() ? config.status() : city.status()).message()).c_str());
    return 1;
  }
  const int alerts = absl::GetFlag(FLAGS_alerts);
  const int warmup = absl::GetFlag(FLAGS_warmup);
  const double busy_share = std::clamp(absl::GetFlag(FLAGS_busy_share), 0.0, 0.95);
  sim::Random random(absl::GetFlag(FLAGS_seed), 11);

  const absl::Time start = absl::FromUnixSeconds(1'780'000'000);
  auto registry = UnitRegistry::Create(city->units, city->projection, config->travel);
  auto core = DispatchCore::Create(*config, city->map.get(), *std::move(registry), start);
  if (!core.ok()) {
    std::fprintf(stderr, "decision_bench: %s\n", std::string(core.status().message()).c_str());
    return 1;
  }
  DispatchCore& engine = **core;
  std::vector<Event> events;
  int busy = 0;
  for (const Unit& u : city->units) {
    if (random.Uniform() < busy_share) {
      engine.Apply({start, UpdateUnit{u.id, UnitStatus::kOffPost, {}, {}}}, &events);
      ++busy;
    }
  }
  std::printf("  units:    %zu (%d made off post: %.0f%%)\n", city->units.size(), busy,
              100.0 * busy / city->units.size());
  std::printf("  alerts:   %d timed after %d warm-up; each cancelled after its decision\n\n",
              alerts, warmup);

  std::vector<int64_t> core_ns, scan_ns;
  core_ns.reserve(alerts);
  scan_ns.reserve(alerts);
  std::vector<Candidate> scratch;
  uint64_t assignments = 0;
  size_t scan_found = 0;
  const double frontline_ring_s = 180;
  for (int i = 0; i < warmup + alerts; ++i) {
    const Unit& near = city->units[random.Below(city->units.size())];
    const auto [dx, dy] = random.NormalPair();
    PlanePoint p = city->projection.ToPlane(near.position);
    p.x += dx * 200;
    p.y += dy * 200;
    const LonLat where = city->projection.ToLonLat(p);
    const Category category = static_cast<Category>(1 + random.Below(kCategoryCount - 1));
    // Apart in time so nothing merges and each alert is decided on its own.
    const absl::Time at = start + absl::Minutes(45) * i;

    events.clear();
    const auto t0 = Clock::now();
    engine.Apply(
        {at, RaiseAlert{"bench", static_cast<uint64_t>(i + 1), where, category, Level::kIvGeneral}},
        &events);
    const auto t1 = Clock::now();
    scan_found += BruteForceNearest(engine.units(), p, 3, frontline_ring_s, &scratch);
    const auto t2 = Clock::now();

    IncidentId incident = 0;
    for (const Event& e : events) {
      if (const auto* a = std::get_if<AlertAccepted>(&e.body)) incident = a->incident;
      if (std::holds_alternative<AssignmentIssued>(e.body) && i >= warmup) ++assignments;
    }
    if (incident != 0) engine.Apply({at, CancelIncident{incident}}, &events);
    if (i < warmup) continue;
    core_ns.push_back(Nanos(t1 - t0));
    scan_ns.push_back(Nanos(t2 - t1));
  }

  const bench::LatencySummary core_summary = bench::Summarize(core_ns);
  const bench::LatencySummary scan_summary = bench::Summarize(scan_ns);
  std::printf("core decision (alert -> events):  %s\n", bench::FormatSummary(core_summary).c_str());
  std::printf("baseline brute-force scan (k=3):  %s\n", bench::FormatSummary(scan_summary).c_str());
  std::printf("ratio core/scan:  p50 %.3f  p99 %.3f\n", core_summary.p50_ns / scan_summary.p50_ns,
              core_summary.p99_ns / scan_summary.p99_ns);
  std::printf("assignments per alert: %.2f (frontline + assembly); scan found %.2f per query\n\n",
              static_cast<double>(assignments) / alerts,
              static_cast<double>(scan_found) / (warmup + alerts));
  std::printf(
      "RESULTS.md row:\n| decision_bench | %zu units, %.0f%% off post | p50 %.2f µs, p99 %.2f "
      "µs | scan p50 %.1f µs, p99 %.1f µs | p50 %.3f, p99 %.3f |\n",
      city->units.size(), 100.0 * busy / city->units.size(), core_summary.p50_ns / 1e3,
      core_summary.p99_ns / 1e3, scan_summary.p50_ns / 1e3, scan_summary.p99_ns / 1e3,
      core_summary.p50_ns / scan_summary.p50_ns, core_summary.p99_ns / scan_summary.p99_ns);
  return 0;
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Times the dispatch core's decision per alert over the default unit set, with a\n"
      "brute-force scan of the same units as the same-run baseline.\n\n"
      "  decision_bench --alerts=20000 --busy_share=0.5");
  absl::ParseCommandLine(argc, argv);
  return gz::Run();
}
