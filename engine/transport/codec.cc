// The wire <-> domain conversions. This is the only server-side file that includes the generated
// protocol classes; everything it hands out is a plain struct or a serialized frame.
//
// Enum mapping: Category, Level, AssignmentRole, DeclineReason, IncidentState, NotifyTarget,
// RejectReason, CascadeReason and UnitKind have the same numeric values on both sides.
// TravelMode and UnitStatus count from 0 in the engine and from 1 on the wire (0 there is
// *_UNSPECIFIED): wire = domain + 1.

#include "engine/transport/codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "protocol/dispatch.pb.h"

namespace gz::transport {
namespace {

namespace pb = ::gz::dispatch::v1;

constexpr absl::string_view kServerSenderId = "dispatchd";

// Field caps (protocol/README.md, "Size limits").
constexpr size_t kMaxSenderIdBytes = 64;
constexpr size_t kMaxReporterIdBytes = 64;
constexpr size_t kMaxDescriptionBytes = 500;
constexpr size_t kMaxNoteBytes = 200;
constexpr size_t kMaxMessageBytes = 200;
constexpr size_t kMaxBroadcastBytes = 1000;
constexpr uint32_t kMaxRadiusM = 20'000;
constexpr uint32_t kMaxListLimit = 200;
constexpr uint32_t kDefaultIncidentListLimit = 50;
constexpr uint32_t kDefaultUnitsNearLimit = 20;
constexpr size_t kMaxTimelineEntries = 200;

// ---------------------------------------------------------------------------------------------
// Protobuf's own logging.

// Protobuf logs an error to stderr for every string with invalid UTF-8 it parses; a hostile client
// could flood the log with them. The parse failure itself is reported through DecodeError.
void DiscardProtobufLog(google::protobuf::LogLevel, const char*, int, const std::string&) {}

void QuietProtobufLogging() {
  static const bool installed = [] {
    google::protobuf::SetLogHandler(&DiscardProtobufLog);
    return true;
  }();
  (void)installed;
}

// ---------------------------------------------------------------------------------------------
// Small conversions.

int64_t Micros(absl::Time t) { return absl::ToUnixMicros(t); }

// Whole seconds, rounded up and clamped to uint32 (NaN and negatives give 0).
uint32_t CeilSeconds(double s) {
  if (!(s > 0)) return 0;
  const double c = std::ceil(s);
  if (c >= static_cast<double>(std::numeric_limits<uint32_t>::max())) {
    return std::numeric_limits<uint32_t>::max();
  }
  return static_cast<uint32_t>(c);
}
uint32_t CeilSeconds(absl::Duration d) { return CeilSeconds(absl::ToDoubleSeconds(d)); }

// At most max_bytes of `s`, cut at a UTF-8 character boundary.
std::string TruncateUtf8(absl::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  return std::string(s.substr(0, cut));
}

bool Finite(const pb::LonLat& p) { return std::isfinite(p.lon()) && std::isfinite(p.lat()); }
bool InRange(const pb::LonLat& p) {
  return p.lon() >= -180 && p.lon() <= 180 && p.lat() >= -90 && p.lat() <= 90;
}
LonLat ToDomain(const pb::LonLat& p) { return LonLat{p.lon(), p.lat()}; }
void ToWire(LonLat p, pb::LonLat* out) {
  out->set_lon(p.lon);
  out->set_lat(p.lat);
}

pb::Category ToWire(Category c) { return static_cast<pb::Category>(static_cast<int>(c)); }
pb::Level ToWire(Level l) { return static_cast<pb::Level>(static_cast<int>(l)); }
pb::AssignmentRole ToWire(AssignmentRole r) {
  return static_cast<pb::AssignmentRole>(static_cast<int>(r));
}
pb::DeclineReason ToWire(DeclineReason r) {
  return static_cast<pb::DeclineReason>(static_cast<int>(r));
}
pb::IncidentState ToWire(IncidentState s) {
  return static_cast<pb::IncidentState>(static_cast<int>(s));
}
pb::NotifyTarget ToWire(NotifyTarget t) {
  return static_cast<pb::NotifyTarget>(static_cast<int>(t));
}
pb::RejectReason ToWire(RejectReason r) {
  return static_cast<pb::RejectReason>(static_cast<int>(r));
}
pb::CascadeReason ToWire(CascadeReason r) {
  return static_cast<pb::CascadeReason>(static_cast<int>(r));
}
pb::UnitKind ToWire(UnitKind k) { return static_cast<pb::UnitKind>(static_cast<int>(k)); }
pb::TravelMode ToWire(TravelMode m) { return static_cast<pb::TravelMode>(static_cast<int>(m) + 1); }
pb::UnitStatus ToWire(UnitStatus s) { return static_cast<pb::UnitStatus>(static_cast<int>(s) + 1); }

pb::AssignmentState ToWireState(AssignmentStatus s) {
  switch (s) {
    case AssignmentStatus::kPending:
      return pb::ASSIGNMENT_STATE_OFFERED;
    case AssignmentStatus::kAcked:
      return pb::ASSIGNMENT_STATE_ACKNOWLEDGED;
    case AssignmentStatus::kArrived:
      return pb::ASSIGNMENT_STATE_ON_SCENE;
    default:
      return pb::ASSIGNMENT_STATE_UNSPECIFIED;  // ended assignments are not listed
  }
}

// Wire UnitStatus (1..4) to the engine's; nullopt for unspecified or unknown values.
std::optional<UnitStatus> UnitStatusFromWire(int v) {
  if (v < 1 || v > 4) return std::nullopt;
  return static_cast<UnitStatus>(v - 1);
}

// ---------------------------------------------------------------------------------------------
// Decoding.

struct Failure {
  RejectReason reason;
  std::string message;
};
using Checked = std::optional<Failure>;  // nullopt: valid

Checked Fail(RejectReason reason, std::string message) {
  return Failure{reason, std::move(message)};
}

Checked CheckLength(absl::string_view field, const std::string& value, size_t max_bytes) {
  if (value.size() <= max_bytes) return std::nullopt;
  return Fail(RejectReason::kInvalidValue,
              absl::StrCat("The ", field, " is ", value.size(), " bytes; at most ", max_bytes,
                           " are allowed."));
}

Checked CheckUnit(uint32_t unit_id) {
  if (unit_id != 0) return std::nullopt;
  return Fail(RejectReason::kInvalidValue, "The unit id must be set (non-zero).");
}

// A position must be finite; with `check_range`, also inside WGS84's lon/lat range. (Where the
// core receives the position it checks the range itself and remains the one authority on it.)
Checked CheckPosition(absl::string_view field, const pb::LonLat& p, bool check_range) {
  if (!Finite(p)) {
    return Fail(RejectReason::kInvalidCoordinates,
                absl::StrCat("The ", field, " is not finite (NaN or infinite)."));
  }
  if (check_range && !InRange(p)) {
    return Fail(RejectReason::kInvalidCoordinates,
                absl::StrFormat("The %s (%g, %g) is outside longitude -180..180, latitude -90..90.",
                                field, p.lon(), p.lat()));
  }
  return std::nullopt;
}

Checked Convert(const pb::RaiseAlert& m, InboundBody* out) {
  if (m.reporter_id().empty()) {
    return Fail(RejectReason::kInvalidValue, "The reporter id must be set.");
  }
  if (auto f = CheckLength("reporter id", m.reporter_id(), kMaxReporterIdBytes)) return f;
  if (m.client_sequence() == 0) {
    return Fail(RejectReason::kInvalidValue, "The client sequence must be greater than 0.");
  }
  if (!m.has_position()) {
    return Fail(RejectReason::kInvalidCoordinates, "The alert has no position.");
  }
  if (auto f = CheckPosition("alert position", m.position(), /*check_range=*/false)) return f;
  // Category and level go through as numbers: the core's validation decides whether a value is
  // known (kUnknownCategory / kInvalidLevel). Only values the engine's 8-bit enums cannot hold are
  // refused here, with the same reasons.
  const int category = static_cast<int>(m.category());
  if (category < 0 || category > UINT8_MAX) {
    return Fail(RejectReason::kUnknownCategory,
                absl::StrCat("Category ", category, " is not a known incident category."));
  }
  const int level = static_cast<int>(m.level());
  if (level < 0 || level > UINT8_MAX) {
    return Fail(RejectReason::kInvalidLevel,
                absl::StrCat("Level ", level, " is not one of IV (1) to I (4)."));
  }
  if (auto f = CheckLength("description", m.description(), kMaxDescriptionBytes)) return f;
  *out = RaiseAlert{m.reporter_id(), m.client_sequence(), ToDomain(m.position()),
                    static_cast<Category>(category), static_cast<Level>(level)};
  return std::nullopt;
}

Checked Convert(const pb::AckAssignment& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  *out = AckAssignment{m.unit_id(), m.assignment_id()};
  return std::nullopt;
}

Checked Convert(const pb::DeclineAssignment& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  const int reason = static_cast<int>(m.reason());
  if (reason < 1 || reason > static_cast<int>(DeclineReason::kOther)) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("Decline reason ", reason,
                             " is not one of busy, understaffed, too far, unsafe or other."));
  }
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  *out = DeclineAssignment{m.unit_id(), m.assignment_id(), static_cast<DeclineReason>(reason)};
  return std::nullopt;
}

