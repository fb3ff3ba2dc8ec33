#include "tests/fuzz/command_harness.h"

#include <algorithm>
#include <type_traits>
#include <utility>
#include <variant>

#include "absl/strings/str_cat.h"
#include "engine/incidents/lifecycle.h"
#include "protocol/dispatch.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace gz::fuzz {
namespace {

namespace pb = ::gz::dispatch::v1;
using transport::Channel;
using transport::DecodeError;
using transport::Inbound;

// A refusal made by the shell rather than the codec (DispatchServer's Refusal()).
DecodeError Refusal(RejectReason reason, std::string message, uint64_t sequence) {
  DecodeError e;
  e.reason = reason;
  e.message = std::move(message);
  e.sequence = sequence;
  return e;
}

// The unit a responder command speaks for (every responder command names one).
UnitId ClaimedUnit(const CommandBody& command) {
  return std::visit(
      [](const auto& c) -> UnitId {
        if constexpr (requires { c.unit; }) {
          return c.unit;
        } else {
          return 0;
        }
      },
      command);
}

// Parses a frame the server would send; aborts unless a client could read it.
pb::Envelope ParseSent(const std::string& frame) {
  // The protocol's cap holds in both directions; a snapshot part of one huge incident is the only
  // documented exception, and the fuzz city's incidents are far smaller.
  FUZZ_CHECK(frame.size() <= transport::kDefaultMaxFrameBytes, "an outbound frame of ",
             frame.size(), " bytes is over the 64 KiB cap");
  pb::Envelope env;
  FUZZ_CHECK(env.ParseFromString(frame),
             "an outbound frame does not parse as an Envelope (invalid UTF-8 in a string?)");
  FUZZ_CHECK(env.protocol_version() == transport::kProtocolVersion, "outbound version ",
             env.protocol_version());
  FUZZ_CHECK(env.body_case() != pb::Envelope::BODY_NOT_SET, "an outbound frame has no body");
  return env;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Records.

absl::Duration ClockStep(uint8_t b) {
  if (b < 200) return absl::Seconds(b);
  if (b < 255) return absl::Minutes(b - 199);
  return absl::Hours(25);
}

uint8_t ClockStepByte(absl::Duration d) {
  for (int b = 0; b < 255; ++b) {
    if (ClockStep(static_cast<uint8_t>(b)) >= d) return static_cast<uint8_t>(b);
  }
  return 255;
}

std::vector<Record> ParseRecords(absl::string_view input) {
  std::vector<Record> records;
  size_t i = 0;
  auto byte = [&input](size_t at) { return static_cast<uint8_t>(input[at]); };
  while (i + 2 <= input.size()) {  // a lone trailing byte is no record
    Record r;
    r.kind = static_cast<RecordKind>(byte(i) & 3);
    r.connection = (byte(i) >> 2) & 3;
    r.clock_step = byte(i + 1);
    i += 2;
    if (r.kind != RecordKind::kTimer) {
      size_t length = i < input.size() ? byte(i) : 0;
      if (i + 1 < input.size()) length |= static_cast<size_t>(byte(i + 1)) << 8;
      i = std::min(i + 2, input.size());
      length = std::min(length, input.size() - i);
      r.frame = std::string(input.substr(i, length));
      i += length;
    }
    records.push_back(std::move(r));
  }
  return records;
}

std::string SerializeRecords(const std::vector<Record>& records) {
  std::string out;
  for (const Record& r : records) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(r.kind) | (r.connection & 3) << 2));
    out.push_back(static_cast<char>(r.clock_step));
    if (r.kind == RecordKind::kTimer) continue;
    const size_t length = std::min<size_t>(r.frame.size(), 0xffff);
    out.push_back(static_cast<char>(length & 0xff));
    out.push_back(static_cast<char>(length >> 8));
    out.append(r.frame, 0, length);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The world.

std::unique_ptr<testing::GridWorld> MakeFuzzCity() {
  return std::make_unique<testing::GridWorld>(
      std::vector<std::string>{
          "A.......b.......C...",
          "....................",
          "..d.....E.....f.....",
          "....................",
          "G....h..*..I.....j..",
          "....................",
          "..K.....l.....M.....",
          "....................",
          "n.......O.......p...",
          "....................",
      },
      DispatchConfig::Defaults(), /*cell_m=*/40);
}

// ---------------------------------------------------------------------------------------------
// The harness.

CommandHarness::CommandHarness() : world_(MakeFuzzCity()), clock_(world_->start()) {}

void CommandHarness::Run(const Record& record) {
  last_events_.clear();
  last_frames_.clear();
  after_timer_ = false;
  clock_ += ClockStep(record.clock_step);
  switch (record.kind) {
    case RecordKind::kIntake:
      OnIntake(record.frame);
      break;
    case RecordKind::kOperator:
      OnOperator(record.frame);
      break;
    case RecordKind::kResponder:
      OnResponder(record.frame, absl::StrCat("responder-connection-", record.connection));
      break;
    case RecordKind::kTimer:
      if (record.connection % 2 == 0) {
        OnDeadlineTimer();
      } else {
        OnMaintenanceTick();
      }
      break;
  }
  CheckInvariants();
}

transport::Header CommandHarness::NextHeader() {
  return transport::Header{++server_sequence_, clock_};
}

void CommandHarness::Send(std::string frame) {
  ParseSent(frame);
  last_frames_.push_back(std::move(frame));
}

void CommandHarness::Refuse(Channel channel, const DecodeError& error) {
  FUZZ_CHECK(error.reason != RejectReason::kUnspecified, "a refusal without a reason");
  FUZZ_CHECK(!error.message.empty(), "a refusal without a message");
  metrics_.Increment("frames_refused");
  metrics_.Increment(absl::StrCat("frames_refused.", transport::ChannelName(channel), ".",
                                  Describe(error.reason).code));
  std::string reply = transport::EncodeDecodeError(channel, error, NextHeader());
  const pb::Envelope env = ParseSent(reply);
  if (channel == Channel::kIntake) {
    FUZZ_CHECK(env.has_alert_reply() && env.alert_reply().has_rejected(),
               "an intake refusal is not a rejected AlertReply");
  } else {
    FUZZ_CHECK(env.has_command_result() && !env.command_result().ok(),
               "a refusal is not a failed CommandResult");
    FUZZ_CHECK(env.command_result().in_reply_to_sequence() == error.sequence,
               "a refusal answers sequence ", env.command_result().in_reply_to_sequence(),
               " instead of ", error.sequence);
  }
  last_frames_.push_back(std::move(reply));
}

// ---- Channel 1.

void CommandHarness::OnIntake(absl::string_view frame) {
  auto decoded = transport::Decode(frame, Channel::kIntake);
  if (const auto* error = std::get_if<DecodeError>(&decoded))
    return Refuse(Channel::kIntake, *error);
  const Inbound& in = std::get<Inbound>(decoded);
  if (std::holds_alternative<transport::Heartbeat>(in.body)) {
    return Send(transport::EncodeHeartbeat(0, NextHeader()));
  }
  const auto* alert = std::get_if<RaiseAlert>(&in.body);
  FUZZ_CHECK(alert != nullptr, "the intake channel let body ", in.body.index(), " through");
  AnswerAlert(*alert);
}

void CommandHarness::AnswerAlert(const RaiseAlert& alert) {
  metrics_.Increment("alerts_received");
  const std::vector<Event> events = Apply(alert);
  for (const Event& e : events) {
    if (const auto* a = std::get_if<AlertAccepted>(&e.body);
        a && a->reporter_id == alert.reporter_id && a->client_sequence == alert.client_sequence) {
      Send(transport::EncodeAlertAccepted(*a, NextHeader()));
      break;
    }
    if (const auto* r = std::get_if<AlertRejected>(&e.body);
        r && r->reporter_id == alert.reporter_id && r->client_sequence == alert.client_sequence) {
      metrics_.Increment(absl::StrCat("alerts_rejected.", Describe(r->reason).code));
      Send(transport::EncodeAlertRejected(*r, 0, NextHeader()));
      break;
    }
  }
  Fanout(events);
}

// ---- Channel 4.

void CommandHarness::OnOperator(absl::string_view frame) {
  auto decoded = transport::Decode(frame, Channel::kOperator);
  if (const auto* error = std::get_if<DecodeError>(&decoded)) {
    return Refuse(Channel::kOperator, *error);
  }
  const Inbound& in = std::get<Inbound>(decoded);
  const uint64_t seq = in.sequence;
  const DispatchCore& core = world_->core();
  metrics_.Increment("operator_requests");
  std::visit(
      [&](const auto& body) {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, RaiseAlert>) {
          AnswerAlert(body);
        } else if constexpr (std::is_same_v<T, transport::Heartbeat>) {
          Send(transport::EncodeHeartbeat(0, NextHeader()));
        } else if constexpr (std::is_same_v<T, transport::FeedSnapshotRequest>) {
          const std::vector<std::string> parts =
              transport::EncodeFeedSnapshot(core, feed_sequence_, seq, NextHeader());
          server_sequence_ += parts.size() - 1;
          FUZZ_CHECK(!parts.empty(), "a snapshot of no parts");
          size_t listed = 0;
          for (size_t p = 0; p < parts.size(); ++p) {
            const pb::Envelope env = ParseSent(parts[p]);
            FUZZ_CHECK(env.has_feed_snapshot(), "a snapshot part is not a FeedSnapshot");
            const pb::FeedSnapshot& s = env.feed_snapshot();
            FUZZ_CHECK(s.part() == p && s.last() == (p + 1 == parts.size()), "snapshot part ",
                       s.part(), " (last ", s.last(), ") where part ", p, " of ", parts.size(),
                       " was due");
            FUZZ_CHECK(
                s.as_of_event_sequence() == feed_sequence_ && s.in_reply_to_sequence() == seq,
                "a snapshot part with the wrong as_of or in_reply_to");
            listed += s.incidents_size();
            last_frames_.push_back(parts[p]);
          }
          FUZZ_CHECK(listed == core.open_incidents().size(), "the snapshot lists ", listed,
                     " incidents of ", core.open_incidents().size(), " open");
        } else if constexpr (std::is_same_v<T, transport::GetIncident>) {
          const Incident* inc = core.FindIncident(body.incident);
          Send(inc ? transport::EncodeIncidentDetail(core, *inc, seq, NextHeader())
                   : transport::EncodeCommandResult(
                         false, RejectReason::kUnknownIncident,
                         absl::StrCat("No incident ", body.incident, "."), seq, NextHeader()));
        } else if constexpr (std::is_same_v<T, transport::ListOpenIncidents>) {
          std::string reply = transport::EncodeIncidentList(core, body, seq, NextHeader());
          const pb::Envelope env = ParseSent(reply);
          const pb::IncidentList& list = env.incident_list();
          FUZZ_CHECK(static_cast<uint32_t>(list.incidents_size()) <= body.limit,
                     "an incident list of ", list.incidents_size(), " over its limit ", body.limit);
          uint64_t previous = body.before_incident == 0 ? UINT64_MAX : body.before_incident;
          for (const pb::IncidentSummary& s : list.incidents()) {
            FUZZ_CHECK(s.incident_id() < previous, "the incident list is not newest first below ",
                       previous);
            FUZZ_CHECK(core.open_incidents().contains(s.incident_id()), "incident ",
                       s.incident_id(), " is listed but not open");
            previous = s.incident_id();
          }
          last_frames_.push_back(std::move(reply));
        } else if constexpr (std::is_same_v<T, transport::GetUnit>) {
          const std::optional<Slot> slot = core.units().SlotOf(body.unit);
          Send(slot ? transport::EncodeUnitDetail(core, *slot, seq, NextHeader())
                    : transport::EncodeCommandResult(false, RejectReason::kUnknownUnit,
                                                     absl::StrCat("No unit ", body.unit, "."), seq,
                                                     NextHeader()));
        } else if constexpr (std::is_same_v<T, transport::UnitsNear>) {
          // As DispatchServer answers it: every unit within the radius, fastest first, cut at
          // the limit.
          std::vector<Candidate> found;
          const PlanePoint p = core.units().projection().ToPlane(body.position);
          core.units().index().WithinRadius(
              p, body.radius_m,
              [&](Slot s) { return !body.available_only || core.units().Offerable(s); }, &found);
          std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
            return a.travel_s != b.travel_s ? a.travel_s < b.travel_s : a.slot < b.slot;
          });
          if (found.size() > body.limit) found.resize(body.limit);
          Send(transport::EncodeUnitList(core, found, seq, NextHeader()));
        } else if constexpr (std::is_same_v<T, transport::GetStats>) {
          transport::StatsSnapshot stats = metrics_.Snapshot(clock_);
          stats.counters["core.commands"] = core.stats().commands;
          stats.counters["core.assignments_issued"] = core.stats().assignments_issued;
          Send(transport::EncodeStats(stats, seq, NextHeader()));
        } else if constexpr (std::is_same_v<T, ResolveIncident> ||
                             std::is_same_v<T, CloseIncident> ||
                             std::is_same_v<T, CancelIncident> || std::is_same_v<T, ManualAssign> ||
                             std::is_same_v<T, ReleaseAssignment> ||
                             std::is_same_v<T, SetUnitStatus>) {
          AnswerCommand(CommandBody{body}, seq);
        } else {
          // The codec refuses responder bodies on this channel; the shell answers the same way
          // should one ever get through.
          FUZZ_CHECK(false, "the operator channel let body ", in.body.index(), " through");
        }
      },
      in.body);
}

