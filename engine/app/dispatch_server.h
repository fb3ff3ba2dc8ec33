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
// Thread-safety: not thread-safe except Stop(), which may be called from any thread.

#ifndef ENGINE_APP_DISPATCH_SERVER_H_
#define ENGINE_APP_DISPATCH_SERVER_H_

#include <memory>
#include <string>

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
  // Builds the core from the city and the policy, creates and binds the sockets. Fails with the
  // reason (e.g. "tcp://127.0.0.1:7401: Address already in use").
  static absl::StatusOr<std::unique_ptr<DispatchServer>> Create(ServerOptions options,
                                                                CityData city,
                                                                DispatchConfig config);
  ~DispatchServer();

  // The endpoints actually bound (ports resolved when "*" was asked for).
  const BoundEndpoints& endpoints() const;

  // Runs until Stop() or SIGINT/SIGTERM; then sends what is queued (up to linger_on_stop) and
  // closes the sockets.
  void Run();
  // Asks Run() to return. Thread-safe.
  void Stop();

  // A readable summary of counters and latencies (printed by dispatchd at shutdown).
  std::string Summary() const;

 private:
  class Impl;
  explicit DispatchServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace gz

#endif  // ENGINE_APP_DISPATCH_SERVER_H_