Checked Convert(const pb::ReportArrival& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  // The reported position is for the audit trail only; the core does not take it.
  if (m.has_position()) {
    if (auto f = CheckPosition("arrival position", m.position(), /*check_range=*/true)) return f;
  }
  *out = ReportArrival{m.unit_id(), m.assignment_id()};
  return std::nullopt;
}

Checked Convert(const pb::UnitUpdate& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  UpdateUnit update;
  update.unit = m.unit_id();
  if (m.has_status()) {
    const std::optional<UnitStatus> status = UnitStatusFromWire(static_cast<int>(m.status()));
    if (!status) {
      return Fail(
          RejectReason::kInvalidValue,
          absl::StrCat("Unit status ", static_cast<int>(m.status()), " is not a known status."));
    }
    update.status = *status;
  }
  if (m.has_on_post()) update.on_post = m.on_post();
  if (m.has_position()) {
    if (auto f = CheckPosition("unit position", m.position(), /*check_range=*/false)) return f;
    update.position = ToDomain(m.position());
  }
  *out = std::move(update);
  return std::nullopt;
}

Checked Convert(const pb::PositionBatch& m, InboundBody* out) {
  if (m.positions_size() == 0 || m.positions_size() > kMaxPositionBatch) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("A position batch holds 1 to ", kMaxPositionBatch, " positions, not ",
                             m.positions_size(), "."));
  }
  PositionBatch batch;
  batch.positions.reserve(m.positions_size());
  for (int i = 0; i < m.positions_size(); ++i) {
    const pb::UnitPosition& p = m.positions(i);
    if (auto f = CheckUnit(p.unit_id())) return f;
    if (!p.has_position()) {
      return Fail(
          RejectReason::kInvalidCoordinates,
          absl::StrCat("Position ", i, " of the batch (unit ", p.unit_id(), ") has no position."));
    }
    if (auto f = CheckPosition("batch position", p.position(), /*check_range=*/true)) return f;
    batch.positions.emplace_back(p.unit_id(), ToDomain(p.position()));
  }
  *out = std::move(batch);
  return std::nullopt;
}

Checked Convert(const pb::ManualAssign& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  const int role = static_cast<int>(m.role());
  if (role != static_cast<int>(AssignmentRole::kFrontline) &&
      role != static_cast<int>(AssignmentRole::kAssembly)) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("Assignment role ", role, " is not frontline (1) or assembly (2)."));
  }
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  *out = ManualAssign{m.incident_id(), m.unit_id(), static_cast<AssignmentRole>(role)};
  return std::nullopt;
}

