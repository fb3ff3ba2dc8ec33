#include "engine/dispatch/reason.h"

#include <array>

namespace gz {
namespace {

// Indexed by RejectReason's value; the static_assert below keeps the table and the enum in step.
constexpr std::array<RejectReasonInfo, kRejectReasonCount> kRejectReasons{{
    {RejectReason::kUnspecified, "unspecified", "The request was refused.", "rejected_unspecified"},
    {RejectReason::kOutsideServiceArea, "outside_service_area",
     "The alert position is outside Guangzhou's service area.", "rejected_outside_service_area"},
    {RejectReason::kUnknownCategory, "unknown_category",
     "The incident category is unknown or has no response plan.", "rejected_unknown_category"},
    {RejectReason::kInvalidLevel, "invalid_level",
     "The incident level must be one of IV (general) to I (extreme).", "rejected_invalid_level"},
    {RejectReason::kInvalidCoordinates, "invalid_coordinates",
     "The position is not a valid WGS84 longitude/latitude.", "rejected_invalid_coordinates"},
    {RejectReason::kUnknownUnit, "unknown_unit", "No unit has that id.", "rejected_unknown_unit"},
    {RejectReason::kUnknownIncident, "unknown_incident", "No incident has that id.",
     "rejected_unknown_incident"},
    {RejectReason::kNotAssigned, "not_assigned",
     "That unit does not hold that assignment (it may have expired or been released).",
     "rejected_not_assigned"},
    {RejectReason::kIllegalTransition, "illegal_transition",
     "The incident cannot make that change from its current state.", "rejected_illegal_transition"},
    {RejectReason::kInvalidValue, "invalid_value", "A field is out of its allowed range.",
     "rejected_invalid_value"},
    {RejectReason::kMalformedMessage, "malformed_message", "The message could not be parsed.",
     "rejected_malformed_message"},
    {RejectReason::kMessageTooLarge, "message_too_large",
     "The message is larger than the engine accepts.", "rejected_message_too_large"},
    {RejectReason::kUnsupportedVersion, "unsupported_version",
     "The protocol version is not supported.", "rejected_unsupported_version"},
    {RejectReason::kUnknownMessageType, "unknown_message_type",
     "The message type is not accepted on this channel.", "rejected_unknown_message_type"},
    {RejectReason::kBusy, "busy", "The engine is overloaded; retry shortly.", "rejected_busy"},
    {RejectReason::kUnauthorized, "unauthorized", "The sender is not allowed to do that.",
     "rejected_unauthorized"},
}};

constexpr bool TableMatchesEnum() {
  for (int i = 0; i < kRejectReasonCount; ++i) {
    if (static_cast<int>(kRejectReasons[i].reason) != i) return false;
  }
  return true;
}
static_assert(TableMatchesEnum(), "kRejectReasons must be indexed by RejectReason value");

}  // namespace

const RejectReasonInfo& Describe(RejectReason reason) {
  const auto index = static_cast<size_t>(reason);
  return index < kRejectReasons.size() ? kRejectReasons[index] : kRejectReasons[0];
}

absl::string_view CascadeReasonName(CascadeReason reason) {
  switch (reason) {
    case CascadeReason::kUnspecified:
      return "unspecified";
    case CascadeReason::kDeclined:
      return "declined";
    case CascadeReason::kAckTimeout:
      return "ack_timeout";
    case CascadeReason::kReleasedByOperator:
      return "released_by_operator";
    case CascadeReason::kIncidentEnded:
      return "incident_ended";
    case CascadeReason::kArrivalTimeout:
      return "arrival_timeout";
    case CascadeReason::kUnitWithdrawn:
      return "unit_withdrawn";
  }
  return "unknown";
}

absl::string_view DeclineReasonName(DeclineReason reason) {
  switch (reason) {
    case DeclineReason::kUnspecified:
      return "unspecified";
    case DeclineReason::kBusy:
      return "busy";
    case DeclineReason::kUnderstaffed:
      return "understaffed";
    case DeclineReason::kTooFar:
      return "too_far";
    case DeclineReason::kUnsafe:
      return "unsafe";
    case DeclineReason::kOther:
      return "other";
  }
  return "unknown";
}

}  // namespace gz
