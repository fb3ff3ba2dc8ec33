#include "engine/app/dispatch_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <optional>
#include <utility>  // before Asio (Boost 1.74 + C++20)
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/app/delivery_book.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/transport/codec.h"
#include "engine/transport/metrics.h"
#include "engine/transport/zmq_watcher.h"

namespace gz {
namespace {

using transport::Channel;
using transport::Header;
using SteadyClock = std::chrono::steady_clock;

absl::Duration Since(SteadyClock::time_point start) {
  return absl::FromChrono(SteadyClock::now() - start);
}

transport::DecodeError Refusal(RejectReason reason, std::string message, uint64_t sequence) {
  transport::DecodeError e;
  e.reason = reason;
  e.message = std::move(message);
  e.sequence = sequence;
  return e;
}

absl::string_view Bytes(const zmq::message_t& m) {
  return absl::string_view(static_cast<const char*>(m.data()), m.size());
}

// All frames but the last: the routing envelope a ROUTER reply must carry back (identity, and the
// empty delimiter for REQ clients).
std::vector<zmq::message_t> RoutingPrefix(std::vector<zmq::message_t>& frames) {
  std::vector<zmq::message_t> prefix;
  for (size_t i = 0; i + 1 < frames.size(); ++i) prefix.push_back(std::move(frames[i]));
  return prefix;
}

}  // namespace

class DispatchServer::Impl {
 public:
  Impl(ServerOptions options, CityData city, std::unique_ptr<DispatchCore> core)
      : options_(std::move(options)),
        city_(std::move(city)),
        core_(std::move(core)),
        zmq_(1),
        intake_(zmq_, zmq::socket_type::router),
        responders_(zmq_, zmq::socket_type::router),
        operators_(zmq_, zmq::socket_type::router),
        feed_(zmq_, zmq::socket_type::pub),
        signals_(io_, SIGINT, SIGTERM),
        deadline_timer_(io_),
        maintenance_timer_(io_),
        deliveries_(options_.max_pending_deliveries_per_unit) {}

  absl::Status Bind() {
    const int64_t max_frame = static_cast<int64_t>(options_.max_frame_bytes);
    for (zmq::socket_t* s : {&intake_, &responders_, &operators_}) {
      // Oversized frames are cut off by ZeroMQ before they are ever buffered whole.
      s->set(zmq::sockopt::maxmsgsize, max_frame);
      s->set(zmq::sockopt::router_mandatory, 1);
      s->set(zmq::sockopt::linger,
             static_cast<int>(absl::ToInt64Milliseconds(options_.linger_on_stop)));
    }
    // A late or slow console must not make the feed drop events at the default 1,000.
    feed_.set(zmq::sockopt::sndhwm, 1'000'000);
    feed_.set(zmq::sockopt::linger,
              static_cast<int>(absl::ToInt64Milliseconds(options_.linger_on_stop)));
    const std::pair<zmq::socket_t*, const std::string*> binds[] = {
        {&intake_, &options_.intake_endpoint},
        {&responders_, &options_.responder_endpoint},
        {&operators_, &options_.operator_endpoint},
        {&feed_, &options_.feed_endpoint}};
    std::string* bound[] = {&endpoints_.intake, &endpoints_.responders, &endpoints_.operators,
                            &endpoints_.feed};
    for (size_t i = 0; i < 4; ++i) {
      try {
        binds[i].first->bind(*binds[i].second);
      } catch (const zmq::error_t& e) {
        return absl::UnavailableError(
            absl::StrCat("cannot bind ", *binds[i].second, ": ", e.what()));
      }
      *bound[i] = binds[i].first->get(zmq::sockopt::last_endpoint);
    }
    return absl::OkStatus();
  }

  const BoundEndpoints& endpoints() const { return endpoints_; }

