// e2e_bench: how long an alert takes end to end through the real dispatchd, over ZeroMQ TCP
// loopback: from the moment a reporter should send it until the first responder client holds its
// assignment (also: until the reply, and until the last assignment of the incident arrives).
//
// One run, one bench process (single-threaded, everything on one epoll loop):
//   - dispatchd is started as a child with the full default config and ephemeral ports, and stopped
//     with SIGTERM at the end; its own summary (counters, latency histograms) is printed last.
//   - Every unit within --radius_m of the alert point is online as a responder (one DEALER each:
//     Hello -> Welcome, deliveries receipted, a Heartbeat every second), so every unit the engine
//     can pick is listening.
//   - Alerts go out open loop (DESIGN.md §6): a fixed schedule, latency measured from the intended
//     send time, so a stall anywhere shows up in the tail instead of delaying the next send.
//     Categories cycle, keys are distinct, and each incident is cancelled through the operator
//     channel as soon as its first assignment is in, so nothing merges and units are free again.
//   - Same-run baselines at the same rate, open loop too: a raw ZeroMQ DEALER->ROUTER round trip to
//     a forked echo process (same message size as an alert envelope), and a Heartbeat round trip
//     through dispatchd's intake socket (transport and the engine's loop without dispatch work).
//     The three streams take turns in one-second blocks (raw, heartbeat, alerts, raw, ...): each is
//     measured while the others are quiet (an alert keeps both processes busy for a millisecond or
//     two, which would land in a probe sent at the same moment), and all three see the same drift
//     of this shared machine over the run.
//   - The control-room feed is read too, to count the assignments the engine issued (and how many
//     went to units not online here, which would mean --radius_m is too small).

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_support.h"
#include "engine/config/city_data.h"
#include "engine/geo/projection.h"
#include "protocol/dispatch.pb.h"
#include "tests/support/dispatchd_process.h"

ABSL_FLAG(double, rate, 200, "Alerts per second, sent open loop (and probes at the same rate).");
ABSL_FLAG(int, alerts, 3000, "Alerts timed, after the warm-up.");
ABSL_FLAG(int, warmup, 200, "Alerts (and probes) sent first and not timed.");
ABSL_FLAG(double, radius_m, 2500, "Every unit within this distance of the point is online.");
ABSL_FLAG(double, lon, 113.2644, "Alert longitude (default: Haizhu Square, Yuexiu).");
ABSL_FLAG(double, lat, 23.1291, "Alert latitude.");
ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR, "Dataset and config dispatchd loads.");
ABSL_FLAG(std::string, json, E2E_BENCH_DEFAULT_JSON, "Where to write the figures as JSON.");
ABSL_FLAG(std::vector<std::string>, dispatchd_flags, {},
          "Extra flags for dispatchd, comma separated (e.g. --zone_broadcast_min_level=1).");
ABSL_FLAG(int, spin_us, 200,
          "Wake this long before each scheduled send and spin, so sends leave on time (the VM's "
          "timer wake-up alone is ~50 µs late); 0 = wake by the timer only.");

namespace gz {
namespace {

namespace pb = ::gz::dispatch::v1;

// An alert or probe with no answer within this long counts as lost.
constexpr int64_t kLostAfterNs = 5'000'000'000;
// After the last answer, keep serving this long so late deliveries and cancel results land.
constexpr int64_t kSettleNs = 200'000'000;
// Responders say Heartbeat this often; dispatchd drops one silent for 3 of its intervals (2 s).
constexpr int64_t kResponderHeartbeatNs = 1'000'000'000;
constexpr int64_t kConnectTimeoutNs = 30'000'000'000;
// An incident whose alert was accepted but whose assignments reached no responder here within
// this long went to units beyond --radius_m: it is cancelled anyway, or the next alerts of its
// category would merge into it. (Its alert is still lost if nothing arrives within 5 s.)
constexpr int64_t kCancelUnassignedAfterNs = 20'000'000;
constexpr int64_t kSweepIntervalNs = 10'000'000;
// Quiet time between two blocks of the schedule, for the tail of the previous block to finish.
constexpr int64_t kBlockGapNs = 50'000'000;
constexpr char kReporter[] = "e2e_bench";
constexpr int kCategories = 8;  // CATEGORY_FIRE .. CATEGORY_RESCUE: all have a level IV plan

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t UnixMicros() { return absl::ToUnixMicros(absl::Now()); }

// Sends per block of the schedule: one second's worth.
int BlockSize(double rate) { return std::max(1, static_cast<int>(std::lround(rate))); }

// =================================================================================================
// Baseline 1: a raw ZeroMQ ROUTER echo in a forked child process.
// =================================================================================================

// Never returns. Binds a ROUTER on an ephemeral loopback port, writes the endpoint to `ready_fd`
// and echoes every message to its sender until killed.
[[noreturn]] void RunEchoChild(int ready_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
  try {
    zmq::context_t context(1);
    zmq::socket_t router(context, zmq::socket_type::router);
    router.bind("tcp://127.0.0.1:*");
    const std::string line = router.get(zmq::sockopt::last_endpoint) + "\n";
    if (write(ready_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
    close(ready_fd);
    for (;;) {
      zmq::message_t identity, payload;
      (void)router.recv(identity);
      (void)router.recv(payload);
      (void)router.send(identity, zmq::send_flags::sndmore);
      (void)router.send(payload, zmq::send_flags::none);
    }
  } catch (const zmq::error_t&) {
  }
  _exit(1);
}

struct EchoChild {
  pid_t pid = -1;
  std::string endpoint;
};

// Forks the echo child. Must run before this process creates any thread (a ZeroMQ context does).
absl::StatusOr<EchoChild> StartEchoChild() {
  int fds[2];
  if (pipe(fds) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    close(fds[0]);
    RunEchoChild(fds[1]);
  }
  close(fds[1]);
  std::string line;
  pollfd p{fds[0], POLLIN, 0};
  while (line.find('\n') == std::string::npos && poll(&p, 1, 10'000) > 0) {
    char buffer[256];
    const ssize_t n = read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    line.append(buffer, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (line.find('\n') == std::string::npos) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return absl::InternalError("the echo process did not start");
  }
  line.pop_back();
  return EchoChild{pid, line};
}

void StopEchoChild(const EchoChild& child) {
  kill(child.pid, SIGTERM);
  waitpid(child.pid, nullptr, 0);
}

// =================================================================================================
// Waiting on hundreds of ZeroMQ sockets at once.
// =================================================================================================

// zmq_poll re-reads every socket's state on each call, which with ~600 responder sockets costs
// more than the latencies being measured. This waits with epoll on each socket's ZMQ_FD instead
// (plus a timerfd for the send schedule, with nanosecond deadlines), and reports only the sockets
// that may have input. ZMQ_FD is a notification, not readiness: the caller must read a reported
// socket until EAGAIN, and read a socket again after sending on it (a send can consume the edge).
class SocketReactor {
 public:
  SocketReactor() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = kTimerTag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &e);
  }
  ~SocketReactor() {
    close(timer_fd_);
    close(epoll_fd_);
  }
  SocketReactor(const SocketReactor&) = delete;
  SocketReactor& operator=(const SocketReactor&) = delete;

  void Add(zmq::socket_t& socket, uint32_t tag) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = tag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, socket.get(zmq::sockopt::fd), &e);
  }

  // Waits until a socket may have input or the steady clock reaches `deadline_ns`; `ready` gets
  // the tags of the sockets to read (empty at the deadline). Within `spin_ns` of the deadline it
  // only looks and returns (the caller spins), so the deadline is not missed by a slow wake-up.
  void Wait(int64_t deadline_ns, int64_t spin_ns, std::vector<uint32_t>* ready) {
    ready->clear();
    const int64_t wake_at = deadline_ns - spin_ns;
    const bool sleep = wake_at > NowNs();
    if (sleep) {
      itimerspec t{};
      t.it_value.tv_sec = wake_at / 1'000'000'000;
      t.it_value.tv_nsec = wake_at % 1'000'000'000;
      timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &t, nullptr);
    }
    epoll_event events[256];
    const int n = epoll_wait(epoll_fd_, events, 256, sleep ? -1 : 0);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerTag) {
        uint64_t expirations;
        (void)read(timer_fd_, &expirations, sizeof expirations);
      } else {
        ready->push_back(static_cast<uint32_t>(events[i].data.u64));
      }
    }
  }

 private:
  static constexpr uint64_t kTimerTag = ~uint64_t{0};
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
};

