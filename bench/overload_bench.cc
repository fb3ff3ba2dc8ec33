// overload_bench: dispatchd far past saturation. Alerts of every level are sent open loop (a fixed
// schedule; latency from the intended send time) at a rate well above what the engine can decide,
// and the bench reports, per level, how many were accepted and how many refused with BUSY, and the
// reply latency of each; dispatchd's resident size is sampled throughout. A short run at a low rate
// first is the same-run baseline for the latencies.
//
// All of the flood comes from one connection, so its alerts of every level share one queue, and at
// rates past what dispatchd can read a level-I alert in it waits behind everything sent before it.
// A probe sends level-I alerts at a low rate from a connection (and process context) of its own,
// as a reporter elsewhere in the city would: its latency is what a severe alert sees in the flood.
//
// What good looks like (issue 5): level I and II alerts keep their baseline latency (the probe's
// above all), the shedding falls on level IV (then III), every alert is answered (nothing lost),
// memory stays flat.
//
//   build/bench/overload_bench                       # 10 s baseline at 200/s, 20 s at 50,000/s
//   build/bench/overload_bench --rate=700000 --seconds=60   # 10x saturation for a minute

#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_support.h"
#include "engine/auth/curve_keys.h"
#include "engine/config/city_data.h"
#include "protocol/dispatch.pb.h"
#include "simulators/random.h"
#include "tests/support/dispatchd_process.h"

ABSL_FLAG(double, rate, 50000, "Alerts per second offered in the overload phase.");
ABSL_FLAG(double, seconds, 20, "Length of the overload phase.");
ABSL_FLAG(double, baseline_rate, 200, "Alerts per second in the baseline phase.");
ABSL_FLAG(double, baseline_seconds, 10, "Length of the baseline phase.");
ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR, "Dataset and config dispatchd loads.");
ABSL_FLAG(uint64_t, seed, 20261127, "Seed for alert places and levels.");
ABSL_FLAG(std::vector<std::string>, dispatchd_flags, {},
          "Extra flags for dispatchd, comma separated (e.g. --intake_read_batch=4096).");
ABSL_FLAG(double, probe_rate, 50,
          "Level-I alerts per second sent, in both phases, from a connection of their own (its own "
          "ZeroMQ context): a reporter elsewhere, whose alerts do not queue behind the flood's in "
          "one connection. 0: no probe.");
ABSL_FLAG(bool, curve, false,
          "Run dispatchd with CURVE authentication, as in production (keys made by dispatchctl), "
          "the bench connecting with the operator key. Default: --insecure_no_auth.");

