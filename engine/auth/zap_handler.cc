#include "engine/auth/zap_handler.h"

#include <sys/stat.h>

#include <cstdio>
#include <vector>
#include <zmq_addon.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/auth/curve_keys.h"

namespace gz::auth {
namespace {

constexpr char kZapEndpoint[] = "inproc://zeromq.zap.01";
constexpr absl::Duration kLookEvery = absl::Seconds(1);
constexpr size_t kMaxReported = 1000;

// ZAP metadata: each property is a 1-byte name length, the name, a 4-byte big-endian value length
// and the value (the ZMTP metadata encoding).
std::string Metadata(absl::string_view name, absl::string_view value) {
  std::string out;
  out.push_back(static_cast<char>(name.size()));
  out.append(name.data(), name.size());
  const uint32_t n = static_cast<uint32_t>(value.size());
  for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(value.data(), value.size());
  return out;
}

void Send(zmq::socket_t& socket, const std::vector<std::string>& frames) {
  for (size_t i = 0; i < frames.size(); ++i) {
    socket.send(zmq::buffer(frames[i]),
                i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ZapHandler>> ZapHandler::Create(zmq::context_t& context,
                                                               std::string allow_list_path,
                                                               transport::Metrics* metrics) {
  const FileVersion version = VersionOf(allow_list_path);
  absl::StatusOr<AllowList> list = AllowList::Read(allow_list_path);
  if (!list.ok()) return list.status();
  std::unique_ptr<ZapHandler> handler(
      new ZapHandler(context, std::move(allow_list_path), *std::move(list), version, metrics));
  try {
    handler->socket_.set(zmq::sockopt::linger, 0);
    handler->socket_.bind(kZapEndpoint);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("cannot bind the ZAP handler: ", e.what()));
  }
  return handler;
}

ZapHandler::ZapHandler(zmq::context_t& context, std::string path, AllowList list,
                       FileVersion version, transport::Metrics* metrics)
    : socket_(context, zmq::socket_type::rep),
      path_(std::move(path)),
      list_(std::move(list)),
      version_(version),
      metrics_(metrics) {}

ZapHandler::~ZapHandler() = default;

ZapHandler::FileVersion ZapHandler::VersionOf(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return FileVersion{};
  return FileVersion{st.st_ino,
                     static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                     st.st_size};
}

void ZapHandler::MaybeReload(absl::Time now) {
  if (now - last_look_ < kLookEvery) return;
  last_look_ = now;
  const FileVersion version = VersionOf(path_);
  if (version == version_) return;
  version_ = version;
  absl::StatusOr<AllowList> list = AllowList::Read(path_);
  if (!list.ok()) {
    metrics_->Increment("auth_allow_list_errors");
    std::fprintf(stderr, "dispatchd: the allow-list was not reloaded, the previous one stays: %s\n",
                 std::string(list.status().message()).c_str());
    return;
  }
  list_ = *std::move(list);
  metrics_->Increment("auth_allow_list_reloads");
  std::fprintf(stderr, "dispatchd: reloaded %s: %zu keys allowed, %zu revoked\n", path_.c_str(),
               list_.active(), list_.clients().size() - list_.active());
}

int ZapHandler::Serve(int max) {
  int answered = 0;
  std::vector<zmq::message_t> request;
  while (answered < max) {
    request.clear();
    try {
      if (!zmq::recv_multipart(socket_, std::back_inserter(request), zmq::recv_flags::dontwait)) {
        break;
      }
      Answer(request);
    } catch (const zmq::error_t&) {
      // Only while the context shuts down: nothing is waiting for an answer any more.
      break;
    }
    ++answered;
  }
  return answered;
}

void ZapHandler::Answer(std::vector<zmq::message_t>& request) {
  // version, request id, domain, address, routing id, mechanism, credentials...
  const std::string request_id = request.size() > 1 ? request[1].to_string() : "";
  auto reply = [&](absl::string_view status, absl::string_view text, absl::string_view user_id,
                   const std::string& metadata) {
    Send(socket_, {"1.0", request_id, std::string(status), std::string(text), std::string(user_id),
                   metadata});
  };
  if (request.size() < 6 || request[0].to_string_view() != "1.0") {
    metrics_->Increment("auth_refused");
    metrics_->Increment("auth_refused.unknown.bad_request");
    return reply("500", "Not a ZAP 1.0 request.", "", "");
  }
  const std::string domain = request[2].to_string();
  const std::optional<Channel> channel = ChannelOfDomain(domain);
  const std::string channel_name = channel ? std::string(ChannelName(*channel)) : "unknown";
  if (!channel.has_value() || request[5].to_string_view() != "CURVE" || request.size() != 7 ||
      request[6].size() != 32) {
    Refuse(channel_name, "bad_request", "", nullptr, request[3].to_string());
    return reply("500", "dispatchd accepts CURVE clients only.", "", "");
  }
  MaybeReload(absl::Now());
  char z85[kZ85KeyLength + 1];
  zmq_z85_encode(z85, static_cast<const uint8_t*>(request[6].data()), 32);
  const std::string key(z85);
  const AllowedClient* entry = list_.Find(key);
  if (entry == nullptr) {
    Refuse(channel_name, "unknown_key", key, nullptr, request[3].to_string());
    return reply("400", "This key is not enrolled.", "", "");
  }
  if (entry->revoked) {
    Refuse(channel_name, "revoked_key", key, entry, request[3].to_string());
    return reply("400", "This key was revoked.", "", "");
  }
  if (!RoleAllowedOn(entry->role, *channel)) {
    Refuse(channel_name, "wrong_role", key, entry, request[3].to_string());
    return reply("400",
                 absl::StrCat("A ", RoleName(entry->role), " key may not use the ", channel_name,
                              " channel."),
                 "", "");
  }
  metrics_->Increment(absl::StrCat("auth_accepted.", channel_name));
  reply("200", "OK", entry->UserId(), Metadata(kClientKeyProperty, key));
}

void ZapHandler::Refuse(const std::string& channel, absl::string_view why, const std::string& key,
                        const AllowedClient* entry, absl::string_view address) {
  metrics_->Increment("auth_refused");
  metrics_->Increment(absl::StrCat("auth_refused.", channel, ".", why));
  if (reported_.size() >= kMaxReported) return;
  if (!reported_.insert(absl::StrCat(key, " ", channel, " ", why)).second) return;
  std::fprintf(stderr,
               "dispatchd: refused a connection to the %s channel from %s: %s%s%s (repeats are "
               "only counted, in auth_refused.%s.%s)\n",
               channel.c_str(), std::string(address).c_str(), std::string(why).c_str(),
               key.empty() ? "" : absl::StrCat(", key ", key).c_str(),
               entry != nullptr
                   ? absl::StrCat(" (", path_, ":", entry->line, ": ",
                                  FormatAllowLine(*entry).substr(kZ85KeyLength + 1), ")")
                         .c_str()
                   : "",
               channel.c_str(), std::string(why).c_str());
}

bool ZapHandler::StillAllowed(absl::string_view public_key, absl::string_view user_id) const {
  const AllowedClient* entry = list_.Find(public_key);
  return entry != nullptr && !entry->revoked && entry->UserId() == user_id;
}

}  // namespace gz::auth