void CommandHarness::AnswerCommand(const CommandBody& command, uint64_t in_reply_to) {
  const std::vector<Event> events = Apply(command);
  const CommandRejected* rejected = nullptr;
  for (const Event& e : events) {
    if ((rejected = std::get_if<CommandRejected>(&e.body))) break;
  }
  if (rejected) {
    metrics_.Increment(absl::StrCat("commands_rejected.", Describe(rejected->reason).code));
  }
  Send(rejected ? transport::EncodeCommandResult(false, rejected->reason, rejected->message,
                                                 in_reply_to, NextHeader())
                : transport::EncodeCommandResult(true, RejectReason::kUnspecified, "", in_reply_to,
                                                 NextHeader()));
  Fanout(events);
}

// ---- Channel 2.

void CommandHarness::OnResponder(absl::string_view frame, const std::string& routing_id) {
  auto decoded = transport::Decode(frame, Channel::kResponder);
  if (const auto* error = std::get_if<DecodeError>(&decoded)) {
    return Refuse(Channel::kResponder, *error);
  }
  const Inbound& in = std::get<Inbound>(decoded);
  if (const auto* batch = std::get_if<transport::PositionBatch>(&in.body)) {
    // As DispatchServer::OnPositionBatch, for a key that may speak for every unit: checked whole,
    // then each position applied (the server coalesces them per turn; the last one per unit wins
    // either way), and one answer.
    for (const auto& [unit, position] : batch->positions) {
      if (!world_->core().units().SlotOf(unit)) {
        return Refuse(Channel::kResponder,
                      Refusal(RejectReason::kUnknownUnit,
                              absl::StrCat("Unit ", unit, " of the position batch is unknown."),
                              in.sequence));
      }
    }
    metrics_.Increment("position_batches");
    for (const auto& [unit, position] : batch->positions) {
      const std::vector<Event> events =
          Apply(UpdateUnit{unit, std::nullopt, std::nullopt, position});
      for (const Event& e : events) {
        FUZZ_CHECK(!std::holds_alternative<CommandRejected>(e.body),
                   "a checked batch position was rejected by the core");
      }
      Fanout(events);
    }
    return Send(transport::EncodeCommandResult(true, RejectReason::kUnspecified, "", in.sequence,
                                               NextHeader()));
  }
  if (const auto* hello = std::get_if<transport::Hello>(&in.body)) {
    return OnHello(*hello, in.sequence, routing_id);
  }
  const UnitId unit = deliveries_.UnitOfRoutingId(routing_id);
  if (unit == 0) {
    return Refuse(Channel::kResponder, Refusal(RejectReason::kUnauthorized,
                                               "Say Hello with your unit id first.", in.sequence));
  }
  deliveries_.Heard(unit, clock_);
  if (std::holds_alternative<transport::Heartbeat>(in.body)) {
    const DeliveryBook::Session* s = deliveries_.Find(unit);
    return Send(transport::EncodeHeartbeat(s ? s->last_sequence : 0, NextHeader()));
  }
  if (const auto* receipt = std::get_if<transport::DeliveryReceipt>(&in.body)) {
    if (receipt->unit == unit) deliveries_.Receipt(unit, receipt->delivery_sequence);
    return;
  }
  const std::optional<CommandBody> command = transport::AsCommand(in.body);
  FUZZ_CHECK(command.has_value(), "the responder channel let body ", in.body.index(), " through");
  const UnitId claimed = ClaimedUnit(*command);
  if (claimed != unit) {
    return Refuse(Channel::kResponder, Refusal(RejectReason::kUnauthorized,
                                               absl::StrCat("This connection speaks for unit ",
                                                            unit, ", not unit ", claimed, "."),
                                               in.sequence));
  }
  if (const auto* ack = std::get_if<AckAssignment>(&*command)) {
    deliveries_.Answered(unit, ack->assignment);
  } else if (const auto* decline = std::get_if<DeclineAssignment>(&*command)) {
    deliveries_.Answered(unit, decline->assignment);
  }
  metrics_.Increment("responder_commands");
  AnswerCommand(*command, in.sequence);
}

