// AlertClient: raises alerts on dispatchd's intake socket (channel 1, 一点呼叫), the way a 110
// gateway, a kiosk or the fleet simulator does.
//
// Raise() sends one RaiseAlert and waits for its AlertReply. The alert's idempotency key
// (reporter_id, client_sequence) makes retrying safe: when no answer has come after
// timeout / attempts, the same alert with the same key is sent again, and the engine answers a
// repeated key with its first answer (duplicate = true), never a second incident. A late answer to
// an earlier send counts as well.
//
// A refusal by the engine is an outcome (accepted = false, with a reason), not an error: the error
// cases are bad input and an engine that does not answer at all.
//
// Thread-safety: none. An AlertClient and its ZeroMQ socket belong to one thread. The context must
// outlive the client.

#ifndef ENGINE_CLIENT_ALERT_CLIENT_H_
#define ENGINE_CLIENT_ALERT_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"
#include "engine/dispatch/commands.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/reason.h"
#include "engine/geo/projection.h"

namespace zmq {
class context_t;
}  // namespace zmq

namespace gz::client {

class EnvelopeSocket;

struct AlertOptions {
  // dispatchd's intake socket (its --intake flag).
  std::string endpoint = "tcp://127.0.0.1:7401";
  // The reporter used when an Alert names none; 1-64 bytes. Also the Envelope sender label.
  std::string reporter_id = "dispatchctl";
  // How long one Raise() waits for the answer in total, resends included.
  absl::Duration timeout = absl::Seconds(2);
  // How many times one alert may be sent within `timeout` (1 = never resent).
  int attempts = 3;
  // CURVE keys (a key with a role the intake accepts: operator, alert_source or drill); empty for
  // a dispatchd run with --insecure_no_auth. A refused key makes Raise() fail with
  // PermissionDenied saying so, instead of "not answering".
  auth::CurveClientKeys curve = {};

  // OK, or InvalidArgument naming the field.
  absl::Status Validate() const;
};

struct Alert {
  std::string reporter_id;  // empty: AlertOptions::reporter_id
  // The reporter's own number for this alert, > 0 and distinct per alert; 0: the client picks one
  // (see AlertClient::Raise).
  uint64_t client_sequence = 0;
  LonLat position;  // where the emergency is
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;
  std::string description;                        // ≤ 500 bytes
  absl::Time reported_at = absl::InfinitePast();  // InfinitePast: now
};

struct AlertOutcome {
  // The key the alert was sent with (the client's choice when the Alert left it 0).
  std::string reporter_id;
  uint64_t client_sequence = 0;

  bool accepted = false;
  // When accepted:
  IncidentId incident_id = 0;
  bool merged = false;     // joined an open incident rather than opening one
  bool duplicate = false;  // the engine had already answered this key; this is that answer
  // When refused:
  RejectReason reason = RejectReason::kUnspecified;
  std::string message;                                // the engine's sentence
  absl::Duration retry_after = absl::ZeroDuration();  // with kBusy: when to try again

  int sends = 0;                                  // 1 + resends
  absl::Duration latency = absl::ZeroDuration();  // first send to answer
};

class AlertClient {
 public:
  // Creates the socket and starts connecting (asynchronously: a missing engine shows up in
  // Raise()). Errors: InvalidArgument for bad options or an endpoint ZeroMQ cannot parse.
  static absl::StatusOr<std::unique_ptr<AlertClient>> Create(zmq::context_t& context,
                                                             AlertOptions options);
  ~AlertClient();

  AlertClient(const AlertClient&) = delete;
  AlertClient& operator=(const AlertClient&) = delete;

  // Raises the alert and waits for the answer. When alert.client_sequence is 0 the client uses the
  // current time in microseconds (strictly increasing per client), so keys stay distinct across
  // restarts of a program that keeps its reporter id. Errors: InvalidArgument (no reporter, size
  // caps), DeadlineExceeded "dispatchd is not answering at <endpoint> (waited 2 s)",
  // PermissionDenied when dispatchd refused the CURVE handshake (the sentence says why).
  absl::StatusOr<AlertOutcome> Raise(const Alert& alert);

 private:
  AlertClient(AlertOptions options, std::unique_ptr<EnvelopeSocket> socket);

  const AlertOptions options_;
  std::unique_ptr<EnvelopeSocket> socket_;
  uint64_t last_auto_sequence_ = 0;
};

}  // namespace gz::client

#endif  // ENGINE_CLIENT_ALERT_CLIENT_H_