// Receives one whole message without blocking and keeps its last frame (a ROUTER reply to a
// DEALER has no routing frames, but stay tolerant). False if nothing is waiting.
bool ReceiveLast(zmq::socket_t& socket, zmq::message_t* frame) {
  if (!socket.recv(*frame, zmq::recv_flags::dontwait)) return false;
  while (frame->more()) (void)socket.recv(*frame);  // the rest of a message is already here
  return true;
}

bool ParseEnvelope(const zmq::message_t& frame, pb::Envelope* envelope) {
  return envelope->ParseFromArray(frame.data(), static_cast<int>(frame.size()));
}

pb::Envelope NewEnvelope(const std::string& sender, uint64_t sequence) {
  pb::Envelope e;
  e.set_protocol_version(1);
  e.set_sender_id(sender);
  e.set_sequence(sequence);
  e.set_sent_at_unix_us(UnixMicros());
  return e;
}

// =================================================================================================
// What the run records.
// =================================================================================================

struct AlertRecord {
  enum class Outcome { kNone, kAccepted, kMerged, kRejected };
  int64_t intended_ns = 0;
  int64_t sent_ns = 0;
  int64_t reply_ns = 0;  // 0: no reply
  Outcome outcome = Outcome::kNone;
  uint64_t incident = 0;
  bool resolved = false;  // answered with an assignment, merged, rejected, or given up on
};

struct IncidentRecord {
  int64_t alert = -1;  // index of the alert that opened it, once its reply is in
  int64_t first_assignment_ns = 0;
  int64_t last_assignment_ns = 0;
  int assignments_received = 0;
  int issued = 0;          // AssignmentIssued events on the feed
  int issued_offline = 0;  // ... to units that have no responder here
  // AreaBroadcasts about it received here, and how many of them came before its first assignment
  // (dispatchd sends the zone's broadcast and the assignments in the same turn).
  int broadcasts = 0;
  int broadcasts_before_first = 0;
  bool cancel_sent = false;
};

struct PingRecord {
  int64_t intended_ns = 0;
  int64_t reply_ns = 0;  // 0: no reply
};

struct Responder {
  uint32_t unit = 0;
  std::unique_ptr<zmq::socket_t> socket;
  uint64_t sequence = 0;       // envelope sequence
  uint64_t last_in_order = 0;  // highest delivery_sequence received without a gap
  bool receipt_due = false;    // deliveries in since the last DeliveryReceipt
  bool welcomed = false;
};

struct Counters {
  uint64_t duplicate_replies = 0;
  uint64_t assignments = 0, broadcasts = 0, releases = 0, incident_updates = 0;
  uint64_t duplicate_deliveries = 0, duplicate_assignments = 0, gaps = 0, tail_gaps = 0;
  uint64_t receipts_sent = 0, heartbeats_sent = 0, heartbeats_answered = 0;
  uint64_t cancels_sent = 0, cancels_ok = 0;
  uint64_t cancelled_unassigned = 0;  // incidents cancelled with no assignment received here
  uint64_t feed_events = 0, feed_gaps = 0;
  uint64_t unexpected = 0;  // frames that were not what the socket should carry (or unmatched)
};

struct Endpoints {
  std::string intake, responders, operators, feed, echo;
};

struct Options {
  double rate = 200;
  int alerts = 3000;
  int warmup = 200;
  double radius_m = 2500;
  LonLat point;
  std::string config_dir;
  std::string json_path;
  int64_t spin_ns = 200'000;
};

// =================================================================================================
// The bench: sockets, the schedule and the loop.
// =================================================================================================

class E2eBench {
 public:
  E2eBench(Options options, std::vector<uint32_t> units, Endpoints endpoints)
      : options_(std::move(options)),
        endpoints_(std::move(endpoints)),
        context_(1, static_cast<int>(units.size()) + 64),  // ZMQ_MAX_SOCKETS (default 1023)
        ticks_(options_.warmup + options_.alerts),
        period_ns_(static_cast<int64_t>(1e9 / options_.rate)),
        alerts_(ticks_),
        raw_(ticks_),
        probes_(ticks_) {
    for (uint32_t unit : units) online_.insert(unit);
    responders_.resize(units.size());
    for (size_t i = 0; i < units.size(); ++i) responders_[i].unit = units[i];
  }

  // Connects every socket and opens every responder session (Hello -> Welcome).
  absl::Status Connect();
  // Warm-up and timed sends of the three streams, then waits for the stragglers.
  void Run();

  // The serialized size of an alert envelope, which the raw probe copies.
  size_t alert_bytes() const { return alert_bytes_; }
  size_t responders() const { return responders_.size(); }
  const std::vector<AlertRecord>& alerts() const { return alerts_; }
  const std::vector<PingRecord>& raw() const { return raw_; }
  const std::vector<PingRecord>& probes() const { return probes_; }
  const absl::flat_hash_map<uint64_t, IncidentRecord>& incidents() const { return incidents_; }
  const std::vector<int64_t>& send_lag_ns() const { return send_lag_ns_; }
  const Counters& counters() const { return counters_; }

 private:
  enum Tag : uint32_t { kAlertTag, kProbeTag, kRawTag, kOperatorTag, kFeedTag, kResponderTag };

  std::unique_ptr<zmq::socket_t> NewSocket(zmq::socket_type type, const std::string& endpoint,
                                           uint32_t tag);

  // ---- Sending, on schedule.
  enum class Stream { kRaw, kProbe, kAlert };
  struct Scheduled {
    int64_t at_ns;
    Stream stream;
    int index;  // within its stream
  };
  void BuildSchedule(int64_t start_ns);
  int64_t HeartbeatTime(int64_t k) const {
    return heartbeat_start_ns_ + k * kResponderHeartbeatNs / static_cast<int64_t>(responders());
  }
  int64_t NextDue() const;
  void SendDue();
  pb::Envelope AlertEnvelope(int i) const;
  void SendAlert(int i, int64_t intended_ns);
  void SendRaw(int i, int64_t intended_ns);
  void SendProbe(int i, int64_t intended_ns);
  void SendResponderHeartbeat(Responder& r);
  void SendCancel(uint64_t incident);
  void SendReceipts();
  void Send(zmq::socket_t& socket, const std::string& frame, uint32_t tag);
  void Send(zmq::socket_t& socket, const pb::Envelope& envelope, uint32_t tag) {
    Send(socket, envelope.SerializeAsString(), tag);
  }

