// ResponderClient: a unit's connection to dispatchd's responder channel (channel 2 in
// protocol/README.md), as a phone app, the fleet simulator or a test uses it.
//
// It hides the wire protocol. Users see plain Delivery structs in order, one at a time, and call
// Ack / Decline / Arrive / Update, each of which waits for the engine's answer. Inside, the client:
//   - opens the session with Hello and waits for Welcome;
//   - drops duplicate deliveries (the engine resends until receipted), and on a gap in the unit's
//     delivery_sequence sends Hello again with the last in-order sequence, so the engine resends;
//   - sends a cumulative DeliveryReceipt for each delivery Next() hands out;
//   - sends Heartbeat every heartbeat interval, compares the engine's newest sequence with its own,
//     and after three silent intervals opens a fresh socket and says Hello again.
// None of this runs in the background: it happens inside Next() and the commands. A user keeps the
// session alive by calling Next() (with any timeout) at least once per heartbeat interval (2 s by
// default) while it has nothing else to do.
//
// Example:
//
//   zmq::context_t context;
//   auto client = ResponderClient::Connect(context, {.endpoint = "tcp://127.0.0.1:7402",
//                                                    .unit_id = 5123});
//   if (!client.ok()) return client.status();  // e.g. DeadlineExceeded: dispatchd not answering
//   for (;;) {
//     absl::StatusOr<std::optional<Delivery>> d = (*client)->Next(absl::Seconds(1));
//     if (!d.ok()) return d.status();
//     if (d->has_value() && (*d)->kind == Delivery::Kind::kAssignment) {
//       absl::Status s = (*client)->Ack((*d)->assignment_id);
//       ...
//     }
//   }
//
// Thread-safety: none. A client object and its ZeroMQ socket belong to one thread, which makes
// every call (ZeroMQ sockets must not be shared between threads). Several clients on one
// zmq::context_t, each on its own thread or all on one, are fine. The context must outlive its
// clients.

#ifndef ENGINE_CLIENT_RESPONDER_CLIENT_H_
#define ENGINE_CLIENT_RESPONDER_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/reason.h"
#include "engine/geo/projection.h"
#include "engine/incidents/lifecycle.h"
#include "engine/units/unit.h"

namespace zmq {
class context_t;
}  // namespace zmq

namespace gz::client {

struct ResponderOptions {
  // dispatchd's responder socket (its --responders flag).
  std::string endpoint = "tcp://127.0.0.1:7402";
  // The unit this client speaks for. Required (non-zero).
  UnitId unit_id = 0;
  // How long Connect(), Reconnect() and each command wait for dispatchd's answer.
  absl::Duration request_timeout = absl::Seconds(2);
  // The highest delivery_sequence this unit already received in order, for a client that restarts
  // and kept its position; the engine resends what came after. 0 = from the first unreceipted one.
  uint64_t last_delivery_sequence_seen = 0;
  // The Envelope sender label; empty = the unit id in decimal.
  std::string sender_id = "";  // (= "": designated initializers may skip it without a warning)
  // CURVE keys: the unit's own responder key (or a drill key, which may speak for any unit); empty
  // for a dispatchd run with --insecure_no_auth.
  auth::CurveClientKeys curve = {};
  // Watch the handshake so that a refused key fails Connect() with PermissionDenied saying why
  // rather than "not answering". Costs two inproc sockets (and descriptors) per client until the
  // first answer: a program running thousands of clients (the fleet) turns it off.
  bool diagnose_handshake = true;

  // OK, or InvalidArgument naming the field.
  absl::Status Validate() const;
};

// One message from the engine to this unit, in delivery order.
struct Delivery {
  enum class Kind {
    kAssignment,      // go to an incident; Ack or Decline before ack_deadline
    kReleased,        // the unit no longer holds assignment_id; see release_reason
    kBroadcast,       // a notice to every unit of the zone (片区): text
    kIncidentUpdate,  // something happened on an incident this unit is on: update
  };
  Kind kind = Kind::kAssignment;
  // The unit's own counter: 1, 2, 3, ... Next() returns them strictly in order, each once.
  uint64_t delivery_sequence = 0;

  // kAssignment and kReleased.
  AssignmentId assignment_id = 0;
  // kAssignment, kIncidentUpdate, and kBroadcast when the notice concerns an incident (else 0).
  IncidentId incident_id = 0;

  // kAssignment: where to go and why.
  AssignmentRole role = AssignmentRole::kUnspecified;
  LonLat position;  // the incident's position
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;
  uint32_t eta_seconds = 0;   // the engine's travel-time estimate for this unit
  uint32_t ring_seconds = 0;  // the response ring the offer came from
  absl::Time ack_deadline = absl::InfinitePast();  // accept before this
  std::string description;                         // the incident's description

