// The one table of reasons the engine gives for refusing something or ending an assignment.
//
// Append-only: a reason's numeric value is its wire value (protocol RejectReason / CascadeReason),
// so entries are never renumbered or reused. Each row has the code, a human sentence for the sender
// and the metric name that counts it.

#ifndef ENGINE_DISPATCH_REASON_H_
#define ENGINE_DISPATCH_REASON_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gz {

// Why a command was refused. Values match protocol RejectReason.
enum class RejectReason : uint8_t {
  kUnspecified = 0,
  kOutsideServiceArea = 1,
  kUnknownCategory = 2,
  kInvalidLevel = 3,
  kInvalidCoordinates = 4,
  kUnknownUnit = 5,
  kUnknownIncident = 6,
  kNotAssigned = 7,
  kIllegalTransition = 8,
  kInvalidValue = 9,
  kMalformedMessage = 10,
  kMessageTooLarge = 11,
  kUnsupportedVersion = 12,
  kUnknownMessageType = 13,
  kBusy = 14,
  kUnauthorized = 15,
};
inline constexpr int kRejectReasonCount = 16;

struct RejectReasonInfo {
  RejectReason reason;
  absl::string_view code;     // stable, lower_snake_case: logs, drill reports, dispatchctl
  absl::string_view message;  // the sentence a sender sees when no more specific one is given
  absl::string_view metric;   // counter name
};

const RejectReasonInfo& Describe(RejectReason reason);

// Why an assignment ended without the unit arriving. Values match protocol CascadeReason.
enum class CascadeReason : uint8_t {
  kUnspecified = 0,
  kDeclined = 1,
  kAckTimeout = 2,
  kReleasedByOperator = 3,
  kIncidentEnded = 4,
  kArrivalTimeout = 5,  // acknowledged, but not on scene by the arrival deadline
  kUnitWithdrawn = 6,   // an operator took the unit off post or out of service
};
absl::string_view CascadeReasonName(CascadeReason reason);

// What a responder gives when declining. Values match protocol DeclineReason.
enum class DeclineReason : uint8_t {
  kUnspecified = 0,
  kBusy = 1,
  kUnderstaffed = 2,
  kTooFar = 3,
  kUnsafe = 4,
  kOther = 5,
};
absl::string_view DeclineReasonName(DeclineReason reason);

}  // namespace gz

#endif  // ENGINE_DISPATCH_REASON_H_