Checked Convert(const pb::ReleaseAssignment& m, InboundBody* out) {
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  *out = ReleaseAssignment{m.assignment_id()};
  return std::nullopt;
}

Checked Convert(const pb::CancelIncident& m, InboundBody* out) {
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  *out = CancelIncident{m.incident_id()};
  return std::nullopt;
}

Checked Convert(const pb::ResolveIncident& m, InboundBody* out) {
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  *out = ResolveIncident{m.incident_id()};
  return std::nullopt;
}

Checked Convert(const pb::CloseIncident& m, InboundBody* out) {
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  *out = CloseIncident{m.incident_id()};
  return std::nullopt;
}

Checked Convert(const pb::SetUnitStatus& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  const std::optional<UnitStatus> status = UnitStatusFromWire(static_cast<int>(m.status()));
  if (!status) {
    return Fail(
        RejectReason::kInvalidValue,
        absl::StrCat("Unit status ", static_cast<int>(m.status()), " is not a known status."));
  }
  if (auto f = CheckLength("note", m.note(), kMaxNoteBytes)) return f;
  // ASSIGNED goes through: the core refuses it with its own sentence.
  *out = SetUnitStatus{m.unit_id(), *status};
  return std::nullopt;
}

Checked Convert(const pb::Hello& m, InboundBody* out) {
  // Hello is accepted on the responder channel only, so it must name a responder's unit.
  const int role = static_cast<int>(m.role());
  if (role != pb::CLIENT_ROLE_UNSPECIFIED && role != pb::CLIENT_ROLE_RESPONDER) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("Client role ", role, " cannot open a responder session."));
  }
  if (auto f = CheckUnit(m.unit_id())) return f;
  *out = Hello{m.unit_id(), m.last_delivery_sequence_seen()};
  return std::nullopt;
}

Checked Convert(const pb::Heartbeat& m, InboundBody* out) {
  *out = Heartbeat{m.last_delivery_sequence_seen()};
  return std::nullopt;
}

Checked Convert(const pb::DeliveryReceipt& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  *out = DeliveryReceipt{m.unit_id(), m.delivery_sequence()};
  return std::nullopt;
}

Checked Convert(const pb::FeedSnapshotRequest&, InboundBody* out) {
  *out = FeedSnapshotRequest{};
  return std::nullopt;
}

Checked Convert(const pb::GetIncident& m, InboundBody* out) {
  *out = GetIncident{m.incident_id()};
  return std::nullopt;
}

Checked Convert(const pb::ListOpenIncidents& m, InboundBody* out) {
  const int min_level = static_cast<int>(m.min_level());
  if (min_level < 0 || min_level >= kLevelCount) {
    return Fail(RejectReason::kInvalidLevel,
                absl::StrCat("Minimum level ", min_level, " is not one of IV (1) to I (4)."));
  }
  if (m.limit() > kMaxListLimit) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("The limit ", m.limit(), " is over ", kMaxListLimit, "."));
  }
  ListOpenIncidents q;
  q.district = m.district();
  q.min_level = static_cast<Level>(min_level);
  q.limit = m.limit() == 0 ? kDefaultIncidentListLimit : m.limit();
  q.before_incident = m.before_incident_id();
  *out = q;
  return std::nullopt;
}

Checked Convert(const pb::GetUnit& m, InboundBody* out) {
  if (auto f = CheckUnit(m.unit_id())) return f;
  *out = GetUnit{m.unit_id()};
  return std::nullopt;
}

Checked Convert(const pb::UnitsNear& m, InboundBody* out) {
  if (!m.has_position()) {
    return Fail(RejectReason::kInvalidCoordinates, "The query has no position.");
  }
  if (auto f = CheckPosition("query position", m.position(), /*check_range=*/true)) return f;
  if (m.radius_m() < 1 || m.radius_m() > kMaxRadiusM) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("The radius ", m.radius_m(), " m is outside 1..", kMaxRadiusM, " m."));
  }
  if (m.limit() > kMaxListLimit) {
    return Fail(RejectReason::kInvalidValue,
                absl::StrCat("The limit ", m.limit(), " is over ", kMaxListLimit, "."));
  }
  UnitsNear q;
  q.position = ToDomain(m.position());
  q.radius_m = m.radius_m();
  q.limit = m.limit() == 0 ? kDefaultUnitsNearLimit : m.limit();
  q.available_only = m.available_only();
  *out = q;
  return std::nullopt;
}

Checked Convert(const pb::GetStats&, InboundBody* out) {
  *out = GetStats{};
  return std::nullopt;
}

bool AllowedOn(pb::Envelope::BodyCase body, Channel channel) {
  using E = pb::Envelope;
  switch (channel) {
    case Channel::kIntake:
      return body == E::kRaiseAlert || body == E::kHeartbeat;
    case Channel::kResponder:
      switch (body) {
        case E::kHello:
        case E::kHeartbeat:
        case E::kAckAssignment:
        case E::kDeclineAssignment:
        case E::kReportArrival:
        case E::kUnitUpdate:
        case E::kDeliveryReceipt:
        case E::kPositionBatch:
          return true;
        default:
          return false;
      }
    case Channel::kOperator:
      switch (body) {
        case E::kRaiseAlert:
        case E::kManualAssign:
        case E::kReleaseAssignment:
        case E::kCancelIncident:
        case E::kResolveIncident:
        case E::kCloseIncident:
        case E::kSetUnitStatus:
        case E::kFeedSnapshotRequest:
        case E::kGetIncident:
        case E::kListOpenIncidents:
        case E::kGetUnit:
        case E::kUnitsNear:
        case E::kGetStats:
        case E::kHeartbeat:
          return true;
        default:
          return false;
      }
  }
  return false;
}

// The message type of a body ("RaiseAlert"), from the schema itself.
std::string BodyName(pb::Envelope::BodyCase body) {
  const google::protobuf::FieldDescriptor* field =
      pb::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(body));
  if (field == nullptr || field->message_type() == nullptr)
    return absl::StrCat("Body ", static_cast<int>(body));
  return field->message_type()->name();
}

