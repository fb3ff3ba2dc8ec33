// CoreState <-> protocol/snapshot.proto. This file and codec.cc are the only server files that
// include generated protobuf headers.
//
// Decoding checks what the plain struct cannot express (column lengths, a time's fraction, an enum
// value that does not fit the engine's 8-bit enums); DispatchCore::RestoreState checks the rest.

#include "engine/transport/snapshot_codec.h"

#include <limits>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/dispatch/core_state.h"
#include "protocol/snapshot.pb.h"

namespace gz::transport {
namespace {

namespace pb = ::gz::dispatch::snapshot::v1;

// absl::Time and absl::Duration count quarter nanoseconds below the second.
absl::Duration QuarterNano() { return absl::Nanoseconds(1) / 4; }
constexpr uint32_t kQuarterNanosPerSecond = 4'000'000'000u;

absl::Status Refused(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("Snapshot refused: ", why));
}
absl::Status Damaged(absl::string_view why) {
  return absl::DataLossError(absl::StrCat("Snapshot refused: ", why));
}

// ---------------------------------------------------------------------------------------------
// Encoding.

void ToProto(absl::Time t, pb::Time* out) {
  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) {
    out->set_infinite(t == absl::InfiniteFuture() ? 1 : -1);
    return;
  }
  const int64_t seconds = absl::ToUnixSeconds(t);  // floor
  absl::Duration rest;
  const int64_t quarter_nanos =
      absl::IDivDuration(t - absl::FromUnixSeconds(seconds), QuarterNano(), &rest);
  out->set_unix_seconds(seconds);
  out->set_quarter_nanos(static_cast<uint32_t>(quarter_nanos));
}

void ToProto(absl::Duration d, pb::Duration* out) {
  absl::Duration rest;
  int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &rest);  // truncates toward zero
  if (rest < absl::ZeroDuration()) {
    --seconds;
    rest += absl::Seconds(1);
  }
  out->set_seconds(seconds);
  out->set_quarter_nanos(static_cast<uint32_t>(absl::IDivDuration(rest, QuarterNano(), &rest)));
}

template <typename E>
uint32_t Raw(E e) {
  return static_cast<uint32_t>(e);
}

