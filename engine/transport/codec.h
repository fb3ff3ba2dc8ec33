// The codec: the one place on the server side that touches protobuf. It turns a frame received on a
// channel into a validated plain struct, and the core's events and state into frames to send.
//
// Inbound: every frame is size-capped before parsing, parsed, then validated (protocol version,
// body allowed on the channel, enum values in range, finite coordinates, string lengths). A frame
// that fails gives a DecodeError with a reason code and a human sentence; it never throws and never
// crashes, whatever the bytes (there is a fuzz target for Decode).
//
// Outbound: each Encode* returns one serialized Envelope, stamped with `header`.
//
// Thread-safety: stateless functions; safe from any thread.

#ifndef ENGINE_TRANSPORT_CODEC_H_
#define ENGINE_TRANSPORT_CODEC_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/dispatch/events.h"
#include "engine/dispatch/reason.h"
#include "engine/transport/metrics.h"

namespace gz::transport {

inline constexpr uint32_t kProtocolVersion = 1;
// The default cap on one inbound frame (also set as ZMQ_MAXMSGSIZE on every inbound socket).
inline constexpr size_t kDefaultMaxFrameBytes = 64 * 1024;

enum class Channel {
  kIntake,     // RaiseAlert (and Heartbeat)
  kResponder,  // Hello, Heartbeat, AckAssignment, DeclineAssignment, ReportArrival, UnitUpdate,
               // DeliveryReceipt
  kOperator,   // RaiseAlert, ManualAssign, ReleaseAssignment, CancelIncident, ResolveIncident,
               // CloseIncident, SetUnitStatus, FeedSnapshotRequest, the queries, Heartbeat
};
absl::string_view ChannelName(Channel channel);

// Inbound messages that are not core commands.
struct Hello {
  UnitId unit = 0;  // 0 for a non-responder
  uint64_t last_delivery_sequence_seen = 0;
};
struct Heartbeat {
  uint64_t last_delivery_sequence_seen = 0;
};
struct DeliveryReceipt {
  UnitId unit = 0;
  uint64_t delivery_sequence = 0;
};
// Position-only updates of many units (PositionBatch on the wire), in the order sent.
struct PositionBatch {
  std::vector<std::pair<UnitId, LonLat>> positions;
};
inline constexpr int kMaxPositionBatch = 4096;
struct FeedSnapshotRequest {};
struct GetIncident {
  IncidentId incident = 0;
};
struct ListOpenIncidents {
  DistrictCode district = 0;              // 0: every district
  Level min_level = Level::kUnspecified;  // unspecified: every level
  uint32_t limit = 50;                    // 1..200 (0 on the wire means 50)
  IncidentId before_incident = 0;         // paging; 0: from the newest
};
struct GetUnit {
  UnitId unit = 0;
};
struct UnitsNear {
  LonLat position;
  double radius_m = 0;  // 1..20,000
  uint32_t limit = 20;  // 1..200 (0 on the wire means 20)
  bool available_only = false;
};
struct GetStats {};

using InboundBody =
    std::variant<RaiseAlert, AckAssignment, DeclineAssignment, ReportArrival, UpdateUnit,
                 ResolveIncident, CloseIncident, CancelIncident, ManualAssign, ReleaseAssignment,
                 SetUnitStatus, Hello, Heartbeat, DeliveryReceipt, FeedSnapshotRequest, GetIncident,
                 ListOpenIncidents, GetUnit, UnitsNear, GetStats, PositionBatch>;

struct Inbound {
  std::string sender_id;
  uint64_t sequence = 0;
  int64_t sent_at_unix_us = 0;
  InboundBody body;
};

struct DecodeError {
  RejectReason reason = RejectReason::kMalformedMessage;
  std::string message;    // a human sentence naming what is wrong
  uint64_t sequence = 0;  // the envelope's sequence if it parsed that far, else 0
  // For a RaiseAlert that parsed but failed validation: its key, so the reply can quote it.
  std::string reporter_id;
  uint64_t client_sequence = 0;
};

// Decodes and validates one frame received on `channel`. Frames longer than max_frame_bytes are
// refused with kMessageTooLarge before any parsing.
std::variant<Inbound, DecodeError> Decode(absl::string_view frame, Channel channel,
                                          size_t max_frame_bytes = kDefaultMaxFrameBytes);

// The core command an inbound body carries, if it is one.
std::optional<CommandBody> AsCommand(const InboundBody& body);

struct Header {
  uint64_t sequence = 0;  // the server's own envelope counter
  absl::Time sent_at;
};

// ---- Replies (channels 1, 2, 4).
std::string EncodeAlertAccepted(const AlertAccepted& e, const Header& h);
std::string EncodeAlertRejected(const AlertRejected& e, uint32_t retry_after_ms, const Header& h);
// The reply to a frame that could not be decoded: an AlertReply on the intake channel, a
// CommandResult elsewhere.
std::string EncodeDecodeError(Channel channel, const DecodeError& e, const Header& h);
std::string EncodeCommandResult(bool ok, RejectReason reason, absl::string_view message,
                                uint64_t in_reply_to, const Header& h);
// `engine_incarnation`: this run of dispatchd's id (Welcome.engine_incarnation).
std::string EncodeWelcome(uint64_t in_reply_to, absl::Duration heartbeat_interval,
                          uint64_t last_delivery_sequence_sent,
                          uint64_t resend_from_delivery_sequence, uint64_t engine_incarnation,
                          const Header& h);
std::string EncodeHeartbeat(uint64_t last_delivery_sequence_sent, const Header& h);

// ---- Responder deliveries (channel 2), each stamped with the unit's delivery_sequence.
// `incident` is the assignment's incident (position, category, level).
std::string EncodeAssignment(const AssignmentIssued& e, const Incident& incident,
                             uint64_t delivery_sequence, const Header& h);
std::string EncodeAssignmentReleased(UnitId unit, AssignmentId assignment, CascadeReason reason,
                                     uint64_t delivery_sequence, const Header& h);
std::string EncodeAreaBroadcast(ZoneId zone, IncidentId incident, absl::string_view text,
                                uint64_t delivery_sequence, const Header& h);

// ---- Control-room feed (channel 3) and its snapshot.
// REQUIRES: the event came from `core` (AssignmentIssued looks up its incident there).
std::string EncodeFeedEvent(const Event& event, uint64_t event_sequence, const DispatchCore& core,
                            const Header& h);
// The open incidents with their active assignments, split into parts of at most max_part_bytes.
std::vector<std::string> EncodeFeedSnapshot(const DispatchCore& core, uint64_t as_of_event_sequence,
                                            uint64_t in_reply_to, const Header& h,
                                            size_t max_part_bytes = 60 * 1024);

// ---- Query replies (channel 4).
std::string EncodeIncidentDetail(const DispatchCore& core, const Incident& incident,
                                 uint64_t in_reply_to, const Header& h);
std::string EncodeIncidentList(const DispatchCore& core, const ListOpenIncidents& query,
                               uint64_t in_reply_to, const Header& h);
std::string EncodeUnitDetail(const DispatchCore& core, Slot slot, uint64_t in_reply_to,
                             const Header& h);
std::string EncodeUnitList(const DispatchCore& core, const std::vector<Candidate>& units,
                           uint64_t in_reply_to, const Header& h);
std::string EncodeStats(const StatsSnapshot& stats, uint64_t in_reply_to, const Header& h);

}  // namespace gz::transport

#endif  // ENGINE_TRANSPORT_CODEC_H_
