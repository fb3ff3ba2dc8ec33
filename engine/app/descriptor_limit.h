// Raising the process's open-file limit: every ZeroMQ TCP connection costs a descriptor, and a
// whole-city fleet is about 23,000 of them (dispatchd's side and the fleet simulator's alike).

#ifndef ENGINE_APP_DESCRIPTOR_LIMIT_H_
#define ENGINE_APP_DESCRIPTOR_LIMIT_H_

#include <sys/resource.h>

#include <algorithm>

namespace gz {

// Raises the soft RLIMIT_NOFILE as far as allowed (past the hard limit when privileged, else up to
// it) and returns the limit now in force.
inline rlim_t RaiseDescriptorLimit() {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const rlim_t wanted = std::max<rlim_t>(limit.rlim_max, 65536);
  const rlimit raised{wanted, wanted};
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  getrlimit(RLIMIT_NOFILE, &limit);
  return limit.rlim_cur;
}

}  // namespace gz

#endif  // ENGINE_APP_DESCRIPTOR_LIMIT_H_