void CommandHarness::OnHello(const transport::Hello& hello, uint64_t in_reply_to,
                             const std::string& routing_id) {
  if (hello.unit == 0 || !world_->core().units().SlotOf(hello.unit)) {
    return Refuse(Channel::kResponder,
                  Refusal(RejectReason::kUnknownUnit,
                          absl::StrCat("No unit ", hello.unit, " in the unit set."), in_reply_to));
  }
  metrics_.Increment("responder_hellos");
  units_with_sessions_.insert(hello.unit);
  // As DispatchServer::PositionStated: a unit's first Hello to this run of the engine cannot have
  // seen anything it sent, so the position it states is taken as 0.
  const uint64_t last_seen =
      greeted_.insert(hello.unit).second ? 0 : hello.last_delivery_sequence_seen;
  const DeliveryBook::HelloResult result =
      deliveries_.Hello(hello.unit, routing_id, last_seen, clock_);
  FUZZ_CHECK(deliveries_.UnitOfRoutingId(routing_id) == hello.unit,
             "after a Hello the connection does not speak for unit ", hello.unit);
  FUZZ_CHECK(result.resend_from <= result.last_sequence_sent + 1, "a Hello resends from ",
             result.resend_from, " past the last sequence sent ", result.last_sequence_sent);
  Send(transport::EncodeWelcome(in_reply_to, kHeartbeatInterval, result.last_sequence_sent,
                                result.resend_from, /*engine_incarnation=*/1, NextHeader()));
  for (const DeliveryBook::Send& s : deliveries_.PendingFor(hello.unit)) {
    FUZZ_CHECK(s.unit == hello.unit && s.frame != nullptr, "a resend for the wrong unit");
    Send(*s.frame);
    deliveries_.MarkSent(s.unit, s.sequence, clock_);
  }
}

