// Reproducible random numbers for the simulators, the drill, benchmarks and the dataset generator.
//
// Same seed, same numbers, on every machine: xoshiro256** seeded through splitmix64, and sampling
// built only from integer arithmetic and IEEE +, -, *, /, sqrt (std:: distributions differ between
// standard libraries, and C libraries' log() may differ in the last bit).
//
// Thread-safety: a Random is used by one thread.

#ifndef SIMULATORS_RANDOM_H_
#define SIMULATORS_RANDOM_H_

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace gz::sim {

inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Natural logarithm from frexp and a short series, so normal samples do not depend on which C
// library's log() is linked. Accurate to a few ulp for x > 0.
inline double PortableLog(double x) {
  constexpr double kLn2 = 0.693147180559945309417232121458;
  constexpr double kSqrtHalf = 0.707106781186547524400844362105;
  int exponent = 0;
  double m = std::frexp(x, &exponent);  // x = m * 2^exponent, m in [0.5, 1)
  if (m < kSqrtHalf) {
    m *= 2;
    --exponent;
  }
  // ln m = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + ...), |t| <= 0.172, so 12 terms reach 1e-19.
  const double t = (m - 1) / (m + 1);
  const double t2 = t * t;
  double term = t;
  double sum = 0;
  for (int k = 1; k <= 23; k += 2) {
    sum += term / k;
    term *= t2;
  }
  return 2 * sum + exponent * kLn2;
}

// xoshiro256** (Blackman and Vigna), seeded through splitmix64.
class Random {
 public:
  Random(uint64_t seed, uint64_t stream) {
    uint64_t state = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (uint64_t& word : s_) word = SplitMix64(state);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }

  // Uniform integer in [0, n). REQUIRES: n > 0. Multiply-shift; the bias (n / 2^64) is negligible.
  size_t Below(size_t n) {
    return static_cast<size_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }

  // Index drawn with probability weights[i] / sum(weights).
  template <size_t N>
  size_t Pick(const std::array<int, N>& weights) {
    int total = 0;
    for (int w : weights) total += w;
    int r = static_cast<int>(Below(static_cast<size_t>(total)));
    for (size_t i = 0; i < N; ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return N - 1;
  }

  // Exponentially distributed with the given mean (inter-arrival times of a Poisson process).
  double Exponential(double mean) { return -mean * PortableLog(1.0 - Uniform()); }

  // Two independent standard normal samples (Marsaglia's polar method).
  std::pair<double, double> NormalPair() {
    while (true) {
      const double u = Uniform(-1, 1);
      const double v = Uniform(-1, 1);
      const double s = u * u + v * v;
      if (s == 0 || s >= 1) continue;
      const double scale = std::sqrt(-2 * PortableLog(s) / s);
      return {u * scale, v * scale};
    }
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_;
};

}  // namespace gz::sim

#endif  // SIMULATORS_RANDOM_H_
