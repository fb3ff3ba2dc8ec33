// crash_test: the kill -9 fault test of dispatchd's journal (protocol/JOURNAL.md, "Fault test").
//
// Under a sustained load of alerts, responders and an operator, dispatchd is killed with SIGKILL at
// random moments (seeded exponential gaps) and started again on the same journal and the same
// endpoints, many times. The clients behave as real ones do: an alert whose answer was lost is
// sent again with the SAME idempotency key, responders reconnect and say Hello to the new engine.
// Every answer a client got is recorded. At the end dispatchd is stopped cleanly and the journal is
// replayed offline into a fresh core (the same city and policy), and these must hold:
//   (a) every alert answered "accepted" is exactly one incident in the replay, the one the client
//       was told, and no key was ever accepted as two incidents;
//   (b) no unit ever held two active assignments at once, over the whole replayed history;
//   (c) every incident's state history is legal (engine/incidents/lifecycle.h);
//   (d) every assignment pending at a crash was delivered again to its unit after the restart (the
//       responder logs show it) or ended later (acked, declined, expired, released): none is lost;
// and the final dispatchd's answers on the operator channel agree with the replay. It prints a
// report and exits 1 on any violation (2 when the run itself could not be carried out).
//
//   crash_test --kills=30            # a long campaign; the ctest entry runs a short one
//
// The seed is fixed (tests/support/test_seed.h); DISPATCH_TEST_SEED or --seed changes it. The
// kills land at random moments, so two runs with one seed do not replay the same commands: the
// seed fixes the load's choices and the gaps between kills, not the scheduler.

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/client/alert_client.h"
#include "engine/client/operator_client.h"
#include "engine/client/responder_client.h"
#include "engine/config/city_data.h"
#include "engine/config/dispatch_config_file.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/incidents/incident.h"
#include "engine/incidents/lifecycle.h"
#include "engine/journal/fingerprint.h"
#include "engine/journal/journal.h"
#include "engine/transport/journal_codec.h"
#include "engine/transport/snapshot_codec.h"
#include "engine/units/unit_registry.h"
#include "protocol/dispatch.pb.h"
#include "tests/support/dispatchd_process.h"
#include "tests/support/small_city.h"
#include "tests/support/test_seed.h"

ABSL_FLAG(int, kills, 5, "How many times dispatchd is killed with SIGKILL and started again.");
ABSL_FLAG(uint64_t, seed, 0,
          "Seed of the load's choices and of the gaps between kills; 0 = DISPATCH_TEST_SEED or "
          "the fixed default.");
ABSL_FLAG(double, alert_rate, 4.0, "Alerts per second (Poisson arrivals).");
ABSL_FLAG(int, units, 12,
          "Responders in the small city (tests/support/small_city), 100 m apart east of the alert "
          "point; each is a connected ResponderClient. Alerts fall along the same line.");
ABSL_FLAG(double, mean_gap_s, 4.0, "Mean of the exponential gap between kills, in seconds.");
ABSL_FLAG(double, settle_s, 4.0,
          "Load after the last restart before the end, so re-sent assignments reach their units.");
ABSL_FLAG(int, ack_deadline_s, 4, "The policy's acknowledgement deadline, in seconds.");
ABSL_FLAG(int, snapshot_every_records, 0,
          "Passed to dispatchd when > 0, to crash around snapshots too.");
ABSL_FLAG(bool, keep_dir, false, "Keep the journal and config directories (printed) at the end.");

