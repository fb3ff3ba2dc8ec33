#include "tests/support/dispatchd_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace gz::testing {
namespace {

std::string DispatchctlPath() {
#ifdef DISPATCHCTL_PATH
  return DISPATCHCTL_PATH;
#else
  // Targets that do not name it (the benchmarks) use the one CMake builds next to dispatchd:
  // <build>/engine/app/dispatchd and <build>/engine/client/dispatchctl.
  std::string path = DISPATCHD_PATH;
  for (int up = 0; up < 2 && path.rfind('/') != std::string::npos; ++up) {
    path.resize(path.rfind('/'));
  }
  return path + "/client/dispatchctl";
#endif
}

bool HasFlag(const std::vector<std::string>& flags, absl::string_view prefix) {
  return std::any_of(flags.begin(), flags.end(),
                     [&](const std::string& f) { return absl::StartsWith(f, prefix); });
}

// The key of a key file as dispatchctl writes it: the line after the comments. (Read here rather
// than with engine/auth, so that programs using this helper need not link it.)
absl::StatusOr<std::string> ReadKey(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string line, key;
  while (std::getline(in, line)) {
    if (line.size() == auth::kZ85KeyLength) key = line;
  }
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(path, " holds no key"));
  return key;
}

// The key directory for dispatchd runs on `config_dir`: made on first use, then the same one.
absl::StatusOr<std::string> KeysFor(const std::string& config_dir) {
  static std::mutex mu;
  static std::map<std::string, std::string>* const dirs = new std::map<std::string, std::string>;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = dirs->find(config_dir); it != dirs->end()) return it->second;
  char parent[] = "/tmp/gz-dispatch-keys-XXXXXX";
  if (mkdtemp(parent) == nullptr) return absl::InternalError("mkdtemp failed");
  const std::string dir = absl::StrCat(parent, "/keys");
  const CommandOutput made = RunDispatchctl({"init-keys", dir});
  if (made.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("`dispatchctl init-keys ", dir, "` failed: ", made.output));
  }
  (*dirs)[config_dir] = dir;
  return dir;
}

}  // namespace

CommandOutput RunDispatchctl(const std::vector<std::string>& args) {
  const std::string program = DispatchctlPath();
  std::vector<std::string> command{program};
  command.insert(command.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : command) argv.push_back(a.data());
  argv.push_back(nullptr);
  CommandOutput result;
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return result;
  const pid_t pid = fork();
  if (pid < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return result;
  }
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  char buffer[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
    if (n > 0) result.output.append(buffer, static_cast<size_t>(n));
    if (n < 0 && errno != EINTR) break;
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (result.exit_code == 127) {
    absl::StrAppend(&result.output, "(could not run ", program, ")");
  }
  return result;
}

absl::StatusOr<std::unique_ptr<DispatchdProcess>> DispatchdProcess::Start(
    const std::string& config_dir, const std::vector<std::string>& flags, absl::Duration timeout) {
  std::string keys_dir;
  std::vector<std::string> auth_flags;
  if (!HasFlag(flags, "--insecure_no_auth")) {
    for (const std::string& f : flags) {
      if (absl::StartsWith(f, "--keys_dir=")) keys_dir = f.substr(std::strlen("--keys_dir="));
    }
    if (keys_dir.empty()) {
      absl::StatusOr<std::string> made = KeysFor(config_dir);
      if (!made.ok()) return made.status();
      keys_dir = *made;
      auth_flags.push_back("--keys_dir=" + keys_dir);
    }
  }
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return absl::InternalError("pipe failed");
  std::vector<std::string> args{DISPATCHD_PATH,
                                "--config_dir=" + config_dir,
                                "--intake=tcp://127.0.0.1:*",
                                "--responders=tcp://127.0.0.1:*",
                                "--operator_endpoint=tcp://127.0.0.1:*",
                                "--feed=tcp://127.0.0.1:*"};
  args.insert(args.end(), auth_flags.begin(), auth_flags.end());
  args.insert(args.end(), flags.begin(), flags.end());
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);  // its warnings and errors too, in output()
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
  process->keys_dir_ = keys_dir;
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

absl::StatusOr<auth::CurveClientKeys> DispatchdProcess::ClientKeys(const std::string& name) const {
  if (keys_dir_.empty()) return auth::CurveClientKeys{};
  auth::CurveClientKeys keys;
  for (const auto& [field, path] :
       {std::pair{&keys.server_public, absl::StrCat(keys_dir_, "/server.key")},
        std::pair{&keys.client_public, absl::StrCat(keys_dir_, "/", name, ".key")},
        std::pair{&keys.client_secret, absl::StrCat(keys_dir_, "/", name, ".key_secret")}}) {
    absl::StatusOr<std::string> key = ReadKey(path);
    if (!key.ok()) return key.status();
    *field = *std::move(key);
  }
  return keys;
}

absl::StatusOr<auth::CurveClientKeys> DispatchdProcess::Enrol(const std::string& name,
                                                              const std::string& role,
                                                              uint32_t unit) {
  if (keys_dir_.empty()) return absl::FailedPreconditionError("dispatchd runs without keys");
  const std::string prefix = absl::StrCat(keys_dir_, "/", name);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"keygen", "--out=" + prefix},
        std::vector<std::string>{"enrol", "--keys_dir=" + keys_dir_,
                                 "--public_key_file=" + prefix + ".key", "--role=" + role,
                                 "--unit=" + std::to_string(unit), "--label=" + name}}) {
    const CommandOutput run = RunDispatchctl(args);
    if (run.exit_code != 0) {
      return absl::InternalError(absl::StrCat("dispatchctl ", args[0], " failed: ", run.output));
    }
  }
  return ClientKeys(name);
}

absl::Status DispatchdProcess::Revoke(const std::string& name) {
  if (keys_dir_.empty()) return absl::FailedPreconditionError("dispatchd runs without keys");
  const CommandOutput run =
      RunDispatchctl({"revoke", "--keys_dir=" + keys_dir_,
                      absl::StrCat("--public_key_file=", keys_dir_, "/", name, ".key")});
  if (run.exit_code != 0) {
    return absl::InternalError(absl::StrCat("dispatchctl revoke failed: ", run.output));
  }
  return absl::OkStatus();
}

std::vector<std::string> DispatchdProcess::EndpointFlags() const {
  return {"--intake=" + intake_, "--responders=" + responders_, "--operator_endpoint=" + operators_,
          "--feed=" + feed_};
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
