// The command path of dispatchd without its sockets, for fuzz_commands and its seed corpus.
//
// An input is a sequence of records, each an inbound frame on one channel (or a timer firing) at a
// time that only moves forward. CommandHarness does with each record what DispatchServer does with
// a frame (engine/app/dispatch_server.cc): transport::Decode, the responder session checks of the
// DeliveryBook, transport::AsCommand, DispatchCore::Apply, then every reply, delivery and feed
// frame the server would send, through the real encoders. Where DispatchServer reads the wall clock
// the harness uses the record's time; sockets are replaced by checks on the frames that would go
// out. Keep the two in step when the server's handling of a frame changes. The harness plays a
// server without CURVE authentication: any connection may say Hello for any unit.
//
// After every record the harness checks what must always hold (CheckInvariants), and aborts
// through FUZZ_CHECK when something does not.
//
// Thread-safety: none; one harness per thread.

#ifndef TESTS_FUZZ_COMMAND_HARNESS_H_
#define TESTS_FUZZ_COMMAND_HARNESS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/app/delivery_book.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/transport/codec.h"
#include "engine/transport/metrics.h"
#include "tests/support/grid_world.h"

namespace gz::fuzz {

// ---- The input format.
//
// Each record is a header of two bytes, then for frame records a 16-bit little-endian length and
// that many bytes of frame (fewer if the input ends first):
//
//   byte 0, bits 0-1: what arrives: 0 a frame on the intake channel, 1 on the responder channel,
//                     2 on the operator channel, 3 a timer fires (no length, no frame);
//           bits 2-3: for a responder frame, which of four responder connections it came on (its
//                     ROUTER routing id); for a timer, 0 or 2 the core's deadline timer, 1 or 3
//                     the delivery maintenance tick;
//           bits 4-7: ignored.
//   byte 1: how far the clock moves forward before the record (ClockStep).

enum class RecordKind : uint8_t { kIntake = 0, kResponder = 1, kOperator = 2, kTimer = 3 };

struct Record {
  RecordKind kind = RecordKind::kIntake;
  uint8_t connection = 0;  // 0..3
  uint8_t clock_step = 0;
  std::string frame;  // empty for timers
};

// Byte 1 of a record as a duration: 0-199 seconds as is; 200-254 (b - 199) minutes, which reaches
// the escalation steps and the arrival deadlines; 255 a whole day and an hour, past the alert
// idempotency window.
absl::Duration ClockStep(uint8_t b);
// The shortest byte whose step is at least `d` (saturating at 255).
uint8_t ClockStepByte(absl::Duration d);

// Splits an input into records; never fails (a record cut short takes what is left).
std::vector<Record> ParseRecords(absl::string_view input);
// The inverse, for the seed writer. Frames longer than 65,535 bytes are cut.
std::string SerializeRecords(const std::vector<Record>& records);

// ---- The world.

// The city every input starts from: one district of 800 x 400 m (plus a 1 km margin) in two street
// zones, 16 units of 2 people on post, upper case on foot and lower case on bicycles, 40 m a cell.
// Policy: DispatchConfig::Defaults(), the real rings,
// run cards and escalation steps, so large incidents go short and escalate.
//
//   A.......b.......C...
//   ....................
//   ..d.....E.....f.....
//   ....................
//   G....h..*..I.....j..
//   ....................
//   ..K.....l.....M.....
//   ....................
//   n.......O.......p...
//   ....................
//
// Unit ids are 1..16 in reading order (A = 1, b = 2, ..., p = 16); the seeds raise their alerts at
// the '*'.
std::unique_ptr<testing::GridWorld> MakeFuzzCity();

// ---- The harness.

class CommandHarness {
 public:
  // Deliveries kept per unit while it is away: far below dispatchd's default, so that short
  // inputs reach the bound.
  static constexpr size_t kMaxPendingPerUnit = 4;
  // dispatchd's defaults (engine/config/server_options.h).
  static constexpr int kZoneBroadcastMinLevel = 2;
  static constexpr absl::Duration kHeartbeatInterval = absl::Seconds(2);
  static constexpr absl::Duration kResendInterval = absl::Seconds(1);

  CommandHarness();

  // Moves the clock by the record's step, handles the record as dispatchd would, then checks the
  // invariants.
  void Run(const Record& record);

  // Applies a command read back from the journal as dispatchd's recovery does: at its own time,
  // with no replies or deliveries (those went out before the crash); then checks the invariants.
  void Replay(const Command& command);

  // The core, for restoring a snapshot into it; call SyncClock() after changing it that way.
  DispatchCore& mutable_core() { return world_->core(); }
  // After the core's state was replaced: the shell's clock catches up with the core's.
  void SyncClock();

  const DispatchCore& core() const { return world_->core(); }
  // Every command applied to the core so far, at the time it was applied: what dispatchd
  // journals. For the seed writer.
  const std::vector<Command>& applied() const { return applied_; }
  const testing::GridWorld& world() const { return *world_; }
  absl::Time clock() const { return clock_; }
  // The events the core emitted for the last record.
  const std::vector<Event>& last_events() const { return last_events_; }
  // Everything that would have been sent for the last record (replies, deliveries, feed).
  const std::vector<std::string>& last_frames() const { return last_frames_; }

  // Aborts (FUZZ_CHECK) unless every invariant holds. Run() calls it.
  void CheckInvariants() const;

 private:
  void OnIntake(absl::string_view frame);
  void OnOperator(absl::string_view frame);
  void OnResponder(absl::string_view frame, const std::string& routing_id);
  void OnHello(const transport::Hello& hello, uint64_t in_reply_to, const std::string& routing_id);
  void OnDeadlineTimer();
  void OnMaintenanceTick();

  void AnswerAlert(const RaiseAlert& alert);
  void AnswerCommand(const CommandBody& command, uint64_t in_reply_to);
  std::vector<Event> Apply(const CommandBody& command);
  void Fanout(const std::vector<Event>& events);
  void Deliver(UnitId unit, uint64_t sequence, std::string frame, AssignmentId assignment);
  void Refuse(transport::Channel channel, const transport::DecodeError& error);
  transport::Header NextHeader();

  // Records a frame that would go out, after checking it is an Envelope a client can read.
  void Send(std::string frame);
  // `applied_at`: the time the core applied the command at (the later of its own and the core's).
  void CheckEventsOfCommand(const std::vector<Event>& events, const CommandBody& command,
                            absl::Time applied_at) const;

  std::unique_ptr<testing::GridWorld> world_;
  DeliveryBook deliveries_{kMaxPendingPerUnit};
  absl::btree_set<UnitId> units_with_sessions_;
  absl::btree_set<UnitId> greeted_;  // units that said Hello to this run
  transport::Metrics metrics_;
  absl::Time clock_;
  absl::Time last_event_at_ = absl::InfinitePast();
  uint64_t server_sequence_ = 0;
  uint64_t feed_sequence_ = 0;
  bool after_timer_ = false;  // the last record was the deadline timer
  bool restored_ = false;     // the core's state was replaced, and its timer has not fired since
  absl::Time restored_at_ = absl::InfinitePast();  // the clock of the last state restored
  std::vector<Event> last_events_;
  std::vector<std::string> last_frames_;
  std::vector<Command> applied_;
};

}  // namespace gz::fuzz

#endif  // TESTS_FUZZ_COMMAND_HARNESS_H_
