#include "engine/client/rejection.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace gz::client {
namespace {

constexpr absl::string_view kPayloadUrl = "type.gz.dispatch/RejectReason";

absl::StatusCode CodeFor(RejectReason reason) {
  switch (reason) {
    case RejectReason::kUnspecified:
      return absl::StatusCode::kUnknown;
    case RejectReason::kUnknownUnit:
    case RejectReason::kUnknownIncident:
      return absl::StatusCode::kNotFound;
    case RejectReason::kNotAssigned:
    case RejectReason::kIllegalTransition:
      return absl::StatusCode::kFailedPrecondition;
    case RejectReason::kBusy:
      return absl::StatusCode::kResourceExhausted;
    case RejectReason::kUnauthorized:
      return absl::StatusCode::kPermissionDenied;
    case RejectReason::kOutsideServiceArea:
    case RejectReason::kUnknownCategory:
    case RejectReason::kInvalidLevel:
    case RejectReason::kInvalidCoordinates:
    case RejectReason::kInvalidValue:
    case RejectReason::kMalformedMessage:
    case RejectReason::kMessageTooLarge:
    case RejectReason::kUnsupportedVersion:
    case RejectReason::kUnknownMessageType:
      return absl::StatusCode::kInvalidArgument;
  }
  return absl::StatusCode::kUnknown;
}

}  // namespace

absl::Status RejectionStatus(RejectReason reason, absl::string_view message) {
  const RejectReasonInfo& info = Describe(reason);
  absl::Status status(CodeFor(reason),
                      absl::StrCat(info.code, ": ", message.empty() ? info.message : message));
  status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(reason))));
  return status;
}

std::optional<RejectReason> RejectReasonOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kPayloadUrl);  // absl::optional, not std::
  if (!payload.has_value()) return std::nullopt;
  int value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value) || value < 0 ||
      value >= kRejectReasonCount) {
    return std::nullopt;
  }
  return static_cast<RejectReason>(value);
}

}  // namespace gz::client
