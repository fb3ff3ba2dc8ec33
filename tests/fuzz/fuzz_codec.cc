// fuzz_codec: transport::Decode on every channel, whatever the bytes, and the frames the server
// sends back for what it decoded or refused.
//
// Input: the first byte picks the channel (byte % 3: intake, responder, operator) and the frame cap
// (bit 7 clear: the default 64 KiB; set: (byte & 0x7f) * 8 bytes, so that the size check is
// reached with short inputs); the rest is the frame.
//
// Checked for every input, beyond "no crash, leak or UB":
//   - a frame over the cap is refused as too large, and only such a frame;
//   - a refusal has a reason and a sentence of 1-200 bytes, and its reply (EncodeDecodeError)
//     parses as the channel's error reply, quoting the sequence or the alert's key;
//   - a decoded frame is within the cap, its body is one the channel accepts (protocol/README.md,
//     restated here as an independent table), its fields within the documented limits;
//   - AsCommand gives exactly the core commands, unchanged;
//   - the reply the server would send for a decoded body parses and quotes it;
//   - re-encoded as a client would (inbound_wire.h), a decoded frame decodes to the same thing.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>

#include "absl/strings/string_view.h"
#include "engine/transport/codec.h"
#include "protocol/dispatch.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/inbound_wire.h"

