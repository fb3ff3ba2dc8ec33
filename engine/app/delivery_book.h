// DeliveryBook: reliable delivery to responder units over the responder channel.
//
// Every message for a unit (assignment, release, area broadcast) gets the unit's next delivery
// sequence (1, 2, 3, ... gap-free per unit) and stays pending until the unit receipts it (a
// cumulative DeliveryReceipt) or answers the assignment it carries (ack or decline). While the unit
// is connected, pending deliveries are resent every resend interval; while it is away they wait,
// bounded per unit (the oldest dropped and counted beyond the bound), and a Hello gets every
// pending one after the sequence the unit says it has. A unit is connected from its Hello until it
// is silent for three heartbeat intervals or a send to it fails.
//
// Plain book-keeping: no sockets, no clock (times are passed in). Thread-safety: none.

#ifndef ENGINE_APP_DELIVERY_BOOK_H_
#define ENGINE_APP_DELIVERY_BOOK_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "engine/dispatch/commands.h"

namespace gz {

class DeliveryBook {
 public:
  struct Pending {
    uint64_t sequence = 0;
    std::string frame;            // the serialized envelope, sent as is on every (re)send
    AssignmentId assignment = 0;  // the assignment it carries, 0 if none
    absl::Time last_sent = absl::InfinitePast();
  };

  struct Session {
    std::string routing_id;  // the ROUTER identity of its connection; empty before the first Hello
    bool connected = false;
    absl::Time last_heard = absl::InfinitePast();
    uint64_t last_sequence = 0;   // the newest sequence issued to this unit
    uint64_t receipted = 0;       // everything up to here has been receipted
    std::deque<Pending> pending;  // ascending sequence
    uint64_t dropped = 0;         // pending deliveries dropped for the bound
  };

  struct Send {
    UnitId unit = 0;
    uint64_t sequence = 0;
    const std::string* routing_id = nullptr;
    const std::string* frame = nullptr;
  };

  explicit DeliveryBook(size_t max_pending_per_unit) : max_pending_(max_pending_per_unit) {}

  // Reserves the next sequence for `unit`. The caller encodes the frame with it, then Queue()s it.
  uint64_t NextSequence(UnitId unit);
  // Queues a frame; returns true if the unit is connected (the caller sends it now and calls
  // MarkSent). Drops the oldest pending delivery beyond the bound.
  bool Queue(UnitId unit, uint64_t sequence, std::string frame, AssignmentId assignment);
  void MarkSent(UnitId unit, uint64_t sequence, absl::Time now);

  // The unit has everything up to and including `sequence`.
  void Receipt(UnitId unit, uint64_t sequence);
  // The unit answered (acked or declined) `assignment`: stop resending the delivery that carries
  // it.
  void Answered(UnitId unit, AssignmentId assignment);

  struct HelloResult {
    uint64_t last_sequence_sent = 0;
    uint64_t resend_from = 0;  // the first sequence the unit will get again
    UnitId replaced_unit = 0;  // a unit that had this routing id before (now disconnected)
  };
  // A Hello on `routing_id`: the unit is connected; pending deliveries after `last_seen` are due.
  HelloResult Hello(UnitId unit, const std::string& routing_id, uint64_t last_seen, absl::Time now);
  void Heard(UnitId unit, absl::Time now);
  void Disconnect(UnitId unit);
  // The unit whose current connection has this routing id, or 0.
  UnitId UnitOfRoutingId(const std::string& routing_id) const;

  // Pending deliveries of connected units not sent within `interval` (after a Hello: all of them
  // after the unit's last_seen), in unit then sequence order. Valid until the book changes.
  std::vector<Send> Due(absl::Time now, absl::Duration interval) const;
  // Every pending delivery of one connected unit, in sequence order (what a Hello makes due).
  std::vector<Send> PendingFor(UnitId unit) const;
  // Connected units not heard from since `cutoff` are disconnected; returns them.
  std::vector<UnitId> DisconnectSilent(absl::Time cutoff);

  const Session* Find(UnitId unit) const;
  size_t connected() const { return connected_; }
  uint64_t dropped_total() const { return dropped_total_; }

 private:
  Session& SessionOf(UnitId unit) { return sessions_[unit]; }

  size_t max_pending_;
  absl::flat_hash_map<UnitId, Session> sessions_;
  absl::flat_hash_map<std::string, UnitId> unit_by_routing_id_;
  absl::btree_set<UnitId> with_pending_;  // units with pending deliveries, for ordered resends
  size_t connected_ = 0;
  uint64_t dropped_total_ = 0;
};

}  // namespace gz

#endif  // ENGINE_APP_DELIVERY_BOOK_H_
