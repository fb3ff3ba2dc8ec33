#include "engine/dispatch/dispatch_core.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gz {
namespace {

bool ValidLonLat(LonLat p) {
  return std::isfinite(p.lon) && std::isfinite(p.lat) && p.lon >= -180 && p.lon <= 180 &&
         p.lat >= -90 && p.lat <= 90;
}

std::string Seconds(absl::Duration d) { return absl::StrCat(absl::ToInt64Seconds(d), " s"); }

}  // namespace

absl::StatusOr<std::unique_ptr<DispatchCore>> DispatchCore::Create(
    DispatchConfig config, const DistrictMap* map, std::unique_ptr<UnitRegistry> units,
    absl::Time start) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (map == nullptr || units == nullptr) {
    return absl::InvalidArgumentError("DispatchCore needs a district map and a unit registry");
  }
  return std::unique_ptr<DispatchCore>(
      new DispatchCore(std::move(config), map, std::move(units), start));
}

DispatchCore::DispatchCore(DispatchConfig config, const DistrictMap* map,
                           std::unique_ptr<UnitRegistry> units, absl::Time start)
    : config_(std::move(config)),
      map_(map),
      units_(std::move(units)),
      now_(start),
      holder_(units_->size(), 0) {
  // A unit loaded as assigned has no incident to belong to; it starts available.
  for (Slot s = 0; s < units_->size(); ++s) {
    if (units_->unit(s).status == UnitStatus::kAssigned) {
      units_->SetStatus(s, UnitStatus::kAvailable);
    }
  }
}

void DispatchCore::Apply(const Command& command, std::vector<Event>* events) {
  assert(!applying_ && "DispatchCore::Apply is not re-entrant");
  applying_ = true;
  outbox_.clear();
  freed_.clear();
  ++stats_.commands;
  AdvanceTo(std::max(now_, command.at));
  std::visit([this](const auto& body) { Handle(body); }, command.body);
  RefillShortIncidents();
  events->insert(events->end(), std::make_move_iterator(outbox_.begin()),
                 std::make_move_iterator(outbox_.end()));
  outbox_.clear();
  applying_ = false;
}

std::optional<absl::Time> DispatchCore::NextDeadline() const {
  std::optional<absl::Time> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (!escalations_due_.empty()) {
    const absl::Time t = escalations_due_.begin()->first;
    if (!next || t < *next) next = t;
  }
  return next;
}

const Incident* DispatchCore::FindIncident(IncidentId id) const {
  auto it = incidents_.find(id);
  return it == incidents_.end() ? nullptr : &it->second;
}

const Assignment* DispatchCore::FindAssignment(AssignmentId id) const {
  auto it = assignments_.find(id);
  return it == assignments_.end() ? nullptr : &it->second;
}

const Assignment* DispatchCore::ActiveAssignmentOf(UnitId unit) const {
  const std::optional<Slot> slot = units_->SlotOf(unit);
  if (!slot || holder_[*slot] == 0) return nullptr;
  return FindAssignment(holder_[*slot]);
}

void DispatchCore::AdvanceTo(absl::Time t) {
  // Deadlines and escalation steps fire in time order, each at its own time; at equal times
  // assignment deadlines go first (they may change what an escalation step sees).
  for (;;) {
    const bool have_deadline = !deadlines_.empty() && deadlines_.begin()->first <= t;
    const bool have_step = !escalations_due_.empty() && escalations_due_.begin()->first <= t;
    if (!have_deadline && !have_step) break;
    if (have_deadline &&
        (!have_step || deadlines_.begin()->first <= escalations_due_.begin()->first)) {
      const auto [when, id] = *deadlines_.begin();
      now_ = std::max(now_, when);
      ExpireAssignment(id);
    } else {
      const auto [when, id] = *escalations_due_.begin();
      escalations_due_.erase(escalations_due_.begin());
      now_ = std::max(now_, when);
      FireEscalations(id);
    }
    RefillShortIncidents();
  }
  now_ = std::max(now_, t);
  while (!answer_expiry_.empty() &&
         answer_expiry_.front().first + config_.idempotency_window < now_) {
    answers_.erase(answer_expiry_.front().second);
    answer_expiry_.pop_front();
  }
}

void DispatchCore::Reject(RejectReason reason, std::string message, UnitId unit,
                          IncidentId incident, AssignmentId assignment) {
  ++stats_.commands_rejected;
  ++stats_.rejected_by_reason[static_cast<size_t>(reason)];
  Emit(CommandRejected{reason, std::move(message), unit, incident, assignment});
}

