#include "engine/transport/metrics.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace gz::transport {

// Bucket layout: buckets 0..63 hold the values 0..63 µs exactly. Octave o (1..kOctaves) holds
// [2^(5+o), 2^(6+o)) µs in kSubBuckets buckets of width 2^(o-1); the last octave ends at 2^27 µs
// (about 134 s), and anything larger is counted in the very last bucket.
size_t LatencyHistogram::BucketOf(uint64_t us) {
  if (us < kSubBuckets) return static_cast<size_t>(us);
  const int octave = std::bit_width(us) - 1 - 5;  // us in [2^(5+octave), 2^(6+octave))
  if (octave > kOctaves) return kSubBuckets * (kOctaves + 1) - 1;
  const uint64_t sub = (us >> (octave - 1)) - kSubBuckets;
  return static_cast<size_t>(kSubBuckets * octave) + static_cast<size_t>(sub);
}

uint64_t LatencyHistogram::UpperBound(size_t bucket) {
  if (bucket < kSubBuckets) return bucket;
  const size_t octave = bucket / kSubBuckets;
  const uint64_t sub = bucket % kSubBuckets;
  const uint64_t width = uint64_t{1} << (octave - 1);
  const uint64_t lower = (uint64_t{kSubBuckets} + sub) * width;
  return lower + width - 1;
}

void LatencyHistogram::Record(absl::Duration d) {
  const int64_t micros = absl::ToInt64Microseconds(d);
  const uint64_t us = micros < 0 ? 0 : static_cast<uint64_t>(micros);
  ++buckets_[BucketOf(us)];
  ++count_;
  max_us_ = std::max(max_us_, us);
}

uint64_t LatencyHistogram::QuantileMicros(double q) const {
  if (count_ == 0) return 0;
  if (!(q > 0)) q = 0;  // also catches NaN
  if (q > 1) q = 1;
  // The rank (1-based) of the sample that is the q-quantile.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    // The bucket's bound can exceed every sample in it; the largest sample is a tighter bound.
    // The last bucket is open-ended: its only bound is the largest sample.
    if (seen >= rank) return b + 1 == buckets_.size() ? max_us_ : std::min(UpperBound(b), max_us_);
  }
  return max_us_;
}

std::vector<std::pair<uint64_t, uint64_t>> LatencyHistogram::NonEmptyBuckets() const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    if (buckets_[b] == 0) continue;
    const uint64_t bound =
        b + 1 == buckets_.size() ? std::max(UpperBound(b), max_us_) : UpperBound(b);
    out.emplace_back(bound, buckets_[b]);
  }
  return out;
}

void Metrics::Increment(absl::string_view counter, uint64_t by) {
  auto it = counters_.find(counter);
  if (it == counters_.end()) it = counters_.emplace(std::string(counter), 0).first;
  it->second += by;
}

uint64_t Metrics::Get(absl::string_view counter) const {
  auto it = counters_.find(counter);
  return it == counters_.end() ? 0 : it->second;
}

LatencyHistogram& Metrics::Histogram(absl::string_view name) {
  auto it = histograms_.find(name);
  if (it == histograms_.end())
    it = histograms_.emplace(std::string(name), LatencyHistogram()).first;
  return it->second;
}

StatsSnapshot Metrics::Snapshot(absl::Time now) const {
  StatsSnapshot s;
  s.as_of = now;
  for (const auto& [name, value] : counters_) s.counters.emplace(name, value);
  for (const auto& [name, h] : histograms_) {
    HistogramSnapshot hs;
    hs.name = name;
    hs.count = h.count();
    hs.p50_us = h.QuantileMicros(0.50);
    hs.p90_us = h.QuantileMicros(0.90);
    hs.p99_us = h.QuantileMicros(0.99);
    hs.p999_us = h.QuantileMicros(0.999);
    hs.max_us = h.max_micros();
    hs.buckets = h.NonEmptyBuckets();
    s.latencies.push_back(std::move(hs));
  }
  return s;
}

std::string Metrics::Summary() const {
  std::string out;
  for (const auto& [name, value] : counters_) absl::StrAppend(&out, name, ": ", value, "\n");
  for (const auto& [name, h] : histograms_) {
    absl::StrAppend(&out, name, ": n=", h.count(), ", p50 ", h.QuantileMicros(0.50), " µs, p99 ",
                    h.QuantileMicros(0.99), " µs, max ", h.max_micros(), " µs\n");
  }
  return out;
}

}  // namespace gz::transport
