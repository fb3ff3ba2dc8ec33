#include "engine/client/responder_client.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "engine/client/envelope_socket.h"
#include "engine/client/rejection.h"
#include "engine/client/wire_text.h"

namespace gz::client {
namespace {

constexpr size_t kMaxNoteBytes = 200;
// Heartbeat interval until a Welcome says otherwise (the engine's default).
constexpr absl::Duration kDefaultHeartbeat = absl::Seconds(2);
// A peer silent for this many heartbeat intervals is gone.
constexpr int kSilentIntervals = 3;

// The delivery an envelope carries, with its delivery_sequence; nullopt for other bodies.
std::optional<Delivery> ToDelivery(const pb::Envelope& envelope) {
  Delivery d;
  switch (envelope.body_case()) {
    case pb::Envelope::kAssignment: {
      const pb::Assignment& a = envelope.assignment();
      d.kind = Delivery::Kind::kAssignment;
      d.delivery_sequence = a.delivery_sequence();
      d.assignment_id = a.assignment_id();
      d.incident_id = a.incident_id();
      d.role = FromWire(a.role());
      d.position = FromWire(a.position());
      d.category = FromWire(a.category());
      d.level = FromWire(a.level());
      d.eta_seconds = a.eta_seconds();
      d.ring_seconds = a.ring_seconds();
      if (a.ack_deadline_unix_us() != 0) {
        d.ack_deadline = absl::FromUnixMicros(a.ack_deadline_unix_us());
      }
      d.description = a.description();
      return d;
    }
    case pb::Envelope::kAssignmentReleased: {
      const pb::AssignmentReleased& r = envelope.assignment_released();
      d.kind = Delivery::Kind::kReleased;
      d.delivery_sequence = r.delivery_sequence();
      d.assignment_id = r.assignment_id();
      d.release_reason = FromWire(r.reason());
      return d;
    }
    case pb::Envelope::kAreaBroadcast: {
      const pb::AreaBroadcast& b = envelope.area_broadcast();
      d.kind = Delivery::Kind::kBroadcast;
      d.delivery_sequence = b.delivery_sequence();
      d.incident_id = b.incident_id();
      d.zone_id = b.zone_id();
      d.text = b.text();
      return d;
    }
    case pb::Envelope::kIncidentUpdate: {
      const pb::IncidentUpdate& u = envelope.incident_update();
      const pb::IncidentEvent& event = u.event();
      d.kind = Delivery::Kind::kIncidentUpdate;
      d.delivery_sequence = u.delivery_sequence();
      d.incident_id = event.incident_id();
      d.update = DescribeEvent(event);
      d.event_sequence = event.event_sequence();
      d.event_kind = std::string(EventKindName(event));
      if (event.has_state_changed()) d.new_state = FromWire(event.state_changed().to_state());
      return d;
    }
    default:
      return std::nullopt;
  }
}

class ZmqResponderClient final : public ResponderClient {
 public:
  ZmqResponderClient(zmq::context_t& context, ResponderOptions options)
      : options_(std::move(options)),
        socket_(context, options_.endpoint,
                options_.sender_id.empty() ? absl::StrCat(options_.unit_id) : options_.sender_id,
                options_.curve),
        highest_in_order_(options_.last_delivery_sequence_seen) {
    socket_.set_diagnose_handshake(options_.diagnose_handshake);
  }

  // Opens the socket and completes the Hello/Welcome handshake.
  absl::Status Start() {
    absl::Status opened = socket_.Open();
    if (!opened.ok()) return opened;
    return Handshake();
  }

  absl::StatusOr<std::optional<Delivery>> Next(absl::Duration timeout) override {
    absl::StatusOr<bool> ready = Pump(absl::Now() + std::max(timeout, absl::ZeroDuration()),
                                      [this] { return !queue_.empty() || !fatal_.ok(); });
    if (!ready.ok()) return ready.status();
    if (queue_.empty()) {
      if (!fatal_.ok()) return fatal_;
      return std::nullopt;
    }
    Delivery delivery = std::move(queue_.front());
    queue_.pop_front();
    ++counters_.deliveries;
    // A delivery an earlier run of the engine sent is not receipted: its sequence would receipt
    // the current run's deliveries of the same numbers.
    if (stale_queued_ > 0) {
      --stale_queued_;
    } else {
      SendReceipt(delivery.delivery_sequence);
    }
    return delivery;
  }

  absl::Status Ack(AssignmentId assignment) override {
    pb::Envelope envelope;
    pb::AckAssignment* ack = envelope.mutable_ack_assignment();
    ack->set_unit_id(options_.unit_id);
    ack->set_assignment_id(assignment);
    return Command(std::move(envelope), absl::StrCat("the ack of assignment ", assignment));
  }