namespace gz {
namespace {

namespace fs = std::filesystem;
namespace pb = ::gz::dispatch::v1;
using testing::DispatchdProcess;

// ---- What the clients saw.

struct AlertKey {
  std::string reporter;
  uint64_t sequence = 0;
  auto operator<=>(const AlertKey&) const = default;
};

struct DeliveryLog {
  UnitId unit = 0;
  AssignmentId assignment = 0;
  absl::Time at;
};

struct Restart {
  absl::Duration to_ready;  // from the start of the new process to its ready line
  uint64_t replayed = 0;    // records replayed ("journal: replayed N records ...")
  int64_t replay_ms = 0;    // as dispatchd measured it
  uint64_t pending = 0;     // pending assignments it re-queued
  bool snapshot = false;    // it restored a snapshot first
  bool torn = false;        // it truncated a torn tail
};

struct Shared {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<AlertKey, IncidentId> accepted;  // the answer the client was given
  std::map<AlertKey, int> rejected;
  uint64_t alerts_sent = 0;     // distinct keys raised
  uint64_t alerts_retried = 0;  // Raise() calls repeated with the same key after a failure
  uint64_t alerts_resent = 0;   // alerts the client itself sent more than once (no answer in time)
  uint64_t alerts_duplicate = 0;  // answered "duplicate": the engine had answered the key before
  uint64_t alerts_lost = 0;       // keys never answered (the run ended first)
  std::vector<DeliveryLog> deliveries;
  uint64_t acks = 0, declines = 0, silent = 0, arrivals = 0;
  uint64_t sequence_resets = 0, reconnects = 0;
  uint64_t resolved = 0, cancelled = 0, closed = 0;
  std::vector<std::string> errors;  // the load could not run as meant
};

// Where dispatchd is now; the killer updates it (the endpoints never change).
struct Target {
  std::string intake, responders, operators;
  auth::CurveClientKeys keys;
};

void SetCurve(zmq::socket_t& socket, const auth::CurveClientKeys& keys) {
  if (!keys.enabled()) return;
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
  socket.set(zmq::sockopt::curve_publickey, keys.client_public);
  socket.set(zmq::sockopt::curve_secretkey, keys.client_secret);
}

// One request on the operator channel on a fresh DEALER (so a late answer to an earlier request
// can never be taken for this one's): the reply, or nullopt if dispatchd did not answer.
std::optional<pb::Envelope> Ask(zmq::context_t& context, const Target& target, pb::Envelope request,
                                absl::Duration timeout = absl::Seconds(2)) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  SetCurve(socket, target.keys);
  socket.connect(target.operators);
  request.set_protocol_version(1);
  request.set_sender_id("crash-test");
  request.set_sequence(1);
  socket.send(zmq::buffer(request.SerializeAsString()), zmq::send_flags::none);
  zmq::message_t reply;
  if (!socket.recv(reply)) return std::nullopt;
  pb::Envelope envelope;
  if (!envelope.ParseFromArray(reply.data(), static_cast<int>(reply.size()))) return std::nullopt;
  return envelope;
}

// ---- The load.

// Raises alerts at Poisson moments around the city's alert point, one reporter, keys 1, 2, 3...
// A Raise() that fails (dispatchd is down) is repeated with the same key until it is answered.
void AlertLoop(zmq::context_t& context, const Target& target, const LocalProjection& projection,
               LonLat centre, double span_m, uint64_t seed, Shared* shared) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(absl::GetFlag(FLAGS_alert_rate));
  std::uniform_real_distribution<double> east(0, span_m), north(-150, 150);
  const Category categories[] = {Category::kFire, Category::kMedical, Category::kTraffic,
                                 Category::kPublicSecurity};
  auto client = client::AlertClient::Create(context, {.endpoint = target.intake,
                                                      .reporter_id = "crash-test-reporter",
                                                      .timeout = absl::Seconds(2),
                                                      .attempts = 3,
                                                      .curve = target.keys});
  if (!client.ok()) {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->errors.push_back(std::string(client.status().message()));
    return;
  }
  const PlanePoint origin = projection.ToPlane(centre);
  uint64_t sequence = 0;
  while (!shared->stop.load()) {
    std::this_thread::sleep_for(std::chrono::duration<double>(gap(rng)));  // the arrival process
    client::Alert alert;
    alert.client_sequence = ++sequence;
    alert.position = projection.ToLonLat({origin.x + east(rng), origin.y + north(rng)});
    alert.category = categories[rng() % 4];
    alert.level = Level::kIvGeneral;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      ++shared->alerts_sent;
    }
    for (int tries = 0;; ++tries) {
      absl::StatusOr<client::AlertOutcome> outcome = (*client)->Raise(alert);
      if (outcome.ok()) {
        std::lock_guard<std::mutex> lock(shared->mu);
        const AlertKey key{outcome->reporter_id, outcome->client_sequence};
        if (outcome->sends > 1 || tries > 0) ++shared->alerts_resent;
        if (outcome->duplicate) ++shared->alerts_duplicate;
        if (outcome->accepted) {
          shared->accepted[key] = outcome->incident_id;
        } else {
          ++shared->rejected[key];
        }
        break;
      }
      // The engine is down (or restarting): a real client keeps the key and asks again, however
      // long it takes, unless the whole run is over.
      std::lock_guard<std::mutex> lock(shared->mu);
      if (shared->stop.load()) {
        ++shared->alerts_lost;
        break;
      }
      ++shared->alerts_retried;
    }
  }
}

// What a unit does with an assignment, decided by the assignment (so a re-sent one gets the same
// treatment): mostly acknowledge, sometimes decline or stay silent; some acknowledged units report
// their arrival.
enum class Reaction { kAck, kAckAndArrive, kDecline, kSilent };
Reaction ReactionTo(uint64_t seed, UnitId unit, AssignmentId assignment) {
  std::seed_seq seq{seed, static_cast<uint64_t>(unit), assignment};
  std::mt19937 rng(seq);
  const int roll = static_cast<int>(rng() % 100);
  if (roll < 35) return Reaction::kAck;
  if (roll < 70) return Reaction::kAckAndArrive;
  if (roll < 85) return Reaction::kDecline;
  return Reaction::kSilent;
}

// Drives a group of responders from one thread: each gets a short Next() in turn.
void ResponderLoop(zmq::context_t& context, const Target& target, std::vector<UnitId> units,
                   uint64_t seed, Shared* shared) {
  std::vector<std::unique_ptr<client::ResponderClient>> clients;
  for (UnitId unit : units) {
    auto connected = client::ResponderClient::Connect(context, {.endpoint = target.responders,
                                                                .unit_id = unit,
                                                                .request_timeout = absl::Seconds(1),
                                                                .curve = target.keys});
    if (!connected.ok()) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->errors.push_back(absl::StrCat("unit ", unit, ": ", connected.status().message()));
      return;
    }
    clients.push_back(*std::move(connected));
  }
  // Acknowledged assignments to report arrival for, and when.
  std::vector<std::pair<absl::Time, std::pair<size_t, AssignmentId>>> arrivals;
  while (!shared->stop.load()) {
    for (size_t i = 0; i < clients.size(); ++i) {
      client::ResponderClient& c = *clients[i];
      absl::StatusOr<std::optional<client::Delivery>> d = c.Next(absl::Milliseconds(20));
      if (!d.ok() || !d->has_value()) continue;
      if ((*d)->kind != client::Delivery::Kind::kAssignment) continue;
      const AssignmentId id = (*d)->assignment_id;
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        shared->deliveries.push_back({c.unit_id(), id, absl::Now()});
      }
      const Reaction reaction = ReactionTo(seed, c.unit_id(), id);
      absl::Status s;
      if (reaction == Reaction::kDecline) {
        s = c.Decline(id, DeclineReason::kBusy);
      } else if (reaction != Reaction::kSilent) {
        s = c.Ack(id);
        if (reaction == Reaction::kAckAndArrive) {
          arrivals.push_back({absl::Now() + absl::Milliseconds(500), {i, id}});
        }
      }
      std::lock_guard<std::mutex> lock(shared->mu);
      switch (reaction) {
        case Reaction::kDecline:
          ++shared->declines;
          break;
        case Reaction::kSilent:
          ++shared->silent;
          break;
        default:
          ++shared->acks;
          break;
      }
    }
    const absl::Time now = absl::Now();
    for (auto it = arrivals.begin(); it != arrivals.end();) {
      if (it->first > now) {
        ++it;
        continue;
      }
      if (clients[it->second.first]->Arrive(it->second.second).ok()) {
        std::lock_guard<std::mutex> lock(shared->mu);
        ++shared->arrivals;
      }
      it = arrivals.erase(it);
    }
  }
  std::lock_guard<std::mutex> lock(shared->mu);
  for (const auto& c : clients) {
    shared->sequence_resets += c->counters().sequence_resets;
    shared->reconnects += c->counters().reconnects;
  }
}