Incident* DispatchCore::IncidentOrReject(IncidentId id) {
  auto it = incidents_.find(id);
  if (it != incidents_.end()) return &it->second;
  Reject(RejectReason::kUnknownIncident, absl::StrCat("No incident ", id, "."), 0, id, 0);
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// 一點呼叫: alert intake.

std::optional<std::pair<RejectReason, std::string>> DispatchCore::ValidateAlert(
    const RaiseAlert& c, const District* district) const {
  if (!ValidLonLat(c.position)) {
    return std::pair{RejectReason::kInvalidCoordinates,
                     absl::StrFormat("Position (%g, %g) is not a valid WGS84 longitude/latitude.",
                                     c.position.lon, c.position.lat)};
  }
  const auto category = static_cast<int>(c.category);
  if (category <= 0 || category >= kCategoryCount) {
    return std::pair{RejectReason::kUnknownCategory,
                     absl::StrCat("Category ", category, " is not a known incident category.")};
  }
  const auto level = static_cast<int>(c.level);
  if (level <= 0 || level >= kLevelCount) {
    return std::pair{RejectReason::kInvalidLevel,
                     absl::StrCat("Level ", level, " is not one of IV (1) to I (4).")};
  }
  if (config_.FindPlan(c.category, c.level) == nullptr) {
    return std::pair{RejectReason::kUnknownCategory,
                     absl::StrCat("No response plan exists for ", CategoryName(c.category),
                                  " at level ", LevelName(c.level), ".")};
  }
  if (district == nullptr) {
    return std::pair{RejectReason::kOutsideServiceArea,
                     absl::StrFormat("Position (%.6f, %.6f) is outside Guangzhou's 11 districts.",
                                     c.position.lon, c.position.lat)};
  }
  return std::nullopt;
}

DispatchCore::MergeCell DispatchCore::MergeCellOf(PlanePoint p) const {
  const double side = std::max(config_.merge_radius_m, 1.0);
  return {static_cast<int64_t>(std::floor(p.x / side)),
          static_cast<int64_t>(std::floor(p.y / side))};
}

void DispatchCore::IndexForMerge(const Incident& incident) {
  merge_cells_[MergeCellOf(incident.plane)].push_back(
      MergeEntry{incident.id, incident.plane, incident.category, incident.opened_at});
}

void DispatchCore::UnindexForMerge(const Incident& incident) {
  auto it = merge_cells_.find(MergeCellOf(incident.plane));
  if (it == merge_cells_.end()) return;
  std::vector<MergeEntry>& entries = it->second;
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const MergeEntry& e) { return e.id == incident.id; }),
                entries.end());
  if (entries.empty()) merge_cells_.erase(it);
}

void DispatchCore::RebuildMergeIndex() {
  merge_cells_.clear();
  for (IncidentId id : open_) IndexForMerge(incidents_.at(id));
}

Incident* DispatchCore::FindMergeTarget(Category category, PlanePoint plane) {
  // Anything within merge_radius_m lies in the 3 x 3 cells around the alert's own.
  const MergeEntry* best = nullptr;
  double best_distance = 0;
  const auto [cx, cy] = MergeCellOf(plane);
  for (int64_t x = cx - 1; x <= cx + 1; ++x) {
    for (int64_t y = cy - 1; y <= cy + 1; ++y) {
      auto cell = merge_cells_.find(MergeCell{x, y});
      if (cell == merge_cells_.end()) continue;
      for (const MergeEntry& e : cell->second) {
        if (e.category != category || e.opened_at + config_.merge_window < now_) continue;
        const double d = Distance(e.plane, plane);
        if (d > config_.merge_radius_m) continue;
        // The nearest; on a tie the oldest (lowest id), as a scan in id order would choose.
        if (best == nullptr || d < best_distance || (d == best_distance && e.id < best->id)) {
          best = &e;
          best_distance = d;
        }
      }
    }
  }
  return best == nullptr ? nullptr : &incidents_.at(best->id);
}

void DispatchCore::ReserveAnswers() {
  // Growing the table towards the cap under an alert flood rehashed, and first touched the pages
  // of, everything remembered so far: 40 and 130 ms stalls of the engine (overload_bench). Sized
  // for the cap once instead, while that is a thousand entries. Not at construction: the 1M-slot
  // table cost every short-lived core (tests, fuzzing) milliseconds.
  // (reserve() is a comparison once the table is that large.)
  if (answers_.size() >= kAnswersReserveAt &&
      config_.max_remembered_alerts > static_cast<int64_t>(kAnswersReserveAt)) {
    answers_.reserve(static_cast<size_t>(config_.max_remembered_alerts));
  }
}

void DispatchCore::Remember(const RaiseAlert& c, AlertAnswer answer) {
  AlertKey key{c.reporter_id, c.client_sequence};
  answer_expiry_.emplace_back(now_, key);
  answers_.emplace(std::move(key), std::move(answer));
  ReserveAnswers();
  while (static_cast<int64_t>(answers_.size()) > config_.max_remembered_alerts) {
    answers_.erase(answer_expiry_.front().second);
    answer_expiry_.pop_front();
  }
}