  absl::Status Decline(AssignmentId assignment, DeclineReason reason,
                       absl::string_view note) override {
    if (reason == DeclineReason::kUnspecified) {
      return absl::InvalidArgumentError("a decline needs a reason");
    }
    if (note.size() > kMaxNoteBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("the note is ", note.size(), " bytes; the limit is ", kMaxNoteBytes));
    }
    pb::Envelope envelope;
    pb::DeclineAssignment* decline = envelope.mutable_decline_assignment();
    decline->set_unit_id(options_.unit_id);
    decline->set_assignment_id(assignment);
    decline->set_reason(static_cast<pb::DeclineReason>(reason));
    decline->set_note(std::string(note));
    return Command(std::move(envelope), absl::StrCat("the decline of assignment ", assignment));
  }

  absl::Status Arrive(AssignmentId assignment, std::optional<LonLat> position) override {
    pb::Envelope envelope;
    pb::ReportArrival* arrival = envelope.mutable_report_arrival();
    arrival->set_unit_id(options_.unit_id);
    arrival->set_assignment_id(assignment);
    if (position.has_value()) ToWire(*position, arrival->mutable_position());
    return Command(std::move(envelope),
                   absl::StrCat("the arrival report for assignment ", assignment));
  }

  absl::Status Update(std::optional<UnitStatus> status, std::optional<int32_t> on_post,
                      std::optional<LonLat> position) override {
    if (!status.has_value() && !on_post.has_value() && !position.has_value()) {
      return absl::InvalidArgumentError("an update needs a status, an on-post count or a position");
    }
    pb::Envelope envelope;
    pb::UnitUpdate* update = envelope.mutable_unit_update();
    update->set_unit_id(options_.unit_id);
    if (status.has_value()) update->set_status(ToWire(*status));
    if (on_post.has_value()) update->set_on_post(*on_post);
    if (position.has_value()) ToWire(*position, update->mutable_position());
    return Command(std::move(envelope), "the unit update");
  }

  absl::Status Reconnect() override {
    ++counters_.reconnects;
    fatal_ = absl::OkStatus();
    absl::Status opened = socket_.Open();
    if (!opened.ok()) return opened;
    return Handshake();
  }

  uint64_t last_delivery_sequence() const override { return highest_in_order_; }

  ResponderCounters counters() const override {
    ResponderCounters c = counters_;
    c.malformed_frames = socket_.malformed_frames();
    return c;
  }

  UnitId unit_id() const override { return options_.unit_id; }
  absl::Duration heartbeat_interval() const override { return heartbeat_interval_; }

 private:
  // Sends Hello and waits for its Welcome (or the engine's refusal of it).
  absl::Status Handshake() {
    absl::Status sent = SendHello();
    if (!sent.ok()) return sent;
    absl::StatusOr<bool> welcomed =
        Pump(absl::Now() + options_.request_timeout, [this] { return welcomed_ || !fatal_.ok(); });
    if (!welcomed.ok()) return welcomed.status();
    if (!fatal_.ok()) return fatal_;
    if (!*welcomed) return socket_.NoAnswer(options_.request_timeout);
    return absl::OkStatus();
  }

  absl::Status SendHello() {
    pb::Envelope envelope;
    pb::Hello* hello = envelope.mutable_hello();
    hello->set_role(pb::CLIENT_ROLE_RESPONDER);
    hello->set_unit_id(options_.unit_id);
    hello->set_last_delivery_sequence_seen(highest_in_order_);
    absl::StatusOr<uint64_t> sequence = socket_.Send(std::move(envelope));
    if (!sequence.ok()) return sequence.status();
    const absl::Time now = absl::Now();
    hello_sequence_ = *sequence;
    hello_last_seen_ = highest_in_order_;
    hello_sent_at_ = now;
    welcomed_ = false;
    ++counters_.hellos_sent;
    // The clocks restart with the session: the engine has until three intervals from now.
    last_heard_ = now;
    last_heartbeat_sent_ = now;
    return absl::OkStatus();
  }

  // Sends a command and waits for the CommandResult quoting its sequence.
  absl::Status Command(pb::Envelope envelope, absl::string_view what) {
    absl::StatusOr<uint64_t> sequence = socket_.Send(std::move(envelope));
    if (!sequence.ok()) return sequence.status();
    awaiting_ = *sequence;
    result_.reset();
    absl::StatusOr<bool> answered =
        Pump(absl::Now() + options_.request_timeout, [this] { return result_.has_value(); });
    awaiting_ = 0;
    if (!answered.ok()) return answered.status();
    if (!*answered) {
      return absl::DeadlineExceededError(absl::StrCat("dispatchd did not answer ", what, " at ",
                                                      options_.endpoint, " (waited ",
                                                      FormatWait(options_.request_timeout), ")"));
    }
    const pb::CommandResult result = *std::move(result_);
    result_.reset();
    if (result.ok()) return absl::OkStatus();
    return RejectionStatus(FromWire(result.reason()), result.message());
  }