  // ---- Receiving.
  void Drain(uint32_t tag);
  void OnAlertReply(const pb::Envelope& e, int64_t now);
  void OnProbeReply(const pb::Envelope& e, int64_t now);
  void OnRawReply(const zmq::message_t& frame, int64_t now);
  void OnOperatorReply(const pb::Envelope& e);
  void OnFeed(const pb::Envelope& e);
  void OnResponder(Responder& r, const pb::Envelope& e, int64_t now);
  // A delivery's sequence against the unit's stream: true if it is new (not a resend).
  bool Sequence(Responder& r, uint64_t delivery_sequence);
  void OnAssignment(const pb::Assignment& a, int64_t now);
  void OnBroadcast(const pb::AreaBroadcast& b);

  // ---- Progress.
  void Resolve(AlertRecord& alert);
  void MaybeFinish(uint64_t incident);
  void CancelOnce(IncidentRecord& inc, uint64_t incident);
  void Sweep(int64_t now);
  bool AllAnswered() const;
  void Serve(int64_t until_ns, bool stop_when_answered);

  Options options_;
  Endpoints endpoints_;
  zmq::context_t context_;
  SocketReactor reactor_;
  std::unique_ptr<zmq::socket_t> alert_socket_, probe_socket_, raw_socket_, operator_socket_,
      feed_socket_;
  std::vector<Responder> responders_;
  absl::flat_hash_set<uint32_t> online_;
  std::vector<size_t> receipts_due_;  // responders with deliveries not yet receipted

  const int ticks_;
  const int64_t period_ns_;
  size_t alert_bytes_ = 0;
  std::string raw_padding_;
  std::vector<Scheduled> schedule_;  // every send of the three streams, in time order
  size_t next_send_ = 0;
  int64_t heartbeat_start_ns_ = 0;
  int64_t next_heartbeat_ = 0;
  int probes_sent_ = 0;
  int probes_answered_ = 0;
  size_t oldest_unresolved_ = 0;  // where the sweep starts
  int64_t next_sweep_ns_ = 0;
  int unresolved_alerts_ = 0, unanswered_raw_ = 0;
  uint64_t operator_sequence_ = 0, probe_sequence_ = 0, last_feed_sequence_ = 0;

  std::vector<AlertRecord> alerts_;
  std::vector<PingRecord> raw_;
  std::vector<PingRecord> probes_;
  absl::flat_hash_map<uint64_t, IncidentRecord> incidents_;
  std::vector<int64_t> send_lag_ns_;
  Counters counters_;
};

std::unique_ptr<zmq::socket_t> E2eBench::NewSocket(zmq::socket_type type,
                                                   const std::string& endpoint, uint32_t tag) {
  auto socket = std::make_unique<zmq::socket_t>(context_, type);
  socket->set(zmq::sockopt::linger, 0);
  if (type == zmq::socket_type::sub) {
    // The feed carries ~20 events per alert; never let the subscriber drop them at 1,000.
    socket->set(zmq::sockopt::rcvhwm, 0);
    socket->set(zmq::sockopt::subscribe, "");
  }
  socket->connect(endpoint);
  reactor_.Add(*socket, tag);
  return socket;
}

absl::Status E2eBench::Connect() {
  alert_socket_ = NewSocket(zmq::socket_type::dealer, endpoints_.intake, kAlertTag);
  probe_socket_ = NewSocket(zmq::socket_type::dealer, endpoints_.intake, kProbeTag);
  raw_socket_ = NewSocket(zmq::socket_type::dealer, endpoints_.echo, kRawTag);
  operator_socket_ = NewSocket(zmq::socket_type::dealer, endpoints_.operators, kOperatorTag);
  feed_socket_ = NewSocket(zmq::socket_type::sub, endpoints_.feed, kFeedTag);

  alert_bytes_ = AlertEnvelope(0).SerializeAsString().size();
  raw_padding_.assign(std::max<size_t>(alert_bytes_, sizeof(int32_t)) - sizeof(int32_t), 'x');

  // Every Hello goes out at once; the Welcomes come back as the connections are made.
  for (size_t i = 0; i < responders_.size(); ++i) {
    Responder& r = responders_[i];
    r.socket = NewSocket(zmq::socket_type::dealer, endpoints_.responders,
                         kResponderTag + static_cast<uint32_t>(i));
    pb::Envelope e = NewEnvelope(absl::StrCat(r.unit), ++r.sequence);
    pb::Hello* hello = e.mutable_hello();
    hello->set_role(pb::CLIENT_ROLE_RESPONDER);
    hello->set_unit_id(r.unit);
    Send(*r.socket, e, kResponderTag + static_cast<uint32_t>(i));
  }
  const int64_t deadline = NowNs() + kConnectTimeoutNs;
  std::vector<uint32_t> ready;
  size_t welcomed = 0;
  while (welcomed < responders_.size() && NowNs() < deadline) {
    reactor_.Wait(deadline, /*spin_ns=*/0, &ready);
    for (uint32_t tag : ready) Drain(tag);
    welcomed = std::count_if(responders_.begin(), responders_.end(),
                             [](const Responder& r) { return r.welcomed; });
  }
  if (welcomed < responders_.size()) {
    return absl::DeadlineExceededError(absl::StrFormat(
        "only %d of %d responders were welcomed within 30 s", welcomed, responders_.size()));
  }
  return absl::OkStatus();
}

// ---- Sending.

// Blocks of one second's worth per stream, in turn: raw, heartbeat, alerts, raw, ... until each
// stream has sent warm-up + timed messages; the first blocks are therefore the warm-up of each.
void E2eBench::BuildSchedule(int64_t start_ns) {
  const int block = BlockSize(options_.rate);
  int scheduled[3] = {0, 0, 0};
  int64_t t = start_ns;
  while (scheduled[2] < ticks_) {
    for (Stream stream : {Stream::kRaw, Stream::kProbe, Stream::kAlert}) {
      int& n = scheduled[static_cast<int>(stream)];
      for (int j = 0; j < block && n < ticks_; ++j, t += period_ns_) {
        schedule_.push_back({t, stream, n++});
      }
      t += kBlockGapNs;
    }
  }
}

int64_t E2eBench::NextDue() const {
  int64_t next = HeartbeatTime(next_heartbeat_);
  if (next_send_ < schedule_.size()) next = std::min(next, schedule_[next_send_].at_ns);
  return next;
}

// Everything whose time has come goes now; a late loop sends a burst (open loop: the schedule
// never waits for answers).
void E2eBench::SendDue() {
  const int64_t now = NowNs();
  for (; next_send_ < schedule_.size() && schedule_[next_send_].at_ns <= now; ++next_send_) {
    const Scheduled& s = schedule_[next_send_];
    switch (s.stream) {
      case Stream::kRaw:
        SendRaw(s.index, s.at_ns);
        break;
      case Stream::kProbe:
        SendProbe(s.index, s.at_ns);
        break;
      case Stream::kAlert:
        SendAlert(s.index, s.at_ns);
        break;
    }
  }
  while (HeartbeatTime(next_heartbeat_) <= now) {
    SendResponderHeartbeat(responders_[next_heartbeat_ % responders()]);
    ++next_heartbeat_;
  }
}