  void Run() {
    intake_watch_ = std::make_unique<transport::ZmqWatcher>(io_, intake_, [this] { Pump(); });
    responder_watch_ =
        std::make_unique<transport::ZmqWatcher>(io_, responders_, [this] { Pump(); });
    operator_watch_ = std::make_unique<transport::ZmqWatcher>(io_, operators_, [this] { Pump(); });
    signals_.async_wait([this](const boost::system::error_code& error, int signal) {
      if (!error) {
        stop_signal_ = signal;
        Shutdown();
      }
    });
    ScheduleMaintenance();
    boost::asio::post(io_, [this] { Pump(); });
    io_.run();
  }

  void Stop() {
    boost::asio::post(io_, [this] { Shutdown(); });
  }

  std::string Summary() const {
    std::string out = absl::StrCat(
        "dispatchd stopped", stop_signal_ ? absl::StrCat(" on signal ", stop_signal_) : "", ": ",
        metrics_.Get("alerts_received"), " alerts received, ", core_->stats().alerts_accepted,
        " incidents opened, ", core_->stats().alerts_merged, " merged, ",
        core_->stats().alerts_rejected, " rejected; ", core_->stats().assignments_issued,
        " assignments (", core_->stats().assignments_acked, " acked, ",
        core_->stats().assignments_declined, " declined, ", core_->stats().assignments_expired,
        " expired); ", metrics_.Get("frames_refused"), " bad frames refused; ",
        deliveries_.connected(), " responders connected\n");
    absl::StrAppend(&out, metrics_.Summary());
    return out;
  }

 private:
  Header NextHeader() { return Header{++server_sequence_, CoreNow()}; }

  // The engine's clock: the wall clock at start, then advanced by the monotonic clock, so a step
  // of the system clock (NTP) neither freezes nor fires every deadline at once.
  absl::Time CoreNow() const {
    return wall_origin_ + absl::FromChrono(SteadyClock::now() - steady_origin_);
  }

  // ---- The loop.

  void Pump() {
    if (stopping_) return;
    int handled = 0;
    handled += Drain(intake_, options_.intake_batch, [this](auto& frames) { OnIntake(frames); });
    handled +=
        Drain(operators_, options_.operator_batch, [this](auto& frames) { OnOperator(frames); });
    handled +=
        Drain(responders_, options_.responder_batch, [this](auto& frames) { OnResponder(frames); });
    FollowCoreDeadline();
    // Sends may have consumed a readiness edge: look again before waiting.
    if (intake_watch_->Readable() || operator_watch_->Readable() || responder_watch_->Readable()) {
      boost::asio::post(io_, [this] { Pump(); });
      return;
    }
    intake_watch_->Arm();
    responder_watch_->Arm();
    operator_watch_->Arm();
    (void)handled;
  }

  template <typename Handler>
  int Drain(zmq::socket_t& socket, int batch, Handler&& handler) {
    int n = 0;
    std::vector<zmq::message_t> frames;
    for (; n < batch; ++n) {
      frames.clear();
      zmq::recv_result_t got;
      try {
        got = zmq::recv_multipart(socket, std::back_inserter(frames), zmq::recv_flags::dontwait);
      } catch (const zmq::error_t& e) {
        metrics_.Increment("receive_errors");
        break;
      }
      if (!got) break;
      // A ROUTER prefixes the identity; a REQ adds an empty delimiter; the envelope is one frame.
      // Anything else is not our protocol (and would be echoed back whole): refuse it unanswered.
      if (frames.size() < 2 || frames.size() > 3) {
        metrics_.Increment("frames_refused");
        metrics_.Increment("frames_refused.bad_framing");
        continue;
      }
      handler(frames);
    }
    return n;
  }