  // Receives and handles messages, and keeps the session's timers, until done() or the deadline.
  // Returns done().
  absl::StatusOr<bool> Pump(absl::Time deadline, absl::FunctionRef<bool()> done) {
    for (;;) {
      if (done()) return true;
      absl::Status serviced = Service(absl::Now());
      if (!serviced.ok()) return serviced;
      absl::StatusOr<std::optional<pb::Envelope>> envelope =
          socket_.Receive(std::min(deadline, NextTimer()));
      if (!envelope.ok()) return envelope.status();
      if (envelope->has_value()) {
        Handle(**envelope);
      } else if (absl::Now() >= deadline) {
        return done();
      }
    }
  }

  absl::Time NextTimer() const {
    return std::min(last_heartbeat_sent_ + heartbeat_interval_,
                    last_heard_ + kSilentIntervals * heartbeat_interval_);
  }

  // Heartbeats out; a fresh socket and Hello after three silent intervals.
  absl::Status Service(absl::Time now) {
    if (now - last_heard_ >= kSilentIntervals * heartbeat_interval_) {
      ++counters_.reconnects;
      last_heard_ = now;  // the next attempt after another three intervals, whatever happens
      absl::Status opened = socket_.Open();
      if (!opened.ok()) return opened;
      (void)SendHello();  // if it cannot be queued, the next silent period retries
      return absl::OkStatus();
    }
    if (now - last_heartbeat_sent_ >= heartbeat_interval_) {
      pb::Envelope envelope;
      envelope.mutable_heartbeat()->set_last_delivery_sequence_seen(highest_in_order_);
      if (socket_.Send(std::move(envelope)).ok()) ++counters_.heartbeats_sent;
      last_heartbeat_sent_ = now;
    }
    return absl::OkStatus();
  }

  void Handle(const pb::Envelope& envelope) {
    last_heard_ = absl::Now();
    switch (envelope.body_case()) {
      case pb::Envelope::kWelcome:
        OnWelcome(envelope.welcome());
        return;
      case pb::Envelope::kHeartbeat:
        if (envelope.heartbeat().last_delivery_sequence_sent() > highest_in_order_) OnGap();
        return;
      case pb::Envelope::kCommandResult: {
        const pb::CommandResult& result = envelope.command_result();
        if (result.in_reply_to_sequence() == hello_sequence_ && !result.ok()) {
          fatal_ = RejectionStatus(FromWire(result.reason()), result.message());
          return;
        }
        if (!result.ok() && result.reason() == pb::REJECT_REASON_UNAUTHORIZED &&
            result.in_reply_to_sequence() != awaiting_) {
          // The engine no longer knows this connection (it restarted, or dropped the session
          // while we were away, and our socket reconnected under a new identity): open the
          // session again so the deliveries waiting for this unit come through.
          (void)SendHello();
          return;
        }
        if (awaiting_ != 0 && result.in_reply_to_sequence() == awaiting_) result_ = result;
        // Anything else answers a command we stopped waiting for: nothing to do.
        return;
      }
      default:
        break;
    }
    std::optional<Delivery> delivery = ToDelivery(envelope);
    if (delivery.has_value()) OnDelivery(*std::move(delivery));
  }

  void OnWelcome(const pb::Welcome& welcome) {
    if (welcome.heartbeat_interval_ms() > 0) {
      heartbeat_interval_ = absl::Milliseconds(welcome.heartbeat_interval_ms());
    }
    // A Welcome quoting an older Hello is stale; one quoting nothing is taken as the latest's.
    if (welcome.in_reply_to_sequence() != 0 && welcome.in_reply_to_sequence() != hello_sequence_) {
      return;
    }
    welcomed_ = true;
    gap_pending_ = false;
    const uint64_t incarnation = welcome.engine_incarnation();
    const bool restarted =
        incarnation != 0 && engine_incarnation_ != 0 && incarnation != engine_incarnation_;
    if (incarnation != 0) engine_incarnation_ = incarnation;
    // The engine did not take up our position: it is another run of the engine than the one that
    // sent us what we have (a new incarnation, or it resends from at or below what our Hello said
    // we hold, which the engine that sent those would never do). Its sequences start afresh and
    // everything it sends is new to us, whatever numbers we saw before.
    const uint64_t resend = welcome.resend_from_delivery_sequence();
    if (restarted || (hello_last_seen_ > 0 && resend > 0 && resend <= hello_last_seen_)) {
      ++counters_.sequence_resets;
      highest_in_order_ = 0;
      stale_queued_ = queue_.size();
    }
    if (welcome.last_delivery_sequence_sent() < highest_in_order_) {
      // The engine's counter went backwards: it restarted without its outboxes. Everything it
      // holds is new to us; ask for all of it.
      ++counters_.sequence_resets;
      highest_in_order_ = 0;
      gap_pending_ = true;
      (void)SendHello();
      return;
    }
    const uint64_t resend_from = welcome.resend_from_delivery_sequence();
    if (resend_from > highest_in_order_ + 1) {
      // The engine dropped these from the unit's full outbox (and released their assignments).
      counters_.deliveries_missed += resend_from - 1 - highest_in_order_;
      highest_in_order_ = resend_from - 1;
    }
  }