// The control room: resolves and closes incidents with a unit on scene, and cancels and closes
// those open longer than `max_open`, so units come back to the pool and the load goes on.
void OperatorLoop(zmq::context_t& context, const Target& target, Shared* shared) {
  const absl::Duration max_open = absl::Seconds(10);
  auto op =
      client::OperatorClient::Create(context, target.operators, absl::Seconds(1), target.keys);
  if (!op.ok()) {
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->errors.push_back(std::string(op.status().message()));
    return;
  }
  while (!shared->stop.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the operator's pace
    pb::Envelope request;
    request.mutable_list_open_incidents()->set_limit(200);
    std::optional<pb::Envelope> reply = Ask(context, target, request, absl::Seconds(1));
    if (!reply.has_value() || !reply->has_incident_list()) continue;
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    for (const pb::IncidentSummary& incident : reply->incident_list().incidents()) {
      if (shared->stop.load()) break;
      const IncidentId id = incident.incident_id();
      bool close = false;
      if (incident.state() == pb::INCIDENT_STATE_ON_SCENE) {
        if ((*op)->Resolve(id).ok()) {
          std::lock_guard<std::mutex> lock(shared->mu);
          ++shared->resolved;
        }
        close = true;
      } else if (incident.state() == pb::INCIDENT_STATE_RESOLVED ||
                 incident.state() == pb::INCIDENT_STATE_CANCELLED) {
        close = true;
      } else if (now_us - incident.opened_at_unix_us() > absl::ToInt64Microseconds(max_open)) {
        if ((*op)->Cancel(id).ok()) {
          std::lock_guard<std::mutex> lock(shared->mu);
          ++shared->cancelled;
        }
        close = true;
      }
      if (close && (*op)->Close(id).ok()) {
        std::lock_guard<std::mutex> lock(shared->mu);
        ++shared->closed;
      }
    }
  }
}

// ---- Restart lines.

uint64_t NumberAfter(const std::string& text, const std::string& marker, size_t* at = nullptr) {
  const size_t found = text.find(marker);
  if (found == std::string::npos) return 0;
  if (at != nullptr) *at = found + marker.size();
  return std::strtoull(text.c_str() + found + marker.size(), nullptr, 10);
}

Restart ParseRestart(const std::string& output, absl::Duration to_ready) {
  Restart r;
  r.to_ready = to_ready;
  size_t at = 0;
  r.replayed = NumberAfter(output, "journal: replayed ", &at);
  const std::string rest = output.substr(at);
  r.replay_ms = static_cast<int64_t>(NumberAfter(rest, " in "));
  r.pending = NumberAfter(rest, " open incidents, ");
  r.snapshot = output.find("journal: restored the state after record ") != std::string::npos;
  r.torn = output.find("journal: truncated torn tail") != std::string::npos;
  return r;
}

// ---- The offline replay and the invariants.

struct Check {
  std::string name;
  uint64_t checked = 0;
  std::vector<std::string> violations;
  void Fail(std::string what) { violations.push_back(std::move(what)); }
};

// What the online engine answered, to compare with the replay at the same record.
struct OnlineView {
  uint64_t at_record = 0;  // the journal's last record when these answers were given
  std::map<IncidentId, pb::IncidentSummary> incidents;
  std::set<IncidentId> open;
  bool taken = false;
};

struct ReplayInput {
  std::string journal_dir;
  std::string config_dir;
  std::vector<absl::Time> kill_times;  // kill k ended incarnation k + 1
  std::vector<Restart> restarts;
};

struct ReplayResult {
  Check a{"(a) accepted alerts are exactly one incident, as answered"};
  Check b{"(b) no unit ever held two active assignments"};
  Check c{"(c) every incident's state history is legal"};
  Check d{"(d) assignments pending at a crash were re-sent or ended"};
  Check e{"(e) restart lines agree with the replay (pending re-queued)"};
  Check f{"(f) the final dispatchd's answers agree with the replay"};
  uint64_t records = 0, segments = 0, incarnations = 0, incidents = 0, assignments = 0;
  uint64_t from_record = 1;  // 1, or the record after the snapshot replay had to start from
  std::string fatal;         // the journal could not be replayed at all
};

class Replayer {
 public:
  Replayer(const ReplayInput& in, const Shared& shared, const OnlineView& online)
      : in_(in), shared_(shared), online_(online) {}

  ReplayResult Run() {
    if (absl::Status s = Load(); !s.ok()) {
      result_.fatal = std::string(s.message());
      return std::move(result_);
    }
    FinalChecks();
    return std::move(result_);
  }