void ToProto(const CoreState& s, pb::CoreSnapshot* out) {
  out->set_unit_set_fingerprint(s.unit_set_fingerprint);
  out->set_config_fingerprint(s.config_fingerprint);
  ToProto(s.now, out->mutable_now());
  out->set_next_incident_id(s.next_incident_id);
  out->set_next_assignment_id(s.next_assignment_id);

  pb::UnitColumns* units = out->mutable_units();
  const int unit_count = static_cast<int>(s.units.size());
  units->mutable_id()->Reserve(unit_count);
  units->mutable_status()->Reserve(unit_count);
  units->mutable_on_post()->Reserve(unit_count);
  units->mutable_lon()->Reserve(unit_count);
  units->mutable_lat()->Reserve(unit_count);
  for (const CoreState::UnitEntry& u : s.units) {
    units->add_id(u.id);
    units->add_status(Raw(u.status));
    units->add_on_post(u.on_post);
    units->add_lon(u.position.lon);
    units->add_lat(u.position.lat);
  }

  out->mutable_incidents()->Reserve(static_cast<int>(s.incidents.size()));
  for (const CoreState::IncidentEntry& e : s.incidents) {
    pb::Incident* inc = out->add_incidents();
    inc->set_id(e.id);
    inc->set_category(Raw(e.category));
    inc->set_level(Raw(e.level));
    inc->set_lon(e.position.lon);
    inc->set_lat(e.position.lat);
    inc->set_district(e.district);
    inc->set_zone(e.zone);
    inc->set_state(Raw(e.state));
    ToProto(e.opened_at, inc->mutable_opened_at());
    inc->set_reports(e.reports);
    inc->set_frontline_ring(e.frontline_ring);
    inc->set_assembly_ring(e.assembly_ring);
    inc->set_next_escalation(e.next_escalation);
    inc->set_short_reported(e.short_reported);
    inc->set_assembly_complete(e.assembly_complete);
    inc->set_professional_forces_notified(e.professional_forces_notified);
    inc->mutable_tried()->Add(e.tried.begin(), e.tried.end());
    for (const CoreState::StateChangeEntry& change : e.timeline) {
      pb::StateChange* c = inc->add_timeline();
      ToProto(change.at, c->mutable_at());
      c->set_state(Raw(change.state));
    }
    ToProto(e.first_ack_at, inc->mutable_first_ack_at());
    ToProto(e.first_arrival_at, inc->mutable_first_arrival_at());
    ToProto(e.assembled_at, inc->mutable_assembled_at());
  }

  out->mutable_assignments()->Reserve(static_cast<int>(s.assignments.size()));
  for (const CoreState::AssignmentEntry& e : s.assignments) {
    pb::Assignment* a = out->add_assignments();
    a->set_id(e.id);
    a->set_incident(e.incident);
    a->set_unit(e.unit);
    a->set_role(Raw(e.role));
    a->set_status(Raw(e.status));
    a->set_headcount(e.headcount);
    a->set_eta_s(e.eta_s);
    ToProto(e.ring, a->mutable_ring());
    ToProto(e.issued_at, a->mutable_issued_at());
    ToProto(e.ack_deadline, a->mutable_ack_deadline());
    ToProto(e.arrival_deadline, a->mutable_arrival_deadline());
    ToProto(e.acked_at, a->mutable_acked_at());
    ToProto(e.arrived_at, a->mutable_arrived_at());
    ToProto(e.ended_at, a->mutable_ended_at());
    a->set_decline_reason(Raw(e.decline_reason));
    a->set_end_reason(Raw(e.end_reason));
  }

  for (const auto& [at, incident] : s.escalations_due) {
    pb::EscalationDue* due = out->add_escalations_due();
    ToProto(at, due->mutable_at());
    due->set_incident(incident);
  }

  for (const CoreState::AlertAnswerEntry& e : s.alert_answers) {
    pb::AlertAnswer* answer = out->add_alert_answers();
    ToProto(e.at, answer->mutable_at());
    answer->set_reporter_id(e.reporter_id);
    answer->set_client_sequence(e.client_sequence);
    answer->set_accepted(e.accepted);
    answer->set_incident(e.incident);
    answer->set_merged(e.merged);
    answer->set_reason(Raw(e.reason));
    answer->set_message(e.message);
  }

  const CoreStats& st = s.stats;
  pb::Stats* stats = out->mutable_stats();
  stats->set_commands(st.commands);
  stats->set_alerts_accepted(st.alerts_accepted);
  stats->set_alerts_merged(st.alerts_merged);
  stats->set_alerts_duplicate(st.alerts_duplicate);
  stats->set_alerts_rejected(st.alerts_rejected);
  stats->set_commands_rejected(st.commands_rejected);
  stats->mutable_rejected_by_reason()->Add(st.rejected_by_reason.begin(),
                                           st.rejected_by_reason.end());
  stats->set_assignments_issued(st.assignments_issued);
  stats->set_assignments_acked(st.assignments_acked);
  stats->set_assignments_declined(st.assignments_declined);
  stats->set_assignments_expired(st.assignments_expired);
  stats->set_assignments_released(st.assignments_released);
  stats->set_arrivals(st.arrivals);
  stats->set_ring_widenings(st.ring_widenings);
  stats->set_escalations(st.escalations);
  stats->set_incidents_short(st.incidents_short);
}

// ---------------------------------------------------------------------------------------------
// Decoding. Each FromProto returns false when the value cannot be represented in the engine's type;
// the caller names the field.

bool FromProto(const pb::Time& t, absl::Time* out) {
  if (t.infinite() != 0) {
    if (t.unix_seconds() != 0 || t.quarter_nanos() != 0) return false;
    if (t.infinite() == 1) {
      *out = absl::InfiniteFuture();
    } else if (t.infinite() == -1) {
      *out = absl::InfinitePast();
    } else {
      return false;
    }
    return true;
  }
  if (t.quarter_nanos() >= kQuarterNanosPerSecond) return false;
  *out = absl::FromUnixSeconds(t.unix_seconds()) +
         QuarterNano() * static_cast<int64_t>(t.quarter_nanos());
  // At the very end of absl's range the sum saturates to infinity: not a time a core keeps.
  return *out != absl::InfiniteFuture() && *out != absl::InfinitePast();
}

bool FromProto(const pb::Duration& d, absl::Duration* out) {
  if (d.quarter_nanos() >= kQuarterNanosPerSecond) return false;
  *out = absl::Seconds(d.seconds()) + QuarterNano() * static_cast<int64_t>(d.quarter_nanos());
  return *out != absl::InfiniteDuration() && *out != -absl::InfiniteDuration();
}

// The engine's enums are 8 bits wide; RestoreState checks the exact range.
template <typename E>
bool FromRaw(uint32_t raw, E* out) {
  if (raw > std::numeric_limits<std::underlying_type_t<E>>::max()) return false;
  *out = static_cast<E>(raw);
  return true;
}