void DispatchCore::Handle(const RaiseAlert& c) {
  if (auto it = answers_.find(AlertKey{c.reporter_id, c.client_sequence}); it != answers_.end()) {
    const AlertAnswer& a = it->second;
    ++stats_.alerts_duplicate;
    if (a.accepted) {
      Emit(AlertAccepted{c.reporter_id, c.client_sequence, a.incident, a.merged, true});
    } else {
      Emit(AlertRejected{c.reporter_id, c.client_sequence, a.reason, a.message, true});
    }
    return;
  }

  const PlanePoint plane = units_->projection().ToPlane(c.position);
  // The one polygon test of the alert: it is both the service-area check and the district.
  const District* district = ValidLonLat(c.position) ? map_->DistrictAt(plane) : nullptr;
  if (auto rejection = ValidateAlert(c, district)) {
    ++stats_.alerts_rejected;
    ++stats_.rejected_by_reason[static_cast<size_t>(rejection->first)];
    Remember(c, AlertAnswer{false, 0, false, rejection->first, rejection->second});
    Emit(AlertRejected{c.reporter_id, c.client_sequence, rejection->first,
                       std::move(rejection->second), false});
    return;
  }

  if (Incident* target = FindMergeTarget(c.category, plane)) {
    ++target->reports;
    ++stats_.alerts_merged;
    Remember(c, AlertAnswer{true, target->id, true, RejectReason::kUnspecified, ""});
    Emit(AlertAccepted{c.reporter_id, c.client_sequence, target->id, true, false});
    const bool upgrade = c.level > target->level;
    Emit(IncidentMerged{target->id, target->reports, upgrade ? c.level : target->level});
    if (upgrade) Upgrade(*target, c.level);
    return;
  }

  const int64_t limit = config_.max_open_incidents[static_cast<int>(c.level)];
  if (static_cast<int64_t>(open_.size()) >= limit) {
    // Not remembered: a retry with the same key is decided afresh, when incidents may have ended.
    ++stats_.alerts_rejected;
    ++stats_.rejected_by_reason[static_cast<size_t>(RejectReason::kBusy)];
    Emit(AlertRejected{c.reporter_id, c.client_sequence, RejectReason::kBusy,
                       absl::StrCat(open_.size(), " incidents are open, at the limit of ", limit,
                                    " for a new level-", LevelName(c.level),
                                    " incident; it was not opened. Send it again with the same "
                                    "client_sequence."),
                       false});
    return;
  }

  const IncidentId id = next_incident_id_++;
  Incident& inc = incidents_[id];
  inc.id = id;
  inc.category = c.category;
  inc.level = c.level;
  inc.position = c.position;
  inc.plane = plane;
  inc.district = district->code;
  inc.zone = map_->ZoneIn(*district, plane).value_or(0);
  inc.opened_at = now_;
  inc.plan = config_.FindPlan(c.category, c.level);
  inc.timeline.push_back({now_, IncidentState::kReported});
  for (size_t r = 0; r < config_.rings.size(); ++r) {
    if (config_.rings[r] == inc.plan->frontline_ring) inc.frontline_ring = static_cast<int>(r);
    if (config_.rings[r] == inc.plan->assembly_ring) inc.assembly_ring = static_cast<int>(r);
  }
  open_.insert(id);
  IndexForMerge(inc);
  ++stats_.alerts_accepted;
  Remember(c, AlertAnswer{true, id, false, RejectReason::kUnspecified, ""});
  Emit(AlertAccepted{c.reporter_id, c.client_sequence, id, false, false});
  Emit(IncidentOpened{id, c.position, c.category, c.level, inc.district, inc.zone});

  Fill(inc);
  ScheduleEscalation(inc);
  // Steps due at once (after = 0) fire now, after the first assignments went out.
  if (!escalations_due_.empty() && escalations_due_.begin()->first <= now_) AdvanceTo(now_);
}

void DispatchCore::Upgrade(Incident& inc, Level level) {
  // A more severe report of the same incident: switch to that level's run card. Rings only widen,
  // and the escalation steps start over relative to the opening (steps already due fire now).
  UnscheduleEscalation(inc);
  short_.Erase(ShortRank(inc), inc.plane);
  inc.level = level;
  inc.plan = config_.FindPlan(inc.category, level);
  for (size_t r = 0; r < config_.rings.size(); ++r) {
    const int ring = static_cast<int>(r);
    if (config_.rings[r] == inc.plan->frontline_ring) {
      inc.frontline_ring = std::max(inc.frontline_ring, ring);
    }
    if (config_.rings[r] == inc.plan->assembly_ring) {
      inc.assembly_ring = std::max(inc.assembly_ring, ring);
    }
  }
  inc.short_reported = false;
  inc.next_escalation = 0;
  Fill(inc);
  ScheduleEscalation(inc);
  if (!escalations_due_.empty() && escalations_due_.begin()->first <= now_) AdvanceTo(now_);
}

