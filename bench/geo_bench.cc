// geo_bench: the GeoIndex (packed per-mode R-trees) at 23,000, 230,000 and 2,300,000 units.
//
// Units are placed like the Guangzhou default: the real positions and travel modes of
// config/guangzhou_units.csv, and for the larger sizes each real unit replicated with gaussian
// jitter (σ = 300 m per axis, fixed seed), so the mode mix and the density pattern are the
// dataset's. Query points are drawn near random units (σ = 200 m, fixed seed).
//
// Workloads (Google Benchmark names, each with /n=<units>):
//   nearest_available/k=3/ring=3min/busy=P%    k fastest available within the ring, availability a
//   nearest_available/k=10/ring=10min/busy=P%  std::vector<uint8_t> checked in the predicate
//   worst_case/k=.../busy=99%                  almost everything busy: the ring bounds the search;
//                                              pred_calls counts predicate calls per query
//   within_radius/500m                         every unit within 500 m
//   move/50m                                   GeoIndex::Move of a random unit by ~50 m (last per
//                                              size, since it changes the trees)
//   scan/...                                   same-run baseline: brute-force scan of the same
//                                              units for the same query (k fastest in the ring)
//
// Google Benchmark reports means; every query here is also timed on its own (manual time) and the
// p50/p99 of those samples are reported as counters, and summarized in a table at the end with the
// index/scan ratios. Build time (packing) and memory per point are measured once per size.

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "engine/config/city_data.h"
#include "engine/geo/geo_index.h"
#include "engine/geo/projection.h"
#include "engine/geo/travel_model.h"
#include "simulators/random.h"

ABSL_FLAG(int64_t, max_units, 2'300'000,
          "Leave out the sizes above this many units (the CI smoke runs 23,000 only).");

