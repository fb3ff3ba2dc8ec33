// An incident and its assignments, as the dispatch core keeps them: plain data, readable by the
// shell, the drill and tests through DispatchCore's accessors.

#ifndef ENGINE_INCIDENTS_INCIDENT_H_
#define ENGINE_INCIDENTS_INCIDENT_H_

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/reason.h"
#include "engine/geo/geo_index.h"
#include "engine/incidents/lifecycle.h"

namespace gz {

enum class AssignmentStatus : uint8_t {
  kPending = 0,   // issued, waiting for an acknowledgement before its deadline
  kAcked = 1,     // on the way, expected on scene before the arrival deadline
  kArrived = 2,   // at the scene
  kDeclined = 3,  // ended: the unit said no
  kExpired = 4,   // ended: silence past the ack deadline, or not on scene by the arrival deadline
  kReleased = 5,  // ended: operator release, unit withdrawn, or the incident ended
};

// Pending, acked and arrived assignments hold their unit.
inline bool IsActive(AssignmentStatus s) { return s <= AssignmentStatus::kArrived; }

struct Assignment {
  AssignmentId id = 0;
  IncidentId incident = 0;
  UnitId unit = 0;
  Slot slot = 0;
  AssignmentRole role = AssignmentRole::kUnspecified;
  AssignmentStatus status = AssignmentStatus::kPending;
  int32_t headcount = 0;
  double eta_s = 0;
  absl::Duration ring;
  absl::Time issued_at;
  absl::Time ack_deadline;
  absl::Time arrival_deadline = absl::InfiniteFuture();  // set when acknowledged
  absl::Time acked_at = absl::InfinitePast();
  absl::Time arrived_at = absl::InfinitePast();
  absl::Time ended_at = absl::InfinitePast();
  DeclineReason decline_reason = DeclineReason::kUnspecified;
  CascadeReason end_reason = CascadeReason::kUnspecified;
};

// The deadline an active assignment is waiting on: acknowledgement while pending, arrival once
// acknowledged; none otherwise.
inline std::optional<absl::Time> PendingDeadline(const Assignment& a) {
  if (a.status == AssignmentStatus::kPending) return a.ack_deadline;
  if (a.status == AssignmentStatus::kAcked) return a.arrival_deadline;
  return std::nullopt;
}

struct StateChange {
  absl::Time at;
  IncidentState state;
};

struct Incident {
  IncidentId id = 0;
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;
  LonLat position;
  PlanePoint plane;
  DistrictCode district = 0;
  ZoneId zone = 0;
  IncidentState state = IncidentState::kReported;
  absl::Time opened_at;
  int32_t reports = 1;
  const ResponsePlan* plan = nullptr;  // owned by the core's config, which outlives incidents

  // Index into DispatchConfig::rings of the ring each role searches now.
  int frontline_ring = 0;
  int assembly_ring = 0;
  size_t next_escalation = 0;   // next step of plan->escalation to fire
  bool short_reported = false;  // an IncidentShort was emitted and the plan is still not met
  bool assembly_complete = false;
  bool professional_forces_notified = false;

  std::vector<AssignmentId> assignments;  // in issue order
  absl::flat_hash_set<Slot> tried;        // units ever offered; never offered again
  std::vector<StateChange> timeline;      // every transition, the first being kReported

  absl::Time first_ack_at = absl::InfinitePast();
  absl::Time first_arrival_at = absl::InfinitePast();
  absl::Time assembled_at = absl::InfinitePast();
};

// An incident's rank among short incidents: the most severe level first, then the oldest.
inline std::pair<int, IncidentId> ShortRank(const Incident& incident) {
  return {-static_cast<int>(incident.level), incident.id};
}

}  // namespace gz

#endif  // ENGINE_INCIDENTS_INCIDENT_H_
