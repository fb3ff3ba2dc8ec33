// e2e_bench: alerts end to end through the real dispatchd, with the fleet online and positions
// flowing: from the moment a reporter should send an alert until every assignment it caused is
// held by the responder clients it was sent to.
//
// Processes (all on this machine; ZeroMQ over TCP loopback or ipc, --transport):
//   - dispatchd, started with the full default config (extra flags: DispatchdFlags, one place),
//     stopped with SIGTERM at the end; its own summary is printed last.
//   - Fleet processes (forked; --fleet_processes, more if the descriptor limit requires): as many
//     units as dispatchd's descriptor limit can hold (one DEALER each: Hello -> Welcome, every
//     delivery sequence-checked and receipted cumulatively, a Heartbeat when a unit has said
//     nothing for a while), each process sending UnitUpdate positions for its units at its share
//     of the position rate (a small random walk around the unit's post). Units that could not be
//     connected are set off post first, through the operator channel, so the engine only picks
//     units whose client is listening. Each fleet process timestamps every Assignment it receives
//     (CLOCK_MONOTONIC, shared by all processes) and hands the records to this process on request.
//     Fleet process 0 also runs the raw ZeroMQ echo (a ROUTER) for the baseline.
//   - This process: alerts open loop (a fixed schedule, latency from the intended send time, so a
//     stall shows in the tail rather than delaying the next send) at random points near connected
//     units, level IV, random categories; each new incident is cancelled on the operator channel as
//     soon as its reply is in (dispatchd queues the decision's assignments in the same turn as the
//     reply, before it can read the cancel), so units are free again and nothing merges.
//
// Workloads (--workload):
//   steps    the background position load (--positions_per_s, 23,000/s), then the same-run
//            baselines (a raw ZeroMQ DEALER->ROUTER round trip to fleet process 0 with an
//            alert-sized payload, and a Heartbeat round trip through dispatchd's intake, 1,000/s
//            each), then alert rates stepping up (--rates) for --step_s each, stopping after the
//            first step that saturates: p99 to the last assignment >= 2 ms, or anything lost.
//   sustain  one step at --rate for --sustain_s (60 s): the "sustained, lossless" figure.
//   ingest   position rates (--ingest_rates: 0 is the same-run baseline, then 23,000 and 230,000/s)
//            for --ingest_s each, alerts at --ingest_alert_rate meanwhile; dispatchd's CPU share
//            from /proc/<pid>/stat and /proc/<pid>/task/*/stat over the window.
//
// Lost, per step: an alert with no reply within 5 s; or fewer Assignments received (deduplicated
// by delivery sequence) than dispatchd's core issued during the step (its stats counter
// core.assignments_issued, read before and after on the operator channel). Duplicates: resent
// deliveries the fleet already had, and duplicate replies; both reported.

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_support.h"
#include "engine/app/cpu_placement.h"
#include "engine/app/descriptor_limit.h"
#include "engine/config/city_data.h"
#include "engine/geo/projection.h"
#include "protocol/dispatch.pb.h"
#include "simulators/random.h"
#include "tests/support/dispatchd_process.h"

ABSL_FLAG(std::string, workload, "steps", "steps, sustain or ingest (see the file comment).");
ABSL_FLAG(std::string, transport, "tcp", "tcp (loopback) or ipc.");
ABSL_FLAG(std::vector<std::string>, rates,
          std::vector<std::string>({"1000", "5000", "10000", "20000", "50000"}),
          "steps: alert rates per second, in order.");
ABSL_FLAG(double, step_s, 5, "steps: timed seconds per rate (after --step_warmup_s).");
ABSL_FLAG(double, step_warmup_s, 0.5, "steps and sustain: untimed seconds at the start of a step.");
ABSL_FLAG(double, rate, 50000, "sustain: alerts per second.");
ABSL_FLAG(double, sustain_s, 60, "sustain: timed seconds.");
ABSL_FLAG(double, positions_per_s, 23000, "steps and sustain: background UnitUpdate positions/s.");
ABSL_FLAG(std::vector<std::string>, ingest_rates,
          std::vector<std::string>({"0", "23000", "230000"}),
          "ingest: position rates per second (0: the fleet connected, heartbeats only).");
ABSL_FLAG(double, ingest_s, 10, "ingest: seconds per position rate.");
ABSL_FLAG(int, position_batch, 0,
          "Send positions as a position gateway would: each fleet process batches its units' "
          "positions, up to this many per PositionBatch, over one connection of its own (0: each "
          "unit sends UnitUpdate on its own connection, as a phone would).");
ABSL_FLAG(int, position_batch_ms, 100,
          "With --position_batch: a batch also goes when its first position is this old.");
ABSL_FLAG(double, ingest_alert_rate, 200, "ingest: alerts per second while positions flow.");
ABSL_FLAG(int, baseline_probes, 3000, "Raw and heartbeat round trips each, at 1,000/s.");
ABSL_FLAG(int, responders, 0,
          "Units to connect; 0: as many as the descriptor limit allows (at most every unit).");
ABSL_FLAG(int, fleet_processes, 4, "Fleet processes (at least as many as descriptors require).");
ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR, "Dataset and config dispatchd loads.");
ABSL_FLAG(std::vector<std::string>, dispatchd_flags, {},
          "Extra flags for dispatchd, comma separated (e.g. --zone_broadcast_min_level=1).");
ABSL_FLAG(int, spin_us, 200,
          "Wake this long before each scheduled alert and spin, so sends leave on time; 0: timer "
          "only.");
ABSL_FLAG(int, fleet_nice, 0,
          "Nice value of the fleet processes (e.g. 10: they stand for phones elsewhere and yield "
          "the shared cores to dispatchd and this process); 0 leaves it.");
ABSL_FLAG(int, engine_cpu, -1,
          "Give dispatchd's engine loop this CPU alone (dispatchd --engine_cpu) and run this "
          "process, the fleet and dispatchd's ZeroMQ threads on the other CPUs; -1: the kernel "
          "places everything.");
ABSL_FLAG(uint64_t, seed, 20261127, "Seed for alert points, categories and fleet movement.");

namespace gz {
namespace {

namespace fs = std::filesystem;
namespace pb = ::gz::dispatch::v1;

constexpr char kProgram[] = "e2e_bench";
constexpr char kReporter[] = "e2e_bench";
// An alert or probe with no answer within this long counts as lost.
constexpr int64_t kLostAfterNs = 5'000'000'000;
// The rule a step must keep: p99 to the last assignment under this, nothing lost.
constexpr int64_t kStepP99LimitNs = 2'000'000;
// dispatchd drops a responder silent for 3 heartbeat intervals (2 s by default): a unit that has
// sent nothing for this long says Heartbeat.
constexpr int64_t kKeepaliveNs = 1'500'000'000;
constexpr int64_t kKeepaliveScanNs = 100'000'000;
// The fleet sends due positions in batches at most this often.
constexpr int64_t kPositionTickNs = 1'000'000;
// Units not welcomed by then are given up (their sockets closed) and set off post like the units
// beyond the descriptor limit; the report says how many were connected.
constexpr int64_t kConnectTimeoutNs = 90'000'000'000;
// Hellos in flight per fleet process while the fleet connects.
constexpr size_t kConnectWindow = 64;
// Descriptors kept free in dispatchd beside the responder connections (its listeners, files).
constexpr rlim_t kDispatchdReserve = 1500;
// Each ZeroMQ socket costs a fleet process two descriptors: the connection and its mailbox.
constexpr rlim_t kFleetReserve = 200;
constexpr size_t kRttSampleCap = 50'000;
constexpr double kBaselineRate = 1000;
// This process reads its sockets at least this often even when epoll reports nothing.
constexpr int64_t kLookAgainNs = 10'000'000;
// SetUnitStatus commands in flight while the units without a client are set off post.
constexpr int kOffPostWindow = 256;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t UnixMicros() { return absl::ToUnixMicros(absl::Now()); }

pb::Envelope NewEnvelope(const std::string& sender, uint64_t sequence) {
  pb::Envelope e;
  e.set_protocol_version(1);
  e.set_sender_id(sender);
  e.set_sequence(sequence);
  e.set_sent_at_unix_us(UnixMicros());
  return e;
}

// =================================================================================================
// Waiting on thousands of ZeroMQ sockets at once.
// =================================================================================================

// zmq_poll re-reads every socket's state on each call, which with thousands of sockets costs more
// than the latencies being measured. This waits with epoll on each socket's ZMQ_FD instead (plus
// plain descriptors and a timerfd with nanosecond deadlines), and reports only what may have
// input. ZMQ_FD is a notification, not readiness (DESIGN.md §8): the caller reads a reported socket
// until EAGAIN, and reads a socket again after sending on it (a send can consume the edge).
class Reactor {
 public:
  Reactor() {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    AddFd(timer_fd_, kTimerTag);
  }
  ~Reactor() {
    close(timer_fd_);
    close(epoll_fd_);
  }
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  void AddFd(int fd, uint64_t tag) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.u64 = tag;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &e);
  }
  void Add(zmq::socket_t& socket, uint64_t tag) { AddFd(socket.get(zmq::sockopt::fd), tag); }

  // Waits until something may have input or the steady clock reaches `deadline_ns`; `ready` gets
  // the tags (empty at the deadline). Within `spin_ns` of the deadline it only looks and returns
  // (the caller spins), so a slow wake-up does not make a send late.
  void Wait(int64_t deadline_ns, int64_t spin_ns, std::vector<uint64_t>* ready) {
    ready->clear();
    const int64_t wake_at = deadline_ns - spin_ns;
    const bool sleep = wake_at > NowNs();
    if (sleep) {
      itimerspec t{};
      t.it_value.tv_sec = wake_at / 1'000'000'000;
      t.it_value.tv_nsec = wake_at % 1'000'000'000;
      timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &t, nullptr);
    }
    epoll_event events[512];
    const int n = epoll_wait(epoll_fd_, events, 512, sleep ? -1 : 0);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kTimerTag) {
        uint64_t expirations;
        (void)read(timer_fd_, &expirations, sizeof expirations);
      } else {
        ready->push_back(events[i].data.u64);
      }
    }
  }

 private:
  static constexpr uint64_t kTimerTag = ~uint64_t{0};
  int epoll_fd_ = -1;
  int timer_fd_ = -1;
};

// Receives one whole message without blocking and keeps its last frame. False if none is waiting.
bool ReceiveLast(zmq::socket_t& socket, zmq::message_t* frame) {
  if (!socket.recv(*frame, zmq::recv_flags::dontwait)) return false;
  while (frame->more()) (void)socket.recv(*frame);  // the rest of a message is already here
  return true;
}

