// Starts the real dispatchd as a child process on 127.0.0.1 with ephemeral ports, waits for its
// "ready" line (reading its stdout: no sleeps), and stops it. For integration tests.

#ifndef TESTS_SUPPORT_DISPATCHD_PROCESS_H_
#define TESTS_SUPPORT_DISPATCHD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gz::testing {

class DispatchdProcess {
 public:
  // Runs DISPATCHD_PATH with --config_dir and every endpoint on tcp://127.0.0.1:*, plus `flags`.
  // Fails if it exits or prints nothing ready within `timeout`.
  static absl::StatusOr<std::unique_ptr<DispatchdProcess>> Start(
      const std::string& config_dir, const std::vector<std::string>& flags = {},
      absl::Duration timeout = absl::Seconds(60));
  ~DispatchdProcess();  // SIGKILL if still running

  const std::string& intake() const { return intake_; }
  const std::string& responders() const { return responders_; }
  const std::string& operators() const { return operators_; }
  const std::string& feed() const { return feed_; }

  // Sends `signal`, waits for the exit (up to `timeout`, then SIGKILL) and returns the exit status
  // as from waitpid; everything it printed is then in output().
  int Stop(int signal, absl::Duration timeout = absl::Seconds(30));
  const std::string& output() const { return output_; }
  // The child's pid while it runs (-1 after Stop), e.g. to read /proc/<pid>/status.
  pid_t pid() const { return pid_; }

 private:
  DispatchdProcess() = default;
  void ReadAvailable(absl::Duration timeout);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string output_;
  std::string intake_, responders_, operators_, feed_;
};

}  // namespace gz::testing

#endif  // TESTS_SUPPORT_DISPATCHD_PROCESS_H_
