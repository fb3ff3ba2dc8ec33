// The seed for randomised tests: fixed by default so a failure reproduces, overridable with the
// environment variable DISPATCH_TEST_SEED to explore other inputs. The seed is printed by the tests
// that use it (Catch2 INFO), so a failing run names the seed that reproduces it.

#ifndef TESTS_SUPPORT_TEST_SEED_H_
#define TESTS_SUPPORT_TEST_SEED_H_

#include <cstdint>
#include <cstdlib>
#include <string>

namespace gz::testing {

inline uint64_t TestSeed() {
  constexpr uint64_t kDefaultSeed = 20261126;
  const char* env = std::getenv("DISPATCH_TEST_SEED");
  if (env == nullptr || *env == '\0') return kDefaultSeed;
  return std::stoull(env);
}

}  // namespace gz::testing

#endif  // TESTS_SUPPORT_TEST_SEED_H_
