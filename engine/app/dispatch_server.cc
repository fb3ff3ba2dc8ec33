#include "engine/app/dispatch_server.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>  // before Asio (Boost 1.74 + C++20)
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "engine/app/admission_queue.h"
#include "engine/app/cpu_placement.h"
#include "engine/app/delivery_book.h"
#include "engine/auth/server_auth.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/journal/fingerprint.h"
#include "engine/journal/journal.h"
#include "engine/transport/codec.h"
#include "engine/transport/journal_codec.h"
#include "engine/transport/metrics.h"
#include "engine/transport/snapshot_codec.h"
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

auth::Channel AuthChannel(Channel channel) {
  switch (channel) {
    case Channel::kIntake:
      return auth::Channel::kIntake;
    case Channel::kResponder:
      return auth::Channel::kResponder;
    case Channel::kOperator:
      return auth::Channel::kOperator;
  }
  return auth::Channel::kOperator;
}

// Whether an event goes out on the control-room feed, and so takes the next event_sequence: every
// event but the replies to one sender. Live and in journal replay alike, so the feed's sequence
// continues after a restart without a gap or a repeat.
bool OnFeed(const Event& e) {
  return !std::holds_alternative<AlertAccepted>(e.body) &&
         !std::holds_alternative<CommandRejected>(e.body);
}

// A random non-zero id for this run of the engine (Welcome.engine_incarnation).
uint64_t NewIncarnation() {
  std::random_device random;
  const uint64_t id = (uint64_t{random()} << 32) ^ random();
  return id == 0 ? 1 : id;
}

// The engine's clock in whole nanoseconds: what the journal records, so replay applies each
// command at exactly the time it was applied.
absl::Time WholeNanoseconds(absl::Time t) { return absl::FromUnixNanos(absl::ToUnixNanos(t)); }

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

// ZeroMQ starts its I/O and reaper threads with the first socket, so their CPUs are set here,
// before any socket exists: with the engine pinned, every allowed CPU but the engine's.
zmq::context_t NewZmqContext(const std::vector<int>& cpus_beside_engine) {
  zmq::context_t context(1);
  for (int cpu : cpus_beside_engine) context.set(zmq::ctxopt::thread_affinity_cpu_add, cpu);
  return context;
}

}  // namespace

class DispatchServer::Impl {
 public:
  // `cpus_beside_engine`: with options.engine_cpu set, the CPUs for everything but the loop
  // (validated by Create); else empty.
  Impl(ServerOptions options, CityData city, std::unique_ptr<DispatchCore> core,
       std::vector<int> cpus_beside_engine)
      : options_(std::move(options)),
        city_(std::move(city)),
        core_(std::move(core)),
        cpus_beside_engine_(std::move(cpus_beside_engine)),
        zmq_(NewZmqContext(cpus_beside_engine_)),
        intake_(zmq_, zmq::socket_type::router),
        responders_(zmq_, zmq::socket_type::router),
        operators_(zmq_, zmq::socket_type::router),
        feed_(zmq_, zmq::socket_type::pub),
        signals_(io_, SIGINT, SIGTERM),
        deadline_timer_(io_),
        maintenance_timer_(io_),
        deliveries_(options_.max_pending_deliveries_per_unit) {}