// =================================================================================================
// The control channel between this process and each fleet process: a stream socketpair carrying
// [type u32][size u64][payload] messages, read and written whole (blocking).
// =================================================================================================

enum class Control : uint32_t { kReady = 1, kSetPositionRate, kReport, kQuit };

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool ReadAll(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool SendControl(int fd, Control type, const std::string& payload) {
  const uint32_t t = static_cast<uint32_t>(type);
  const uint64_t size = payload.size();
  return WriteAll(fd, &t, sizeof t) && WriteAll(fd, &size, sizeof size) &&
         WriteAll(fd, payload.data(), payload.size());
}

bool ReceiveControl(int fd, Control* type, std::string* payload) {
  uint32_t t = 0;
  uint64_t size = 0;
  if (!ReadAll(fd, &t, sizeof t) || !ReadAll(fd, &size, sizeof size)) return false;
  payload->resize(size);
  if (!ReadAll(fd, payload->data(), size)) return false;
  *type = static_cast<Control>(t);
  return true;
}

template <typename T>
void AppendPod(std::string* out, const T& value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof value);
}

template <typename T>
bool ReadPod(const std::string& in, size_t* at, T* value) {
  if (*at + sizeof(T) > in.size()) return false;
  std::memcpy(value, in.data() + *at, sizeof(T));
  *at += sizeof(T);
  return true;
}

// Cumulative counters of one fleet process.
struct FleetCounters {
  uint64_t welcomed = 0;
  uint64_t positions_sent = 0, position_replies = 0, heartbeats_sent = 0, heartbeat_replies = 0;
  uint64_t assignments = 0, releases = 0, broadcasts = 0, incident_updates = 0;
  uint64_t duplicate_deliveries = 0, gaps = 0, receipts_sent = 0;
  uint64_t refused = 0, unexpected = 0, echoes = 0;
  int64_t cpu_ns = 0;  // user + system time of the fleet process

  FleetCounters& operator+=(const FleetCounters& o) {
    welcomed += o.welcomed;
    positions_sent += o.positions_sent;
    position_replies += o.position_replies;
    heartbeats_sent += o.heartbeats_sent;
    heartbeat_replies += o.heartbeat_replies;
    assignments += o.assignments;
    releases += o.releases;
    broadcasts += o.broadcasts;
    incident_updates += o.incident_updates;
    duplicate_deliveries += o.duplicate_deliveries;
    gaps += o.gaps;
    receipts_sent += o.receipts_sent;
    refused += o.refused;
    unexpected += o.unexpected;
    echoes += o.echoes;
    cpu_ns += o.cpu_ns;
    return *this;
  }
  FleetCounters Minus(const FleetCounters& o) const {
    FleetCounters d = *this;
    d.welcomed -= o.welcomed;
    d.positions_sent -= o.positions_sent;
    d.position_replies -= o.position_replies;
    d.heartbeats_sent -= o.heartbeats_sent;
    d.heartbeat_replies -= o.heartbeat_replies;
    d.assignments -= o.assignments;
    d.releases -= o.releases;
    d.broadcasts -= o.broadcasts;
    d.incident_updates -= o.incident_updates;
    d.duplicate_deliveries -= o.duplicate_deliveries;
    d.gaps -= o.gaps;
    d.receipts_sent -= o.receipts_sent;
    d.refused -= o.refused;
    d.unexpected -= o.unexpected;
    d.echoes -= o.echoes;
    d.cpu_ns -= o.cpu_ns;
    return d;
  }
};

// One Assignment as a fleet process received it.
struct AssignmentSeen {
  uint64_t incident = 0;
  int64_t received_ns = 0;  // CLOCK_MONOTONIC, the same clock in every process
  uint32_t unit = 0;
  uint32_t padding = 0;
};

// What a fleet process hands over on kReport: its counters, the assignments and a sample of
// position round trips since the previous report.
struct FleetReport {
  FleetCounters counters;
  std::vector<AssignmentSeen> assignments;
  std::vector<int64_t> position_rtt_ns;
};

std::string EncodeReport(const FleetReport& r) {
  std::string out;
  AppendPod(&out, r.counters);
  AppendPod(&out, static_cast<uint64_t>(r.assignments.size()));
  out.append(reinterpret_cast<const char*>(r.assignments.data()),
             r.assignments.size() * sizeof(AssignmentSeen));
  AppendPod(&out, static_cast<uint64_t>(r.position_rtt_ns.size()));
  out.append(reinterpret_cast<const char*>(r.position_rtt_ns.data()),
             r.position_rtt_ns.size() * sizeof(int64_t));
  return out;
}

bool DecodeReport(const std::string& in, FleetReport* r) {
  size_t at = 0;
  uint64_t n = 0;
  if (!ReadPod(in, &at, &r->counters) || !ReadPod(in, &at, &n)) return false;
  if (at + n * sizeof(AssignmentSeen) > in.size()) return false;
  r->assignments.resize(n);
  std::memcpy(r->assignments.data(), in.data() + at, n * sizeof(AssignmentSeen));
  at += n * sizeof(AssignmentSeen);
  if (!ReadPod(in, &at, &n) || at + n * sizeof(int64_t) > in.size()) return false;
  r->position_rtt_ns.resize(n);
  std::memcpy(r->position_rtt_ns.data(), in.data() + at, n * sizeof(int64_t));
  return true;
}

// =================================================================================================
// A fleet process: many responder clients on one epoll loop.
// =================================================================================================

struct FleetUnit {
  uint32_t id = 0;
  LonLat post;  // where the unit stands; positions wander around it
};

struct FleetConfig {
  int index = 0;
  std::vector<FleetUnit> units;
  std::string responder_endpoint;
  std::string echo_endpoint;  // bind here when not empty (fleet process 0)
  uint64_t seed = 0;
  int position_batch = 0;         // > 0: positions go in batches over a gateway connection
  int64_t position_batch_ns = 0;  // ... or when the batch is this old
};

class Fleet {
 public:
  Fleet(FleetConfig config, int control_fd)
      : config_(std::move(config)),
        control_fd_(control_fd),
        context_(1, static_cast<int>(config_.units.size()) + 64),  // ZMQ_MAX_SOCKETS
        random_(config_.seed, 1000 + config_.index) {}

  // Connects, says Hello for every unit, reports kReady, then serves until kQuit.
  void Run();

 private:
  static constexpr uint64_t kControlTag = ~uint64_t{0} - 1;
  static constexpr uint64_t kEchoTag = ~uint64_t{0} - 2;
  static constexpr uint64_t kGatewayTag = ~uint64_t{0} - 3;

  struct Responder {
    std::unique_ptr<zmq::socket_t> socket;
    uint64_t sequence = 0;           // envelope sequence
    uint64_t last_in_order = 0;      // highest delivery_sequence received without a gap
    uint64_t position_sequence = 0;  // envelope sequence of the newest position sent
    int64_t position_sent_ns = 0;
    int64_t last_sent_ns = 0;
    bool receipt_due = false;
    bool welcomed = false;
    double dx = 0, dy = 0;  // metres from the post (random walk)
  };

  void Send(size_t i, const pb::Envelope& e);
  void SendHello(size_t i);
  LonLat NextPosition(size_t i);
  void SendPosition(size_t i, int64_t now);
  void SendHeartbeat(size_t i);
  void SendPositionsDue(int64_t now);
  void AddToBatch(size_t i, int64_t now);
  void FlushBatch(int64_t now);
  void DrainGateway();
  void Keepalive(int64_t now);
  void SendReceipts();
  void Drain(uint64_t tag);
  void DrainEcho();
  void OnMessage(size_t i, const pb::Envelope& e, int64_t now);
  bool Sequence(size_t i, uint64_t delivery_sequence);
  void SampleRtt(int64_t rtt_ns);
  bool HandleControl();  // false on kQuit or a closed channel

  FleetConfig config_;
  int control_fd_;
  zmq::context_t context_;
  Reactor reactor_;
  std::unique_ptr<zmq::socket_t> echo_;
  // Position gateway mode: the batch being filled, and the batches awaiting their CommandResult
  // (envelope sequence -> sent time, positions).
  std::unique_ptr<zmq::socket_t> gateway_;
  pb::Envelope batch_;
  int64_t batch_started_ns_ = 0;
  uint64_t gateway_sequence_ = 0;
  absl::flat_hash_map<uint64_t, std::pair<int64_t, int>> batches_in_flight_;
  std::vector<Responder> responders_;
  std::vector<size_t> receipts_due_;
  sim::Random random_;
  LocalProjection projection_;
  FleetCounters counters_;
  std::vector<AssignmentSeen> seen_;
  std::vector<int64_t> rtt_samples_;
  uint64_t rtt_seen_ = 0;  // replies sampled since the last report (reservoir)
  double position_rate_ = 0;
  int64_t position_period_ns_ = 0;
  int64_t next_position_ns_ = 0;
  size_t next_position_unit_ = 0;
  int64_t next_keepalive_ns_ = 0;
  bool told_refusal_ = false;
};

void Fleet::Send(size_t i, const pb::Envelope& e) {
  Responder& r = responders_[i];
  // Blocking only at the high-water mark (1,000 queued on one unit), which this load never nears.
  (void)r.socket->send(zmq::buffer(e.SerializeAsString()), zmq::send_flags::none);
  r.last_sent_ns = NowNs();
  Drain(i);  // the send may have consumed the socket's readiness edge
}

void Fleet::SendHello(size_t i) {
  Responder& r = responders_[i];
  pb::Envelope e = NewEnvelope(absl::StrCat(config_.units[i].id), ++r.sequence);
  e.mutable_hello()->set_role(pb::CLIENT_ROLE_RESPONDER);
  e.mutable_hello()->set_unit_id(config_.units[i].id);
  Send(i, e);
}

// A walk of a few metres a report, pulled back towards the post.
LonLat Fleet::NextPosition(size_t i) {
  Responder& r = responders_[i];
  const auto [sx, sy] = random_.NormalPair();
  r.dx = 0.9 * r.dx + 5 * sx;
  r.dy = 0.9 * r.dy + 5 * sy;
  const PlanePoint post = projection_.ToPlane(config_.units[i].post);
  return projection_.ToLonLat({post.x + r.dx, post.y + r.dy});
}

