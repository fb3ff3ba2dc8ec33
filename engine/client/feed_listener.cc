#include "engine/client/feed_listener.h"

#include <zmq.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/client/envelope_socket.h"
#include "engine/client/wire_text.h"
#include "protocol/dispatch.pb.h"

namespace gz::client {
namespace {

namespace pb = ::gz::dispatch::v1;

// The feed event as the engine emitted it. Fields the wire does not carry stay at their defaults
// (an assignment's distance and headcount, an escalation's reason text).
std::optional<Event> ToDomain(const pb::IncidentEvent& e) {
  const absl::Time at = absl::FromUnixMicros(e.at_unix_us());
  const IncidentId incident = e.incident_id();
  switch (e.detail_case()) {
    case pb::IncidentEvent::kIncidentOpened: {
      const auto& d = e.incident_opened();
      return Event{at, IncidentOpened{incident, FromWire(d.position()), FromWire(d.category()),
                                      FromWire(d.level()), d.district(), d.zone_id()}};
    }
    case pb::IncidentEvent::kIncidentMerged: {
      const auto& d = e.incident_merged();
      return Event{
          at, IncidentMerged{incident, static_cast<int32_t>(d.reports()), FromWire(d.level())}};
    }
    case pb::IncidentEvent::kAssignmentIssued: {
      const auto& a = e.assignment_issued().assignment();
      AssignmentIssued issued;
      issued.assignment = a.assignment_id();
      issued.incident = incident;
      issued.unit = a.unit_id();
      issued.role = FromWire(a.role());
      issued.eta_s = a.eta_seconds();
      issued.ring = absl::Seconds(a.ring_seconds());
      issued.ack_deadline = absl::FromUnixMicros(a.ack_deadline_unix_us());
      return Event{at, issued};
    }
    case pb::IncidentEvent::kAssignmentAcked: {
      const auto& d = e.assignment_acked();
      return Event{at, AssignmentAcked{d.assignment_id(), incident, d.unit_id()}};
    }
    case pb::IncidentEvent::kAssignmentDeclined: {
      const auto& d = e.assignment_declined();
      return Event{
          at, AssignmentDeclined{d.assignment_id(), incident, d.unit_id(), FromWire(d.reason())}};
    }
    case pb::IncidentEvent::kAssignmentExpired: {
      const auto& d = e.assignment_expired();
      return Event{
          at, AssignmentExpired{d.assignment_id(), incident, d.unit_id(), FromWire(d.reason())}};
    }
    case pb::IncidentEvent::kAssignmentReleased: {
      const auto& d = e.assignment_released();
      return Event{
          at, AssignmentReleased{d.assignment_id(), incident, d.unit_id(), FromWire(d.reason())}};
    }
    case pb::IncidentEvent::kUnitArrived: {
      const auto& d = e.unit_arrived();
      return Event{at, UnitArrived{d.assignment_id(), incident, d.unit_id()}};
    }
    case pb::IncidentEvent::kRingWidened: {
      const auto& d = e.ring_widened();
      return Event{at, RingWidened{incident, FromWire(d.role()), absl::Seconds(d.from_seconds()),
                                   absl::Seconds(d.to_seconds())}};
    }
    case pb::IncidentEvent::kEscalationNotified:
      return Event{at,
                   EscalationNotified{incident, FromWire(e.escalation_notified().target()), ""}};
    case pb::IncidentEvent::kStateChanged: {
      const auto& d = e.state_changed();
      return Event{
          at, IncidentStateChanged{incident, FromWire(d.from_state()), FromWire(d.to_state())}};
    }
    case pb::IncidentEvent::kAssemblyComplete:
      return Event{at, AssemblyComplete{incident, e.assembly_complete().headcount()}};
    case pb::IncidentEvent::kIncidentShort: {
      const auto& d = e.incident_short();
      IncidentShort s;
      s.incident = incident;
      s.headcount_needed = d.headcount_needed();
      s.headcount_assigned = d.headcount_assigned();
      return Event{at, s};
    }
    case pb::IncidentEvent::kAlertRejected: {
      const auto& d = e.alert_rejected();
      return Event{at, AlertRejected{d.reporter_id(), d.client_sequence(), FromWire(d.reason()),
                                     d.message(), false}};
    }
    default:
      return std::nullopt;
  }
}

}  // namespace

struct FeedListener::Sockets {
  explicit Sockets(zmq::context_t& context)
      : feed(context, zmq::socket_type::sub), operators(context, zmq::socket_type::dealer) {}
  zmq::socket_t feed;
  zmq::socket_t operators;
};

absl::StatusOr<std::unique_ptr<FeedListener>> FeedListener::Connect(
    zmq::context_t& context, const std::string& feed_endpoint, const std::string& operator_endpoint,
    absl::Duration timeout, const auth::CurveClientKeys& curve) {
  auto sockets = std::make_unique<Sockets>(context);
  for (zmq::socket_t* s : {&sockets->feed, &sockets->operators}) {
    if (absl::Status keyed = auth::UseClientKeys(s->handle(), curve); !keyed.ok()) return keyed;
  }
  try {
    sockets->feed.set(zmq::sockopt::subscribe, "");
    sockets->feed.set(zmq::sockopt::rcvhwm, 0);  // a console must not lose events locally
    sockets->feed.set(zmq::sockopt::linger, 0);
    sockets->feed.connect(feed_endpoint);
    sockets->operators.set(zmq::sockopt::linger, 0);
    sockets->operators.connect(operator_endpoint);
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot connect the feed listener: ", e.what()));
  }
  std::unique_ptr<FeedListener> listener(new FeedListener(std::move(sockets)));
  pb::Envelope request;
  request.set_protocol_version(1);
  request.set_sender_id("feed-listener");
  request.set_sequence(1);
  request.set_sent_at_unix_us(absl::ToUnixMicros(absl::Now()));
  request.mutable_feed_snapshot_request();
  const std::string frame = request.SerializeAsString();
  listener->sockets_->operators.send(zmq::buffer(frame), zmq::send_flags::none);
  const absl::Time deadline = absl::Now() + timeout;
  for (bool last = false; !last;) {
    absl::StatusOr<std::optional<size_t>> ready =
        PollReadable({&listener->sockets_->operators}, deadline);
    if (!ready.ok()) return ready.status();
    if (!ready->has_value()) return NotAnswering(operator_endpoint, timeout);
    absl::StatusOr<std::optional<std::string>> got =
        TryReceiveLastFrame(listener->sockets_->operators);
    if (!got.ok()) return got.status();
    if (!got->has_value()) continue;
    std::optional<pb::Envelope> reply = ParseEnvelope(**got);
    if (!reply || !reply->has_feed_snapshot()) continue;
    listener->snapshot_sequence_ = reply->feed_snapshot().as_of_event_sequence();
    listener->snapshot_open_incidents_ += reply->feed_snapshot().incidents_size();
    last = reply->feed_snapshot().last();
  }
  listener->last_sequence_ = listener->snapshot_sequence_;
  return listener;
}

FeedListener::FeedListener(std::unique_ptr<Sockets> sockets) : sockets_(std::move(sockets)) {}
FeedListener::~FeedListener() = default;

absl::StatusOr<std::optional<FeedEvent>> FeedListener::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    absl::StatusOr<std::optional<size_t>> ready = PollReadable({&sockets_->feed}, deadline);
    if (!ready.ok()) return ready.status();
    if (!ready->has_value()) return std::nullopt;
    absl::StatusOr<std::optional<std::string>> got = TryReceiveLastFrame(sockets_->feed);
    if (!got.ok()) return got.status();
    if (!got->has_value()) continue;
    std::optional<pb::Envelope> envelope = ParseEnvelope(**got);
    if (!envelope || !envelope->has_incident_event()) continue;
    const pb::IncidentEvent& e = envelope->incident_event();
    if (e.event_sequence() <= last_sequence_) continue;  // in the snapshot already, or repeated
    if (e.event_sequence() != last_sequence_ + 1) ++gaps_;
    last_sequence_ = e.event_sequence();
    std::optional<Event> event = ToDomain(e);
    if (!event) continue;
    return FeedEvent{e.event_sequence(), *std::move(event)};
  }
}

}  // namespace gz::client
