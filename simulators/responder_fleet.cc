// responder_fleet: brings units of the dataset online against a running dispatchd and plays their
// people: acknowledge after a human-like delay, decline or stay silent at configurable rates, walk
// (ride, drive) to the scene at the unit's speed and report arrival. Prints progress while it runs
// and a summary at the end.
//
// All units of a process run on one thread through the responder client library (each client is
// polled in turn; the library keeps each session alive). Each connection costs two descriptors, so
// a big fleet is split across processes: --processes=N forks N shards (0: enough for the
// descriptor limit), or run shards by hand with --shard=i/n. Patrolling units (--patrol_share)
// wander around their post and report their position every --position_interval_s.

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/app/descriptor_limit.h"
#include "engine/auth/curve_keys.h"
#include "engine/client/responder_client.h"
#include "engine/config/city_data.h"
#include "engine/dispatch/dispatch_config.h"
#include "simulators/random.h"

ABSL_FLAG(std::string, responders, "tcp://127.0.0.1:7402", "dispatchd's responder endpoint.");
ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR, "Dataset directory (the unit set).");
ABSL_FLAG(std::vector<std::string>, near, {},
          "Only units within --radius_m of these points, as lon:lat (repeatable, comma separated). "
          "Empty: every unit (of this shard).");
ABSL_FLAG(double, radius_m, 2000, "Radius around each --near point.");
ABSL_FLAG(std::string, shard, "0/1", "i/n: run units whose id % n == i (split across processes).");
ABSL_FLAG(int, max_units, 0, "At most this many units (0: no limit).");
ABSL_FLAG(double, decline_rate, 0.08, "Share of assignments declined.");
ABSL_FLAG(double, silence_rate, 0.04, "Share of assignments never answered.");
ABSL_FLAG(double, ack_delay_s, 8, "Mean human delay before acknowledging (exponential, +2 s).");
ABSL_FLAG(double, time_scale, 1.0,
          "Divide every human delay and travel time by this (10: a drill ten times faster).");
ABSL_FLAG(double, duration_s, 0, "Stop after this many seconds (0: until SIGINT/SIGTERM).");
ABSL_FLAG(double, progress_s, 5, "Print progress this often.");
ABSL_FLAG(uint64_t, seed, 1, "Seed for the people's behaviour.");
ABSL_FLAG(int, processes, 1,
          "Fork this many shard processes (0: as many as the descriptor limit needs).");
ABSL_FLAG(double, patrol_share, 0.05, "Share of units that patrol and report positions.");
ABSL_FLAG(double, position_interval_s, 10, "How often a patrolling unit reports its position.");
ABSL_FLAG(std::string, keys_dir, "",
          "dispatchd's key directory: every unit connects with its drill key (<dir>/drill.*), "
          "which may speak for any unit.");
ABSL_FLAG(std::string, key, "", "Connect with this key pair instead (<prefix>.key_secret).");
ABSL_FLAG(std::string, server_key, "", "dispatchd's public key file, with --key.");

namespace gz {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Action {
  absl::Time at;
  uint64_t order;
  size_t client;
  enum Kind { kAck, kDecline, kArrive } kind;
  AssignmentId assignment;
  bool operator>(const Action& o) const { return at != o.at ? at > o.at : order > o.order; }
};

struct Totals {
  uint64_t assignments = 0, acked = 0, declined = 0, silent = 0, arrived = 0, released = 0,
           broadcasts = 0, refused = 0, positions = 0;
};

bool ParsePoint(const std::string& text, LonLat* out) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  return parts.size() == 2 && absl::SimpleAtod(parts[0], &out->lon) &&
         absl::SimpleAtod(parts[1], &out->lat);
}