void Fleet::AddToBatch(size_t i, int64_t now) {
  const LonLat at = NextPosition(i);
  if (!batch_.has_position_batch()) batch_started_ns_ = now;
  pb::UnitPosition* p = batch_.mutable_position_batch()->add_positions();
  p->set_unit_id(config_.units[i].id);
  p->mutable_position()->set_lon(at.lon);
  p->mutable_position()->set_lat(at.lat);
  ++counters_.positions_sent;
  if (batch_.position_batch().positions_size() >= config_.position_batch) FlushBatch(now);
}

void Fleet::FlushBatch(int64_t now) {
  const int count = batch_.has_position_batch() ? batch_.position_batch().positions_size() : 0;
  if (count == 0) return;
  batch_.set_protocol_version(1);
  batch_.set_sender_id(absl::StrCat("gateway-", config_.index));
  batch_.set_sequence(++gateway_sequence_);
  batches_in_flight_[gateway_sequence_] = {now, count};
  (void)gateway_->send(zmq::buffer(batch_.SerializeAsString()), zmq::send_flags::none);
  batch_.Clear();
  DrainGateway();  // the send may have consumed the socket's readiness edge
}

void Fleet::DrainGateway() {
  zmq::message_t m;
  while (gateway_->recv(m, zmq::recv_flags::dontwait)) {
    const int64_t now = NowNs();
    pb::Envelope e;
    if (!e.ParseFromArray(m.data(), static_cast<int>(m.size())) || !e.has_command_result()) {
      ++counters_.unexpected;
      continue;
    }
    if (!e.command_result().ok()) {
      ++counters_.refused;
      if (!told_refusal_) {
        told_refusal_ = true;
        std::fprintf(stderr, "e2e_bench fleet %d: position batch refused: %s\n", config_.index,
                     e.command_result().message().c_str());
      }
    }
    auto it = batches_in_flight_.find(e.command_result().in_reply_to_sequence());
    if (it == batches_in_flight_.end()) continue;
    counters_.position_replies += it->second.second;
    SampleRtt(now - it->second.first);
    batches_in_flight_.erase(it);
  }
}

void Fleet::SendPosition(size_t i, int64_t now) {
  Responder& r = responders_[i];
  const LonLat at = NextPosition(i);
  pb::Envelope e = NewEnvelope(absl::StrCat(config_.units[i].id), ++r.sequence);
  pb::UnitUpdate* u = e.mutable_unit_update();
  u->set_unit_id(config_.units[i].id);
  u->mutable_position()->set_lon(at.lon);
  u->mutable_position()->set_lat(at.lat);
  r.position_sequence = r.sequence;
  r.position_sent_ns = now;
  ++counters_.positions_sent;
  Send(i, e);
}

void Fleet::SendHeartbeat(size_t i) {
  Responder& r = responders_[i];
  pb::Envelope e = NewEnvelope(absl::StrCat(config_.units[i].id), ++r.sequence);
  e.mutable_heartbeat()->set_last_delivery_sequence_seen(r.last_in_order);
  ++counters_.heartbeats_sent;
  Send(i, e);
}

// Open loop: every position whose time has come goes now, round robin over the units.
void Fleet::SendPositionsDue(int64_t now) {
  if (position_period_ns_ <= 0 || responders_.empty()) return;
  // Never more than a second behind: a fleet process starved of CPU sends what it can.
  next_position_ns_ = std::max(next_position_ns_, now - 1'000'000'000);
  if (counters_.welcomed == 0) return;
  for (; next_position_ns_ <= now; next_position_ns_ += position_period_ns_) {
    while (!responders_[next_position_unit_].socket) {  // given up at connect
      next_position_unit_ = (next_position_unit_ + 1) % responders_.size();
    }
    if (gateway_) {
      AddToBatch(next_position_unit_, now);
    } else {
      SendPosition(next_position_unit_, now);
    }
    next_position_unit_ = (next_position_unit_ + 1) % responders_.size();
  }
  if (gateway_ && now - batch_started_ns_ >= config_.position_batch_ns) FlushBatch(now);
}

void Fleet::Keepalive(int64_t now) {
  if (now < next_keepalive_ns_) return;
  next_keepalive_ns_ = now + kKeepaliveScanNs;
  for (size_t i = 0; i < responders_.size(); ++i) {
    if (responders_[i].welcomed && responders_[i].socket &&
        now - responders_[i].last_sent_ns > kKeepaliveNs) {
      SendHeartbeat(i);
    }
  }
}

// One cumulative receipt per unit per turn of the loop, like a client that reads a burst and then
// confirms it: stops dispatchd's resends without a message per delivery.
void Fleet::SendReceipts() {
  std::vector<size_t> due;
  due.swap(receipts_due_);  // sending reads the socket again, which may queue more
  for (size_t i : due) {
    Responder& r = responders_[i];
    r.receipt_due = false;
    pb::Envelope e = NewEnvelope(absl::StrCat(config_.units[i].id), ++r.sequence);
    e.mutable_delivery_receipt()->set_unit_id(config_.units[i].id);
    e.mutable_delivery_receipt()->set_delivery_sequence(r.last_in_order);
    ++counters_.receipts_sent;
    Send(i, e);
  }
}

void Fleet::Drain(uint64_t tag) {
  if (tag == kEchoTag) return DrainEcho();
  if (tag >= responders_.size() || !responders_[tag].socket) return;
  zmq::socket_t& socket = *responders_[tag].socket;
  zmq::message_t frame;
  pb::Envelope e;
  while (ReceiveLast(socket, &frame)) {
    const int64_t now = NowNs();  // the moment this process holds the message
    if (!e.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
      ++counters_.unexpected;
      continue;
    }
    OnMessage(tag, e, now);
  }
}

void Fleet::DrainEcho() {
  zmq::message_t identity, payload;
  while (echo_->recv(identity, zmq::recv_flags::dontwait)) {
    if (!identity.more() || !echo_->recv(payload, zmq::recv_flags::none)) continue;
    (void)echo_->send(identity, zmq::send_flags::sndmore);
    (void)echo_->send(payload, zmq::send_flags::none);
    ++counters_.echoes;
  }
}

bool Fleet::Sequence(size_t i, uint64_t delivery_sequence) {
  Responder& r = responders_[i];
  if (delivery_sequence <= r.last_in_order) {
    ++counters_.duplicate_deliveries;  // a resend of something this unit already has
    return false;
  }
  // A real client would say Hello again to fill a gap; here it is counted and reported.
  if (delivery_sequence != r.last_in_order + 1) ++counters_.gaps;
  r.last_in_order = delivery_sequence;
  if (!r.receipt_due) {
    r.receipt_due = true;
    receipts_due_.push_back(i);
  }
  return true;
}

void Fleet::SampleRtt(int64_t rtt_ns) {
  ++rtt_seen_;
  if (rtt_samples_.size() < kRttSampleCap) {
    rtt_samples_.push_back(rtt_ns);
  } else {
    const uint64_t slot = random_.Below(rtt_seen_);
    if (slot < kRttSampleCap) rtt_samples_[slot] = rtt_ns;
  }
}

void Fleet::OnMessage(size_t i, const pb::Envelope& e, int64_t now) {
  Responder& r = responders_[i];
  switch (e.body_case()) {
    case pb::Envelope::kWelcome:
      if (!r.welcomed) ++counters_.welcomed;
      r.welcomed = true;
      break;
    case pb::Envelope::kHeartbeat:
      ++counters_.heartbeat_replies;
      break;
    case pb::Envelope::kCommandResult:
      if (!e.command_result().ok()) {
        ++counters_.refused;
        if (!told_refusal_) {
          told_refusal_ = true;
          std::fprintf(stderr, "e2e_bench fleet %d: unit %u refused: %s\n", config_.index,
                       config_.units[i].id, e.command_result().message().c_str());
        }
      }
      if (e.command_result().in_reply_to_sequence() == r.position_sequence &&
          r.position_sent_ns != 0) {
        ++counters_.position_replies;
        SampleRtt(now - r.position_sent_ns);
        r.position_sent_ns = 0;
      } else if (e.command_result().in_reply_to_sequence() != 0) {
        ++counters_.position_replies;  // an older position's answer, overtaken by a newer one
      }
      break;
    case pb::Envelope::kAssignment:
      if (Sequence(i, e.assignment().delivery_sequence())) {
        ++counters_.assignments;
        seen_.push_back({e.assignment().incident_id(), now, config_.units[i].id, 0});
      }
      break;
    case pb::Envelope::kAreaBroadcast:
      if (Sequence(i, e.area_broadcast().delivery_sequence())) ++counters_.broadcasts;
      break;
    case pb::Envelope::kAssignmentReleased:
      if (Sequence(i, e.assignment_released().delivery_sequence())) ++counters_.releases;
      break;
    case pb::Envelope::kIncidentUpdate:
      if (Sequence(i, e.incident_update().delivery_sequence())) ++counters_.incident_updates;
      break;
    default:
      ++counters_.unexpected;
      break;
  }
}

bool Fleet::HandleControl() {
  Control type;
  std::string payload;
  if (!ReceiveControl(control_fd_, &type, &payload)) return false;
  switch (type) {
    case Control::kSetPositionRate: {
      double rate = 0;
      size_t at = 0;
      ReadPod(payload, &at, &rate);
      position_rate_ = rate;
      position_period_ns_ = rate > 0 ? static_cast<int64_t>(1e9 / rate) : 0;
      next_position_ns_ = NowNs();
      return true;
    }
    case Control::kReport: {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      counters_.cpu_ns = (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000'000LL +
                         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1'000LL;
      FleetReport report{counters_, std::move(seen_), std::move(rtt_samples_)};
      seen_.clear();
      rtt_samples_.clear();
      rtt_seen_ = 0;
      return SendControl(control_fd_, Control::kReport, EncodeReport(report));
    }
    case Control::kQuit:
    default:
      return false;
  }
}

void Fleet::Run() {
  if (!config_.echo_endpoint.empty()) {
    echo_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::router);
    echo_->set(zmq::sockopt::linger, 0);
    echo_->bind(config_.echo_endpoint);
    config_.echo_endpoint = echo_->get(zmq::sockopt::last_endpoint);
    reactor_.Add(*echo_, kEchoTag);
  }
  reactor_.AddFd(control_fd_, kControlTag);
  if (config_.position_batch > 0) {
    gateway_ = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
    gateway_->set(zmq::sockopt::linger, 0);
    gateway_->connect(config_.responder_endpoint);
    reactor_.Add(*gateway_, kGatewayTag);
  }
  responders_.resize(config_.units.size());
  // Connections are opened a window at a time, the next when a Welcome comes back: thousands of
  // simultaneous connects overflow dispatchd's listen backlog, and the dropped SYNs are retried
  // with the kernel's exponential backoff (1 s, 2 s, 4 s, ...).
  size_t opened = 0;
  const auto open_more = [&] {
    while (opened < responders_.size() && opened - counters_.welcomed < kConnectWindow) {
      auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
      socket->set(zmq::sockopt::linger, 0);
      socket->connect(config_.responder_endpoint);
      reactor_.Add(*socket, opened);
      responders_[opened].socket = std::move(socket);
      SendHello(opened++);
    }
  };
  const int64_t deadline = NowNs() + kConnectTimeoutNs;
  std::vector<uint64_t> ready;
  open_more();
  while (counters_.welcomed < responders_.size() && NowNs() < deadline) {
    reactor_.Wait(std::min(deadline, NowNs() + kKeepaliveScanNs), 0, &ready);
    for (uint64_t tag : ready) {
      if (tag != kControlTag) Drain(tag);
    }
    Keepalive(NowNs());
    open_more();
  }
  // Give up on the units still not welcomed: their sockets close, the bench sets them off post.
  std::string hello;
  AppendPod(&hello, counters_.welcomed);
  uint64_t given_up = 0;
  for (size_t i = 0; i < responders_.size(); ++i) given_up += responders_[i].welcomed ? 0 : 1;
  AppendPod(&hello, given_up);
  for (size_t i = 0; i < responders_.size(); ++i) {
    if (responders_[i].welcomed) continue;
    responders_[i].socket.reset();
    AppendPod(&hello, config_.units[i].id);
  }
  hello += config_.echo_endpoint;
  if (!SendControl(control_fd_, Control::kReady, hello)) return;

  for (;;) {
    const int64_t now = NowNs();
    int64_t deadline = next_keepalive_ns_;
    if (position_period_ns_ > 0) {
      deadline = std::min(deadline, std::max(next_position_ns_, now + kPositionTickNs));
    }
    reactor_.Wait(deadline, 0, &ready);
    SendPositionsDue(NowNs());
    for (uint64_t tag : ready) {
      if (tag == kControlTag) {
        if (!HandleControl()) return;
      } else if (tag == kGatewayTag) {
        DrainGateway();
      } else {
        Drain(tag);
      }
    }
    SendReceipts();
    Keepalive(NowNs());
  }
}

// =================================================================================================
// This process: the fleet processes' handles, the alert stream and the baselines.
// =================================================================================================

struct FleetProcess {
  pid_t pid = -1;
  int control_fd = -1;
  size_t units = 0;
  uint64_t welcomed = 0;
  FleetCounters last;  // counters at the previous report
};

// Forks one fleet process. Must run before this process creates a thread (a ZeroMQ context does).
absl::StatusOr<FleetProcess> StartFleetProcess(FleetConfig config, int nice) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return absl::InternalError("socketpair failed");
  }
  std::fflush(stdout);
  const size_t units = config.units.size();
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the bench
    close(fds[0]);
    // Before the ZeroMQ context exists, so its I/O thread inherits it.
    if (nice != 0) setpriority(PRIO_PROCESS, 0, nice);
    {
      Fleet fleet(std::move(config), fds[1]);
      try {
        fleet.Run();
      } catch (const zmq::error_t& e) {
        std::fprintf(stderr, "e2e_bench fleet: %s\n", e.what());
        _exit(1);
      }
    }
    _exit(0);
  }
  close(fds[1]);
  return FleetProcess{pid, fds[0], units, 0, {}};
}

