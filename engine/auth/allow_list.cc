#include "engine/auth/allow_list.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/auth/curve_keys.h"

namespace gz::auth {
namespace {

constexpr size_t kMaxLabelBytes = 64;
constexpr absl::string_view kRevoked = "revoked";

std::optional<uint32_t> ParseUnit(absl::string_view text) {
  uint32_t unit = 0;
  if (!absl::SimpleAtoi(text, &unit) || unit == 0) return std::nullopt;
  return unit;
}

// The role, unit and label fields after the key (and after "revoked" on a revoked line).
absl::Status ParseFields(const std::vector<absl::string_view>& fields, AllowedClient* client) {
  if (fields.empty()) {
    return absl::InvalidArgumentError(
        "a role must follow the key (operator, responder, drill, alert_source or revoked)");
  }
  const std::optional<Role> role = ParseRole(fields[0]);
  if (!role.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown role '", fields[0], "' (operator, responder, drill, alert_source or revoked)"));
  }
  client->role = *role;
  size_t next = 1;
  if (*role == Role::kResponder) {
    const std::optional<uint32_t> unit =
        fields.size() > 1 ? ParseUnit(fields[1]) : std::optional<uint32_t>();
    if (!unit.has_value()) {
      return absl::InvalidArgumentError(
          "a responder key needs its unit id (a positive number) after the role");
    }
    client->unit = *unit;
    next = 2;
  }
  if (fields.size() > next) {
    if (!IsValidLabel(fields[next])) {
      return absl::InvalidArgumentError(absl::StrCat("'", fields[next], "' is not a label (1-",
                                                     kMaxLabelBytes,
                                                     " letters, digits, '.', '_', '-' or '@')"));
    }
    client->label = std::string(fields[next]);
    ++next;
  }
  if (fields.size() > next) {
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected '", fields[next], "' after the label (a comment starts with #)"));
  }
  return absl::OkStatus();
}

// Replaces the file at `path` with `text` through a temporary file and rename(2).
absl::Status ReplaceFile(const std::string& path, const std::string& text) {
  struct stat st;
  const mode_t mode = stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0600;
  const std::string temporary = absl::StrCat(path, ".tmp.", getpid());
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot write ", temporary, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  bool ok = true;
  while (ok && written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  ok = ok && fsync(fd) == 0;
  const int error = errno;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(temporary.c_str(), path.c_str()) != 0) {
    unlink(temporary.c_str());
    return absl::UnavailableError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(ok ? errno : error)));
  }
  return absl::OkStatus();
}

// The file's text, or "" if it does not exist.
absl::StatusOr<std::string> ReadTextIfAny(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0 && errno == ENOENT) return std::string();
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kOperator:
      return "operator";
    case Role::kResponder:
      return "responder";
    case Role::kDrill:
      return "drill";
    case Role::kAlertSource:
      return "alert_source";
  }
  return "unknown";
}

std::optional<Role> ParseRole(absl::string_view name) {
  for (Role role : {Role::kOperator, Role::kResponder, Role::kDrill, Role::kAlertSource}) {
    if (name == RoleName(role)) return role;
  }
  return std::nullopt;
}

absl::string_view ChannelName(Channel channel) {
  switch (channel) {
    case Channel::kIntake:
      return "intake";
    case Channel::kResponder:
      return "responder";
    case Channel::kOperator:
      return "operator";
    case Channel::kFeed:
      return "feed";
  }
  return "unknown";
}

std::optional<Channel> ChannelOfDomain(absl::string_view zap_domain) {
  for (Channel channel :
       {Channel::kIntake, Channel::kResponder, Channel::kOperator, Channel::kFeed}) {
    if (zap_domain == ChannelName(channel)) return channel;
  }
  return std::nullopt;
}

bool RoleAllowedOn(Role role, Channel channel) {
  switch (role) {
    case Role::kDrill:
      return true;
    case Role::kOperator:
      return channel != Channel::kResponder;
    case Role::kResponder:
      return channel == Channel::kResponder;
    case Role::kAlertSource:
      return channel == Channel::kIntake;
  }
  return false;
}

std::string AllowedClient::UserId() const {
  if (role == Role::kResponder) return absl::StrCat(RoleName(role), ":", unit);
  if (label.empty()) return std::string(RoleName(role));
  return absl::StrCat(RoleName(role), ":", label);
}

std::optional<Identity> ParseUserId(absl::string_view user_id) {
  const size_t colon = user_id.find(':');
  const std::optional<Role> role = ParseRole(user_id.substr(0, colon));
  if (!role.has_value()) return std::nullopt;
  Identity identity{*role, 0};
  if (*role == Role::kResponder) {
    if (colon == absl::string_view::npos) return std::nullopt;
    const std::optional<uint32_t> unit = ParseUnit(user_id.substr(colon + 1));
    if (!unit.has_value()) return std::nullopt;
    identity.unit = *unit;
  }
  return identity;
}

bool MaySpeakFor(const Identity& identity, uint32_t unit) {
  return identity.role == Role::kDrill ||
         (identity.role == Role::kResponder && identity.unit == unit && unit != 0);
}

