// EnvelopeSocket: a client-side ZeroMQ DEALER that sends and receives protocol Envelopes.
//
// Internal to the client library and dispatchctl: it exposes the generated protobuf types, which
// the public client headers (responder_client.h, alert_client.h) keep away from their users.
//
// Every send is stamped with the protocol version, the sender id and the next envelope sequence
// (1, 2, 3, ... for the life of the object, across Reset()). Receives wait until a deadline by
// polling; a frame that does not parse as an Envelope is skipped and counted, never fatal. ZeroMQ
// errors (cppzmq throws) are caught here and become absl::Status.
//
// With CURVE keys (engine/auth/curve_keys.h) the socket authenticates to dispatchd. A refused
// handshake looks like silence to a ZeroMQ client, so with set_diagnose_handshake(true) the socket
// also watches its own handshake (a socket monitor, two inproc sockets, kept only until the first
// envelope arrives) and NoAnswer() then says why: the key was refused, dispatchd wants keys, or
// the server key is wrong.
//
// Thread-safety: none. One owner thread uses the object and its socket.

#ifndef ENGINE_CLIENT_ENVELOPE_SOCKET_H_
#define ENGINE_CLIENT_ENVELOPE_SOCKET_H_

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"
#include "protocol/dispatch.pb.h"

namespace zmq {
class context_t;
class socket_t;
}  // namespace zmq

namespace gz::client {

namespace pb = ::gz::dispatch::v1;

inline constexpr uint32_t kProtocolVersion = 1;
// The protocol's cap on one serialized Envelope, either direction (protocol/README.md).
inline constexpr size_t kMaxEnvelopeBytes = 64 * 1024;

class EnvelopeSocket {
 public:
  // Does not connect yet; call Open(). `sender_id` is the Envelope label (1-64 bytes). With `keys`
  // enabled, every socket Open() makes connects with CURVE.
  EnvelopeSocket(zmq::context_t& context, std::string endpoint, std::string sender_id,
                 auth::CurveClientKeys keys = {});
  ~EnvelopeSocket();

  EnvelopeSocket(const EnvelopeSocket&) = delete;
  EnvelopeSocket& operator=(const EnvelopeSocket&) = delete;

  // Creates a fresh DEALER socket (closing any previous one, dropping whatever it still queued) and
  // connects it. Connecting is asynchronous: OK does not mean a server is there. InvalidArgument
  // for an endpoint ZeroMQ cannot parse or keys that are not keys.
  absl::Status Open();

  // Watch each new socket's handshake so that NoAnswer() can explain a refusal (see above). Off by
  // default: a program with thousands of sockets (the fleet) cannot spare the descriptors. Takes
  // effect at the next Open().
  void set_diagnose_handshake(bool on) { diagnose_handshake_ = on; }

  // What to report when no answer came within `waited`: PermissionDenied naming the handshake's
  // failure if the socket saw one (needs set_diagnose_handshake), else NotAnswering(endpoint(),
  // waited).
  absl::Status NoAnswer(absl::Duration waited);

  // Stamps the header and queues the envelope for sending; returns the sequence it was given.
  // InvalidArgument if it serializes to more than kMaxEnvelopeBytes; Unavailable if the socket's
  // queue is full, or if the last Open() failed (a reconnect can fail, e.g. when the context has
  // no socket slot left; the caller tries again later).
  absl::StatusOr<uint64_t> Send(pb::Envelope envelope);

  // The next envelope received, waiting until `deadline` (a deadline in the past still picks up a
  // message that has already arrived); nullopt if none came in time.
  absl::StatusOr<std::optional<pb::Envelope>> Receive(absl::Time deadline);

  // The next envelope if one has already arrived; never blocks. Unavailable if the last Open()
  // failed (Receive too).
  absl::StatusOr<std::optional<pb::Envelope>> TryReceive();

  // The raw socket, to poll it together with others. REQUIRES: Open() succeeded.
  zmq::socket_t& socket() { return *socket_; }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& sender_id() const { return sender_id_; }
  // The sequence the next Send() will use.
  uint64_t next_sequence() const { return next_sequence_; }
  // Frames received that did not parse as an Envelope.
  uint64_t malformed_frames() const { return malformed_frames_; }

 private:
  void StopHandshakeMonitor();
  // The refusal the handshake monitor reported, as PermissionDenied; nullopt if none (yet).
  std::optional<absl::Status> HandshakeFailure();
  // Unavailable: the last Open() failed, so there is no socket.
  absl::Status NotOpen() const;

  zmq::context_t& context_;
  const std::string endpoint_;
  const std::string sender_id_;
  const auth::CurveClientKeys keys_;
  bool diagnose_handshake_ = false;
  // The reading end of the handshake monitor while it runs (until the first envelope arrives).
  std::unique_ptr<zmq::socket_t> monitor_;
  std::string monitor_endpoint_;
  uint16_t handshake_failure_ = 0;  // the ZMQ_EVENT_HANDSHAKE_FAILED_* seen on this socket, if any
  uint32_t handshake_failure_value_ = 0;
  std::unique_ptr<zmq::socket_t> socket_;
  uint64_t next_sequence_ = 1;
  uint64_t malformed_frames_ = 0;
};

// Parses one received frame; nullopt if it is not a valid Envelope or exceeds kMaxEnvelopeBytes.
std::optional<pb::Envelope> ParseEnvelope(absl::string_view frame);

// Receives one whole message from `socket` without blocking and returns its last frame (a reply on
// a DEALER may carry an empty delimiter frame first); nullopt if nothing is waiting.
absl::StatusOr<std::optional<std::string>> TryReceiveLastFrame(zmq::socket_t& socket);

// Waits until one of `sockets` is readable or `deadline` passes; returns the index of the first
// readable socket, or nullopt at the deadline. Catches ZeroMQ errors (EINTR included).
absl::StatusOr<std::optional<size_t>> PollReadable(std::initializer_list<zmq::socket_t*> sockets,
                                                   absl::Time deadline);

// The in_reply_to_sequence of a reply body, or nullopt for bodies that are not replies (deliveries,
// heartbeats, feed events, AlertReply which echoes its key instead).
std::optional<uint64_t> InReplyTo(const pb::Envelope& envelope);

// "dispatchd is not answering at tcp://127.0.0.1:7403 (waited 2 s)": the one sentence every client
// gives when a server does not answer in time.
absl::Status NotAnswering(absl::string_view endpoint, absl::Duration waited);

// "2 s", "0.3 s", "300 ms" as people read it.
std::string FormatWait(absl::Duration d);

}  // namespace gz::client

#endif  // ENGINE_CLIENT_ENVELOPE_SOCKET_H_