  // kReleased.
  CascadeReason release_reason = CascadeReason::kUnspecified;

  // kBroadcast.
  ZoneId zone_id = 0;
  std::string text;

  // kIncidentUpdate: the feed event, as one line ("state dispatched -> acknowledged", "unit 5124
  // on scene (assignment 41)", ...), its feed sequence and kind ("state_changed", ...), and for a
  // state change the incident's new state (else kUnspecified).
  std::string update;
  uint64_t event_sequence = 0;
  std::string event_kind;
  IncidentState new_state = IncidentState::kUnspecified;
};

absl::string_view DeliveryKindName(Delivery::Kind kind);

// What the client did on the user's behalf; for tests, logs and the simulator's report.
struct ResponderCounters {
  uint64_t deliveries = 0;          // handed out by Next()
  uint64_t duplicates_dropped = 0;  // deliveries already seen (resends)
  uint64_t gaps_detected = 0;       // jumps in delivery_sequence (or a heartbeat ahead of us)
  uint64_t hellos_sent = 0;         // the first included
  uint64_t receipts_sent = 0;
  uint64_t heartbeats_sent = 0;
  uint64_t reconnects = 0;  // fresh sockets: Reconnect() calls and silent-server recoveries
  // Deliveries the engine dropped from this unit's full outbox before we could get them (Welcome
  // resumed past them). Non-zero means the user should be told messages were missed.
  uint64_t deliveries_missed = 0;
  // The engine's delivery counter went backwards (it restarted without its state); the client
  // started counting again from the engine's position.
  uint64_t sequence_resets = 0;
  uint64_t malformed_frames = 0;  // frames from the engine that were not Envelopes
};

class ResponderClient {
 public:
  // Connects, sends Hello and waits up to options.request_timeout for Welcome. Errors:
  // InvalidArgument (options), DeadlineExceeded "dispatchd is not answering at <endpoint> (waited
  // 2 s)", PermissionDenied if dispatchd refused the key's handshake, or the engine's refusal of
  // the Hello (e.g. NotFound "unknown_unit: ...", PermissionDenied "unauthorized: This key belongs
  // to unit 5123; ...", see rejection.h).
  static absl::StatusOr<std::unique_ptr<ResponderClient>> Connect(zmq::context_t& context,
                                                                  ResponderOptions options);

  ResponderClient(const ResponderClient&) = delete;
  ResponderClient& operator=(const ResponderClient&) = delete;
  virtual ~ResponderClient() = default;

  // The next delivery in order, waiting up to `timeout` (zero: only what has already arrived);
  // nullopt if none came. Sends the receipt for what it returns. Errors: the engine refused a
  // re-Hello (the unit was removed), or ZeroMQ failed. A silent engine is not an error here: the
  // client keeps saying Hello until it answers (see counters().reconnects).
  virtual absl::StatusOr<std::optional<Delivery>> Next(absl::Duration timeout) = 0;

  // Accepts the assignment. Waits for the engine's CommandResult (deliveries arriving meanwhile
  // are kept for Next()). Errors: the refusal (e.g. FailedPrecondition "not_assigned: ..."),
  // DeadlineExceeded if no answer within request_timeout (the command may or may not have been
  // applied; asking again is safe for Ack).
  virtual absl::Status Ack(AssignmentId assignment) = 0;
  // Refuses the assignment. REQUIRES: reason != kUnspecified; note ≤ 200 bytes (InvalidArgument
  // otherwise, nothing sent).
  virtual absl::Status Decline(AssignmentId assignment, DeclineReason reason,
                               absl::string_view note = "") = 0;
  // Reports the unit on scene, optionally from where.
  virtual absl::Status Arrive(AssignmentId assignment,
                              std::optional<LonLat> position = std::nullopt) = 0;
  // Reports a change; absent fields stay as they are. REQUIRES: at least one present.
  virtual absl::Status Update(std::optional<UnitStatus> status, std::optional<int32_t> on_post,
                              std::optional<LonLat> position) = 0;

  // Drops the socket, opens a fresh one and says Hello with last_delivery_sequence(); waits for
  // Welcome like Connect(). Deliveries already received and not yet handed out stay queued.
  virtual absl::Status Reconnect() = 0;

  // The highest delivery_sequence received in order (handed out or still queued).
  virtual uint64_t last_delivery_sequence() const = 0;
  virtual ResponderCounters counters() const = 0;
  virtual UnitId unit_id() const = 0;
  // From the latest Welcome (2 s until one arrives).
  virtual absl::Duration heartbeat_interval() const = 0;

 protected:
  ResponderClient() = default;
};

}  // namespace gz::client

#endif  // ENGINE_CLIENT_RESPONDER_CLIENT_H_