// CPU time of a process and of its main thread (dispatchd's engine thread; ZeroMQ's I/O threads
// are the others), in clock ticks, from /proc.
struct CpuSample {
  int64_t wall_ns = 0;
  int64_t process_ticks = 0;
  int64_t main_thread_ticks = 0;
};

int64_t StatTicks(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  // After "pid (comm)": state is field 3; utime and stime are fields 14 and 15.
  std::vector<std::string> fields = absl::StrSplit(text.substr(close + 2), ' ');
  if (fields.size() < 13) return 0;
  return std::stoll(fields[11]) + std::stoll(fields[12]);
}

CpuSample SampleCpu(pid_t pid) {
  CpuSample s;
  s.wall_ns = NowNs();
  s.process_ticks = StatTicks(absl::StrCat("/proc/", pid, "/stat"));
  s.main_thread_ticks = StatTicks(absl::StrCat("/proc/", pid, "/task/", pid, "/stat"));
  return s;
}

struct CpuShare {
  double process = 0;      // of one core, over the window
  double main_thread = 0;  // the engine thread alone
};

CpuShare ShareBetween(const CpuSample& a, const CpuSample& b) {
  const double tick_ns = 1e9 / static_cast<double>(sysconf(_SC_CLK_TCK));
  const double wall = static_cast<double>(b.wall_ns - a.wall_ns);
  if (wall <= 0) return {};
  return {(b.process_ticks - a.process_ticks) * tick_ns / wall,
          (b.main_thread_ticks - a.main_thread_ticks) * tick_ns / wall};
}

int64_t SelfCpuNs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1'000'000'000LL +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1'000LL;
}

struct AlertRecord {
  enum class Outcome { kNone, kAccepted, kMerged, kRejected };
  int64_t intended_ns = 0;
  int64_t sent_ns = 0;
  int64_t reply_ns = 0;
  Outcome outcome = Outcome::kNone;
  uint64_t incident = 0;
};

struct PingRecord {
  int64_t intended_ns = 0;
  int64_t reply_ns = 0;
};

// The figures of one alert phase (a step, the sustain run or an ingest window).
struct PhaseResult {
  std::string name;
  double rate = 0;             // alerts/s offered
  double positions_per_s = 0;  // offered
  int timed = 0;
  int replies = 0, accepted = 0, merged = 0, rejected = 0, unassigned = 0;
  int no_reply = 0, duplicate_replies = 0;
  uint64_t issued = 0, received = 0;  // assignments during the phase: engine, fleet
  int64_t lost = 0;                   // no reply + (issued - received, if positive)
  bench::LatencySummary reply, first, last, send_lag, position_rtt;
  double achieved_per_s = 0;  // timed alerts answered, per second of their schedule
  double positions_sent_per_s = 0, positions_answered_per_s = 0;
  FleetCounters fleet;                           // deltas over the phase
  std::map<std::string, int64_t> server_deltas;  // dispatchd's own counters that matter
  CpuShare dispatchd_cpu;
  double bench_cpu = 0, fleet_cpu = 0;  // shares of one core
  bool saturated = false;
  std::string verdict;
};

struct Endpoints {
  std::string intake, responders, operators, echo;
};

class Driver {
 public:
  Driver(std::vector<FleetProcess> fleet, Endpoints endpoints, pid_t dispatchd,
         std::vector<PlanePoint> alert_points, const LocalProjection& projection)
      : fleet_(std::move(fleet)),
        endpoints_(std::move(endpoints)),
        dispatchd_(dispatchd),
        alert_points_(std::move(alert_points)),
        projection_(projection),
        random_(absl::GetFlag(FLAGS_seed), 7),
        spin_ns_(int64_t{1000} * std::max(0, absl::GetFlag(FLAGS_spin_us))) {}

  absl::Status Connect();
  // Sets `units` off post through the operator channel (the ones with no client here).
  absl::Status SetOffPost(const std::vector<uint32_t>& units);
  void SetPositionRate(double per_s);
  // Round trips at `rate` for `count` messages: raw (echo in fleet process 0) or heartbeat
  // (through dispatchd's intake).
  bench::LatencySummary Pings(bool raw, int count, double rate, int* lost);
  // Alerts at `rate` for warmup_s + timed_s; waits for the answers; figures of the timed part.
  PhaseResult Alerts(const std::string& name, double rate, double warmup_s, double timed_s);
  absl::StatusOr<std::map<std::string, uint64_t>> Stats();
  // Reports of every fleet process since the previous call, merged.
  FleetReport CollectReports();
  void Quit();
  size_t alert_bytes() const { return alert_bytes_; }

 private:
  enum Tag : uint64_t { kAlertTag, kProbeTag, kRawTag, kOperatorTag };

  std::unique_ptr<zmq::socket_t> NewSocket(const std::string& endpoint, uint64_t tag);
  void Send(zmq::socket_t& socket, const std::string& frame, uint64_t tag);
  void Drain(uint64_t tag);
  void OnAlertReply(const pb::Envelope& e, int64_t now);
  void OnOperator(const pb::Envelope& e);
  // Serves until `done()` or `until_ns`; sends whatever `send_due(now)` schedules.
  template <typename Done, typename Next, typename SendDue>
  void Serve(int64_t until_ns, Done done, Next next_due, SendDue send_due);
  pb::Envelope AlertEnvelope(uint64_t key);
  void SendCancel(uint64_t incident);

  std::vector<FleetProcess> fleet_;
  Endpoints endpoints_;
  pid_t dispatchd_;
  std::vector<PlanePoint> alert_points_;
  LocalProjection projection_;
  sim::Random random_;
  int64_t spin_ns_;
  zmq::context_t context_{1};
  Reactor reactor_;
  std::unique_ptr<zmq::socket_t> alert_, probe_, raw_, operator_;
  size_t alert_bytes_ = 0;

  uint64_t next_key_ = 0;         // client_sequence: distinct over the whole run
  uint64_t phase_first_key_ = 0;  // the key of alerts_[0]
  std::vector<AlertRecord> alerts_;
  int duplicate_replies_ = 0;
  int unanswered_alerts_ = 0;
  std::vector<PingRecord> pings_;
  int pings_answered_ = 0;
  uint64_t operator_sequence_ = 0, probe_sequence_ = 0;
  int operator_results_ = 0, operator_refusals_ = 0;
  std::optional<std::map<std::string, uint64_t>> stats_;
};

std::unique_ptr<zmq::socket_t> Driver::NewSocket(const std::string& endpoint, uint64_t tag) {
  auto socket = std::make_unique<zmq::socket_t>(context_, zmq::socket_type::dealer);
  socket->set(zmq::sockopt::linger, 0);
  // The schedule never waits: let a backlog queue rather than block a send.
  socket->set(zmq::sockopt::sndhwm, 0);
  socket->set(zmq::sockopt::rcvhwm, 0);
  socket->connect(endpoint);
  reactor_.Add(*socket, tag);
  return socket;
}

