#include "bench/bench_support.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <numeric>
#include <string>
#include <thread>

#include "absl/strings/str_format.h"

namespace gz::bench {
namespace {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

}  // namespace

std::string GitCommit() {
  const std::string command =
      std::string("git -C '") + DISPATCH_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return "unknown";
  char buffer[128] = {};
  if (std::fgets(buffer, sizeof buffer, pipe.get()) == nullptr) return "unknown";
  std::string commit(buffer);
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r')) commit.pop_back();
  return commit.empty() ? "unknown" : commit;
}

std::string BuildType() { return DISPATCH_BUILD_TYPE; }

void PrintEnvironment(const std::string& program) {
  std::printf("%s\n", program.c_str());
  std::printf("  build:    %s, %s %s\n", DISPATCH_BUILD_TYPE, "gcc", __VERSION__);
  std::printf("  cpu:      %s x %u\n", CpuModel().c_str(), std::thread::hardware_concurrency());
  std::printf("  commit:   %s\n", GitCommit().c_str());
#ifndef NDEBUG
  std::printf("  WARNING:  assertions are enabled (NDEBUG not defined): figures are pessimistic\n");
#endif
}

LatencySummary Summarize(std::vector<int64_t> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    const size_t i = std::min(samples.size() - 1, static_cast<size_t>(q * samples.size()));
    return static_cast<double>(samples[i]);
  };
  s.count = samples.size();
  s.p50_ns = at(0.50);
  s.p90_ns = at(0.90);
  s.p99_ns = at(0.99);
  s.p999_ns = at(0.999);
  s.max_ns = static_cast<double>(samples.back());
  s.mean_ns = std::accumulate(samples.begin(), samples.end(), 0.0) / samples.size();
  return s;
}

std::string FormatSummary(const LatencySummary& s) {
  return absl::StrFormat(
      "p50 %7.2f µs  p90 %7.2f µs  p99 %7.2f µs  p99.9 %7.2f µs  max %8.2f µs  (n=%d)",
      s.p50_ns / 1e3, s.p90_ns / 1e3, s.p99_ns / 1e3, s.p999_ns / 1e3, s.max_ns / 1e3, s.count);
}

}  // namespace gz::bench