 private:
  enum class Status { kPending, kAcked, kArrived, kEnded };

  absl::Status Load() {
    absl::StatusOr<CityData> city = LoadCityData(in_.config_dir);
    if (!city.ok()) return city.status();
    absl::StatusOr<DispatchConfig> config =
        ReadDispatchConfig(ConfigPath(in_.config_dir, kDispatchConfigFile));
    if (!config.ok()) return config.status();
    city_ = *std::move(city);
    const uint64_t fingerprint =
        journal::EngineFingerprint(*config, city_.projection, *city_.map, city_.units);

    std::map<uint64_t, std::string> segments;   // number -> path
    std::map<uint64_t, std::string> snapshots;  // last record -> path
    for (const auto& entry : fs::directory_iterator(in_.journal_dir)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("journal-", 0) == 0 && entry.path().extension() == ".log") {
        segments[std::stoull(name.substr(8))] = entry.path().string();
      } else if (name.rfind("snapshot-", 0) == 0 && entry.path().extension() == ".bin") {
        snapshots[std::stoull(name.substr(9))] = entry.path().string();
      }
    }
    if (segments.empty()) return absl::DataLossError("the journal has no segment");

    uint64_t next_record = 0;
    uint64_t incarnation = 0;
    for (const auto& [number, path] : segments) {
      std::ifstream file(path, std::ios::binary);
      std::stringstream bytes;
      bytes << file.rdbuf();
      const std::string data = bytes.str();
      journal::JournalReader reader(data, path);
      if (!reader.header_ok()) return absl::DataLossError(absl::StrCat(path, ": bad header"));
      const journal::SegmentHeader& header = reader.header();
      if (header.fingerprint != fingerprint) {
        return absl::DataLossError(absl::StrCat(path, ": written for another config"));
      }
      if (core_ == nullptr) {
        if (absl::Status s = CreateCore(*config, header, snapshots); !s.ok()) return s;
        next_record = header.first_record;
        result_.from_record = header.first_record;
      }
      if (header.first_record != next_record) {
        return absl::DataLossError(absl::StrCat(path, ": starts at record ", header.first_record,
                                                ", expected ", next_record));
      }
      ++result_.segments;
      if (header.incarnation != incarnation) {
        if (incarnation != 0) OnRestart(header.incarnation);
        incarnation = header.incarnation;
        ++result_.incarnations;
      }
      absl::string_view payload;
      while (reader.Next(&payload)) {
        absl::StatusOr<Command> command = transport::DecodeJournalCommand(payload);
        if (!command.ok()) {
          return absl::DataLossError(
              absl::StrCat(path, ": record ", next_record, ": ", command.status().message()));
        }
        events_.clear();
        core_->Apply(*command, &events_);
        for (const Event& event : events_) OnEvent(event);
        ++result_.records;
        if (online_.taken && next_record == online_.at_record) CompareOnline();
        ++next_record;
      }
      // A clean stop leaves every segment whole: dispatchd truncated each torn tail at its start.
      if (reader.end() != journal::JournalReader::End::kClean) {
        return absl::DataLossError(absl::StrCat(path, " does not end cleanly after record ",
                                                next_record - 1, ": ", reader.status().message()));
      }
    }
    if (online_.taken && online_.at_record == 0) CompareOnline();
    return absl::OkStatus();
  }

  absl::Status CreateCore(const DispatchConfig& config, const journal::SegmentHeader& header,
                          const std::map<uint64_t, std::string>& snapshots) {
    auto registry = UnitRegistry::Create(city_.units, city_.projection, config.travel);
    if (!registry.ok()) return registry.status();
    auto core = DispatchCore::Create(config, city_.map.get(), *std::move(registry),
                                     absl::FromUnixMicros(header.core_start_unix_us));
    if (!core.ok()) return core.status();
    core_ = *std::move(core);
    if (header.first_record == 1) return absl::OkStatus();
    // The early segments were deleted after a snapshot: start from the snapshot they continue,
    // and take what it holds as the history so far.
    auto it = snapshots.find(header.first_record - 1);
    if (it == snapshots.end()) {
      return absl::DataLossError(absl::StrCat("no snapshot continues the first segment (record ",
                                              header.first_record, ")"));
    }
    std::ifstream file(it->second, std::ios::binary);
    std::stringstream bytes;
    bytes << file.rdbuf();
    const std::string data = bytes.str();
    if (data.size() < journal::kSnapshotHeaderBytes) return absl::DataLossError("short snapshot");
    absl::StatusOr<transport::EngineSnapshot> snapshot = transport::DecodeEngineSnapshot(
        absl::string_view(data).substr(journal::kSnapshotHeaderBytes));
    if (!snapshot.ok()) return snapshot.status();
    if (absl::Status s = transport::RestoreCoreSnapshot(snapshot->core, core_.get()); !s.ok()) {
      return s;
    }
    for (const auto& [id, incident] : core_->incidents()) {
      state_[id] = incident.state;
      for (const StateChange& change : incident.timeline) history_[id].push_back(change.state);
      for (AssignmentId a : incident.assignments) {
        const Assignment* assignment = core_->FindAssignment(a);
        if (assignment == nullptr) continue;
        unit_of_[a] = assignment->unit;
        switch (assignment->status) {
          case AssignmentStatus::kPending:
            status_[a] = Status::kPending;
            break;
          case AssignmentStatus::kAcked:
            status_[a] = Status::kAcked;
            break;
          case AssignmentStatus::kArrived:
            status_[a] = Status::kArrived;
            break;
          default:
            status_[a] = Status::kEnded;
            break;
        }
        if (IsActive(assignment->status)) active_[assignment->unit] = a;
      }
    }
    return absl::OkStatus();
  }

  // A new engine started: every assignment still pending must reach its unit again or end.
  void OnRestart(uint64_t incarnation) {
    const size_t kill = incarnation - 2;
    uint64_t pending = 0;
    for (const auto& [id, status] : status_) {
      if (status != Status::kPending) continue;
      ++pending;
      watch_.push_back({id, kill});
    }
    if (kill < in_.restarts.size()) {
      ++result_.e.checked;
      if (in_.restarts[kill].pending != pending) {
        result_.e.Fail(absl::StrCat("restart ", kill + 1, " said it re-queued ",
                                    in_.restarts[kill].pending,
                                    " pending assignments; the replay has ", pending));
      }
    }
  }

  void End(AssignmentId id, UnitId unit) {
    status_[id] = Status::kEnded;
    ended_after_.insert(id);
    auto it = active_.find(unit);
    if (it != active_.end() && it->second == id) active_.erase(it);
  }

  void OnEvent(const Event& event) {
    const absl::Time at = event.at;
    if (const auto* e = std::get_if<AlertAccepted>(&event.body)) {
      const AlertKey key{e->reporter_id, e->client_sequence};
      auto it = incident_of_key_.find(key);
      ++result_.a.checked;
      if (!e->duplicate) {
        if (it != incident_of_key_.end()) {
          result_.a.Fail(absl::StrCat("key ", key.reporter, "/", key.sequence,
                                      " accepted twice: incidents ", it->second, " and ",
                                      e->incident));
        } else {
          incident_of_key_[key] = e->incident;
        }
      } else if (it != incident_of_key_.end() && it->second != e->incident) {
        result_.a.Fail(absl::StrCat("key ", key.reporter, "/", key.sequence, " answered ",
                                    e->incident, " on retry but ", it->second, " first"));
      }
    } else if (const auto* e = std::get_if<IncidentOpened>(&event.body)) {
      ++result_.incidents;
      state_[e->incident] = IncidentState::kReported;
      history_[e->incident].push_back(IncidentState::kReported);
    } else if (const auto* e = std::get_if<IncidentStateChanged>(&event.body)) {
      ++result_.c.checked;
      IncidentState& now = state_[e->incident];
      history_[e->incident].push_back(e->to);
      if (e->from != now || !IsLegalTransition(e->from, e->to)) {
        result_.c.Fail(absl::StrCat("incident ", e->incident, ": ", IncidentStateName(e->from),
                                    " -> ", IncidentStateName(e->to), " while it was ",
                                    IncidentStateName(now), " at ", absl::FormatTime(at)));
      }
      now = e->to;
    } else if (const auto* e = std::get_if<AssignmentIssued>(&event.body)) {
      ++result_.assignments;
      ++result_.b.checked;
      auto it = active_.find(e->unit);
      if (it != active_.end()) {
        result_.b.Fail(absl::StrCat("unit ", e->unit, " got assignment ", e->assignment,
                                    " (incident ", e->incident, ") while it held assignment ",
                                    it->second, " at ", absl::FormatTime(at)));
      }
      active_[e->unit] = e->assignment;
      status_[e->assignment] = Status::kPending;
      unit_of_[e->assignment] = e->unit;
    } else if (const auto* e = std::get_if<AssignmentAcked>(&event.body)) {
      status_[e->assignment] = Status::kAcked;
      ended_after_.insert(e->assignment);  // answered: no longer waiting to be re-sent
    } else if (const auto* e = std::get_if<UnitArrived>(&event.body)) {
      status_[e->assignment] = Status::kArrived;
    } else if (const auto* e = std::get_if<AssignmentDeclined>(&event.body)) {
      End(e->assignment, e->unit);
    } else if (const auto* e = std::get_if<AssignmentExpired>(&event.body)) {
      End(e->assignment, e->unit);
    } else if (const auto* e = std::get_if<AssignmentReleased>(&event.body)) {
      End(e->assignment, e->unit);
    }
  }

  // The online answers were given when the journal ended at this record: the replay must agree.
  void CompareOnline() {
    for (const auto& [id, answer] : online_.incidents) {
      ++result_.f.checked;
      const Incident* incident = core_->FindIncident(id);
      if (incident == nullptr) {
        result_.f.Fail(absl::StrCat("incident ", id, " answered online is not in the replay"));
        continue;
      }
      std::set<std::pair<AssignmentId, UnitId>> live, answered;
      for (AssignmentId a : incident->assignments) {
        const Assignment* assignment = core_->FindAssignment(a);
        if (assignment != nullptr && IsActive(assignment->status))
          live.insert({a, assignment->unit});
      }
      for (const pb::AssignmentSummary& a : answer.assignments()) {
        answered.insert({a.assignment_id(), a.unit_id()});
      }
      if (static_cast<int>(incident->state) != static_cast<int>(answer.state()) ||
          incident->reports != static_cast<int32_t>(answer.reports()) || live != answered) {
        result_.f.Fail(absl::StrCat(
            "incident ", id, ": online ", answer.state(), " with ", answer.reports(),
            " reports and ", answered.size(), " live assignments; replay ",
            IncidentStateName(incident->state), " with ", incident->reports, " and ", live.size()));
      }
    }
    ++result_.f.checked;
    std::set<IncidentId> open(core_->open_incidents().begin(), core_->open_incidents().end());
    // ListOpenIncidents lists resolved incidents too (not yet closed); the core's open set does
    // not. Compare the not-yet-closed incidents.
    std::set<IncidentId> not_closed;
    for (const auto& [id, incident] : core_->incidents()) {
      if (incident.state != IncidentState::kClosed && incident.state != IncidentState::kCancelled) {
        not_closed.insert(id);
      }
    }
    if (online_.open != not_closed && online_.open != open) {
      result_.f.Fail(absl::StrCat("online lists ", online_.open.size(),
                                  " open incidents; the replay has ", not_closed.size()));
    }
    compared_ = true;
  }

  void FinalChecks() {
    if (online_.taken && !compared_) {
      result_.f.Fail(absl::StrCat("the journal never reached record ", online_.at_record,
                                  " the online answers were given at"));
    }
    // (a) Every accepted answer a client got is in the replay, with the same incident.
    for (const auto& [key, incident] : shared_.accepted) {
      ++result_.a.checked;
      auto it = incident_of_key_.find(key);
      if (it == incident_of_key_.end()) {
        if (result_.from_record == 1) {
          result_.a.Fail(absl::StrCat("key ", key.reporter, "/", key.sequence, " was answered ",
                                      incident, " but the journal never accepted it"));
        }
      } else if (it->second != incident) {
        result_.a.Fail(absl::StrCat("key ", key.reporter, "/", key.sequence, " was answered ",
                                    incident, " but the journal made it ", it->second));
      } else if (core_->FindIncident(incident) == nullptr) {
        result_.a.Fail(absl::StrCat("incident ", incident, " is not in the replayed state"));
      }
    }
    // (b) The tracked active assignments are the core's.
    for (const Unit& unit : city_.units) {
      ++result_.b.checked;
      const Assignment* held = core_->ActiveAssignmentOf(unit.id);
      auto it = active_.find(unit.id);
      const AssignmentId tracked = it == active_.end() ? 0 : it->second;
      if ((held == nullptr ? 0 : held->id) != tracked) {
        result_.b.Fail(absl::StrCat("unit ", unit.id, " holds ", held == nullptr ? 0 : held->id,
                                    " in the core but the events say ", tracked));
      }
    }
    // (c) The history built from the events is the incident's own timeline.
    for (const auto& [id, states] : history_) {
      ++result_.c.checked;
      const Incident* incident = core_->FindIncident(id);
      std::vector<IncidentState> timeline;
      if (incident != nullptr) {
        for (const StateChange& change : incident->timeline) timeline.push_back(change.state);
      }
      if (timeline != states) {
        result_.c.Fail(absl::StrCat("incident ", id, ": the events show ", states.size(),
                                    " states, its timeline ", timeline.size()));
      }
    }
    // (d) Each assignment pending at a crash: re-sent to its unit after that crash, or ended.
    std::map<std::pair<UnitId, AssignmentId>, std::vector<absl::Time>> delivered;
    for (const DeliveryLog& d : shared_.deliveries)
      delivered[{d.unit, d.assignment}].push_back(d.at);
    for (const auto& [id, kill] : watch_) {
      ++result_.d.checked;
      if (ended_after_.count(id) > 0) continue;
      bool again = false;
      if (kill < in_.kill_times.size()) {
        for (absl::Time t : delivered[{unit_of_[id], id}]) again |= t > in_.kill_times[kill];
      }
      if (!again) {
        result_.d.Fail(absl::StrCat("assignment ", id, " of unit ", unit_of_[id],
                                    " was pending at crash ", kill + 1,
                                    " and was neither delivered again nor ended"));
      }
    }
  }

  const ReplayInput& in_;
  const Shared& shared_;
  const OnlineView& online_;
  ReplayResult result_;
  CityData city_;
  std::unique_ptr<DispatchCore> core_;
  std::vector<Event> events_;
  std::map<AlertKey, IncidentId> incident_of_key_;
  absl::flat_hash_map<IncidentId, IncidentState> state_;
  absl::btree_map<IncidentId, std::vector<IncidentState>> history_;
  absl::flat_hash_map<UnitId, AssignmentId> active_;
  absl::btree_map<AssignmentId, Status> status_;
  absl::flat_hash_map<AssignmentId, UnitId> unit_of_;
  absl::flat_hash_set<AssignmentId> ended_after_;       // answered or ended at some point
  std::vector<std::pair<AssignmentId, size_t>> watch_;  // pending at crash #k
  bool compared_ = false;
};

