#include "tests/support/dispatchd_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gz::testing {

absl::StatusOr<std::unique_ptr<DispatchdProcess>> DispatchdProcess::Start(
    const std::string& config_dir, const std::vector<std::string>& flags, absl::Duration timeout) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> args{DISPATCHD_PATH,
                                "--config_dir=" + config_dir,
                                "--intake=tcp://127.0.0.1:*",
                                "--responders=tcp://127.0.0.1:*",
                                "--operator_endpoint=tcp://127.0.0.1:*",
                                "--feed=tcp://127.0.0.1:*"};
  args.insert(args.end(), flags.begin(), flags.end());
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  auto process = std::unique_ptr<DispatchdProcess>(new DispatchdProcess());
  process->pid_ = pid;
  process->stdout_fd_ = pipe_fds[0];
  const absl::Time deadline = absl::Now() + timeout;
  const std::regex ready(
      "dispatchd ready: intake=(\\S+) responders=(\\S+) operator=(\\S+) feed=(\\S+)");
  std::smatch m;
  while (!std::regex_search(process->output_, m, ready)) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("dispatchd printed no ready line; output so far: ", process->output_));
    }
    const size_t before = process->output_.size();
    process->ReadAvailable(left);
    if (process->output_.size() == before && waitpid(pid, nullptr, WNOHANG) == pid) {
      process->pid_ = -1;
      return absl::InternalError(absl::StrCat("dispatchd exited at start: ", process->output_));
    }
  }
  process->intake_ = m[1];
  process->responders_ = m[2];
  process->operators_ = m[3];
  process->feed_ = m[4];
  return process;
}

void DispatchdProcess::ReadAvailable(absl::Duration timeout) {
  pollfd p{stdout_fd_, POLLIN, 0};
  const int ms = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
  if (poll(&p, 1, ms) <= 0) return;
  char buffer[4096];
  const ssize_t n = read(stdout_fd_, buffer, sizeof buffer);
  if (n > 0) output_.append(buffer, static_cast<size_t>(n));
}

int DispatchdProcess::Stop(int signal, absl::Duration timeout) {
  if (pid_ < 0) return -1;
  kill(pid_, signal);
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  for (;;) {
    // Reading its output until EOF is how we wait: the pipe closes when it exits.
    pollfd p{stdout_fd_, POLLIN, 0};
    const int ms =
        static_cast<int>(std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now())));
    if (poll(&p, 1, ms) <= 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    char buffer[4096];
    const ssize_t n = read(stdout_fd_, buffer, sizeof buffer);
    if (n > 0) {
      output_.append(buffer, static_cast<size_t>(n));
      continue;
    }
    waitpid(pid_, &status, 0);
    break;
  }
  pid_ = -1;
  return status;
}

DispatchdProcess::~DispatchdProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

}  // namespace gz::testing
