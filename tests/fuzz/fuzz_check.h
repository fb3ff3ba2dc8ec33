// FUZZ_CHECK: an invariant a fuzz target asserts. On failure it prints the file, line, condition
// and a message built with absl::StrCat, then aborts: libFuzzer reports the abort as a crash and
// saves the input that caused it (crash-<sha1> in its artifact directory).
//
// Not assert(): the fuzz build is not a debug build, and an invariant must hold in every build.

#ifndef TESTS_FUZZ_FUZZ_CHECK_H_
#define TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"

namespace gz::fuzz {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition,
                                     const std::string& message) {
  std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", file, line, condition,
               message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace gz::fuzz

#define FUZZ_CHECK(condition, ...)                                                          \
  do {                                                                                      \
    if (!(condition)) {                                                                     \
      ::gz::fuzz::CheckFailed(__FILE__, __LINE__, #condition, ::absl::StrCat(__VA_ARGS__)); \
    }                                                                                       \
  } while (false)

#endif  // TESTS_FUZZ_FUZZ_CHECK_H_