pb::Envelope E2eBench::AlertEnvelope(int i) const {
  pb::Envelope e = NewEnvelope(kReporter, static_cast<uint64_t>(i) + 1);
  pb::RaiseAlert* alert = e.mutable_raise_alert();
  alert->set_reporter_id(kReporter);
  alert->set_client_sequence(static_cast<uint64_t>(i) + 1);  // the idempotency key: distinct
  alert->mutable_position()->set_lon(options_.point.lon);
  alert->mutable_position()->set_lat(options_.point.lat);
  // Cycling categories: a same-category alert comes only every 8th tick, by when the previous one
  // is cancelled, so none merges into an open incident.
  alert->set_category(static_cast<pb::Category>(1 + i % kCategories));
  alert->set_level(pb::LEVEL_IV_GENERAL);
  alert->set_reported_at_unix_us(UnixMicros());
  return e;
}

void E2eBench::SendAlert(int i, int64_t intended_ns) {
  AlertRecord& a = alerts_[i];
  a.intended_ns = intended_ns;
  Send(*alert_socket_, AlertEnvelope(i), kAlertTag);
  a.sent_ns = NowNs();
  ++unresolved_alerts_;
  if (i >= options_.warmup) send_lag_ns_.push_back(a.sent_ns - a.intended_ns);
}

void E2eBench::SendRaw(int i, int64_t intended_ns) {
  raw_[i].intended_ns = intended_ns;
  std::string payload(reinterpret_cast<const char*>(&i), sizeof i);
  payload += raw_padding_;
  ++unanswered_raw_;
  Send(*raw_socket_, payload, kRawTag);
}

void E2eBench::SendProbe(int i, int64_t intended_ns) {
  probes_[i].intended_ns = intended_ns;
  probes_sent_ = i + 1;
  pb::Envelope e = NewEnvelope("e2e_bench_probe", ++probe_sequence_);
  e.mutable_heartbeat();
  Send(*probe_socket_, e, kProbeTag);
}

void E2eBench::SendResponderHeartbeat(Responder& r) {
  pb::Envelope e = NewEnvelope(absl::StrCat(r.unit), ++r.sequence);
  e.mutable_heartbeat()->set_last_delivery_sequence_seen(r.last_in_order);
  ++counters_.heartbeats_sent;
  Send(*r.socket, e, kResponderTag + static_cast<uint32_t>(&r - responders_.data()));
}

void E2eBench::SendCancel(uint64_t incident) {
  pb::Envelope e = NewEnvelope("e2e_bench_operator", ++operator_sequence_);
  e.mutable_cancel_incident()->set_incident_id(incident);
  e.mutable_cancel_incident()->set_note("e2e_bench: answered");
  ++counters_.cancels_sent;
  Send(*operator_socket_, e, kOperatorTag);
}

// One cumulative receipt per responder per turn of the loop, like a client that reads a burst and
// then confirms it: stops dispatchd's resends without a message per delivery.
void E2eBench::SendReceipts() {
  // Sending reads the socket again, which may queue more receipts: work on a copy.
  std::vector<size_t> due;
  due.swap(receipts_due_);
  for (size_t i : due) {
    Responder& r = responders_[i];
    r.receipt_due = false;
    pb::Envelope e = NewEnvelope(absl::StrCat(r.unit), ++r.sequence);
    e.mutable_delivery_receipt()->set_unit_id(r.unit);
    e.mutable_delivery_receipt()->set_delivery_sequence(r.last_in_order);
    ++counters_.receipts_sent;
    Send(*r.socket, e, kResponderTag + static_cast<uint32_t>(i));
  }
}

void E2eBench::Send(zmq::socket_t& socket, const std::string& frame, uint32_t tag) {
  // Blocking only at the high-water mark (1,000 queued), which these rates never reach.
  (void)socket.send(zmq::buffer(frame), zmq::send_flags::none);
  Drain(tag);  // the send may have consumed the socket's readiness edge
}

// ---- Receiving.

void E2eBench::Drain(uint32_t tag) {
  zmq::socket_t* socket = nullptr;
  switch (tag) {
    case kAlertTag:
      socket = alert_socket_.get();
      break;
    case kProbeTag:
      socket = probe_socket_.get();
      break;
    case kRawTag:
      socket = raw_socket_.get();
      break;
    case kOperatorTag:
      socket = operator_socket_.get();
      break;
    case kFeedTag:
      socket = feed_socket_.get();
      break;
    default:
      socket = responders_[tag - kResponderTag].socket.get();
      break;
  }
  if (socket == nullptr) return;  // still being set up
  zmq::message_t frame;
  pb::Envelope e;
  while (ReceiveLast(*socket, &frame)) {
    const int64_t now = NowNs();  // the moment this process holds the message
    if (tag == kRawTag) {
      OnRawReply(frame, now);
      continue;
    }
    if (!ParseEnvelope(frame, &e)) {
      ++counters_.unexpected;
      continue;
    }
    switch (tag) {
      case kAlertTag:
        OnAlertReply(e, now);
        break;
      case kProbeTag:
        OnProbeReply(e, now);
        break;
      case kOperatorTag:
        OnOperatorReply(e);
        break;
      case kFeedTag:
        OnFeed(e);
        break;
      default:
        OnResponder(responders_[tag - kResponderTag], e, now);
        break;
    }
  }
}

void E2eBench::OnAlertReply(const pb::Envelope& e, int64_t now) {
  if (!e.has_alert_reply() || e.alert_reply().reporter_id() != kReporter) {
    ++counters_.unexpected;
    return;
  }
  const pb::AlertReply& reply = e.alert_reply();
  const uint64_t key = reply.client_sequence();
  if (key == 0 || key > alerts_.size()) {
    ++counters_.unexpected;
    return;
  }
  AlertRecord& a = alerts_[key - 1];
  if (a.reply_ns != 0) {
    ++counters_.duplicate_replies;
    return;
  }
  a.reply_ns = now;
  if (reply.has_rejected()) {
    a.outcome = AlertRecord::Outcome::kRejected;
    Resolve(a);
    return;
  }
  a.incident = reply.accepted().incident_id();
  if (reply.accepted().merged() || reply.accepted().duplicate()) {
    // Another alert's incident: nothing of its own to wait for (and a sign the cancels lag).
    a.outcome = AlertRecord::Outcome::kMerged;
    Resolve(a);
    return;
  }
  a.outcome = AlertRecord::Outcome::kAccepted;
  incidents_[a.incident].alert = static_cast<int64_t>(key - 1);
  MaybeFinish(a.incident);
}

void E2eBench::OnProbeReply(const pb::Envelope& e, int64_t now) {
  // dispatchd answers a Heartbeat with a Heartbeat that quotes nothing; one DEALER connection and
  // one engine thread keep them in order, so the n-th answer is the n-th probe's.
  if (!e.has_heartbeat() || probes_answered_ >= probes_sent_) {
    ++counters_.unexpected;
    return;
  }
  probes_[probes_answered_++].reply_ns = now;
}