// The online view: every incident the clients were told about and the open list, taken when the
// journal's last record did not move during the questions (the load has stopped; only a deadline
// could still add a record).
OnlineView TakeOnlineView(zmq::context_t& context, const Target& target,
                          const std::set<IncidentId>& ids) {
  auto last_record = [&]() -> std::optional<uint64_t> {
    pb::Envelope request;
    request.mutable_get_stats();
    std::optional<pb::Envelope> reply = Ask(context, target, request);
    if (!reply.has_value() || !reply->has_stats()) return std::nullopt;
    auto it = reply->stats().counters().find("journal_last_record");
    if (it == reply->stats().counters().end()) return std::nullopt;
    return it->second;
  };
  OnlineView view;
  for (int attempt = 0; attempt < 10 && !view.taken; ++attempt) {
    view = OnlineView();
    const std::optional<uint64_t> before = last_record();
    if (!before.has_value()) continue;
    bool answered = true;
    for (IncidentId id : ids) {
      pb::Envelope request;
      request.mutable_get_incident()->set_incident_id(id);
      std::optional<pb::Envelope> reply = Ask(context, target, request);
      if (!reply.has_value() || !reply->has_incident_detail()) {
        answered = false;
        break;
      }
      view.incidents[id] = reply->incident_detail().incident();
    }
    uint64_t before_id = 0;
    while (answered) {
      pb::Envelope request;
      request.mutable_list_open_incidents()->set_limit(200);
      request.mutable_list_open_incidents()->set_before_incident_id(before_id);
      std::optional<pb::Envelope> reply = Ask(context, target, request);
      if (!reply.has_value() || !reply->has_incident_list()) {
        answered = false;
        break;
      }
      for (const auto& i : reply->incident_list().incidents()) view.open.insert(i.incident_id());
      before_id = reply->incident_list().next_before_incident_id();
      if (before_id == 0) break;
    }
    const std::optional<uint64_t> after = last_record();
    if (answered && after == before) {
      view.at_record = *before;
      view.taken = true;
    }
  }
  return view;
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.0f ms", absl::ToDoubleMilliseconds(d));
}

