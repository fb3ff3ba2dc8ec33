#include "engine/client/wire_text.h"

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"

namespace gz::client {
namespace {

// The wire value as a domain enum whose values 0..count-1 match it; kUnspecified otherwise.
template <typename Domain>
Domain Matching(int value, int count) {
  return value >= 0 && value < count ? static_cast<Domain>(value) : Domain::kUnspecified;
}

constexpr std::array<std::pair<int32_t, absl::string_view>, 11> kDistricts{{
    {440103, "Liwan"},
    {440104, "Yuexiu"},
    {440105, "Haizhu"},
    {440106, "Tianhe"},
    {440111, "Baiyun"},
    {440112, "Huangpu"},
    {440113, "Panyu"},
    {440114, "Huadu"},
    {440115, "Nansha"},
    {440117, "Conghua"},
    {440118, "Zengcheng"},
}};

std::string Normalized(absl::string_view name) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(name), {{"-", "_"}});
}

}  // namespace

Category FromWire(pb::Category v) { return Matching<Category>(v, kCategoryCount); }
Level FromWire(pb::Level v) { return Matching<Level>(v, kLevelCount); }
AssignmentRole FromWire(pb::AssignmentRole v) { return Matching<AssignmentRole>(v, 3); }
CascadeReason FromWire(pb::CascadeReason v) { return Matching<CascadeReason>(v, 7); }
DeclineReason FromWire(pb::DeclineReason v) { return Matching<DeclineReason>(v, 6); }
RejectReason FromWire(pb::RejectReason v) { return Matching<RejectReason>(v, kRejectReasonCount); }
IncidentState FromWire(pb::IncidentState v) { return Matching<IncidentState>(v, 9); }
NotifyTarget FromWire(pb::NotifyTarget v) { return Matching<NotifyTarget>(v, 4); }
UnitKind FromWire(pb::UnitKind v) { return Matching<UnitKind>(v, 11); }

std::optional<UnitStatus> FromWire(pb::UnitStatus v) {
  switch (v) {
    case pb::UNIT_STATUS_AVAILABLE:
      return UnitStatus::kAvailable;
    case pb::UNIT_STATUS_ASSIGNED:
      return UnitStatus::kAssigned;
    case pb::UNIT_STATUS_OFF_POST:
      return UnitStatus::kOffPost;
    case pb::UNIT_STATUS_OUT_OF_SERVICE:
      return UnitStatus::kOutOfService;
    default:
      return std::nullopt;
  }
}

std::optional<TravelMode> FromWire(pb::TravelMode v) {
  switch (v) {
    case pb::TRAVEL_MODE_ON_FOOT:
      return TravelMode::kOnFoot;
    case pb::TRAVEL_MODE_BICYCLE:
      return TravelMode::kBicycle;
    case pb::TRAVEL_MODE_VEHICLE:
      return TravelMode::kVehicle;
    default:
      return std::nullopt;
  }
}

pb::UnitStatus ToWire(UnitStatus status) {
  switch (status) {
    case UnitStatus::kAvailable:
      return pb::UNIT_STATUS_AVAILABLE;
    case UnitStatus::kAssigned:
      return pb::UNIT_STATUS_ASSIGNED;
    case UnitStatus::kOffPost:
      return pb::UNIT_STATUS_OFF_POST;
    case UnitStatus::kOutOfService:
      return pb::UNIT_STATUS_OUT_OF_SERVICE;
  }
  return pb::UNIT_STATUS_UNSPECIFIED;
}

LonLat FromWire(const pb::LonLat& p) { return LonLat{p.lon(), p.lat()}; }

void ToWire(LonLat p, pb::LonLat* out) {
  out->set_lon(p.lon);
  out->set_lat(p.lat);
}

std::optional<UnitStatus> ParseUnitStatus(absl::string_view name) {
  const std::string n = Normalized(name);
  for (UnitStatus s : {UnitStatus::kAvailable, UnitStatus::kAssigned, UnitStatus::kOffPost,
                       UnitStatus::kOutOfService}) {
    if (n == UnitStatusName(s)) return s;
  }
  return std::nullopt;
}

