// DispatchCore::CaptureState, RestoreState and CheckDerivedState, and the fingerprints that tie a
// CoreState to its unit set and config.
//
// RestoreState checks everything before it changes anything: it builds the new records and indexes
// beside the live ones and swaps them in only once the whole state has passed. Its checks are the
// invariants the core's own code relies on (an id it looks up exists, a ring index is in range, a
// unit is held by at most one active assignment and is "assigned" exactly when held, ...), so that
// a state it accepts can never make the core crash or double-book a unit.

#include "engine/dispatch/core_state.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/incidents/lifecycle.h"

namespace gz {
namespace {

// Highest valid value of each enum a state carries (they all start at 0).
constexpr int kMaxUnitStatus = static_cast<int>(UnitStatus::kOutOfService);
constexpr int kMaxIncidentState = static_cast<int>(IncidentState::kCancelled);
constexpr int kMaxAssignmentStatus = static_cast<int>(AssignmentStatus::kReleased);
constexpr int kMaxDeclineReason = static_cast<int>(DeclineReason::kOther);
constexpr int kMaxCascadeReason = static_cast<int>(CascadeReason::kUnitWithdrawn);
constexpr int kMaxRole = static_cast<int>(AssignmentRole::kAssembly);

template <typename E>
int Value(E e) {
  return static_cast<int>(e);
}

bool FiniteLonLat(LonLat p) { return std::isfinite(p.lon) && std::isfinite(p.lat); }

bool ValidLonLat(LonLat p) {
  return FiniteLonLat(p) && p.lon >= -180 && p.lon <= 180 && p.lat >= -90 && p.lat <= 90;
}

bool IsFinite(absl::Time t) { return t != absl::InfinitePast() && t != absl::InfiniteFuture(); }

// The indexes the core keeps beside its incident and assignment records, rebuilt from the records.
struct DerivedIndexes {
  absl::btree_set<IncidentId> open;
  std::vector<AssignmentId> holder;  // by slot
  absl::btree_set<std::pair<absl::Time, AssignmentId>> deadlines;
  absl::btree_set<std::pair<int, IncidentId>> short_set;
};

// Open: every incident in an open state. Short: every open incident whose last Fill found its plan
// unmet (short_reported is cleared by the Fill that meets it). Holder and deadlines: from the
// active assignments.
DerivedIndexes BuildIndexes(const absl::btree_map<IncidentId, Incident>& incidents,
                            const absl::btree_map<AssignmentId, Assignment>& assignments,
                            size_t unit_count) {
  DerivedIndexes out;
  out.holder.assign(unit_count, 0);
  for (const auto& [id, inc] : incidents) {
    if (!IsOpen(inc.state)) continue;
    out.open.insert(id);
    if (inc.short_reported) out.short_set.insert(ShortRank(inc));
  }
  for (const auto& [id, a] : assignments) {
    if (!IsActive(a.status)) continue;
    out.holder[a.slot] = id;
    if (const std::optional<absl::Time> deadline = PendingDeadline(a)) {
      out.deadlines.insert({*deadline, id});
    }
  }
  return out;
}

// When the incident's next escalation step falls due, if it has one left.
std::optional<absl::Time> NextStepAt(const Incident& inc) {
  if (inc.next_escalation >= inc.plan->escalation.size()) return std::nullopt;
  return inc.opened_at + inc.plan->escalation[inc.next_escalation].after;
}

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("Snapshot refused: ", what));
}

// Appends values to a running FNV-1a hash, as fixed-width little-endian bytes so the result does
// not depend on the host.
class Fingerprinter {
 public:
  void Add(uint64_t v) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xff);
    hash_ = Fnv1a64(absl::string_view(bytes, sizeof(bytes)), hash_);
  }
  void Add(int64_t v) { Add(static_cast<uint64_t>(v)); }
  void Add(uint32_t v) { Add(static_cast<uint64_t>(v)); }
  void Add(int32_t v) { Add(static_cast<int64_t>(v)); }
  void Add(bool v) { Add(static_cast<uint64_t>(v)); }
  void Add(double v) { Add(std::bit_cast<uint64_t>(v)); }
  void Add(absl::Duration d) {
    // Exact to absl's resolution (a quarter nanosecond).
    absl::Duration rem;
    const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &rem);
    Add(seconds);
    Add(absl::IDivDuration(rem, absl::Nanoseconds(1) / 4, &rem));
  }

  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = kFnv1a64Offset;
};

}  // namespace