  void Reply(zmq::socket_t& socket, std::vector<zmq::message_t> prefix, const std::string& frame) {
    try {
      for (zmq::message_t& part : prefix) {
        if (!socket.send(std::move(part), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
          metrics_.Increment("replies_dropped");
          return;
        }
      }
      if (!socket.send(zmq::buffer(frame), zmq::send_flags::dontwait)) {
        metrics_.Increment("replies_dropped");
      }
    } catch (const zmq::error_t&) {
      // The client went away between its request and our reply (ROUTER_MANDATORY says so on the
      // routing frame): nobody is left to answer.
      metrics_.Increment("replies_unroutable");
    }
  }

  // ---- Channel 1: alerts.

  void OnIntake(std::vector<zmq::message_t>& frames) {
    const auto received = SteadyClock::now();
    const zmq::message_t& payload = frames.back();
    auto decoded = transport::Decode(Bytes(payload), Channel::kIntake, options_.max_frame_bytes);
    std::vector<zmq::message_t> prefix = RoutingPrefix(frames);
    if (auto* error = std::get_if<transport::DecodeError>(&decoded)) {
      RefuseFrame(Channel::kIntake, *error);
      Reply(intake_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kIntake, *error, NextHeader()));
      return;
    }
    auto& inbound = std::get<transport::Inbound>(decoded);
    if (std::holds_alternative<transport::Heartbeat>(inbound.body)) {
      Reply(intake_, std::move(prefix), transport::EncodeHeartbeat(0, NextHeader()));
      return;
    }
    AnswerAlert(intake_, std::move(prefix), std::get<RaiseAlert>(inbound.body), received);
  }

  void AnswerAlert(zmq::socket_t& socket, std::vector<zmq::message_t> prefix,
                   const RaiseAlert& alert, SteadyClock::time_point received) {
    metrics_.Increment("alerts_received");
    std::vector<Event> events = ApplyToCore(alert);
    metrics_.Histogram("alert_received_to_decided").Record(Since(received));
    const auto decided = SteadyClock::now();
    // The reply first: the reporter is waiting on it. Then assignments and the feed.
    for (const Event& e : events) {
      if (const auto* a = std::get_if<AlertAccepted>(&e.body);
          a && a->reporter_id == alert.reporter_id && a->client_sequence == alert.client_sequence) {
        Reply(socket, std::move(prefix), transport::EncodeAlertAccepted(*a, NextHeader()));
        break;
      }
      if (const auto* r = std::get_if<AlertRejected>(&e.body);
          r && r->reporter_id == alert.reporter_id && r->client_sequence == alert.client_sequence) {
        metrics_.Increment(absl::StrCat("alerts_rejected.", Describe(r->reason).code));
        Reply(socket, std::move(prefix), transport::EncodeAlertRejected(*r, 0, NextHeader()));
        break;
      }
    }
    Fanout(events);
    metrics_.Histogram("alert_decided_to_sent").Record(Since(decided));
  }

  // ---- Channel 4: operators.

