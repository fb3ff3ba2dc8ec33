// Counters and latency histograms of the server, readable through the stats query and printed at
// shutdown. Plain data; one thread (the server's) updates them.

#ifndef ENGINE_TRANSPORT_METRICS_H_
#define ENGINE_TRANSPORT_METRICS_H_

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gz::transport {

// Log-linear histogram of microsecond latencies: 1 µs resolution below 64 µs, then 64 buckets per
// power of two (under 1.6% relative error), up to about 68 s; larger values land in the last
// bucket.
class LatencyHistogram {
 public:
  void Record(absl::Duration d);
  uint64_t count() const { return count_; }
  // The q-quantile (0..1) in microseconds: the upper bound of the bucket holding it.
  uint64_t QuantileMicros(double q) const;
  uint64_t max_micros() const { return max_us_; }

  // (upper bound in µs, count) of the non-empty buckets, ascending.
  std::vector<std::pair<uint64_t, uint64_t>> NonEmptyBuckets() const;

 private:
  static constexpr int kSubBuckets = 64;
  static constexpr int kOctaves = 21;  // 64 µs .. 2^26 µs
  static size_t BucketOf(uint64_t us);
  static uint64_t UpperBound(size_t bucket);

  std::array<uint64_t, kSubBuckets*(kOctaves + 1)> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_us_ = 0;
};

struct HistogramSnapshot {
  std::string name;
  uint64_t count = 0;
  uint64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  std::vector<std::pair<uint64_t, uint64_t>> buckets;  // (upper bound µs, count)
};

struct StatsSnapshot {
  absl::Time as_of;
  std::map<std::string, uint64_t> counters;  // sorted by name
  std::vector<HistogramSnapshot> latencies;
};

class Metrics {
 public:
  void Increment(absl::string_view counter, uint64_t by = 1);
  uint64_t Get(absl::string_view counter) const;
  LatencyHistogram& Histogram(absl::string_view name);

  StatsSnapshot Snapshot(absl::Time now) const;
  // A readable multi-line summary (counters, then latencies with p50/p99/max).
  std::string Summary() const;

 private:
  std::map<std::string, uint64_t, std::less<>> counters_;
  std::map<std::string, LatencyHistogram, std::less<>> histograms_;
};

}  // namespace gz::transport

#endif  // ENGINE_TRANSPORT_METRICS_H_
