#include "engine/auth/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace gz::auth {
namespace {

constexpr absl::string_view kZ85Alphabet =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// The single key line of a key file.
absl::StatusOr<std::string> ReadKeyLine(const std::string& path, absl::string_view what) {
  std::ifstream in(path);
  if (!in) {
    if (!FileExists(path)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  std::string key;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    // '#' is a Z85 character, but a key never starts with it (allow_list.cc says why).
    if (line.empty() || absl::StartsWith(line, "#")) continue;
    if (!key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ":", line_number, ": a key file holds one key; this is a second line"));
    }
    if (!IsZ85Key(line)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": not a ", what, " (expected ", kZ85KeyLength,
                       " characters of Z85, as `dispatchctl keygen` writes)"));
    }
    key = std::string(line);
  }
  if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no key"));
  return key;
}

// Creates `path` with `mode` (never replacing a file) and writes `contents`.
absl::Status WriteNewFile(const std::string& path, const std::string& contents, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(path,
                       " already exists; keys are never overwritten (remove it first if you "
                       "really mean to replace it)"));
    }
    return absl::UnavailableError(absl::StrCat("cannot create ", path, ": ", std::strerror(errno)));
  }
  // open() applies the umask; the secret's mode must be exactly what was asked for.
  fchmod(fd, mode);
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = write(fd, contents.data() + written, contents.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      close(fd);
      return absl::UnavailableError(
          absl::StrCat("cannot write ", path, ": ", std::strerror(error)));
    }
    written += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CurveClientKeys::Validate() const {
  if (server_public.empty() && client_public.empty() && client_secret.empty()) {
    return absl::OkStatus();
  }
  if (!IsZ85Key(server_public)) {
    return absl::InvalidArgumentError("the server's public key is not a Z85 CURVE key");
  }
  if (!IsZ85Key(client_public) || !IsZ85Key(client_secret)) {
    return absl::InvalidArgumentError("the client's key pair is not a pair of Z85 CURVE keys");
  }
  return absl::OkStatus();
}

absl::StatusOr<CurveKeyPair> GenerateKeyPair() {
  char public_key[kZ85KeyLength + 1];
  char secret_key[kZ85KeyLength + 1];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::UnimplementedError(absl::StrCat("ZeroMQ cannot make CURVE keys (",
                                                 zmq_strerror(zmq_errno()),
                                                 "): this libzmq was built without CURVE support"));
  }
  return CurveKeyPair{public_key, secret_key};
}

bool IsZ85Key(absl::string_view text) {
  if (text.size() != kZ85KeyLength) return false;
  for (char c : text) {
    if (kZ85Alphabet.find(c) == absl::string_view::npos) return false;
  }
  // Some 5-character groups overflow 32 bits: only what decodes is a key.
  uint8_t binary[32];
  const std::string terminated(text);
  return zmq_z85_decode(binary, terminated.c_str()) != nullptr;
}

absl::StatusOr<std::string> PublicKeyOf(absl::string_view secret_key) {
  if (!IsZ85Key(secret_key)) return absl::InvalidArgumentError("not a Z85 CURVE secret key");
  const std::string secret(secret_key);
  char public_key[kZ85KeyLength + 1];
  if (zmq_curve_public(public_key, secret.c_str()) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot derive the public key: ", zmq_strerror(zmq_errno())));
  }
  return std::string(public_key);
}

std::string PublicKeyPath(absl::string_view prefix) {
  return absl::StrCat(prefix, kPublicKeySuffix);
}
std::string SecretKeyPath(absl::string_view prefix) {
  return absl::StrCat(prefix, kSecretKeySuffix);
}

absl::StatusOr<std::string> ReadPublicKeyFile(const std::string& path) {
  return ReadKeyLine(path, "public key");
}

absl::StatusOr<std::string> ReadSecretKeyFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        path, ": a secret key must be readable by its owner only; run `chmod 600 ", path, "`"));
  }
  return ReadKeyLine(path, "secret key");
}