void E2eBench::OnRawReply(const zmq::message_t& frame, int64_t now) {
  int i = -1;
  if (frame.size() >= sizeof i) std::memcpy(&i, frame.data(), sizeof i);
  if (i < 0 || i >= ticks_ || raw_[i].reply_ns != 0) {
    ++counters_.unexpected;
    return;
  }
  raw_[i].reply_ns = now;
  --unanswered_raw_;
}

void E2eBench::OnOperatorReply(const pb::Envelope& e) {
  if (!e.has_command_result()) {
    ++counters_.unexpected;
    return;
  }
  if (e.command_result().ok()) {
    ++counters_.cancels_ok;
  } else {
    std::fprintf(stderr, "e2e_bench: cancel refused: %s\n", e.command_result().message().c_str());
  }
}

void E2eBench::OnFeed(const pb::Envelope& e) {
  if (!e.has_incident_event()) return;
  const pb::IncidentEvent& event = e.incident_event();
  ++counters_.feed_events;
  // Events before the subscription took effect are simply never seen; count jumps after that.
  if (last_feed_sequence_ != 0 && event.event_sequence() != last_feed_sequence_ + 1) {
    ++counters_.feed_gaps;
  }
  last_feed_sequence_ = event.event_sequence();
  if (event.has_assignment_issued()) {
    IncidentRecord& inc = incidents_[event.incident_id()];
    ++inc.issued;
    if (!online_.contains(event.assignment_issued().assignment().unit_id())) ++inc.issued_offline;
  }
}

bool E2eBench::Sequence(Responder& r, uint64_t delivery_sequence) {
  if (delivery_sequence <= r.last_in_order) {
    ++counters_.duplicate_deliveries;  // a resend of something we already have
    return false;
  }
  // A real client would say Hello again to fill a gap; here a gap is counted and reported.
  if (delivery_sequence != r.last_in_order + 1) ++counters_.gaps;
  r.last_in_order = delivery_sequence;
  if (!r.receipt_due) {
    r.receipt_due = true;
    receipts_due_.push_back(static_cast<size_t>(&r - responders_.data()));
  }
  return true;
}

void E2eBench::OnResponder(Responder& r, const pb::Envelope& e, int64_t now) {
  switch (e.body_case()) {
    case pb::Envelope::kWelcome:
      r.welcomed = true;
      break;
    case pb::Envelope::kHeartbeat:
      ++counters_.heartbeats_answered;
      // The engine says what it sent last; anything beyond what we hold was lost on the way.
      if (e.heartbeat().last_delivery_sequence_sent() > r.last_in_order) ++counters_.tail_gaps;
      break;
    case pb::Envelope::kAssignment:
      if (Sequence(r, e.assignment().delivery_sequence())) {
        OnAssignment(e.assignment(), now);
      } else {
        ++counters_.duplicate_assignments;
      }
      break;
    case pb::Envelope::kAreaBroadcast:
      if (Sequence(r, e.area_broadcast().delivery_sequence())) OnBroadcast(e.area_broadcast());
      break;
    case pb::Envelope::kAssignmentReleased:
      if (Sequence(r, e.assignment_released().delivery_sequence())) ++counters_.releases;
      break;
    case pb::Envelope::kIncidentUpdate:
      if (Sequence(r, e.incident_update().delivery_sequence())) ++counters_.incident_updates;
      break;
    default:
      ++counters_.unexpected;  // e.g. a CommandResult refusing something we sent
      break;
  }
}

void E2eBench::OnAssignment(const pb::Assignment& a, int64_t now) {
  ++counters_.assignments;
  IncidentRecord& inc = incidents_[a.incident_id()];
  if (inc.first_assignment_ns == 0) inc.first_assignment_ns = now;
  inc.last_assignment_ns = now;
  ++inc.assignments_received;
  MaybeFinish(a.incident_id());
}

void E2eBench::OnBroadcast(const pb::AreaBroadcast& b) {
  ++counters_.broadcasts;
  if (b.incident_id() == 0) return;
  IncidentRecord& inc = incidents_[b.incident_id()];
  ++inc.broadcasts;
  if (inc.first_assignment_ns == 0) ++inc.broadcasts_before_first;
}

// ---- Progress.

void E2eBench::Resolve(AlertRecord& alert) {
  if (alert.resolved) return;
  alert.resolved = true;
  --unresolved_alerts_;
}

// Once an incident's alert is answered and its first assignment is in, it is cancelled: its units
// are free again for the next alerts and the next alert of its category does not merge into it.
// Every assignment of the decision was queued by dispatchd before it reads the cancel, so the last
// assignment is still measured.
void E2eBench::MaybeFinish(uint64_t incident) {
  IncidentRecord& inc = incidents_[incident];
  if (inc.alert < 0 || inc.first_assignment_ns == 0) return;
  Resolve(alerts_[inc.alert]);
  CancelOnce(inc, incident);
}

void E2eBench::CancelOnce(IncidentRecord& inc, uint64_t incident) {
  if (inc.cancel_sent) return;
  inc.cancel_sent = true;
  if (inc.first_assignment_ns == 0) ++counters_.cancelled_unassigned;
  SendCancel(incident);
}

// Looks at the unresolved alerts (sent in index order, so the scan stops at the first unsent).
void E2eBench::Sweep(int64_t now) {
  while (oldest_unresolved_ < alerts_.size() && alerts_[oldest_unresolved_].resolved) {
    ++oldest_unresolved_;
  }
  for (size_t i = oldest_unresolved_; i < alerts_.size() && alerts_[i].sent_ns != 0; ++i) {
    AlertRecord& a = alerts_[i];
    if (a.resolved) continue;
    if (a.outcome == AlertRecord::Outcome::kAccepted &&
        now - a.reply_ns > kCancelUnassignedAfterNs) {
      CancelOnce(incidents_[a.incident], a.incident);
    }
    if (now - a.intended_ns > kLostAfterNs) Resolve(a);
  }
}

bool E2eBench::AllAnswered() const {
  return next_send_ == schedule_.size() && unresolved_alerts_ == 0 && unanswered_raw_ == 0 &&
         probes_answered_ == ticks_;
}

void E2eBench::Serve(int64_t until_ns, bool stop_when_answered) {
  std::vector<uint32_t> ready;
  while (NowNs() < until_ns) {
    // Spin only before a scheduled send: responder heartbeats need no punctuality.
    const int64_t deadline = std::min({NextDue(), until_ns, next_sweep_ns_});
    const bool send_next = next_send_ < schedule_.size() && schedule_[next_send_].at_ns == deadline;
    reactor_.Wait(deadline, send_next ? options_.spin_ns : 0, &ready);
    SendDue();  // the schedule first: a send is due the moment its timer fires
    for (uint32_t tag : ready) Drain(tag);
    SendReceipts();
    const int64_t now = NowNs();
    if (now >= next_sweep_ns_) {
      Sweep(now);
      next_sweep_ns_ = now + kSweepIntervalNs;
    }
    if (stop_when_answered && AllAnswered()) return;
  }
}

void E2eBench::Run() {
  // Lets the last connections (the feed subscription) settle before the first send.
  heartbeat_start_ns_ = NowNs();
  BuildSchedule(heartbeat_start_ns_ + 200'000'000);
  const int64_t last_send = schedule_.back().at_ns;
  Serve(last_send + kLostAfterNs, /*stop_when_answered=*/true);
  Serve(NowNs() + kSettleNs, /*stop_when_answered=*/false);
}

// =================================================================================================
// Figures and the report.
// =================================================================================================

