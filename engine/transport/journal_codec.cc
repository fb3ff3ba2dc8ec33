// Core commands <-> journal records. See protocol/journal.proto for the mapping's conventions.

#include "engine/transport/journal_codec.h"

#include <climits>
#include <optional>
#include <type_traits>
#include <variant>

#include "absl/strings/str_cat.h"
#include "protocol/journal.pb.h"

namespace gz::transport {
namespace {

namespace jpb = ::gz::dispatch::journal::v1;
namespace wire = ::gz::dispatch::v1;

void ToRecord(LonLat p, wire::LonLat* out) {
  out->set_lon(p.lon);
  out->set_lat(p.lat);
}
LonLat FromRecord(const wire::LonLat& p) { return LonLat{p.lon(), p.lat()}; }

// The wire's UnitStatus counts from 1 (0 is unspecified); the engine's from 0.
wire::UnitStatus ToRecord(UnitStatus s) {
  return static_cast<wire::UnitStatus>(static_cast<int>(s) + 1);
}

// An engine enum from a record's value, if it is one this engine has: [0, count).
template <typename Enum>
std::optional<Enum> EnumFromRecord(int value, int count) {
  if (value < 0 || value >= count) return std::nullopt;
  return static_cast<Enum>(value);
}
std::optional<UnitStatus> UnitStatusFromRecord(int value) {
  if (value < 1 || value > 4) return std::nullopt;
  return static_cast<UnitStatus>(value - 1);
}

absl::Status BadValue(absl::string_view field, int value) {
  return absl::DataLossError(absl::StrCat("journal record: ", field, " has the value ", value,
                                          ", which this engine does not know"));
}

// Fills the record's command from one command body.
class Filler {
 public:
  explicit Filler(jpb::JournalRecord* record) : r_(record) {}

  void operator()(const RaiseAlert& c) const {
    jpb::RaiseAlert* m = r_->mutable_raise_alert();
    m->set_reporter_id(c.reporter_id);
    m->set_client_sequence(c.client_sequence);
    ToRecord(c.position, m->mutable_position());
    m->set_category(static_cast<wire::Category>(static_cast<int>(c.category)));
    m->set_level(static_cast<wire::Level>(static_cast<int>(c.level)));
  }
  void operator()(const AckAssignment& c) const {
    jpb::AckAssignment* m = r_->mutable_ack_assignment();
    m->set_unit_id(c.unit);
    m->set_assignment_id(c.assignment);
  }
  void operator()(const DeclineAssignment& c) const {
    jpb::DeclineAssignment* m = r_->mutable_decline_assignment();
    m->set_unit_id(c.unit);
    m->set_assignment_id(c.assignment);
    m->set_reason(static_cast<wire::DeclineReason>(static_cast<int>(c.reason)));
  }
  void operator()(const ReportArrival& c) const {
    jpb::ReportArrival* m = r_->mutable_report_arrival();
    m->set_unit_id(c.unit);
    m->set_assignment_id(c.assignment);
  }
  void operator()(const UpdateUnit& c) const {
    jpb::UpdateUnit* m = r_->mutable_update_unit();
    m->set_unit_id(c.unit);
    if (c.status.has_value()) m->set_status(ToRecord(*c.status));
    if (c.on_post.has_value()) m->set_on_post(*c.on_post);
    if (c.position.has_value()) ToRecord(*c.position, m->mutable_position());
  }
  void operator()(const ResolveIncident& c) const {
    r_->mutable_resolve_incident()->set_incident_id(c.incident);
  }
  void operator()(const CloseIncident& c) const {
    r_->mutable_close_incident()->set_incident_id(c.incident);
  }
  void operator()(const CancelIncident& c) const {
    r_->mutable_cancel_incident()->set_incident_id(c.incident);
  }
  void operator()(const ManualAssign& c) const {
    jpb::ManualAssign* m = r_->mutable_manual_assign();
    m->set_incident_id(c.incident);
    m->set_unit_id(c.unit);
    m->set_role(static_cast<wire::AssignmentRole>(static_cast<int>(c.role)));
  }
  void operator()(const ReleaseAssignment& c) const {
    r_->mutable_release_assignment()->set_assignment_id(c.assignment);
  }
  void operator()(const SetUnitStatus& c) const {
    jpb::SetUnitStatus* m = r_->mutable_set_unit_status();
    m->set_unit_id(c.unit);
    m->set_status(ToRecord(c.status));
  }
  void operator()(const AdvanceTime&) const { r_->mutable_advance_time(); }

