// Starts the real dispatchd as a child process on 127.0.0.1 with ephemeral ports, waits for its
// "ready" line (reading its stdout and stderr, one pipe: no sleeps), and stops or kills it. For
// integration tests.
//
// dispatchd runs with CURVE authentication, as in production: the keys are made by the real
// `dispatchctl init-keys` (DISPATCHCTL_PATH; without that definition, the dispatchctl built next
// to DISPATCHD_PATH) in a fresh directory under /tmp, one per config_dir for the life of the test
// process, so a dispatchd restarted on the same config_dir keeps its keys and its clients'.
// Clients take their keys from ClientKeys(): "operator" (intake, operator, feed), "drill" (every
// channel, any unit), or a key made by Enrol(). Pass --insecure_no_auth in `flags` for none, or
// --keys_dir=<dir> for keys of your own.

#ifndef TESTS_SUPPORT_DISPATCHD_PROCESS_H_
#define TESTS_SUPPORT_DISPATCHD_PROCESS_H_

#include <signal.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"

namespace gz::testing {

class DispatchdProcess {
 public:
  // Runs DISPATCHD_PATH with --config_dir and every endpoint on tcp://127.0.0.1:*, plus `flags`
  // (a flag given again in `flags` wins, e.g. EndpointFlags() of an earlier run). Fails if it
  // exits (the error says what it printed) or prints nothing ready within `timeout`.
  static absl::StatusOr<std::unique_ptr<DispatchdProcess>> Start(
      const std::string& config_dir, const std::vector<std::string>& flags = {},
      absl::Duration timeout = absl::Seconds(60));
  ~DispatchdProcess();  // SIGKILL if still running

  const std::string& intake() const { return intake_; }
  const std::string& responders() const { return responders_; }
  const std::string& operators() const { return operators_; }
  const std::string& feed() const { return feed_; }
  // --intake=... --responders=... --operator_endpoint=... --feed=... with this run's endpoints,
  // to start another dispatchd where clients of this one will find it.
  std::vector<std::string> EndpointFlags() const;

  // Sends `signal`, waits for the exit (up to `timeout`, then SIGKILL) and returns the exit status
  // as from waitpid; everything it printed is then in output().
  int Stop(int signal, absl::Duration timeout = absl::Seconds(30));
  const std::string& output() const { return output_; }
  // SIGKILL, as a crash or a power cut would stop it: no shutdown code runs. Waits for the exit and
  // returns the status, as Stop() does.
  int Kill() { return Stop(SIGKILL); }
  // The child's pid while it runs (-1 after Stop), e.g. to read /proc/<pid>/status.
  pid_t pid() const { return pid_; }

  // The key directory dispatchd runs with; empty with --insecure_no_auth.
  const std::string& keys_dir() const { return keys_dir_; }
  // The keys of pair `name` in keys_dir() ("operator", "drill", or one made by Enrol()), for a
  // client's options; empty keys (a plain connection) with --insecure_no_auth.
  absl::StatusOr<auth::CurveClientKeys> ClientKeys(const std::string& name) const;
  // Makes the pair <keys_dir>/<name> and enrols it with `role` ("responder" needs `unit`), through
  // `dispatchctl keygen` and `dispatchctl enrol`; returns its client keys.
  absl::StatusOr<auth::CurveClientKeys> Enrol(const std::string& name, const std::string& role,
                                              uint32_t unit = 0);
  // Revokes the pair <keys_dir>/<name> with `dispatchctl revoke`.
  absl::Status Revoke(const std::string& name);

 private:
  DispatchdProcess() = default;
  void ReadAvailable(absl::Duration timeout);

  pid_t pid_ = -1;
  std::string keys_dir_;
  int stdout_fd_ = -1;
  std::string output_;
  std::string intake_, responders_, operators_, feed_;
};

// What a dispatchctl run printed (stdout and stderr) and its exit status.
struct CommandOutput {
  int exit_code = -1;
  std::string output;
};
// Runs the dispatchctl of this build with `args` and waits for it.
CommandOutput RunDispatchctl(const std::vector<std::string>& args);

}  // namespace gz::testing

#endif  // TESTS_SUPPORT_DISPATCHD_PROCESS_H_