struct Figures {
  bench::LatencySummary raw, probe, reply, first, last, send_lag;
  int measured = 0;
  int replies = 0, accepted = 0, merged = 0, rejected = 0;
  int lost = 0, lost_no_reply = 0, lost_no_assignment = 0;
  int assignments_received = 0, assignments_issued = 0, assignments_offline = 0;
  int broadcasts = 0, broadcasts_before_first = 0;
  int raw_lost = 0, probes_lost = 0;
  double offered_per_s = 0, achieved_per_s = 0;
  std::vector<std::string> lost_examples;
};

// Latency from the intended send, or -1 if the answer never came or came after kLostAfterNs.
int64_t Within(int64_t intended_ns, int64_t at_ns) {
  if (at_ns == 0 || at_ns - intended_ns > kLostAfterNs) return -1;
  return at_ns - intended_ns;
}

bench::LatencySummary SummarizePings(const std::vector<PingRecord>& pings, int from, int* lost) {
  std::vector<int64_t> ns;
  for (size_t i = from; i < pings.size(); ++i) {
    const int64_t d = Within(pings[i].intended_ns, pings[i].reply_ns);
    if (d < 0) {
      ++*lost;
    } else {
      ns.push_back(d);
    }
  }
  return bench::Summarize(std::move(ns));
}

// The incident an accepted alert opened; null for a merged or rejected one, or no reply.
const IncidentRecord* IncidentOf(const E2eBench& bench, const AlertRecord& a) {
  if (a.outcome != AlertRecord::Outcome::kAccepted) return nullptr;
  auto it = bench.incidents().find(a.incident);
  return it == bench.incidents().end() ? nullptr : &it->second;
}

// Timed alerts answered with an assignment per second of alert blocks: in each block from its
// first timed send to its last answer (the baseline blocks in between do not count).
double AchievedRate(const E2eBench& bench, const Options& options) {
  const int block = BlockSize(options.rate);
  int64_t busy_ns = 0;
  int answered = 0;
  for (size_t from = options.warmup; from < bench.alerts().size();) {
    const size_t to = std::min(bench.alerts().size(), (from / block + 1) * block);
    int64_t last_answer = 0;
    for (size_t i = from; i < to; ++i) {
      const AlertRecord& a = bench.alerts()[i];
      const IncidentRecord* inc = IncidentOf(bench, a);
      if (inc == nullptr || Within(a.intended_ns, inc->first_assignment_ns) < 0) continue;
      ++answered;
      last_answer = std::max(last_answer, inc->first_assignment_ns);
    }
    if (last_answer != 0) busy_ns += last_answer - bench.alerts()[from].intended_ns;
    from = to;
  }
  return busy_ns > 0 ? answered * 1e9 / static_cast<double>(busy_ns) : 0;
}

void CountOutcome(const AlertRecord& a, Figures* f) {
  if (a.reply_ns != 0) ++f->replies;
  switch (a.outcome) {
    case AlertRecord::Outcome::kAccepted:
      ++f->accepted;
      break;
    case AlertRecord::Outcome::kMerged:
      ++f->merged;
      break;
    case AlertRecord::Outcome::kRejected:
      ++f->rejected;
      break;
    case AlertRecord::Outcome::kNone:
      break;
  }
}

void CountIncident(const IncidentRecord& inc, Figures* f) {
  f->assignments_received += inc.assignments_received;
  f->assignments_issued += inc.issued;
  f->assignments_offline += inc.issued_offline;
  f->broadcasts += inc.broadcasts;
  f->broadcasts_before_first += inc.broadcasts_before_first;
}

// Counts a lost alert and keeps the first few as examples for the report.
void CountLost(size_t index, const AlertRecord& a, const IncidentRecord* inc, Figures* f) {
  const bool replied = Within(a.intended_ns, a.reply_ns) >= 0;
  ++f->lost;
  ++(replied ? f->lost_no_assignment : f->lost_no_reply);
  if (f->lost_examples.size() >= 10) return;
  f->lost_examples.push_back(absl::StrFormat(
      "alert %d (incident %d): %s", index + 1, a.incident,
      !replied ? "no reply within 5 s"
               : absl::StrFormat("no assignment within 5 s (%d issued, %d to units offline)",
                                 inc ? inc->issued : 0, inc ? inc->issued_offline : 0)));
}

