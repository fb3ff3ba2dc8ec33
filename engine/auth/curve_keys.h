// CURVE keys for dispatchd and its clients: generating key pairs, the key files, and the keys a
// client needs to connect.
//
// Keys travel and are stored in Z85, ZeroMQ's text encoding: 40 printable characters for a 32-byte
// key. A key pair on disk is two files sharing a prefix, as `dispatchctl keygen --out=<prefix>`
// writes them:
//
//   <prefix>.key          the public key: give it to whoever enrols the client (or, for the
//                         server, to every client)
//   <prefix>.key_secret   the secret key, mode 0600; never leaves the machine it was made on
//
// Each file holds the key on one line; lines starting with '#' are comments. A key directory
// (dispatchd's --keys_dir) holds the server's pair as server.key / server.key_secret and the
// allow-list clients.allow (allow_list.h); `dispatchctl init-keys` also puts an operator and a
// drill pair there.
//
// Thread-safety: every function is safe to call from any thread (files aside).

#ifndef ENGINE_AUTH_CURVE_KEYS_H_
#define ENGINE_AUTH_CURVE_KEYS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gz::auth {

// Characters of a Z85-encoded 32-byte CURVE key.
inline constexpr size_t kZ85KeyLength = 40;

// File names inside a key directory.
inline constexpr char kServerKeyName[] = "server";      // server.key, server.key_secret
inline constexpr char kOperatorKeyName[] = "operator";  // what dispatchctl uses from --keys_dir
inline constexpr char kDrillKeyName[] = "drill";        // what the simulators use from --keys_dir
inline constexpr char kAllowListFile[] = "clients.allow";
inline constexpr char kPublicKeySuffix[] = ".key";
inline constexpr char kSecretKeySuffix[] = ".key_secret";

struct CurveKeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

// What a client needs for CURVE: the server's public key and its own pair, all Z85. All three
// empty means a plain (unauthenticated) connection, for a dispatchd run with --insecure_no_auth.
struct CurveClientKeys {
  std::string server_public;
  std::string client_public;
  std::string client_secret;

  bool enabled() const { return !server_public.empty(); }
  // OK if all three are empty or all three are Z85 keys.
  absl::Status Validate() const;
};

// A fresh key pair from ZeroMQ's CURVE implementation (libsodium's random source).
absl::StatusOr<CurveKeyPair> GenerateKeyPair();

// True if `text` is a Z85 key: 40 characters of the Z85 alphabet.
bool IsZ85Key(absl::string_view text);

// The public key that belongs to a secret key (both Z85). InvalidArgument if it is not a key.
absl::StatusOr<std::string> PublicKeyOf(absl::string_view secret_key);

// "<prefix>.key" / "<prefix>.key_secret".
std::string PublicKeyPath(absl::string_view prefix);
std::string SecretKeyPath(absl::string_view prefix);

// Reads a key file: the one non-comment line, which must be a Z85 key. NotFound if the file is
// missing; InvalidArgument ("<path>: ...") if it holds anything else. A secret key file readable by
// group or others is refused (PermissionDenied, with the chmod that fixes it).
absl::StatusOr<std::string> ReadPublicKeyFile(const std::string& path);
absl::StatusOr<std::string> ReadSecretKeyFile(const std::string& path);

// Reads <prefix>.key_secret and derives the public key; if <prefix>.key exists it must match
// (FailedPrecondition otherwise: the two files are from different pairs).
absl::StatusOr<CurveKeyPair> ReadKeyPair(const std::string& prefix);

// Writes <prefix>.key (0644) and <prefix>.key_secret (0600), each with a comment line naming what
// it is. Never overwrites: AlreadyExists if either file exists.
absl::Status WriteKeyPair(const std::string& prefix, const CurveKeyPair& pair,
                          absl::string_view comment);

// The keys of a client whose pair has prefix `client_prefix`, for a server whose public key is in
// `server_public_file`.
absl::StatusOr<CurveClientKeys> LoadClientKeys(const std::string& client_prefix,
                                               const std::string& server_public_file);

// The usual way programs pick their keys from flags:
//   - `key_prefix` set: that pair, with the server key from `server_key_file`, or else from
//     <keys_dir>/server.key (InvalidArgument if neither is given);
//   - else `keys_dir` set: <keys_dir>/<default_name>.key_secret and <keys_dir>/server.key;
//   - else: no keys (a plain connection).
absl::StatusOr<CurveClientKeys> ClientKeysFromFlags(const std::string& keys_dir,
                                                    const std::string& key_prefix,
                                                    const std::string& server_key_file,
                                                    absl::string_view default_name);

// Sets the CURVE client options on a ZeroMQ socket (a `void*` from zmq_socket() or
// zmq::socket_t::handle()) before it connects. Does nothing for keys that are not enabled().
absl::Status UseClientKeys(void* socket, const CurveClientKeys& keys);

}  // namespace gz::auth

#endif  // ENGINE_AUTH_CURVE_KEYS_H_