uint64_t Fnv1a64(absl::string_view bytes, uint64_t hash) {
  for (const char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

uint64_t UnitSetFingerprint(const UnitRegistry& units) {
  Fingerprinter f;
  f.Add(units.projection().origin().lon);
  f.Add(units.projection().origin().lat);
  f.Add(static_cast<uint64_t>(units.size()));
  for (Slot s = 0; s < units.size(); ++s) {
    const Unit& u = units.unit(s);
    f.Add(u.id);
    f.Add(static_cast<uint32_t>(u.mode));
    f.Add(u.zone);
    f.Add(u.district);
    f.Add(u.members);
  }
  return f.value();
}

uint64_t ConfigFingerprint(const DispatchConfig& config) {
  // Every field of DispatchConfig, in declaration order: a field added there belongs here too.
  Fingerprinter f;
  f.Add(config.travel.detour_factor);
  for (const double speed : config.travel.speed_mps) f.Add(speed);
  f.Add(static_cast<uint64_t>(config.rings.size()));
  for (const absl::Duration ring : config.rings) f.Add(ring);
  f.Add(config.merge_radius_m);
  f.Add(config.merge_window);
  f.Add(config.arrival_eta_factor);
  f.Add(config.arrival_slack);
  f.Add(config.idempotency_window);
  f.Add(config.max_remembered_alerts);
  for (const int64_t limit : config.max_open_incidents) f.Add(limit);
  for (const auto& by_level : config.plans) {
    for (const std::optional<ResponsePlan>& plan : by_level) {
      f.Add(plan.has_value());
      if (!plan.has_value()) continue;
      f.Add(static_cast<int32_t>(plan->frontline_units));
      f.Add(plan->frontline_ring);
      f.Add(static_cast<int32_t>(plan->assembly_headcount));
      f.Add(plan->assembly_ring);
      f.Add(plan->assembly_zone_only);
      f.Add(plan->ack_deadline);
      f.Add(static_cast<uint64_t>(plan->escalation.size()));
      for (const EscalationStep& step : plan->escalation) {
        f.Add(step.after);
        f.Add(static_cast<uint32_t>(step.notify));
      }
    }
  }
  return f.value();
}

// ---------------------------------------------------------------------------------------------
// Capture.

CoreState DispatchCore::CaptureState() const {
  CoreState s;
  s.unit_set_fingerprint = UnitSetFingerprint(*units_);
  s.config_fingerprint = ConfigFingerprint(config_);
  s.now = now_;
  s.next_incident_id = next_incident_id_;
  s.next_assignment_id = next_assignment_id_;

  s.units.reserve(units_->size());
  for (Slot slot = 0; slot < units_->size(); ++slot) {
    const Unit& u = units_->unit(slot);
    s.units.push_back({u.id, u.status, u.on_post, u.position});
  }

  s.incidents.reserve(incidents_.size());
  for (const auto& [id, inc] : incidents_) {
    CoreState::IncidentEntry& e = s.incidents.emplace_back();
    e.id = inc.id;
    e.category = inc.category;
    e.level = inc.level;
    e.position = inc.position;
    e.district = inc.district;
    e.zone = inc.zone;
    e.state = inc.state;
    e.opened_at = inc.opened_at;
    e.reports = inc.reports;
    e.frontline_ring = inc.frontline_ring;
    e.assembly_ring = inc.assembly_ring;
    e.next_escalation = static_cast<uint32_t>(inc.next_escalation);
    e.short_reported = inc.short_reported;
    e.assembly_complete = inc.assembly_complete;
    e.professional_forces_notified = inc.professional_forces_notified;
    e.tried.reserve(inc.tried.size());
    for (const Slot slot : inc.tried) e.tried.push_back(units_->unit(slot).id);
    std::sort(e.tried.begin(), e.tried.end());  // the set's own order is not stable
    e.timeline.reserve(inc.timeline.size());
    for (const StateChange& change : inc.timeline) e.timeline.push_back({change.at, change.state});
    e.first_ack_at = inc.first_ack_at;
    e.first_arrival_at = inc.first_arrival_at;
    e.assembled_at = inc.assembled_at;
  }

  s.assignments.reserve(assignments_.size());
  for (const auto& [id, a] : assignments_) {
    s.assignments.push_back({a.id, a.incident, a.unit, a.role, a.status, a.headcount, a.eta_s,
                             a.ring, a.issued_at, a.ack_deadline, a.arrival_deadline, a.acked_at,
                             a.arrived_at, a.ended_at, a.decline_reason, a.end_reason});
  }

  s.escalations_due.assign(escalations_due_.begin(), escalations_due_.end());

  s.alert_answers.reserve(answer_expiry_.size());
  for (const auto& [at, key] : answer_expiry_) {
    const AlertAnswer& answer = answers_.at(key);
    s.alert_answers.push_back({at, key.first, key.second, answer.accepted, answer.incident,
                               answer.merged, answer.reason, answer.message});
  }

  s.stats = stats_;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Restore.

absl::Status DispatchCore::RestoreState(const CoreState& state) {
  assert(!applying_ && "DispatchCore::RestoreState called from inside Apply");

  // Which core the state belongs to.
  if (state.units.size() != units_->size()) {
    return Invalid(absl::StrCat("it holds ", state.units.size(), " units and this engine has ",
                                units_->size(), "; it was taken with another unit set."));
  }
  if (state.unit_set_fingerprint != UnitSetFingerprint(*units_)) {
    return Invalid(
        "it was taken with another unit set (unit ids, travel modes, zones, districts or member "
        "counts differ from this engine's).");
  }
  if (state.config_fingerprint != ConfigFingerprint(config_)) {
    return Invalid(
        "it was taken under another dispatch config (rings, run cards, travel model, ...).");
  }
  if (!IsFinite(state.now)) return Invalid("its clock is not a finite time.");
  if (state.next_incident_id == 0 || state.next_assignment_id == 0) {
    return Invalid("its next incident and assignment ids must be at least 1.");
  }

  // Units.
  for (Slot slot = 0; slot < state.units.size(); ++slot) {
    const CoreState::UnitEntry& u = state.units[slot];
    if (u.id != units_->unit(slot).id) {
      return Invalid(absl::StrCat("unit #", slot, " is ", u.id, " in the snapshot and ",
                                  units_->unit(slot).id, " in this engine."));
    }
    if (Value(u.status) > kMaxUnitStatus) {
      return Invalid(absl::StrCat("unit ", u.id, " has status ", Value(u.status),
                                  ", which is not a unit status."));
    }
    if (u.on_post < 0) {
      return Invalid(absl::StrCat("unit ", u.id, " has a negative on-post headcount."));
    }
    if (!ValidLonLat(u.position)) {
      // As UpdateUnit refuses: a unit's position is always valid WGS84.
      return Invalid(absl::StrCat("unit ", u.id, " has a position that is not valid WGS84."));
    }
  }

  // Incidents.
  absl::btree_map<IncidentId, Incident> incidents;
  for (const CoreState::IncidentEntry& e : state.incidents) {
    const std::string name = absl::StrCat("incident ", e.id);
    if (e.id == 0 || e.id >= state.next_incident_id) {
      return Invalid(absl::StrCat(name, " is outside 1..", state.next_incident_id - 1,
                                  " (the ids issued so far)."));
    }
    if (!incidents.empty() && e.id <= incidents.rbegin()->first) {
      return Invalid(absl::StrCat(name, " is out of order or repeated."));
    }
    const ResponsePlan* plan = config_.FindPlan(e.category, e.level);
    if (plan == nullptr) {
      return Invalid(absl::StrCat(name, " has category ", Value(e.category), " and level ",
                                  Value(e.level), ", for which this config has no run card."));
    }
    if (!ValidLonLat(e.position)) {
      return Invalid(absl::StrCat(name, " has an invalid position."));
    }
    if (e.state == IncidentState::kUnspecified || Value(e.state) > kMaxIncidentState) {
      return Invalid(
          absl::StrCat(name, " has state ", Value(e.state), ", which is not an incident state."));
    }
    if (!IsFinite(e.opened_at) || e.opened_at > state.now) {
      return Invalid(
          absl::StrCat(name, " was opened at no finite time before the snapshot's clock."));
    }
    if (e.reports < 1) return Invalid(absl::StrCat(name, " counts fewer than one report."));
    const int ring_count = static_cast<int>(config_.rings.size());
    if (e.frontline_ring < 0 || e.frontline_ring >= ring_count || e.assembly_ring < 0 ||
        e.assembly_ring >= ring_count) {
      return Invalid(absl::StrCat(name, " searches ring ", e.frontline_ring, "/", e.assembly_ring,
                                  "; this config has ", ring_count, " rings."));
    }
    if (e.next_escalation > plan->escalation.size()) {
      return Invalid(absl::StrCat(name, " is at escalation step ", e.next_escalation,
                                  " of a plan with ", plan->escalation.size(), "."));
    }
    if (e.timeline.empty() || e.timeline.front().state != IncidentState::kReported ||
        e.timeline.front().at != e.opened_at) {
      return Invalid(absl::StrCat(name, "'s timeline does not start with its report."));
    }
    for (size_t i = 0; i < e.timeline.size(); ++i) {
      const CoreState::StateChangeEntry& change = e.timeline[i];
      if (change.state == IncidentState::kUnspecified || Value(change.state) > kMaxIncidentState ||
          change.at > state.now || (i > 0 && change.at < e.timeline[i - 1].at) ||
          (i > 0 && !IsLegalTransition(e.timeline[i - 1].state, change.state))) {
        return Invalid(absl::StrCat(name, "'s timeline entry ", i,
                                    " has an invalid state or is out of time order."));
      }
    }
    if (e.timeline.back().state != e.state) {
      return Invalid(absl::StrCat(name, "'s timeline does not end in its state."));
    }

    Incident& inc = incidents[e.id];
    inc.id = e.id;
    inc.category = e.category;
    inc.level = e.level;
    inc.position = e.position;
    inc.plane = units_->projection().ToPlane(e.position);
    inc.district = e.district;
    inc.zone = e.zone;
    inc.state = e.state;
    inc.opened_at = e.opened_at;
    inc.reports = e.reports;
    inc.plan = plan;
    inc.frontline_ring = e.frontline_ring;
    inc.assembly_ring = e.assembly_ring;
    inc.next_escalation = e.next_escalation;
    inc.short_reported = e.short_reported;
    inc.assembly_complete = e.assembly_complete;
    inc.professional_forces_notified = e.professional_forces_notified;
    inc.tried.reserve(e.tried.size());
    for (size_t i = 0; i < e.tried.size(); ++i) {
      const std::optional<Slot> slot = units_->SlotOf(e.tried[i]);
      if (!slot || (i > 0 && e.tried[i] <= e.tried[i - 1])) {
        return Invalid(absl::StrCat(name, " lists unit ", e.tried[i],
                                    " as tried, which is unknown or out of order."));
      }
      inc.tried.insert(*slot);
    }
    inc.timeline.reserve(e.timeline.size());
    for (const CoreState::StateChangeEntry& change : e.timeline) {
      inc.timeline.push_back({change.at, change.state});
    }
    inc.first_ack_at = e.first_ack_at;
    inc.first_arrival_at = e.first_arrival_at;
    inc.assembled_at = e.assembled_at;
  }

  // Assignments, each appended to its incident's list (ascending id is issue order).
  absl::btree_map<AssignmentId, Assignment> assignments;
  std::vector<AssignmentId> holder(units_->size(), 0);
  for (const CoreState::AssignmentEntry& e : state.assignments) {
    const std::string name = absl::StrCat("assignment ", e.id);
    if (e.id == 0 || e.id >= state.next_assignment_id) {
      return Invalid(absl::StrCat(name, " is outside 1..", state.next_assignment_id - 1,
                                  " (the ids issued so far)."));
    }
    if (!assignments.empty() && e.id <= assignments.rbegin()->first) {
      return Invalid(absl::StrCat(name, " is out of order or repeated."));
    }
    auto incident = incidents.find(e.incident);
    if (incident == incidents.end()) {
      return Invalid(
          absl::StrCat(name, " belongs to incident ", e.incident, ", which is not in it."));
    }
    const std::optional<Slot> slot = units_->SlotOf(e.unit);
    if (!slot) return Invalid(absl::StrCat(name, " names unit ", e.unit, ", which is unknown."));
    if (e.role == AssignmentRole::kUnspecified || Value(e.role) > kMaxRole ||
        Value(e.status) > kMaxAssignmentStatus || Value(e.decline_reason) > kMaxDeclineReason ||
        Value(e.end_reason) > kMaxCascadeReason) {
      return Invalid(absl::StrCat(name, " has a role, status or reason out of range."));
    }
    if (e.headcount < 0 || !std::isfinite(e.eta_s) || e.eta_s < 0) {
      return Invalid(absl::StrCat(name, " has a negative headcount or an invalid eta."));
    }
    if (e.ring != absl::ZeroDuration() &&
        std::find(config_.rings.begin(), config_.rings.end(), e.ring) == config_.rings.end()) {
      return Invalid(absl::StrCat(name, " was found in a ring this config does not have."));
    }
    if (!IsFinite(e.issued_at) || e.issued_at > state.now) {
      return Invalid(
          absl::StrCat(name, " was issued at no finite time before the snapshot's clock."));
    }
    if (IsActive(e.status)) {
      if (!IsOpen(incident->second.state)) {
        return Invalid(
            absl::StrCat(name, " is still active on incident ", e.incident, ", which has ended."));
      }
      if (holder[*slot] != 0) {
        return Invalid(absl::StrCat("unit ", e.unit, " is held by both assignment ", holder[*slot],
                                    " and ", e.id, "."));
      }
      holder[*slot] = e.id;
    }
    // A pending deadline must be a real time: an infinite one would never fire (found by
    // fuzz_snapshot).
    if ((e.status == AssignmentStatus::kPending &&
         (e.ack_deadline == absl::InfiniteFuture() || e.ack_deadline == absl::InfinitePast())) ||
        (e.status == AssignmentStatus::kAcked && (e.arrival_deadline == absl::InfiniteFuture() ||
                                                  e.arrival_deadline == absl::InfinitePast()))) {
      return Invalid(absl::StrCat(name, " has a deadline that is not a finite time."));
    }
    Assignment& a = assignments[e.id];
    a.id = e.id;
    a.incident = e.incident;
    a.unit = e.unit;
    a.slot = *slot;
    a.role = e.role;
    a.status = e.status;
    a.headcount = e.headcount;
    a.eta_s = e.eta_s;
    a.ring = e.ring;
    a.issued_at = e.issued_at;
    a.ack_deadline = e.ack_deadline;
    a.arrival_deadline = e.arrival_deadline;
    a.acked_at = e.acked_at;
    a.arrived_at = e.arrived_at;
    a.ended_at = e.ended_at;
    a.decline_reason = e.decline_reason;
    a.end_reason = e.end_reason;
    incident->second.assignments.push_back(e.id);
  }
  for (Slot slot = 0; slot < state.units.size(); ++slot) {
    const bool assigned = state.units[slot].status == UnitStatus::kAssigned;
    if (assigned != (holder[slot] != 0)) {
      return Invalid(absl::StrCat("unit ", state.units[slot].id,
                                  assigned ? " is assigned but no active assignment holds it."
                                           : " is held by an active assignment but not assigned."));
    }
  }

  // Escalation steps: one per open incident at most, due exactly when its plan says.
  absl::btree_set<std::pair<absl::Time, IncidentId>> escalations_due;
  absl::flat_hash_set<IncidentId> escalating;
  for (const auto& [at, id] : state.escalations_due) {
    auto it = incidents.find(id);
    if (it == incidents.end() || !IsOpen(it->second.state)) {
      return Invalid(absl::StrCat("an escalation step is due for incident ", id,
                                  ", which is unknown or has ended."));
    }
    if (NextStepAt(it->second) != at || !escalating.insert(id).second) {
      return Invalid(absl::StrCat("the escalation step due for incident ", id,
                                  " does not match its run card."));
    }
    escalations_due.insert({at, id});
  }

  // Alert answers, oldest first.
  absl::flat_hash_map<AlertKey, AlertAnswer> answers;
  std::deque<std::pair<absl::Time, AlertKey>> answer_expiry;
  for (const CoreState::AlertAnswerEntry& e : state.alert_answers) {
    const std::string name =
        absl::StrCat("the answer to alert ", e.reporter_id, "/", e.client_sequence);
    if (!IsFinite(e.at) || e.at > state.now ||
        (!answer_expiry.empty() && e.at < answer_expiry.back().first)) {
      return Invalid(absl::StrCat(name, " is out of time order."));
    }
    if (Value(e.reason) >= kRejectReasonCount || (e.accepted && !incidents.contains(e.incident))) {
      return Invalid(absl::StrCat(name, " names an unknown incident or reason."));
    }
    AlertKey key{e.reporter_id, e.client_sequence};
    if (!answers.emplace(key, AlertAnswer{e.accepted, e.incident, e.merged, e.reason, e.message})
             .second) {
      return Invalid(absl::StrCat(name, " appears twice."));
    }
    answer_expiry.emplace_back(e.at, std::move(key));
  }

  // Everything checked: nothing below can fail.
  DerivedIndexes derived = BuildIndexes(incidents, assignments, units_->size());
  now_ = state.now;
  next_incident_id_ = state.next_incident_id;
  next_assignment_id_ = state.next_assignment_id;
  incidents_ = std::move(incidents);
  assignments_ = std::move(assignments);
  open_ = std::move(derived.open);
  RebuildMergeIndex();
  holder_ = std::move(derived.holder);
  deadlines_ = std::move(derived.deadlines);
  short_.Clear();
  for (const auto& rank : derived.short_set) short_.Insert(rank, incidents_.at(rank.second).plane);
  escalations_due_ = std::move(escalations_due);
  answers_ = std::move(answers);
  ReserveAnswers();
  answer_expiry_ = std::move(answer_expiry);
  stats_ = state.stats;
  outbox_.clear();
  freed_.clear();
  for (Slot slot = 0; slot < state.units.size(); ++slot) {
    const CoreState::UnitEntry& u = state.units[slot];
    units_->SetStatus(slot, u.status);
    units_->SetOnPost(slot, u.on_post);
    // Only a unit that moved touches the R-tree.
    if (!(units_->unit(slot).position == u.position)) units_->MoveTo(slot, u.position);
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Self-check.

absl::Status DispatchCore::CheckDerivedState() const {
  auto differs = [](absl::string_view what) {
    return absl::InternalError(
        absl::StrCat("DispatchCore's ", what, " differs from what its records imply."));
  };
  const DerivedIndexes derived = BuildIndexes(incidents_, assignments_, units_->size());
  if (derived.open != open_) return differs("open incident set");
  if (derived.holder != holder_) return differs("unit holder table");
  if (derived.deadlines != deadlines_) return differs("deadline set");
  if (derived.short_set != short_.ranks()) return differs("short incident set");
  absl::flat_hash_map<MergeCell, std::vector<MergeEntry>> merge_cells;
  for (IncidentId id : open_) {
    const Incident& inc = incidents_.at(id);
    merge_cells[MergeCellOf(inc.plane)].push_back({id, inc.plane, inc.category, inc.opened_at});
  }
  if (merge_cells != merge_cells_) return differs("merge index");
  for (Slot slot = 0; slot < units_->size(); ++slot) {
    const Unit& u = units_->unit(slot);
    if ((u.status == UnitStatus::kAssigned) != (holder_[slot] != 0)) {
      return differs(absl::StrCat("status of unit ", u.id));
    }
    if (units_->Offerable(slot) != (u.status == UnitStatus::kAvailable && u.on_post > 0)) {
      return differs(absl::StrCat("offerable flag of unit ", u.id));
    }
    if (!(units_->index().position(slot) == units_->projection().ToPlane(u.position))) {
      return differs(absl::StrCat("index position of unit ", u.id));
    }
  }
  absl::btree_map<IncidentId, std::vector<AssignmentId>> lists;
  for (const auto& [id, a] : assignments_) {
    if (units_->SlotOf(a.unit) != a.slot) return differs(absl::StrCat("slot of assignment ", id));
    lists[a.incident].push_back(id);
  }
  for (const auto& [id, inc] : incidents_) {
    auto it = lists.find(id);
    const std::vector<AssignmentId> none;
    if (inc.assignments != (it == lists.end() ? none : it->second)) {
      return differs(absl::StrCat("assignment list of incident ", id));
    }
    if (inc.plan != config_.FindPlan(inc.category, inc.level)) {
      return differs(absl::StrCat("run card of incident ", id));
    }
    if (!(inc.plane == units_->projection().ToPlane(inc.position))) {
      return differs(absl::StrCat("plane position of incident ", id));
    }
  }
  absl::flat_hash_set<IncidentId> escalating;
  for (const auto& [at, id] : escalations_due_) {
    auto it = incidents_.find(id);
    if (it == incidents_.end() || !IsOpen(it->second.state) || NextStepAt(it->second) != at ||
        !escalating.insert(id).second) {
      return differs(absl::StrCat("escalation schedule of incident ", id));
    }
  }
  if (answer_expiry_.size() != answers_.size()) return differs("alert answer expiry queue");
  for (const auto& [at, key] : answer_expiry_) {
    if (!answers_.contains(key)) return differs("alert answer expiry queue");
  }
  return absl::OkStatus();
}

}  // namespace gz
