// Tests of the server's counters and latency histograms: quantiles of known distributions land
// within one bucket of the truth (exact below 64 µs, under 1/64 relative error above).

#include "engine/transport/metrics.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "tests/support/test_seed.h"

namespace gz::transport {
namespace {

// The true q-quantile of sorted samples, by the same rank rule as the histogram (the
// ceil(q * n)-th smallest).
uint64_t TrueQuantile(const std::vector<uint64_t>& sorted, double q) {
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

// The histogram reports the upper bound of the bucket holding the quantile: never below the true
// value, and above it by less than one bucket width (1 µs below 64 µs, 1/64 relative above).
void CheckWithinBucket(uint64_t reported, uint64_t truth) {
  INFO("reported " << reported << " µs, true " << truth << " µs");
  CHECK(reported >= truth);
  CHECK(static_cast<double>(reported) <= static_cast<double>(truth) * (1 + 1.0 / 64) + 1);
}

TEST_CASE("an empty histogram reports zeros", "[transport][metrics]") {
  LatencyHistogram h;
  CHECK(h.count() == 0);
  CHECK(h.QuantileMicros(0.5) == 0);
  CHECK(h.max_micros() == 0);
  CHECK(h.NonEmptyBuckets().empty());
}

TEST_CASE("latencies below 64 microseconds are exact", "[transport][metrics]") {
  LatencyHistogram h;
  for (int us = 0; us < 64; ++us) h.Record(absl::Microseconds(us));
  CHECK(h.count() == 64);
  CHECK(h.QuantileMicros(0) == 0);
  CHECK(h.QuantileMicros(0.5) == 31);  // the 32nd smallest of 0..63
  CHECK(h.QuantileMicros(1) == 63);
  CHECK(h.max_micros() == 63);
  const auto buckets = h.NonEmptyBuckets();
  REQUIRE(buckets.size() == 64);
  for (uint64_t i = 0; i < 64; ++i) CHECK(buckets[i] == std::pair<uint64_t, uint64_t>{i, 1});
}

TEST_CASE("quantiles of a uniform distribution are within the bucket error",
          "[transport][metrics]") {
  LatencyHistogram h;
  std::vector<uint64_t> samples;
  for (uint64_t us = 1; us <= 100'000; ++us) {
    h.Record(absl::Microseconds(us));
    samples.push_back(us);
  }
  for (double q : {0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    INFO("q " << q);
    CheckWithinBucket(h.QuantileMicros(q), TrueQuantile(samples, q));
  }
  CHECK(h.max_micros() == 100'000);
  CHECK(h.QuantileMicros(1) == 100'000);  // never above the largest sample
}

TEST_CASE("quantiles of a log-normal distribution are within the bucket error",
          "[transport][metrics]") {
  const uint64_t seed = testing::TestSeed();
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  // Median about 150 µs with a long tail into tens of milliseconds.
  std::lognormal_distribution<double> latency(std::log(150.0), 1.5);
  LatencyHistogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 50'000; ++i) {
    const auto us = static_cast<uint64_t>(latency(rng));
    h.Record(absl::Microseconds(us));
    samples.push_back(us);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    INFO("q " << q);
    CheckWithinBucket(h.QuantileMicros(q), TrueQuantile(samples, q));
  }
  CHECK(h.max_micros() == samples.back());
}

TEST_CASE("buckets are ascending and count every sample", "[transport][metrics]") {
  LatencyHistogram h;
  const std::vector<absl::Duration> values{absl::Microseconds(5),   absl::Microseconds(64),
                                           absl::Microseconds(65),  absl::Microseconds(127),
                                           absl::Microseconds(128), absl::Milliseconds(3),
                                           absl::Seconds(2),        absl::Seconds(60)};
  for (absl::Duration d : values) h.Record(d);
  const auto buckets = h.NonEmptyBuckets();
  uint64_t total = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    total += buckets[i].second;
    if (i > 0) CHECK(buckets[i - 1].first < buckets[i].first);
  }
  CHECK(total == values.size());
  CHECK(buckets[1].first == 64);   // width 1 up to 128 µs
  CHECK(buckets[4].first == 129);  // 128 and 129 share a bucket of width 2
}

TEST_CASE("huge and negative latencies are clamped into the end buckets", "[transport][metrics]") {
  LatencyHistogram h;
  h.Record(absl::Hours(1));
  h.Record(absl::Hours(2));
  h.Record(-absl::Seconds(1));
  CHECK(h.count() == 3);
  CHECK(h.max_micros() == 7'200'000'000);
  CHECK(h.QuantileMicros(0) == 0);
  // Both huge values share the last bucket; the quantile is capped by the largest sample.
  const auto buckets = h.NonEmptyBuckets();
  REQUIRE(buckets.size() == 2);
  CHECK(buckets[0] == std::pair<uint64_t, uint64_t>{0, 1});
  CHECK(buckets[1].second == 2);
  CHECK(h.QuantileMicros(1) == h.max_micros());  // the open-ended last bucket
  CHECK(h.QuantileMicros(1) >= buckets[1].first);
}

TEST_CASE("counters start at zero and add up", "[transport][metrics]") {
  Metrics m;
  CHECK(m.Get("alerts_accepted") == 0);
  m.Increment("alerts_accepted");
  m.Increment("alerts_accepted", 4);
  m.Increment("rejected.busy", 2);
  CHECK(m.Get("alerts_accepted") == 5);
  CHECK(m.Get("rejected.busy") == 2);
  CHECK(m.Get("resends") == 0);
}

TEST_CASE("snapshot and summary list counters then latencies", "[transport][metrics]") {
  Metrics m;
  m.Increment("resends", 3);
  m.Increment("alerts_accepted", 1);
  for (int us = 1; us <= 1000; ++us) m.Histogram("alert_latency").Record(absl::Microseconds(us));
  m.Histogram("ack_latency").Record(absl::Microseconds(40));

  const absl::Time now = absl::FromUnixSeconds(1'767'225'600);
  const StatsSnapshot s = m.Snapshot(now);
  CHECK(s.as_of == now);
  CHECK(s.counters == std::map<std::string, uint64_t>{{"alerts_accepted", 1}, {"resends", 3}});
  REQUIRE(s.latencies.size() == 2);
  CHECK(s.latencies[0].name == "ack_latency");  // sorted by name
  CHECK(s.latencies[0].count == 1);
  CHECK(s.latencies[0].p50_us == 40);
  const HistogramSnapshot& alert = s.latencies[1];
  CHECK(alert.name == "alert_latency");
  CHECK(alert.count == 1000);
  CheckWithinBucket(alert.p50_us, 500);
  CheckWithinBucket(alert.p90_us, 900);
  CheckWithinBucket(alert.p99_us, 990);
  CheckWithinBucket(alert.p999_us, 999);
  CHECK(alert.max_us == 1000);
  CHECK_FALSE(alert.buckets.empty());

  const std::string summary = m.Summary();
  CHECK(summary ==
        "alerts_accepted: 1\n"
        "resends: 3\n"
        "ack_latency: n=1, p50 40 µs, p99 40 µs, max 40 µs\n" +
            std::string("alert_latency: n=1000, p50 ") + std::to_string(alert.p50_us) +
            " µs, p99 " + std::to_string(alert.p99_us) + " µs, max 1000 µs\n");
}

}  // namespace
}  // namespace gz::transport
