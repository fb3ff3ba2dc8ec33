// A refusal from dispatchd (CommandResult{ok = false} or AlertReply.Rejected) as an absl::Status.
//
// The status message is "<reason code>: <the server's sentence>", e.g. "not_assigned: Unit 5123
// does not hold assignment 40.", and the reason itself travels as a payload so that callers can
// branch on it without parsing text:
//
//   absl::Status s = client.Ack(40);
//   if (RejectReasonOf(s) == RejectReason::kNotAssigned) { ... the offer already went elsewhere ...
//   }

#ifndef ENGINE_CLIENT_REJECTION_H_
#define ENGINE_CLIENT_REJECTION_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/dispatch/reason.h"

namespace gz::client {

// The status for a refusal. The code follows the reason: NotFound for unknown ids,
// FailedPrecondition for not_assigned / illegal_transition, ResourceExhausted for busy,
// PermissionDenied for unauthorized, InvalidArgument for the rest. An empty `message` is replaced
// by the reason's standard sentence. REQUIRES: reason != kUnspecified (gives kUnknown if it is).
absl::Status RejectionStatus(RejectReason reason, absl::string_view message);

// The reason carried by a status made by RejectionStatus(); nullopt for any other status.
std::optional<RejectReason> RejectReasonOf(const absl::Status& status);

}  // namespace gz::client

#endif  // ENGINE_CLIENT_REJECTION_H_