namespace gz {
namespace {

using Clock = std::chrono::steady_clock;

int64_t Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

constexpr std::array<int, 3> kReplicas = {1, 10, 100};
constexpr std::array<int, 4> kBusyPercent = {0, 50, 95, 99};
constexpr double kReplicaJitterM = 300;
constexpr double kQueryJitterM = 200;
constexpr double kMoveStepM = 50;
constexpr double kRadiusM = 500;
constexpr size_t kQueryCount = 1 << 14;
constexpr uint64_t kSeed = 20261127;

// Resident set size in bytes, from /proc/self/statm.
int64_t ResidentBytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  long size = 0, resident = 0;
  const int n = std::fscanf(f, "%ld %ld", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<int64_t>(resident) * sysconf(_SC_PAGESIZE) : 0;
}

// Bytes allocated through malloc and not freed (heap in use plus mmap'd blocks).
int64_t HeapInUseBytes() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
}

struct Dataset {
  size_t size = 0;
  std::vector<GeoIndex::Entry> entries;
  std::unique_ptr<GeoIndex> index;
  std::array<std::vector<uint8_t>, kBusyPercent.size()> available;  // by kBusyPercent index
  std::vector<PlanePoint> queries;
  double build_s = 0;
  int64_t rss_delta = 0;
  int64_t heap_delta = 0;
};

Dataset* BuildDataset(const CityData& city, const TravelModel& travel, int replicas) {
  auto d = std::make_unique<Dataset>();
  sim::Random random(kSeed, static_cast<uint64_t>(replicas));
  d->entries.reserve(city.units.size() * replicas);
  for (const Unit& u : city.units) {
    const PlanePoint p = city.projection.ToPlane(u.position);
    d->entries.push_back({p, u.mode, u.zone});
    for (int r = 1; r < replicas; ++r) {
      const auto [dx, dy] = random.NormalPair();
      d->entries.push_back(
          {{p.x + dx * kReplicaJitterM, p.y + dy * kReplicaJitterM}, u.mode, u.zone});
    }
  }
  d->size = d->entries.size();

  const int64_t rss0 = ResidentBytes();
  const int64_t heap0 = HeapInUseBytes();
  const auto t0 = Clock::now();
  d->index = std::make_unique<GeoIndex>(d->entries, travel);
  const auto t1 = Clock::now();
  d->build_s = Nanos(t1 - t0) * 1e-9;
  d->rss_delta = ResidentBytes() - rss0;
  d->heap_delta = HeapInUseBytes() - heap0;

  for (size_t b = 0; b < kBusyPercent.size(); ++b) {
    std::vector<uint8_t>& avail = d->available[b];
    avail.resize(d->size);
    const double busy = kBusyPercent[b] / 100.0;
    for (uint8_t& a : avail) a = random.Uniform() < busy ? 0 : 1;
  }
  d->queries.reserve(kQueryCount);
  for (size_t i = 0; i < kQueryCount; ++i) {
    const PlanePoint near = d->entries[random.Below(d->size)].position;
    const auto [dx, dy] = random.NormalPair();
    d->queries.push_back({near.x + dx * kQueryJitterM, near.y + dy * kQueryJitterM});
  }
  return d.release();
}

// What each benchmark's last (reported) run measured, for the summary table.
struct Record {
  bench::LatencySummary latency;
  double pred_calls = 0;  // per query
  double found = 0;       // per query
};
std::map<std::pair<size_t, std::string>, Record>& Records() {
  static auto* records = new std::map<std::pair<size_t, std::string>, Record>;
  return *records;
}
// Workload names in registration order, for the summary.
std::vector<std::string>& WorkloadOrder() {
  static auto* order = new std::vector<std::string>;
  return *order;
}

// Runs `prepare(i)` untimed and then `op(i)` once per iteration, timing each op on its own; the
// benchmark's time is the sum of those (manual time), and p50/p99 of the samples become counters.
template <typename Op, typename Prepare = void (*)(size_t)>
void TimedLoop(
    benchmark::State& state, size_t size, const std::string& workload, Op op,
    const uint64_t* pred_calls, const uint64_t* found, Prepare prepare = [](size_t) {}) {
  std::vector<int64_t> samples;
  samples.reserve(static_cast<size_t>(std::min<benchmark::IterationCount>(
      state.max_iterations, benchmark::IterationCount{1} << 22)));
  size_t i = 0;
  for (auto _ : state) {
    prepare(i);
    const auto t0 = Clock::now();
    op(i++);
    const auto t1 = Clock::now();
    const int64_t ns = Nanos(t1 - t0);
    samples.push_back(ns);
    state.SetIterationTime(ns * 1e-9);
  }
  const double n = static_cast<double>(samples.size());
  Record record;
  record.latency = bench::Summarize(std::move(samples));
  record.pred_calls = pred_calls != nullptr ? *pred_calls / n : 0;
  record.found = found != nullptr ? *found / n : 0;
  state.counters["p50_us"] = record.latency.p50_ns / 1e3;
  state.counters["p99_us"] = record.latency.p99_ns / 1e3;
  if (pred_calls != nullptr) {
    state.counters["pred_calls"] = record.pred_calls;
    state.counters["tree_frac"] = record.pred_calls / static_cast<double>(size);
  }
  if (found != nullptr) state.counters["found"] = record.found;
  Records()[{size, workload}] = record;
}

// The k available units with the smallest travel time within `max_s`, by scanning every unit.
size_t BruteForceNearest(const Dataset& d, const TravelModel& travel, const uint8_t* avail,
                         PlanePoint p, int k, double max_s, std::vector<Candidate>* scratch) {
  scratch->clear();
  for (Slot s = 0; s < d.size; ++s) {
    if (!avail[s]) continue;
    const GeoIndex::Entry& e = d.entries[s];
    const double dist = Distance(e.position, p);
    const double t = travel.TravelSeconds(dist, e.mode);
    if (t <= max_s) scratch->push_back({s, dist, t});
  }
  const size_t n = std::min<size_t>(k, scratch->size());
  std::partial_sort(scratch->begin(), scratch->begin() + n, scratch->end(),
                    [](const Candidate& a, const Candidate& b) {
                      return a.travel_s < b.travel_s ||
                             (a.travel_s == b.travel_s && a.slot < b.slot);
                    });
  return n;
}

struct NearestWorkload {
  int k;
  int ring_min;
  size_t busy_index;
  bool worst_case;

