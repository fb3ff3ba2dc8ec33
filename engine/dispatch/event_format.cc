#include "engine/dispatch/event_format.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gz {
namespace {

std::string Dur(absl::Duration d) { return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1))); }

struct Formatter {
  std::string operator()(const AlertAccepted& e) const {
    return absl::StrCat("alert ", e.reporter_id, "#", e.client_sequence,
                        " accepted: ", e.merged ? "merged into" : "opened", " incident ",
                        e.incident, e.duplicate ? " (retry: same answer)" : "");
  }
  std::string operator()(const AlertRejected& e) const {
    return absl::StrCat("alert ", e.reporter_id, "#", e.client_sequence, " rejected (",
                        Describe(e.reason).code, "): ", e.message,
                        e.duplicate ? " (retry: same answer)" : "");
  }
  std::string operator()(const CommandRejected& e) const {
    return absl::StrCat("command rejected (", Describe(e.reason).code, "): ", e.message);
  }
  std::string operator()(const IncidentOpened& e) const {
    return absl::StrFormat("incident %d opened: %s level %s at (%.5f, %.5f), district %d, zone %d",
                           e.incident, CategoryName(e.category), LevelName(e.level), e.position.lon,
                           e.position.lat, e.district, e.zone);
  }
  std::string operator()(const IncidentMerged& e) const {
    return absl::StrCat("incident ", e.incident, ": another report merged (", e.reports,
                        " reports, level ", LevelName(e.level), ")");
  }
  std::string operator()(const AssignmentIssued& e) const {
    return absl::StrFormat(
        "incident %d: assignment %d to unit %d (%s, %d on post, %.0f m, eta %s, ring %s)",
        e.incident, e.assignment, e.unit, AssignmentRoleName(e.role), e.headcount, e.distance_m,
        Dur(absl::Seconds(std::round(e.eta_s))), Dur(e.ring));
  }
  std::string operator()(const AssignmentAcked& e) const {
    return absl::StrCat("incident ", e.incident, ": unit ", e.unit, " acknowledged assignment ",
                        e.assignment);
  }
  std::string operator()(const AssignmentDeclined& e) const {
    return absl::StrCat("incident ", e.incident, ": unit ", e.unit, " declined assignment ",
                        e.assignment, " (", DeclineReasonName(e.reason), ")");
  }
  std::string operator()(const AssignmentExpired& e) const {
    return absl::StrCat(
        "incident ", e.incident, ": unit ", e.unit,
        e.reason == CascadeReason::kArrivalTimeout ? " not on scene in time" : " silent",
        ", assignment ", e.assignment, " expired");
  }
  std::string operator()(const AssignmentReleased& e) const {
    return absl::StrCat("incident ", e.incident, ": unit ", e.unit, " released from assignment ",
                        e.assignment, " (", CascadeReasonName(e.reason), ")");
  }
  std::string operator()(const UnitArrived& e) const {
    return absl::StrCat("incident ", e.incident, ": unit ", e.unit, " on scene");
  }
  std::string operator()(const RingWidened& e) const {
    return absl::StrCat("incident ", e.incident, ": ", AssignmentRoleName(e.role), " ring widened ",
                        Dur(e.from), " -> ", Dur(e.to));
  }
  std::string operator()(const EscalationNotified& e) const {
    return absl::StrCat("incident ", e.incident, ": notified ", NotifyTargetName(e.target), " (",
                        e.why, ")");
  }
  std::string operator()(const IncidentStateChanged& e) const {
    return absl::StrCat("incident ", e.incident, ": ", IncidentStateName(e.from), " -> ",
                        IncidentStateName(e.to));
  }
  std::string operator()(const AssemblyComplete& e) const {
    return absl::StrCat("incident ", e.incident, ": assembly complete, ", e.headcount,
                        " people on scene");
  }
  std::string operator()(const IncidentShort& e) const {
    return absl::StrCat("incident ", e.incident, ": SHORT after every ring: frontline ",
                        e.frontline_assigned, "/", e.frontline_needed, ", headcount ",
                        e.headcount_assigned, "/", e.headcount_needed);
  }
};

struct TypeNamer {
  absl::string_view operator()(const AlertAccepted&) const { return "alert_accepted"; }
  absl::string_view operator()(const AlertRejected&) const { return "alert_rejected"; }
  absl::string_view operator()(const CommandRejected&) const { return "command_rejected"; }
  absl::string_view operator()(const IncidentOpened&) const { return "incident_opened"; }
  absl::string_view operator()(const IncidentMerged&) const { return "incident_merged"; }
  absl::string_view operator()(const AssignmentIssued&) const { return "assignment_issued"; }
  absl::string_view operator()(const AssignmentAcked&) const { return "assignment_acked"; }
  absl::string_view operator()(const AssignmentDeclined&) const { return "assignment_declined"; }
  absl::string_view operator()(const AssignmentExpired&) const { return "assignment_expired"; }
  absl::string_view operator()(const AssignmentReleased&) const { return "assignment_released"; }
  absl::string_view operator()(const UnitArrived&) const { return "unit_arrived"; }
  absl::string_view operator()(const RingWidened&) const { return "ring_widened"; }
  absl::string_view operator()(const EscalationNotified&) const { return "escalation_notified"; }
  absl::string_view operator()(const IncidentStateChanged&) const { return "state_changed"; }
  absl::string_view operator()(const AssemblyComplete&) const { return "assembly_complete"; }
  absl::string_view operator()(const IncidentShort&) const { return "incident_short"; }
};

}  // namespace

std::string FormatEvent(const EventBody& event) { return std::visit(Formatter{}, event); }

IncidentId IncidentOf(const EventBody& event) {
  return std::visit(
      [](const auto& e) -> IncidentId {
        if constexpr (requires { e.incident; }) {
          return e.incident;
        } else {
          return 0;
        }
      },
      event);
}

absl::string_view EventTypeName(const EventBody& event) { return std::visit(TypeNamer{}, event); }

std::string FormatOffset(absl::Time t, absl::Time origin) {
  const int64_t s = absl::ToInt64Seconds(t - origin);
  const int64_t a = std::llabs(s);
  const char* sign = s < 0 ? "-" : "+";
  if (a >= 3600) return absl::StrFormat("%s%d:%02d:%02d", sign, a / 3600, (a / 60) % 60, a % 60);
  return absl::StrFormat("%s%02d:%02d", sign, a / 60, a % 60);
}

}  // namespace gz