  ~Impl() {
    // Never leave a snapshot child behind (Shutdown normally waited for it already).
    if (snapshot_child_.has_value()) {
      ::kill(snapshot_child_->pid, SIGKILL);
      while (::waitpid(snapshot_child_->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
  }

  absl::Status Bind() {
    // CURVE before binding: a socket that listened unauthenticated even for a moment is open.
    if (!options_.insecure_no_auth) {
      absl::StatusOr<std::unique_ptr<auth::ServerAuth>> secured =
          auth::ServerAuth::Create(zmq_, options_.keys_dir, &metrics_);
      if (!secured.ok()) return secured.status();
      auth_ = *std::move(secured);
      const std::pair<zmq::socket_t*, auth::Channel> channels[] = {
          {&intake_, auth::Channel::kIntake},
          {&responders_, auth::Channel::kResponder},
          {&operators_, auth::Channel::kOperator},
          {&feed_, auth::Channel::kFeed}};
      for (const auto& [socket, channel] : channels) {
        if (absl::Status s = auth_->Secure(*socket, channel); !s.ok()) return s;
      }
    }
    // A frame over max_frame_bytes but within the read cap is read whole and answered
    // MESSAGE_TOO_LARGE by the codec, before any parsing, so its sender learns why; only beyond the
    // cap does ZeroMQ cut the connection off, before buffering it. The cap is 4x max_frame_bytes
    // (256 KiB by default) but at most 1 MiB over it, so a large max_frame_bytes does not multiply
    // what a peer can make dispatchd hold.
    const int64_t max_frame = static_cast<int64_t>(options_.max_frame_bytes);
    const int64_t read_cap = max_frame + std::min<int64_t>(3 * max_frame, int64_t{1} << 20);
    for (zmq::socket_t* s : {&intake_, &responders_, &operators_}) {
      s->set(zmq::sockopt::maxmsgsize, read_cap);
      s->set(zmq::sockopt::router_mandatory, 1);
      s->set(zmq::sockopt::linger,
             static_cast<int>(absl::ToInt64Milliseconds(options_.linger_on_stop)));
    }
    // Replies are small and each is owed to someone: under an alert burst the default high-water
    // mark (1,000 per peer) would drop answers a reporter is waiting for.
    intake_.set(zmq::sockopt::sndhwm, 100'000);
    operators_.set(zmq::sockopt::sndhwm, 100'000);
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
  const std::vector<std::string>& journal_notes() const { return journal_notes_; }
  const absl::Status& status() const { return fatal_; }

  // ---- The journal at start.

  // Brings the core back to where the journal left it (the newest snapshot, then every record
  // after it, in order), rebuilds what the server keeps beside the core (the feed's sequence; the
  // assignments still waiting for an acknowledgement, queued for their units), then starts
  // writing a new segment. Says what it did in journal_notes_.
  absl::Status Recover(journal::JournalDirectory& dir, int64_t core_start_unix_us,
                       uint64_t fingerprint) {
    const auto began = SteadyClock::now();
    journal_notes_ = dir.warnings();
    if (dir.snapshot().has_value()) {
      const std::string& path = dir.snapshot()->path;
      absl::StatusOr<std::string> payload = dir.ReadSnapshot();
      if (!payload.ok()) return payload.status();
      absl::StatusOr<transport::EngineSnapshot> snapshot =
          transport::DecodeEngineSnapshot(*payload);
      if (!snapshot.ok()) {
        return absl::DataLossError(absl::StrCat(path, ": ", snapshot.status().message()));
      }
      if (absl::Status s = transport::RestoreCoreSnapshot(snapshot->core, core_.get()); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
      }
      feed_sequence_ = snapshot->feed_event_sequence;
      journal_notes_.push_back(absl::StrCat("journal: restored the state after record ",
                                            dir.snapshot()->last_record, " from ", path));
    }
    std::vector<Event> events;
    absl::StatusOr<journal::ReplaySummary> replayed =
        dir.Replay([&](uint64_t number, absl::string_view payload) -> absl::Status {
          absl::StatusOr<Command> command = transport::DecodeJournalCommand(payload);
          if (!command.ok()) {
            return absl::DataLossError(
                absl::StrCat(dir.dir(), ": record ", number, ": ", command.status().message()));
          }
          // Replies and deliveries went out before the crash (or never will: their senders
          // retry); only the feed's count matters here.
          events.clear();
          core_->Apply(*command, &events);
          for (const Event& e : events) {
            if (OnFeed(e)) ++feed_sequence_;
          }
          return absl::OkStatus();
        });
    if (!replayed.ok()) return replayed.status();
    if (replayed->torn.has_value()) {
      journal_notes_.push_back(absl::StrCat("journal: truncated torn tail of ",
                                            replayed->torn->bytes, " bytes at ",
                                            replayed->torn->path, ":", replayed->torn->offset));
    }
    absl::StatusOr<std::unique_ptr<journal::JournalWriter>> writer =
        dir.StartWriter(core_start_unix_us, fingerprint);
    if (!writer.ok()) return writer.status();
    journal_ = *std::move(writer);
    records_since_snapshot_ = replayed->records;
    const size_t pending = RequeueUnacknowledged();
    journal_notes_.push_back(absl::StrFormat(
        "journal: replayed %d records from %s in %d ms (%d open incidents, %d pending "
        "assignments)",
        replayed->records, dir.dir(), absl::ToInt64Milliseconds(Since(began)),
        core_->open_incidents().size(), pending));
    return absl::OkStatus();
  }

  // After a restart the delivery book is empty and the units' sequences start again from 1 (a new
  // incarnation). Every assignment still waiting for its acknowledgement is queued again for its
  // unit, to go out when the unit says Hello; acknowledged ones the unit already has. Returns how
  // many.
  size_t RequeueUnacknowledged() {
    const absl::Time now = CoreNow();
    size_t queued = 0;
    for (IncidentId id : core_->open_incidents()) {
      const Incident* incident = core_->FindIncident(id);
      for (AssignmentId assignment : incident->assignments) {
        const Assignment* a = core_->FindAssignment(assignment);
        if (a == nullptr || a->status != AssignmentStatus::kPending) continue;
        AssignmentIssued issued;
        issued.assignment = a->id;
        issued.incident = a->incident;
        issued.unit = a->unit;
        issued.role = a->role;
        issued.headcount = a->headcount;
        issued.eta_s = a->eta_s;
        issued.ring = a->ring;
        issued.ack_deadline = a->ack_deadline;
        const uint64_t seq = deliveries_.NextSequence(a->unit);
        Deliver(a->unit, seq, transport::EncodeAssignment(issued, *incident, seq, NextHeader()),
                a->id, now);
        ++queued;
      }
    }
    return queued;
  }
  std::string auth_description() const {
    return auth_ ? auth_->Description() : "authentication OFF (--insecure_no_auth)";
  }

  void Run() {
    intake_watch_ = std::make_unique<transport::ZmqWatcher>(io_, intake_, [this] { Pump(); });
    responder_watch_ =
        std::make_unique<transport::ZmqWatcher>(io_, responders_, [this] { Pump(); });
    operator_watch_ = std::make_unique<transport::ZmqWatcher>(io_, operators_, [this] { Pump(); });
    if (auth_) auth_->Start(io_);
    signals_.async_wait([this](const boost::system::error_code& error, int signal) {
      if (!error) {
        stop_signal_ = signal;
        Shutdown();
      }
    });
    ScheduleMaintenance();
    boost::asio::post(io_, [this] { Pump(); });
    if (options_.engine_cpu >= 0) {
      // Validated in Create; a failure here (the mask changed since) leaves the loop unpinned,
      // which is slower but correct.
      if (absl::Status s = PinCallingThread({options_.engine_cpu}); !s.ok()) {
        std::fprintf(stderr, "dispatchd: WARNING: %s; the engine runs unpinned\n",
                     std::string(s.message()).c_str());
      }
    }
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
        metrics_.Get("auth_refused") + metrics_.Get("handshake_failed"),
        " connections or messages refused by authentication; ", deliveries_.connected(),
        " responders connected\n");
    absl::StrAppend(&out, metrics_.Summary());
    return out;
  }

 private:
  Header NextHeader() { return Header{++server_sequence_, CoreNow()}; }

  // The engine's clock: the wall clock at start, then advanced by the monotonic clock, so a step
  // of the system clock (NTP) neither freezes nor fires every deadline at once.
  absl::Time CoreNow() const {
    return WholeNanoseconds(wall_origin_ + absl::FromChrono(SteadyClock::now() - steady_origin_));
  }

  // ---- The loop.

  void Pump() {
    if (stopping_) return;
    const auto began = SteadyClock::now();
    int handled = 0;
    // Alerts are read (cheap) well ahead of being decided (dear), so that under overload the
    // most severe are decided first and the excess is refused with BUSY instead of waiting unseen
    // in ZeroMQ's queues.
    handled +=
        Drain(intake_, options_.intake_read_batch, [this](auto& frames) { OnIntake(frames); });
    handled += DecideQueuedAlerts(options_.intake_batch);
    handled +=
        Drain(operators_, options_.operator_batch, [this](auto& frames) { OnOperator(frames); });
    const int from_responders =
        Drain(responders_, options_.responder_batch, [this](auto& frames) { OnResponder(frames); });
    handled += from_responders;
    // A full batch means more is waiting: responders' heartbeats may be sitting unread, so their
    // silence says nothing until the engine has caught up.
    responders_backlogged_ = from_responders >= options_.responder_batch;
    ApplyCoalescedPositions();
    EndTurn();
    if (stopping_) return;  // the journal failed
    metrics_.Histogram("loop_turn").Record(Since(began));
    FollowCoreDeadline();
    // Sends may have consumed a readiness edge: look again before waiting.
    if (!admission_.empty() || intake_watch_->Readable() || operator_watch_->Readable() ||
        responder_watch_->Readable()) {
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
      // A delimiter that is not empty would be echoed back too, and may be as large as ZeroMQ's
      // cap.
      if (frames.size() < 2 || frames.size() > 3 || (frames.size() == 3 && frames[1].size() != 0)) {
        metrics_.Increment("frames_refused");
        metrics_.Increment("frames_refused.bad_framing");
        continue;
      }
      handler(frames);
    }
    return n;
  }

  // ---- Sending, after the journal.
  //
  // While a turn holds commands not yet durable (holding_), everything the turn sends waits in
  // the outbox, in order, until EndTurn() has committed them: nobody hears of an effect the
  // journal could still lose. Without a journal, or before the turn's first command, it goes out
  // at once.

  void Reply(zmq::socket_t& socket, std::vector<zmq::message_t> prefix, const std::string& frame) {
    if (holding_) {
      outbox_.push_back(Outgoing{Outgoing::Kind::kReply, &socket, std::move(prefix), frame});
      return;
    }
    SendReply(socket, std::move(prefix), frame);
  }

  void Publish(const std::string& frame) {
    if (holding_) {
      outbox_.push_back(Outgoing{Outgoing::Kind::kFeed, &feed_, {}, frame});
      return;
    }
    if (!feed_.send(zmq::buffer(frame), zmq::send_flags::dontwait)) {
      metrics_.Increment("feed_dropped");
    }
  }

  void SendReply(zmq::socket_t& socket, std::vector<zmq::message_t> prefix,
                 const std::string& frame) {
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
    if (!Admit(Channel::kIntake, intake_, prefix, payload, inbound.sequence)) return;
    if (std::holds_alternative<transport::Heartbeat>(inbound.body)) {
      Reply(intake_, std::move(prefix), transport::EncodeHeartbeat(0, NextHeader()));
      return;
    }
    QueueAlert(std::move(prefix), std::get<RaiseAlert>(inbound.body), received, inbound.sequence);
  }

  // ---- Overload: alerts wait in the admission queue, most severe first (admission_queue.h).

  // An alert read and validated, waiting for its decision.
  struct PendingAlert {
    std::vector<zmq::message_t> prefix;
    RaiseAlert alert;
    SteadyClock::time_point received;
    uint64_t sequence = 0;
  };

  void QueueAlert(std::vector<zmq::message_t> prefix, const RaiseAlert& alert,
                  SteadyClock::time_point received, uint64_t sequence) {
    std::optional<PendingAlert> shed =
        admission_.Push(alert.level, PendingAlert{std::move(prefix), alert, received, sequence});
    if (shed) RefuseBusy(*std::move(shed));
  }

  // Decides queued alerts, most severe first, until `budget` is spent. Returns how many.
  int DecideQueuedAlerts(int budget) {
    int n = 0;
    for (; n < budget; ++n) {
      std::optional<PendingAlert> next = admission_.PopMostSevere();
      if (!next) break;
      AnswerAlert(intake_, std::move(next->prefix), next->alert, next->received);
    }
    return n;
  }

  // An explicit answer, never silence: the reporter's client retries with the same idempotency key
  // (the core never saw this alert, so the retry is decided afresh).
  void RefuseBusy(PendingAlert pending) {
    metrics_.Increment("alerts_shed");
    metrics_.Increment(absl::StrCat("alerts_shed.level_", LevelName(pending.alert.level)));
    AlertRejected busy;
    busy.reporter_id = pending.alert.reporter_id;
    busy.client_sequence = pending.alert.client_sequence;
    busy.reason = RejectReason::kBusy;
    busy.message = absl::StrCat(
        "dispatchd is overloaded and has ", admission_.size(),
        " more severe or older alerts waiting; this one was not taken. Send it again with the same "
        "client_sequence.");
    // Roughly the time to decide what is queued ahead of a retry, at a few thousand per second.
    const uint32_t retry_after_ms =
        static_cast<uint32_t>(std::clamp<size_t>(admission_.size() / 4, 50, 5000));
    Reply(intake_, std::move(pending.prefix),
          transport::EncodeAlertRejected(busy, retry_after_ms, NextHeader()));
  }

  static constexpr uint32_t kRetryAfterOpenLimitMs = 5000;

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
        uint32_t retry_after_ms = 0;
        if (r->reason == RejectReason::kBusy) {
          // At the core's open-incident limit, which only falls as incidents end: minutes, not
          // milliseconds, so a retry storm would only burn the reporter's battery.
          metrics_.Increment("alerts_shed");
          metrics_.Increment("alerts_shed.open_incident_limit");
          metrics_.Increment(absl::StrCat("alerts_shed.level_", LevelName(alert.level)));
          retry_after_ms = kRetryAfterOpenLimitMs;
        }
        Reply(socket, std::move(prefix),
              transport::EncodeAlertRejected(*r, retry_after_ms, NextHeader()));
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
    if (!Admit(Channel::kOperator, operators_, prefix, frames.back(), seq)) return;
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
    const std::optional<auth::Identity> sender =
        Admit(Channel::kResponder, responders_, prefix, frames.back(), inbound.sequence);
    if (!sender) return;
    if (const auto* batch = std::get_if<transport::PositionBatch>(&inbound.body)) {
      return OnPositionBatch(std::move(prefix), *batch, inbound.sequence, *sender);
    }
    const absl::Time now = CoreNow();
    if (const auto* hello = std::get_if<transport::Hello>(&inbound.body)) {
      return OnHello(std::move(prefix), routing_id, *hello, inbound.sequence, now, *sender);
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
      metrics_.Increment("auth_refused");
      metrics_.Increment("auth_refused.responder.wrong_unit");
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
    if (const auto* update = std::get_if<UpdateUnit>(&*command);
        update && update->position && !update->status && !update->on_post) {
      // A position alone is superseded by the next one: keep the latest per unit and apply them
      // once per turn (ApplyCoalescedPositions), so a burst costs one index move per unit. The
      // codec has already checked the coordinates. The answer goes once the move is applied (and
      // journaled, with the turn's commit), like any other command's.
      const auto [it, added] = pending_positions_.insert_or_assign(update->unit, *update->position);
      if (!added) metrics_.Increment("positions_coalesced");
      position_replies_.push_back({std::move(prefix), inbound.sequence});
      return;
    }
    AnswerCommand(responders_, std::move(prefix), *command, inbound.sequence);
  }

  // A gateway's positions for many units: checked whole (a refused batch changes nothing), then
  // coalesced with the per-unit reports, and answered once after they are applied (and journaled).
  void OnPositionBatch(std::vector<zmq::message_t> prefix, const transport::PositionBatch& batch,
                       uint64_t in_reply_to, const auth::Identity& sender) {
    for (const auto& [unit, position] : batch.positions) {
      std::optional<transport::DecodeError> error;
      if (!auth::MaySpeakFor(sender, unit)) {
        metrics_.Increment("auth_refused");
        metrics_.Increment("auth_refused.responder.wrong_unit");
        error = Refusal(RejectReason::kUnauthorized,
                        absl::StrCat("This key may not report positions for unit ", unit,
                                     "; the batch was not taken."),
                        in_reply_to);
      } else if (!core_->units().SlotOf(unit)) {
        error = Refusal(RejectReason::kUnknownUnit,
                        absl::StrCat("Unit ", unit,
                                     " of the position batch is not a unit of this city; the batch "
                                     "was not taken."),
                        in_reply_to);
      }
      if (error) {
        RefuseFrame(Channel::kResponder, *error);
        Reply(responders_, std::move(prefix),
              transport::EncodeDecodeError(Channel::kResponder, *error, NextHeader()));
        return;
      }
    }
    for (const auto& [unit, position] : batch.positions) {
      const auto [it, added] = pending_positions_.insert_or_assign(unit, position);
      if (!added) metrics_.Increment("positions_coalesced");
    }
    metrics_.Increment("position_batches");
    metrics_.Increment("positions_batched", batch.positions.size());
    position_replies_.push_back({std::move(prefix), in_reply_to});
  }

  void ApplyCoalescedPositions() {
    if (pending_positions_.empty()) return;
    // In unit order, so that the journal (and a replay) sees the same sequence every time.
    std::vector<std::pair<UnitId, LonLat>> positions(pending_positions_.begin(),
                                                     pending_positions_.end());
    pending_positions_.clear();
    std::sort(positions.begin(), positions.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [unit, position] : positions) {
      std::vector<Event> events =
          ApplyToCore(UpdateUnit{unit, std::nullopt, std::nullopt, position});
      metrics_.Increment("positions_applied");
      Fanout(events);
    }
    std::vector<PositionReply> replies;
    replies.swap(position_replies_);
    for (PositionReply& r : replies) {
      Reply(responders_, std::move(r.prefix),
            transport::EncodeCommandResult(true, RejectReason::kUnspecified, "", r.in_reply_to,
                                           NextHeader()));
    }
  }

  void OnHello(std::vector<zmq::message_t> prefix, const std::string& routing_id,
               const transport::Hello& hello, uint64_t in_reply_to, absl::Time now,
               const auth::Identity& sender) {
    // The unit comes from the key (its allow-list line), not from what the Hello says.
    if (!auth::MaySpeakFor(sender, hello.unit)) {
      metrics_.Increment("auth_refused");
      metrics_.Increment("auth_refused.responder.wrong_unit");
      const transport::DecodeError error = Refusal(
          RejectReason::kUnauthorized,
          sender.role == auth::Role::kResponder
              ? absl::StrCat("This key belongs to unit ", sender.unit,
                             "; it cannot speak for unit ", hello.unit, ".")
              : absl::StrCat("A ", auth::RoleName(sender.role),
                             " key cannot speak for a unit; responders need their unit's key."),
          in_reply_to);
      RefuseFrame(Channel::kResponder, error);
      Reply(responders_, std::move(prefix),
            transport::EncodeDecodeError(Channel::kResponder, error, NextHeader()));
      return;
    }
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
        deliveries_.Hello(hello.unit, routing_id, PositionStated(hello), now);
    Reply(responders_, std::move(prefix),
          transport::EncodeWelcome(in_reply_to, options_.heartbeat_interval,
                                   result.last_sequence_sent, result.resend_from, incarnation_,
                                   NextHeader()));
    // Everything the unit has not receipted goes again, in order, right after the Welcome.
    Resend(deliveries_.PendingFor(hello.unit), now);
  }

  // The delivery position a Hello states, as this run of the engine takes it. A unit's first
  // Hello to this run cannot have seen anything it sent (deliveries go only to units that said
  // Hello), so the position it states belongs to an earlier run, whose sequences meant other
  // deliveries: it is taken as 0, and everything pending for the unit goes out.
  uint64_t PositionStated(const transport::Hello& hello) {
    return greeted_.insert(hello.unit).second ? 0 : hello.last_delivery_sequence_seen;
  }

  // ---- Fan-out of the core's events.

  std::vector<Event> ApplyToCore(const CommandBody& body) {
    const Command command{CoreNow(), body};
    if (journal_ != nullptr) {
      // Buffered now, durable at the end of the turn; until then what it causes waits (holding_).
      journal_->Append(transport::EncodeJournalCommand(command));
      ++records_since_snapshot_;
      holding_ = true;
    }
    std::vector<Event> events;
    const auto began = SteadyClock::now();
    core_->Apply(command, &events);
    // The longest single command is what a stall of the whole loop is made of.
    metrics_.Histogram("core_apply").Record(Since(began));
    return events;
  }

  // The end of a turn of the loop: one commit (one write, one fdatasync) for every command the
  // turn applied, then everything they caused goes out, in order. A failed commit stops the
  // engine at once, and what the turn produced is never sent (see Fatal).
  void EndTurn() {
    if (!holding_) return;
    holding_ = false;
    const auto began = SteadyClock::now();
    const size_t records = journal_->uncommitted();
    if (absl::Status s = journal_->Commit(); !s.ok()) return Fatal(std::move(s));
    metrics_.Histogram("journal_commit").Record(Since(began));
    metrics_.Increment("journal_commits");
    metrics_.Increment("journal_records", records);
    std::vector<Outgoing> outbox;
    outbox.swap(outbox_);
    const absl::Time now = CoreNow();
    for (Outgoing& out : outbox) {
      switch (out.kind) {
        case Outgoing::Kind::kReply:
          SendReply(*out.socket, std::move(out.prefix), out.frame);
          break;
        case Outgoing::Kind::kFeed:
          Publish(out.frame);
          break;
        case Outgoing::Kind::kUnit:
          SendToUnit(out.unit, out.sequence, out.frame, now);
          break;
      }
    }
    ReapSnapshot(/*wait=*/false);
    if (options_.snapshot_every_records > 0 &&
        records_since_snapshot_ >= options_.snapshot_every_records && !stopping_) {
      WriteSnapshot();
    }
  }

  // Saves the engine's state so that the next start replays only what comes after. The loop only
  // opens the next segment and forks: the child has the state as it was at that instant
  // (copy-on-write), encodes it, writes the file and exits, while the engine goes on. Encoding a
  // state of 300,000 remembered alerts took 60-175 ms and writing it 14-47 ms, all of it a stall
  // of the engine when it was done here (bench/RESULTS.md). ReapSnapshot finishes the job.
  void WriteSnapshot() {
    if (snapshot_child_.has_value()) return;  // the last one is still being written
    const auto began = SteadyClock::now();
    absl::StatusOr<std::optional<journal::JournalWriter::SnapshotPlan>> plan =
        journal_->BeginSnapshot();
    if (!plan.ok()) return Fatal(plan.status());
    records_since_snapshot_ = 0;
    if (!plan->has_value()) return;
    const uint64_t feed_sequence = feed_sequence_;
    const pid_t parent = ::getpid();
    // The stop signals are blocked across fork() so the child cannot take one meant for the engine
    // before it has set them aside (a Ctrl-C or a service stop signals both processes).
    sigset_t stop_signals, previous;
    sigemptyset(&stop_signals);
    for (int signal : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&stop_signals, signal);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &previous);
    const pid_t child = ::fork();
    if (child == 0) {
      int code = kSnapshotCrashed;
      try {
        code = WriteSnapshotInChild(**plan, feed_sequence, parent, &previous);
      } catch (...) {  // never unwind into the engine's frames in a copy of the engine
      }
      ::_exit(code);
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    if (child < 0) {
      // No process to spare: write it here, holding the loop, as before.
      metrics_.Increment("journal_snapshot_fork_failed");
      const int code = WriteSnapshotInChild(**plan, feed_sequence, 0, nullptr);
      return FinishSnapshot(**plan, code, began);
    }
    metrics_.Histogram("journal_snapshot_pause").Record(Since(began));
    snapshot_child_ = SnapshotChild{child, **plan, began};
  }

  // The snapshot child's work; returns its exit code. Runs in a copy of this process made by
  // fork() from the loop's thread: it touches only the core (read) and files, never a socket.
  static constexpr int kSnapshotWritten = 0;
  static constexpr int kSnapshotFailed = 1;    // the file could not be written: stops the engine
  static constexpr int kSnapshotTooLarge = 2;  // over the size cap: nothing written
  static constexpr int kSnapshotOrphaned = 3;
  static constexpr int kSnapshotCrashed = 4;  // an exception, a signal: nothing written
  // How long a snapshot child may take before it is killed (and the snapshot tried again later),
  // and how long a stop waits for one.
  static constexpr absl::Duration kSnapshotChildLimit = absl::Minutes(5);
  static constexpr absl::Duration kSnapshotStopWait = absl::Seconds(30);
  int WriteSnapshotInChild(const journal::JournalWriter::SnapshotPlan& plan, uint64_t feed_sequence,
                           pid_t parent, const sigset_t* unblocked) {
    if (parent != 0) {
      // Dies with the engine: a snapshot finished after a crash and a restart would race the new
      // engine's own files. Signals meant for the engine are not this child's to catch.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) return kSnapshotOrphaned;
      // Nothing inherited is the child's: above all not the journal's LOCK, which a restarted
      // engine must find free the moment this one is gone (a flock lasts while any copy is open).
      if (::close_range(3, ~0U, 0) != 0) {
        for (int fd = 3, n = static_cast<int>(::sysconf(_SC_OPEN_MAX)); fd < n; ++fd) ::close(fd);
      }
      // The engine's stop signals are not this child's: it finishes (the engine waits for it) or
      // dies with the engine.
      for (int signal : {SIGINT, SIGTERM, SIGHUP}) std::signal(signal, SIG_IGN);
      pthread_sigmask(SIG_SETMASK, unblocked, nullptr);
      // Forked from the pinned loop thread, it would share the engine's CPU; it gets the others.
      if (!cpus_beside_engine_.empty()) (void)PinCallingThread(cpus_beside_engine_);
    }
    transport::EngineSnapshot snapshot;
    snapshot.feed_event_sequence = feed_sequence;
    snapshot.core = transport::EncodeCoreSnapshot(*core_);
    if (snapshot.core.empty()) return kSnapshotTooLarge;  // keep replaying the journal
    absl::Status s =
        journal::JournalWriter::WriteSnapshotFile(plan, transport::EncodeEngineSnapshot(snapshot));
    if (!s.ok()) {
      std::fprintf(stderr, "dispatchd: the snapshot writer failed: %s\n",
                   std::string(s.message()).c_str());
      return kSnapshotFailed;
    }
    return kSnapshotWritten;
  }

  // Looks whether the snapshot child is done, and finishes. With `wait`, waits for it up to
  // kSnapshotStopWait. A child past kSnapshotChildLimit (a stuck disk) is killed: its snapshot is
  // not written, and the next one is tried when due.
  void ReapSnapshot(bool wait) {
    if (!snapshot_child_.has_value()) return;
    const pid_t pid = snapshot_child_->pid;
    const auto give_up = SteadyClock::now() + absl::ToChronoNanoseconds(kSnapshotStopWait);
    int status = 0;
    for (;;) {
      const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
      if (reaped == pid) break;
      if (reaped < 0 && errno != EINTR) {
        status = -1;  // not ours to wait for any more: count it as not written
        break;
      }
      const bool overdue = Since(snapshot_child_->began) > kSnapshotChildLimit ||
                           (wait && SteadyClock::now() > give_up);
      if (overdue) {
        metrics_.Increment("journal_snapshot_killed");
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        break;
      }
      if (!wait) return;  // still writing
      ::usleep(1000);     // a stop waiting for the child's last writes
    }
    const SnapshotChild child = *std::move(snapshot_child_);
    snapshot_child_.reset();
    int code = kSnapshotCrashed;
    if (status != -1 && WIFEXITED(status)) code = WEXITSTATUS(status);
    FinishSnapshot(child.plan, code, child.began);
  }

  void FinishSnapshot(const journal::JournalWriter::SnapshotPlan& plan, int code,
                      SteadyClock::time_point began) {
    switch (code) {
      case kSnapshotWritten:
        journal_->FinishSnapshot(plan);
        metrics_.Histogram("journal_snapshot").Record(Since(began));
        metrics_.Increment("journal_snapshots");
        return;
      case kSnapshotTooLarge:  // over the snapshot size cap
        metrics_.Increment("journal_snapshots_skipped");
        return;
      case kSnapshotCrashed:
      case kSnapshotOrphaned:
        // Killed, or out of memory: the journal is as it was (the older snapshot and every record
        // after it), so the engine goes on and tries again when the next snapshot is due.
        metrics_.Increment("journal_snapshots_not_written");
        return;
      case kSnapshotFailed:
      default:
        // As for a failed commit: a snapshot that could not be made durable stops the engine.
        return Fatal(absl::DataLossError(absl::StrCat(
            "the snapshot of the state after record ", plan.last_record, " in ", plan.journal.dir,
            " could not be written (its writer's exit code ", code, "; see above)")));
    }
  }

  // The journal failed: stop now, never retry (a second fdatasync may report success for data the
  // first lost). Nothing the failed turn caused is sent: to every client it is as if the engine
  // died before their command, which they retry; the journal still holds everything committed.
  void Fatal(absl::Status status) {
    outbox_.clear();
    holding_ = false;
    if (fatal_.ok()) {  // the first cause is the one to report
      fatal_ = absl::Status(
          status.code(),
          absl::StrCat("the journal failed, so the engine stopped: ", status.message()));
    }
    Shutdown();
  }

  void Fanout(const std::vector<Event>& events) {
    const absl::Time now = CoreNow();
    // Area broadcasts go out after every assignment of this batch: they reach a whole zone and
    // must not delay the units that were actually sent.
    std::vector<IncidentOpened> broadcasts;
    for (const Event& e : events) {
      // Replies (AlertAccepted, CommandRejected) are answered to their sender and have no feed
      // message: they take no feed sequence, so consoles see no gap.
      if (OnFeed(e)) {
        ++feed_sequence_;
        Publish(transport::EncodeFeedEvent(e, feed_sequence_, *core_, NextHeader()));
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
    if (holding_) {
      outbox_.push_back(Outgoing{Outgoing::Kind::kUnit, nullptr, {}, frame, unit, seq});
      return;
    }
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
      EndTurn();
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
      if (!responders_backlogged_) {
        for (UnitId unit : deliveries_.DisconnectSilent(now - 3 * options_.heartbeat_interval)) {
          (void)unit;
          metrics_.Increment("responders_lost");
        }
      }
      Resend(deliveries_.Due(now, options_.resend_interval), now);
      if (auth_) auth_->Tick(absl::Now());  // revocations reach open sessions within a second
      if (journal_ != nullptr) ReapSnapshot(/*wait=*/false);  // finished while the engine idled
      ScheduleMaintenance();
      Pump();  // the sends may have swallowed a readiness edge
    });
  }

  // Who sent `payload` (the User-Id its CURVE key was given by the ZAP handler), if that
  // connection may still speak on `channel`; otherwise answers UNAUTHORIZED with a sentence,
  // counts it (auth_refused.<channel>.<why>) and returns nullopt. Without authentication
  // (--insecure_no_auth) every sender may do anything, as a drill key may.
  std::optional<auth::Identity> Admit(Channel channel, zmq::socket_t& socket,
                                      std::vector<zmq::message_t>& prefix,
                                      const zmq::message_t& payload, uint64_t sequence) {
    if (!auth_) return auth::Identity{auth::Role::kDrill, 0};
    std::string why;
    std::optional<auth::Identity> sender = auth_->Admit(AuthChannel(channel), payload, &why);
    if (sender) return sender;
    metrics_.Increment("auth_refused");
    metrics_.Increment(absl::StrCat("auth_refused.", transport::ChannelName(channel), ".", why));
    const transport::DecodeError error =
        Refusal(RejectReason::kUnauthorized,
                why == "revoked_session"
                    ? "This connection's key has been revoked or re-enrolled since it connected; "
                      "reconnect with a key that is allowed."
                    : "This connection's key may not use this channel.",
                sequence);
    RefuseFrame(channel, error);
    Reply(socket, std::move(prefix), transport::EncodeDecodeError(channel, error, NextHeader()));
    return std::nullopt;
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
    if (journal_ != nullptr) s.counters["journal_last_record"] = journal_->last_record();
    return s;
  }

  void Shutdown() {
    if (stopping_) return;
    stopping_ = true;
    // A snapshot being written is let finish (under a second at 2.3M units; at most
    // kSnapshotStopWait), so the stop leaves it on disk.
    ReapSnapshot(/*wait=*/true);
    signals_.cancel();
    deadline_timer_.cancel();
    maintenance_timer_.cancel();
    if (intake_watch_) intake_watch_->Cancel();
    if (responder_watch_) responder_watch_->Cancel();
    if (operator_watch_) operator_watch_->Cancel();
    if (auth_) auth_->Stop();
    // Replies already handed to ZeroMQ are flushed by each socket's linger when it closes.
    io_.stop();
  }

  const absl::Time wall_origin_ = absl::Now();
  const SteadyClock::time_point steady_origin_ = SteadyClock::now();
  ServerOptions options_;
  CityData city_;
  std::unique_ptr<DispatchCore> core_;
  // With options_.engine_cpu set: the CPUs for everything but the loop thread.
  const std::vector<int> cpus_beside_engine_;
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
  AdmissionQueue<PendingAlert> admission_{options_.max_pending_alerts};
  absl::flat_hash_map<UnitId, LonLat> pending_positions_;  // latest per unit, this turn
  struct PositionReply {
    std::vector<zmq::message_t> prefix;
    uint64_t in_reply_to = 0;
  };
  std::vector<PositionReply> position_replies_;  // sent once this turn's positions are applied
  bool responders_backlogged_ = false;
  BoundEndpoints endpoints_;
  std::unique_ptr<auth::ServerAuth> auth_;  // null with --insecure_no_auth

  // What a turn sends while its commands are not yet durable (see Reply).
  struct Outgoing {
    enum class Kind { kReply, kFeed, kUnit };
    Kind kind = Kind::kReply;
    zmq::socket_t* socket = nullptr;     // kReply
    std::vector<zmq::message_t> prefix;  // kReply: the routing frames
    std::string frame;
    UnitId unit = 0;        // kUnit
    uint64_t sequence = 0;  // kUnit: its delivery sequence
  };
  std::unique_ptr<journal::JournalWriter> journal_;  // null without journal_dir
  struct SnapshotChild {
    pid_t pid = 0;
    journal::JournalWriter::SnapshotPlan plan;
    SteadyClock::time_point began;
  };
  std::optional<SnapshotChild> snapshot_child_;  // the process writing a snapshot, if any
  bool holding_ = false;  // this turn applied commands its commit has not yet made durable
  std::vector<Outgoing> outbox_;
  uint64_t records_since_snapshot_ = 0;
  std::vector<std::string> journal_notes_;
  absl::Status fatal_;  // why the engine stopped on its own
  const uint64_t incarnation_ = NewIncarnation();
  absl::flat_hash_set<UnitId> greeted_;  // units that said Hello to this run of the engine

  uint64_t server_sequence_ = 0;
  uint64_t feed_sequence_ = 0;
  bool stopping_ = false;
  int stop_signal_ = 0;
};

absl::StatusOr<std::unique_ptr<DispatchServer>> DispatchServer::Create(ServerOptions options,
                                                                       CityData city,
                                                                       DispatchConfig config) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  std::vector<int> cpus_beside_engine;
  if (options.engine_cpu >= 0) {
    absl::StatusOr<std::vector<int>> others = CpusBesideEngine(options.engine_cpu);
    if (!others.ok()) return others.status();
    cpus_beside_engine = *std::move(others);
  }
  // The core's clock starts at a whole microsecond, as the journal's header records it.
  absl::Time start = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  std::unique_ptr<journal::JournalDirectory> journal;
  uint64_t fingerprint = 0;
  if (!options.journal_dir.empty()) {
    fingerprint = journal::EngineFingerprint(config, city.projection, *city.map, city.units);
    absl::StatusOr<std::unique_ptr<journal::JournalDirectory>> opened =
        journal::JournalDirectory::Open(options.journal_dir);
    if (!opened.ok()) return opened.status();
    journal = *std::move(opened);
    if (!journal->empty()) {
      if (journal->fingerprint() != fingerprint) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "the journal in %s was written for another unit set, map or dispatch policy "
            "(fingerprint %016x; this engine's is %016x). Replaying it would build a state that "
            "never was: start with the config it was written for, or move the journal aside to "
            "start empty",
            options.journal_dir, journal->fingerprint(), fingerprint));
      }
      start = absl::FromUnixMicros(journal->core_start_unix_us());
    }
  }
  // The registry takes the units (the server keeps the city only for its map): a copy of 2.3M
  // units was a tenth of a cold start.
  auto registry = UnitRegistry::Create(std::move(city.units), city.projection, config.travel);
  if (!registry.ok()) return registry.status();
  auto core = DispatchCore::Create(std::move(config), city.map.get(), *std::move(registry), start);
  if (!core.ok()) return core.status();
  auto impl = std::make_unique<Impl>(std::move(options), std::move(city), *std::move(core),
                                     std::move(cpus_beside_engine));
  if (journal != nullptr) {
    if (absl::Status s = impl->Recover(*journal, absl::ToUnixMicros(start), fingerprint); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  return std::unique_ptr<DispatchServer>(new DispatchServer(std::move(impl)));
}

DispatchServer::DispatchServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DispatchServer::~DispatchServer() = default;
const BoundEndpoints& DispatchServer::endpoints() const { return impl_->endpoints(); }
std::string DispatchServer::auth_description() const { return impl_->auth_description(); }
void DispatchServer::Run() { impl_->Run(); }
void DispatchServer::Stop() { impl_->Stop(); }
std::string DispatchServer::Summary() const { return impl_->Summary(); }
const std::vector<std::string>& DispatchServer::journal_notes() const {
  return impl_->journal_notes();
}
absl::Status DispatchServer::status() const { return impl_->status(); }

}  // namespace gz