 private:
  jpb::JournalRecord* r_;
};

absl::StatusOr<CommandBody> BodyFromRecord(const jpb::JournalRecord& r) {
  switch (r.command_case()) {
    case jpb::JournalRecord::kRaiseAlert: {
      const jpb::RaiseAlert& m = r.raise_alert();
      RaiseAlert c;
      c.reporter_id = m.reporter_id();
      c.client_sequence = m.client_sequence();
      c.position = FromRecord(m.position());
      const auto category = EnumFromRecord<Category>(m.category(), kCategoryCount);
      if (!category) return BadValue("raise_alert.category", m.category());
      const auto level = EnumFromRecord<Level>(m.level(), kLevelCount);
      if (!level) return BadValue("raise_alert.level", m.level());
      c.category = *category;
      c.level = *level;
      return c;
    }
    case jpb::JournalRecord::kAckAssignment:
      return AckAssignment{r.ack_assignment().unit_id(), r.ack_assignment().assignment_id()};
    case jpb::JournalRecord::kDeclineAssignment: {
      const jpb::DeclineAssignment& m = r.decline_assignment();
      const auto reason =
          EnumFromRecord<DeclineReason>(m.reason(), static_cast<int>(DeclineReason::kOther) + 1);
      if (!reason) return BadValue("decline_assignment.reason", m.reason());
      return DeclineAssignment{m.unit_id(), m.assignment_id(), *reason};
    }
    case jpb::JournalRecord::kReportArrival:
      return ReportArrival{r.report_arrival().unit_id(), r.report_arrival().assignment_id()};
    case jpb::JournalRecord::kUpdateUnit: {
      const jpb::UpdateUnit& m = r.update_unit();
      UpdateUnit c;
      c.unit = m.unit_id();
      if (m.has_status()) {
        c.status = UnitStatusFromRecord(m.status());
        if (!c.status) return BadValue("update_unit.status", m.status());
      }
      if (m.has_on_post()) c.on_post = m.on_post();
      if (m.has_position()) c.position = FromRecord(m.position());
      return c;
    }
    case jpb::JournalRecord::kResolveIncident:
      return ResolveIncident{r.resolve_incident().incident_id()};
    case jpb::JournalRecord::kCloseIncident:
      return CloseIncident{r.close_incident().incident_id()};
    case jpb::JournalRecord::kCancelIncident:
      return CancelIncident{r.cancel_incident().incident_id()};
    case jpb::JournalRecord::kManualAssign: {
      const jpb::ManualAssign& m = r.manual_assign();
      const auto role =
          EnumFromRecord<AssignmentRole>(m.role(), static_cast<int>(AssignmentRole::kAssembly) + 1);
      if (!role) return BadValue("manual_assign.role", m.role());
      return ManualAssign{m.incident_id(), m.unit_id(), *role};
    }
    case jpb::JournalRecord::kReleaseAssignment:
      return ReleaseAssignment{r.release_assignment().assignment_id()};
    case jpb::JournalRecord::kSetUnitStatus: {
      const jpb::SetUnitStatus& m = r.set_unit_status();
      const auto status = UnitStatusFromRecord(m.status());
      if (!status) return BadValue("set_unit_status.status", m.status());
      return SetUnitStatus{m.unit_id(), *status};
    }
    case jpb::JournalRecord::kAdvanceTime:
      return AdvanceTime{};
    case jpb::JournalRecord::COMMAND_NOT_SET:
      break;
  }
  return absl::DataLossError(
      "journal record: no command this engine knows (written by a newer dispatchd?)");
}

}  // namespace

std::string EncodeJournalCommand(const Command& command) {
  jpb::JournalRecord record;
  record.set_at_unix_ns(absl::ToUnixNanos(command.at));
  std::visit(Filler(&record), command.body);
  return record.SerializeAsString();
}

absl::StatusOr<Command> DecodeJournalCommand(absl::string_view payload) {
  jpb::JournalRecord record;
  if (payload.size() > static_cast<size_t>(INT_MAX) ||
      !record.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("journal record: not a JournalRecord (it does not parse)");
  }
  absl::StatusOr<CommandBody> body = BodyFromRecord(record);
  if (!body.ok()) return body.status();
  return Command{absl::FromUnixNanos(record.at_unix_ns()), *std::move(body)};
}

std::string EncodeEngineSnapshot(const EngineSnapshot& snapshot) {
  jpb::EngineSnapshot message;
  message.set_feed_event_sequence(snapshot.feed_event_sequence);
  message.set_core(snapshot.core);
  return message.SerializeAsString();
}

absl::StatusOr<EngineSnapshot> DecodeEngineSnapshot(absl::string_view payload) {
  jpb::EngineSnapshot message;
  if (payload.size() > static_cast<size_t>(INT_MAX) ||
      !message.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError("journal snapshot: not an EngineSnapshot (it does not parse)");
  }
  EngineSnapshot snapshot;
  snapshot.feed_event_sequence = message.feed_event_sequence();
  snapshot.core = std::move(*message.mutable_core());
  return snapshot;
}

}  // namespace gz::transport