// ---- Timers.

void CommandHarness::OnDeadlineTimer() {
  const std::optional<absl::Time> next = world_->core().NextDeadline();
  if (!next) return;
  // The timer fires at the deadline or, if the loop was busy, later.
  clock_ = std::max(clock_, *next);
  after_timer_ = true;
  restored_ = false;
  Fanout(Apply(AdvanceTime{}));
}

void CommandHarness::OnMaintenanceTick() {
  for (UnitId unit : deliveries_.DisconnectSilent(clock_ - 3 * kHeartbeatInterval)) {
    FUZZ_CHECK(deliveries_.Find(unit) && !deliveries_.Find(unit)->connected, "unit ", unit,
               " is still connected after DisconnectSilent");
  }
  // Copies: MarkSent changes the book the Send pointers point into.
  std::vector<std::pair<UnitId, uint64_t>> due;
  for (const DeliveryBook::Send& s : deliveries_.Due(clock_, kResendInterval)) {
    FUZZ_CHECK(s.frame != nullptr, "a due resend without a frame");
    Send(*s.frame);
    due.emplace_back(s.unit, s.sequence);
  }
  for (const auto& [unit, sequence] : due) deliveries_.MarkSent(unit, sequence, clock_);
}

// ---- The core and the fan-out of its events.