// ---------------------------------------------------------------------------------------------
// 一線響應 and 一片集結: filling an incident's plan from the pool.

void DispatchCore::Fill(Incident& inc) {
  if (!IsOpen(inc.state)) return;
  // The state change (reported/escalated -> dispatched) is reported before the assignments that
  // caused it, so a reader of the feed sees the incident dispatched, then by whom.
  const size_t first_event = outbox_.size();
  const int frontline_short = FillFrontline(inc);
  const int headcount_short = FillAssembly(inc);

  bool any_active = false;
  int frontline_active = 0;
  int headcount_active = 0;
  for (AssignmentId aid : inc.assignments) {
    const Assignment& a = assignments_.at(aid);
    if (!IsActive(a.status)) continue;
    any_active = true;
    headcount_active += a.headcount;
    if (a.role == AssignmentRole::kFrontline) ++frontline_active;
  }
  const bool issued = outbox_.size() > first_event;
  if (any_active && issued &&
      (inc.state == IncidentState::kReported || inc.state == IncidentState::kEscalated)) {
    const IncidentState from = inc.state;
    inc.state = IncidentState::kDispatched;
    inc.timeline.push_back({now_, IncidentState::kDispatched});
    outbox_.insert(outbox_.begin() + static_cast<std::ptrdiff_t>(first_event),
                   Event{now_, IncidentStateChanged{inc.id, from, IncidentState::kDispatched}});
  }

  const bool is_short = frontline_short > 0 || headcount_short > 0;
  if (!is_short) {
    short_.Erase(ShortRank(inc), inc.plane);
    inc.short_reported = false;
    return;
  }
  short_.Insert(ShortRank(inc), inc.plane);
  if (!inc.short_reported) {
    // Every ring is exhausted: the plan cannot be met from the units alone.
    inc.short_reported = true;
    ++stats_.incidents_short;
    if (!any_active && IsLegalTransition(inc.state, IncidentState::kEscalated)) {
      TransitionTo(inc, IncidentState::kEscalated);
    }
    Emit(IncidentShort{inc.id, inc.plan->frontline_units, frontline_active,
                       inc.plan->assembly_headcount, headcount_active});
    if (!inc.professional_forces_notified) {
      Notify(inc, NotifyTarget::kProfessionalForces,
             absl::StrCat("every response ring up to ", Seconds(config_.rings.back()),
                          " is exhausted"));
    }
  } else if (!any_active && IsLegalTransition(inc.state, IncidentState::kEscalated)) {
    TransitionTo(inc, IncidentState::kEscalated);
  }
}

int DispatchCore::FillFrontline(Incident& inc) {
  int active = 0;
  for (AssignmentId aid : inc.assignments) {
    const Assignment& a = assignments_.at(aid);
    if (a.role == AssignmentRole::kFrontline && IsActive(a.status)) ++active;
  }
  int need = inc.plan->frontline_units - active;
  const auto eligible = [&](Slot s) { return units_->Offerable(s) && !inc.tried.contains(s); };
  std::vector<Candidate> found;
  while (need > 0) {
    const absl::Duration ring = config_.rings[inc.frontline_ring];
    units_->NearestOfferable(inc.plane, need, absl::ToDoubleSeconds(ring), eligible, &found);
    for (const Candidate& c : found) Issue(inc, c, AssignmentRole::kFrontline, ring);
    need -= static_cast<int>(found.size());
    if (need <= 0) break;
    if (inc.frontline_ring + 1 >= static_cast<int>(config_.rings.size())) break;
    ++inc.frontline_ring;
    ++stats_.ring_widenings;
    Emit(RingWidened{inc.id, AssignmentRole::kFrontline, ring, config_.rings[inc.frontline_ring]});
  }
  return std::max(need, 0);
}

int DispatchCore::FillAssembly(Incident& inc) {
  const int target = inc.plan->assembly_headcount;
  int assigned = 0;
  for (AssignmentId aid : inc.assignments) {
    const Assignment& a = assignments_.at(aid);
    if (IsActive(a.status)) assigned += a.headcount;
  }
  const bool zone_only = inc.plan->assembly_zone_only;
  const auto eligible = [&](Slot s) {
    return units_->Offerable(s) && !inc.tried.contains(s) &&
           (!zone_only || units_->unit(s).zone == inc.zone);
  };
  std::vector<Candidate> found;
  while (assigned < target) {
    const absl::Duration ring = config_.rings[inc.assembly_ring];
    // Every offerable unit has at least one person on post, so `remaining` units always suffice.
    const int remaining = target - assigned;
    units_->NearestOfferable(inc.plane, remaining, absl::ToDoubleSeconds(ring), eligible, &found);
    for (const Candidate& c : found) {
      if (assigned >= target) break;
      assigned += units_->unit(c.slot).on_post;
      Issue(inc, c, AssignmentRole::kAssembly, ring);
    }
    if (assigned >= target) break;
    if (inc.assembly_ring + 1 >= static_cast<int>(config_.rings.size())) break;
    ++inc.assembly_ring;
    ++stats_.ring_widenings;
    Emit(RingWidened{inc.id, AssignmentRole::kAssembly, ring, config_.rings[inc.assembly_ring]});
  }
  return std::max(target - assigned, 0);
}

