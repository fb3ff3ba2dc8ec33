#include "engine/app/delivery_book.h"

#include <algorithm>

namespace gz {

uint64_t DeliveryBook::NextSequence(UnitId unit) { return ++SessionOf(unit).last_sequence; }

bool DeliveryBook::Queue(UnitId unit, uint64_t sequence, std::string frame,
                         AssignmentId assignment) {
  Session& s = SessionOf(unit);
  s.pending.push_back(Pending{sequence, std::move(frame), assignment, absl::InfinitePast()});
  if (s.pending.size() > max_pending_) {
    s.pending.pop_front();
    ++s.dropped;
    ++dropped_total_;
  }
  with_pending_.insert(unit);
  return s.connected;
}

void DeliveryBook::MarkSent(UnitId unit, uint64_t sequence, absl::Time now) {
  Session& s = SessionOf(unit);
  for (Pending& p : s.pending) {
    if (p.sequence == sequence) p.last_sent = now;
  }
}

void DeliveryBook::Receipt(UnitId unit, uint64_t sequence) {
  auto it = sessions_.find(unit);
  if (it == sessions_.end()) return;
  Session& s = it->second;
  s.receipted = std::max(s.receipted, std::min(sequence, s.last_sequence));
  while (!s.pending.empty() && s.pending.front().sequence <= s.receipted) s.pending.pop_front();
  if (s.pending.empty()) with_pending_.erase(unit);
}

void DeliveryBook::Answered(UnitId unit, AssignmentId assignment) {
  auto it = sessions_.find(unit);
  if (it == sessions_.end() || assignment == 0) return;
  Session& s = it->second;
  // An answer proves the unit has that delivery, so it is no longer resent; later ones still are.
  s.pending.erase(std::remove_if(s.pending.begin(), s.pending.end(),
                                 [&](const Pending& p) { return p.assignment == assignment; }),
                  s.pending.end());
  if (s.pending.empty()) with_pending_.erase(unit);
}

DeliveryBook::HelloResult DeliveryBook::Hello(UnitId unit, const std::string& routing_id,
                                              uint64_t last_seen, absl::Time now) {
  HelloResult result;
  if (auto it = unit_by_routing_id_.find(routing_id);
      it != unit_by_routing_id_.end() && it->second != unit) {
    result.replaced_unit = it->second;
    Disconnect(it->second);
  }
  Session& s = SessionOf(unit);
  if (!s.routing_id.empty() && s.routing_id != routing_id) {
    // The unit's old connection may meanwhile speak for another unit (a reused routing id):
    // that mapping is the other unit's now.
    if (auto old = unit_by_routing_id_.find(s.routing_id);
        old != unit_by_routing_id_.end() && old->second == unit) {
      unit_by_routing_id_.erase(old);
    }
  }
  s.routing_id = routing_id;
  unit_by_routing_id_[routing_id] = unit;
  if (!s.connected) ++connected_;
  s.connected = true;
  s.last_heard = now;
  // What the unit has is receipted; everything after is due at once.
  Receipt(unit, std::min(last_seen, s.last_sequence));
  for (Pending& p : s.pending) p.last_sent = absl::InfinitePast();
  result.last_sequence_sent = s.last_sequence;
  result.resend_from = s.pending.empty() ? s.last_sequence + 1 : s.pending.front().sequence;
  // If the bound dropped deliveries the unit never saw, resend_from jumps past them: the client is
  // told so by Welcome and can warn its user.
  result.resend_from = std::max(result.resend_from, std::min(last_seen, s.last_sequence) + 1);
  return result;
}

void DeliveryBook::Heard(UnitId unit, absl::Time now) {
  auto it = sessions_.find(unit);
  if (it != sessions_.end()) it->second.last_heard = now;
}

void DeliveryBook::Disconnect(UnitId unit) {
  auto it = sessions_.find(unit);
  if (it == sessions_.end() || !it->second.connected) return;
  it->second.connected = false;
  unit_by_routing_id_.erase(it->second.routing_id);
  --connected_;
}

UnitId DeliveryBook::UnitOfRoutingId(const std::string& routing_id) const {
  auto it = unit_by_routing_id_.find(routing_id);
  return it == unit_by_routing_id_.end() ? 0 : it->second;
}

std::vector<DeliveryBook::Send> DeliveryBook::Due(absl::Time now, absl::Duration interval) const {
  std::vector<Send> due;
  for (UnitId unit : with_pending_) {
    const Session& s = sessions_.at(unit);
    if (!s.connected) continue;
    for (const Pending& p : s.pending) {
      if (p.last_sent + interval <= now)
        due.push_back(Send{unit, p.sequence, &s.routing_id, &p.frame});
    }
  }
  return due;
}

std::vector<DeliveryBook::Send> DeliveryBook::PendingFor(UnitId unit) const {
  std::vector<Send> due;
  const Session* s = Find(unit);
  if (s == nullptr || !s->connected) return due;
  for (const Pending& p : s->pending)
    due.push_back(Send{unit, p.sequence, &s->routing_id, &p.frame});
  return due;
}

std::vector<UnitId> DeliveryBook::DisconnectSilent(absl::Time cutoff) {
  std::vector<UnitId> lost;
  for (auto& [unit, s] : sessions_) {
    if (s.connected && s.last_heard < cutoff) lost.push_back(unit);
  }
  std::sort(lost.begin(), lost.end());
  for (UnitId unit : lost) Disconnect(unit);
  return lost;
}

const DeliveryBook::Session* DeliveryBook::Find(UnitId unit) const {
  auto it = sessions_.find(unit);
  return it == sessions_.end() ? nullptr : &it->second;
}

}  // namespace gz
