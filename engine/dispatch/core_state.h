// CoreState: the whole mutable state of a DispatchCore as plain data, so that the journal can bound
// its replay with snapshots (crash recovery, issue 5).
//
//   CoreState state = core.CaptureState();
//   ...
//   absl::Status s = fresh_core->RestoreState(state);
//
// What it holds: the core's clock and id counters, every incident (open or ended) with its
// timeline, every assignment, the pending escalation steps, the remembered answers to alert
// idempotency keys and their expiry order, the counters, and for every unit its mutable fields
// (status, on-post headcount, position). What it leaves out, because the core rebuilds it from the
// above on restore: the open set and its merge index, which assignment holds which unit, the ack
// and arrival deadlines, the set of short incidents, each incident's list of assignments and its
// run card, and the incident's plane position. DispatchCore::CheckDerivedState() verifies that
// those rebuilt indexes match the live ones.
//
// What it does not hold: the configuration, the district map and the unit set themselves. A state
// restores only into a core created with the same config and the same units in the same order; the
// two fingerprints below let RestoreState refuse anything else with a clear message.
//
// The restored core is indistinguishable from the captured one: same answers to every query and,
// for any further command sequence, the same events bit for bit. (The geo index's R-trees are
// shaped differently after restore, but its answers never depend on the trees' history; see
// geo_index.h.)
//
// The wire form (protobuf) lives in engine/transport/snapshot_codec.h; this struct knows nothing of
// it. Thread-safety: plain data.

#ifndef ENGINE_DISPATCH_CORE_STATE_H_
#define ENGINE_DISPATCH_CORE_STATE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/dispatch/reason.h"
#include "engine/geo/projection.h"
#include "engine/incidents/incident.h"
#include "engine/incidents/lifecycle.h"
#include "engine/units/unit.h"
#include "engine/units/unit_registry.h"

namespace gz {

struct CoreState {
  // The mutable fields of one unit. Its id, mode, zone, district and members belong to the unit set
  // (see unit_set_fingerprint).
  struct UnitEntry {
    UnitId id = 0;
    UnitStatus status = UnitStatus::kAvailable;
    int32_t on_post = 0;
    LonLat position;
    bool operator==(const UnitEntry&) const = default;
  };

  struct StateChangeEntry {
    absl::Time at;
    IncidentState state = IncidentState::kUnspecified;
    bool operator==(const StateChangeEntry&) const = default;
  };

  // An Incident (engine/incidents/incident.h) without what the core derives on restore: `plan`
  // (from category and level), `plane` (from position), `assignments` (the assignments naming this
  // incident, in id order, which is issue order).
  struct IncidentEntry {
    IncidentId id = 0;
    Category category = Category::kUnspecified;
    Level level = Level::kUnspecified;
    LonLat position;
    DistrictCode district = 0;
    ZoneId zone = 0;
    IncidentState state = IncidentState::kReported;
    absl::Time opened_at;
    int32_t reports = 1;
    int32_t frontline_ring = 0;  // index into DispatchConfig::rings
    int32_t assembly_ring = 0;
    uint32_t next_escalation = 0;  // index into the plan's escalation steps
    bool short_reported = false;
    bool assembly_complete = false;
    bool professional_forces_notified = false;
    std::vector<UnitId> tried;  // ascending
    std::vector<StateChangeEntry> timeline;
    absl::Time first_ack_at = absl::InfinitePast();
    absl::Time first_arrival_at = absl::InfinitePast();
    absl::Time assembled_at = absl::InfinitePast();
    bool operator==(const IncidentEntry&) const = default;
  };

  // An Assignment without its slot, which the core looks up from the unit id.
  struct AssignmentEntry {
    AssignmentId id = 0;
    IncidentId incident = 0;
    UnitId unit = 0;
    AssignmentRole role = AssignmentRole::kUnspecified;
    AssignmentStatus status = AssignmentStatus::kPending;
    int32_t headcount = 0;
    double eta_s = 0;
    absl::Duration ring;
    absl::Time issued_at;
    absl::Time ack_deadline;
    absl::Time arrival_deadline = absl::InfiniteFuture();
    absl::Time acked_at = absl::InfinitePast();
    absl::Time arrived_at = absl::InfinitePast();
    absl::Time ended_at = absl::InfinitePast();
    DeclineReason decline_reason = DeclineReason::kUnspecified;
    CascadeReason end_reason = CascadeReason::kUnspecified;
    bool operator==(const AssignmentEntry&) const = default;
  };

  // The answer remembered for one alert idempotency key (reporter id, client sequence), and when.
  struct AlertAnswerEntry {
    absl::Time at;  // when it was first answered; it is forgotten after the idempotency window
    std::string reporter_id;
    uint64_t client_sequence = 0;
    bool accepted = false;
    IncidentId incident = 0;  // accepted: the incident it opened or joined
    bool merged = false;
    RejectReason reason = RejectReason::kUnspecified;  // rejected: why, and the sentence given
    std::string message;
    bool operator==(const AlertAnswerEntry&) const = default;
  };

  // Which core this state fits (see the functions below).
  uint64_t unit_set_fingerprint = 0;
  uint64_t config_fingerprint = 0;

  absl::Time now;
  IncidentId next_incident_id = 1;
  AssignmentId next_assignment_id = 1;

  std::vector<UnitEntry> units;              // one per unit, in the registry's slot order
  std::vector<IncidentEntry> incidents;      // ascending id; ended incidents included
  std::vector<AssignmentEntry> assignments;  // ascending id; ended assignments included
  // The next escalation step of each incident that has one scheduled: (when, incident), ascending.
  std::vector<std::pair<absl::Time, IncidentId>> escalations_due;
  std::vector<AlertAnswerEntry> alert_answers;  // in the order they were given (= time order)
  CoreStats stats;

  bool operator==(const CoreState&) const = default;
};

// FNV-1a over `bytes`, 64 bits, continuing from `hash`. It catches accidents (another dataset, a
// torn or corrupted file), not tampering.
inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ull;
uint64_t Fnv1a64(absl::string_view bytes, uint64_t hash = kFnv1a64Offset);

// A fingerprint of what the core's decisions depend on in the unit set: the projection origin and,
// slot by slot, each unit's id, travel mode, zone, district and members. Names, kinds and the
// positions units were loaded at are left out: they change no decision, and the positions are
// restored from the state anyway.
uint64_t UnitSetFingerprint(const UnitRegistry& units);

// A fingerprint of every field of DispatchConfig.
uint64_t ConfigFingerprint(const DispatchConfig& config);

}  // namespace gz

#endif  // ENGINE_DISPATCH_CORE_STATE_H_