int Main() {
  const uint64_t seed =
      absl::GetFlag(FLAGS_seed) != 0 ? absl::GetFlag(FLAGS_seed) : testing::TestSeed();
  const int kills = absl::GetFlag(FLAGS_kills);
  const int unit_count = std::max(2, absl::GetFlag(FLAGS_units));
  std::vector<double> offsets;
  // Spread wider than the merge radius (300 m), so alerts open new incidents as well as merge.
  for (int i = 0; i < unit_count; ++i) offsets.push_back(10 + 100.0 * i);
  const testing::SmallCity city =
      testing::MakeSmallCity(offsets, 2, absl::GetFlag(FLAGS_ack_deadline_s));
  std::string journal_dir = (fs::temp_directory_path() / "gz-crash-XXXXXX").string();
  if (mkdtemp(journal_dir.data()) == nullptr) {
    std::fprintf(stderr, "crash_test: cannot make a temporary directory\n");
    return 2;
  }
  journal_dir += "/journal";
  std::printf("crash_test: seed %" PRIu64
              " (DISPATCH_TEST_SEED or --seed to change), %d kills, "
              "%d units, %.1f alerts/s, journal %s\n",
              seed, kills, unit_count, absl::GetFlag(FLAGS_alert_rate), journal_dir.c_str());
  std::fflush(stdout);

  std::vector<std::string> flags = {"--journal_dir=" + journal_dir, "--heartbeat_interval_ms=500",
                                    "--resend_interval_ms=200"};
  if (absl::GetFlag(FLAGS_snapshot_every_records) > 0) {
    flags.push_back(
        absl::StrCat("--snapshot_every_records=", absl::GetFlag(FLAGS_snapshot_every_records)));
  }
  auto started = DispatchdProcess::Start(city.config_dir, flags);
  if (!started.ok()) {
    std::fprintf(stderr, "crash_test: dispatchd did not start: %s\n",
                 std::string(started.status().message()).c_str());
    return 2;
  }
  std::unique_ptr<DispatchdProcess> dispatchd = *std::move(started);
  const std::vector<std::string> endpoints = dispatchd->EndpointFlags();
  flags.insert(flags.end(), endpoints.begin(), endpoints.end());
  Target target{dispatchd->intake(), dispatchd->responders(), dispatchd->operators(), {}};
  absl::StatusOr<auth::CurveClientKeys> keys = dispatchd->ClientKeys("drill");
  if (!keys.ok()) {
    std::fprintf(stderr, "crash_test: %s\n", std::string(keys.status().message()).c_str());
    return 2;
  }
  target.keys = *keys;
  absl::StatusOr<CityData> city_data = LoadCityData(city.config_dir);
  if (!city_data.ok()) return 2;

  zmq::context_t context;
  Shared shared;
  std::vector<std::thread> threads;
  threads.emplace_back(AlertLoop, std::ref(context), std::cref(target),
                       std::cref(city_data->projection), city.alert_point, 100.0 * unit_count, seed,
                       &shared);
  threads.emplace_back(OperatorLoop, std::ref(context), std::cref(target), &shared);
  const int groups = std::min(4, unit_count);
  for (int g = 0; g < groups; ++g) {
    std::vector<UnitId> mine;
    for (size_t i = g; i < city.units.size(); i += groups) mine.push_back(city.units[i]);
    threads.emplace_back(ResponderLoop, std::ref(context), std::cref(target), mine, seed, &shared);
  }

  // The killer.
  std::mt19937_64 rng(seed ^ 0x6b696c6cULL);
  std::exponential_distribution<double> gap(1.0 / absl::GetFlag(FLAGS_mean_gap_s));
  ReplayInput input{journal_dir, city.config_dir, {}, {}};
  bool broken = false;
  for (int k = 0; k < kills && !broken; ++k) {
    std::this_thread::sleep_for(std::chrono::duration<double>(gap(rng)));  // a random moment
    const int status = dispatchd->Kill();
    input.kill_times.push_back(absl::Now());
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
      std::fprintf(stderr, "crash_test: dispatchd had already stopped before kill %d:\n%s\n", k + 1,
                   dispatchd->output().c_str());
      broken = true;
      break;
    }
    const absl::Time began = absl::Now();
    auto again = DispatchdProcess::Start(city.config_dir, flags);
    if (!again.ok()) {
      std::fprintf(stderr, "crash_test: dispatchd did not come back after kill %d: %s\n", k + 1,
                   std::string(again.status().message()).c_str());
      broken = true;
      break;
    }
    dispatchd = *std::move(again);
    input.restarts.push_back(ParseRestart(dispatchd->output(), absl::Now() - began));
    const Restart& r = input.restarts.back();
    std::printf("  kill %2d: back in %s (replayed %" PRIu64 " records in %" PRId64 " ms, %" PRIu64
                " pending re-queued%s%s)\n",
                k + 1, Ms(r.to_ready).c_str(), r.replayed, r.replay_ms, r.pending,
                r.snapshot ? ", from a snapshot" : "", r.torn ? ", torn tail cut" : "");
    std::fflush(stdout);
  }
  if (!broken) {
    std::this_thread::sleep_for(std::chrono::duration<double>(absl::GetFlag(FLAGS_settle_s)));
  }
  shared.stop.store(true);
  for (std::thread& t : threads) t.join();

  std::set<IncidentId> ids;
  for (const auto& [key, incident] : shared.accepted) ids.insert(incident);
  const OnlineView online = broken ? OnlineView() : TakeOnlineView(context, target, ids);
  const int stopped = dispatchd->Stop(SIGTERM);
  if (!WIFEXITED(stopped) || WEXITSTATUS(stopped) != 0) {
    std::fprintf(stderr, "crash_test: dispatchd did not stop cleanly:\n%s\n",
                 dispatchd->output().c_str());
    broken = true;
  }

  Replayer replayer(input, shared, online);
  ReplayResult result = replayer.Run();

  // ---- The report.
  std::vector<double> ready_ms;
  std::vector<int64_t> replay_ms;
  uint64_t replayed_max = 0, replayed_total = 0;
  for (const Restart& r : input.restarts) {
    ready_ms.push_back(absl::ToDoubleMilliseconds(r.to_ready));
    replay_ms.push_back(r.replay_ms);
    replayed_max = std::max(replayed_max, r.replayed);
    replayed_total += r.replayed;
  }
  std::sort(ready_ms.begin(), ready_ms.end());
  std::sort(replay_ms.begin(), replay_ms.end());
  const size_t rejected = shared.rejected.size();
  std::printf("\ncrash_test report (seed %" PRIu64 ")\n", seed);
  std::printf("  kills            %zu of %d, every restart on the same journal and endpoints\n",
              input.kill_times.size(), kills);
  if (!ready_ms.empty()) {
    std::printf("  restart to ready p50 %.0f ms, max %.0f ms (process start to its ready line)\n",
                ready_ms[ready_ms.size() / 2], ready_ms.back());
    std::printf("  replayed         %" PRIu64 " records in all, at most %" PRIu64
                " in one restart, replay itself p50 %" PRId64 " ms, max %" PRId64 " ms\n",
                replayed_total, replayed_max, replay_ms[replay_ms.size() / 2], replay_ms.back());
  }
  std::printf("  alerts           %" PRIu64 " sent, %zu accepted, %zu refused, %" PRIu64
              " unanswered at the end\n",
              shared.alerts_sent, shared.accepted.size(), rejected, shared.alerts_lost);
  std::printf("  alert retries    %" PRIu64 " alerts sent again with the same key (%" PRIu64
              " whole Raise() calls repeated), %" PRIu64 " answered as duplicates\n",
              shared.alerts_resent, shared.alerts_retried, shared.alerts_duplicate);
  std::printf("  responders       %zu assignment deliveries: %" PRIu64 " acked, %" PRIu64
              " declined, %" PRIu64 " left silent, %" PRIu64 " arrivals; %" PRIu64
              " sequence resets (new engine incarnation), %" PRIu64 " reconnects\n",
              shared.deliveries.size(), shared.acks, shared.declines, shared.silent,
              shared.arrivals, shared.sequence_resets, shared.reconnects);
  std::printf("  operator         %" PRIu64 " resolved, %" PRIu64 " cancelled, %" PRIu64
              " closed\n",
              shared.resolved, shared.cancelled, shared.closed);
  std::printf("  journal          %" PRIu64 " records from record %" PRIu64 " in %" PRIu64
              " segments, %" PRIu64 " engine incarnations; %" PRIu64 " incidents, %" PRIu64
              " assignments replayed\n",
              result.records, result.from_record, result.segments, result.incarnations,
              result.incidents, result.assignments);
  if (online.taken) {
    std::printf("  online view      %zu incidents asked at record %" PRIu64 "\n",
                online.incidents.size(), online.at_record);
  }
  bool ok = !broken && result.fatal.empty() && shared.errors.empty() && online.taken;
  for (const std::string& e : shared.errors) std::printf("  LOAD ERROR: %s\n", e.c_str());
  if (!result.fatal.empty()) std::printf("  REPLAY FAILED: %s\n", result.fatal.c_str());
  if (!online.taken && !broken)
    std::printf("  FAIL: the final dispatchd's answers were not taken\n");
  for (const Check* check : {&result.a, &result.b, &result.c, &result.d, &result.e, &result.f}) {
    const bool pass = check->violations.empty();
    ok &= pass;
    std::printf("  %-4s %-62s %" PRIu64 " checked, %zu violations\n", pass ? "PASS" : "FAIL",
                check->name.c_str(), check->checked, check->violations.size());
    for (size_t i = 0; i < check->violations.size() && i < 10; ++i) {
      std::printf("         %s\n", check->violations[i].c_str());
    }
  }
  if (result.from_record > 1) {
    std::printf("  note: records before %" PRIu64
                " were deleted after a snapshot; the history "
                "checks start there\n",
                result.from_record);
  }
  if (absl::GetFlag(FLAGS_keep_dir)) {
    std::printf("  kept: journal %s, config %s\n", journal_dir.c_str(), city.config_dir.c_str());
  } else {
    std::error_code ignored;
    fs::remove_all(fs::path(journal_dir).parent_path(), ignored);
    fs::remove_all(city.config_dir, ignored);
  }
  std::printf("crash_test: %s\n", ok ? "PASS" : "FAIL");
  if (broken || !result.fatal.empty()) return 2;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "kills dispatchd with SIGKILL at random moments under load, restarts it on the same journal, "
      "and checks the invariants of crash recovery (protocol/JOURNAL.md, \"Fault test\")");
  absl::ParseCommandLine(argc, argv);
  return gz::Main();
}