absl::StatusOr<CurveKeyPair> ReadKeyPair(const std::string& prefix) {
  absl::StatusOr<std::string> secret = ReadSecretKeyFile(SecretKeyPath(prefix));
  if (!secret.ok()) return secret.status();
  absl::StatusOr<std::string> derived = PublicKeyOf(*secret);
  if (!derived.ok()) return derived.status();
  const std::string public_path = PublicKeyPath(prefix);
  if (FileExists(public_path)) {
    absl::StatusOr<std::string> stored = ReadPublicKeyFile(public_path);
    if (!stored.ok()) return stored.status();
    if (*stored != *derived) {
      return absl::FailedPreconditionError(
          absl::StrCat(public_path, " does not belong to ", SecretKeyPath(prefix),
                       ": the two files are from different key pairs"));
    }
  }
  return CurveKeyPair{*std::move(derived), *std::move(secret)};
}

absl::Status WriteKeyPair(const std::string& prefix, const CurveKeyPair& pair,
                          absl::string_view comment) {
  const std::string public_path = PublicKeyPath(prefix);
  const std::string secret_path = SecretKeyPath(prefix);
  for (const std::string& path : {public_path, secret_path}) {
    if (FileExists(path)) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists; keys are never overwritten"));
    }
  }
  if (absl::Status s = WriteNewFile(
          secret_path,
          absl::StrCat("# CURVE secret key: ", comment, ". Keep it on this machine, mode 0600.\n",
                       pair.secret_key, "\n"),
          0600);
      !s.ok()) {
    return s;
  }
  return WriteNewFile(public_path,
                      absl::StrCat("# CURVE public key: ", comment, ".\n", pair.public_key, "\n"),
                      0644);
}

absl::StatusOr<CurveClientKeys> LoadClientKeys(const std::string& client_prefix,
                                               const std::string& server_public_file) {
  absl::StatusOr<CurveKeyPair> pair = ReadKeyPair(client_prefix);
  if (!pair.ok()) return pair.status();
  absl::StatusOr<std::string> server = ReadPublicKeyFile(server_public_file);
  if (!server.ok()) return server.status();
  return CurveClientKeys{*std::move(server), pair->public_key, pair->secret_key};
}

absl::StatusOr<CurveClientKeys> ClientKeysFromFlags(const std::string& keys_dir,
                                                    const std::string& key_prefix,
                                                    const std::string& server_key_file,
                                                    absl::string_view default_name) {
  const std::string dir_server_key =
      keys_dir.empty() ? "" : absl::StrCat(keys_dir, "/", kServerKeyName, kPublicKeySuffix);
  if (!key_prefix.empty()) {
    const std::string server = server_key_file.empty() ? dir_server_key : server_key_file;
    if (server.empty()) {
      return absl::InvalidArgumentError(
          "--key needs the server's public key too: --server_key=<file> or --keys_dir=<dir>");
    }
    return LoadClientKeys(key_prefix, server);
  }
  if (!keys_dir.empty()) {
    return LoadClientKeys(absl::StrCat(keys_dir, "/", default_name),
                          server_key_file.empty() ? dir_server_key : server_key_file);
  }
  if (!server_key_file.empty()) {
    return absl::InvalidArgumentError(
        "--server_key needs the client's own key pair too: --key=<prefix>");
  }
  return CurveClientKeys{};
}

absl::Status UseClientKeys(void* socket, const CurveClientKeys& keys) {
  if (!keys.enabled()) return absl::OkStatus();
  if (absl::Status s = keys.Validate(); !s.ok()) return s;
  const std::pair<int, const std::string*> options[] = {{ZMQ_CURVE_SERVERKEY, &keys.server_public},
                                                        {ZMQ_CURVE_PUBLICKEY, &keys.client_public},
                                                        {ZMQ_CURVE_SECRETKEY, &keys.client_secret}};
  for (const auto& [option, key] : options) {
    // Z85 keys are passed with their terminating NUL (41 bytes), as zmq_setsockopt expects.
    if (zmq_setsockopt(socket, option, key->c_str(), key->size() + 1) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot set the CURVE keys on the socket: ", zmq_strerror(zmq_errno())));
    }
  }
  return absl::OkStatus();
}

}  // namespace gz::auth