  void OnDelivery(Delivery delivery) {
    const uint64_t sequence = delivery.delivery_sequence;
    if (sequence == 0) return;  // not a valid delivery; nothing to order it by
    if (sequence <= highest_in_order_) {
      ++counters_.duplicates_dropped;
      return;
    }
    if (sequence > highest_in_order_ + 1) {
      // Dropped: the engine resends it after the Hello below, in order.
      OnGap();
      return;
    }
    highest_in_order_ = sequence;
    queue_.push_back(std::move(delivery));
  }

  // Something between highest_in_order_ and what the engine has sent is missing: say Hello again
  // with our position, unless a Hello for that is already out and not yet overdue.
  void OnGap() {
    const absl::Time now = absl::Now();
    if (gap_pending_ && now - hello_sent_at_ < options_.request_timeout) return;
    ++counters_.gaps_detected;
    gap_pending_ = true;
    (void)SendHello();
  }

  void SendReceipt(uint64_t sequence) {
    pb::Envelope envelope;
    pb::DeliveryReceipt* receipt = envelope.mutable_delivery_receipt();
    receipt->set_unit_id(options_.unit_id);
    receipt->set_delivery_sequence(sequence);
    // Cumulative: if this one cannot be queued, the next receipt covers it.
    if (socket_.Send(std::move(envelope)).ok()) ++counters_.receipts_sent;
  }

  const ResponderOptions options_;
  EnvelopeSocket socket_;

  std::deque<Delivery> queue_;  // received in order, not yet handed out
  // How many at the front of queue_ came from an earlier run of the engine (not to be receipted).
  size_t stale_queued_ = 0;
  uint64_t engine_incarnation_ = 0;  // from the latest Welcome; 0 before one
  uint64_t highest_in_order_ = 0;

  uint64_t hello_sequence_ = 0;   // envelope sequence of the latest Hello
  uint64_t hello_last_seen_ = 0;  // the position the latest Hello stated
  absl::Time hello_sent_at_ = absl::InfinitePast();
  bool welcomed_ = false;     // the latest Hello has its Welcome
  bool gap_pending_ = false;  // a Hello went out to fill a gap; no Welcome yet
  absl::Status fatal_;        // the engine refused our Hello

  absl::Duration heartbeat_interval_ = kDefaultHeartbeat;
  absl::Time last_heard_ = absl::InfinitePast();
  absl::Time last_heartbeat_sent_ = absl::InfinitePast();

  uint64_t awaiting_ = 0;  // sequence of the command waiting for its CommandResult; 0 = none
  std::optional<pb::CommandResult> result_;

  ResponderCounters counters_;
};

}  // namespace

absl::Status ResponderOptions::Validate() const {
  if (endpoint.empty()) return absl::InvalidArgumentError("endpoint is empty");
  if (unit_id == 0) return absl::InvalidArgumentError("unit_id is required (non-zero)");
  if (request_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("request_timeout must be positive");
  }
  if (sender_id.size() > 64) {
    return absl::InvalidArgumentError("sender_id is over 64 bytes");
  }
  return curve.Validate();
}

absl::string_view DeliveryKindName(Delivery::Kind kind) {
  switch (kind) {
    case Delivery::Kind::kAssignment:
      return "assignment";
    case Delivery::Kind::kReleased:
      return "released";
    case Delivery::Kind::kBroadcast:
      return "broadcast";
    case Delivery::Kind::kIncidentUpdate:
      return "incident_update";
  }
  return "unknown";
}

absl::StatusOr<std::unique_ptr<ResponderClient>> ResponderClient::Connect(
    zmq::context_t& context, ResponderOptions options) {
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  auto client = std::make_unique<ZmqResponderClient>(context, std::move(options));
  absl::Status started = client->Start();
  if (!started.ok()) return started;
  return std::unique_ptr<ResponderClient>(std::move(client));
}

}  // namespace gz::client