absl::Status FromProto(const pb::CoreSnapshot& in, CoreState* s) {
  const auto bad_time = [](absl::string_view where) {
    return Refused(absl::StrCat(where, " is not a valid time."));
  };
  s->unit_set_fingerprint = in.unit_set_fingerprint();
  s->config_fingerprint = in.config_fingerprint();
  if (!FromProto(in.now(), &s->now)) return bad_time("its clock");
  s->next_incident_id = in.next_incident_id();
  s->next_assignment_id = in.next_assignment_id();

  const pb::UnitColumns& units = in.units();
  const int unit_count = units.id_size();
  if (units.status_size() != unit_count || units.on_post_size() != unit_count ||
      units.lon_size() != unit_count || units.lat_size() != unit_count) {
    return Refused("its unit columns have different lengths.");
  }
  s->units.resize(unit_count);
  for (int i = 0; i < unit_count; ++i) {
    CoreState::UnitEntry& u = s->units[i];
    u.id = units.id(i);
    if (!FromRaw(units.status(i), &u.status)) {
      return Refused(absl::StrCat("unit ", u.id, " has a status out of range."));
    }
    u.on_post = units.on_post(i);
    u.position = {units.lon(i), units.lat(i)};
  }

  s->incidents.resize(in.incidents_size());
  for (int i = 0; i < in.incidents_size(); ++i) {
    const pb::Incident& inc = in.incidents(i);
    CoreState::IncidentEntry& e = s->incidents[i];
    const std::string name = absl::StrCat("incident ", inc.id());
    e.id = inc.id();
    if (!FromRaw(inc.category(), &e.category) || !FromRaw(inc.level(), &e.level) ||
        !FromRaw(inc.state(), &e.state)) {
      return Refused(absl::StrCat(name, " has a category, level or state out of range."));
    }
    e.position = {inc.lon(), inc.lat()};
    e.district = inc.district();
    e.zone = inc.zone();
    if (!FromProto(inc.opened_at(), &e.opened_at) ||
        !FromProto(inc.first_ack_at(), &e.first_ack_at) ||
        !FromProto(inc.first_arrival_at(), &e.first_arrival_at) ||
        !FromProto(inc.assembled_at(), &e.assembled_at)) {
      return bad_time(absl::StrCat("a time of ", name));
    }
    e.reports = inc.reports();
    e.frontline_ring = inc.frontline_ring();
    e.assembly_ring = inc.assembly_ring();
    e.next_escalation = inc.next_escalation();
    e.short_reported = inc.short_reported();
    e.assembly_complete = inc.assembly_complete();
    e.professional_forces_notified = inc.professional_forces_notified();
    e.tried.assign(inc.tried().begin(), inc.tried().end());
    e.timeline.resize(inc.timeline_size());
    for (int j = 0; j < inc.timeline_size(); ++j) {
      if (!FromProto(inc.timeline(j).at(), &e.timeline[j].at) ||
          !FromRaw(inc.timeline(j).state(), &e.timeline[j].state)) {
        return Refused(absl::StrCat(name, "'s timeline entry ", j, " is out of range."));
      }
    }
  }

  s->assignments.resize(in.assignments_size());
  for (int i = 0; i < in.assignments_size(); ++i) {
    const pb::Assignment& a = in.assignments(i);
    CoreState::AssignmentEntry& e = s->assignments[i];
    const std::string name = absl::StrCat("assignment ", a.id());
    e.id = a.id();
    e.incident = a.incident();
    e.unit = a.unit();
    if (!FromRaw(a.role(), &e.role) || !FromRaw(a.status(), &e.status) ||
        !FromRaw(a.decline_reason(), &e.decline_reason) ||
        !FromRaw(a.end_reason(), &e.end_reason)) {
      return Refused(absl::StrCat(name, " has a role, status or reason out of range."));
    }
    e.headcount = a.headcount();
    e.eta_s = a.eta_s();
    if (!FromProto(a.ring(), &e.ring)) return Refused(absl::StrCat(name, " has an invalid ring."));
    if (!FromProto(a.issued_at(), &e.issued_at) || !FromProto(a.ack_deadline(), &e.ack_deadline) ||
        !FromProto(a.arrival_deadline(), &e.arrival_deadline) ||
        !FromProto(a.acked_at(), &e.acked_at) || !FromProto(a.arrived_at(), &e.arrived_at) ||
        !FromProto(a.ended_at(), &e.ended_at)) {
      return bad_time(absl::StrCat("a time of ", name));
    }
  }

  s->escalations_due.resize(in.escalations_due_size());
  for (int i = 0; i < in.escalations_due_size(); ++i) {
    const pb::EscalationDue& due = in.escalations_due(i);
    if (!FromProto(due.at(), &s->escalations_due[i].first)) {
      return bad_time(absl::StrCat("the escalation step of incident ", due.incident()));
    }
    s->escalations_due[i].second = due.incident();
  }

  s->alert_answers.resize(in.alert_answers_size());
  for (int i = 0; i < in.alert_answers_size(); ++i) {
    const pb::AlertAnswer& a = in.alert_answers(i);
    CoreState::AlertAnswerEntry& e = s->alert_answers[i];
    if (!FromProto(a.at(), &e.at)) return bad_time(absl::StrCat("alert answer ", i));
    e.reporter_id = a.reporter_id();
    e.client_sequence = a.client_sequence();
    e.accepted = a.accepted();
    e.incident = a.incident();
    e.merged = a.merged();
    if (!FromRaw(a.reason(), &e.reason)) {
      return Refused(absl::StrCat("alert answer ", i, " has a reason out of range."));
    }
    e.message = a.message();
  }

  const pb::Stats& stats = in.stats();
  CoreStats& st = s->stats;
  st.commands = stats.commands();
  st.alerts_accepted = stats.alerts_accepted();
  st.alerts_merged = stats.alerts_merged();
  st.alerts_duplicate = stats.alerts_duplicate();
  st.alerts_rejected = stats.alerts_rejected();
  st.commands_rejected = stats.commands_rejected();
  if (stats.rejected_by_reason_size() > kRejectReasonCount) {
    return Refused(absl::StrCat("it counts rejections for ", stats.rejected_by_reason_size(),
                                " reasons; this engine knows ", kRejectReasonCount, "."));
  }
  st.rejected_by_reason.fill(0);
  for (int i = 0; i < stats.rejected_by_reason_size(); ++i) {
    st.rejected_by_reason[i] = stats.rejected_by_reason(i);
  }
  st.assignments_issued = stats.assignments_issued();
  st.assignments_acked = stats.assignments_acked();
  st.assignments_declined = stats.assignments_declined();
  st.assignments_expired = stats.assignments_expired();
  st.assignments_released = stats.assignments_released();
  st.arrivals = stats.arrivals();
  st.ring_widenings = stats.ring_widenings();
  st.escalations = stats.escalations();
  st.incidents_short = stats.incidents_short();
  return absl::OkStatus();
}

}  // namespace

