// Events: everything the dispatch core decided, in the order it decided it. The shell turns them
// into replies, assignments for responders and the control-room feed; the drill turns them into a
// report.

#ifndef ENGINE_DISPATCH_EVENTS_H_
#define ENGINE_DISPATCH_EVENTS_H_

#include <cstdint>
#include <string>
#include <variant>

#include "absl/time/time.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/reason.h"
#include "engine/incidents/lifecycle.h"
#include "engine/units/unit.h"

namespace gz {

// The reply to a RaiseAlert that was accepted.
struct AlertAccepted {
  std::string reporter_id;
  uint64_t client_sequence = 0;
  IncidentId incident = 0;
  bool merged = false;     // joined an open incident instead of opening one
  bool duplicate = false;  // a retry of a key already answered: same answer, nothing changed
  bool operator==(const AlertAccepted&) const = default;
};

// The reply to a RaiseAlert that was refused; state is unchanged.
struct AlertRejected {
  std::string reporter_id;
  uint64_t client_sequence = 0;
  RejectReason reason = RejectReason::kUnspecified;
  std::string message;
  bool duplicate = false;
  bool operator==(const AlertRejected&) const = default;
};

// Any other command that was refused; state is unchanged.
struct CommandRejected {
  RejectReason reason = RejectReason::kUnspecified;
  std::string message;
  UnitId unit = 0;
  IncidentId incident = 0;
  AssignmentId assignment = 0;
  bool operator==(const CommandRejected&) const = default;
};

struct IncidentOpened {
  IncidentId incident = 0;
  LonLat position;
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;
  DistrictCode district = 0;
  ZoneId zone = 0;
  bool operator==(const IncidentOpened&) const = default;
};

struct IncidentMerged {
  IncidentId incident = 0;
  int32_t reports = 0;  // reports now counted on the incident, the first included
  // The incident's level after the merge: a more severe report upgrades the incident to its plan.
  Level level = Level::kUnspecified;
  bool operator==(const IncidentMerged&) const = default;
};

struct AssignmentIssued {
  AssignmentId assignment = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  AssignmentRole role = AssignmentRole::kUnspecified;
  int32_t headcount = 0;  // the unit's on-post headcount when assigned
  double distance_m = 0;
  double eta_s = 0;
  absl::Duration ring;  // the ring it was found in
  absl::Time ack_deadline;
  bool operator==(const AssignmentIssued&) const = default;
};

struct AssignmentAcked {
  AssignmentId assignment = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  bool operator==(const AssignmentAcked&) const = default;
};

struct AssignmentDeclined {
  AssignmentId assignment = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  DeclineReason reason = DeclineReason::kUnspecified;
  bool operator==(const AssignmentDeclined&) const = default;
};

// Silence past the acknowledgement deadline (kAckTimeout), or acknowledged but not on scene by the
// arrival deadline (kArrivalTimeout). The unit returns to the pool.
struct AssignmentExpired {
  AssignmentId assignment = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  CascadeReason reason = CascadeReason::kAckTimeout;
  bool operator==(const AssignmentExpired&) const = default;
};

// The unit returned to the pool for another reason than a decline or an expiry.
struct AssignmentReleased {
  AssignmentId assignment = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  CascadeReason reason = CascadeReason::kUnspecified;
  bool operator==(const AssignmentReleased&) const = default;
};

struct UnitArrived {
  AssignmentId assignment = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  bool operator==(const UnitArrived&) const = default;
};

// A role's candidate search moved to the next response ring.
struct RingWidened {
  IncidentId incident = 0;
  AssignmentRole role = AssignmentRole::kUnspecified;
  absl::Duration from;
  absl::Duration to;
  bool operator==(const RingWidened&) const = default;
};

struct EscalationNotified {
  IncidentId incident = 0;
  NotifyTarget target = NotifyTarget::kUnspecified;
  std::string why;
  bool operator==(const EscalationNotified&) const = default;
};

struct IncidentStateChanged {
  IncidentId incident = 0;
  IncidentState from = IncidentState::kUnspecified;
  IncidentState to = IncidentState::kUnspecified;
  bool operator==(const IncidentStateChanged&) const = default;
};

// The arrived on-post headcount reached the plan's target.
struct AssemblyComplete {
  IncidentId incident = 0;
  int32_t headcount = 0;
  bool operator==(const AssemblyComplete&) const = default;
};

// Every ring is exhausted and the plan is not met.
struct IncidentShort {
  IncidentId incident = 0;
  int32_t frontline_needed = 0;
  int32_t frontline_assigned = 0;
  int32_t headcount_needed = 0;
  int32_t headcount_assigned = 0;
  bool operator==(const IncidentShort&) const = default;
};

using EventBody =
    std::variant<AlertAccepted, AlertRejected, CommandRejected, IncidentOpened, IncidentMerged,
                 AssignmentIssued, AssignmentAcked, AssignmentDeclined, AssignmentExpired,
                 AssignmentReleased, UnitArrived, RingWidened, EscalationNotified,
                 IncidentStateChanged, AssemblyComplete, IncidentShort>;

struct Event {
  absl::Time at;
  EventBody body;
  bool operator==(const Event&) const = default;
};

}  // namespace gz

#endif  // ENGINE_DISPATCH_EVENTS_H_
