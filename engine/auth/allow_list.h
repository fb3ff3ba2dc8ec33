// The allow-list of client keys (clients.allow in dispatchd's key directory), the roles a key can
// have, and which channels each role may use.
//
// One line per client key:
//
//   <public key, Z85> <role> [<unit id>] [<label>] [# comment]
//
//   # the control room
//   o7O%X&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKUN operator alice
//   ^V=2B(9ZgV(=561AM{7!/+)PVW^fDf.%+=5.C+.W responder 5123 phone-2024-03
//   ms@i+u8L5HFz9R5e7Kk.@dYN+-8naHfLJ-#2SQx! drill simulators
//   Fjl*#5jEtsJl/pvM}$c3{ekJg9@V6EOJ#v3sJ}%5 revoked responder 5123 phone-2022  # lost
//
// Roles, and the channels (ZAP domains) each may connect to:
//   operator      a control-room person or console: intake, operator, feed
//   responder     the client of one unit (the unit id is required): responder, and only for that
//                 unit
//   drill         the simulators (responder_fleet, drill --live): every channel, any unit. Enrol
//                 it only on engines used for drills and tests.
//   alert_source  a gateway or kiosk that only raises alerts: intake
// A line whose role is `revoked` keeps the key on record but refuses it (counted as revoked_key
// rather than unknown_key); the rest of such a line is not interpreted. A label is 1-64
// characters of letters, digits and . _ - @; it names the client in User-Id ("operator:alice").
// Blank lines and lines starting with '#' are comments (no key starts with '#'); a comment may
// also end a line after a space. Every key appears at most once.
//
// Thread-safety: an AllowList is immutable after Parse(); share it freely. The file functions
// (EnrolClient, RevokeClients) are not safe against concurrent edits of the same file.

#ifndef ENGINE_AUTH_ALLOW_LIST_H_
#define ENGINE_AUTH_ALLOW_LIST_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gz::auth {

enum class Role { kOperator, kResponder, kDrill, kAlertSource };
absl::string_view RoleName(Role role);  // "operator", "responder", "drill", "alert_source"
std::optional<Role> ParseRole(absl::string_view name);

// dispatchd's channels as authentication sees them; the name is the socket's ZAP domain and the
// middle part of the auth counters (auth_refused.<channel>.<why>).
enum class Channel { kIntake, kResponder, kOperator, kFeed };
absl::string_view ChannelName(Channel channel);  // "intake", "responder", "operator", "feed"
std::optional<Channel> ChannelOfDomain(absl::string_view zap_domain);

// Whether a key with `role` may connect to `channel` (the table above).
bool RoleAllowedOn(Role role, Channel channel);

struct AllowedClient {
  std::string public_key;  // Z85
  Role role = Role::kOperator;
  uint32_t unit = 0;  // responders only; 0 otherwise
  std::string label;  // may be empty
  bool revoked = false;
  int line = 0;  // where it was read (1-based); 0 for one built in code

  // What the ZAP handler tells ZeroMQ the connection is: "responder:5123", "operator:alice",
  // "drill:fleet", "alert_source:gateway-110" (just the role without a label).
  std::string UserId() const;
};

// Who a connection is, from its User-Id (every message carries it, see zmq_msg_gets).
struct Identity {
  Role role = Role::kOperator;
  uint32_t unit = 0;  // responders only
};
// nullopt if `user_id` is not of the form UserId() writes.
std::optional<Identity> ParseUserId(absl::string_view user_id);

// Whether a connection of `identity` may speak for `unit` on the responder channel: a responder
// for its own unit only, a drill key for any.
bool MaySpeakFor(const Identity& identity, uint32_t unit);

// True if `label` is a valid label (see the file comment).
bool IsValidLabel(absl::string_view label);

class AllowList {
 public:
  AllowList() = default;

  // Parses the text of an allow-list. InvalidArgument names "<source_name>:<line>: <what>" for
  // the first bad line.
  static absl::StatusOr<AllowList> Parse(absl::string_view text, absl::string_view source_name);
  // Reads and parses a file; NotFound if it does not exist.
  static absl::StatusOr<AllowList> Read(const std::string& path);

  // The entry for a public key (Z85), revoked or not; nullptr if the key is not listed.
  const AllowedClient* Find(absl::string_view public_key) const;

  const std::vector<AllowedClient>& clients() const { return clients_; }
  // Entries that are not revoked.
  size_t active() const;

 private:
  std::vector<AllowedClient> clients_;
  absl::flat_hash_map<std::string, size_t> by_key_;
};

// The line for an entry, as Parse() reads it back (without a comment).
std::string FormatAllowLine(const AllowedClient& client);

// Adds `client` to the allow-list file at `path` (created, mode 0600, if missing). The file is
// rewritten to a temporary and renamed over the old one, so a dispatchd reloading it sees the old
// list or the new one, never half of one. AlreadyExists if the key is listed (active or revoked:
// a revoked key is never enrolled again, make a new one); InvalidArgument for a bad entry or a
// malformed file.
absl::Status EnrolClient(const std::string& path, const AllowedClient& client);

// Marks every active entry for which `match` is true as revoked (the line becomes
// "<key> revoked <old role...>  # revoked <note>"), atomically as EnrolClient does, and returns
// the entries revoked (empty if none matched: nothing is written).
absl::StatusOr<std::vector<AllowedClient>> RevokeClients(
    const std::string& path, const std::function<bool(const AllowedClient&)>& match,
    absl::string_view note);

}  // namespace gz::auth

#endif  // ENGINE_AUTH_ALLOW_LIST_H_
