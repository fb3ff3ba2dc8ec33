// dispatchd: the dispatch engine as a service. Loads the city and the dispatch policy, binds the
// four ZeroMQ channels and serves until SIGINT/SIGTERM, then prints a summary.

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/app/cpu_placement.h"
#include "engine/app/descriptor_limit.h"
#include "engine/app/dispatch_server.h"
#include "engine/config/city_data.h"
#include "engine/config/dispatch_config_file.h"
#include "engine/config/server_options.h"

ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR,
          "Directory with the dataset (districts, zones, units), dispatch.textproto and "
          "dispatchd.textproto.");
ABSL_FLAG(std::string, server_config, "",
          "Server config file; default <config_dir>/dispatchd.textproto (skipped if absent).");
ABSL_FLAG(std::string, dispatch_config, "",
          "Dispatch policy file; default <config_dir>/dispatch.textproto.");
ABSL_FLAG(std::string, intake, "",
          "Alert intake endpoint (ROUTER), e.g. tcp://127.0.0.1:7401; "
          "port * picks a free one.");
ABSL_FLAG(std::string, responders, "", "Responder endpoint (ROUTER), e.g. tcp://127.0.0.1:7402.");
ABSL_FLAG(std::string, operator_endpoint, "",
          "Operator commands and queries endpoint (ROUTER), e.g. tcp://127.0.0.1:7403.");
ABSL_FLAG(std::string, feed, "", "Control-room feed endpoint (PUB), e.g. tcp://127.0.0.1:7404.");
ABSL_FLAG(int, heartbeat_interval_ms, 0, "Responder heartbeat interval; 0 keeps the config's.");
ABSL_FLAG(int, intake_batch, 0, "Alerts decided per loop turn; 0 keeps the config's.");
ABSL_FLAG(int, intake_read_batch, 0,
          "Alert frames read and queued by level per loop turn; 0 keeps the config's.");
ABSL_FLAG(int, max_pending_alerts, 0,
          "Alerts that may wait undecided before the least severe get BUSY; 0 keeps the "
          "config's.");
ABSL_FLAG(int, engine_cpu, -1,
          "Pin the engine's loop thread to this CPU and keep ZeroMQ's threads and snapshot "
          "children on the others (a CPU of its own for the decisions); -1 keeps the config's "
          "(default: not pinned).");
ABSL_FLAG(int, resend_interval_ms, 0, "Resend interval for unreceipted deliveries; 0 keeps it.");
ABSL_FLAG(int, zone_broadcast_min_level, -1,
          "Area broadcasts for levels from this up (1 = IV/all ... 4 = I, 0 = never); -1 keeps the "
          "config's.");
ABSL_FLAG(std::string, keys_dir, "",
          "CURVE keys: the directory with server.key_secret and the allow-list clients.allow "
          "(`dispatchctl init-keys <dir>` makes one); overrides keys_dir in the config.");
ABSL_FLAG(bool, insecure_no_auth, false,
          "Run WITHOUT authentication, for development only: anyone who reaches the ports can "
          "raise alerts and speak for any unit.");
ABSL_FLAG(std::string, journal_dir, "",
          "The journal: every command is made durable here before its effects are sent, and "
          "replayed at start (protocol/JOURNAL.md); overrides journal_dir in the config. Without "
          "one nothing survives a crash or a restart.");
ABSL_FLAG(int64_t, snapshot_every_records, -1,
          "Snapshot the engine's state after this many journal records (0: never); -1 keeps the "
          "config's.");