void DispatchCore::Issue(Incident& inc, const Candidate& candidate, AssignmentRole role,
                         absl::Duration ring) {
  const Unit& unit = units_->unit(candidate.slot);
  const AssignmentId id = next_assignment_id_++;
  Assignment& a = assignments_[id];
  a.id = id;
  a.incident = inc.id;
  a.unit = unit.id;
  a.slot = candidate.slot;
  a.role = role;
  a.headcount = unit.on_post;
  a.eta_s = candidate.travel_s;
  a.ring = ring;
  a.issued_at = now_;
  a.ack_deadline = now_ + inc.plan->ack_deadline;
  units_->SetStatus(candidate.slot, UnitStatus::kAssigned);
  holder_[candidate.slot] = id;
  inc.tried.insert(candidate.slot);
  inc.assignments.push_back(id);
  deadlines_.insert({a.ack_deadline, id});
  ++stats_.assignments_issued;
  Emit(AssignmentIssued{id, inc.id, unit.id, role, a.headcount, candidate.distance_m,
                        candidate.travel_s, ring, a.ack_deadline});
}

void DispatchCore::EndAssignment(Assignment& a, AssignmentStatus status, CascadeReason reason) {
  if (const std::optional<absl::Time> deadline = PendingDeadline(a))
    deadlines_.erase({*deadline, a.id});
  a.status = status;
  a.end_reason = reason;
  a.ended_at = now_;
  holder_[a.slot] = 0;
  units_->SetStatus(a.slot, UnitStatus::kAvailable);
  freed_.push_back(a.slot);
}

void DispatchCore::ExpireAssignment(AssignmentId id) {
  Assignment& a = assignments_.at(id);
  const IncidentId incident = a.incident;
  const CascadeReason reason = a.status == AssignmentStatus::kPending
                                   ? CascadeReason::kAckTimeout
                                   : CascadeReason::kArrivalTimeout;
  EndAssignment(a, AssignmentStatus::kExpired, reason);
  ++stats_.assignments_expired;
  Emit(AssignmentExpired{a.id, incident, a.unit, reason});
  Fill(incidents_.at(incident));
}