std::vector<Event> CommandHarness::Apply(const CommandBody& command) {
  std::vector<Event> events;
  applied_.push_back(Command{clock_, command});
  world_->core().Apply(applied_.back(), &events);
  CheckEventsOfCommand(events, command, clock_);
  if (!events.empty()) last_event_at_ = events.back().at;
  last_events_.insert(last_events_.end(), events.begin(), events.end());
  return events;
}

void CommandHarness::Replay(const Command& command) {
  last_events_.clear();
  last_frames_.clear();
  after_timer_ = std::holds_alternative<AdvanceTime>(command.body);
  const absl::Time applied_at = std::max(world_->core().now(), command.at);
  std::vector<Event> events;
  applied_.push_back(command);
  world_->core().Apply(command, &events);
  clock_ = std::max(clock_, applied_at);
  CheckEventsOfCommand(events, command.body, applied_at);
  if (!events.empty()) last_event_at_ = events.back().at;
  last_events_ = std::move(events);
  CheckInvariants();
}

void CommandHarness::SyncClock() {
  clock_ = std::max(clock_, world_->core().now());
  restored_ = true;
  restored_at_ = world_->core().now();
  // The restored state's events are behind it: what comes next starts from its clock.
  last_event_at_ = world_->core().now();
}

void CommandHarness::Fanout(const std::vector<Event>& events) {
  const DispatchCore& core = world_->core();
  std::vector<IncidentOpened> broadcasts;
  for (const Event& e : events) {
    std::string feed = transport::EncodeFeedEvent(e, feed_sequence_ + 1, core, NextHeader());
    const bool is_reply = std::holds_alternative<AlertAccepted>(e.body) ||
                          std::holds_alternative<CommandRejected>(e.body);
    FUZZ_CHECK(feed.empty() == is_reply, "event ", e.body.index(),
               feed.empty() ? " has no feed frame" : " is a reply but has a feed frame");
    if (!feed.empty()) {
      ++feed_sequence_;
      const pb::Envelope env = ParseSent(feed);
      FUZZ_CHECK(
          env.has_incident_event() && env.incident_event().event_sequence() == feed_sequence_,
          "a feed frame out of sequence at ", feed_sequence_);
      last_frames_.push_back(std::move(feed));
    }
    std::visit(
        [&](const auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, AssignmentIssued>) {
            // DispatchServer dereferences this lookup.
            const Incident* inc = core.FindIncident(body.incident);
            FUZZ_CHECK(inc != nullptr, "assignment ", body.assignment, " of unknown incident ",
                       body.incident);
            const uint64_t seq = deliveries_.NextSequence(body.unit);
            units_with_sessions_.insert(body.unit);
            Deliver(body.unit, seq, transport::EncodeAssignment(body, *inc, seq, NextHeader()),
                    body.assignment);
          } else if constexpr (std::is_same_v<T, AssignmentExpired> ||
                               std::is_same_v<T, AssignmentReleased>) {
            deliveries_.Answered(body.unit, body.assignment);
            const uint64_t seq = deliveries_.NextSequence(body.unit);
            units_with_sessions_.insert(body.unit);
            Deliver(body.unit, seq,
                    transport::EncodeAssignmentReleased(body.unit, body.assignment, body.reason,
                                                        seq, NextHeader()),
                    0);
          } else if constexpr (std::is_same_v<T, IncidentOpened>) {
            if (static_cast<int>(body.level) >= kZoneBroadcastMinLevel) broadcasts.push_back(body);
          }
        },
        e.body);
  }
  // DispatchServer posts these behind the turn's replies; the order does not matter here.
  for (const IncidentOpened& opened : broadcasts) {
    std::vector<Candidate> found;
    core.units().index().InZone(
        opened.zone, PlanePoint{}, [](Slot) { return true; }, &found);
    std::vector<UnitId> units;
    for (const Candidate& c : found) {
      const UnitId id = core.units().unit(c.slot).id;
      const DeliveryBook::Session* s = deliveries_.Find(id);
      if (s != nullptr && s->connected) units.push_back(id);
    }
    std::sort(units.begin(), units.end());
    for (UnitId unit : units) {
      const uint64_t seq = deliveries_.NextSequence(unit);
      Deliver(unit, seq,
              transport::EncodeAreaBroadcast(
                  opened.zone, opened.incident,
                  absl::StrCat("Incident ", opened.incident, " reported in your zone."), seq,
                  NextHeader()),
              0);
    }
  }
}

