#include "engine/client/envelope_socket.h"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gz::client {
namespace {

absl::Status ZmqError(absl::string_view what, const zmq::error_t& e) {
  return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
}

// Milliseconds from now until `deadline`, rounded up so a poll never wakes just before it; 0 for a
// deadline already passed, -1 (wait for ever) for an infinite one.
long PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<long>(absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))));
}

}  // namespace

EnvelopeSocket::EnvelopeSocket(zmq::context_t& context, std::string endpoint, std::string sender_id,
                               auth::CurveClientKeys keys)
    : context_(context),
      endpoint_(std::move(endpoint)),
      sender_id_(std::move(sender_id)),
      keys_(std::move(keys)) {}

EnvelopeSocket::~EnvelopeSocket() { StopHandshakeMonitor(); }

absl::Status EnvelopeSocket::Open() {
  StopHandshakeMonitor();
  socket_.reset();
  handshake_failure_ = 0;
  handshake_failure_value_ = 0;
  try {
    auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    // Unsent requests are worthless once the client gives up on them: never block close.
    socket->set(zmq::sockopt::linger, 0);
    socket->set(zmq::sockopt::maxmsgsize, static_cast<int64_t>(kMaxEnvelopeBytes) * 2);
    if (absl::Status s = auth::UseClientKeys(socket->handle(), keys_); !s.ok()) return s;
    if (diagnose_handshake_) {
      static std::atomic<uint64_t> next_monitor{1};
      monitor_endpoint_ = absl::StrCat("inproc://gz-client-handshake.", next_monitor++);
      if (zmq_socket_monitor(socket->handle(), monitor_endpoint_.c_str(),
                             ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) == 0) {
        monitor_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::pair);
        monitor_->set(zmq::sockopt::linger, 0);
        monitor_->connect(monitor_endpoint_);
      }
    }
    socket->connect(endpoint_);
    socket_ = std::move(socket);
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot connect to '", endpoint_, "': ", e.what()));
  }
  return absl::OkStatus();
}

void EnvelopeSocket::StopHandshakeMonitor() {
  if (monitor_ == nullptr) return;
  if (socket_ != nullptr) zmq_socket_monitor(socket_->handle(), nullptr, 0);
  monitor_.reset();
}

std::optional<absl::Status> EnvelopeSocket::HandshakeFailure() {
  // The failures the monitor reported since the last look: a refused key is kept over anything
  // else, since it is the news (the retries after it only see dispatchd hang up).
  uint16_t& failure = handshake_failure_;
  uint32_t& value = handshake_failure_value_;
  while (monitor_ != nullptr) {
    std::vector<zmq::message_t> frames;
    try {
      if (!zmq::recv_multipart(*monitor_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
        break;
      }
    } catch (const zmq::error_t&) {
      break;
    }
    if (frames.empty() || frames[0].size() < 6) continue;
    uint16_t event = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    if (failure == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) continue;
    failure = event;
    std::memcpy(&value, static_cast<const char*>(frames[0].data()) + 2, sizeof value);
  }
  if (failure == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
    return absl::PermissionDeniedError(absl::StrCat(
        "dispatchd at ", endpoint_, " refused this client's key (ZAP status ", value,
        "): it is not enrolled, it was revoked, or its role may not use this channel. Enrol it "
        "with `dispatchctl enrol`, or use an enrolled key"));
  }
  if (failure != 0 && !keys_.enabled()) {
    // dispatchd hangs up on a client without CURVE; the client sees only that.
    return absl::PermissionDeniedError(
        absl::StrCat("dispatchd at ", endpoint_,
                     " closed the connection during the handshake: it requires CURVE "
                     "authentication, so give this client a key (--keys_dir=<dir>, or "
                     "--key=<prefix> --server_key=<file>)"));
  }
  if (failure != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the CURVE handshake with dispatchd at ", endpoint_,
        " failed: either the server key is not dispatchd's (server.key in its key directory), "
        "or dispatchd runs without authentication (--insecure_no_auth) and wants no key"));
  }
  return std::nullopt;
}

absl::Status EnvelopeSocket::NoAnswer(absl::Duration waited) {
  std::optional<absl::Status> refused = HandshakeFailure();
  return refused.has_value() ? *std::move(refused) : NotAnswering(endpoint_, waited);
}

absl::StatusOr<uint64_t> EnvelopeSocket::Send(pb::Envelope envelope) {
  const uint64_t sequence = next_sequence_;
  envelope.set_protocol_version(kProtocolVersion);
  envelope.set_sender_id(sender_id_);
  envelope.set_sequence(sequence);
  envelope.set_sent_at_unix_us(absl::ToUnixMicros(absl::Now()));
  std::string frame;
  if (!envelope.SerializeToString(&frame)) {
    return absl::InvalidArgumentError("the message could not be serialized");
  }
  if (frame.size() > kMaxEnvelopeBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the message is %d bytes, over the protocol's cap of %d", frame.size(), kMaxEnvelopeBytes));
  }
  if (socket_ == nullptr) return NotOpen();
  try {
    const zmq::send_result_t sent = socket_->send(zmq::buffer(frame), zmq::send_flags::dontwait);
    if (!sent.has_value()) {
      // A refused handshake drops the connection and its queue with it: say why, if that is it.
      if (std::optional<absl::Status> refused = HandshakeFailure()) return *std::move(refused);
      return absl::UnavailableError(
          absl::StrCat("the send queue to ", endpoint_, " is full; dispatchd is not reading"));
    }
  } catch (const zmq::error_t& e) {
    return ZmqError(absl::StrCat("sending to ", endpoint_), e);
  }
  ++next_sequence_;
  return sequence;
}