void DispatchCore::RefillShortIncidents() {
  // A freed unit may be what a short incident elsewhere was waiting for: offer the freed units to
  // the short incidents that could reach them, most severe first. Every other offerable unit was
  // already out of reach or tried when each short incident was last filled, so an incident no freed
  // unit can reach would gain nothing from a search.
  const double widest_ring_s = absl::ToDoubleSeconds(config_.rings.back());
  const GeoIndex& index = units_->index();
  const TravelModel& travel = index.travel();
  std::vector<Slot> freed;
  std::vector<ShortIncidentIndex::Square> reach;
  while (!freed_.empty()) {
    freed.swap(freed_);
    freed_.clear();
    if (short_.empty()) continue;
    std::sort(freed.begin(), freed.end());
    freed.erase(std::unique(freed.begin(), freed.end()), freed.end());
    reach.clear();
    for (Slot s : freed) {
      reach.push_back({index.position(s), travel.ReachMetres(widest_ring_s, units_->unit(s).mode)});
    }
    short_.VisitNear(reach, [&](ShortIncidentIndex::Rank rank) {
      Incident& inc = incidents_.at(rank.second);
      bool any_offerable = false;
      for (Slot s : freed) {
        if (!units_->Offerable(s)) continue;
        any_offerable = true;
        if (inc.tried.contains(s)) continue;
        const double travel_s =
            travel.TravelSeconds(Distance(index.position(s), inc.plane), units_->unit(s).mode);
        if (travel_s <= widest_ring_s) {
          Fill(inc);
          break;
        }
      }
      return any_offerable;  // once every freed unit is taken, nobody else can gain
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Escalation.

void DispatchCore::ScheduleEscalation(const Incident& inc) {
  if (inc.next_escalation < inc.plan->escalation.size()) {
    escalations_due_.insert(
        {inc.opened_at + inc.plan->escalation[inc.next_escalation].after, inc.id});
  }
}

void DispatchCore::UnscheduleEscalation(const Incident& inc) {
  if (inc.next_escalation < inc.plan->escalation.size()) {
    escalations_due_.erase(
        {inc.opened_at + inc.plan->escalation[inc.next_escalation].after, inc.id});
  }
}

void DispatchCore::FireEscalations(IncidentId id) {
  Incident& inc = incidents_.at(id);
  // Steps stop once someone is on scene or the incident has ended.
  if (!IsOpen(inc.state) || inc.state == IncidentState::kOnScene) return;
  const auto& steps = inc.plan->escalation;
  while (inc.next_escalation < steps.size() &&
         inc.opened_at + steps[inc.next_escalation].after <= now_) {
    const EscalationStep& step = steps[inc.next_escalation++];
    Notify(inc, step.notify,
           step.after == absl::ZeroDuration()
               ? absl::StrCat("level ", LevelName(inc.level), " ", CategoryName(inc.category),
                              " plan notifies at once")
               : absl::StrCat("no unit on scene ", Seconds(step.after), " after the alert"));
  }
  ScheduleEscalation(inc);
}

void DispatchCore::Notify(Incident& inc, NotifyTarget target, std::string why) {
  if (target == NotifyTarget::kProfessionalForces) {
    if (inc.professional_forces_notified) return;
    inc.professional_forces_notified = true;
  }
  ++stats_.escalations;
  Emit(EscalationNotified{inc.id, target, std::move(why)});
}

// ---------------------------------------------------------------------------------------------
// Lifecycle.

void DispatchCore::TransitionTo(Incident& inc, IncidentState to) {
  assert(IsLegalTransition(inc.state, to));
  const IncidentState from = inc.state;
  inc.state = to;
  inc.timeline.push_back({now_, to});
  Emit(IncidentStateChanged{inc.id, from, to});
}

void DispatchCore::EndIncident(Incident& inc, IncidentState to) {
  TransitionTo(inc, to);
  for (AssignmentId aid : inc.assignments) {
    Assignment& a = assignments_.at(aid);
    if (!IsActive(a.status)) continue;
    EndAssignment(a, AssignmentStatus::kReleased, CascadeReason::kIncidentEnded);
    ++stats_.assignments_released;
    Emit(AssignmentReleased{a.id, a.incident, a.unit, CascadeReason::kIncidentEnded});
  }
  UnscheduleEscalation(inc);
  short_.Erase(ShortRank(inc), inc.plane);
  open_.erase(inc.id);
  UnindexForMerge(inc);
}

void DispatchCore::Handle(const ResolveIncident& c) {
  Incident* inc = IncidentOrReject(c.incident);
  if (inc == nullptr) return;
  if (!IsLegalTransition(inc->state, IncidentState::kResolved)) {
    return Reject(RejectReason::kIllegalTransition,
                  absl::StrCat("Incident ", inc->id, " is ", IncidentStateName(inc->state),
                               " and cannot be resolved."),
                  0, inc->id, 0);
  }
  EndIncident(*inc, IncidentState::kResolved);
}

void DispatchCore::Handle(const CancelIncident& c) {
  Incident* inc = IncidentOrReject(c.incident);
  if (inc == nullptr) return;
  if (!IsLegalTransition(inc->state, IncidentState::kCancelled)) {
    return Reject(RejectReason::kIllegalTransition,
                  absl::StrCat("Incident ", inc->id, " is ", IncidentStateName(inc->state),
                               " and cannot be cancelled."),
                  0, inc->id, 0);
  }
  EndIncident(*inc, IncidentState::kCancelled);
}

void DispatchCore::Handle(const CloseIncident& c) {
  Incident* inc = IncidentOrReject(c.incident);
  if (inc == nullptr) return;
  if (!IsLegalTransition(inc->state, IncidentState::kClosed)) {
    return Reject(RejectReason::kIllegalTransition,
                  absl::StrCat("Incident ", inc->id, " is ", IncidentStateName(inc->state),
                               "; only a resolved or cancelled incident can be closed."),
                  0, inc->id, 0);
  }
  TransitionTo(*inc, IncidentState::kClosed);
}

// ---------------------------------------------------------------------------------------------
// Operator overrides.

void DispatchCore::Handle(const ManualAssign& c) {
  Incident* inc = IncidentOrReject(c.incident);
  if (inc == nullptr) return;
  const std::optional<Slot> slot = units_->SlotOf(c.unit);
  if (!slot) {
    return Reject(RejectReason::kUnknownUnit, absl::StrCat("No unit ", c.unit, "."), c.unit,
                  inc->id, 0);
  }
  if (!IsOpen(inc->state)) {
    return Reject(RejectReason::kIllegalTransition,
                  absl::StrCat("Incident ", inc->id, " is ", IncidentStateName(inc->state),
                               "; units can only be assigned to an open incident."),
                  c.unit, inc->id, 0);
  }
  if (!units_->Offerable(*slot)) {
    const Unit& u = units_->unit(*slot);
    return Reject(RejectReason::kIllegalTransition,
                  absl::StrCat("Unit ", c.unit, " is ", UnitStatusName(u.status), " with ",
                               u.on_post, " on post; only an available unit can be assigned."),
                  c.unit, inc->id, holder_[*slot]);
  }
  if (c.role != AssignmentRole::kFrontline && c.role != AssignmentRole::kAssembly) {
    return Reject(RejectReason::kInvalidValue, "The role must be frontline or assembly.", c.unit,
                  inc->id, 0);
  }
  const PlanePoint at = units_->index().position(*slot);
  const double d = Distance(at, inc->plane);
  const Candidate candidate{*slot, d,
                            units_->index().travel().TravelSeconds(d, units_->unit(*slot).mode)};
  const size_t first_event = outbox_.size();
  Issue(*inc, candidate, c.role, absl::ZeroDuration());
  if (inc->state == IncidentState::kReported || inc->state == IncidentState::kEscalated) {
    const IncidentState from = inc->state;
    inc->state = IncidentState::kDispatched;
    inc->timeline.push_back({now_, IncidentState::kDispatched});
    outbox_.insert(outbox_.begin() + static_cast<std::ptrdiff_t>(first_event),
                   Event{now_, IncidentStateChanged{inc->id, from, IncidentState::kDispatched}});
  }
}

void DispatchCore::Handle(const ReleaseAssignment& c) {
  auto it = assignments_.find(c.assignment);
  if (it == assignments_.end() || !IsActive(it->second.status)) {
    return Reject(RejectReason::kNotAssigned,
                  absl::StrCat("Assignment ", c.assignment, " is not active."), 0, 0, c.assignment);
  }
  Assignment& a = it->second;
  const IncidentId incident = a.incident;
  EndAssignment(a, AssignmentStatus::kReleased, CascadeReason::kReleasedByOperator);
  ++stats_.assignments_released;
  Emit(AssignmentReleased{a.id, incident, a.unit, CascadeReason::kReleasedByOperator});
  // The released unit is not offered to this incident again (it is in `tried`); the plan refills
  // from the others if it is now short.
  Fill(incidents_.at(incident));
}

void DispatchCore::Handle(const SetUnitStatus& c) {
  const std::optional<Slot> slot = units_->SlotOf(c.unit);
  if (!slot) {
    return Reject(RejectReason::kUnknownUnit, absl::StrCat("No unit ", c.unit, "."), c.unit, 0, 0);
  }
  if (c.status == UnitStatus::kAssigned) {
    return Reject(RejectReason::kInvalidValue,
                  "Assigned cannot be set directly; use a manual assignment.", c.unit, 0, 0);
  }
  if (holder_[*slot] != 0) {
    if (c.status == UnitStatus::kAvailable) return;  // already serving; nothing to change
    Assignment& a = assignments_.at(holder_[*slot]);
    const IncidentId incident = a.incident;
    EndAssignment(a, AssignmentStatus::kReleased, CascadeReason::kUnitWithdrawn);
    ++stats_.assignments_released;
    Emit(AssignmentReleased{a.id, incident, a.unit, CascadeReason::kUnitWithdrawn});
    units_->SetStatus(*slot, c.status);
    Fill(incidents_.at(incident));
    return;
  }
  units_->SetStatus(*slot, c.status);
  if (units_->Offerable(*slot)) freed_.push_back(*slot);
}

// ---------------------------------------------------------------------------------------------
// Responders.

Assignment* DispatchCore::HeldAssignment(UnitId unit, AssignmentId id) {
  if (!units_->SlotOf(unit)) {
    Reject(RejectReason::kUnknownUnit, absl::StrCat("No unit ", unit, "."), unit, 0, id);
    return nullptr;
  }
  auto it = assignments_.find(id);
  if (it == assignments_.end() || it->second.unit != unit) {
    Reject(RejectReason::kNotAssigned,
           absl::StrCat("Unit ", unit, " does not hold assignment ", id, "."), unit, 0, id);
    return nullptr;
  }
  Assignment& a = it->second;
  if (!IsActive(a.status)) {
    Reject(RejectReason::kNotAssigned,
           absl::StrCat("Assignment ", id, " of unit ", unit, " has already ended (",
                        CascadeReasonName(a.end_reason), ")."),
           unit, a.incident, id);
    return nullptr;
  }
  return &a;
}

void DispatchCore::Handle(const AckAssignment& c) {
  Assignment* a = HeldAssignment(c.unit, c.assignment);
  if (a == nullptr || a->status != AssignmentStatus::kPending) return;  // a repeated ack: no-op
  deadlines_.erase({a->ack_deadline, a->id});
  a->status = AssignmentStatus::kAcked;
  a->acked_at = now_;
  // Whole seconds: deadlines read cleanly on the feed and in drills.
  a->arrival_deadline =
      now_ + absl::Ceil(absl::Seconds(a->eta_s * config_.arrival_eta_factor), absl::Seconds(1)) +
      config_.arrival_slack;
  deadlines_.insert({a->arrival_deadline, a->id});
  ++stats_.assignments_acked;
  Emit(AssignmentAcked{a->id, a->incident, a->unit});
  Incident& inc = incidents_.at(a->incident);
  if (inc.first_ack_at == absl::InfinitePast()) inc.first_ack_at = now_;
  if (inc.state == IncidentState::kDispatched || inc.state == IncidentState::kEscalated) {
    TransitionTo(inc, IncidentState::kAcknowledged);
  }
}

void DispatchCore::Handle(const DeclineAssignment& c) {
  Assignment* a = HeldAssignment(c.unit, c.assignment);
  if (a == nullptr) return;
  if (a->status == AssignmentStatus::kArrived) {
    return Reject(RejectReason::kIllegalTransition,
                  absl::StrCat("Unit ", c.unit, " is already on scene for assignment ",
                               c.assignment, "; ask the operator to release it."),
                  c.unit, a->incident, a->id);
  }
  const IncidentId incident = a->incident;
  EndAssignment(*a, AssignmentStatus::kDeclined, CascadeReason::kDeclined);
  a->decline_reason = c.reason;
  ++stats_.assignments_declined;
  Emit(AssignmentDeclined{a->id, incident, a->unit, c.reason});
  Fill(incidents_.at(incident));
}

void DispatchCore::Handle(const ReportArrival& c) {
  Assignment* a = HeldAssignment(c.unit, c.assignment);
  if (a == nullptr || a->status == AssignmentStatus::kArrived) return;  // repeated: no-op
  if (a->status == AssignmentStatus::kPending) {
    // Arriving without acknowledging first implies the acknowledgement.
    Handle(AckAssignment{c.unit, c.assignment});
  }
  deadlines_.erase({a->arrival_deadline, a->id});
  a->status = AssignmentStatus::kArrived;
  a->arrived_at = now_;
  ++stats_.arrivals;
  Emit(UnitArrived{a->id, a->incident, a->unit});
  Incident& inc = incidents_.at(a->incident);
  if (inc.first_arrival_at == absl::InfinitePast()) inc.first_arrival_at = now_;
  if (inc.state == IncidentState::kAcknowledged || inc.state == IncidentState::kEscalated) {
    TransitionTo(inc, IncidentState::kOnScene);
  }
  if (!inc.assembly_complete && inc.plan->assembly_headcount > 0) {
    int arrived = 0;
    for (AssignmentId aid : inc.assignments) {
      const Assignment& other = assignments_.at(aid);
      if (other.status == AssignmentStatus::kArrived) arrived += other.headcount;
    }
    if (arrived >= inc.plan->assembly_headcount) {
      inc.assembly_complete = true;
      inc.assembled_at = now_;
      Emit(AssemblyComplete{inc.id, arrived});
    }
  }
}

void DispatchCore::Handle(const UpdateUnit& c) {
  const std::optional<Slot> slot = units_->SlotOf(c.unit);
  if (!slot) {
    return Reject(RejectReason::kUnknownUnit, absl::StrCat("No unit ", c.unit, "."), c.unit, 0, 0);
  }
  // Validate everything before changing anything.
  if (c.status.has_value()) {
    if (*c.status == UnitStatus::kAssigned) {
      return Reject(RejectReason::kInvalidValue,
                    "A unit cannot set itself assigned; only the engine assigns units.", c.unit, 0,
                    0);
    }
    if (holder_[*slot] != 0) {
      return Reject(RejectReason::kInvalidValue,
                    absl::StrCat("Unit ", c.unit, " holds assignment ", holder_[*slot],
                                 "; decline it before changing status."),
                    c.unit, 0, holder_[*slot]);
    }
  }
  if (c.on_post.has_value() &&
      (*c.on_post < 0 || *c.on_post > std::max(units_->unit(*slot).members, 1))) {
    return Reject(RejectReason::kInvalidValue,
                  absl::StrCat("On-post headcount ", *c.on_post, " is outside 0..",
                               std::max(units_->unit(*slot).members, 1), " (the unit's members)."),
                  c.unit, 0, 0);
  }
  if (c.position.has_value() && !ValidLonLat(*c.position)) {
    return Reject(RejectReason::kInvalidCoordinates,
                  "The position is not a valid WGS84 longitude/latitude.", c.unit, 0, 0);
  }
  const bool was_offerable = units_->Offerable(*slot);
  if (c.status.has_value()) units_->SetStatus(*slot, *c.status);
  if (c.on_post.has_value()) units_->SetOnPost(*slot, *c.on_post);
  if (c.position.has_value()) units_->MoveTo(*slot, *c.position);
  if (units_->Offerable(*slot) && (!was_offerable || c.position.has_value())) {
    freed_.push_back(*slot);
  }
  if (c.on_post.has_value() && holder_[*slot] != 0) {
    // The people on post are what assembly counts: keep the assignment's figure current, and look
    // for more people if it dropped.
    Assignment& a = assignments_.at(holder_[*slot]);
    const bool dropped = *c.on_post < a.headcount;
    a.headcount = *c.on_post;
    if (dropped) Fill(incidents_.at(a.incident));
  }
}

}  // namespace gz