namespace gz::bench {
namespace {

namespace pb = ::gz::dispatch::v1;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The level mix of a bad night: mostly minor reports, a few severe ones.
pb::Level PickLevel(sim::Random& random) {
  const double u = random.Uniform();
  if (u < 0.01) return pb::LEVEL_I_EXTREME;
  if (u < 0.05) return pb::LEVEL_II_MAJOR;
  if (u < 0.20) return pb::LEVEL_III_LARGE;
  return pb::LEVEL_IV_GENERAL;
}

constexpr std::array<const char*, 5> kLevelNames = {"-", "IV", "III", "II", "I"};

struct LevelFigures {
  uint64_t sent = 0, accepted = 0, busy = 0, other = 0;
  std::vector<int64_t> accepted_ns, busy_ns;
};

struct PhaseResult {
  std::array<LevelFigures, 5> levels;
  // The probe's level-I alerts, from their own connection (empty without a probe).
  uint64_t probe_sent = 0, probe_accepted = 0, probe_other = 0;
  std::vector<int64_t> probe_ns;
  uint64_t sent = 0, answered = 0;
  double seconds = 0;
  long max_resident_kib = 0, first_resident_kib = 0;
};

long ResidentKiB(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

struct ProbeResult {
  uint64_t sent = 0, accepted = 0, other = 0;
  std::vector<int64_t> accepted_ns;
};

// Sends level-I alerts at `rate` per second from `start_ns` until `end_ns` on a DEALER in a context
// of its own, and waits for their answers (up to 30 s after the end).
ProbeResult RunProbe(const testing::DispatchdProcess& dispatchd, const auth::CurveClientKeys& keys,
                     const CityData& city, double rate, int64_t start_ns, int64_t end_ns,
                     uint64_t first_sequence, uint64_t seed) {
  zmq::context_t context;
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  if (keys.enabled()) {
    socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
    socket.set(zmq::sockopt::curve_publickey, keys.client_public);
    socket.set(zmq::sockopt::curve_secretkey, keys.client_secret);
  }
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(dispatchd.intake());
  sim::Random random(seed, /*stream=*/2);
  ProbeResult result;
  std::vector<int64_t> intended;
  pb::Envelope e;
  e.set_protocol_version(1);
  pb::RaiseAlert* a = e.mutable_raise_alert();
  a->set_reporter_id("overload_bench_probe");
  a->set_category(pb::CATEGORY_FIRE);
  a->set_level(pb::LEVEL_I_EXTREME);
  std::string frame;
  const double gap_ns = 1e9 / rate;
  const int64_t give_up = end_ns + 30'000'000'000;
  for (;;) {
    const int64_t next =
        start_ns + static_cast<int64_t>(static_cast<double>(intended.size()) * gap_ns);
    int64_t now = NowNs();
    if (next < end_ns && next <= now) {
      const Unit& near = city.units[random.Below(city.units.size())];
      const LonLat where = city.projection.ToLonLat(city.projection.ToPlane(near.position));
      const uint64_t sequence = first_sequence + intended.size();
      e.set_sequence(sequence);
      a->set_client_sequence(sequence);
      a->mutable_position()->set_lon(where.lon);
      a->mutable_position()->set_lat(where.lat);
      e.SerializeToString(&frame);
      socket.send(zmq::buffer(frame), zmq::send_flags::none);
      intended.push_back(next);
      ++result.sent;
      continue;
    }
    if (next >= end_ns && result.accepted + result.other == result.sent) break;
    if (now >= give_up) break;
    // Wait for an answer until the next send is due (the last millisecond spinning, so sends leave
    // on time).
    const int64_t until = next < end_ns ? next : give_up;
    const long wait_ms = static_cast<long>((until - now) / 1'000'000) - 1;
    zmq::pollitem_t item{socket.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(std::max(0L, wait_ms)));
    zmq::message_t m;
    while (socket.recv(m, zmq::recv_flags::dontwait)) {
      now = NowNs();
      pb::Envelope reply;
      if (!reply.ParseFromArray(m.data(), static_cast<int>(m.size())) || !reply.has_alert_reply()) {
        continue;
      }
      const uint64_t i = reply.alert_reply().client_sequence() - first_sequence;
      if (i >= intended.size()) continue;
      if (reply.alert_reply().has_accepted()) {
        ++result.accepted;
        result.accepted_ns.push_back(now - intended[i]);
      } else {
        ++result.other;
      }
    }
  }
  return result;
}

// Sends `rate` alerts per second for `seconds` from one DEALER, reading answers as they come, then
// waits for the rest while they keep coming (until none came for 10 s).
PhaseResult RunPhase(zmq::context_t& context, const testing::DispatchdProcess& dispatchd,
                     const auth::CurveClientKeys& keys, const CityData& city, double rate,
                     double seconds, uint64_t first_sequence, sim::Random& random) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  if (keys.enabled()) {
    socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
    socket.set(zmq::sockopt::curve_publickey, keys.client_public);
    socket.set(zmq::sockopt::curve_secretkey, keys.client_secret);
  }
  socket.set(zmq::sockopt::sndhwm, 0);  // the backlog waits in queues we can see, not in send()
  socket.set(zmq::sockopt::rcvhwm, 0);
  socket.set(zmq::sockopt::linger, 0);
  socket.connect(dispatchd.intake());

  PhaseResult result;
  const uint64_t count = static_cast<uint64_t>(rate * seconds);
  std::vector<int64_t> intended(count);
  std::vector<pb::Level> level_of(count);
  const int64_t start = NowNs() + 50'000'000;
  const double gap_ns = 1e9 / rate;
  ProbeResult probe;
  std::thread prober;
  if (const double probe_rate = absl::GetFlag(FLAGS_probe_rate); probe_rate > 0) {
    const uint64_t probe_seed = random.Below(1u << 30);  // drawn here: `random` is this thread's
    prober = std::thread([&, probe_rate, probe_seed] {
      probe = RunProbe(dispatchd, keys, city, probe_rate, start,
                       start + static_cast<int64_t>(seconds * 1e9), first_sequence + 1'000'000'000,
                       random.Below(1u << 30));
    });
  }
  pb::Envelope e;
  e.set_protocol_version(1);
  pb::RaiseAlert* a = e.mutable_raise_alert();
  a->set_reporter_id("overload_bench");
  a->set_category(pb::CATEGORY_PUBLIC_SECURITY);
  std::string frame;
  int64_t next_sample = start;
  const auto take_answers = [&] {
    zmq::message_t m;
    while (socket.recv(m, zmq::recv_flags::dontwait)) {
      const int64_t now = NowNs();
      pb::Envelope reply;
      if (!reply.ParseFromArray(m.data(), static_cast<int>(m.size())) || !reply.has_alert_reply()) {
        continue;
      }
      const uint64_t i = reply.alert_reply().client_sequence() - first_sequence;
      if (i >= count) continue;
      LevelFigures& f = result.levels[level_of[i]];
      ++result.answered;
      const int64_t latency = now - intended[i];
      if (reply.alert_reply().has_accepted()) {
        ++f.accepted;
        f.accepted_ns.push_back(latency);
      } else if (reply.alert_reply().rejected().reason() == pb::REJECT_REASON_BUSY) {
        ++f.busy;
        f.busy_ns.push_back(latency);
      } else {
        ++f.other;
      }
    }
  };
  const auto sample_memory = [&](int64_t now) {
    if (now < next_sample) return;
    next_sample = now + 250'000'000;
    const long kib = ResidentKiB(dispatchd.pid());
    if (result.first_resident_kib == 0) result.first_resident_kib = kib;
    result.max_resident_kib = std::max(result.max_resident_kib, kib);
  };
  for (uint64_t i = 0; i < count; ++i) {
    intended[i] = start + static_cast<int64_t>(static_cast<double>(i) * gap_ns);
    while (NowNs() < intended[i]) take_answers();
    level_of[i] = PickLevel(random);
    const Unit& near = city.units[random.Below(city.units.size())];
    const auto [dx, dy] = random.NormalPair();
    PlanePoint p = city.projection.ToPlane(near.position);
    p.x += dx * 300;
    p.y += dy * 300;
    const LonLat where = city.projection.ToLonLat(p);
    e.set_sequence(first_sequence + i);
    a->set_client_sequence(first_sequence + i);
    a->set_level(level_of[i]);
    a->mutable_position()->set_lon(where.lon);
    a->mutable_position()->set_lat(where.lat);
    e.SerializeToString(&frame);
    socket.send(zmq::buffer(frame), zmq::send_flags::none);
    ++result.levels[level_of[i]].sent;
    ++result.sent;
    sample_memory(NowNs());
  }
  result.seconds = static_cast<double>(NowNs() - start) / 1e9;
  // The rest is answered as dispatchd reads it: wait while answers keep coming (at 10x the
  // saturation rate most of a minute's alerts are still queued on our side when sending ends).
  int64_t last_progress = NowNs();
  while (result.answered < count && NowNs() - last_progress < 10'000'000'000) {
    const uint64_t before = result.answered;
    take_answers();
    if (result.answered != before) last_progress = NowNs();
    sample_memory(NowNs());
    std::this_thread::yield();
  }
  if (prober.joinable()) prober.join();
  result.probe_sent = probe.sent;
  result.probe_accepted = probe.accepted;
  result.probe_other = probe.other;
  result.probe_ns = std::move(probe.accepted_ns);
  return result;
}

std::string Us(double ns) { return absl::StrFormat("%.0f", ns / 1000); }

int Run() {
  PrintEnvironment("overload_bench");
  absl::StatusOr<CityData> city = LoadCityData(absl::GetFlag(FLAGS_config_dir));
  if (!city.ok()) {
    std::fprintf(stderr, "overload_bench: %s\n", std::string(city.status().message()).c_str());
    return 1;
  }
  const bool curve = absl::GetFlag(FLAGS_curve);
  std::vector<std::string> flags = curve ? std::vector<std::string>{} : DispatchdFlags();
  for (const std::string& f : absl::GetFlag(FLAGS_dispatchd_flags)) flags.push_back(f);
  auto dispatchd = testing::DispatchdProcess::Start(absl::GetFlag(FLAGS_config_dir), flags);
  if (!dispatchd.ok()) {
    std::fprintf(stderr, "overload_bench: %s\n", std::string(dispatchd.status().message()).c_str());
    return 1;
  }
  auth::CurveClientKeys keys;
  if (curve) {
    absl::StatusOr<auth::CurveClientKeys> operator_keys = (*dispatchd)->ClientKeys("operator");
    if (!operator_keys.ok()) {
      std::fprintf(stderr, "overload_bench: %s\n",
                   std::string(operator_keys.status().message()).c_str());
      return 1;
    }
    keys = *operator_keys;
  }
  zmq::context_t context;
  sim::Random random(absl::GetFlag(FLAGS_seed), /*stream=*/1);
  const double rate = absl::GetFlag(FLAGS_rate);
  std::printf(
      "  load:     baseline %.0f alerts/s for %.0f s, then %.0f alerts/s for %.0f s; "
      "levels 1%% I, 4%% II, 15%% III, 80%% IV; σ=300 m around random units; probe %.0f "
      "level-I alerts/s on a connection of its own\n"
      "  auth:     %s\n\n",
      absl::GetFlag(FLAGS_baseline_rate), absl::GetFlag(FLAGS_baseline_seconds), rate,
      absl::GetFlag(FLAGS_seconds), absl::GetFlag(FLAGS_probe_rate),
      curve ? "CURVE (operator key)" : "none (--insecure_no_auth)");
  std::fflush(stdout);
  const PhaseResult baseline =
      RunPhase(context, **dispatchd, keys, *city, absl::GetFlag(FLAGS_baseline_rate),
               absl::GetFlag(FLAGS_baseline_seconds), 1, random);
  const PhaseResult overload = RunPhase(context, **dispatchd, keys, *city, rate,
                                        absl::GetFlag(FLAGS_seconds), 100'000'000, random);
  const int exit_status = (*dispatchd)->Stop(SIGTERM);
  const std::string summary = exit_status == 0 ? "" : " (dispatchd exit non-zero)";
  // dispatchd's own account of the run (incidents opened, merged, refused), for the reader.
  const std::string& output = (*dispatchd)->output();
  if (const size_t at = output.find("dispatchd stopped"); at != std::string::npos) {
    std::printf("%s\n", output.substr(at, output.find('\n', at) - at).c_str());
  }
  // Inside dispatchd: from reading an alert to its decision, and to its reply handed to ZeroMQ.
  for (const char* histogram :
       {"\nalert_received_to_decided:", "\nalert_decided_to_sent:", "\nloop_turn:", "\ncore_apply:",
        "\njournal_commit:", "\njournal_snapshot:", "\njournal_snapshot_pause:"}) {
    if (const size_t at = output.find(histogram); at != std::string::npos) {
      std::printf("  dispatchd %s\n",
                  output.substr(at + 1, output.find('\n', at + 1) - at - 1).c_str());
    }
  }
  if (exit_status != 0) {
    const std::string& out = (*dispatchd)->output();
    std::fprintf(stderr, "overload_bench: dispatchd exited with status %d; its last output:\n%s\n",
                 exit_status, out.substr(out.size() > 3000 ? out.size() - 3000 : 0).c_str());
  }

  Json result = ResultHeader("overload_bench", "overload");
  result.Set("rate", rate).Set("seconds", absl::GetFlag(FLAGS_seconds)).Set("curve", curve);
  std::vector<std::vector<std::string>> rows;
  std::printf("%-5s %9s %9s %9s %7s | %-44s | %-44s\n", "level", "sent", "accepted", "BUSY",
              "other", "accepted: reply p50 / p99 / p99.9 / max µs",
              "baseline (low rate) p50 / p99 µs");
  Json levels = Json::Array();
  for (int l = 4; l >= 1; --l) {
    const LevelFigures& f = overload.levels[l];
    const LatencySummary acc = Summarize(f.accepted_ns);
    const LatencySummary base = Summarize(baseline.levels[l].accepted_ns);
    std::printf("%-5s %9llu %9llu %9llu %7llu | %10s / %8s / %8s / %8s | %10s / %8s\n",
                kLevelNames[l], static_cast<unsigned long long>(f.sent),
                static_cast<unsigned long long>(f.accepted),
                static_cast<unsigned long long>(f.busy), static_cast<unsigned long long>(f.other),
                Us(acc.p50_ns).c_str(), Us(acc.p99_ns).c_str(), Us(acc.p999_ns).c_str(),
                Us(acc.max_ns).c_str(), Us(base.p50_ns).c_str(), Us(base.p99_ns).c_str());
    levels.Push(Json::Object()
                    .Set("level", kLevelNames[l])
                    .Set("sent", f.sent)
                    .Set("accepted", f.accepted)
                    .Set("busy", f.busy)
                    .Set("other", f.other)
                    .Set("accepted_latency", SummaryJson(acc))
                    .Set("busy_latency", SummaryJson(Summarize(f.busy_ns)))
                    .Set("baseline_latency", SummaryJson(base)));
    rows.push_back({absl::StrFormat("%.0f/s", rate), kLevelNames[l], absl::StrCat(f.sent),
                    absl::StrCat(f.accepted), absl::StrCat(f.busy),
                    absl::StrCat(Us(acc.p50_ns), " / ", Us(acc.p99_ns), " / ", Us(acc.p999_ns)),
                    absl::StrCat(Us(base.p50_ns), " / ", Us(base.p99_ns)),
                    absl::StrFormat("%ld → %ld MiB", overload.first_resident_kib / 1024,
                                    overload.max_resident_kib / 1024)});
  }
  result.Set("levels", levels);
  if (overload.probe_sent > 0) {
    const LatencySummary acc = Summarize(overload.probe_ns);
    const LatencySummary base = Summarize(baseline.probe_ns);
    std::printf(
        "%-5s %9llu %9llu %9llu %7llu | %10s / %8s / %8s / %8s | %10s / %8s   "
        "(level I from a connection of its own, %.0f/s)\n",
        "probe", static_cast<unsigned long long>(overload.probe_sent),
        static_cast<unsigned long long>(overload.probe_accepted), 0ULL,
        static_cast<unsigned long long>(overload.probe_other), Us(acc.p50_ns).c_str(),
        Us(acc.p99_ns).c_str(), Us(acc.p999_ns).c_str(), Us(acc.max_ns).c_str(),
        Us(base.p50_ns).c_str(), Us(base.p99_ns).c_str(), absl::GetFlag(FLAGS_probe_rate));
    result.Set("probe", Json::Object()
                            .Set("rate", absl::GetFlag(FLAGS_probe_rate))
                            .Set("sent", overload.probe_sent)
                            .Set("accepted", overload.probe_accepted)
                            .Set("other", overload.probe_other)
                            .Set("accepted_latency", SummaryJson(acc))
                            .Set("baseline_latency", SummaryJson(base)));
    rows.push_back({absl::StrFormat("%.0f/s", rate), "I, own connection",
                    absl::StrCat(overload.probe_sent), absl::StrCat(overload.probe_accepted), "0",
                    absl::StrCat(Us(acc.p50_ns), " / ", Us(acc.p99_ns), " / ", Us(acc.p999_ns)),
                    absl::StrCat(Us(base.p50_ns), " / ", Us(base.p99_ns)),
                    absl::StrFormat("%ld → %ld MiB", overload.first_resident_kib / 1024,
                                    overload.max_resident_kib / 1024)});
  }
  const uint64_t lost = overload.sent - overload.answered +
                        (overload.probe_sent - overload.probe_accepted - overload.probe_other);
  std::printf(
      "\nsent %llu in %.1f s (%.0f/s), answered %llu, unanswered %llu%s; dispatchd resident "
      "%ld MiB at the start of the overload, at most %ld MiB\n",
      static_cast<unsigned long long>(overload.sent), overload.seconds,
      static_cast<double>(overload.sent) / overload.seconds,
      static_cast<unsigned long long>(overload.answered), static_cast<unsigned long long>(lost),
      summary.c_str(), overload.first_resident_kib / 1024, overload.max_resident_kib / 1024);
  result.Set("sent", overload.sent)
      .Set("answered", overload.answered)
      .Set("unanswered", lost)
      .Set("resident_start_kib", static_cast<int64_t>(overload.first_resident_kib))
      .Set("resident_max_kib", static_cast<int64_t>(overload.max_resident_kib));
  if (absl::Status s = WriteResult("overload_bench", "overload", result); !s.ok()) {
    std::fprintf(stderr, "overload_bench: %s\n", std::string(s.message()).c_str());
  }
  const ResultsTable table{
      "overload_bench",
      "## overload_bench: alerts far past saturation, by level",
      {"offered", "level", "sent", "accepted", "BUSY", "accepted reply p50 / p99 / p99.9 µs",
       "baseline p50 / p99 µs", "dispatchd resident"}};
  if (absl::Status s = RecordRows(table, rows); !s.ok()) {
    std::fprintf(stderr, "overload_bench: %s\n", std::string(s.message()).c_str());
  }
  return lost == 0 ? 0 : 1;
}

}  // namespace
}  // namespace gz::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Offers alerts of every level far past dispatchd's saturation and reports, per level, what\n"
      "was accepted, what was refused BUSY and the reply latency, against a low-rate baseline.\n\n"
      "  overload_bench --rate=50000 --seconds=20");
  absl::ParseCommandLine(argc, argv);
  return gz::bench::Run();
}
