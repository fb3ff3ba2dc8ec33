// OperatorClient: lifecycle commands on dispatchd's operator channel (channel 4) for programs — the
// live drill resolving and closing incidents as its simulated operators decide. dispatchctl has the
// full command set for people.
//
// Thread-safety: none; one thread owns a client and its socket.

#ifndef ENGINE_CLIENT_OPERATOR_CLIENT_H_
#define ENGINE_CLIENT_OPERATOR_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/auth/curve_keys.h"
#include "engine/dispatch/commands.h"

namespace zmq {
class context_t;
}  // namespace zmq

namespace gz::client {

class EnvelopeSocket;

class OperatorClient {
 public:
  // `curve`: an operator (or drill) key; empty for a dispatchd without authentication.
  static absl::StatusOr<std::unique_ptr<OperatorClient>> Create(
      zmq::context_t& context, const std::string& endpoint, absl::Duration timeout,
      const auth::CurveClientKeys& curve = {});
  ~OperatorClient();

  // Each waits for the CommandResult: OK, the refusal as a status (see rejection.h), or
  // DeadlineExceeded "dispatchd is not answering ..." (PermissionDenied if it refused the key).
  absl::Status Resolve(IncidentId incident);
  absl::Status Close(IncidentId incident);
  absl::Status Cancel(IncidentId incident);

 private:
  OperatorClient(std::unique_ptr<EnvelopeSocket> socket, absl::Duration timeout);
  template <typename Fill>
  absl::Status Command(Fill fill);

  std::unique_ptr<EnvelopeSocket> socket_;
  absl::Duration timeout_;
};

}  // namespace gz::client

#endif  // ENGINE_CLIENT_OPERATOR_CLIENT_H_
