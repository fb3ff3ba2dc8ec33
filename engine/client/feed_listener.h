// FeedListener: a console's view of dispatchd's control-room feed (channel 3) as domain events.
//
// Connect() subscribes first and then asks for the snapshot on the operator channel, so nothing
// falls between the two (protocol/README.md, channel 3); events already in the snapshot are
// skipped. Next() returns each later feed event converted back into the engine's own Event, with
// its feed sequence, so the drill report can be built from a live run exactly as from an
// in-process one. A jump in the feed sequence is reported (gaps()) rather than hidden.
//
// Thread-safety: none; one thread owns a listener and its sockets.

#ifndef ENGINE_CLIENT_FEED_LISTENER_H_
#define ENGINE_CLIENT_FEED_LISTENER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"
#include "engine/dispatch/events.h"

namespace zmq {
class context_t;
}  // namespace zmq

namespace gz::client {

struct FeedEvent {
  uint64_t event_sequence = 0;
  Event event;
};

class FeedListener {
 public:
  // Subscribes to `feed_endpoint`, then requests the snapshot on `operator_endpoint` and waits up
  // to `timeout` for it. DeadlineExceeded if dispatchd does not answer. `curve`: a key both
  // channels accept (operator or drill); empty for a dispatchd without authentication.
  static absl::StatusOr<std::unique_ptr<FeedListener>> Connect(
      zmq::context_t& context, const std::string& feed_endpoint,
      const std::string& operator_endpoint, absl::Duration timeout,
      const auth::CurveClientKeys& curve = {});
  ~FeedListener();

  // The next feed event after the snapshot, waiting up to `timeout`; nullopt if none came.
  absl::StatusOr<std::optional<FeedEvent>> Next(absl::Duration timeout);

  uint64_t snapshot_sequence() const { return snapshot_sequence_; }
  size_t snapshot_open_incidents() const { return snapshot_open_incidents_; }
  uint64_t gaps() const { return gaps_; }

 private:
  struct Sockets;
  explicit FeedListener(std::unique_ptr<Sockets> sockets);

  std::unique_ptr<Sockets> sockets_;
  uint64_t snapshot_sequence_ = 0;
  size_t snapshot_open_incidents_ = 0;
  uint64_t last_sequence_ = 0;
  uint64_t gaps_ = 0;
};

}  // namespace gz::client

#endif  // ENGINE_CLIENT_FEED_LISTENER_H_