namespace {

int Fail(const std::string& what) {
  std::fprintf(stderr, "dispatchd: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The Guangzhou dispatch engine as a service. Channels (protocol/README.md):\n"
      "  intake     alerts in, accepted/rejected replies out           (default :7401)\n"
      "  responders responder clients: assignments, acks, positions    (default :7402)\n"
      "  operator   dispatchctl: manual actions and queries            (default :7403)\n"
      "  feed       every event, for control-room consoles             (default :7404)\n"
      "Defaults come from config/dispatchd.textproto; flags override it. Every channel needs\n"
      "CURVE keys: `dispatchctl init-keys <dir>` makes them (config/README.md).\n\n"
      "  dispatchd --keys_dir=<dir>      # the Guangzhou default on 127.0.0.1:7401-7404\n"
      "  dispatchd --intake=tcp://127.0.0.1:* --responders=tcp://127.0.0.1:* ...");
  absl::ParseCommandLine(argc, argv);
  const rlim_t descriptors = gz::RaiseDescriptorLimit();
  const std::string config_dir = absl::GetFlag(FLAGS_config_dir);

  gz::ServerOptions options;
  const std::string server_config = absl::GetFlag(FLAGS_server_config);
  const std::string server_path =
      server_config.empty() ? gz::ConfigPath(config_dir, gz::kServerConfigFile) : server_config;
  absl::StatusOr<gz::ServerOptions> file_options = gz::ReadServerOptions(server_path);
  if (file_options.ok()) {
    options = *std::move(file_options);
  } else if (!server_config.empty() || !absl::IsNotFound(file_options.status())) {
    return Fail(std::string(file_options.status().message()));
  }
  options.config_dir = config_dir;
  if (!absl::GetFlag(FLAGS_dispatch_config).empty()) {
    options.dispatch_config_path = absl::GetFlag(FLAGS_dispatch_config);
  }
  if (options.dispatch_config_path.empty()) {
    options.dispatch_config_path = gz::ConfigPath(config_dir, gz::kDispatchConfigFile);
  }
  if (!absl::GetFlag(FLAGS_intake).empty()) options.intake_endpoint = absl::GetFlag(FLAGS_intake);
  if (!absl::GetFlag(FLAGS_responders).empty()) {
    options.responder_endpoint = absl::GetFlag(FLAGS_responders);
  }
  if (!absl::GetFlag(FLAGS_operator_endpoint).empty()) {
    options.operator_endpoint = absl::GetFlag(FLAGS_operator_endpoint);
  }
  if (!absl::GetFlag(FLAGS_feed).empty()) options.feed_endpoint = absl::GetFlag(FLAGS_feed);
  if (absl::GetFlag(FLAGS_intake_batch) > 0)
    options.intake_batch = absl::GetFlag(FLAGS_intake_batch);
  if (absl::GetFlag(FLAGS_intake_read_batch) > 0) {
    options.intake_read_batch = absl::GetFlag(FLAGS_intake_read_batch);
  }
  if (absl::GetFlag(FLAGS_max_pending_alerts) > 0) {
    options.max_pending_alerts = static_cast<size_t>(absl::GetFlag(FLAGS_max_pending_alerts));
  }
  if (absl::GetFlag(FLAGS_heartbeat_interval_ms) > 0) {
    options.heartbeat_interval = absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_interval_ms));
  }
  if (absl::GetFlag(FLAGS_resend_interval_ms) > 0) {
    options.resend_interval = absl::Milliseconds(absl::GetFlag(FLAGS_resend_interval_ms));
  }
  if (absl::GetFlag(FLAGS_engine_cpu) >= 0) options.engine_cpu = absl::GetFlag(FLAGS_engine_cpu);
  if (absl::GetFlag(FLAGS_zone_broadcast_min_level) >= 0) {
    options.zone_broadcast_min_level = absl::GetFlag(FLAGS_zone_broadcast_min_level);
  }
  if (!absl::GetFlag(FLAGS_keys_dir).empty()) options.keys_dir = absl::GetFlag(FLAGS_keys_dir);
  options.insecure_no_auth = absl::GetFlag(FLAGS_insecure_no_auth);
  if (!absl::GetFlag(FLAGS_journal_dir).empty()) {
    options.journal_dir = absl::GetFlag(FLAGS_journal_dir);
  }
  if (absl::GetFlag(FLAGS_snapshot_every_records) >= 0) {
    options.snapshot_every_records =
        static_cast<uint64_t>(absl::GetFlag(FLAGS_snapshot_every_records));
  }
  if (options.keys_dir.empty() && !options.insecure_no_auth) {
    return Fail(
        "no CURVE keys, so nobody could be authenticated. Make a key directory with `dispatchctl "
        "init-keys <dir>` and start with --keys_dir=<dir> (or keys_dir in dispatchd.textproto); "
        "for development only, --insecure_no_auth runs without authentication.");
  }
  if (absl::Status s = options.Validate(); !s.ok()) return Fail(std::string(s.message()));
  if (options.insecure_no_auth) {
    std::fprintf(stderr,
                 "dispatchd: WARNING: --insecure_no_auth: authentication is OFF. Anyone who can "
                 "reach these ports can raise alerts, act as an operator and speak for any unit. "
                 "Development only; run with --keys_dir anywhere else.\n");
  }

  const absl::Time load_start = absl::Now();
  // Loading millions of units makes millions of small allocations on two threads; letting the heap
  // grow 64 MiB at a time instead of glibc's 128 KiB saved about 5% of a 2.3M-unit start. Set
  // back once loaded, so that freed memory is returned as usual while serving.
  mallopt(M_TOP_PAD, 64 << 20);
  absl::StatusOr<gz::CityData> city = gz::LoadCityData(config_dir);
  if (!city.ok()) return Fail(absl::StrCat("cannot load the city: ", city.status().message()));
  absl::StatusOr<gz::DispatchConfig> policy = gz::ReadDispatchConfig(options.dispatch_config_path);
  if (!policy.ok()) return Fail(std::string(policy.status().message()));
  const size_t units = city->units.size();
  // libzmq's listener retries a failed accept (EMFILE) in a tight loop that starves every other
  // connection, so a fleet larger than the descriptor limit is a real hazard: say so up front.
  if (descriptors < units + 1000) {
    std::fprintf(
        stderr,
        "dispatchd: warning: the descriptor limit is %llu, so at most about %llu responders "
        "can be connected at once (the unit set has %zu); raise it (e.g. LimitNOFILE=65536) "
        "before bringing the whole fleet online\n",
        static_cast<unsigned long long>(descriptors),
        static_cast<unsigned long long>(descriptors > 1000 ? descriptors - 1000 : 0), units);
  }
  const size_t zones = city->map->zones().size();
  const absl::Duration dataset_time = absl::Now() - load_start;

  absl::StatusOr<std::unique_ptr<gz::DispatchServer>> server =
      gz::DispatchServer::Create(options, *std::move(city), *std::move(policy));
  if (!server.ok()) return Fail(std::string(server.status().message()));
  // Back to glibc's starting values. Setting M_TOP_PAD also switched off its dynamic mmap and
  // trim thresholds for good, so those are set explicitly too rather than left as they were.
  mallopt(M_TOP_PAD, 128 << 10);
  mallopt(M_MMAP_THRESHOLD, 128 << 10);
  mallopt(M_TRIM_THRESHOLD, 128 << 10);
  if (options.journal_dir.empty()) {
    std::fprintf(stderr,
                 "dispatchd: WARNING: no journal_dir: nothing survives a crash or a restart (open "
                 "incidents, reservations, deadlines are lost); set journal_dir in "
                 "dispatchd.textproto or --journal_dir\n");
  }
  for (const std::string& note : (*server)->journal_notes()) std::printf("%s\n", note.c_str());
  std::printf("dispatchd: %s\n", (*server)->auth_description().c_str());
  if (options.engine_cpu >= 0) {
    std::printf(
        "dispatchd: engine loop pinned to CPU %d; ZeroMQ threads and snapshots on CPU %s\n",
        options.engine_cpu,
        gz::CpuListText(gz::CpusBesideEngine(options.engine_cpu).value_or(std::vector<int>{}))
            .c_str());
  }
  const gz::BoundEndpoints& e = (*server)->endpoints();
  std::printf(
      "dispatchd ready: intake=%s responders=%s operator=%s feed=%s (%zu units, %zu zones, "
      "loaded in %lld ms: files %lld ms, index and engine %lld ms)\n",
      e.intake.c_str(), e.responders.c_str(), e.operators.c_str(), e.feed.c_str(), units, zones,
      static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - load_start)),
      static_cast<long long>(absl::ToInt64Milliseconds(dataset_time)),
      static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - load_start - dataset_time)));
  std::fflush(stdout);
  (*server)->Run();
  std::printf("%s", (*server)->Summary().c_str());
  if (absl::Status s = (*server)->status(); !s.ok()) {
    std::fflush(stdout);
    return Fail(std::string(s.message()));
  }
  std::fflush(stdout);
  return 0;
}