// Converts a body already known to be allowed on its channel.
Checked ConvertBody(const pb::Envelope& env, InboundBody* out) {
  using E = pb::Envelope;
  switch (env.body_case()) {
    case E::kRaiseAlert:
      return Convert(env.raise_alert(), out);
    case E::kHello:
      return Convert(env.hello(), out);
    case E::kHeartbeat:
      return Convert(env.heartbeat(), out);
    case E::kAckAssignment:
      return Convert(env.ack_assignment(), out);
    case E::kDeclineAssignment:
      return Convert(env.decline_assignment(), out);
    case E::kReportArrival:
      return Convert(env.report_arrival(), out);
    case E::kUnitUpdate:
      return Convert(env.unit_update(), out);
    case E::kDeliveryReceipt:
      return Convert(env.delivery_receipt(), out);
    case E::kPositionBatch:
      return Convert(env.position_batch(), out);
    case E::kFeedSnapshotRequest:
      return Convert(env.feed_snapshot_request(), out);
    case E::kManualAssign:
      return Convert(env.manual_assign(), out);
    case E::kReleaseAssignment:
      return Convert(env.release_assignment(), out);
    case E::kCancelIncident:
      return Convert(env.cancel_incident(), out);
    case E::kResolveIncident:
      return Convert(env.resolve_incident(), out);
    case E::kCloseIncident:
      return Convert(env.close_incident(), out);
    case E::kSetUnitStatus:
      return Convert(env.set_unit_status(), out);
    case E::kGetIncident:
      return Convert(env.get_incident(), out);
    case E::kListOpenIncidents:
      return Convert(env.list_open_incidents(), out);
    case E::kGetUnit:
      return Convert(env.get_unit(), out);
    case E::kUnitsNear:
      return Convert(env.units_near(), out);
    case E::kGetStats:
      return Convert(env.get_stats(), out);
    default:
      return Fail(RejectReason::kUnknownMessageType,
                  absl::StrCat(BodyName(env.body_case()), " is not an inbound message."));
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

pb::Envelope NewEnvelope(const Header& h) {
  pb::Envelope env;
  env.set_protocol_version(kProtocolVersion);
  env.set_sender_id(std::string(kServerSenderId));
  env.set_sequence(h.sequence);
  env.set_sent_at_unix_us(Micros(h.sent_at));
  return env;
}

std::string Serialize(const pb::Envelope& env) {
  std::string out;
  env.SerializeToString(&out);
  return out;
}

// The Assignment a unit receives, from the event that issued it.
void FillAssignment(const AssignmentIssued& e, const Incident* incident, uint64_t delivery_sequence,
                    pb::Assignment* out) {
  out->set_assignment_id(e.assignment);
  out->set_incident_id(e.incident);
  out->set_unit_id(e.unit);
  out->set_role(ToWire(e.role));
  if (incident != nullptr) {
    ToWire(incident->position, out->mutable_position());
    out->set_category(ToWire(incident->category));
    out->set_level(ToWire(incident->level));
  }
  out->set_eta_seconds(CeilSeconds(e.eta_s));
  out->set_ring_seconds(CeilSeconds(e.ring));
  out->set_ack_deadline_unix_us(Micros(e.ack_deadline));
  out->set_delivery_sequence(delivery_sequence);
}

// The same, from the core's record of the assignment (for timelines).
void FillAssignment(const Assignment& a, const Incident& incident, pb::Assignment* out) {
  out->set_assignment_id(a.id);
  out->set_incident_id(a.incident);
  out->set_unit_id(a.unit);
  out->set_role(ToWire(a.role));
  ToWire(incident.position, out->mutable_position());
  out->set_category(ToWire(incident.category));
  out->set_level(ToWire(incident.level));
  out->set_eta_seconds(CeilSeconds(a.eta_s));
  out->set_ring_seconds(CeilSeconds(a.ring));
  out->set_ack_deadline_unix_us(Micros(a.ack_deadline));
}

void FillSummary(const DispatchCore& core, const Incident& inc, pb::IncidentSummary* out) {
  out->set_incident_id(inc.id);
  out->set_state(ToWire(inc.state));
  out->set_category(ToWire(inc.category));
  out->set_level(ToWire(inc.level));
  ToWire(inc.position, out->mutable_position());
  out->set_district(inc.district);
  out->set_zone_id(inc.zone);
  out->set_reports(static_cast<uint32_t>(std::max(inc.reports, 0)));
  out->set_opened_at_unix_us(Micros(inc.opened_at));
  out->set_state_since_unix_us(
      Micros(inc.timeline.empty() ? inc.opened_at : inc.timeline.back().at));
  out->set_headcount_target(inc.plan != nullptr ? inc.plan->assembly_headcount : 0);
  int32_t assigned = 0;
  for (AssignmentId id : inc.assignments) {
    const Assignment* a = core.FindAssignment(id);
    if (a == nullptr || !IsActive(a->status)) continue;
    assigned += a->headcount;
    pb::AssignmentSummary* row = out->add_assignments();
    row->set_assignment_id(a->id);
    row->set_unit_id(a->unit);
    row->set_role(ToWire(a->role));
    row->set_state(ToWireState(a->status));
    row->set_eta_seconds(CeilSeconds(a->eta_s));
    row->set_issued_at_unix_us(Micros(a->issued_at));
    row->set_ack_deadline_unix_us(Micros(a->ack_deadline));
    row->set_headcount(a->headcount);
  }
  out->set_headcount_assigned(assigned);
}

void FillUnitInfo(const DispatchCore& core, Slot slot, pb::UnitInfo* out) {
  const Unit& u = core.units().unit(slot);
  out->set_unit_id(u.id);
  out->set_name(u.name);
  out->set_kind(ToWire(u.kind));
  out->set_travel_mode(ToWire(u.mode));
  ToWire(u.position, out->mutable_position());
  out->set_district(u.district);
  out->set_zone_id(u.zone);
  out->set_members(u.members);
  out->set_on_post(u.on_post);
  out->set_status(ToWire(u.status));
  if (const Assignment* a = core.ActiveAssignmentOf(u.id)) {
    out->set_assignment_id(a->id);
    out->set_incident_id(a->incident);
  }
  // updated_at_unix_us stays 0: the registry does not record when a unit last changed.
}

// Fills the IncidentEvent detail for one core event. Returns false for the events that are not on
// the feed (AlertAccepted, CommandRejected).
class FeedDetail {
 public:
  FeedDetail(const DispatchCore& core, pb::IncidentEvent* out) : core_(core), out_(out) {}

  bool operator()(const AlertAccepted&) const { return false; }
  bool operator()(const CommandRejected&) const { return false; }

  bool operator()(const AlertRejected& e) const {
    out_->set_incident_id(0);
    auto* d = out_->mutable_alert_rejected();
    d->set_reporter_id(e.reporter_id);
    d->set_client_sequence(e.client_sequence);
    d->set_reason(ToWire(e.reason));
    d->set_message(TruncateUtf8(e.message, kMaxMessageBytes));
    return true;
  }
  bool operator()(const IncidentOpened& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_incident_opened();
    ToWire(e.position, d->mutable_position());
    d->set_category(ToWire(e.category));
    d->set_level(ToWire(e.level));
    d->set_district(e.district);
    d->set_zone_id(e.zone);
    d->set_reports(1);
    // reporter_id and description are not carried by the core's event; they stay empty.
    return true;
  }
  bool operator()(const IncidentMerged& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_incident_merged();
    d->set_reports(static_cast<uint32_t>(std::max(e.reports, 0)));
    d->set_level(ToWire(e.level));
    return true;
  }
  bool operator()(const AssignmentIssued& e) const {
    out_->set_incident_id(e.incident);
    // The feed copy carries no delivery_sequence: that belongs to the unit's own stream.
    FillAssignment(e, core_.FindIncident(e.incident), 0,
                   out_->mutable_assignment_issued()->mutable_assignment());
    return true;
  }
  bool operator()(const AssignmentAcked& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_assignment_acked();
    d->set_assignment_id(e.assignment);
    d->set_unit_id(e.unit);
    return true;
  }
  bool operator()(const AssignmentDeclined& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_assignment_declined();
    d->set_assignment_id(e.assignment);
    d->set_unit_id(e.unit);
    d->set_reason(ToWire(e.reason));
    return true;
  }
  bool operator()(const AssignmentExpired& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_assignment_expired();
    d->set_assignment_id(e.assignment);
    d->set_unit_id(e.unit);
    d->set_reason(ToWire(e.reason));
    return true;
  }
  bool operator()(const AssignmentReleased& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_assignment_released();
    d->set_assignment_id(e.assignment);
    d->set_unit_id(e.unit);
    d->set_reason(ToWire(e.reason));
    return true;
  }
  bool operator()(const UnitArrived& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_unit_arrived();
    d->set_assignment_id(e.assignment);
    d->set_unit_id(e.unit);
    return true;
  }
  bool operator()(const RingWidened& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_ring_widened();
    d->set_role(ToWire(e.role));
    d->set_from_seconds(CeilSeconds(e.from));
    d->set_to_seconds(CeilSeconds(e.to));
    return true;
  }
  bool operator()(const EscalationNotified& e) const {
    out_->set_incident_id(e.incident);
    // The wire message has no field for `why`; it stays in the engine's logs and drill reports.
    out_->mutable_escalation_notified()->set_target(ToWire(e.target));
    return true;
  }
  bool operator()(const IncidentStateChanged& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_state_changed();
    d->set_from_state(ToWire(e.from));
    d->set_to_state(ToWire(e.to));
    return true;
  }
  bool operator()(const AssemblyComplete& e) const {
    out_->set_incident_id(e.incident);
    out_->mutable_assembly_complete()->set_headcount(e.headcount);
    return true;
  }
  bool operator()(const IncidentShort& e) const {
    out_->set_incident_id(e.incident);
    auto* d = out_->mutable_incident_short();
    d->set_headcount_needed(e.headcount_needed);
    d->set_headcount_assigned(e.headcount_assigned);
    return true;
  }

 private:
  const DispatchCore& core_;
  pb::IncidentEvent* out_;
};

// One reconstructed timeline entry. Entries sort by time; at the same instant, by the order in
// which the core emits them: the opening, dispatch and end-of-incident state changes come before
// the assignment events that go with them, acknowledged / on scene / escalated after them, and
// assignment events by assignment id, then issue < ack < arrival < end.
struct TimelineEntry {
  absl::Time at;
  int rank = 0;
  AssignmentId assignment = 0;
  int stage = 0;
  pb::IncidentEvent event;
};

int StateRank(IncidentState to) {
  switch (to) {
    case IncidentState::kAcknowledged:
    case IncidentState::kOnScene:
    case IncidentState::kEscalated:
      return 2;
    default:
      return 0;
  }
}

std::vector<TimelineEntry> Timeline(const DispatchCore& core, const Incident& inc) {
  std::vector<TimelineEntry> entries;
  auto add = [&](absl::Time at, int rank, AssignmentId assignment, int stage) {
    TimelineEntry& e = entries.emplace_back();
    e.at = at;
    e.rank = rank;
    e.assignment = assignment;
    e.stage = stage;
    e.event.set_at_unix_us(Micros(at));
    e.event.set_incident_id(inc.id);
    return &e.event;
  };
  IncidentState from = IncidentState::kUnspecified;
  for (const StateChange& change : inc.timeline) {
    if (from == IncidentState::kUnspecified && change.state == IncidentState::kReported) {
      // The first entry is the opening itself, not a change from nothing.
      auto* opened = add(change.at, 0, 0, 0)->mutable_incident_opened();
      opened->mutable_position()->set_lon(inc.position.lon);
      opened->mutable_position()->set_lat(inc.position.lat);
      opened->set_category(ToWire(inc.category));
      opened->set_level(ToWire(inc.level));
      opened->set_district(inc.district);
      opened->set_zone_id(inc.zone);
      opened->set_reports(static_cast<uint32_t>(inc.reports));
      from = change.state;
      continue;
    }
    auto* d = add(change.at, StateRank(change.state), 0, 0)->mutable_state_changed();
    d->set_from_state(ToWire(from));
    d->set_to_state(ToWire(change.state));
    from = change.state;
  }
  for (AssignmentId id : inc.assignments) {
    const Assignment* a = core.FindAssignment(id);
    if (a == nullptr) continue;
    FillAssignment(
        *a, inc, add(a->issued_at, 1, a->id, 0)->mutable_assignment_issued()->mutable_assignment());
    if (a->acked_at != absl::InfinitePast()) {
      auto* d = add(a->acked_at, 1, a->id, 1)->mutable_assignment_acked();
      d->set_assignment_id(a->id);
      d->set_unit_id(a->unit);
    }
    if (a->arrived_at != absl::InfinitePast()) {
      auto* d = add(a->arrived_at, 1, a->id, 2)->mutable_unit_arrived();
      d->set_assignment_id(a->id);
      d->set_unit_id(a->unit);
    }
    if (IsActive(a->status) || a->ended_at == absl::InfinitePast()) continue;
    pb::IncidentEvent* event = add(a->ended_at, 1, a->id, 3);
    switch (a->status) {
      case AssignmentStatus::kDeclined: {
        auto* d = event->mutable_assignment_declined();
        d->set_assignment_id(a->id);
        d->set_unit_id(a->unit);
        d->set_reason(ToWire(a->decline_reason));
        break;
      }
      case AssignmentStatus::kExpired: {
        auto* d = event->mutable_assignment_expired();
        d->set_assignment_id(a->id);
        d->set_unit_id(a->unit);
        d->set_reason(ToWire(a->end_reason));
        break;
      }
      default: {
        auto* d = event->mutable_assignment_released();
        d->set_assignment_id(a->id);
        d->set_unit_id(a->unit);
        d->set_reason(ToWire(a->end_reason));
        break;
      }
    }
  }
  std::stable_sort(entries.begin(), entries.end(),
                   [](const TimelineEntry& x, const TimelineEntry& y) {
                     return std::tie(x.at, x.rank, x.assignment, x.stage) <
                            std::tie(y.at, y.rank, y.assignment, y.stage);
                   });
  return entries;
}

template <typename T, typename Variant>
struct IsAlternative;
template <typename T, typename... Ts>
struct IsAlternative<T, std::variant<Ts...>> : std::disjunction<std::is_same<T, Ts>...> {};

}  // namespace

absl::string_view ChannelName(Channel channel) {
  switch (channel) {
    case Channel::kIntake:
      return "intake";
    case Channel::kResponder:
      return "responder";
    case Channel::kOperator:
      return "operator";
  }
  return "unknown";
}

std::variant<Inbound, DecodeError> Decode(absl::string_view frame, Channel channel,
                                          size_t max_frame_bytes) {
  QuietProtobufLogging();
  DecodeError error;
  auto fail = [&error](RejectReason reason, std::string message) {
    error.reason = reason;
    error.message = TruncateUtf8(message, kMaxMessageBytes);
    return std::variant<Inbound, DecodeError>(std::move(error));
  };

  if (frame.size() > max_frame_bytes) {
    return fail(RejectReason::kMessageTooLarge,
                absl::StrCat("The frame is ", frame.size(), " bytes; at most ", max_frame_bytes,
                             " are accepted."));
  }
  pb::Envelope env;
  if (frame.size() > static_cast<size_t>(INT_MAX) ||
      !env.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return fail(RejectReason::kMalformedMessage,
                "The frame did not parse as a protocol Envelope (or a string is not UTF-8).");
  }
  error.sequence = env.sequence();
  if (env.has_raise_alert()) {
    // So that the reply can quote the alert's idempotency key. An over-long reporter id is no key
    // (it is refused below) and is not quoted: echoing up to 64 KiB of it would push the reply
    // over the frame cap, and the client would drop the reply unread.
    if (env.raise_alert().reporter_id().size() <= kMaxReporterIdBytes) {
      error.reporter_id = env.raise_alert().reporter_id();
    }
    error.client_sequence = env.raise_alert().client_sequence();
  }

  if (env.protocol_version() != kProtocolVersion) {
    if (env.protocol_version() == 0) {
      return fail(RejectReason::kUnsupportedVersion,
                  absl::StrCat("The protocol version is not set; this engine speaks version ",
                               kProtocolVersion, "."));
    }
    return fail(
        RejectReason::kUnsupportedVersion,
        absl::StrCat("Protocol version ", env.protocol_version(),
                     " is not spoken here; this engine speaks version ", kProtocolVersion, "."));
  }
  if (env.body_case() == pb::Envelope::BODY_NOT_SET) {
    return fail(RejectReason::kUnknownMessageType,
                absl::StrCat("The envelope has no body this engine knows (on the ",
                             ChannelName(channel), " channel)."));
  }
  if (!AllowedOn(env.body_case(), channel)) {
    return fail(RejectReason::kUnknownMessageType,
                absl::StrCat(BodyName(env.body_case()), " is not accepted on the ",
                             ChannelName(channel), " channel."));
  }
  if (env.sender_id().size() > kMaxSenderIdBytes) {
    return fail(RejectReason::kInvalidValue,
                absl::StrCat("The sender id is ", env.sender_id().size(), " bytes; at most ",
                             kMaxSenderIdBytes, " are allowed."));
  }

  Inbound in;
  if (Checked f = ConvertBody(env, &in.body)) return fail(f->reason, std::move(f->message));
  in.sender_id = env.sender_id();
  in.sequence = env.sequence();
  in.sent_at_unix_us = env.sent_at_unix_us();
  return in;
}

std::optional<CommandBody> AsCommand(const InboundBody& body) {
  return std::visit(
      [](const auto& b) -> std::optional<CommandBody> {
        using T = std::decay_t<decltype(b)>;
        if constexpr (IsAlternative<T, CommandBody>::value) {
          return CommandBody(b);
        } else {
          return std::nullopt;
        }
      },
      body);
}

// ---------------------------------------------------------------------------------------------
// Replies.

std::string EncodeAlertAccepted(const AlertAccepted& e, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::AlertReply* reply = env.mutable_alert_reply();
  reply->set_reporter_id(e.reporter_id);
  reply->set_client_sequence(e.client_sequence);
  pb::AlertReply::Accepted* accepted = reply->mutable_accepted();
  accepted->set_incident_id(e.incident);
  accepted->set_merged(e.merged);
  accepted->set_duplicate(e.duplicate);
  return Serialize(env);
}

std::string EncodeAlertRejected(const AlertRejected& e, uint32_t retry_after_ms, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::AlertReply* reply = env.mutable_alert_reply();
  reply->set_reporter_id(e.reporter_id);
  reply->set_client_sequence(e.client_sequence);
  pb::AlertReply::Rejected* rejected = reply->mutable_rejected();
  rejected->set_reason(ToWire(e.reason));
  rejected->set_message(TruncateUtf8(e.message, kMaxMessageBytes));
  rejected->set_retry_after_ms(retry_after_ms);
  return Serialize(env);
}

std::string EncodeDecodeError(Channel channel, const DecodeError& e, const Header& h) {
  if (channel == Channel::kIntake) {
    AlertRejected rejected;
    rejected.reporter_id = e.reporter_id;
    rejected.client_sequence = e.client_sequence;
    rejected.reason = e.reason;
    rejected.message = e.message;
    return EncodeAlertRejected(rejected, 0, h);
  }
  return EncodeCommandResult(false, e.reason, e.message, e.sequence, h);
}

std::string EncodeCommandResult(bool ok, RejectReason reason, absl::string_view message,
                                uint64_t in_reply_to, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::CommandResult* result = env.mutable_command_result();
  result->set_ok(ok);
  result->set_reason(ok ? pb::REJECT_REASON_UNSPECIFIED : ToWire(reason));
  result->set_message(TruncateUtf8(message, kMaxMessageBytes));
  result->set_in_reply_to_sequence(in_reply_to);
  return Serialize(env);
}

std::string EncodeWelcome(uint64_t in_reply_to, absl::Duration heartbeat_interval,
                          uint64_t last_delivery_sequence_sent,
                          uint64_t resend_from_delivery_sequence, uint64_t engine_incarnation,
                          const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::Welcome* welcome = env.mutable_welcome();
  welcome->set_in_reply_to_sequence(in_reply_to);
  welcome->set_heartbeat_interval_ms(static_cast<uint32_t>(std::clamp<int64_t>(
      absl::ToInt64Milliseconds(heartbeat_interval), 0, std::numeric_limits<uint32_t>::max())));
  welcome->set_last_delivery_sequence_sent(last_delivery_sequence_sent);
  welcome->set_resend_from_delivery_sequence(resend_from_delivery_sequence);
  welcome->set_engine_incarnation(engine_incarnation);
  return Serialize(env);
}

std::string EncodeHeartbeat(uint64_t last_delivery_sequence_sent, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  env.mutable_heartbeat()->set_last_delivery_sequence_sent(last_delivery_sequence_sent);
  return Serialize(env);
}

// ---------------------------------------------------------------------------------------------
// Responder deliveries.

std::string EncodeAssignment(const AssignmentIssued& e, const Incident& incident,
                             uint64_t delivery_sequence, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  FillAssignment(e, &incident, delivery_sequence, env.mutable_assignment());
  return Serialize(env);
}

std::string EncodeAssignmentReleased(UnitId unit, AssignmentId assignment, CascadeReason reason,
                                     uint64_t delivery_sequence, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::AssignmentReleased* released = env.mutable_assignment_released();
  released->set_unit_id(unit);
  released->set_assignment_id(assignment);
  released->set_reason(ToWire(reason));
  released->set_delivery_sequence(delivery_sequence);
  return Serialize(env);
}

std::string EncodeAreaBroadcast(ZoneId zone, IncidentId incident, absl::string_view text,
                                uint64_t delivery_sequence, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::AreaBroadcast* broadcast = env.mutable_area_broadcast();
  broadcast->set_zone_id(zone);
  broadcast->set_incident_id(incident);
  broadcast->set_text(TruncateUtf8(text, kMaxBroadcastBytes));
  broadcast->set_delivery_sequence(delivery_sequence);
  return Serialize(env);
}

// ---------------------------------------------------------------------------------------------
// Feed.

// AlertAccepted and CommandRejected are replies, not feed events (the proto has no feed detail for
// them: an accepted alert shows on the feed as the IncidentOpened / IncidentMerged the core emits
// with it). For those two this returns an empty string, and the caller must not spend an
// event_sequence on them, or the feed would show a gap.
std::string EncodeFeedEvent(const Event& event, uint64_t event_sequence, const DispatchCore& core,
                            const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::IncidentEvent* out = env.mutable_incident_event();
  out->set_event_sequence(event_sequence);
  out->set_at_unix_us(Micros(event.at));
  if (!std::visit(FeedDetail(core, out), event.body)) return std::string();
  return Serialize(env);
}

// Every part is stamped with its own envelope sequence, h.sequence + part, as the protocol wants
// one sequence per frame: the caller advances its counter by the number of parts. An incident
// whose row alone is larger than max_part_bytes still goes out, alone in its part.
std::vector<std::string> EncodeFeedSnapshot(const DispatchCore& core, uint64_t as_of_event_sequence,
                                            uint64_t in_reply_to, const Header& h,
                                            size_t max_part_bytes) {
  using google::protobuf::io::CodedOutputStream;
  std::vector<pb::IncidentSummary> rows;
  rows.reserve(core.open_incidents().size());
  for (IncidentId id : core.open_incidents()) {
    if (const Incident* inc = core.FindIncident(id)) FillSummary(core, *inc, &rows.emplace_back());
  }

  auto new_part = [&](uint32_t part) {
    Header ph = h;
    ph.sequence = h.sequence + part;
    pb::Envelope env = NewEnvelope(ph);
    pb::FeedSnapshot* snapshot = env.mutable_feed_snapshot();
    snapshot->set_in_reply_to_sequence(in_reply_to);
    snapshot->set_as_of_event_sequence(as_of_event_sequence);
    snapshot->set_part(part);
    return env;
  };

  // The size of a part without rows, at its largest: the widest part number and sequence, `last`
  // set, and room for the snapshot's length prefix to grow to its longest.
  pb::Envelope empty = new_part(std::numeric_limits<uint32_t>::max());
  empty.set_sequence(std::numeric_limits<uint64_t>::max());
  empty.mutable_feed_snapshot()->set_last(true);
  const size_t base = empty.ByteSizeLong() + 4;

  // Split the rows greedily into parts [begin, end).
  std::vector<std::pair<size_t, size_t>> parts;
  size_t begin = 0;
  size_t size = base;
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t n = rows[i].ByteSizeLong();
    const size_t cost = 1 + CodedOutputStream::VarintSize64(n) + n;  // tag, length, row
    if (i > begin && size + cost > max_part_bytes) {
      parts.emplace_back(begin, i);
      begin = i;
      size = base;
    }
    size += cost;
  }
  parts.emplace_back(begin, rows.size());  // also the one empty part of an empty snapshot

  std::vector<std::string> frames;
  frames.reserve(parts.size());
  for (size_t p = 0; p < parts.size(); ++p) {
    pb::Envelope env = new_part(static_cast<uint32_t>(p));
    pb::FeedSnapshot* snapshot = env.mutable_feed_snapshot();
    snapshot->set_last(p + 1 == parts.size());
    for (size_t i = parts[p].first; i < parts[p].second; ++i) {
      snapshot->add_incidents()->Swap(&rows[i]);
    }
    frames.push_back(Serialize(env));
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// Query replies.

std::string EncodeIncidentDetail(const DispatchCore& core, const Incident& incident,
                                 uint64_t in_reply_to, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::IncidentDetail* detail = env.mutable_incident_detail();
  detail->set_in_reply_to_sequence(in_reply_to);
  FillSummary(core, incident, detail->mutable_incident());
  std::vector<TimelineEntry> timeline = Timeline(core, incident);
  const size_t first =
      timeline.size() > kMaxTimelineEntries ? timeline.size() - kMaxTimelineEntries : 0;
  detail->set_timeline_truncated(first > 0);
  for (size_t i = first; i < timeline.size(); ++i) detail->add_timeline()->Swap(&timeline[i].event);
  return Serialize(env);
}

std::string EncodeIncidentList(const DispatchCore& core, const ListOpenIncidents& query,
                               uint64_t in_reply_to, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::IncidentList* list = env.mutable_incident_list();
  list->set_in_reply_to_sequence(in_reply_to);
  const size_t limit =
      query.limit == 0 ? kDefaultIncidentListLimit : std::min(query.limit, kMaxListLimit);

  const auto& open = core.open_incidents();
  auto newest = query.before_incident == 0 ? open.end() : open.lower_bound(query.before_incident);
  auto matches = [&](const Incident& inc) {
    return (query.district == 0 || inc.district == query.district) && inc.level >= query.min_level;
  };
  IncidentId last_listed = 0;
  bool more = false;
  for (auto it = std::make_reverse_iterator(newest); it != open.rend(); ++it) {
    const Incident* inc = core.FindIncident(*it);
    if (inc == nullptr || !matches(*inc)) continue;
    if (static_cast<size_t>(list->incidents_size()) == limit) {
      more = true;
      break;
    }
    FillSummary(core, *inc, list->add_incidents());
    last_listed = inc->id;
  }
  list->set_next_before_incident_id(more ? last_listed : 0);
  return Serialize(env);
}

std::string EncodeUnitDetail(const DispatchCore& core, Slot slot, uint64_t in_reply_to,
                             const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::UnitDetail* detail = env.mutable_unit_detail();
  detail->set_in_reply_to_sequence(in_reply_to);
  FillUnitInfo(core, slot, detail->mutable_unit());
  return Serialize(env);
}

std::string EncodeUnitList(const DispatchCore& core, const std::vector<Candidate>& units,
                           uint64_t in_reply_to, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::UnitList* list = env.mutable_unit_list();
  list->set_in_reply_to_sequence(in_reply_to);
  for (const Candidate& c : units) {
    pb::UnitList::Entry* entry = list->add_units();
    FillUnitInfo(core, c.slot, entry->mutable_unit());
    entry->set_distance_m(c.distance_m);
    entry->set_eta_seconds(CeilSeconds(c.travel_s));
  }
  return Serialize(env);
}

std::string EncodeStats(const StatsSnapshot& stats, uint64_t in_reply_to, const Header& h) {
  pb::Envelope env = NewEnvelope(h);
  pb::Stats* out = env.mutable_stats();
  out->set_in_reply_to_sequence(in_reply_to);
  out->set_as_of_unix_us(Micros(stats.as_of));
  for (const auto& [name, value] : stats.counters) (*out->mutable_counters())[name] = value;
  for (const HistogramSnapshot& hs : stats.latencies) {
    pb::LatencyHistogram* latency = out->add_latencies();
    latency->set_name(hs.name);
    latency->set_count(hs.count);
    latency->set_p50_us(hs.p50_us);
    latency->set_p90_us(hs.p90_us);
    latency->set_p99_us(hs.p99_us);
    latency->set_p999_us(hs.p999_us);
    latency->set_max_us(hs.max_us);
    for (const auto& [upper_bound, count] : hs.buckets) {
      pb::LatencyHistogram::Bucket* bucket = latency->add_buckets();
      bucket->set_upper_bound_us(upper_bound);
      bucket->set_count(count);
    }
  }
  return Serialize(env);
}

}  // namespace gz::transport