std::optional<AssignmentRole> ParseAssignmentRole(absl::string_view name) {
  const std::string n = Normalized(name);
  for (AssignmentRole r : {AssignmentRole::kFrontline, AssignmentRole::kAssembly}) {
    if (n == AssignmentRoleName(r)) return r;
  }
  return std::nullopt;
}

std::optional<DeclineReason> ParseDeclineReason(absl::string_view name) {
  const std::string n = Normalized(name);
  for (DeclineReason r : {DeclineReason::kBusy, DeclineReason::kUnderstaffed,
                          DeclineReason::kTooFar, DeclineReason::kUnsafe, DeclineReason::kOther}) {
    if (n == DeclineReasonName(r)) return r;
  }
  return std::nullopt;
}

std::string DistrictName(int32_t code) {
  if (code == 0) return "-";
  for (const auto& [c, name] : kDistricts) {
    if (c == code) return std::string(name);
  }
  return absl::StrCat("district ", code);
}

absl::TimeZone GuangzhouTime() { return absl::FixedTimeZone(8 * 60 * 60); }

std::string FormatClock(int64_t unix_us) {
  if (unix_us == 0) return "-";
  return absl::FormatTime("%H:%M:%S", absl::FromUnixMicros(unix_us), GuangzhouTime());
}