void CommandHarness::Deliver(UnitId unit, uint64_t sequence, std::string frame,
                             AssignmentId assignment) {
  ParseSent(frame);
  const std::string copy = frame;
  if (deliveries_.Queue(unit, sequence, std::move(frame), assignment)) {
    last_frames_.push_back(copy);
    deliveries_.MarkSent(unit, sequence, clock_);
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants.

void CommandHarness::CheckEventsOfCommand(const std::vector<Event>& events,
                                          const CommandBody& command, absl::Time applied_at) const {
  const DispatchCore& core = world_->core();
  FUZZ_CHECK(core.now() == applied_at, "the core's clock ", absl::FormatTime(core.now()),
             " is not the command's time ", absl::FormatTime(applied_at));
  const RaiseAlert* alert = std::get_if<RaiseAlert>(&command);
  int answers = 0;
  int rejections = 0;
  absl::Time previous = last_event_at_;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    FUZZ_CHECK(e.at >= previous && e.at <= core.now(), "event ", e.body.index(), " at ",
               absl::FormatTime(e.at), " is out of time order");
    previous = e.at;
    const bool last = i + 1 == events.size();
    if (const auto* a = std::get_if<AlertAccepted>(&e.body)) {
      FUZZ_CHECK(alert && a->reporter_id == alert->reporter_id &&
                     a->client_sequence == alert->client_sequence,
                 "an AlertAccepted for another alert");
      ++answers;
      if (!a->duplicate) {
        // The incident the alert opened or joined says so right after.
        FUZZ_CHECK(!last, "an accepted alert without its IncidentOpened or IncidentMerged");
        const EventBody& next = events[i + 1].body;
        const auto* opened = std::get_if<IncidentOpened>(&next);
        const auto* merged = std::get_if<IncidentMerged>(&next);
        FUZZ_CHECK(a->merged ? (merged && merged->incident == a->incident)
                             : (opened && opened->incident == a->incident),
                   "alert accepted into incident ", a->incident, " (merged ", a->merged,
                   ") but the next event is ", next.index());
      }
      FUZZ_CHECK(core.FindIncident(a->incident) != nullptr, "an alert accepted into incident ",
                 a->incident, " which does not exist");
    } else if (const auto* r = std::get_if<AlertRejected>(&e.body)) {
      FUZZ_CHECK(alert && r->reporter_id == alert->reporter_id &&
                     r->client_sequence == alert->client_sequence,
                 "an AlertRejected for another alert");
      FUZZ_CHECK(r->reason != RejectReason::kUnspecified && !r->message.empty(),
                 "an alert rejected without a reason or a sentence");
      // A refusal changes nothing, so nothing can follow it.
      FUZZ_CHECK(last, "events after an AlertRejected");
      ++answers;
    } else if (const auto* c = std::get_if<CommandRejected>(&e.body)) {
      FUZZ_CHECK(!alert && !std::holds_alternative<AdvanceTime>(command),
                 "a CommandRejected for an alert or for the passing of time");
      FUZZ_CHECK(c->reason != RejectReason::kUnspecified && !c->message.empty(),
                 "a command rejected without a reason or a sentence");
      FUZZ_CHECK(last, "events after a CommandRejected: ", c->message);
      ++rejections;
    } else if (const auto* issued = std::get_if<AssignmentIssued>(&e.body)) {
      FUZZ_CHECK(core.units().SlotOf(issued->unit).has_value(), "assignment ", issued->assignment,
                 " to unknown unit ", issued->unit);
      FUZZ_CHECK(issued->ack_deadline > e.at, "assignment ", issued->assignment,
                 " is due before it was issued");
    }
  }
  FUZZ_CHECK(answers == (alert ? 1 : 0), answers, " answers to ",
             alert ? "an alert" : "a command that is not an alert");
  FUZZ_CHECK(rejections <= 1, rejections, " rejections of one command");
}

void CommandHarness::CheckInvariants() const {
  const DispatchCore& core = world_->core();
  const UnitRegistry& units = core.units();
  FUZZ_CHECK(core.now() <= clock_, "the core's clock is ahead of the shell's");

  // Incidents: a legal state, reached by legal steps, and open exactly when open_incidents() says.
  size_t open = 0;
  absl::btree_set<UnitId> holding;
  for (const auto& [id, inc] : core.incidents()) {
    FUZZ_CHECK(inc.id == id && inc.plan != nullptr, "incident ", id, " is malformed");
    FUZZ_CHECK(!inc.timeline.empty() && inc.timeline.front().state == IncidentState::kReported,
               "incident ", id, " does not start reported");
    for (size_t i = 1; i < inc.timeline.size(); ++i) {
      const StateChange& from = inc.timeline[i - 1];
      const StateChange& to = inc.timeline[i];
      // Restored snapshots included: RestoreCoreSnapshot refuses a timeline with an illegal step.
      FUZZ_CHECK(IsLegalTransition(from.state, to.state), "incident ", id, " went ",
                 IncidentStateName(from.state), " -> ", IncidentStateName(to.state));
      FUZZ_CHECK(from.at <= to.at, "incident ", id, "'s timeline goes back in time");
    }
    FUZZ_CHECK(inc.timeline.back().state == inc.state, "incident ", id, " is ",
               IncidentStateName(inc.state), " but its timeline ends ",
               IncidentStateName(inc.timeline.back().state));
    FUZZ_CHECK(IsOpen(inc.state) == core.open_incidents().contains(id), "incident ", id, " is ",
               IncidentStateName(inc.state), " but open_incidents() disagrees");
    if (IsOpen(inc.state)) ++open;

    // Assignments: each active one holds its unit alone, and only an open incident holds units.
    for (AssignmentId aid : inc.assignments) {
      const Assignment* a = core.FindAssignment(aid);
      FUZZ_CHECK(a != nullptr && a->incident == id, "incident ", id, " lists assignment ", aid,
                 " which is not its own");
      if (!IsActive(a->status)) continue;
      FUZZ_CHECK(IsOpen(inc.state), "assignment ", aid, " is active on ",
                 IncidentStateName(inc.state), " incident ", id);
      FUZZ_CHECK(holding.insert(a->unit).second, "unit ", a->unit,
                 " is held by two active assignments");
      FUZZ_CHECK(core.ActiveAssignmentOf(a->unit) == a, "unit ", a->unit, " is held by ", aid,
                 " but ActiveAssignmentOf disagrees");
      const std::optional<Slot> slot = units.SlotOf(a->unit);
      FUZZ_CHECK(slot && *slot == a->slot, "assignment ", aid, " names the wrong slot");
      FUZZ_CHECK(units.unit(*slot).status == UnitStatus::kAssigned, "unit ", a->unit,
                 " holds assignment ", aid, " but is not assigned");
    }
  }
  FUZZ_CHECK(open == core.open_incidents().size(),
             "open_incidents() lists incidents that do not exist");
  for (Slot s = 0; s < units.size(); ++s) {
    const Unit& u = units.unit(s);
    FUZZ_CHECK((u.status == UnitStatus::kAssigned) == holding.contains(u.id), "unit ", u.id, " is ",
               u.status == UnitStatus::kAssigned ? "assigned without" : "free with",
               " an active assignment");
  }

  // The deadline the shell's timer follows is never in the past once the core has caught up.
  // (A restored snapshot may hold deadlines before its clock, which RestoreCoreSnapshot does not
  // refuse; the core fires them late, at its clock, when the timer next fires.)
  if (const std::optional<absl::Time> next = core.NextDeadline()) {
    if (after_timer_) {
      FUZZ_CHECK(*next > core.now(), "after AdvanceTime the next deadline ",
                 absl::FormatTime(*next), " is not after now ", absl::FormatTime(core.now()));
    } else if (!restored_) {
      FUZZ_CHECK(*next >= core.now(), "the next deadline ", absl::FormatTime(*next),
                 " is before now ", absl::FormatTime(core.now()));
    }
  }

  // Deliveries: gap-free per unit, pending in order and not yet receipted.
  for (UnitId unit : units_with_sessions_) {
    const DeliveryBook::Session* s = deliveries_.Find(unit);
    if (s == nullptr) continue;
    uint64_t previous = s->receipted;
    for (const DeliveryBook::Pending& p : s->pending) {
      FUZZ_CHECK(p.sequence > previous && p.sequence <= s->last_sequence, "unit ", unit,
                 " has delivery ", p.sequence, " pending out of order (receipted ", s->receipted,
                 ", last ", s->last_sequence, ")");
      previous = p.sequence;
    }
    FUZZ_CHECK(s->pending.size() <= kMaxPendingPerUnit, "unit ", unit, " keeps ", s->pending.size(),
               " deliveries, over the bound");
    FUZZ_CHECK(!s->connected || deliveries_.UnitOfRoutingId(s->routing_id) == unit, "unit ", unit,
               " is connected but its routing id speaks for another");
  }
}

}  // namespace gz::fuzz
