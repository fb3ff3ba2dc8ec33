// Shared pieces of the benchmark programs: the environment banner and latency summaries.

#ifndef BENCH_BENCH_SUPPORT_H_
#define BENCH_BENCH_SUPPORT_H_

#include <cstdint>
#include <string>
#include <vector>

namespace gz::bench {

// Prints build type, compiler, CPU model and count, the commit, and a warning when assertions are
// on.
void PrintEnvironment(const std::string& program);

// The pieces of that banner, for result files: `git describe --always --dirty` of the source tree
// ("unknown" outside a checkout) and CMAKE_BUILD_TYPE.
std::string GitCommit();
std::string BuildType();

// Percentiles of a set of samples in nanoseconds.
struct LatencySummary {
  size_t count = 0;
  double p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0, mean_ns = 0;
};
LatencySummary Summarize(std::vector<int64_t> samples_ns);

// "p50 1.23 µs  p90 ...", all in microseconds.
std::string FormatSummary(const LatencySummary& s);

}  // namespace gz::bench

#endif  // BENCH_BENCH_SUPPORT_H_