std::string FormatDateTime(int64_t unix_us) {
  if (unix_us == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S", absl::FromUnixMicros(unix_us), GuangzhouTime());
}

std::string FormatPosition(const pb::LonLat& p) {
  return absl::StrFormat("(%.4f,%.4f)", p.lon(), p.lat());
}

std::string FormatSeconds(uint32_t seconds) { return absl::FormatDuration(absl::Seconds(seconds)); }

absl::string_view EventKindName(const pb::IncidentEvent& event) {
  using E = pb::IncidentEvent;
  switch (event.detail_case()) {
    case E::kIncidentOpened:
      return "incident_opened";
    case E::kIncidentMerged:
      return "incident_merged";
    case E::kAssignmentIssued:
      return "assignment_issued";
    case E::kAssignmentAcked:
      return "assignment_acked";
    case E::kAssignmentDeclined:
      return "assignment_declined";
    case E::kAssignmentExpired:
      return "assignment_expired";
    case E::kAssignmentReleased:
      return "assignment_released";
    case E::kUnitArrived:
      return "unit_arrived";
    case E::kRingWidened:
      return "ring_widened";
    case E::kEscalationNotified:
      return "escalation_notified";
    case E::kStateChanged:
      return "state_changed";
    case E::kAssemblyComplete:
      return "assembly_complete";
    case E::kIncidentShort:
      return "incident_short";
    case E::kAlertRejected:
      return "alert_rejected";
    case E::DETAIL_NOT_SET:
      break;
  }
  return "unknown";
}

std::string DescribeEvent(const pb::IncidentEvent& event) {
  using E = pb::IncidentEvent;
  switch (event.detail_case()) {
    case E::kIncidentOpened: {
      const E::IncidentOpened& e = event.incident_opened();
      std::string line = absl::StrCat(
          CategoryName(FromWire(e.category())), " ", LevelName(FromWire(e.level())), " opened at ",
          FormatPosition(e.position()), " ", DistrictName(e.district()), " zone ", e.zone_id());
      if (!e.reporter_id().empty()) absl::StrAppend(&line, ", reported by ", e.reporter_id());
      if (!e.description().empty()) absl::StrAppend(&line, ": \"", e.description(), "\"");
      return line;
    }
    case E::kIncidentMerged: {
      const E::IncidentMerged& e = event.incident_merged();
      return absl::StrCat("report from ", e.reporter_id(), " merged (", e.reports(),
                          " reports, level ", LevelName(FromWire(e.level())), ")");
    }
    case E::kAssignmentIssued: {
      const pb::Assignment& a = event.assignment_issued().assignment();
      return absl::StrCat("unit ", a.unit_id(), " offered assignment ", a.assignment_id(), " (",
                          AssignmentRoleName(FromWire(a.role())), ", eta ",
                          FormatSeconds(a.eta_seconds()), ", ring ",
                          FormatSeconds(a.ring_seconds()), ", ack by ",
                          FormatClock(a.ack_deadline_unix_us()), ")");
    }
    case E::kAssignmentAcked: {
      const E::AssignmentAcked& e = event.assignment_acked();
      return absl::StrCat("unit ", e.unit_id(), " acknowledged assignment ", e.assignment_id());
    }
    case E::kAssignmentDeclined: {
      const E::AssignmentDeclined& e = event.assignment_declined();
      std::string line =
          absl::StrCat("unit ", e.unit_id(), " declined assignment ", e.assignment_id(), " (",
                       DeclineReasonName(FromWire(e.reason())));
      if (!e.note().empty()) absl::StrAppend(&line, ": ", e.note());
      return absl::StrCat(line, ")");
    }
    case E::kAssignmentExpired: {
      const E::AssignmentExpired& e = event.assignment_expired();
      return absl::StrCat("assignment ", e.assignment_id(), " of unit ", e.unit_id(), " expired (",
                          CascadeReasonName(FromWire(e.reason())), ")");
    }
    case E::kAssignmentReleased: {
      const E::AssignmentReleased& e = event.assignment_released();
      return absl::StrCat("unit ", e.unit_id(), " released from assignment ", e.assignment_id(),
                          " (", CascadeReasonName(FromWire(e.reason())), ")");
    }
    case E::kUnitArrived: {
      const E::UnitArrived& e = event.unit_arrived();
      std::string line =
          absl::StrCat("unit ", e.unit_id(), " on scene (assignment ", e.assignment_id(), ")");
      if (e.has_position()) absl::StrAppend(&line, " at ", FormatPosition(e.position()));
      return line;
    }
    case E::kRingWidened: {
      const E::RingWidened& e = event.ring_widened();
      return absl::StrCat(AssignmentRoleName(FromWire(e.role())), " search widened from the ",
                          FormatSeconds(e.from_seconds()), " ring to ",
                          FormatSeconds(e.to_seconds()));
    }
    case E::kEscalationNotified:
      return absl::StrCat(
          "escalated: ", NotifyTargetName(FromWire(event.escalation_notified().target())),
          " notified");
    case E::kStateChanged: {
      const E::StateChanged& e = event.state_changed();
      return absl::StrCat("state ", IncidentStateName(FromWire(e.from_state())), " -> ",
                          IncidentStateName(FromWire(e.to_state())));
    }
    case E::kAssemblyComplete:
      return absl::StrCat("assembly complete: ", event.assembly_complete().headcount(), " people");
    case E::kIncidentShort: {
      const E::IncidentShort& e = event.incident_short();
      return absl::StrCat("short of people: ", e.headcount_assigned(), " of ", e.headcount_needed(),
                          " assigned after every ring");
    }
    case E::kAlertRejected: {
      const E::AlertRejected& e = event.alert_rejected();
      return absl::StrCat("alert ", e.reporter_id(), "/", e.client_sequence(),
                          " rejected: ", Describe(FromWire(e.reason())).code, ": ", e.message());
    }
    case E::DETAIL_NOT_SET:
      break;
  }
  return "event of a kind this dispatchctl does not know";
}

std::string FormatEventLine(const pb::IncidentEvent& event) {
  const std::string incident =
      event.incident_id() == 0 ? std::string("#-") : absl::StrCat("#", event.incident_id());
  return absl::StrCat(FormatClock(event.at_unix_us()), "  ", incident, " ", DescribeEvent(event));
}

}  // namespace gz::client
