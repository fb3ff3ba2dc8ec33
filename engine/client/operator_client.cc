#include "engine/client/operator_client.h"

#include "absl/time/clock.h"
#include "engine/client/envelope_socket.h"
#include "engine/client/rejection.h"
#include "engine/client/wire_text.h"

namespace gz::client {

absl::StatusOr<std::unique_ptr<OperatorClient>> OperatorClient::Create(
    zmq::context_t& context, const std::string& endpoint, absl::Duration timeout,
    const auth::CurveClientKeys& curve) {
  if (absl::Status s = curve.Validate(); !s.ok()) return s;
  auto socket = std::make_unique<EnvelopeSocket>(context, endpoint, "operator-client", curve);
  socket->set_diagnose_handshake(true);
  if (absl::Status s = socket->Open(); !s.ok()) return s;
  return std::unique_ptr<OperatorClient>(new OperatorClient(std::move(socket), timeout));
}

OperatorClient::OperatorClient(std::unique_ptr<EnvelopeSocket> socket, absl::Duration timeout)
    : socket_(std::move(socket)), timeout_(timeout) {}

OperatorClient::~OperatorClient() = default;

template <typename Fill>
absl::Status OperatorClient::Command(Fill fill) {
  pb::Envelope request;
  fill(&request);
  absl::StatusOr<uint64_t> sequence = socket_->Send(std::move(request));
  if (!sequence.ok()) return sequence.status();
  const absl::Time deadline = absl::Now() + timeout_;
  for (;;) {
    absl::StatusOr<std::optional<pb::Envelope>> reply = socket_->Receive(deadline);
    if (!reply.ok()) return reply.status();
    if (!reply->has_value()) return socket_->NoAnswer(timeout_);
    if (!(*reply)->has_command_result() || InReplyTo(**reply) != *sequence) continue;
    const pb::CommandResult& result = (*reply)->command_result();
    if (result.ok()) return absl::OkStatus();
    return RejectionStatus(FromWire(result.reason()), result.message());
  }
}

absl::Status OperatorClient::Resolve(IncidentId incident) {
  return Command(
      [&](pb::Envelope* e) { e->mutable_resolve_incident()->set_incident_id(incident); });
}

absl::Status OperatorClient::Close(IncidentId incident) {
  return Command([&](pb::Envelope* e) { e->mutable_close_incident()->set_incident_id(incident); });
}

absl::Status OperatorClient::Cancel(IncidentId incident) {
  return Command([&](pb::Envelope* e) { e->mutable_cancel_incident()->set_incident_id(incident); });
}

}  // namespace gz::client
