// DispatchServer: dispatchd's I/O shell around the dispatch core (DESIGN.md §2).
//
// One object owns the Boost.Asio io_context, the ZeroMQ context and the four sockets (alert intake,
// responders, operators: ROUTER; the control-room feed: PUB), the core, the timers and the
// responder delivery book. Everything runs on the thread that calls Run(): sockets are bridged into
// the io_context through their ZMQ_FD (ZmqWatcher), a system_timer follows the core's next
// deadline, another drives resends and heartbeat checks, and SIGINT/SIGTERM stop it cleanly.
//
// Each turn of the loop takes a bounded batch from each socket in priority order: alerts, then
// operators, then responders; if any socket still has input the next turn is posted behind the
// timers. Every inbound frame goes through the codec (size cap, parse, validation); a bad one is
// answered with a reason and a sentence, counted, and nobody else notices.
//
// With a journal (options.journal_dir, engine/journal/journal.h) every command applied to the
// core is appended to it, and at the end of each turn one commit (one write, one fdatasync) makes
// the whole turn's commands durable before anything they caused is sent: replies, deliveries and
// feed events wait in an outbox until then (group commit). Create() replays the journal first, so
// the engine starts exactly where it stopped: incidents, reservations, deadlines, the feed's
// sequence; assignments still waiting for an acknowledgement go again when their unit says Hello.
//
// Every socket is a CURVE server whose clients' keys are checked by a ZAP handler against the
// allow-list, on the same thread (engine/auth/server_auth.h); each message is then checked against
// its connection's identity: the channel must accept the key's role, and on the responder channel
// the unit a message speaks for must be the unit its key belongs to (a drill key may speak for
// any).
//
// Thread-safety: not thread-safe except Stop(), which may be called from any thread.

#ifndef ENGINE_APP_DISPATCH_SERVER_H_
#define ENGINE_APP_DISPATCH_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/config/city_data.h"
#include "engine/config/server_options.h"
#include "engine/dispatch/dispatch_config.h"

namespace gz {

struct BoundEndpoints {
  std::string intake;
  std::string responders;
  std::string operators;
  std::string feed;
};

class DispatchServer {
 public:
  // Builds the core from the city and the policy, creates and binds the sockets, as CURVE servers
  // with the keys and allow-list of options.keys_dir unless options.insecure_no_auth. Fails with
  // the reason (e.g. "tcp://127.0.0.1:7401: Address already in use", or a missing key file and
  // how to make it).
  static absl::StatusOr<std::unique_ptr<DispatchServer>> Create(ServerOptions options,
                                                                CityData city,
                                                                DispatchConfig config);
  ~DispatchServer();

  // The endpoints actually bound (ports resolved when "*" was asked for).
  const BoundEndpoints& endpoints() const;
  // One line on authentication: "CURVE on: server key <z85>; N client keys allowed, ..." or that
  // it is off (options.insecure_no_auth).
  std::string auth_description() const;

  // Runs until Stop() or SIGINT/SIGTERM; then sends what is queued (up to linger_on_stop) and
  // closes the sockets.
  void Run();
  // Asks Run() to return. Thread-safe.
  void Stop();

  // A readable summary of counters and latencies (printed by dispatchd at shutdown).
  std::string Summary() const;

  // What the journal did at start, one line each (dispatchd prints them): the snapshot restored,
  // a torn tail truncated, "journal: replayed N records from <dir> in X ms (M open incidents, K
  // pending assignments)". Empty without options.journal_dir.
  const std::vector<std::string>& journal_notes() const;
  // Why Run() returned: OK after Stop() or a signal; otherwise the journal's failure (a write or
  // an fdatasync failed, and the engine stopped at once, without sending what that turn caused
  // and without retrying). dispatchd exits non-zero on it.
  absl::Status status() const;

 private:
  class Impl;
  explicit DispatchServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gz

#endif  // ENGINE_APP_DISPATCH_SERVER_H_
