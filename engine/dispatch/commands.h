// Commands: everything that can change the dispatch core's state. Each carries the time it is
// applied at; the core never reads a clock.

#ifndef ENGINE_DISPATCH_COMMANDS_H_
#define ENGINE_DISPATCH_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "absl/time/time.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/reason.h"
#include "engine/geo/projection.h"
#include "engine/units/unit.h"

namespace gz {

using IncidentId = uint64_t;
using AssignmentId = uint64_t;

// 一點呼叫: one alert at one point. (reporter_id, client_sequence) is the idempotency key.
struct RaiseAlert {
  std::string reporter_id;
  uint64_t client_sequence = 0;
  LonLat position;
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;
  bool operator==(const RaiseAlert&) const = default;
};

struct AckAssignment {
  UnitId unit = 0;
  AssignmentId assignment = 0;
  bool operator==(const AckAssignment&) const = default;
};

struct DeclineAssignment {
  UnitId unit = 0;
  AssignmentId assignment = 0;
  DeclineReason reason = DeclineReason::kUnspecified;
  bool operator==(const DeclineAssignment&) const = default;
};

struct ReportArrival {
  UnitId unit = 0;
  AssignmentId assignment = 0;
  bool operator==(const ReportArrival&) const = default;
};

// A responder's (or operator's) report about a unit. Absent fields are unchanged. Status may be set
// to available, off post or out of service; never to assigned, which only the core decides, and not
// while the unit holds an assignment (decline it first).
struct UpdateUnit {
  UnitId unit = 0;
  std::optional<UnitStatus> status;
  std::optional<int32_t> on_post;
  std::optional<LonLat> position;
  bool operator==(const UpdateUnit&) const = default;
};

// Operator actions on an incident.
struct ResolveIncident {
  IncidentId incident = 0;
  bool operator==(const ResolveIncident&) const = default;
};
struct CloseIncident {
  IncidentId incident = 0;
  bool operator==(const CloseIncident&) const = default;
};
struct CancelIncident {
  IncidentId incident = 0;
  bool operator==(const CancelIncident&) const = default;
};

// Operator: assign a chosen unit, bypassing the ranking. The unit must be offerable; the incident
// open.
struct ManualAssign {
  IncidentId incident = 0;
  UnitId unit = 0;
  AssignmentRole role = AssignmentRole::kFrontline;
  bool operator==(const ManualAssign&) const = default;
};

// Operator: take a unit off an incident (reason released_by_operator). The plan is refilled from
// the pool if it is now short.
struct ReleaseAssignment {
  AssignmentId assignment = 0;
  bool operator==(const ReleaseAssignment&) const = default;
};

// Operator: override a unit's status. Unlike UpdateUnit, taking an assigned unit off post or out of
// service is allowed: its assignment is released first (reason unit_withdrawn).
struct SetUnitStatus {
  UnitId unit = 0;
  UnitStatus status = UnitStatus::kAvailable;
  bool operator==(const SetUnitStatus&) const = default;
};

// Only moves time forward: expires deadlines and fires escalation steps that are due.
struct AdvanceTime {
  bool operator==(const AdvanceTime&) const = default;
};

using CommandBody = std::variant<RaiseAlert, AckAssignment, DeclineAssignment, ReportArrival,
                                 UpdateUnit, ResolveIncident, CloseIncident, CancelIncident,
                                 ManualAssign, ReleaseAssignment, SetUnitStatus, AdvanceTime>;

struct Command {
  absl::Time at;
  CommandBody body;
  bool operator==(const Command&) const = default;
};

}  // namespace gz

#endif  // ENGINE_DISPATCH_COMMANDS_H_