int Run(int shard, int shards) {
  const std::string dir = absl::GetFlag(FLAGS_config_dir);
  absl::StatusOr<CityData> city = LoadCityData(dir);
  if (!city.ok()) {
    std::fprintf(stderr, "responder_fleet: %s\n", std::string(city.status().message()).c_str());
    return 1;
  }
  std::vector<PlanePoint> centres;
  for (const std::string& text : absl::GetFlag(FLAGS_near)) {
    LonLat p;
    if (!ParsePoint(text, &p)) {
      std::fprintf(stderr, "responder_fleet: --near wants lon:lat, got '%s'\n", text.c_str());
      return 64;
    }
    centres.push_back(city->projection.ToPlane(p));
  }
  std::vector<const Unit*> chosen;
  for (const Unit& u : city->units) {
    if (static_cast<int>(u.id % shards) != shard) continue;
    bool near = centres.empty();
    for (const PlanePoint& c : centres) {
      near = near ||
             Distance(city->projection.ToPlane(u.position), c) <= absl::GetFlag(FLAGS_radius_m);
    }
    if (near) chosen.push_back(&u);
    if (absl::GetFlag(FLAGS_max_units) > 0 &&
        chosen.size() >= static_cast<size_t>(absl::GetFlag(FLAGS_max_units))) {
      break;
    }
  }

  absl::StatusOr<auth::CurveClientKeys> keys =
      auth::ClientKeysFromFlags(absl::GetFlag(FLAGS_keys_dir), absl::GetFlag(FLAGS_key),
                                absl::GetFlag(FLAGS_server_key), auth::kDrillKeyName);
  if (!keys.ok()) {
    std::fprintf(stderr, "responder_fleet: %s\n", std::string(keys.status().message()).c_str());
    return 64;
  }
  zmq::context_t context;
  // Twice the units: a wave of reconnects holds each unit's closed socket until ZeroMQ's reaper
  // frees its slot, and with no slot left a reconnect fails (it is retried after another silence).
  context.set(zmq::ctxopt::max_sockets, 2 * static_cast<int>(chosen.size()) + 64);
  std::vector<std::unique_ptr<client::ResponderClient>> clients;
  const std::string endpoint = absl::GetFlag(FLAGS_responders);
  size_t failed = 0;
  size_t keepalive = 0;
  std::vector<const Unit*> online;  // online[i] is the unit of clients[i]
  for (const Unit* u : chosen) {
    absl::StatusOr<std::unique_ptr<client::ResponderClient>> c;
    for (int attempt = 0; attempt < 3; ++attempt) {
      // Only the first unit watches its handshake (two more descriptors each would not fit the
      // fleet): a refused key shows there, and the fleet stops instead of timing out unit by unit.
      c = client::ResponderClient::Connect(context, {.endpoint = endpoint,
                                                     .unit_id = u->id,
                                                     .request_timeout = absl::Seconds(5),
                                                     .curve = *keys,
                                                     .diagnose_handshake = clients.empty()});
      if (c.ok()) break;
      if (absl::IsPermissionDenied(c.status()) && clients.empty()) {
        std::fprintf(stderr, "responder_fleet: %s\n", std::string(c.status().message()).c_str());
        return 2;
      }
    }
    if (!c.ok()) {
      std::fprintf(stderr, "responder_fleet: unit %u stays offline: %s\n", u->id,
                   std::string(c.status().message()).c_str());
      ++failed;
      continue;
    }
    clients.push_back(*std::move(c));
    online.push_back(u);
    // Connecting thousands of units takes seconds: keep the sessions already open alive
    // (heartbeats happen inside Next) by servicing a few of them after each new one.
    for (int k = 0; k < 8 && !clients.empty(); ++k) {
      (void)clients[keepalive++ % clients.size()]->Next(absl::ZeroDuration());
    }
  }
  if (clients.empty() && !chosen.empty()) return 2;
  const std::string name =
      shards > 1 ? absl::StrCat("responder_fleet[", shard, "/", shards, "]") : "responder_fleet";
  std::printf("%s: %zu units online at %s%s\n", name.c_str(), clients.size(), endpoint.c_str(),
              failed > 0 ? absl::StrCat(" (", failed, " could not connect)").c_str() : "");
  std::fflush(stdout);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  sim::Random random(absl::GetFlag(FLAGS_seed), 3);
  const double scale = std::max(0.01, absl::GetFlag(FLAGS_time_scale));
  std::priority_queue<Action, std::vector<Action>, std::greater<>> actions;
  uint64_t order = 0;
  // Patrols: which clients wander, and where they are now (plane metres around their post).
  struct Patrol {
    size_t client;
    PlanePoint home;
    PlanePoint at;
    absl::Time next_report;
  };
  std::vector<Patrol> patrols;
  for (size_t i = 0; i < clients.size(); ++i) {  // only units that are online patrol
    if (random.Uniform() >= absl::GetFlag(FLAGS_patrol_share)) continue;
    const PlanePoint home = city->projection.ToPlane(online[i]->position);
    patrols.push_back(
        {i, home, home,
         absl::Now() + absl::Seconds(random.Uniform(0, absl::GetFlag(FLAGS_position_interval_s)))});
  }
  Totals totals;
  const absl::Time start = absl::Now();
  absl::Time next_progress = start + absl::Seconds(absl::GetFlag(FLAGS_progress_s));
  const double duration = absl::GetFlag(FLAGS_duration_s);
  const auto progress = [&](const char* label) {
    std::printf(
        "%s %s: %zu online, %llu assignments: %llu acked, %llu declined, %llu silent, "
        "%llu on scene, %llu released; %llu area broadcasts; %llu positions; %llu refused\n",
        name.c_str(), label, clients.size(), static_cast<unsigned long long>(totals.assignments),
        static_cast<unsigned long long>(totals.acked),
        static_cast<unsigned long long>(totals.declined),
        static_cast<unsigned long long>(totals.silent),
        static_cast<unsigned long long>(totals.arrived),
        static_cast<unsigned long long>(totals.released),
        static_cast<unsigned long long>(totals.broadcasts),
        static_cast<unsigned long long>(totals.positions),
        static_cast<unsigned long long>(totals.refused));
    std::fflush(stdout);
  };

  while (!g_stop && (duration <= 0 || absl::Now() - start < absl::Seconds(duration))) {
    bool busy = false;
    for (size_t i = 0; i < clients.size(); ++i) {
      absl::StatusOr<std::optional<client::Delivery>> d = clients[i]->Next(absl::ZeroDuration());
      if (!d.ok() || !d->has_value()) continue;
      busy = true;
      const client::Delivery& delivery = **d;
      const absl::Time now = absl::Now();
      switch (delivery.kind) {
        case client::Delivery::Kind::kAssignment: {
          ++totals.assignments;
          const double roll = random.Uniform();
          if (roll < absl::GetFlag(FLAGS_decline_rate)) {
            actions.push({now + absl::Seconds(random.Uniform(3, 15) / scale), order++, i,
                          Action::kDecline, delivery.assignment_id});
          } else if (roll < absl::GetFlag(FLAGS_decline_rate) + absl::GetFlag(FLAGS_silence_rate)) {
            ++totals.silent;
          } else {
            const absl::Duration ack =
                absl::Seconds((2 + random.Exponential(absl::GetFlag(FLAGS_ack_delay_s))) / scale);
            actions.push({now + ack, order++, i, Action::kAck, delivery.assignment_id});
            actions.push({now + ack + absl::Seconds(delivery.eta_seconds / scale), order++, i,
                          Action::kArrive, delivery.assignment_id});
          }
          break;
        }
        case client::Delivery::Kind::kReleased:
          ++totals.released;
          break;
        case client::Delivery::Kind::kBroadcast:
          ++totals.broadcasts;
          break;
        case client::Delivery::Kind::kIncidentUpdate:
          break;
      }
    }
    const absl::Time now = absl::Now();
    while (!actions.empty() && actions.top().at <= now) {
      const Action a = actions.top();
      actions.pop();
      absl::Status s;
      switch (a.kind) {
        case Action::kAck:
          s = clients[a.client]->Ack(a.assignment);
          if (s.ok()) ++totals.acked;
          break;
        case Action::kDecline:
          s = clients[a.client]->Decline(a.assignment, DeclineReason::kBusy);
          if (s.ok()) ++totals.declined;
          break;
        case Action::kArrive:
          s = clients[a.client]->Arrive(a.assignment);
          if (s.ok()) ++totals.arrived;
          break;
      }
      // A refusal is normal: the assignment expired or the incident ended meanwhile.
      if (!s.ok()) ++totals.refused;
    }
    for (Patrol& p : patrols) {
      if (p.next_report > now) continue;
      // A random walk that stays within about 800 m of the post.
      const auto [dx, dy] = random.NormalPair();
      p.at.x = p.home.x + 0.7 * (p.at.x - p.home.x) + dx * 150;
      p.at.y = p.home.y + 0.7 * (p.at.y - p.home.y) + dy * 150;
      if (clients[p.client]
              ->Update(std::nullopt, std::nullopt, city->projection.ToLonLat(p.at))
              .ok()) {
        ++totals.positions;
      } else {
        ++totals.refused;
      }
      p.next_report = now + absl::Seconds(absl::GetFlag(FLAGS_position_interval_s) / scale);
    }
    if (now >= next_progress) {
      progress("progress");
      next_progress = now + absl::Seconds(absl::GetFlag(FLAGS_progress_s));
    }
    // Nothing arrived in a whole pass: rest a moment instead of spinning (people take seconds;
    // a few milliseconds here cost nothing and leave the CPU to dispatchd).
    if (!busy) absl::SleepFor(absl::Milliseconds(clients.size() > 1000 ? 2 : 5));
  }
  progress("summary");
  return 0;
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Brings units online against a running dispatchd and plays their people: acknowledge,\n"
      "decline or stay silent, travel to the scene and report arrival.\n\n"
      "  responder_fleet --keys_dir=<dir> --near=113.2644:23.1291 --radius_m=2000 --time_scale=20\n"
      "  responder_fleet --shard=0/4 ...   # a quarter of the fleet in this process");
  absl::ParseCommandLine(argc, argv);
  int shard = 0, shards = 1;
  std::vector<std::string> parts = absl::StrSplit(absl::GetFlag(FLAGS_shard), '/');
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &shard) ||
      !absl::SimpleAtoi(parts[1], &shards) || shards < 1 || shard < 0 || shard >= shards) {
    std::fprintf(stderr, "responder_fleet: --shard wants i/n with 0 <= i < n\n");
    return 64;
  }
  const rlim_t descriptors = gz::RaiseDescriptorLimit();
  int processes = absl::GetFlag(FLAGS_processes);
  if (processes == 0) {
    // Two descriptors per connection, plus headroom; the whole city is 23,000 units.
    processes = static_cast<int>(std::max<rlim_t>(1, (2 * 23000 + 1000) / descriptors + 1));
  }
  if (processes <= 1 || shards > 1) return gz::Run(shard, shards);
  std::vector<pid_t> children;
  for (int i = 0; i < processes; ++i) {
    const pid_t pid = fork();
    if (pid == 0) return gz::Run(i, processes);
    children.push_back(pid);
  }
  // SIGINT/SIGTERM reach the parent: pass them on, then wait for every shard's summary. No
  // SA_RESTART, so the signal interrupts waitpid.
  struct sigaction action {};
  action.sa_handler = gz::OnSignal;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  int failed = 0;
  for (size_t waited = 0; waited < children.size();) {
    int status = 0;
    const pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR && gz::g_stop) {
        for (pid_t c : children) kill(c, SIGTERM);
        gz::g_stop = 0;
      }
      continue;
    }
    ++waited;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  return failed == 0 ? 0 : 1;
}
