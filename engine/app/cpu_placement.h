// Keeping the engine's loop on a CPU of its own (ServerOptions::engine_cpu): the loop thread is
// pinned to one CPU and everything else dispatchd runs (ZeroMQ's I/O and reaper threads, snapshot
// children) to the other CPUs the process may use, so a burst of socket work or a snapshot never
// takes the core's CPU from it. The known lever on a small machine; the e2e benchmark
// measures it (bench/RESULTS.md).
//
// Linux only (sched_setaffinity). Thread-safety: the functions act on the calling thread or
// process; call them from the thread to be placed.

#ifndef ENGINE_APP_CPU_PLACEMENT_H_
#define ENGINE_APP_CPU_PLACEMENT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gz {

// The CPUs this process may run on (its affinity mask), ascending.
std::vector<int> AllowedCpus();

// For an engine pinned to `engine_cpu`: every other allowed CPU, where the rest of the process is
// to run. InvalidArgument, naming the allowed CPUs, if `engine_cpu` is not allowed, or if it is the
// only one (nothing would be left for ZeroMQ's threads: pinning would only add contention).
absl::StatusOr<std::vector<int>> CpusBesideEngine(int engine_cpu);

// Restricts the calling thread (not the whole process) to `cpus`.
absl::Status PinCallingThread(const std::vector<int>& cpus);

// "0-3,6": a CPU list as taskset and /proc print it.
std::string CpuListText(const std::vector<int>& cpus);

}  // namespace gz

#endif  // ENGINE_APP_CPU_PLACEMENT_H_