absl::Status EnvelopeSocket::NotOpen() const {
  return absl::UnavailableError(
      absl::StrCat("not connected to ", endpoint_, ": the last attempt to open a socket failed"));
}

absl::StatusOr<std::optional<pb::Envelope>> EnvelopeSocket::TryReceive() {
  if (socket_ == nullptr) return NotOpen();
  for (;;) {
    absl::StatusOr<std::optional<std::string>> frame = TryReceiveLastFrame(*socket_);
    if (!frame.ok()) return frame.status();
    if (!frame->has_value()) return std::nullopt;
    // Something came back: the handshake went through and needs no more watching.
    StopHandshakeMonitor();
    handshake_failure_ = 0;
    std::optional<pb::Envelope> envelope = ParseEnvelope(**frame);
    if (envelope.has_value()) return envelope;
    ++malformed_frames_;
  }
}

absl::StatusOr<std::optional<pb::Envelope>> EnvelopeSocket::Receive(absl::Time deadline) {
  for (;;) {
    absl::StatusOr<std::optional<pb::Envelope>> envelope = TryReceive();
    if (!envelope.ok() || envelope->has_value()) return envelope;
    absl::StatusOr<std::optional<size_t>> ready = PollReadable({socket_.get()}, deadline);
    if (!ready.ok()) return ready.status();
    if (!ready->has_value()) return TryReceive();  // the deadline passed
  }
}

std::optional<pb::Envelope> ParseEnvelope(absl::string_view frame) {
  if (frame.size() > kMaxEnvelopeBytes) return std::nullopt;
  pb::Envelope envelope;
  if (!envelope.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return std::nullopt;
  return envelope;
}

absl::StatusOr<std::optional<std::string>> TryReceiveLastFrame(zmq::socket_t& socket) {
  try {
    zmq::message_t part;
    if (!socket.recv(part, zmq::recv_flags::dontwait).has_value()) return std::nullopt;
    // The rest of a multipart message is already here once its first part is.
    while (part.more()) {
      zmq::message_t next;
      (void)socket.recv(next, zmq::recv_flags::none);
      part.swap(next);
    }
    return part.to_string();
  } catch (const zmq::error_t& e) {
    return ZmqError("receiving", e);
  }
}

absl::StatusOr<std::optional<size_t>> PollReadable(std::initializer_list<zmq::socket_t*> sockets,
                                                   absl::Time deadline) {
  std::vector<zmq::pollitem_t> items;
  items.reserve(sockets.size());
  for (zmq::socket_t* socket : sockets) {
    items.push_back({socket->handle(), 0, ZMQ_POLLIN, 0});
  }
  for (;;) {
    try {
      zmq::poll(items.data(), items.size(), std::chrono::milliseconds(PollTimeoutMs(deadline)));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;
      return ZmqError("waiting for dispatchd", e);
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].revents & ZMQ_POLLIN) return i;
    }
    if (absl::Now() >= deadline) return std::nullopt;
  }
}

std::optional<uint64_t> InReplyTo(const pb::Envelope& envelope) {
  switch (envelope.body_case()) {
    case pb::Envelope::kWelcome:
      return envelope.welcome().in_reply_to_sequence();
    case pb::Envelope::kCommandResult:
      return envelope.command_result().in_reply_to_sequence();
    case pb::Envelope::kFeedSnapshot:
      return envelope.feed_snapshot().in_reply_to_sequence();
    case pb::Envelope::kIncidentDetail:
      return envelope.incident_detail().in_reply_to_sequence();
    case pb::Envelope::kIncidentList:
      return envelope.incident_list().in_reply_to_sequence();
    case pb::Envelope::kUnitDetail:
      return envelope.unit_detail().in_reply_to_sequence();
    case pb::Envelope::kUnitList:
      return envelope.unit_list().in_reply_to_sequence();
    case pb::Envelope::kStats:
      return envelope.stats().in_reply_to_sequence();
    default:
      return std::nullopt;
  }
}

absl::Status NotAnswering(absl::string_view endpoint, absl::Duration waited) {
  return absl::DeadlineExceededError(absl::StrCat("dispatchd is not answering at ", endpoint,
                                                  " (waited ", FormatWait(waited), ")"));
}

std::string FormatWait(absl::Duration d) {
  if (d < absl::Seconds(1)) return absl::StrCat(absl::ToInt64Milliseconds(d), " ms");
  const double seconds = absl::ToDoubleSeconds(d);
  if (seconds == std::floor(seconds)) return absl::StrCat(static_cast<int64_t>(seconds), " s");
  return absl::StrFormat("%.1f s", seconds);
}

}  // namespace gz::client