std::string EncodeCoreSnapshot(const DispatchCore& core) {
  pb::CoreSnapshot state;
  ToProto(core.CaptureState(), &state);
  pb::SnapshotFile file;
  file.set_format_version(kCoreSnapshotFormatVersion);
  // No map fields anywhere, so serialization is deterministic without asking for it.
  if (!state.SerializeToString(file.mutable_state())) return "";
  file.set_state_fnv1a64(Fnv1a64(file.state()));
  std::string out;
  if (!file.SerializeToString(&out) || out.size() > kMaxCoreSnapshotBytes) return "";
  return out;
}

absl::Status RestoreCoreSnapshot(absl::string_view bytes, DispatchCore* core) {
  if (bytes.size() > kMaxCoreSnapshotBytes) {
    return Damaged(absl::StrCat(bytes.size(), " bytes is more than the limit of ",
                                kMaxCoreSnapshotBytes, "."));
  }
  pb::SnapshotFile file;
  if (!file.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Damaged("the bytes are not a snapshot file (they do not parse).");
  }
  if (file.format_version() == 0) {
    return Damaged("the bytes are not a snapshot file (no format version).");
  }
  if (file.format_version() != kCoreSnapshotFormatVersion) {
    return Refused(absl::StrCat("it is in format version ", file.format_version(),
                                "; this engine reads version ", kCoreSnapshotFormatVersion, "."));
  }
  if (Fnv1a64(file.state()) != file.state_fnv1a64()) {
    return Damaged("its checksum does not match: the file is truncated or corrupted.");
  }
  pb::CoreSnapshot state_proto;
  if (!state_proto.ParseFromString(file.state())) {
    return Damaged("the state inside does not parse.");
  }
  CoreState state;
  if (absl::Status s = FromProto(state_proto, &state); !s.ok()) return s;
  return core->RestoreState(state);
}

}  // namespace gz::transport