Figures ComputeFigures(const E2eBench& bench, const Options& options) {
  Figures f;
  f.measured = options.alerts;
  f.raw = SummarizePings(bench.raw(), options.warmup, &f.raw_lost);
  f.probe = SummarizePings(bench.probes(), options.warmup, &f.probes_lost);
  std::vector<int64_t> reply_ns, first_ns, last_ns;
  for (size_t i = options.warmup; i < bench.alerts().size(); ++i) {
    const AlertRecord& a = bench.alerts()[i];
    CountOutcome(a, &f);
    const int64_t reply = Within(a.intended_ns, a.reply_ns);
    if (reply >= 0) reply_ns.push_back(reply);
    if (a.outcome == AlertRecord::Outcome::kMerged ||
        a.outcome == AlertRecord::Outcome::kRejected) {
      continue;  // no incident of its own: counted above, not lost
    }
    const IncidentRecord* inc = IncidentOf(bench, a);
    if (inc) CountIncident(*inc, &f);
    const int64_t first = inc ? Within(a.intended_ns, inc->first_assignment_ns) : -1;
    if (reply < 0 || first < 0) {
      CountLost(i, a, inc, &f);
      continue;
    }
    first_ns.push_back(first);
    const int64_t last = Within(a.intended_ns, inc->last_assignment_ns);
    if (last >= 0) last_ns.push_back(last);
  }
  f.reply = bench::Summarize(reply_ns);
  f.first = bench::Summarize(first_ns);
  f.last = bench::Summarize(last_ns);
  f.send_lag = bench::Summarize(bench.send_lag_ns());
  f.offered_per_s = options.rate;
  f.achieved_per_s = AchievedRate(bench, options);
  return f;
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void PrintFigures(const E2eBench& bench, const Figures& f, const Options& options) {
  const Counters& c = bench.counters();
  const auto line = [](const char* what, const bench::LatencySummary& s) {
    std::printf("%-38s %s\n", what, bench::FormatSummary(s).c_str());
  };
  line("raw zmq DEALER->ROUTER RTT (echo):", f.raw);
  line("dispatchd heartbeat RTT (intake):", f.probe);
  line("alert -> reply:", f.reply);
  line("alert -> first assignment received:", f.first);
  line("alert -> last assignment received:", f.last);
  line("(bench send lag: actual - intended)", f.send_lag);
  std::printf(
      "ratio first assignment / raw RTT:  p50 %.2f  p99 %.2f   (heartbeat / raw: p50 %.2f  "
      "p99 %.2f)\n",
      Ratio(f.first.p50_ns, f.raw.p50_ns), Ratio(f.first.p99_ns, f.raw.p99_ns),
      Ratio(f.probe.p50_ns, f.raw.p50_ns), Ratio(f.probe.p99_ns, f.raw.p99_ns));
  std::printf(
      "alerts:      %d sent (+%d warm-up), %d replies: %d new incidents, %d merged, %d "
      "rejected\n",
      f.measured, options.warmup, f.replies, f.accepted, f.merged, f.rejected);
  std::printf(
      "assignments: %d received for the timed alerts (%.2f per alert), %d issued on the "
      "feed, %d of them to units not online\n",
      f.assignments_received, Ratio(f.assignments_received, f.accepted), f.assignments_issued,
      f.assignments_offline);
  std::printf(
      "broadcasts:  %.1f area broadcasts per alert to the zone's units online, %.1f of them "
      "received before the alert's first assignment\n",
      Ratio(f.broadcasts, f.accepted), Ratio(f.broadcasts_before_first, f.accepted));
  std::printf(
      "lost:        %d (no reply within 5 s: %d, no assignment within 5 s: %d); probes "
      "lost: raw %d, heartbeat %d\n",
      f.lost, f.lost_no_reply, f.lost_no_assignment, f.raw_lost, f.probes_lost);
  for (const std::string& example : f.lost_examples) std::printf("  lost %s\n", example.c_str());
  absl::PrintF(
      "duplicates:  %d deliveries resent after we had them (%d assignments), %d replies; gaps: %d "
      "in delivery sequences, %d at a heartbeat, %d on the feed\n",
      c.duplicate_deliveries, c.duplicate_assignments, c.duplicate_replies, c.gaps, c.tail_gaps,
      c.feed_gaps);
  absl::PrintF(
      "whole run:   %d assignments, %d area broadcasts, %d releases, %d incident updates "
      "received; %d receipts, %d/%d responder heartbeats answered; %d/%d cancels ok (%d with no "
      "assignment here); %d feed events; %d unexpected frames\n",
      c.assignments, c.broadcasts, c.releases, c.incident_updates, c.receipts_sent,
      c.heartbeats_answered, c.heartbeats_sent, c.cancels_ok, c.cancels_sent,
      c.cancelled_unassigned, c.feed_events, c.unexpected);
  std::printf(
      "throughput:  offered %.1f alerts/s, achieved %.1f alerts/s answered with an "
      "assignment\n",
      f.offered_per_s, f.achieved_per_s);
  if (f.assignments_offline > 0) {
    std::printf("WARNING:     assignments went to units not online: raise --radius_m\n");
  }
}

std::string Us(double ns) { return absl::StrFormat("%.1f", ns / 1e3); }

void PrintResultsRow(const Figures& f, const Options& options, size_t responders) {
  std::printf(
      "\nRESULTS.md row (| date | commit | what changed | load | raw RTT p50 / p99 | heartbeat RTT "
      "p50 / p99 | reply p50 / p99 | first assignment p50 / p99 | last assignment p50 / p99 | "
      "first/raw p50, p99 | lost |):\n");
  absl::PrintF(
      "| %s | %s | | %.0f/s, %d alerts, %zu responders | %s / %s µs | %s / %s µs | %s / %s µs | "
      "%s / %s µs | %s / %s µs | %.2f, %.2f | %d |\n",
      absl::FormatTime("%Y-%m-%d", absl::Now(), absl::LocalTimeZone()), bench::GitCommit(),
      options.rate, options.alerts, responders, Us(f.raw.p50_ns), Us(f.raw.p99_ns),
      Us(f.probe.p50_ns), Us(f.probe.p99_ns), Us(f.reply.p50_ns), Us(f.reply.p99_ns),
      Us(f.first.p50_ns), Us(f.first.p99_ns), Us(f.last.p50_ns), Us(f.last.p99_ns),
      Ratio(f.first.p50_ns, f.raw.p50_ns), Ratio(f.first.p99_ns, f.raw.p99_ns), f.lost);
}

// ---- JSON.

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string JsonSummary(const bench::LatencySummary& s) {
  return absl::StrFormat(
      "{\"count\": %d, \"p50_us\": %.2f, \"p90_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, "
      "\"max_us\": %.2f, \"mean_us\": %.2f}",
      s.count, s.p50_ns / 1e3, s.p90_ns / 1e3, s.p99_ns / 1e3, s.p999_ns / 1e3, s.max_ns / 1e3,
      s.mean_ns / 1e3);
}

absl::Status WriteJson(const std::string& path, const E2eBench& bench, const Figures& f,
                       const Options& options, const std::vector<std::string>& dispatchd_summary) {
  const Counters& c = bench.counters();
  std::string j = "{\n";
  absl::StrAppend(&j, "  \"program\": \"e2e_bench\",\n");
  absl::StrAppend(&j, "  \"commit\": ", JsonString(bench::GitCommit()), ",\n");
  absl::StrAppend(&j, "  \"build_type\": ", JsonString(bench::BuildType()), ",\n");
  absl::StrAppend(&j, "  \"date\": ",
                  JsonString(absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone())),
                  ",\n");
  absl::StrAppend(&j,
                  absl::StrFormat("  \"load\": {\"rate_per_s\": %.1f, \"alerts\": %d, \"warmup\": "
                                  "%d, \"radius_m\": %.0f, \"lon\": %.6f, \"lat\": %.6f, "
                                  "\"responders\": %d, \"alert_envelope_bytes\": %d},\n",
                                  options.rate, options.alerts, options.warmup, options.radius_m,
                                  options.point.lon, options.point.lat, bench.responders(),
                                  bench.alert_bytes()));
  absl::StrAppend(&j, "  \"latency\": {\n");
  absl::StrAppend(&j, "    \"raw_zmq_rtt\": ", JsonSummary(f.raw), ",\n");
  absl::StrAppend(&j, "    \"dispatchd_heartbeat_rtt\": ", JsonSummary(f.probe), ",\n");
  absl::StrAppend(&j, "    \"alert_to_reply\": ", JsonSummary(f.reply), ",\n");
  absl::StrAppend(&j, "    \"alert_to_first_assignment\": ", JsonSummary(f.first), ",\n");
  absl::StrAppend(&j, "    \"alert_to_last_assignment\": ", JsonSummary(f.last), ",\n");
  absl::StrAppend(&j, "    \"bench_send_lag\": ", JsonSummary(f.send_lag), "\n  },\n");
  absl::StrAppend(
      &j,
      absl::StrFormat("  \"ratios\": {\"first_assignment_over_raw_p50\": %.3f, "
                      "\"first_assignment_over_raw_p99\": %.3f, \"heartbeat_over_raw_p50\": "
                      "%.3f, \"heartbeat_over_raw_p99\": %.3f},\n",
                      Ratio(f.first.p50_ns, f.raw.p50_ns), Ratio(f.first.p99_ns, f.raw.p99_ns),
                      Ratio(f.probe.p50_ns, f.raw.p50_ns), Ratio(f.probe.p99_ns, f.raw.p99_ns)));
  absl::StrAppend(
      &j,
      absl::StrFormat(
          "  \"counts\": {\"alerts_sent\": %d, \"replies\": %d, \"accepted\": %d, \"merged\": %d, "
          "\"rejected\": %d, \"assignments_received\": %d, \"assignments_issued\": %d, "
          "\"assignments_to_offline_units\": %d, \"area_broadcasts\": %d, "
          "\"area_broadcasts_before_first_assignment\": %d, \"lost\": %d, \"lost_no_reply\": %d, "
          "\"lost_no_assignment\": %d, \"raw_lost\": %d, \"heartbeat_probes_lost\": %d, "
          "\"duplicate_deliveries\": %d, \"duplicate_assignments\": %d, \"duplicate_replies\": %d, "
          "\"delivery_gaps\": %d, \"heartbeat_tail_gaps\": %d, \"feed_gaps\": %d, "
          "\"cancels_sent\": %d, \"cancels_ok\": %d, \"cancelled_unassigned\": %d, "
          "\"unexpected_frames\": %d},\n",
          f.measured, f.replies, f.accepted, f.merged, f.rejected, f.assignments_received,
          f.assignments_issued, f.assignments_offline, f.broadcasts, f.broadcasts_before_first,
          f.lost, f.lost_no_reply, f.lost_no_assignment, f.raw_lost, f.probes_lost,
          c.duplicate_deliveries, c.duplicate_assignments, c.duplicate_replies, c.gaps, c.tail_gaps,
          c.feed_gaps, c.cancels_sent, c.cancels_ok, c.cancelled_unassigned, c.unexpected));
  absl::StrAppend(&j,
                  absl::StrFormat("  \"throughput\": {\"offered_per_s\": %.1f, \"achieved_per_s\": "
                                  "%.1f},\n",
                                  f.offered_per_s, f.achieved_per_s));
  absl::StrAppend(&j, "  \"dispatchd_summary\": [");
  for (size_t i = 0; i < dispatchd_summary.size(); ++i) {
    absl::StrAppend(&j, i ? ",\n    " : "\n    ", JsonString(dispatchd_summary[i]));
  }
  absl::StrAppend(&j, "\n  ]\n}\n");

  std::error_code error;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  std::ofstream out(path);
  out << j;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// =================================================================================================
// Setting up and tearing down.
// =================================================================================================

// Every unit within the radius of the point, by the engine's own projection.
absl::StatusOr<std::vector<uint32_t>> UnitsNear(const Options& options) {
  absl::StatusOr<CityData> city = LoadCityData(options.config_dir);
  if (!city.ok()) return city.status();
  const PlanePoint center = city->projection.ToPlane(options.point);
  std::vector<uint32_t> units;
  for (const Unit& u : city->units) {
    if (Distance(city->projection.ToPlane(u.position), center) <= options.radius_m) {
      units.push_back(u.id);
    }
  }
  if (units.empty()) return absl::NotFoundError("no unit within --radius_m of the point");
  return units;
}

// dispatchd's output after its ready line: the summary it prints when it stops.
std::vector<std::string> SummaryLines(const std::string& output) {
  std::vector<std::string> lines;
  bool after_ready = false;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipEmpty())) {
    if (after_ready) lines.emplace_back(line);
    if (absl::StartsWith(line, "dispatchd ready:")) after_ready = true;
  }
  return lines;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "e2e_bench: %s\n", std::string(status.message()).c_str());
  return 1;
}

