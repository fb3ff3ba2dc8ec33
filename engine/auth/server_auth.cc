#include "engine/auth/server_auth.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <zmq_addon.hpp>

#include "absl/strings/str_cat.h"

namespace gz::auth {
namespace {

// ZMQ_ZAP_ENFORCE_DOMAIN: libzmq 4.3 implements it but lists it among the draft options, so the
// stable header does not name it.
constexpr int kZapEnforceDomain = 93;
// ZAP requests answered, and monitor events read, per turn of the loop before yielding to the rest.
constexpr int kBatch = 64;
// Accepted connections remembered while their handshake runs (a bound on memory, not on clients).
constexpr size_t kMaxHandshaking = 100'000;

const char* HandshakeFailureKind(uint16_t event, uint32_t value) {
  if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) {
    // The value is an errno. A client without CURVE sees the mismatch too and often hangs up
    // before the server has read its greeting: then this is all the server learns.
    if (value == EPIPE || value == ECONNRESET) return "hung_up";
    if (value == EFAULT) return "no_zap_handler";  // ZMQ_ZAP_ENFORCE_DOMAIN at work
    return "no_detail";
  }
  switch (value) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
      return "mechanism_mismatch";
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
      return "cryptographic";
    default:
      return "protocol";
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerAuth>> ServerAuth::Create(zmq::context_t& context,
                                                               const std::string& keys_dir,
                                                               transport::Metrics* metrics) {
  const std::string how = absl::StrCat(
      " (`dispatchctl init-keys ", keys_dir,
      "` makes a key directory: the server's keys, an operator and a drill key, and the "
      "allow-list)");
  absl::StatusOr<CurveKeyPair> server = ReadKeyPair(absl::StrCat(keys_dir, "/", kServerKeyName));
  if (!server.ok()) {
    return absl::Status(
        server.status().code(),
        absl::StrCat("cannot read the server's CURVE keys: ", server.status().message(),
                     absl::IsNotFound(server.status()) ? how : ""));
  }
  absl::StatusOr<std::unique_ptr<ZapHandler>> zap =
      ZapHandler::Create(context, absl::StrCat(keys_dir, "/", kAllowListFile), metrics);
  if (!zap.ok()) {
    return absl::Status(
        zap.status().code(),
        absl::StrCat("cannot read the allow-list of client keys: ", zap.status().message(),
                     absl::IsNotFound(zap.status()) ? how : ""));
  }
  return std::unique_ptr<ServerAuth>(
      new ServerAuth(context, *std::move(server), *std::move(zap), metrics));
}

ServerAuth::ServerAuth(zmq::context_t& context, CurveKeyPair server,
                       std::unique_ptr<ZapHandler> zap, transport::Metrics* metrics)
    : context_(context), server_(std::move(server)), zap_(std::move(zap)), metrics_(metrics) {}

ServerAuth::~ServerAuth() { Stop(); }

absl::Status MakeCurveServer(zmq::socket_t& socket, const std::string& secret_key,
                             const std::string& zap_domain) {
  try {
    socket.set(zmq::sockopt::curve_server, 1);
    socket.set(zmq::sockopt::curve_secretkey, secret_key);
    socket.set(zmq::sockopt::zap_domain, zap_domain);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot make the ", zap_domain, " socket a CURVE server: ", e.what()));
  }
  const int on = 1;
  int enforced = 0;
  size_t size = sizeof enforced;
  if (zmq_setsockopt(socket.handle(), kZapEnforceDomain, &on, sizeof on) != 0 ||
      zmq_getsockopt(socket.handle(), kZapEnforceDomain, &enforced, &size) != 0 || enforced != 1) {
    // Without it a handshake that finds no ZAP handler would let any key in: refuse to run.
    return absl::FailedPreconditionError(
        "this libzmq cannot enforce ZAP (ZMQ_ZAP_ENFORCE_DOMAIN); dispatchd needs libzmq 4.3 or "
        "later");
  }
  return absl::OkStatus();
}

absl::Status ServerAuth::Secure(zmq::socket_t& socket, Channel channel) {
  const std::string name(ChannelName(channel));
  if (absl::Status s = MakeCurveServer(socket, server_.secret_key, name); !s.ok()) return s;
  auto monitor = std::make_unique<Monitor>();
  monitor->channel = channel;
  const std::string endpoint = absl::StrCat("inproc://dispatchd.handshakes.", name);
  if (zmq_socket_monitor(socket.handle(), endpoint.c_str(),
                         ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                             ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot monitor the ", name, " socket: ", zmq_strerror(zmq_errno())));
  }
  try {
    monitor->socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
    monitor->socket->set(zmq::sockopt::linger, 0);
    monitor->socket->connect(endpoint);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the ", name, " socket's monitor: ", e.what()));
  }
  monitors_.push_back(std::move(monitor));
  return absl::OkStatus();
}

void ServerAuth::Start(boost::asio::io_context& io) {
  zap_watch_ =
      std::make_unique<transport::ZmqWatcher>(io, zap_->socket(), [this, &io] { ServeZap(io); });
  for (auto& monitor : monitors_) {
    Monitor* m = monitor.get();
    m->watch = std::make_unique<transport::ZmqWatcher>(io, *m->socket,
                                                       [this, &io, m] { ReadMonitor(io, *m); });
  }
  // Whatever arrived before the watchers existed: the edge has already passed.
  boost::asio::post(io, [this, &io] {
    ServeZap(io);
    for (auto& monitor : monitors_) ReadMonitor(io, *monitor);
  });
}

void ServerAuth::Stop() {
  stopped_ = true;
  if (zap_watch_) zap_watch_->Cancel();
  for (auto& monitor : monitors_) {
    if (monitor->watch) monitor->watch->Cancel();
  }
}

void ServerAuth::ServeZap(boost::asio::io_context& io) {
  if (stopped_) return;
  zap_->Serve(kBatch);
  // Replies were sent on the socket, which may have consumed the readiness edge: look again.
  if (zap_watch_->Readable()) {
    boost::asio::post(io, [this, &io] { ServeZap(io); });
  } else {
    zap_watch_->Arm();
  }
}

void ServerAuth::ReadMonitor(boost::asio::io_context& io, Monitor& monitor) {
  if (stopped_) return;
  std::vector<zmq::message_t> frames;
  for (int n = 0; n < kBatch; ++n) {
    frames.clear();
    try {
      if (!zmq::recv_multipart(*monitor.socket, std::back_inserter(frames),
                               zmq::recv_flags::dontwait)) {
        break;
      }
    } catch (const zmq::error_t&) {
      break;
    }
    if (frames.empty() || frames[0].size() < 6) continue;
    uint16_t event = 0;
    uint32_t value = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    std::memcpy(&value, static_cast<const char*>(frames[0].data()) + 2, sizeof value);
    OnEvent(monitor, event, value);
  }
  if (monitor.watch->Readable()) {
    boost::asio::post(io, [this, &io, &monitor] { ReadMonitor(io, monitor); });
  } else {
    monitor.watch->Arm();
  }
}

void ServerAuth::OnEvent(Monitor& monitor, uint16_t event, uint32_t value) {
  const absl::string_view channel = ChannelName(monitor.channel);
  std::deque<int>& pending = monitor.handshaking;
  switch (event) {
    case ZMQ_EVENT_ACCEPTED:
      pending.push_back(static_cast<int>(value));  // the value is the descriptor
      if (pending.size() > kMaxHandshaking) pending.pop_front();
      return;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
      // The event does not say which connection it is about; retire the oldest. When handshakes
      // overlap this can pick the wrong one, which only shifts a closed_before_handshake count
      // from one connection to another.
      if (!pending.empty()) pending.pop_front();
      return;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:  // counted by the ZAP handler, with its reason
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
      if (event != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        metrics_->Increment("handshake_failed");
        metrics_->Increment(
            absl::StrCat("handshake_failed.", channel, ".", HandshakeFailureKind(event, value)));
      }
      // Its disconnect follows (right after, with libzmq's one I/O thread): not a second count.
      ++monitor.failed_not_closed;
      return;
    case ZMQ_EVENT_DISCONNECTED: {
      const auto it = std::find(pending.begin(), pending.end(), static_cast<int>(value));
      if (it == pending.end()) return;  // a connection that had completed its handshake
      pending.erase(it);
      if (monitor.failed_not_closed > 0) {
        --monitor.failed_not_closed;
        return;
      }
      // Closed with no handshake result at all: libzmq drops a peer that does not speak ZMTP
      // (its first byte is not 0xff) without a handshake event of its own.
      metrics_->Increment("handshake_failed");
      metrics_->Increment(absl::StrCat("handshake_failed.", channel, ".closed_before_handshake"));
      return;
    }
    default:
      return;
  }
}

std::optional<Identity> ServerAuth::Admit(Channel channel, const zmq::message_t& message,
                                          std::string* why) {
  const char* user_id = zmq_msg_gets(message.handle(), "User-Id");
  const char* key = zmq_msg_gets(message.handle(), kClientKeyProperty);
  if (user_id == nullptr || key == nullptr) {
    *why = "no_identity";
    return std::nullopt;
  }
  const std::optional<Identity> identity = ParseUserId(user_id);
  if (!identity.has_value()) {
    *why = "no_identity";
    return std::nullopt;
  }
  if (!RoleAllowedOn(identity->role, channel)) {
    *why = "wrong_role";
    return std::nullopt;
  }
  if (!zap_->StillAllowed(key, user_id)) {
    *why = "revoked_session";
    return std::nullopt;
  }
  return identity;
}

std::string ServerAuth::Description() const {
  const AllowList& list = zap_->allow_list();
  return absl::StrCat("CURVE on: server key ", server_.public_key, "; ", list.active(),
                      " client keys allowed, ", list.clients().size() - list.active(), " revoked (",
                      zap_->allow_list_path(), ")");
}

}  // namespace gz::auth