absl::Status Driver::Connect() {
  alert_ = NewSocket(endpoints_.intake, kAlertTag);
  probe_ = NewSocket(endpoints_.intake, kProbeTag);
  raw_ = NewSocket(endpoints_.echo, kRawTag);
  operator_ = NewSocket(endpoints_.operators, kOperatorTag);
  alert_bytes_ = AlertEnvelope(1).SerializeAsString().size();
  // A first stats round trip proves the operator connection is up.
  absl::StatusOr<std::map<std::string, uint64_t>> stats = Stats();
  return stats.ok() ? absl::OkStatus() : stats.status();
}

void Driver::Send(zmq::socket_t& socket, const std::string& frame, uint64_t tag) {
  (void)socket.send(zmq::buffer(frame), zmq::send_flags::none);
  Drain(tag);  // the send may have consumed the socket's readiness edge
}

void Driver::Drain(uint64_t tag) {
  zmq::socket_t* socket = tag == kAlertTag      ? alert_.get()
                          : tag == kProbeTag    ? probe_.get()
                          : tag == kRawTag      ? raw_.get()
                          : tag == kOperatorTag ? operator_.get()
                                                : nullptr;
  if (socket == nullptr) return;
  zmq::message_t frame;
  pb::Envelope e;
  while (ReceiveLast(*socket, &frame)) {
    const int64_t now = NowNs();
    if (tag == kRawTag) {
      int i = -1;
      if (frame.size() >= sizeof i) std::memcpy(&i, frame.data(), sizeof i);
      if (i >= 0 && i < static_cast<int>(pings_.size()) && pings_[i].reply_ns == 0) {
        pings_[i].reply_ns = now;
        ++pings_answered_;
      }
      continue;
    }
    if (!e.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) continue;
    if (tag == kAlertTag) {
      OnAlertReply(e, now);
    } else if (tag == kProbeTag) {
      // One DEALER and one engine thread keep the answers in order: the n-th is the n-th probe's.
      if (e.has_heartbeat() && pings_answered_ < static_cast<int>(pings_.size())) {
        pings_[pings_answered_++].reply_ns = now;
      }
    } else {
      OnOperator(e);
    }
  }
}

void Driver::OnAlertReply(const pb::Envelope& e, int64_t now) {
  if (!e.has_alert_reply()) return;
  const pb::AlertReply& reply = e.alert_reply();
  const uint64_t key = reply.client_sequence();
  if (key < phase_first_key_ || key >= phase_first_key_ + alerts_.size()) return;
  AlertRecord& a = alerts_[key - phase_first_key_];
  if (a.reply_ns != 0) {
    ++duplicate_replies_;
    return;
  }
  a.reply_ns = now;
  --unanswered_alerts_;
  if (reply.has_rejected()) {
    a.outcome = AlertRecord::Outcome::kRejected;
    return;
  }
  a.incident = reply.accepted().incident_id();
  if (reply.accepted().merged() || reply.accepted().duplicate()) {
    a.outcome = AlertRecord::Outcome::kMerged;
    return;
  }
  a.outcome = AlertRecord::Outcome::kAccepted;
  SendCancel(a.incident);
}

void Driver::OnOperator(const pb::Envelope& e) {
  if (e.has_command_result()) {
    ++operator_results_;
    if (!e.command_result().ok()) {
      if (operator_refusals_++ == 0) {
        std::fprintf(stderr, "e2e_bench: operator command refused: %s\n",
                     e.command_result().message().c_str());
      }
    }
  } else if (e.has_stats()) {
    std::map<std::string, uint64_t> counters(e.stats().counters().begin(),
                                             e.stats().counters().end());
    stats_ = std::move(counters);
  }
}

void Driver::SendCancel(uint64_t incident) {
  pb::Envelope e = NewEnvelope("e2e_bench_operator", ++operator_sequence_);
  e.mutable_cancel_incident()->set_incident_id(incident);
  e.mutable_cancel_incident()->set_note("e2e_bench: answered");
  Send(*operator_, e.SerializeAsString(), kOperatorTag);
}

template <typename Done, typename Next, typename SendDue>
void Driver::Serve(int64_t until_ns, Done done, Next next_due, SendDue send_due) {
  std::vector<uint64_t> ready;
  while (!done() && NowNs() < until_ns) {
    const int64_t due = next_due();
    const int64_t deadline = std::min({due, until_ns, NowNs() + kLookAgainNs});
    reactor_.Wait(deadline, due == deadline ? spin_ns_ : 0, &ready);
    send_due(NowNs());  // the schedule first: a send is due the moment its timer fires
    for (uint64_t tag : ready) Drain(tag);
    if (ready.empty()) {
      // A quiet wake-up: read every socket anyway, in case a readiness edge went unseen.
      for (uint64_t tag : {kAlertTag, kProbeTag, kRawTag, kOperatorTag}) Drain(tag);
    }
  }
}

absl::StatusOr<std::map<std::string, uint64_t>> Driver::Stats() {
  stats_.reset();
  pb::Envelope e = NewEnvelope("e2e_bench_operator", ++operator_sequence_);
  e.mutable_get_stats();
  Send(*operator_, e.SerializeAsString(), kOperatorTag);
  const int64_t never = std::numeric_limits<int64_t>::max();
  Serve(
      NowNs() + 30'000'000'000, [&] { return stats_.has_value(); }, [&] { return never; },
      [](int64_t) {});
  if (!stats_) return absl::DeadlineExceededError("dispatchd did not answer GetStats in 30 s");
  return *stats_;
}

absl::Status Driver::SetOffPost(const std::vector<uint32_t>& units) {
  const int before = operator_results_;
  const int refused_before = operator_refusals_;
  const int total = static_cast<int>(units.size());
  int sent = 0;
  // A window at a time, so the operator channel's other users are not queued behind thousands.
  const auto send_more = [&](int64_t) {
    for (; sent < total && sent - (operator_results_ - before) < kOffPostWindow; ++sent) {
      pb::Envelope e = NewEnvelope("e2e_bench_operator", ++operator_sequence_);
      pb::SetUnitStatus* s = e.mutable_set_unit_status();
      s->set_unit_id(units[sent]);
      s->set_status(pb::UNIT_STATUS_OFF_POST);
      s->set_note("e2e_bench: no client connected");
      Send(*operator_, e.SerializeAsString(), kOperatorTag);
    }
  };
  send_more(0);
  Serve(
      NowNs() + 60'000'000'000, [&] { return operator_results_ - before >= total; },
      [] { return std::numeric_limits<int64_t>::max(); }, send_more);  // more as answers come
  if (operator_results_ - before < total) {
    return absl::DeadlineExceededError(absl::StrCat("dispatchd answered ",
                                                    operator_results_ - before, " of ", total,
                                                    " SetUnitStatus commands in 60 s"));
  }
  if (operator_refusals_ != refused_before) {
    return absl::FailedPreconditionError("dispatchd refused to set units off post");
  }
  return absl::OkStatus();
}

void Driver::SetPositionRate(double per_s) {
  size_t total = 0;
  for (const FleetProcess& f : fleet_) total += f.units;
  for (const FleetProcess& f : fleet_) {
    std::string payload;
    AppendPod(&payload, per_s * static_cast<double>(f.units) / static_cast<double>(total));
    SendControl(f.control_fd, Control::kSetPositionRate, payload);
  }
}

FleetReport Driver::CollectReports() {
  FleetReport all;
  for (FleetProcess& f : fleet_) {
    FleetReport r;
    Control type;
    std::string payload;
    if (!SendControl(f.control_fd, Control::kReport, "") ||
        !ReceiveControl(f.control_fd, &type, &payload) || !DecodeReport(payload, &r)) {
      std::fprintf(stderr, "e2e_bench: fleet process %d did not report\n", f.pid);
      continue;
    }
    all.counters += r.counters.Minus(f.last);
    f.last = r.counters;
    all.assignments.insert(all.assignments.end(), r.assignments.begin(), r.assignments.end());
    all.position_rtt_ns.insert(all.position_rtt_ns.end(), r.position_rtt_ns.begin(),
                               r.position_rtt_ns.end());
  }
  return all;
}

void Driver::Quit() {
  for (FleetProcess& f : fleet_) {
    SendControl(f.control_fd, Control::kQuit, "");
    close(f.control_fd);
    waitpid(f.pid, nullptr, 0);
  }
}

bench::LatencySummary Driver::Pings(bool raw, int count, double rate, int* lost) {
  pings_.assign(count, {});
  pings_answered_ = 0;
  const int64_t period = static_cast<int64_t>(1e9 / rate);
  const int64_t start = NowNs() + 10'000'000;
  std::string padding(std::max<size_t>(alert_bytes_, sizeof(int)) - sizeof(int), 'x');
  int next = 0;
  Serve(
      start + count * period + kLostAfterNs, [&] { return pings_answered_ == count; },
      [&] { return next < count ? start + next * period : std::numeric_limits<int64_t>::max(); },
      [&](int64_t now) {
        for (; next < count && start + next * period <= now; ++next) {
          pings_[next].intended_ns = start + next * period;
          if (raw) {
            std::string payload(reinterpret_cast<const char*>(&next), sizeof next);
            payload += padding;
            Send(*raw_, payload, kRawTag);
          } else {
            pb::Envelope e = NewEnvelope("e2e_bench_probe", ++probe_sequence_);
            e.mutable_heartbeat();
            Send(*probe_, e.SerializeAsString(), kProbeTag);
          }
        }
      });
  std::vector<int64_t> ns;
  *lost = 0;
  for (const PingRecord& p : pings_) {
    if (p.reply_ns == 0 || p.reply_ns - p.intended_ns > kLostAfterNs) {
      ++*lost;
    } else {
      ns.push_back(p.reply_ns - p.intended_ns);
    }
  }
  return bench::Summarize(std::move(ns));
}

pb::Envelope Driver::AlertEnvelope(uint64_t key) {
  pb::Envelope e = NewEnvelope(kReporter, key);
  pb::RaiseAlert* alert = e.mutable_raise_alert();
  alert->set_reporter_id(kReporter);
  alert->set_client_sequence(key);  // the idempotency key: distinct
  PlanePoint p{};
  if (!alert_points_.empty()) {
    p = alert_points_[random_.Below(alert_points_.size())];
    const auto [dx, dy] = random_.NormalPair();
    p.x += dx * 200;
    p.y += dy * 200;
  }
  const LonLat where = projection_.ToLonLat(p);
  alert->mutable_position()->set_lon(where.lon);
  alert->mutable_position()->set_lat(where.lat);
  alert->set_category(static_cast<pb::Category>(1 + random_.Below(8)));  // FIRE .. RESCUE
  alert->set_level(pb::LEVEL_IV_GENERAL);
  alert->set_reported_at_unix_us(UnixMicros());
  return e;
}