bool IsValidLabel(absl::string_view label) {
  if (label.empty() || label.size() > kMaxLabelBytes) return false;
  for (char c : label) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-' &&
        c != '@') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<AllowList> AllowList::Parse(absl::string_view text, absl::string_view source_name) {
  AllowList list;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    std::vector<absl::string_view> tokens =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (tokens.empty()) continue;
    // '#' is a Z85 character, but never the first of a key (a group's first character encodes at
    // most 2^32 / 85^4 < 83, and '#' is the 85th), so a line starting with it is a comment.
    if (absl::StartsWith(tokens[0], "#")) continue;
    for (size_t i = 1; i < tokens.size(); ++i) {
      if (absl::StartsWith(tokens[i], "#")) {
        tokens.resize(i);
        break;
      }
    }
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ":", line_number, ": ", what));
    };
    if (!IsZ85Key(tokens[0])) {
      return fail(absl::StrCat("'", tokens[0], "' is not a public key (", kZ85KeyLength,
                               " characters of Z85, as `dispatchctl keygen` writes)"));
    }
    AllowedClient client;
    client.public_key = std::string(tokens[0]);
    client.line = line_number;
    std::vector<absl::string_view> fields(tokens.begin() + 1, tokens.end());
    if (!fields.empty() && fields[0] == kRevoked) {
      client.revoked = true;
      // What the key used to be, when the line still says it; otherwise just "revoked".
      AllowedClient before = client;
      fields.erase(fields.begin());
      if (ParseFields(fields, &before).ok()) client = before;
    } else if (absl::Status s = ParseFields(fields, &client); !s.ok()) {
      return fail(s.message());
    }
    if (auto it = list.by_key_.find(client.public_key); it != list.by_key_.end()) {
      return fail(absl::StrCat("this key is already listed on line ",
                               list.clients_[it->second].line, "; list each key once"));
    }
    list.by_key_.emplace(client.public_key, list.clients_.size());
    list.clients_.push_back(std::move(client));
  }
  return list;
}

absl::StatusOr<AllowList> AllowList::Read(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0)
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot be read"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

const AllowedClient* AllowList::Find(absl::string_view public_key) const {
  auto it = by_key_.find(public_key);
  return it == by_key_.end() ? nullptr : &clients_[it->second];
}

size_t AllowList::active() const {
  size_t n = 0;
  for (const AllowedClient& c : clients_) n += c.revoked ? 0 : 1;
  return n;
}

std::string FormatAllowLine(const AllowedClient& client) {
  std::vector<std::string> fields{client.public_key};
  if (client.revoked) fields.emplace_back(kRevoked);
  fields.emplace_back(RoleName(client.role));
  if (client.role == Role::kResponder) fields.push_back(absl::StrCat(client.unit));
  if (!client.label.empty()) fields.push_back(client.label);
  return absl::StrJoin(fields, " ");
}

absl::Status EnrolClient(const std::string& path, const AllowedClient& client) {
  if (!IsZ85Key(client.public_key)) {
    return absl::InvalidArgumentError("the public key is not a Z85 CURVE key");
  }
  if (client.role == Role::kResponder && client.unit == 0) {
    return absl::InvalidArgumentError("a responder key needs its unit id");
  }
  if (client.role != Role::kResponder && client.unit != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "only a responder key belongs to a unit (this one is ", RoleName(client.role), ")"));
  }
  if (!client.label.empty() && !IsValidLabel(client.label)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", client.label, "' is not a label (1-64 letters, digits, '.', '_', '-' or '@')"));
  }
  absl::StatusOr<std::string> text = ReadTextIfAny(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<AllowList> list = AllowList::Parse(*text, path);
  if (!list.ok()) return list.status();
  if (const AllowedClient* existing = list->Find(client.public_key)) {
    return absl::AlreadyExistsError(
        absl::StrCat("this key is already on line ", existing->line, " of ", path, " (",
                     existing->revoked ? "revoked: make a new key with `dispatchctl keygen`"
                                       : FormatAllowLine(*existing).substr(kZ85KeyLength + 1),
                     ")"));
  }
  std::string updated = *std::move(text);
  if (!updated.empty() && updated.back() != '\n') updated.push_back('\n');
  AllowedClient active = client;
  active.revoked = false;
  absl::StrAppend(&updated, FormatAllowLine(active), "\n");
  return ReplaceFile(path, updated);
}

absl::StatusOr<std::vector<AllowedClient>> RevokeClients(
    const std::string& path, const std::function<bool(const AllowedClient&)>& match,
    absl::string_view note) {
  absl::StatusOr<std::string> text = ReadTextIfAny(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<AllowList> list = AllowList::Parse(*text, path);
  if (!list.ok()) return list.status();
  std::vector<std::string> lines = absl::StrSplit(*text, '\n');
  std::vector<AllowedClient> revoked;
  for (const AllowedClient& client : list->clients()) {
    if (client.revoked || !match(client)) continue;
    AllowedClient now = client;
    now.revoked = true;
    lines[client.line - 1] =
        absl::StrCat(FormatAllowLine(now), "  # revoked", note.empty() ? "" : " ", note);
    revoked.push_back(now);
  }
  if (revoked.empty()) return revoked;
  if (absl::Status s = ReplaceFile(path, absl::StrJoin(lines, "\n")); !s.ok()) return s;
  return revoked;
}

}  // namespace gz::auth