int Run(const Options& options) {
  // Forked first: no thread may exist yet (the ZeroMQ context below starts two).
  absl::StatusOr<EchoChild> echo = StartEchoChild();
  if (!echo.ok()) return Fail(echo.status());
  // Sub-microsecond timer wake-ups for the send schedule (the default slack is 50 µs).
  prctl(PR_SET_TIMERSLACK, 1UL);

  bench::PrintEnvironment(
      "e2e_bench: alert -> assignment end to end through dispatchd over ZeroMQ TCP loopback");
  absl::StatusOr<std::vector<uint32_t>> units = UnitsNear(options);
  if (!units.ok()) {
    StopEchoChild(*echo);
    return Fail(units.status());
  }
  const int64_t start = NowNs();
  auto dispatchd =
      testing::DispatchdProcess::Start(options.config_dir, absl::GetFlag(FLAGS_dispatchd_flags));
  if (!dispatchd.ok()) {
    StopEchoChild(*echo);
    return Fail(dispatchd.status());
  }
  std::printf("  dispatchd: %s, ready in %.1f s (full default config from %s)\n", DISPATCHD_PATH,
              (NowNs() - start) / 1e9, options.config_dir.c_str());

  E2eBench bench(options, *units,
                 Endpoints{(*dispatchd)->intake(), (*dispatchd)->responders(),
                           (*dispatchd)->operators(), (*dispatchd)->feed(), echo->endpoint});
  if (absl::Status s = bench.Connect(); !s.ok()) {
    StopEchoChild(*echo);
    return Fail(s);
  }
  std::printf(
      "  point:     (%.4f, %.4f); all %zu units within %.0f m online as responders "
      "(one DEALER each)\n",
      options.point.lon, options.point.lat, bench.responders(), options.radius_m);
  std::printf(
      "  load:      open loop, %.0f alerts/s, %d timed after %d warm-up, level IV, 8 "
      "categories in turn, each incident cancelled once its first assignment is in\n",
      options.rate, options.alerts, options.warmup);
  std::printf(
      "  baselines: raw ZeroMQ echo (forked process) and dispatchd heartbeat, same rate and "
      "count; the three streams take turns in %d-message blocks; alert envelope %zu bytes, raw "
      "probe the same\n\n",
      BlockSize(options.rate), bench.alert_bytes());
  std::fflush(stdout);

  const int64_t run_start = NowNs();
  bench.Run();
  std::printf("run: %.1f s\n", (NowNs() - run_start) / 1e9);
  StopEchoChild(*echo);
  (*dispatchd)->Stop(SIGTERM);
  const std::vector<std::string> summary = SummaryLines((*dispatchd)->output());

  const Figures figures = ComputeFigures(bench, options);
  PrintFigures(bench, figures, options);
  PrintResultsRow(figures, options, bench.responders());
  if (absl::Status s = WriteJson(options.json_path, bench, figures, options, summary); !s.ok()) {
    return Fail(s);
  }
  std::printf("\nJSON: %s\n\ndispatchd's own summary:\n", options.json_path.c_str());
  for (const std::string& line : summary) std::printf("  %s\n", line.c_str());
  return figures.lost == 0 ? 0 : 2;
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures end-to-end alert latency through the real dispatchd over ZeroMQ TCP loopback:\n"
      "from the intended send time of an alert (open loop, fixed rate) until the reply, the first\n"
      "and the last assignment reach responder clients (every unit within --radius_m online).\n"
      "Same-run baselines at the same rate: a raw ZeroMQ DEALER->ROUTER round trip to a forked\n"
      "echo process and a heartbeat round trip through dispatchd. Starts and stops dispatchd\n"
      "itself; exits 2 if any alert was lost.\n\n"
      "  e2e_bench --rate=200 --alerts=3000 --warmup=200");
  absl::ParseCommandLine(argc, argv);
  gz::Options options;
  options.rate = absl::GetFlag(FLAGS_rate);
  options.alerts = absl::GetFlag(FLAGS_alerts);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.radius_m = absl::GetFlag(FLAGS_radius_m);
  options.point = {absl::GetFlag(FLAGS_lon), absl::GetFlag(FLAGS_lat)};
  options.config_dir = absl::GetFlag(FLAGS_config_dir);
  options.json_path = absl::GetFlag(FLAGS_json);
  options.spin_ns = int64_t{1000} * std::max(0, absl::GetFlag(FLAGS_spin_us));
  if (options.rate <= 0 || options.alerts <= 0 || options.warmup < 0 || options.radius_m <= 0) {
    std::fprintf(stderr, "e2e_bench: --rate, --alerts and --radius_m must be > 0, --warmup >= 0\n");
    return 1;
  }
  return gz::Run(options);
}