  std::string Suffix() const {
    return absl::StrFormat("k=%d/ring=%dmin/busy=%d%%", k, ring_min, kBusyPercent[busy_index]);
  }
  std::string Name() const {
    return (worst_case ? "worst_case/" : "nearest_available/") + Suffix();
  }
};

void RegisterSize(Dataset* d, const TravelModel& travel) {
  const size_t n = d->size;
  const std::string size_suffix = absl::StrFormat("/n=%d", n);
  std::vector<NearestWorkload> nearest;
  for (const auto& [k, ring] : {std::pair{3, 3}, std::pair{10, 10}}) {
    for (size_t b = 0; b < 3; ++b) nearest.push_back({k, ring, b, false});
  }
  for (const auto& [k, ring] : {std::pair{3, 3}, std::pair{10, 10}}) {
    nearest.push_back({k, ring, 3, true});
  }

  if (WorkloadOrder().empty()) {
    for (const NearestWorkload& w : nearest) WorkloadOrder().push_back(w.Name());
    WorkloadOrder().push_back("within_radius/500m");
    WorkloadOrder().push_back("move/50m");
  }
  for (const NearestWorkload& w : nearest) {
    const std::string name = w.Name();
    benchmark::RegisterBenchmark((name + size_suffix).c_str(), [d, w,
                                                                name](benchmark::State& state) {
      const uint8_t* avail = d->available[w.busy_index].data();
      uint64_t calls = 0, found = 0;
      const auto eligible = [&](Slot s) {
        ++calls;
        return avail[s] != 0;
      };
      std::vector<Candidate> out;
      TimedLoop(
          state, d->size, name,
          [&](size_t i) {
            d->index->NearestByTravelTime(d->queries[i % kQueryCount], w.k, w.ring_min * 60.0,
                                          eligible, &out);
            found += out.size();
          },
          &calls, &found);
    })->UseManualTime();
  }
  for (const NearestWorkload& w : nearest) {
    const std::string name = "scan/" + w.Suffix();
    benchmark::RegisterBenchmark((name + size_suffix).c_str(), [d, w, name,
                                                                travel](benchmark::State& state) {
      const uint8_t* avail = d->available[w.busy_index].data();
      uint64_t found = 0;
      std::vector<Candidate> scratch;
      scratch.reserve(d->size);
      TimedLoop(
          state, d->size, name,
          [&](size_t i) {
            found += BruteForceNearest(*d, travel, avail, d->queries[i % kQueryCount], w.k,
                                       w.ring_min * 60.0, &scratch);
          },
          nullptr, &found);
    })->UseManualTime();
  }
  {
    const std::string name = "within_radius/500m";
    benchmark::RegisterBenchmark((name + size_suffix).c_str(), [d, name](benchmark::State& state) {
      const uint8_t* avail = d->available[0].data();
      uint64_t calls = 0, found = 0;
      const auto eligible = [&](Slot s) {
        ++calls;
        return avail[s] != 0;
      };
      std::vector<Candidate> out;
      TimedLoop(
          state, d->size, name,
          [&](size_t i) {
            d->index->WithinRadius(d->queries[i % kQueryCount], kRadiusM, eligible, &out);
            found += out.size();
          },
          &calls, &found);
    })->UseManualTime();
  }
  {
    // Last for this size: moves change the trees the queries above ran on.
    const std::string name = "move/50m";
    benchmark::RegisterBenchmark((name + size_suffix).c_str(), [d, name](benchmark::State& state) {
      sim::Random random(kSeed, 1000 + d->size);
      Slot slot = 0;
      PlanePoint to;
      TimedLoop(
          state, d->size, name, [&](size_t) { d->index->Move(slot, to); }, nullptr, nullptr,
          [&](size_t) {
            slot = static_cast<Slot>(random.Below(d->size));
            const auto [dx, dy] = random.NormalPair();
            const PlanePoint from = d->index->position(slot);
            // σ = step/√2 per axis: an rms displacement of ~50 m.
            to = {from.x + dx * kMoveStepM * 0.7071, from.y + dy * kMoveStepM * 0.7071};
          });
    })->UseManualTime();
  }
}

void PrintSummary(const std::vector<Dataset*>& datasets) {
  std::printf("\nSummary (per query; µs; ratio = index / same-run brute-force scan):\n\n");
  std::printf(
      "| units | workload | p50 | p99 | scan p50 | scan p99 | ratio p50, p99 | "
      "pred calls/query | found/query |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const Dataset* d : datasets) {
    for (const std::string& workload : WorkloadOrder()) {
      const auto found_record = Records().find({d->size, workload});
      if (found_record == Records().end() || workload.rfind("scan/", 0) == 0) continue;
      const Record& r = found_record->second;
      std::string scan_p50 = "-", scan_p99 = "-", ratio = "-";
      const size_t slash = workload.find('/');
      if (workload.rfind("nearest_available/", 0) == 0 || workload.rfind("worst_case/", 0) == 0) {
        auto it = Records().find({d->size, "scan" + workload.substr(slash)});
        if (it != Records().end()) {
          const bench::LatencySummary& s = it->second.latency;
          scan_p50 = absl::StrFormat("%.1f", s.p50_ns / 1e3);
          scan_p99 = absl::StrFormat("%.1f", s.p99_ns / 1e3);
          ratio = absl::StrFormat("%.4f, %.4f", r.latency.p50_ns / s.p50_ns,
                                  r.latency.p99_ns / s.p99_ns);
        }
      }
      const bool has_pred = workload.rfind("move/", 0) != 0;
      std::printf("| %zu | %s | %.2f | %.2f | %s | %s | %s | %s | %s |\n", d->size,
                  workload.c_str(), r.latency.p50_ns / 1e3, r.latency.p99_ns / 1e3,
                  scan_p50.c_str(), scan_p99.c_str(), ratio.c_str(),
                  has_pred ? absl::StrFormat("%.0f", r.pred_calls).c_str() : "-",
                  has_pred ? absl::StrFormat("%.1f", r.found).c_str() : "-");
    }
  }
}

// The JSON result and the RESULTS.md rows: every workload's figures, and per size a row of the
// headline queries.
int WriteResults(const std::vector<Dataset*>& datasets) {
  bench::Json json = bench::ResultHeader("geo_bench", "standard");
  bench::Json sizes = bench::Json::Array();
  std::vector<std::vector<std::string>> rows;
  const auto get = [](size_t size, const std::string& workload) -> const Record* {
    auto it = Records().find({size, workload});
    return it == Records().end() ? nullptr : &it->second;
  };
  const auto pair = [](const Record* r) {
    return r == nullptr
               ? std::string("-")
               : absl::StrFormat("%.2f / %.2f", r->latency.p50_ns / 1e3, r->latency.p99_ns / 1e3);
  };
  for (const Dataset* d : datasets) {
    bench::Json workloads = bench::Json::Array();
    for (const auto& [key, r] : Records()) {
      if (key.first != d->size) continue;
      workloads.Push(
          bench::Json::Object()
              .Set("workload", key.second)
              .Set("latency", bench::SummaryJson(r.latency))
              .Set("throughput_per_s", r.latency.mean_ns > 0 ? 1e9 / r.latency.mean_ns : 0.0)
              .Set("pred_calls_per_query", r.pred_calls)
              .Set("found_per_query", r.found));
    }
    sizes.Push(bench::Json::Object()
                   .Set("units", static_cast<int64_t>(d->size))
                   .Set("build_s", d->build_s)
                   .Set("heap_bytes", d->heap_delta)
                   .Set("rss_delta_bytes", d->rss_delta)
                   .Set("workloads", std::move(workloads)));
    const Record* k3 = get(d->size, "nearest_available/k=3/ring=3min/busy=0%");
    const Record* scan = get(d->size, "scan/k=3/ring=3min/busy=0%");
    rows.push_back(
        {absl::StrCat(d->size), absl::StrFormat("%.3f s", d->build_s), pair(k3), pair(scan),
         k3 && scan ? absl::StrFormat("%.4f", k3->latency.p50_ns / scan->latency.p50_ns) : "-",
         pair(get(d->size, "nearest_available/k=10/ring=10min/busy=0%")),
         pair(get(d->size, "worst_case/k=10/ring=10min/busy=99%")),
         pair(get(d->size, "within_radius/500m")), pair(get(d->size, "move/50m"))});
  }
  json.Set("sizes", std::move(sizes));
  std::printf("\n");
  if (absl::Status st = bench::WriteResult("geo_bench", "standard", json); !st.ok()) {
    std::fprintf(stderr, "geo_bench: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  const bench::ResultsTable table{
      "geo_bench",
      "## geo_bench: GeoIndex at 23,000 / 230,000 / 2,300,000 units",
      {"units", "packing", "k=3 3-min p50 / p99 µs", "scan p50 / p99 µs", "k=3/scan p50",
       "k=10 10-min p50 / p99", "worst case 99% busy k=10 p50 / p99", "radius 500 m p50 / p99",
       "move p50 / p99"}};
  if (absl::Status st = bench::RecordRows(table, rows); !st.ok()) {
    std::fprintf(stderr, "geo_bench: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  bench::PrintEnvironment("geo_bench: GeoIndex queries and moves at 23k, 230k and 2.3M units");

  // A short default so the whole program stays well under 3 minutes; --benchmark_min_time wins.
  std::vector<char*> args(argv, argv + argc);
  static char default_min_time[] = "--benchmark_min_time=0.2";
  bool has_min_time = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_min_time", 20) == 0) has_min_time = true;
  }
  if (!has_min_time) args.insert(args.begin() + 1, default_min_time);
  int args_count = static_cast<int>(args.size());
  benchmark::Initialize(&args_count, args.data());
  // What Google Benchmark left: the common --json and --record flags (bench_support.h).
  absl::ParseCommandLine(args_count, args.data());

  absl::StatusOr<CityData> city = LoadCityData(DISPATCH_CONFIG_DIR);
  if (!city.ok()) {
    std::fprintf(stderr, "geo_bench: %s\n", std::string(city.status().message()).c_str());
    return 1;
  }
  const TravelModel travel;
  std::array<int, kTravelModeCount> modes{};
  for (const Unit& u : city->units) ++modes[static_cast<int>(u.mode)];
  std::printf(
      "  dataset:  %zu units (on foot %d, bicycle %d, vehicle %d); larger sizes replicate "
      "each with σ=%.0f m jitter, seed %llu\n",
      city->units.size(), modes[0], modes[1], modes[2], kReplicaJitterM,
      static_cast<unsigned long long>(kSeed));
  std::printf(
      "  travel:   detour %.2f, speeds %.1f/%.1f/%.1f m/s; queries %zu points, σ=%.0f m "
      "around random units\n\n",
      travel.detour_factor, travel.speed_mps[0], travel.speed_mps[1], travel.speed_mps[2],
      kQueryCount, kQueryJitterM);

  std::vector<Dataset*> datasets;
  std::vector<std::unique_ptr<Dataset>> owned;  // alive until the benchmarks that use them ran
  std::printf("Build (bulk-load packing, one-off) and memory of the index:\n");
  for (int replicas : kReplicas) {
    if (city->units.size() * replicas > absl::GetFlag(FLAGS_max_units)) continue;
    Dataset* d = BuildDataset(*city, travel, replicas);
    owned.emplace_back(d);
    datasets.push_back(d);
    std::printf(
        "  n=%-8zu build %8.3f s   RSS delta %7.1f MB (%5.1f B/point)   heap in use "
        "%7.1f MB (%5.1f B/point)\n",
        d->size, d->build_s, d->rss_delta / 1e6, static_cast<double>(d->rss_delta) / d->size,
        d->heap_delta / 1e6, static_cast<double>(d->heap_delta) / d->size);
    std::fflush(stdout);
  }
  std::printf("\n");
  for (Dataset* d : datasets) RegisterSize(d, travel);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  PrintSummary(datasets);
  return WriteResults(datasets);
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) { return gz::Main(argc, argv); }
