#include "engine/client/alert_client.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/client/envelope_socket.h"
#include "engine/client/wire_text.h"

namespace gz::client {
namespace {

constexpr size_t kMaxReporterBytes = 64;
constexpr size_t kMaxDescriptionBytes = 500;

absl::Status CheckReporter(absl::string_view reporter_id) {
  if (reporter_id.empty() || reporter_id.size() > kMaxReporterBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the reporter id must be 1 to ", kMaxReporterBytes, " bytes, not ", reporter_id.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AlertOptions::Validate() const {
  if (endpoint.empty()) return absl::InvalidArgumentError("endpoint is empty");
  if (absl::Status s = CheckReporter(reporter_id); !s.ok()) return s;
  if (timeout <= absl::ZeroDuration())
    return absl::InvalidArgumentError("timeout must be positive");
  if (attempts < 1) return absl::InvalidArgumentError("attempts must be at least 1");
  return curve.Validate();
}

AlertClient::AlertClient(AlertOptions options, std::unique_ptr<EnvelopeSocket> socket)
    : options_(std::move(options)), socket_(std::move(socket)) {}

AlertClient::~AlertClient() = default;

absl::StatusOr<std::unique_ptr<AlertClient>> AlertClient::Create(zmq::context_t& context,
                                                                 AlertOptions options) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  auto socket = std::make_unique<EnvelopeSocket>(context, options.endpoint, options.reporter_id,
                                                 options.curve);
  socket->set_diagnose_handshake(true);
  if (absl::Status opened = socket->Open(); !opened.ok()) return opened;
  return std::unique_ptr<AlertClient>(new AlertClient(std::move(options), std::move(socket)));
}

absl::StatusOr<AlertOutcome> AlertClient::Raise(const Alert& alert) {
  AlertOutcome outcome;
  outcome.reporter_id = alert.reporter_id.empty() ? options_.reporter_id : alert.reporter_id;
  if (absl::Status s = CheckReporter(outcome.reporter_id); !s.ok()) return s;
  if (alert.description.size() > kMaxDescriptionBytes) {
    return absl::InvalidArgumentError(absl::StrCat("the description is ", alert.description.size(),
                                                   " bytes; the limit is ", kMaxDescriptionBytes));
  }
  const absl::Time start = absl::Now();
  outcome.client_sequence = alert.client_sequence;
  if (outcome.client_sequence == 0) {
    last_auto_sequence_ = std::max<uint64_t>(last_auto_sequence_ + 1, absl::ToUnixMicros(start));
    outcome.client_sequence = last_auto_sequence_;
  }

  pb::Envelope request;
  pb::RaiseAlert* raise = request.mutable_raise_alert();
  raise->set_reporter_id(outcome.reporter_id);
  raise->set_client_sequence(outcome.client_sequence);
  ToWire(alert.position, raise->mutable_position());
  raise->set_category(static_cast<pb::Category>(alert.category));
  raise->set_level(static_cast<pb::Level>(alert.level));
  raise->set_description(alert.description);
  raise->set_reported_at_unix_us(
      absl::ToUnixMicros(alert.reported_at == absl::InfinitePast() ? start : alert.reported_at));

  const absl::Time deadline = start + options_.timeout;
  const absl::Duration resend_every = options_.timeout / options_.attempts;
  absl::Time next_send = start;
  std::vector<uint64_t> sent_sequences;  // envelope sequences of this alert's sends
  for (;;) {
    const absl::Time now = absl::Now();
    if (outcome.sends < options_.attempts && now >= next_send) {
      absl::StatusOr<uint64_t> sent = socket_->Send(request);
      if (!sent.ok()) return sent.status();
      sent_sequences.push_back(*sent);
      ++outcome.sends;
      next_send = now + resend_every;
    }
    const absl::Time wake =
        outcome.sends < options_.attempts ? std::min(deadline, next_send) : deadline;
    absl::StatusOr<std::optional<pb::Envelope>> reply = socket_->Receive(wake);
    if (!reply.ok()) return reply.status();
    if (!reply->has_value()) {
      if (absl::Now() >= deadline) return socket_->NoAnswer(options_.timeout);
      continue;
    }
    const pb::Envelope& envelope = **reply;
    if (envelope.has_command_result() && !envelope.command_result().ok() &&
        std::count(sent_sequences.begin(), sent_sequences.end(),
                   envelope.command_result().in_reply_to_sequence()) > 0) {
      // The engine could not take the frame as an alert at all.
      outcome.latency = absl::Now() - start;
      outcome.reason = FromWire(envelope.command_result().reason());
      if (outcome.reason == RejectReason::kUnspecified) {
        outcome.reason = RejectReason::kMalformedMessage;
      }
      outcome.message = envelope.command_result().message();
      return outcome;
    }
    if (!envelope.has_alert_reply()) continue;
    const pb::AlertReply& answer = envelope.alert_reply();
    // A rejection of a frame the engine could not read quotes no key; with one alert in flight it
    // is ours. Any other key answers an alert this client already gave up on.
    const bool unkeyed = answer.reporter_id().empty() && answer.client_sequence() == 0;
    if (!(unkeyed && answer.has_rejected()) &&
        (answer.reporter_id() != outcome.reporter_id ||
         answer.client_sequence() != outcome.client_sequence)) {
      continue;
    }
    outcome.latency = absl::Now() - start;
    if (answer.has_accepted()) {
      outcome.accepted = true;
      outcome.incident_id = answer.accepted().incident_id();
      outcome.merged = answer.accepted().merged();
      outcome.duplicate = answer.accepted().duplicate();
    } else {
      outcome.accepted = false;
      outcome.reason = FromWire(answer.rejected().reason());
      if (outcome.reason == RejectReason::kUnspecified) {
        outcome.reason = RejectReason::kMalformedMessage;  // a reply with neither outcome
      }
      outcome.message = answer.rejected().message();
      outcome.retry_after = absl::Milliseconds(answer.rejected().retry_after_ms());
    }
    return outcome;
  }
}

}  // namespace gz::client
