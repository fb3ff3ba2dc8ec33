// dispatchd's options: where it listens, what it loads, and its limits. Defaults live in the
// struct; config/dispatchd.textproto may override any of them and command-line flags override the
// file.

#ifndef ENGINE_CONFIG_SERVER_OPTIONS_H_
#define ENGINE_CONFIG_SERVER_OPTIONS_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gz {

inline constexpr char kServerConfigFile[] = "dispatchd.textproto";

struct ServerOptions {
  // ZeroMQ endpoints dispatchd binds. "tcp://127.0.0.1:*" picks a free port (printed when ready).
  std::string intake_endpoint = "tcp://127.0.0.1:7401";     // channel 1: alerts (ROUTER)
  std::string responder_endpoint = "tcp://127.0.0.1:7402";  // channel 2: responders (ROUTER)
  std::string operator_endpoint = "tcp://127.0.0.1:7403";   // channel 4: operators (ROUTER)
  std::string feed_endpoint = "tcp://127.0.0.1:7404";       // channel 3: control-room feed (PUB)

  // The dataset directory (districts, zones, units) and the dispatch policy file; an empty policy
  // path means <config_dir>/dispatch.textproto.
  std::string config_dir;
  std::string dispatch_config_path;

  // Every inbound frame larger than this is refused before parsing: answered MESSAGE_TOO_LARGE up
  // to 4x this (at most 1 MiB over it), beyond which ZeroMQ drops the connection (ZMQ_MAXMSGSIZE).
  size_t max_frame_bytes = 64 * 1024;
  // Responders must send a heartbeat this often; silent for 3 intervals, a responder is gone.
  absl::Duration heartbeat_interval = absl::Seconds(2);
  // Unreceipted deliveries to a connected responder are sent again this often.
  absl::Duration resend_interval = absl::Seconds(1);
  // Deliveries kept per unit while it is away; beyond this the oldest are dropped and counted.
  size_t max_pending_deliveries_per_unit = 256;
  // Messages taken from each socket per turn of the loop: alerts first, then operators, then
  // responders, so a flood of positions cannot delay an alert by more than one bounded batch.
  int intake_batch = 64;
  int operator_batch = 16;
  int responder_batch = 256;
  // Overload: alert frames read per turn (validated and queued by level, which is cheap), and how
  // many may wait undecided. Beyond that the least severe are refused with BUSY (never silently
  // dropped); see engine/app/admission_queue.h.
  int intake_read_batch = 1024;
  size_t max_pending_alerts = 8192;
  // Area broadcasts (a notice to every connected unit of the incident's street zone) go out for
  // incidents of at least this level: 1 = every level (IV and up), 2 = III and up, 3 = II and up,
  // 4 = I only, 0 = never. The units actually needed get assignments whatever this says.
  int zone_broadcast_min_level = 2;
  // The CPU the engine's loop thread is pinned to, with ZeroMQ's threads and snapshot children kept
  // on the process's other CPUs (engine/app/cpu_placement.h); -1: no pinning, the kernel places
  // every thread. Worth it only where the machine has a CPU to give the engine alone.
  int engine_cpu = -1;
  // How long sockets try to deliver what is queued when dispatchd stops.
  absl::Duration linger_on_stop = absl::Seconds(1);

  // The journal (engine/journal/, protocol/JOURNAL.md): the directory where every command the core
  // applies is made durable before its effects are sent, and replayed at start. Empty: no journal,
  // and nothing survives a crash or a restart (dispatchd warns at start).
  std::string journal_dir;
  // A snapshot of the engine's state after this many records, so that a start replays at most
  // about this many; 0: never (replay grows with the journal).
  uint64_t snapshot_every_records = 100'000;

  // CURVE authentication (engine/auth/): the directory with the server's key pair (server.key,
  // server.key_secret) and the allow-list of client keys (clients.allow); `dispatchctl init-keys`
  // makes one. Required unless insecure_no_auth is set: dispatchd refuses to start without keys.
  std::string keys_dir;
  // No authentication at all, for development: anyone who reaches the ports may raise alerts and
  // speak for any unit. Only the command line (--insecure_no_auth) sets it, never a config file.
  bool insecure_no_auth = false;

  // OK, or InvalidArgument naming the option and the reason.
  absl::Status Validate() const;
};

// Parses config/dispatchd.textproto-style text over the defaults (InvalidArgument names the line or
// the key). `source_name` is used in messages.
absl::StatusOr<ServerOptions> ParseServerOptions(const std::string& text,
                                                 const std::string& source_name);
// Reads and parses a file; NotFound if missing.
absl::StatusOr<ServerOptions> ReadServerOptions(const std::string& path);

}  // namespace gz

#endif  // ENGINE_CONFIG_SERVER_OPTIONS_H_