namespace gz::fuzz {
namespace {

namespace pb = ::gz::dispatch::v1;
using transport::Channel;
using transport::DecodeError;
using transport::Inbound;
using transport::InboundBody;

constexpr size_t kMaxIdBytes = 64;  // sender and reporter ids
constexpr size_t kMaxMessageBytes = 200;

pb::Envelope ParseReply(const std::string& frame) {
  // The protocol's cap holds in both directions: a client drops a longer frame unread.
  FUZZ_CHECK(frame.size() <= transport::kDefaultMaxFrameBytes, "a reply of ", frame.size(),
             " bytes is over the 64 KiB cap");
  pb::Envelope env;
  FUZZ_CHECK(env.ParseFromString(frame), "a reply does not parse as an Envelope");
  FUZZ_CHECK(env.protocol_version() == transport::kProtocolVersion, "a reply of version ",
             env.protocol_version());
  FUZZ_CHECK(env.sequence() == 9 && env.sender_id() == "dispatchd",
             "a reply without the server's header");
  return env;
}

const transport::Header kHeader{9, absl::FromUnixSeconds(1'767'225'600)};

// Which bodies each channel accepts (protocol/README.md, "Channels").
bool AcceptedOn(const InboundBody& body, Channel channel) {
  return std::visit(
      [channel](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        constexpr bool kIntake =
            std::is_same_v<T, RaiseAlert> || std::is_same_v<T, transport::Heartbeat>;
        constexpr bool kResponder =
            std::is_same_v<T, transport::Hello> || std::is_same_v<T, transport::Heartbeat> ||
            std::is_same_v<T, AckAssignment> || std::is_same_v<T, DeclineAssignment> ||
            std::is_same_v<T, ReportArrival> || std::is_same_v<T, UpdateUnit> ||
            std::is_same_v<T, transport::DeliveryReceipt> ||
            std::is_same_v<T, transport::PositionBatch>;
        constexpr bool kOperator =
            std::is_same_v<T, RaiseAlert> || std::is_same_v<T, ManualAssign> ||
            std::is_same_v<T, ReleaseAssignment> || std::is_same_v<T, CancelIncident> ||
            std::is_same_v<T, ResolveIncident> || std::is_same_v<T, CloseIncident> ||
            std::is_same_v<T, SetUnitStatus> || std::is_same_v<T, transport::FeedSnapshotRequest> ||
            std::is_same_v<T, transport::GetIncident> ||
            std::is_same_v<T, transport::ListOpenIncidents> ||
            std::is_same_v<T, transport::GetUnit> || std::is_same_v<T, transport::UnitsNear> ||
            std::is_same_v<T, transport::GetStats> || std::is_same_v<T, transport::Heartbeat>;
        switch (channel) {
          case Channel::kIntake:
            return kIntake;
          case Channel::kResponder:
            return kResponder;
          case Channel::kOperator:
            return kOperator;
        }
        return false;
      },
      body);
}

// The documented field limits of each decoded body (protocol/dispatch.proto).
void CheckFields(const InboundBody& body) {
  std::visit(
      [](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        if constexpr (requires { b.unit; }) {
          FUZZ_CHECK(b.unit != 0, "a decoded body with unit 0");
        }
        if constexpr (std::is_same_v<T, RaiseAlert>) {
          FUZZ_CHECK(!b.reporter_id.empty() && b.reporter_id.size() <= kMaxIdBytes,
                     "a reporter id of ", b.reporter_id.size(), " bytes");
          FUZZ_CHECK(b.client_sequence > 0, "an alert with client sequence 0");
          FUZZ_CHECK(std::isfinite(b.position.lon) && std::isfinite(b.position.lat),
                     "an alert at a non-finite position");
        } else if constexpr (std::is_same_v<T, DeclineAssignment>) {
          FUZZ_CHECK(b.reason >= DeclineReason::kBusy && b.reason <= DeclineReason::kOther,
                     "decline reason ", static_cast<int>(b.reason));
        } else if constexpr (std::is_same_v<T, UpdateUnit>) {
          FUZZ_CHECK(
              !b.position || (std::isfinite(b.position->lon) && std::isfinite(b.position->lat)),
              "a unit update to a non-finite position");
        } else if constexpr (std::is_same_v<T, ManualAssign>) {
          FUZZ_CHECK(b.role == AssignmentRole::kFrontline || b.role == AssignmentRole::kAssembly,
                     "manual assign role ", static_cast<int>(b.role));
        } else if constexpr (std::is_same_v<T, transport::ListOpenIncidents>) {
          FUZZ_CHECK(b.limit >= 1 && b.limit <= 200, "an incident list limit of ", b.limit);
          FUZZ_CHECK(static_cast<int>(b.min_level) < kLevelCount, "minimum level ",
                     static_cast<int>(b.min_level));
        } else if constexpr (std::is_same_v<T, transport::PositionBatch>) {
          FUZZ_CHECK(!b.positions.empty() && b.positions.size() <= transport::kMaxPositionBatch,
                     "a position batch of ", b.positions.size());
          for (const auto& [unit, position] : b.positions) {
            FUZZ_CHECK(unit != 0, "a position batch naming unit 0");
            FUZZ_CHECK(std::abs(position.lon) <= 180 && std::abs(position.lat) <= 90,
                       "a batch position outside WGS84");
          }
        } else if constexpr (std::is_same_v<T, transport::UnitsNear>) {
          FUZZ_CHECK(b.limit >= 1 && b.limit <= 200, "a units-near limit of ", b.limit);
          FUZZ_CHECK(b.radius_m >= 1 && b.radius_m <= 20'000, "a radius of ", b.radius_m);
          FUZZ_CHECK(std::abs(b.position.lon) <= 180 && std::abs(b.position.lat) <= 90,
                     "a units-near query outside WGS84");
        }
      },
      body);
}

// AsCommand hands out exactly the core commands, as they are.
void CheckAsCommand(const InboundBody& body) {
  const std::optional<CommandBody> command = transport::AsCommand(body);
  std::visit(
      [&command](const auto& b) {
        using T = std::decay_t<decltype(b)>;
        constexpr bool kIsCommand =
            std::is_same_v<T, RaiseAlert> || std::is_same_v<T, AckAssignment> ||
            std::is_same_v<T, DeclineAssignment> || std::is_same_v<T, ReportArrival> ||
            std::is_same_v<T, UpdateUnit> || std::is_same_v<T, ResolveIncident> ||
            std::is_same_v<T, CloseIncident> || std::is_same_v<T, CancelIncident> ||
            std::is_same_v<T, ManualAssign> || std::is_same_v<T, ReleaseAssignment> ||
            std::is_same_v<T, SetUnitStatus>;
        if constexpr (kIsCommand) {
          FUZZ_CHECK(command.has_value(), "AsCommand dropped a core command");
          const T* same = std::get_if<T>(&*command);
          FUZZ_CHECK(same != nullptr && *same == b, "AsCommand changed a core command");
        } else {
          FUZZ_CHECK(!command.has_value(), "AsCommand made a command of a body that is none");
        }
      },
      body);
}

void CheckRefusal(const DecodeError& error, Channel channel, absl::string_view frame, size_t cap) {
  FUZZ_CHECK(error.reason != RejectReason::kUnspecified, "a refusal without a reason");
  FUZZ_CHECK(!error.message.empty() && error.message.size() <= kMaxMessageBytes,
             "a refusal message of ", error.message.size(), " bytes");
  FUZZ_CHECK((error.reason == RejectReason::kMessageTooLarge) == (frame.size() > cap),
             "a frame of ", frame.size(), " bytes under a cap of ", cap, " refused as ",
             Describe(error.reason).code);
  const pb::Envelope env = ParseReply(transport::EncodeDecodeError(channel, error, kHeader));
  if (channel == Channel::kIntake) {
    FUZZ_CHECK(env.has_alert_reply() && env.alert_reply().has_rejected(),
               "an intake refusal is not a rejected AlertReply");
    const pb::AlertReply& reply = env.alert_reply();
    FUZZ_CHECK(reply.reporter_id() == error.reporter_id &&
                   reply.client_sequence() == error.client_sequence,
               "an intake refusal does not quote the alert's key");
    FUZZ_CHECK(static_cast<int>(reply.rejected().reason()) == static_cast<int>(error.reason) &&
                   reply.rejected().message() == error.message,
               "an intake refusal changed its reason or sentence");
  } else {
    FUZZ_CHECK(env.has_command_result() && !env.command_result().ok(),
               "a refusal is not a failed CommandResult");
    const pb::CommandResult& result = env.command_result();
    FUZZ_CHECK(result.in_reply_to_sequence() == error.sequence &&
                   static_cast<int>(result.reason()) == static_cast<int>(error.reason) &&
                   result.message() == error.message,
               "a refusal's CommandResult does not say what the error said");
  }
}

// The reply the server sends for a decoded body, as far as it depends on the frame alone.
void CheckReplies(const Inbound& in, Channel channel) {
  if (const auto* alert = std::get_if<RaiseAlert>(&in.body)) {
    AlertAccepted accepted{alert->reporter_id, alert->client_sequence, 1, false, false};
    const pb::Envelope a = ParseReply(transport::EncodeAlertAccepted(accepted, kHeader));
    FUZZ_CHECK(a.alert_reply().reporter_id() == alert->reporter_id &&
                   a.alert_reply().client_sequence() == alert->client_sequence,
               "an acceptance does not quote the alert's key");
    AlertRejected rejected{alert->reporter_id, alert->client_sequence,
                           RejectReason::kOutsideServiceArea, "Outside.", false};
    const pb::Envelope r = ParseReply(transport::EncodeAlertRejected(rejected, 0, kHeader));
    FUZZ_CHECK(r.alert_reply().reporter_id() == alert->reporter_id,
               "a rejection does not quote the alert's key");
  } else if (std::holds_alternative<transport::Hello>(in.body)) {
    const pb::Envelope w =
        ParseReply(transport::EncodeWelcome(in.sequence, absl::Seconds(2), 0, 1, 1, kHeader));
    FUZZ_CHECK(w.welcome().in_reply_to_sequence() == in.sequence,
               "a Welcome does not answer its Hello");
  } else if (channel != Channel::kIntake) {
    const pb::Envelope c = ParseReply(transport::EncodeCommandResult(
        false, RejectReason::kUnknownIncident, "No incident.", in.sequence, kHeader));
    FUZZ_CHECK(c.command_result().in_reply_to_sequence() == in.sequence,
               "a CommandResult does not answer its command");
  }
}

void CheckDecoded(const Inbound& in, Channel channel, absl::string_view frame, size_t cap) {
  FUZZ_CHECK(frame.size() <= cap, "a frame of ", frame.size(), " bytes decoded under a cap of ",
             cap);
  FUZZ_CHECK(AcceptedOn(in.body, channel), "body ", in.body.index(), " decoded on the ",
             transport::ChannelName(channel), " channel");
  FUZZ_CHECK(in.sender_id.size() <= kMaxIdBytes, "a sender id of ", in.sender_id.size(), " bytes");
  CheckFields(in.body);
  CheckAsCommand(in.body);
  CheckReplies(in, channel);

  // The client's encoding of what was decoded decodes again, to the same thing.
  const std::string again = EncodeInbound(in);
  auto redecoded = transport::Decode(again, channel);
  const auto* in2 = std::get_if<Inbound>(&redecoded);
  FUZZ_CHECK(in2 != nullptr,
             "a re-encoded frame is refused: ", std::get<DecodeError>(redecoded).message);
  FUZZ_CHECK(in2->body.index() == in.body.index() && EncodeInbound(*in2) == again,
             "a re-encoded frame decodes to something else");
}

}  // namespace
}  // namespace gz::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using gz::transport::Channel;
  if (size == 0) return 0;
  const Channel channel = static_cast<Channel>(data[0] % 3);
  const size_t cap = (data[0] & 0x80) ? static_cast<size_t>(data[0] & 0x7f) * 8
                                      : gz::transport::kDefaultMaxFrameBytes;
  const absl::string_view frame(reinterpret_cast<const char*>(data + 1), size - 1);
  auto decoded = gz::transport::Decode(frame, channel, cap);
  if (const auto* error = std::get_if<gz::transport::DecodeError>(&decoded)) {
    gz::fuzz::CheckRefusal(*error, channel, frame, cap);
  } else {
    gz::fuzz::CheckDecoded(std::get<gz::transport::Inbound>(decoded), channel, frame, cap);
  }
  return 0;
}
