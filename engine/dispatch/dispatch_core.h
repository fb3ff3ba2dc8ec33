// DispatchCore: the single-threaded, deterministic heart of the engine (DESIGN.md §2-3).
//
// Commands go in, events come out. The core keeps the units (registry + R-tree), the open
// incidents, their assignments, the acknowledgement deadlines and the escalation schedule. It does
// no I/O, starts no threads and reads no clock: time comes from each command (Command::at), and
// NextDeadline() tells the caller when to send an AdvanceTime.
//
// Determinism: the same DispatchCore constructed from the same inputs, given the same command
// sequence, emits the same event sequence, bit for bit. Nothing iterates an unordered container to
// produce output, and ties are broken by id.
//
// Event ordering: a command first moves time forward (expiring deadlines and firing escalation
// steps that fell due before it, each at its own time), then is applied. Events are queued while
// state changes and handed out only when the command is fully applied, so a caller never sees a
// half-applied state. Apply() is not re-entrant.
//
// Reservation: a unit holds at most one active assignment; it becomes offerable again only when the
// assignment ends (decline, expiry, release, incident ended).
//
// Thread-safety: none. One thread owns the core.

#ifndef ENGINE_DISPATCH_DISPATCH_CORE_H_
#define ENGINE_DISPATCH_DISPATCH_CORE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/events.h"
#include "engine/dispatch/short_incident_index.h"
#include "engine/geo/district_map.h"
#include "engine/incidents/incident.h"
#include "engine/units/unit_registry.h"

namespace gz {

struct CoreStats {
  uint64_t commands = 0;
  uint64_t alerts_accepted = 0;  // new incidents
  uint64_t alerts_merged = 0;
  uint64_t alerts_duplicate = 0;
  uint64_t alerts_rejected = 0;
  uint64_t commands_rejected = 0;  // everything but alerts
  std::array<uint64_t, kRejectReasonCount> rejected_by_reason{};
  uint64_t assignments_issued = 0;
  uint64_t assignments_acked = 0;
  uint64_t assignments_declined = 0;
  uint64_t assignments_expired = 0;
  uint64_t assignments_released = 0;
  uint64_t arrivals = 0;
  uint64_t ring_widenings = 0;
  uint64_t escalations = 0;
  uint64_t incidents_short = 0;
  bool operator==(const CoreStats&) const = default;
};

struct CoreState;  // engine/dispatch/core_state.h

class DispatchCore {
 public:
  // Fails with InvalidArgument if the config does not validate.
  // REQUIRES: `map` outlives the core.
  static absl::StatusOr<std::unique_ptr<DispatchCore>> Create(DispatchConfig config,
                                                              const DistrictMap* map,
                                                              std::unique_ptr<UnitRegistry> units,
                                                              absl::Time start);

  DispatchCore(const DispatchCore&) = delete;
  DispatchCore& operator=(const DispatchCore&) = delete;

  // Applies one command and appends what it caused to *events (never cleared). A command dated
  // before now() is applied at now().
  void Apply(const Command& command, std::vector<Event>* events);

  // The earliest time at which an AdvanceTime would do something, if any.
  std::optional<absl::Time> NextDeadline() const;

  absl::Time now() const { return now_; }
  const DispatchConfig& config() const { return config_; }
  const DistrictMap& map() const { return *map_; }
  const UnitRegistry& units() const { return *units_; }
  const CoreStats& stats() const { return stats_; }

  // nullptr when not found.
  const Incident* FindIncident(IncidentId id) const;
  const Assignment* FindAssignment(AssignmentId id) const;
  // The active assignment holding `unit`, or nullptr.
  const Assignment* ActiveAssignmentOf(UnitId unit) const;

  const absl::btree_map<IncidentId, Incident>& incidents() const { return incidents_; }
  const absl::btree_set<IncidentId>& open_incidents() const { return open_; }

  // Snapshots (engine/dispatch/core_state.h, implemented in core_state.cc).
  //
  // CaptureState copies the whole mutable state. RestoreState replaces this core's state with
  // `state`, which must have been captured from a core created with the same config and the same
  // unit set (the core need not be fresh: whatever it did before is forgotten). The state is
  // checked first in full; on any inconsistency (an unknown unit or incident, a unit held twice, an
  // assigned unit nobody holds, a value out of range, another unit set or config, ...) it returns
  // InvalidArgument with a sentence naming the first problem, and this core is left unchanged.
  // REQUIRES: not called from inside Apply().
  CoreState CaptureState() const;
  absl::Status RestoreState(const CoreState& state);

  // Rebuilds every index the core keeps beside its records (the open set and its merge index, the
  // unit holders, the deadlines, the short set, each incident's assignment list and run card, the
  // units' statuses and offerable flags) and compares them with the live ones: OK, or Internal
  // naming the first difference. RestoreState relies on these rebuilds to leave the indexes out of
  // a snapshot; tests call it after commands. An index added to the core belongs here and in
  // RestoreState.
  absl::Status CheckDerivedState() const;

 private:
  struct AlertAnswer {
    bool accepted = false;
    IncidentId incident = 0;
    bool merged = false;
    RejectReason reason = RejectReason::kUnspecified;
    std::string message;
  };
  using AlertKey = std::pair<std::string, uint64_t>;