// The dispatchd counters whose change over a phase says something went missing.
constexpr const char* kServerCounters[] = {"core.assignments_issued",
                                           "core.alerts_accepted",
                                           "core.alerts_merged",
                                           "core.alerts_rejected",
                                           "deliveries",
                                           "deliveries_dropped",
                                           "deliveries_deferred",
                                           "responders_unreachable",
                                           "replies_dropped",
                                           "resends",
                                           "responder_commands",
                                           "responders_connected"};

PhaseResult Driver::Alerts(const std::string& name, double rate, double warmup_s, double timed_s) {
  PhaseResult r;
  r.name = name;
  r.rate = rate;
  const int warmup = static_cast<int>(std::lround(rate * warmup_s));
  const int total = warmup + std::max(1, static_cast<int>(std::lround(rate * timed_s)));
  r.timed = total - warmup;

  absl::StatusOr<std::map<std::string, uint64_t>> before = Stats();
  CollectReports();  // starts the fleet's records afresh
  const int64_t reports_start = NowNs();
  phase_first_key_ = next_key_ + 1;
  next_key_ += total;
  alerts_.assign(total, {});
  duplicate_replies_ = 0;
  unanswered_alerts_ = total;
  const int64_t period = static_cast<int64_t>(1e9 / rate);
  const int64_t start = NowNs() + 10'000'000;
  std::vector<int64_t> send_lag;
  send_lag.reserve(total);
  const CpuSample cpu_before = SampleCpu(dispatchd_);
  const int64_t bench_cpu_before = SelfCpuNs();
  int next = 0;
  Serve(
      start + total * period + kLostAfterNs, [&] { return unanswered_alerts_ == 0; },
      [&] { return next < total ? start + next * period : std::numeric_limits<int64_t>::max(); },
      [&](int64_t now) {
        for (; next < total && start + next * period <= now; ++next) {
          AlertRecord& a = alerts_[next];
          a.intended_ns = start + next * period;
          Send(*alert_, AlertEnvelope(phase_first_key_ + next).SerializeAsString(), kAlertTag);
          a.sent_ns = NowNs();
          if (next >= warmup) send_lag.push_back(a.sent_ns - a.intended_ns);
        }
      });
  const CpuSample cpu_after = SampleCpu(dispatchd_);
  const int64_t bench_cpu_after = SelfCpuNs();

  // The engine's count of what it issued, then the fleet's records until they add up (the last
  // deliveries may still be on their way), for at most 5 s.
  absl::StatusOr<std::map<std::string, uint64_t>> after = Stats();
  const uint64_t issued = before.ok() && after.ok() ? (*after)["core.assignments_issued"] -
                                                          (*before)["core.assignments_issued"]
                                                    : 0;
  FleetReport fleet;
  const int64_t settle_until = NowNs() + kLostAfterNs;
  for (;;) {
    FleetReport more = CollectReports();
    fleet.counters += more.counters;
    fleet.assignments.insert(fleet.assignments.end(), more.assignments.begin(),
                             more.assignments.end());
    fleet.position_rtt_ns.insert(fleet.position_rtt_ns.end(), more.position_rtt_ns.begin(),
                                 more.position_rtt_ns.end());
    if (fleet.counters.assignments >= issued || NowNs() > settle_until) break;
    const int64_t never = std::numeric_limits<int64_t>::max();
    Serve(
        NowNs() + 50'000'000, [] { return false; }, [&] { return never; }, [](int64_t) {});
  }
  // The fleet's counters cover the whole phase, settling included.
  const double fleet_window_s = (NowNs() - reports_start) / 1e9;
  r.positions_sent_per_s = fleet.counters.positions_sent / fleet_window_s;
  r.positions_answered_per_s = fleet.counters.position_replies / fleet_window_s;
  r.fleet_cpu = fleet.counters.cpu_ns / 1e9 / fleet_window_s;
  if (before.ok() && after.ok()) {
    for (const char* counter : kServerCounters) {
      r.server_deltas[counter] =
          static_cast<int64_t>((*after)[counter]) - static_cast<int64_t>((*before)[counter]);
    }
    r.server_deltas["responders_connected"] =
        static_cast<int64_t>((*after)["responders_connected"]);
  }

  // Per incident: the first and last assignment received.
  absl::flat_hash_map<uint64_t, std::pair<int64_t, int64_t>> received;
  for (const AssignmentSeen& s : fleet.assignments) {
    auto [it, inserted] = received.try_emplace(s.incident, s.received_ns, s.received_ns);
    if (!inserted) {
      it->second.first = std::min(it->second.first, s.received_ns);
      it->second.second = std::max(it->second.second, s.received_ns);
    }
  }
  std::vector<int64_t> reply_ns, first_ns, last_ns;
  int answered = 0;
  for (int i = warmup; i < total; ++i) {
    const AlertRecord& a = alerts_[i];
    if (a.reply_ns == 0 || a.reply_ns - a.intended_ns > kLostAfterNs) {
      ++r.no_reply;
      continue;
    }
    ++r.replies;
    reply_ns.push_back(a.reply_ns - a.intended_ns);
    switch (a.outcome) {
      case AlertRecord::Outcome::kMerged:
        ++r.merged;
        continue;
      case AlertRecord::Outcome::kRejected:
        ++r.rejected;
        continue;
      default:
        ++r.accepted;
        break;
    }
    auto it = received.find(a.incident);
    if (it == received.end()) {
      ++r.unassigned;  // the engine issued none here (checked in total against its counter)
      continue;
    }
    ++answered;
    first_ns.push_back(it->second.first - a.intended_ns);
    last_ns.push_back(it->second.second - a.intended_ns);
  }
  r.duplicate_replies = duplicate_replies_;
  r.issued = issued;
  r.received = fleet.counters.assignments;
  r.lost = r.no_reply + (issued > r.received ? static_cast<int64_t>(issued - r.received) : 0);
  r.reply = bench::Summarize(std::move(reply_ns));
  r.first = bench::Summarize(std::move(first_ns));
  r.last = bench::Summarize(std::move(last_ns));
  r.send_lag = bench::Summarize(std::move(send_lag));
  r.position_rtt = bench::Summarize(std::move(fleet.position_rtt_ns));
  r.fleet = fleet.counters;
  // Timed alerts answered per second of the window from the first timed send to the last answer.
  int64_t last_answer = 0;
  for (int i = warmup; i < total; ++i) {
    auto it = received.find(alerts_[i].incident);
    if (alerts_[i].outcome == AlertRecord::Outcome::kAccepted && it != received.end()) {
      last_answer = std::max(last_answer, it->second.second);
    }
  }
  if (last_answer > alerts_[warmup].intended_ns) {
    r.achieved_per_s =
        answered * 1e9 / static_cast<double>(last_answer - alerts_[warmup].intended_ns);
  }
  const double window_s = (cpu_after.wall_ns - cpu_before.wall_ns) / 1e9;
  // Over the sending window until the last reply: the load the phase offered.
  r.dispatchd_cpu = ShareBetween(cpu_before, cpu_after);
  r.bench_cpu = (bench_cpu_after - bench_cpu_before) / 1e9 / window_s;
  r.saturated = r.lost > 0 || r.last.p99_ns >= kStepP99LimitNs || r.last.count == 0;
  r.verdict = r.lost > 0                         ? "lost"
              : r.last.count == 0                ? "no assignment"
              : r.last.p99_ns >= kStepP99LimitNs ? "p99 >= 2 ms"
                                                 : "ok";
  return r;
}

// =================================================================================================
// Reporting.
// =================================================================================================

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }
std::string Us(double ns) { return absl::StrFormat("%.1f", ns / 1e3); }
std::string Percent(double share) { return absl::StrFormat("%.1f%%", 100 * share); }

void PrintPhase(const PhaseResult& r, const bench::LatencySummary& raw) {
  const auto line = [](const char* what, const bench::LatencySummary& s) {
    std::printf("  %-38s %s\n", what, bench::FormatSummary(s).c_str());
  };
  std::printf("%s: %.0f alerts/s offered (%d timed), %.0f positions/s offered\n", r.name.c_str(),
              r.rate, r.timed, r.positions_per_s);
  line("alert -> reply:", r.reply);
  line("alert -> first assignment received:", r.first);
  line("alert -> every assignment received:", r.last);
  line("(bench send lag: actual - intended)", r.send_lag);
  line("position -> its CommandResult (fleet):", r.position_rtt);
  if (raw.count > 0) {
    std::printf("  ratio every assignment / raw RTT: p50 %.2f  p99 %.2f  p99.9 %.2f\n",
                Ratio(r.last.p50_ns, raw.p50_ns), Ratio(r.last.p99_ns, raw.p99_ns),
                Ratio(r.last.p999_ns, raw.p999_ns));
  }
  std::printf(
      "  alerts: %d replies (%d new incidents, %d merged, %d rejected), %d without a reply, %d "
      "accepted with no assignment; %d duplicate replies\n",
      r.replies, r.accepted, r.merged, r.rejected, r.no_reply, r.unassigned, r.duplicate_replies);
  absl::PrintF(
      "  assignments: %d issued by the engine, %d received by the fleet (%.2f per incident); "
      "%d releases, %d incident updates, %d broadcasts; %d resent deliveries the fleet already "
      "had, %d sequence gaps\n",
      r.issued, r.received, Ratio(r.received, r.accepted), r.fleet.releases,
      r.fleet.incident_updates, r.fleet.broadcasts, r.fleet.duplicate_deliveries, r.fleet.gaps);
  std::string server;
  for (const auto& [name, value] : r.server_deltas) absl::StrAppend(&server, " ", name, "=", value);
  std::printf("  dispatchd counters over the step:%s\n", server.c_str());
  std::printf(
      "  throughput: %.0f alerts/s answered with assignments; positions %.0f/s sent, %.0f/s "
      "answered; %d heartbeats\n",
      r.achieved_per_s, r.positions_sent_per_s, r.positions_answered_per_s,
      static_cast<int>(r.fleet.heartbeats_sent));
  std::printf("  cpu (share of one core): dispatchd %s (engine thread %s), bench %s, fleet %s\n",
              Percent(r.dispatchd_cpu.process).c_str(),
              Percent(r.dispatchd_cpu.main_thread).c_str(), Percent(r.bench_cpu).c_str(),
              Percent(r.fleet_cpu).c_str());
  std::printf("  lost: %lld  -> %s\n\n", static_cast<long long>(r.lost), r.verdict.c_str());
  std::fflush(stdout);
}

