#include "engine/app/cpu_placement.h"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace gz {

std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

absl::StatusOr<std::vector<int>> CpusBesideEngine(int engine_cpu) {
  const std::vector<int> allowed = AllowedCpus();
  std::vector<int> others;
  bool found = false;
  for (int cpu : allowed) {
    if (cpu == engine_cpu) {
      found = true;
    } else {
      others.push_back(cpu);
    }
  }
  if (!found) {
    return absl::InvalidArgumentError(absl::StrCat("engine_cpu ", engine_cpu,
                                                   " is not a CPU this process may run on (",
                                                   CpuListText(allowed), ")"));
  }
  if (others.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine_cpu ", engine_cpu,
                     " is the only CPU this process may run on: nothing would be left for "
                     "ZeroMQ's threads; leave engine_cpu unset (-1)"));
  }
  return others;
}

absl::Status PinCallingThread(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  // pthread_setaffinity_np returns the error instead of setting errno.
  if (const int error = pthread_setaffinity_np(pthread_self(), sizeof(set), &set); error != 0) {
    return absl::InternalError(absl::StrCat("cannot pin a thread to CPUs ", CpuListText(cpus), ": ",
                                            std::strerror(error)));
  }
  return absl::OkStatus();
}

std::string CpuListText(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    absl::StrAppend(&out, out.empty() ? "" : ",", cpus[i]);
    if (j > i) absl::StrAppend(&out, "-", cpus[j]);
    i = j + 1;
  }
  return out.empty() ? "none" : out;
}

}  // namespace gz