  DispatchCore(DispatchConfig config, const DistrictMap* map, std::unique_ptr<UnitRegistry> units,
               absl::Time start);

  void AdvanceTo(absl::Time t);
  void Emit(EventBody body) { outbox_.push_back(Event{now_, std::move(body)}); }
  void Reject(RejectReason reason, std::string message, UnitId unit, IncidentId incident,
              AssignmentId assignment);

  void Handle(const RaiseAlert& c);
  void Handle(const AckAssignment& c);
  void Handle(const DeclineAssignment& c);
  void Handle(const ReportArrival& c);
  void Handle(const UpdateUnit& c);
  void Handle(const ResolveIncident& c);
  void Handle(const CloseIncident& c);
  void Handle(const CancelIncident& c);
  void Handle(const ManualAssign& c);
  void Handle(const ReleaseAssignment& c);
  void Handle(const SetUnitStatus& c);
  void Handle(const AdvanceTime&) {}

  // Alert intake helpers.
  // REQUIRES: `district` is DistrictAt(plane) when the coordinates are valid (nullptr outside).
  std::optional<std::pair<RejectReason, std::string>> ValidateAlert(const RaiseAlert& c,
                                                                    const District* district) const;
  Incident* FindMergeTarget(Category category, PlanePoint plane);
  // The merge index: open incidents by square cell of side merge_radius_m, so that a merge
  // target is looked for among the 3 x 3 cells around an alert instead of every open incident
  // (at tens of thousands open, a scan cost milliseconds per alert).
  using MergeCell = std::pair<int64_t, int64_t>;
  // What the merge test reads of an open incident, none of which changes while it is open: kept in
  // the cell so that a lookup does not visit the incident table (a fifth of the engine's time
  // under an alert flood).
  struct MergeEntry {
    IncidentId id = 0;
    PlanePoint plane;
    Category category = Category::kUnspecified;
    absl::Time opened_at;
    bool operator==(const MergeEntry&) const = default;
  };
  MergeCell MergeCellOf(PlanePoint p) const;
  void IndexForMerge(const Incident& incident);
  void UnindexForMerge(const Incident& incident);
  void RebuildMergeIndex();  // from open_ and incidents_
  void Remember(const RaiseAlert& c, AlertAnswer answer);
  void Upgrade(Incident& incident, Level level);
  // nullptr (and a rejection emitted) unless `id` names an incident.
  Incident* IncidentOrReject(IncidentId id);

  // Dispatch policy.
  void Fill(Incident& incident);
  int FillFrontline(Incident& incident);
  int FillAssembly(Incident& incident);
  void Issue(Incident& incident, const Candidate& candidate, AssignmentRole role,
             absl::Duration ring);
  // Ends an active assignment and returns its unit to the pool (status available).
  void EndAssignment(Assignment& a, AssignmentStatus status, CascadeReason reason);
  void ExpireAssignment(AssignmentId id);
  // After a command freed units: offer them to incidents that are short, most severe first.
  void RefillShortIncidents();
  void FireEscalations(IncidentId id);
  void ScheduleEscalation(const Incident& incident);
  void UnscheduleEscalation(const Incident& incident);
  void Notify(Incident& incident, NotifyTarget target, std::string why);
  void TransitionTo(Incident& incident, IncidentState to);
  void EndIncident(Incident& incident, IncidentState to);

  // Validates that `unit` holds assignment `id` and it is still active; on failure emits the
  // rejection and returns nullptr.
  Assignment* HeldAssignment(UnitId unit, AssignmentId id);

  DispatchConfig config_;
  const DistrictMap* map_;
  std::unique_ptr<UnitRegistry> units_;
  absl::Time now_;
  bool applying_ = false;
  std::vector<Event> outbox_;
  std::vector<Candidate> candidates_;  // scratch, reused across queries

  IncidentId next_incident_id_ = 1;
  AssignmentId next_assignment_id_ = 1;
  absl::btree_map<IncidentId, Incident> incidents_;
  absl::btree_set<IncidentId> open_;
  absl::flat_hash_map<MergeCell, std::vector<MergeEntry>> merge_cells_;  // open incidents only
  absl::btree_map<AssignmentId, Assignment> assignments_;
  std::vector<AssignmentId> holder_;  // by slot: the active assignment, 0 if none
  // Ack deadlines of pending assignments and arrival deadlines of acknowledged ones.
  absl::btree_set<std::pair<absl::Time, AssignmentId>> deadlines_;
  // Open incidents whose plan is not met, ordered most severe first, then oldest.
  ShortIncidentIndex short_;
  // Units that became offerable (or moved while offerable) during this command: what a short
  // incident may now reach.
  std::vector<Slot> freed_;
  absl::btree_set<std::pair<absl::Time, IncidentId>> escalations_due_;

  static constexpr size_t kAnswersReserveAt = 1024;
  void ReserveAnswers();  // see the definition
  absl::flat_hash_map<AlertKey, AlertAnswer> answers_;
  std::deque<std::pair<absl::Time, AlertKey>> answer_expiry_;  // in insertion (= time) order

  CoreStats stats_;
};

}  // namespace gz

#endif  // ENGINE_DISPATCH_DISPATCH_CORE_H_