bench::Json PhaseJson(const PhaseResult& r, const bench::LatencySummary& raw) {
  bench::Json server = bench::Json::Object();
  for (const auto& [name, value] : r.server_deltas) server.Set(name, value);
  return bench::Json::Object()
      .Set("name", r.name)
      .Set("alerts_per_s", r.rate)
      .Set("positions_per_s", r.positions_per_s)
      .Set("timed_alerts", r.timed)
      .Set("latency", bench::Json::Object()
                          .Set("alert_to_reply", bench::SummaryJson(r.reply))
                          .Set("alert_to_first_assignment", bench::SummaryJson(r.first))
                          .Set("alert_to_every_assignment", bench::SummaryJson(r.last))
                          .Set("bench_send_lag", bench::SummaryJson(r.send_lag))
                          .Set("position_to_result", bench::SummaryJson(r.position_rtt)))
      .Set("ratio_every_assignment_over_raw", bench::Json::Object()
                                                  .Set("p50", Ratio(r.last.p50_ns, raw.p50_ns))
                                                  .Set("p99", Ratio(r.last.p99_ns, raw.p99_ns))
                                                  .Set("p999", Ratio(r.last.p999_ns, raw.p999_ns)))
      .Set("counts", bench::Json::Object()
                         .Set("replies", r.replies)
                         .Set("accepted", r.accepted)
                         .Set("merged", r.merged)
                         .Set("rejected", r.rejected)
                         .Set("no_reply", r.no_reply)
                         .Set("accepted_without_assignment", r.unassigned)
                         .Set("duplicate_replies", r.duplicate_replies)
                         .Set("assignments_issued", r.issued)
                         .Set("assignments_received", r.received)
                         .Set("resent_deliveries_already_held", r.fleet.duplicate_deliveries)
                         .Set("delivery_gaps", r.fleet.gaps)
                         .Set("releases", r.fleet.releases)
                         .Set("lost", r.lost))
      .Set("dispatchd_counter_deltas", std::move(server))
      .Set("throughput", bench::Json::Object()
                             .Set("alerts_answered_per_s", r.achieved_per_s)
                             .Set("positions_sent_per_s", r.positions_sent_per_s)
                             .Set("positions_answered_per_s", r.positions_answered_per_s))
      .Set("cpu_share_of_one_core", bench::Json::Object()
                                        .Set("dispatchd", r.dispatchd_cpu.process)
                                        .Set("dispatchd_engine_thread", r.dispatchd_cpu.main_thread)
                                        .Set("bench", r.bench_cpu)
                                        .Set("fleet", r.fleet_cpu))
      .Set("saturated", r.saturated)
      .Set("verdict", r.verdict);
}

// =================================================================================================
// Setting up.
// =================================================================================================

// Every flag dispatchd gets from this bench: the benches' common ones (bench::DispatchdFlags:
// authentication), the transport's endpoints, then --dispatchd_flags.
std::vector<std::string> DispatchdFlags(const std::string& transport, const std::string& ipc_dir) {
  std::vector<std::string> flags = bench::DispatchdFlags();
  if (transport == "ipc") {
    flags.insert(flags.end(), {absl::StrCat("--intake=ipc://", ipc_dir, "/intake"),
                               absl::StrCat("--responders=ipc://", ipc_dir, "/responders"),
                               absl::StrCat("--operator_endpoint=ipc://", ipc_dir, "/operator"),
                               absl::StrCat("--feed=ipc://", ipc_dir, "/feed")});
  }
  if (absl::GetFlag(FLAGS_engine_cpu) >= 0) {
    flags.push_back(absl::StrCat("--engine_cpu=", absl::GetFlag(FLAGS_engine_cpu)));
  }
  for (const std::string& f : absl::GetFlag(FLAGS_dispatchd_flags)) flags.push_back(f);
  return flags;
}