  void OnOperator(std::vector<zmq::message_t>& frames) {
    const auto received = SteadyClock::now();
    auto decoded =
        transport::Decode(Bytes(frames.back()), Channel::kOperator, options_.max_frame_bytes);
    std::vector<zmq::message_t> prefix = RoutingPrefix(frames);
    if (auto* error = std::get_if<transport::DecodeError>(&decoded)) {
      RefuseFrame(Channel::kOperator, *error);
      Reply(operators_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kOperator, *error, NextHeader()));
      return;
    }
    auto& inbound = std::get<transport::Inbound>(decoded);
    const uint64_t seq = inbound.sequence;
    metrics_.Increment("operator_requests");
    std::visit(
        [&](auto& body) {
          using T = std::decay_t<decltype(body)>;
          if constexpr (std::is_same_v<T, RaiseAlert>) {
            AnswerAlert(operators_, std::move(prefix), body, received);
          } else if constexpr (std::is_same_v<T, transport::Heartbeat>) {
            Reply(operators_, std::move(prefix), transport::EncodeHeartbeat(0, NextHeader()));
          } else if constexpr (std::is_same_v<T, transport::FeedSnapshotRequest>) {
            // Parts go back-to-back on this connection; the feed's events after as_of follow on
            // the feed socket, so a console that subscribed first misses nothing.
            const std::vector<std::string> parts =
                transport::EncodeFeedSnapshot(*core_, feed_sequence_, seq, NextHeader());
            server_sequence_ += parts.size() - 1;  // each part took its own envelope sequence
            for (const std::string& part : parts) {
              std::vector<zmq::message_t> copy;
              for (const zmq::message_t& p : prefix) copy.emplace_back(p.data(), p.size());
              Reply(operators_, std::move(copy), part);
            }
          } else if constexpr (std::is_same_v<T, transport::GetIncident>) {
            const Incident* inc = core_->FindIncident(body.incident);
            Reply(operators_, std::move(prefix),
                  inc ? transport::EncodeIncidentDetail(*core_, *inc, seq, NextHeader())
                      : transport::EncodeCommandResult(
                            false, RejectReason::kUnknownIncident,
                            absl::StrCat("No incident ", body.incident, "."), seq, NextHeader()));
          } else if constexpr (std::is_same_v<T, transport::ListOpenIncidents>) {
            Reply(operators_, std::move(prefix),
                  transport::EncodeIncidentList(*core_, body, seq, NextHeader()));
          } else if constexpr (std::is_same_v<T, transport::GetUnit>) {
            const std::optional<Slot> slot = core_->units().SlotOf(body.unit);
            Reply(operators_, std::move(prefix),
                  slot ? transport::EncodeUnitDetail(*core_, *slot, seq, NextHeader())
                       : transport::EncodeCommandResult(false, RejectReason::kUnknownUnit,
                                                        absl::StrCat("No unit ", body.unit, "."),
                                                        seq, NextHeader()));
          } else if constexpr (std::is_same_v<T, transport::UnitsNear>) {
            std::vector<Candidate> found;
            const PlanePoint p = core_->units().projection().ToPlane(body.position);
            const bool available_only = body.available_only;
            core_->units().index().WithinRadius(
                p, body.radius_m,
                [&](Slot s) { return !available_only || core_->units().Offerable(s); }, &found);
            std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
              return a.travel_s != b.travel_s ? a.travel_s < b.travel_s : a.slot < b.slot;
            });
            if (found.size() > body.limit) found.resize(body.limit);
            Reply(operators_, std::move(prefix),
                  transport::EncodeUnitList(*core_, found, seq, NextHeader()));
          } else if constexpr (std::is_same_v<T, transport::GetStats>) {
            Reply(operators_, std::move(prefix),
                  transport::EncodeStats(StatsNow(), seq, NextHeader()));
          } else if constexpr (std::is_same_v<T, ResolveIncident> ||
                               std::is_same_v<T, CloseIncident> ||
                               std::is_same_v<T, CancelIncident> ||
                               std::is_same_v<T, ManualAssign> ||
                               std::is_same_v<T, ReleaseAssignment> ||
                               std::is_same_v<T, SetUnitStatus>) {
            AnswerCommand(operators_, std::move(prefix), CommandBody{body}, seq);
          } else {
            const transport::DecodeError error =
                Refusal(RejectReason::kUnknownMessageType,
                        "That message is not accepted on the operator "
                        "channel.",
                        seq);
            RefuseFrame(Channel::kOperator, error);
            Reply(operators_, std::move(prefix),
                  transport::EncodeDecodeError(Channel::kOperator, error, NextHeader()));
          }
        },
        inbound.body);
  }

  // Applies a command and answers with CommandResult: the core's rejection if it refused.
  void AnswerCommand(zmq::socket_t& socket, std::vector<zmq::message_t> prefix,
                     const CommandBody& command, uint64_t in_reply_to) {
    std::vector<Event> events = ApplyToCore(command);
    const CommandRejected* rejected = nullptr;
    for (const Event& e : events) {
      if ((rejected = std::get_if<CommandRejected>(&e.body))) break;
    }
    if (rejected)
      metrics_.Increment(absl::StrCat("commands_rejected.", Describe(rejected->reason).code));
    Reply(socket, std::move(prefix),
          rejected ? transport::EncodeCommandResult(false, rejected->reason, rejected->message,
                                                    in_reply_to, NextHeader())
                   : transport::EncodeCommandResult(true, RejectReason::kUnspecified, "",
                                                    in_reply_to, NextHeader()));
    Fanout(events);
  }

  // ---- Channel 2: responders.

  void OnResponder(std::vector<zmq::message_t>& frames) {
    const std::string routing_id = frames.front().to_string();
    auto decoded =
        transport::Decode(Bytes(frames.back()), Channel::kResponder, options_.max_frame_bytes);
    std::vector<zmq::message_t> prefix = RoutingPrefix(frames);
    if (auto* error = std::get_if<transport::DecodeError>(&decoded)) {
      RefuseFrame(Channel::kResponder, *error);
      Reply(responders_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kResponder, *error, NextHeader()));
      return;
    }
    auto& inbound = std::get<transport::Inbound>(decoded);
    const absl::Time now = CoreNow();
    if (const auto* hello = std::get_if<transport::Hello>(&inbound.body)) {
      return OnHello(std::move(prefix), routing_id, *hello, inbound.sequence, now);
    }
    const UnitId unit = deliveries_.UnitOfRoutingId(routing_id);
    if (unit == 0) {
      const transport::DecodeError error = Refusal(
          RejectReason::kUnauthorized, "Say Hello with your unit id first.", inbound.sequence);
      RefuseFrame(Channel::kResponder, error);
      Reply(responders_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kResponder, error, NextHeader()));
      return;
    }
    deliveries_.Heard(unit, now);
    if (const auto* hb = std::get_if<transport::Heartbeat>(&inbound.body)) {
      const DeliveryBook::Session* s = deliveries_.Find(unit);
      (void)hb;
      Reply(responders_, std::move(prefix),
            transport::EncodeHeartbeat(s ? s->last_sequence : 0, NextHeader()));
      return;
    }
    if (const auto* receipt = std::get_if<transport::DeliveryReceipt>(&inbound.body)) {
      if (receipt->unit == unit) deliveries_.Receipt(unit, receipt->delivery_sequence);
      return;
    }
    std::optional<CommandBody> command = transport::AsCommand(inbound.body);
    if (!command) return;  // the codec only lets responder bodies through
    // The unit a message speaks for must be the unit of its connection.
    const UnitId claimed = std::visit(
        [](const auto& c) -> UnitId {
          if constexpr (requires { c.unit; }) {
            return c.unit;
          } else {
            return 0;
          }
        },
        *command);
    if (claimed != unit) {
      const transport::DecodeError error = Refusal(
          RejectReason::kUnauthorized,
          absl::StrCat("This connection speaks for unit ", unit, ", not unit ", claimed, "."),
          inbound.sequence);
      RefuseFrame(Channel::kResponder, error);
      Reply(responders_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kResponder, error, NextHeader()));
      return;
    }
    if (const auto* ack = std::get_if<AckAssignment>(&*command)) {
      deliveries_.Answered(unit, ack->assignment);
    } else if (const auto* decline = std::get_if<DeclineAssignment>(&*command)) {
      deliveries_.Answered(unit, decline->assignment);
    }
    metrics_.Increment("responder_commands");
    AnswerCommand(responders_, std::move(prefix), *command, inbound.sequence);
  }

  void OnHello(std::vector<zmq::message_t> prefix, const std::string& routing_id,
               const transport::Hello& hello, uint64_t in_reply_to, absl::Time now) {
    if (hello.unit == 0 || !core_->units().SlotOf(hello.unit)) {
      const transport::DecodeError error =
          Refusal(RejectReason::kUnknownUnit,
                  absl::StrCat("No unit ", hello.unit, " in the unit set."), in_reply_to);
      RefuseFrame(Channel::kResponder, error);
      Reply(responders_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kResponder, error, NextHeader()));
      return;
    }
    metrics_.Increment("responder_hellos");
    const DeliveryBook::HelloResult result =
        deliveries_.Hello(hello.unit, routing_id, hello.last_delivery_sequence_seen, now);
    Reply(responders_, std::move(prefix),
          transport::EncodeWelcome(in_reply_to, options_.heartbeat_interval,
                                   result.last_sequence_sent, result.resend_from, NextHeader()));
    // Everything the unit has not receipted goes again, in order, right after the Welcome.
    Resend(deliveries_.PendingFor(hello.unit), now);
  }

  // ---- Fan-out of the core's events.

  std::vector<Event> ApplyToCore(const CommandBody& command) {
    std::vector<Event> events;
    core_->Apply(Command{CoreNow(), command}, &events);
    return events;
  }

  void Fanout(const std::vector<Event>& events) {
    const absl::Time now = CoreNow();
    // Area broadcasts go out after every assignment of this batch: they reach a whole zone and
    // must not delay the units that were actually sent.
    std::vector<IncidentOpened> broadcasts;
    for (const Event& e : events) {
      // Replies (AlertAccepted, CommandRejected) are answered to their sender and have no feed
      // message: they take no feed sequence, so consoles see no gap.
      const std::string frame =
          transport::EncodeFeedEvent(e, feed_sequence_ + 1, *core_, NextHeader());
      if (!frame.empty()) {
        ++feed_sequence_;
        if (!feed_.send(zmq::buffer(frame), zmq::send_flags::dontwait)) {
          metrics_.Increment("feed_dropped");
        }
      }
      std::visit(
          [&](const auto& body) {
            using T = std::decay_t<decltype(body)>;
            if constexpr (std::is_same_v<T, AssignmentIssued>) {
              const Incident* inc = core_->FindIncident(body.incident);
              const uint64_t seq = deliveries_.NextSequence(body.unit);
              Deliver(body.unit, seq, transport::EncodeAssignment(body, *inc, seq, NextHeader()),
                      body.assignment, now);
            } else if constexpr (std::is_same_v<T, AssignmentExpired> ||
                                 std::is_same_v<T, AssignmentReleased>) {
              // The unit must learn it is free again, and stop acting on the old order.
              deliveries_.Answered(body.unit, body.assignment);
              const uint64_t seq = deliveries_.NextSequence(body.unit);
              Deliver(body.unit, seq,
                      transport::EncodeAssignmentReleased(body.unit, body.assignment, body.reason,
                                                          seq, NextHeader()),
                      0, now);
            } else if constexpr (std::is_same_v<T, IncidentOpened>) {
              if (options_.zone_broadcast_min_level > 0 &&
                  static_cast<int>(body.level) >= options_.zone_broadcast_min_level) {
                broadcasts.push_back(body);
              }
            }
          },
          e.body);
    }
    // ...and after this turn's replies have been handed to ZeroMQ: post them behind the loop.
    if (!broadcasts.empty()) {
      boost::asio::post(io_, [this, broadcasts = std::move(broadcasts)] {
        if (stopping_) return;
        for (const IncidentOpened& opened : broadcasts) BroadcastToZone(opened, CoreNow());
        Pump();  // the sends may have swallowed a readiness edge
      });
    }
  }

  void BroadcastToZone(const IncidentOpened& opened, absl::Time now) {
    const std::string text = absl::StrCat(
        "Incident ", opened.incident, " (", CategoryName(opened.category), " level ",
        LevelName(opened.level), ") reported in your zone at ",
        absl::StrFormat("(%.5f, %.5f)", opened.position.lon, opened.position.lat), ".");
    // Only units that have a session hear area broadcasts; the rest learn of it if assigned.
    for (UnitId unit : ConnectedUnitsInZone(opened.zone)) {
      const uint64_t seq = deliveries_.NextSequence(unit);
      Deliver(unit, seq,
              transport::EncodeAreaBroadcast(opened.zone, opened.incident, text, seq, NextHeader()),
              0, now);
    }
  }

  std::vector<UnitId> ConnectedUnitsInZone(ZoneId zone) {
    std::vector<UnitId> units;
    std::vector<Candidate> found;
    core_->units().index().InZone(
        zone, PlanePoint{}, [](Slot) { return true; }, &found);
    for (const Candidate& c : found) {
      const UnitId id = core_->units().unit(c.slot).id;
      const DeliveryBook::Session* s = deliveries_.Find(id);
      if (s != nullptr && s->connected) units.push_back(id);
    }
    std::sort(units.begin(), units.end());
    return units;
  }

  void Deliver(UnitId unit, uint64_t seq, std::string frame, AssignmentId assignment,
               absl::Time now) {
    const uint64_t dropped_before = deliveries_.dropped_total();
    const bool connected = deliveries_.Queue(unit, seq, frame, assignment);
    if (deliveries_.dropped_total() != dropped_before) metrics_.Increment("deliveries_dropped");
    metrics_.Increment("deliveries");
    if (connected) SendToUnit(unit, seq, frame, now);
  }

  void SendToUnit(UnitId unit, uint64_t seq, const std::string& frame, absl::Time now) {
    const DeliveryBook::Session* s = deliveries_.Find(unit);
    if (s == nullptr || !s->connected) return;
    try {
      if (!responders_.send(zmq::buffer(s->routing_id),
                            zmq::send_flags::sndmore | zmq::send_flags::dontwait) ||
          !responders_.send(zmq::buffer(frame), zmq::send_flags::dontwait)) {
        metrics_.Increment("deliveries_deferred");  // HWM: stays pending, resent later
        return;
      }
    } catch (const zmq::error_t&) {
      // EHOSTUNREACH with ROUTER_MANDATORY: the connection is gone; keep it pending for a Hello.
      metrics_.Increment("responders_unreachable");
      deliveries_.Disconnect(unit);
      return;
    }
    deliveries_.MarkSent(unit, seq, now);
  }

  void Resend(const std::vector<DeliveryBook::Send>& due, absl::Time now) {
    // Copies: sending can disconnect a unit and change the book.
    std::vector<std::tuple<UnitId, uint64_t, std::string>> copies;
    copies.reserve(due.size());
    for (const auto& d : due) copies.emplace_back(d.unit, d.sequence, *d.frame);
    for (const auto& [unit, seq, frame] : copies) {
      metrics_.Increment("resends");
      SendToUnit(unit, seq, frame, now);
    }
  }

  // ---- Timers.

  void FollowCoreDeadline() {
    const std::optional<absl::Time> next = core_->NextDeadline();
    if (next == armed_deadline_) return;
    armed_deadline_ = next;
    deadline_timer_.cancel();
    if (!next) return;
    deadline_timer_.expires_after(
        absl::ToChronoNanoseconds(std::max(absl::ZeroDuration(), *next - CoreNow())));
    deadline_timer_.async_wait([this](const boost::system::error_code& error) {
      if (error || stopping_) return;
      armed_deadline_.reset();
      Fanout(ApplyToCore(AdvanceTime{}));
      // Sending may have swallowed a readiness edge: look at the sockets again (Pump re-arms the
      // watchers and follows the next deadline).
      Pump();
    });
  }

  void ScheduleMaintenance() {
    const absl::Duration tick = std::min(options_.resend_interval, options_.heartbeat_interval) / 2;
    maintenance_timer_.expires_after(absl::ToChronoNanoseconds(tick));
    maintenance_timer_.async_wait([this](const boost::system::error_code& error) {
      if (error || stopping_) return;
      const absl::Time now = CoreNow();
      for (UnitId unit : deliveries_.DisconnectSilent(now - 3 * options_.heartbeat_interval)) {
        (void)unit;
        metrics_.Increment("responders_lost");
      }
      Resend(deliveries_.Due(now, options_.resend_interval), now);
      ScheduleMaintenance();
      Pump();  // the sends may have swallowed a readiness edge
    });
  }

  void RefuseFrame(Channel channel, const transport::DecodeError& error) {
    metrics_.Increment("frames_refused");
    metrics_.Increment(absl::StrCat("frames_refused.", transport::ChannelName(channel), ".",
                                    Describe(error.reason).code));
  }

  transport::StatsSnapshot StatsNow() {
    transport::StatsSnapshot s = metrics_.Snapshot(CoreNow());
    const CoreStats& c = core_->stats();
    s.counters["core.alerts_accepted"] = c.alerts_accepted;
    s.counters["core.alerts_merged"] = c.alerts_merged;
    s.counters["core.alerts_duplicate"] = c.alerts_duplicate;
    s.counters["core.alerts_rejected"] = c.alerts_rejected;
    s.counters["core.commands_rejected"] = c.commands_rejected;
    s.counters["core.assignments_issued"] = c.assignments_issued;
    s.counters["core.assignments_acked"] = c.assignments_acked;
    s.counters["core.assignments_declined"] = c.assignments_declined;
    s.counters["core.assignments_expired"] = c.assignments_expired;
    s.counters["core.assignments_released"] = c.assignments_released;
    s.counters["core.ring_widenings"] = c.ring_widenings;
    s.counters["core.escalations"] = c.escalations;
    s.counters["core.incidents_open"] = core_->open_incidents().size();
    s.counters["responders_connected"] = deliveries_.connected();
    s.counters["feed_sequence"] = feed_sequence_;
    return s;
  }

  void Shutdown() {
    if (stopping_) return;
    stopping_ = true;
    signals_.cancel();
    deadline_timer_.cancel();
    maintenance_timer_.cancel();
    if (intake_watch_) intake_watch_->Cancel();
    if (responder_watch_) responder_watch_->Cancel();
    if (operator_watch_) operator_watch_->Cancel();
    // Replies already handed to ZeroMQ are flushed by each socket's linger when it closes.
    io_.stop();
  }

  const absl::Time wall_origin_ = absl::Now();
  const SteadyClock::time_point steady_origin_ = SteadyClock::now();
  ServerOptions options_;
  CityData city_;
  std::unique_ptr<DispatchCore> core_;
  boost::asio::io_context io_;
  zmq::context_t zmq_;
  zmq::socket_t intake_;
  zmq::socket_t responders_;
  zmq::socket_t operators_;
  zmq::socket_t feed_;
  std::unique_ptr<transport::ZmqWatcher> intake_watch_;
  std::unique_ptr<transport::ZmqWatcher> responder_watch_;
  std::unique_ptr<transport::ZmqWatcher> operator_watch_;
  boost::asio::signal_set signals_;
  boost::asio::steady_timer deadline_timer_;
  boost::asio::steady_timer maintenance_timer_;
  std::optional<absl::Time> armed_deadline_;
  DeliveryBook deliveries_;
  transport::Metrics metrics_;
  BoundEndpoints endpoints_;
  uint64_t server_sequence_ = 0;
  uint64_t feed_sequence_ = 0;
  bool stopping_ = false;
  int stop_signal_ = 0;
};

absl::StatusOr<std::unique_ptr<DispatchServer>> DispatchServer::Create(ServerOptions options,
                                                                       CityData city,
                                                                       DispatchConfig config) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  auto registry = UnitRegistry::Create(city.units, city.projection, config.travel);
  if (!registry.ok()) return registry.status();
  auto core =
      DispatchCore::Create(std::move(config), city.map.get(), *std::move(registry), absl::Now());
  if (!core.ok()) return core.status();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(city), *std::move(core));
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  return std::unique_ptr<DispatchServer>(new DispatchServer(std::move(impl)));
}

DispatchServer::DispatchServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DispatchServer::~DispatchServer() = default;
const BoundEndpoints& DispatchServer::endpoints() const { return impl_->endpoints(); }
void DispatchServer::Run() { impl_->Run(); }
void DispatchServer::Stop() { impl_->Stop(); }
std::string DispatchServer::Summary() const { return impl_->Summary(); }

}  // namespace gz