// Where fleet process `index` connects. Over TCP each process connects from its own loopback
// source address (127.0.0.2, 127.0.0.3, ...): Linux hands connect() only about half of the
// ephemeral port range (about 14,000 ports) per source address, fewer than the fleet needs.
std::string FleetEndpoint(const std::string& responders, int index) {
  if (!absl::StartsWith(responders, "tcp://127.0.0.1:")) return responders;
  return absl::StrCat("tcp://127.0.0.", 2 + index, ":0;", responders.substr(6));
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

std::vector<double> ParseRates(const std::vector<std::string>& texts) {
  std::vector<double> rates;
  for (const std::string& t : texts) rates.push_back(std::atof(t.c_str()));
  return rates;
}

int Run() {
  const std::string workload = absl::GetFlag(FLAGS_workload);
  const std::string transport = absl::GetFlag(FLAGS_transport);
  if (workload != "steps" && workload != "sustain" && workload != "ingest") {
    return Fail(absl::InvalidArgumentError("--workload: steps, sustain or ingest"));
  }
  if (transport != "tcp" && transport != "ipc") {
    return Fail(absl::InvalidArgumentError("--transport: tcp or ipc"));
  }
  prctl(PR_SET_TIMERSLACK, 1UL);  // sub-microsecond timer wake-ups for the schedule
  bench::PrintEnvironment(absl::StrCat(
      "e2e_bench ", workload, ": alert -> every assignment through dispatchd over ZeroMQ ",
      transport == "tcp" ? "TCP loopback" : "ipc", ", the fleet online, positions flowing",
      absl::GetFlag(FLAGS_position_batch) > 0
          ? absl::StrCat(" (in PositionBatch of up to ", absl::GetFlag(FLAGS_position_batch),
                         " or ", absl::GetFlag(FLAGS_position_batch_ms),
                         " ms, one gateway connection per fleet process)")
          : ""));

  // How many responders fit: dispatchd holds one descriptor per connection.
  const rlim_t limit = RaiseDescriptorLimit();
  const std::string config_dir = absl::GetFlag(FLAGS_config_dir);
  absl::StatusOr<CityData> city = LoadCityData(config_dir);
  if (!city.ok()) return Fail(city.status());
  size_t connect = std::min<size_t>(city->units.size(),
                                    limit > kDispatchdReserve ? limit - kDispatchdReserve : 0);
  if (absl::GetFlag(FLAGS_responders) > 0) {
    connect = std::min<size_t>(connect, absl::GetFlag(FLAGS_responders));
  }
  // A seeded shuffle picks which units are online, spread over the whole city.
  std::vector<size_t> order(city->units.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  sim::Random shuffle(absl::GetFlag(FLAGS_seed), 3);
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[shuffle.Below(i)]);
  std::vector<FleetUnit> online;
  std::vector<uint32_t> offline;
  std::vector<PlanePoint> alert_points;
  for (size_t k = 0; k < order.size(); ++k) {
    const Unit& u = city->units[order[k]];
    if (k < connect) {
      online.push_back({u.id, u.position});
      alert_points.push_back(city->projection.ToPlane(u.position));
    } else {
      offline.push_back(u.id);
    }
  }
  const size_t per_process_max = (limit - kFleetReserve) / 2;
  const int processes = std::max<int>(
      absl::GetFlag(FLAGS_fleet_processes),
      static_cast<int>((connect + per_process_max - 1) / std::max<size_t>(1, per_process_max)));

  const std::string ipc_dir = absl::StrCat("/tmp/gz-e2e-bench-", getpid());
  if (transport == "ipc") fs::create_directories(ipc_dir);
  const int64_t start = NowNs();
  auto dispatchd = testing::DispatchdProcess::Start(config_dir, DispatchdFlags(transport, ipc_dir));
  if (!dispatchd.ok()) return Fail(dispatchd.status());
  std::printf("  dispatchd: ready in %.1f s; descriptor limit %llu (hard limit of this sandbox)\n",
              (NowNs() - start) / 1e9, static_cast<unsigned long long>(limit));
  if (const int engine_cpu = absl::GetFlag(FLAGS_engine_cpu); engine_cpu >= 0) {
    // After dispatchd has started (it needs the engine's CPU in its own mask) and before the fleet
    // is forked and any thread exists, so every process and thread of the load inherits this.
    absl::StatusOr<std::vector<int>> others = CpusBesideEngine(engine_cpu);
    if (!others.ok()) return Fail(others.status());
    if (absl::Status s = PinCallingThread(*others); !s.ok()) return Fail(s);
    std::printf(
        "  placement: dispatchd's engine loop alone on CPU %d; its ZeroMQ threads, this process "
        "and the fleet on CPU %s\n",
        engine_cpu, CpuListText(*others).c_str());
  }

  // Fleet processes, forked before this process has a thread.
  std::vector<FleetProcess> fleet;
  const int64_t connect_start = NowNs();
  double connect_s = 0;
  for (int p = 0; p < processes; ++p) {
    FleetConfig config;
    config.index = p;
    config.responder_endpoint = FleetEndpoint((*dispatchd)->responders(), p);
    config.seed = absl::GetFlag(FLAGS_seed);
    config.position_batch = std::clamp(absl::GetFlag(FLAGS_position_batch), 0, 4096);
    config.position_batch_ns = int64_t{1'000'000} * absl::GetFlag(FLAGS_position_batch_ms);
    for (size_t i = p; i < online.size(); i += processes) config.units.push_back(online[i]);
    if (p == 0) {
      config.echo_endpoint =
          transport == "tcp" ? "tcp://127.0.0.1:*" : absl::StrCat("ipc://", ipc_dir, "/echo");
    }
    absl::StatusOr<FleetProcess> f =
        StartFleetProcess(std::move(config), absl::GetFlag(FLAGS_fleet_nice));
    if (!f.ok()) return Fail(f.status());
    fleet.push_back(*f);
  }
  std::string echo_endpoint;
  uint64_t welcomed = 0;
  size_t given_up = 0;
  for (FleetProcess& f : fleet) {
    Control type;
    std::string payload;
    size_t at = 0;
    uint64_t failed = 0;
    if (!ReceiveControl(f.control_fd, &type, &payload) || type != Control::kReady ||
        !ReadPod(payload, &at, &f.welcomed) || !ReadPod(payload, &at, &failed)) {
      return Fail(absl::InternalError("a fleet process did not start"));
    }
    for (uint64_t k = 0; k < failed; ++k) {
      uint32_t unit = 0;
      ReadPod(payload, &at, &unit);
      offline.push_back(unit);
    }
    given_up += failed;
    f.units -= failed;
    welcomed += f.welcomed;
    if (payload.size() > at) echo_endpoint = payload.substr(at);
  }
  std::printf(
      "  fleet:     %llu of %zu units connected and welcomed in %.1f s, in %d processes (%zu "
      "tried: the descriptor limit less %llu for dispatchd itself; %zu given up after %.0f s); "
      "the other %zu units set off post\n",
      static_cast<unsigned long long>(welcomed), city->units.size(),
      (NowNs() - connect_start) / 1e9, processes, online.size(),
      static_cast<unsigned long long>(kDispatchdReserve), given_up, kConnectTimeoutNs / 1e9,
      offline.size());
  std::fflush(stdout);
  if (welcomed == 0) return Fail(absl::UnavailableError("no responder could connect"));
  connect_s = (NowNs() - connect_start) / 1e9;

  Driver driver(fleet,
                Endpoints{(*dispatchd)->intake(), (*dispatchd)->responders(),
                          (*dispatchd)->operators(), echo_endpoint},
                (*dispatchd)->pid(), alert_points, city->projection);
  if (absl::Status s = driver.Connect(); !s.ok()) return Fail(s);
  const int64_t off_post_start = NowNs();
  if (absl::Status s = driver.SetOffPost(offline); !s.ok()) return Fail(s);
  std::printf("  off post:  %zu units set off post through the operator channel in %.1f s\n",
              offline.size(), (NowNs() - off_post_start) / 1e9);
  std::fflush(stdout);

  bench::Json json = bench::ResultHeader(kProgram, absl::StrCat(workload, "-", transport));
  json.Set("transport", transport)
      .Set("units", static_cast<int64_t>(city->units.size()))
      .Set("responders_tried", static_cast<int64_t>(online.size()))
      .Set("responders_connected", static_cast<int64_t>(welcomed))
      .Set("responders_given_up", static_cast<int64_t>(given_up))
      .Set("connect_s", connect_s)
      .Set("fleet_processes", processes)
      .Set("fleet_nice", absl::GetFlag(FLAGS_fleet_nice))
      .Set("engine_cpu", absl::GetFlag(FLAGS_engine_cpu))
      .Set("descriptor_limit", static_cast<int64_t>(limit))
      .Set("alert_envelope_bytes", static_cast<int64_t>(driver.alert_bytes()));
  bench::Json phases = bench::Json::Array();
  std::vector<std::vector<std::string>> rows;
  bench::LatencySummary raw, heartbeat;
  int exit_code = 0;
  const std::string fleet_text = absl::StrFormat("%d", welcomed);

  const auto run_phase = [&](const std::string& name, double rate, double positions,
                             double warmup_s, double timed_s) {
    PhaseResult r = driver.Alerts(name, rate, warmup_s, timed_s);
    r.positions_per_s = positions;
    PrintPhase(r, raw);
    phases.Push(PhaseJson(r, raw));
    return r;
  };

  if (workload == "steps" || workload == "sustain") {
    const double positions = absl::GetFlag(FLAGS_positions_per_s);
    driver.SetPositionRate(positions);
    // A second for the position load to settle before anything is measured.
    int settle_lost = 0;
    driver.Pings(true, 1000, kBaselineRate, &settle_lost);
    const int probes = absl::GetFlag(FLAGS_baseline_probes);
    int raw_lost = 0, heartbeat_lost = 0;
    raw = driver.Pings(true, probes, kBaselineRate, &raw_lost);
    heartbeat = driver.Pings(false, probes, kBaselineRate, &heartbeat_lost);
    std::printf("\nsame-run baselines at %.0f/s with %.0f positions/s flowing:\n", kBaselineRate,
                positions);
    std::printf("  %-38s %s (lost %d)\n",
                "raw zmq DEALER->ROUTER RTT (fleet 0):", bench::FormatSummary(raw).c_str(),
                raw_lost);
    std::printf("  %-38s %s (lost %d)\n\n",
                "dispatchd heartbeat RTT (intake):", bench::FormatSummary(heartbeat).c_str(),
                heartbeat_lost);
    json.Set("baselines", bench::Json::Object()
                              .Set("rate_per_s", kBaselineRate)
                              .Set("raw_zmq_rtt", bench::SummaryJson(raw))
                              .Set("raw_lost", raw_lost)
                              .Set("dispatchd_heartbeat_rtt", bench::SummaryJson(heartbeat))
                              .Set("heartbeat_lost", heartbeat_lost));

    std::vector<double> rates = workload == "steps"
                                    ? ParseRates(absl::GetFlag(FLAGS_rates))
                                    : std::vector<double>{absl::GetFlag(FLAGS_rate)};
    const double timed_s =
        workload == "steps" ? absl::GetFlag(FLAGS_step_s) : absl::GetFlag(FLAGS_sustain_s);
    double highest_ok = 0;
    for (double rate : rates) {
      const PhaseResult r = run_phase(absl::StrFormat("%s %.0f/s", workload, rate), rate, positions,
                                      absl::GetFlag(FLAGS_step_warmup_s), timed_s);
      rows.push_back(
          {transport, fleet_text, absl::StrFormat("%.0f/s", rate),
           absl::StrFormat("%.0f", positions),
           absl::StrCat(Us(r.last.p50_ns), " / ", Us(r.last.p99_ns), " / ", Us(r.last.p999_ns),
                        " / ", Us(r.last.max_ns), " µs"),
           absl::StrCat(Us(raw.p50_ns), " / ", Us(raw.p99_ns), " / ", Us(raw.p999_ns), " µs"),
           absl::StrFormat("%.2f, %.2f, %.2f", Ratio(r.last.p50_ns, raw.p50_ns),
                           Ratio(r.last.p99_ns, raw.p99_ns), Ratio(r.last.p999_ns, raw.p999_ns)),
           absl::StrFormat("%d of %d", r.lost, r.issued),
           absl::StrFormat("%d", r.fleet.duplicate_deliveries + r.duplicate_replies),
           Percent(r.dispatchd_cpu.process), r.verdict});
      if (!r.saturated) highest_ok = rate;
      if (r.saturated) {
        if (workload == "sustain") exit_code = 2;
        break;
      }
    }
    std::printf("highest rate with p99 < 2 ms and nothing lost: %.0f alerts/s%s\n\n", highest_ok,
                highest_ok == rates.back() ? " (the last step: not saturated)" : "");
    json.Set("highest_rate_ok_per_s", highest_ok);
  } else {
    // Ingest: each position rate in turn with a light alert load.
    const double alert_rate = absl::GetFlag(FLAGS_ingest_alert_rate);
    for (double positions : ParseRates(absl::GetFlag(FLAGS_ingest_rates))) {
      driver.SetPositionRate(positions);
      int ignored = 0;
      driver.Pings(true, 1000, kBaselineRate, &ignored);  // a second to settle
      const PhaseResult r = run_phase(absl::StrFormat("ingest %.0f positions/s", positions),
                                      alert_rate, positions, 0.5, absl::GetFlag(FLAGS_ingest_s));
      const int batch = absl::GetFlag(FLAGS_position_batch);
      rows.push_back(
          {batch > 0 ? absl::StrCat(transport, ", batches of ", batch, " or ",
                                    absl::GetFlag(FLAGS_position_batch_ms), " ms")
                     : transport,
           fleet_text, absl::StrFormat("%.0f", positions),
           absl::StrFormat("%.0f / %.0f", r.positions_sent_per_s, r.positions_answered_per_s),
           absl::StrCat(Percent(r.dispatchd_cpu.process), " (engine thread ",
                        Percent(r.dispatchd_cpu.main_thread), ")"),
           absl::StrCat(Us(r.position_rtt.p50_ns), " / ", Us(r.position_rtt.p99_ns), " µs"),
           absl::StrFormat("%.0f/s", alert_rate),
           absl::StrCat(Us(r.last.p50_ns), " / ", Us(r.last.p99_ns), " / ", Us(r.last.p999_ns),
                        " µs"),
           absl::StrFormat("%d", r.lost)});
    }
  }
  driver.SetPositionRate(0);
  json.Set("phases", std::move(phases));

  driver.Quit();
  (*dispatchd)->Stop(SIGTERM);
  if (transport == "ipc") fs::remove_all(ipc_dir);
  const std::vector<std::string> summary = SummaryLines((*dispatchd)->output());
  bench::Json summary_json = bench::Json::Array();
  for (const std::string& line : summary) summary_json.Push(line);
  json.Set("dispatchd_summary", std::move(summary_json));
  if (absl::Status s = bench::WriteResult(kProgram, absl::StrCat(workload, "-", transport), json);
      !s.ok()) {
    return Fail(s);
  }
  const bench::ResultsTable table =
      workload == "ingest"
          ? bench::ResultsTable{"e2e_bench_ingest",
                                "## e2e_bench ingest: positions into dispatchd",
                                {"transport", "responders", "positions/s offered",
                                 "sent / answered per s", "dispatchd CPU (one core)",
                                 "position -> result p50 / p99", "alerts meanwhile",
                                 "alert -> every assignment p50 / p99 / p99.9", "lost"}}
          : bench::ResultsTable{"e2e_bench_steps",
                                "## e2e_bench steps: alert -> every assignment, fleet online",
                                {"transport", "responders", "alerts/s", "positions/s",
                                 "every assignment p50 / p99 / p99.9 / max",
                                 "raw RTT p50 / p99 / p99.9", "ratio p50, p99, p99.9",
                                 "lost of issued", "duplicates", "dispatchd CPU", "verdict"}};
  if (absl::Status s = bench::RecordRows(table, rows); !s.ok()) return Fail(s);
  std::printf("\ndispatchd's own summary:\n");
  for (const std::string& line : summary) std::printf("  %s\n", line.c_str());
  return exit_code;
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Measures alerts end to end through the real dispatchd with the fleet online (responder\n"
      "clients in forked processes, one connection per unit) and positions flowing: from the\n"
      "intended send time (open loop) until every assignment is held by its responder. Same-run\n"
      "baseline: a raw ZeroMQ round trip between this process and a fleet process.\n\n"
      "  e2e_bench --workload=steps [--transport=tcp|ipc] [--rates=1000,5000,...]\n"
      "  e2e_bench --workload=sustain --rate=50000 --sustain_s=60\n"
      "  e2e_bench --workload=ingest [--ingest_rates=0,23000,230000]");
  absl::ParseCommandLine(argc, argv);
  return gz::Run();
}
