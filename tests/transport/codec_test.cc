// Tests of the transport codec: inbound frames decode to validated structs or to a DecodeError with
// the right reason; outbound encoders parse back with the expected fields. Frames are built and
// read with the generated protocol classes, so the tests check the wire format itself.

#include "engine/transport/codec.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "protocol/dispatch.pb.h"
#include "tests/support/grid_world.h"
#include "tests/support/test_seed.h"

namespace gz::transport {
namespace {

namespace pb = ::gz::dispatch::v1;
using testing::EventsOf;
using testing::GridWorld;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- Building inbound frames.

pb::Envelope NewEnvelope() {
  pb::Envelope env;
  env.set_protocol_version(kProtocolVersion);
  env.set_sender_id("console-7");
  env.set_sequence(42);
  env.set_sent_at_unix_us(1'767'225'600'000'000);
  return env;
}

std::string Frame(const pb::Envelope& env) {
  std::string out;
  REQUIRE(env.SerializeToString(&out));
  return out;
}

pb::Envelope AlertEnvelope() {
  pb::Envelope env = NewEnvelope();
  pb::RaiseAlert* alert = env.mutable_raise_alert();
  alert->set_reporter_id("110:000123");
  alert->set_client_sequence(7);
  alert->mutable_position()->set_lon(113.2644);
  alert->mutable_position()->set_lat(23.1291);
  alert->set_category(pb::CATEGORY_FIRE);
  alert->set_level(pb::LEVEL_III_LARGE);
  alert->set_description("smoke from the third floor");
  return env;
}

// Decodes a frame that must decode; returns its body as T.
template <typename T>
T DecodeAs(const pb::Envelope& env, Channel channel) {
  auto result = Decode(Frame(env), channel);
  if (const auto* error = std::get_if<DecodeError>(&result))
    FAIL("decode error: " << error->message);
  const auto* body = std::get_if<T>(&std::get<Inbound>(result).body);
  REQUIRE(body != nullptr);
  return *body;
}

DecodeError DecodeFails(absl::string_view frame, Channel channel,
                        size_t max_frame_bytes = kDefaultMaxFrameBytes) {
  auto result = Decode(frame, channel, max_frame_bytes);
  const auto* error = std::get_if<DecodeError>(&result);
  REQUIRE(error != nullptr);
  CHECK_FALSE(error->message.empty());
  return *error;
}
DecodeError DecodeFails(const pb::Envelope& env, Channel channel) {
  return DecodeFails(Frame(env), channel);
}

// ---- Reading outbound frames.

pb::Envelope Parse(const std::string& frame) {
  pb::Envelope env;
  REQUIRE(env.ParseFromString(frame));
  return env;
}

const Header kHeader{901, absl::FromUnixMicros(1'767'225'612'345'678)};

void CheckHeader(const pb::Envelope& env, uint64_t sequence = kHeader.sequence) {
  CHECK(env.protocol_version() == kProtocolVersion);
  CHECK(env.sender_id() == "dispatchd");
  CHECK(env.sequence() == sequence);
  CHECK(env.sent_at_unix_us() == 1'767'225'612'345'678);
}

IncidentId OpenedIncident(const std::vector<Event>& events) {
  const auto opened = EventsOf<IncidentOpened>(events);
  REQUIRE(opened.size() == 1);
  return opened[0].incident;
}

// =============================================================================================
// Inbound round trips.

TEST_CASE("a raise alert decodes on the intake and operator channels", "[transport][codec]") {
  for (Channel channel : {Channel::kIntake, Channel::kOperator}) {
    INFO(ChannelName(channel));
    const RaiseAlert alert = DecodeAs<RaiseAlert>(AlertEnvelope(), channel);
    CHECK(alert.reporter_id == "110:000123");
    CHECK(alert.client_sequence == 7);
    CHECK(alert.position == LonLat{113.2644, 23.1291});
    CHECK(alert.category == Category::kFire);
    CHECK(alert.level == Level::kIiiLarge);
  }
}

TEST_CASE("the envelope header reaches the inbound struct", "[transport][codec]") {
  auto result = Decode(Frame(AlertEnvelope()), Channel::kIntake);
  const Inbound& in = std::get<Inbound>(result);
  CHECK(in.sender_id == "console-7");
  CHECK(in.sequence == 42);
  CHECK(in.sent_at_unix_us == 1'767'225'600'000'000);
}

TEST_CASE("responder bodies decode on the responder channel", "[transport][codec]") {
  const Channel ch = Channel::kResponder;
  pb::Envelope env = NewEnvelope();

  env.mutable_hello()->set_role(pb::CLIENT_ROLE_RESPONDER);
  env.mutable_hello()->set_unit_id(21345);
  env.mutable_hello()->set_last_delivery_sequence_seen(16);
  const Hello hello = DecodeAs<Hello>(env, ch);
  CHECK(hello.unit == 21345);
  CHECK(hello.last_delivery_sequence_seen == 16);

  env = NewEnvelope();
  env.mutable_heartbeat()->set_last_delivery_sequence_seen(99);
  CHECK(DecodeAs<Heartbeat>(env, ch).last_delivery_sequence_seen == 99);

  env = NewEnvelope();
  env.mutable_ack_assignment()->set_unit_id(5);
  env.mutable_ack_assignment()->set_assignment_id(77);
  CHECK(DecodeAs<AckAssignment>(env, ch) == AckAssignment{5, 77});

  env = NewEnvelope();
  env.mutable_decline_assignment()->set_unit_id(5);
  env.mutable_decline_assignment()->set_assignment_id(78);
  env.mutable_decline_assignment()->set_reason(pb::DECLINE_REASON_TOO_FAR);
  env.mutable_decline_assignment()->set_note("stuck in traffic");
  CHECK(DecodeAs<DeclineAssignment>(env, ch) == DeclineAssignment{5, 78, DeclineReason::kTooFar});

  env = NewEnvelope();
  env.mutable_report_arrival()->set_unit_id(5);
  env.mutable_report_arrival()->set_assignment_id(79);
  env.mutable_report_arrival()->mutable_position()->set_lon(113.3);
  env.mutable_report_arrival()->mutable_position()->set_lat(23.1);
  CHECK(DecodeAs<ReportArrival>(env, ch) == ReportArrival{5, 79});

  env = NewEnvelope();
  env.mutable_delivery_receipt()->set_unit_id(5);
  env.mutable_delivery_receipt()->set_delivery_sequence(17);
  const DeliveryReceipt receipt = DecodeAs<DeliveryReceipt>(env, ch);
  CHECK(receipt.unit == 5);
  CHECK(receipt.delivery_sequence == 17);
}

TEST_CASE("a unit update carries only the fields present", "[transport][codec]") {
  pb::Envelope env = NewEnvelope();
  pb::UnitUpdate* m = env.mutable_unit_update();
  m->set_unit_id(12);
  UpdateUnit update = DecodeAs<UpdateUnit>(env, Channel::kResponder);
  CHECK(update == UpdateUnit{12, std::nullopt, std::nullopt, std::nullopt});

  m->set_status(pb::UNIT_STATUS_OFF_POST);
  m->set_on_post(0);
  m->mutable_position()->set_lon(113.25);
  m->mutable_position()->set_lat(23.125);
  update = DecodeAs<UpdateUnit>(env, Channel::kResponder);
  CHECK(update.status == UnitStatus::kOffPost);
  CHECK(update.on_post == 0);
  CHECK(update.position == LonLat{113.25, 23.125});
}

TEST_CASE("operator commands decode on the operator channel", "[transport][codec]") {
  const Channel ch = Channel::kOperator;
  pb::Envelope env = NewEnvelope();
  env.mutable_manual_assign()->set_incident_id(3);
  env.mutable_manual_assign()->set_unit_id(9);
  env.mutable_manual_assign()->set_role(pb::ASSIGNMENT_ROLE_ASSEMBLY);
  CHECK(DecodeAs<ManualAssign>(env, ch) == ManualAssign{3, 9, AssignmentRole::kAssembly});

  env = NewEnvelope();
  env.mutable_release_assignment()->set_assignment_id(11);
  CHECK(DecodeAs<ReleaseAssignment>(env, ch) == ReleaseAssignment{11});

  env = NewEnvelope();
  env.mutable_cancel_incident()->set_incident_id(4);
  env.mutable_cancel_incident()->set_note("false alarm");
  CHECK(DecodeAs<CancelIncident>(env, ch) == CancelIncident{4});

  env = NewEnvelope();
  env.mutable_resolve_incident()->set_incident_id(5);
  CHECK(DecodeAs<ResolveIncident>(env, ch) == ResolveIncident{5});

  env = NewEnvelope();
  env.mutable_close_incident()->set_incident_id(6);
  CHECK(DecodeAs<CloseIncident>(env, ch) == CloseIncident{6});

  env = NewEnvelope();
  env.mutable_set_unit_status()->set_unit_id(9);
  env.mutable_set_unit_status()->set_status(pb::UNIT_STATUS_OUT_OF_SERVICE);
  CHECK(DecodeAs<SetUnitStatus>(env, ch) == SetUnitStatus{9, UnitStatus::kOutOfService});

  env = NewEnvelope();
  env.mutable_heartbeat();
  CHECK(DecodeAs<Heartbeat>(env, ch).last_delivery_sequence_seen == 0);
}

TEST_CASE("queries decode on the operator channel with defaults for zero limits",
          "[transport][codec]") {
  const Channel ch = Channel::kOperator;
  pb::Envelope env = NewEnvelope();
  env.mutable_feed_snapshot_request();
  DecodeAs<FeedSnapshotRequest>(env, ch);

  env = NewEnvelope();
  env.mutable_get_incident()->set_incident_id(500001);
  CHECK(DecodeAs<GetIncident>(env, ch).incident == 500001);

  env = NewEnvelope();
  env.mutable_list_open_incidents();
  ListOpenIncidents list = DecodeAs<ListOpenIncidents>(env, ch);
  CHECK(list.district == 0);
  CHECK(list.min_level == Level::kUnspecified);
  CHECK(list.limit == 50);
  CHECK(list.before_incident == 0);
  env.mutable_list_open_incidents()->set_district(440103);
  env.mutable_list_open_incidents()->set_min_level(pb::LEVEL_II_MAJOR);
  env.mutable_list_open_incidents()->set_limit(200);
  env.mutable_list_open_incidents()->set_before_incident_id(30);
  list = DecodeAs<ListOpenIncidents>(env, ch);
  CHECK(list.district == 440103);
  CHECK(list.min_level == Level::kIiMajor);
  CHECK(list.limit == 200);
  CHECK(list.before_incident == 30);

  env = NewEnvelope();
  env.mutable_get_unit()->set_unit_id(21345);
  CHECK(DecodeAs<GetUnit>(env, ch).unit == 21345);

  env = NewEnvelope();
  pb::UnitsNear* near = env.mutable_units_near();
  near->mutable_position()->set_lon(113.26);
  near->mutable_position()->set_lat(23.13);
  near->set_radius_m(20'000);
  UnitsNear q = DecodeAs<UnitsNear>(env, ch);
  CHECK(q.position == LonLat{113.26, 23.13});
  CHECK(q.radius_m == 20'000);
  CHECK(q.limit == 20);
  CHECK_FALSE(q.available_only);
  near->set_radius_m(1);
  near->set_limit(200);
  near->set_available_only(true);
  q = DecodeAs<UnitsNear>(env, ch);
  CHECK(q.radius_m == 1);
  CHECK(q.limit == 200);
  CHECK(q.available_only);

  env = NewEnvelope();
  env.mutable_get_stats();
  DecodeAs<GetStats>(env, ch);
}

TEST_CASE("as command returns core commands and nothing for other bodies", "[transport][codec]") {
  const RaiseAlert alert{"r", 1, LonLat{113.2, 23.1}, Category::kFire, Level::kIvGeneral};
  const std::optional<CommandBody> command = AsCommand(InboundBody(alert));
  REQUIRE(command.has_value());
  CHECK(std::get<RaiseAlert>(*command) == alert);
  CHECK(AsCommand(InboundBody(SetUnitStatus{3, UnitStatus::kOffPost})).has_value());
  UpdateUnit update;
  update.unit = 3;
  CHECK(AsCommand(InboundBody(update)).has_value());
  CHECK_FALSE(AsCommand(InboundBody(Hello{3, 0})).has_value());
  CHECK_FALSE(AsCommand(InboundBody(Heartbeat{})).has_value());
  CHECK_FALSE(AsCommand(InboundBody(GetStats{})).has_value());
  CHECK_FALSE(AsCommand(InboundBody(UnitsNear{})).has_value());
}

// =============================================================================================
// Every DecodeError reason.

TEST_CASE("an oversized frame is refused before parsing", "[transport][codec][errors]") {
  // Garbage that would fail to parse: the size check must come first.
  const std::string big(kDefaultMaxFrameBytes + 1, '\xff');
  CHECK(DecodeFails(big, Channel::kIntake).reason == RejectReason::kMessageTooLarge);

  const std::string frame = Frame(AlertEnvelope());
  const DecodeError error = DecodeFails(frame, Channel::kIntake, frame.size() - 1);
  CHECK(error.reason == RejectReason::kMessageTooLarge);
  CHECK(error.sequence == 0);  // never parsed
  // Exactly at the cap is accepted.
  CHECK(std::holds_alternative<Inbound>(Decode(frame, Channel::kIntake, frame.size())));
}

TEST_CASE("garbage bytes and truncated frames are malformed", "[transport][codec][errors]") {
  CHECK(DecodeFails("\xff\xff\xff\xff\xff", Channel::kIntake).reason ==
        RejectReason::kMalformedMessage);
  CHECK(DecodeFails("hello, dispatch", Channel::kOperator).reason ==
        RejectReason::kMalformedMessage);

  // The body is the last field written, so cutting any byte off leaves it short of its length.
  const std::string frame = Frame(AlertEnvelope());
  for (size_t cut = 1; cut <= 5; ++cut) {
    INFO("cut " << cut);
    CHECK(DecodeFails(frame.substr(0, frame.size() - cut), Channel::kIntake).reason ==
          RejectReason::kMalformedMessage);
  }

  // Invalid UTF-8 in a string fails the parse too (and protobuf's log stays quiet).
  pb::Envelope env = AlertEnvelope();
  env.mutable_raise_alert()->set_reporter_id("\xc3\x28 bad");
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kMalformedMessage);
}

TEST_CASE("a wrong or unset protocol version is unsupported", "[transport][codec][errors]") {
  pb::Envelope env = AlertEnvelope();
  env.set_protocol_version(2);
  DecodeError error = DecodeFails(env, Channel::kIntake);
  CHECK(error.reason == RejectReason::kUnsupportedVersion);
  CHECK(error.sequence == 42);
  CHECK(error.reporter_id == "110:000123");  // the reply can still quote the key
  CHECK(error.client_sequence == 7);

  env.clear_protocol_version();
  error = DecodeFails(env, Channel::kIntake);
  CHECK(error.reason == RejectReason::kUnsupportedVersion);
  CHECK_THAT(error.message, Catch::Contains("not set"));
}

TEST_CASE("a body not allowed on a channel is an unknown message type",
          "[transport][codec][errors]") {
  DecodeError error = DecodeFails(AlertEnvelope(), Channel::kResponder);
  CHECK(error.reason == RejectReason::kUnknownMessageType);
  CHECK_THAT(error.message, Catch::Contains("RaiseAlert") && Catch::Contains("responder"));

  pb::Envelope env = NewEnvelope();
  env.mutable_ack_assignment()->set_unit_id(1);
  error = DecodeFails(env, Channel::kIntake);
  CHECK(error.reason == RejectReason::kUnknownMessageType);
  CHECK_THAT(error.message, Catch::Contains("AckAssignment") && Catch::Contains("intake"));
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kUnknownMessageType);

  env = NewEnvelope();
  env.mutable_hello()->set_unit_id(1);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kUnknownMessageType);

  env = NewEnvelope();
  env.mutable_get_stats();
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kUnknownMessageType);

  // Bodies the engine sends are never accepted inbound.
  env = NewEnvelope();
  env.mutable_welcome();
  for (Channel ch : {Channel::kIntake, Channel::kResponder, Channel::kOperator}) {
    CHECK(DecodeFails(env, ch).reason == RejectReason::kUnknownMessageType);
  }
}

TEST_CASE("an envelope without a known body is an unknown message type",
          "[transport][codec][errors]") {
  std::string frame = Frame(NewEnvelope());
  CHECK(DecodeFails(frame, Channel::kOperator).reason == RejectReason::kUnknownMessageType);
  // A body from a newer schema (tag 99, length-delimited) parses as an unknown field.
  frame += std::string("\x9a\x06\x02\x08\x01", 5);
  const DecodeError error = DecodeFails(frame, Channel::kOperator);
  CHECK(error.reason == RejectReason::kUnknownMessageType);
  CHECK(error.sequence == 42);
}

TEST_CASE("non-finite or missing coordinates are invalid coordinates",
          "[transport][codec][errors]") {
  pb::Envelope env = AlertEnvelope();
  env.mutable_raise_alert()->mutable_position()->set_lon(kNaN);
  DecodeError error = DecodeFails(env, Channel::kIntake);
  CHECK(error.reason == RejectReason::kInvalidCoordinates);
  CHECK(error.reporter_id == "110:000123");
  CHECK(error.client_sequence == 7);

  env = AlertEnvelope();
  env.mutable_raise_alert()->mutable_position()->set_lat(-kInf);
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kInvalidCoordinates);
  env.mutable_raise_alert()->clear_position();
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kInvalidCoordinates);

  env = NewEnvelope();
  env.mutable_unit_update()->set_unit_id(3);
  env.mutable_unit_update()->mutable_position()->set_lat(kNaN);
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidCoordinates);

  env = NewEnvelope();
  env.mutable_report_arrival()->set_unit_id(3);
  env.mutable_report_arrival()->mutable_position()->set_lon(kInf);
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidCoordinates);

  env = NewEnvelope();
  env.mutable_units_near()->set_radius_m(100);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidCoordinates);
  env.mutable_units_near()->mutable_position()->set_lon(kNaN);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidCoordinates);
  env.mutable_units_near()->mutable_position()->set_lon(190);  // no core behind a query: range too
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidCoordinates);
}

TEST_CASE("finite coordinates out of range go to the core which rejects them",
          "[transport][codec]") {
  pb::Envelope env = AlertEnvelope();
  env.mutable_raise_alert()->mutable_position()->set_lat(95);
  const RaiseAlert alert = DecodeAs<RaiseAlert>(env, Channel::kIntake);
  GridWorld world({"..*AB"});
  const auto rejected = EventsOf<AlertRejected>(world.Apply(absl::Seconds(1), alert));
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kInvalidCoordinates);
}

TEST_CASE("over-long strings are invalid values", "[transport][codec][errors]") {
  pb::Envelope env = AlertEnvelope();
  env.mutable_raise_alert()->set_reporter_id(std::string(64, 'r'));
  env.mutable_raise_alert()->set_description(std::string(500, 'd'));
  env.set_sender_id(std::string(64, 's'));
  DecodeAs<RaiseAlert>(env, Channel::kIntake);  // exactly at the caps

  pb::Envelope bad = env;
  bad.mutable_raise_alert()->set_reporter_id(std::string(65, 'r'));
  DecodeError error = DecodeFails(bad, Channel::kIntake);
  CHECK(error.reason == RejectReason::kInvalidValue);
  CHECK_THAT(error.message, Catch::Contains("reporter id"));

  bad = env;
  bad.mutable_raise_alert()->set_description(std::string(501, 'd'));
  error = DecodeFails(bad, Channel::kIntake);
  CHECK(error.reason == RejectReason::kInvalidValue);
  CHECK(error.client_sequence == 7);
  CHECK_THAT(error.message, Catch::Contains("description"));

  bad = env;
  bad.set_sender_id(std::string(65, 's'));
  CHECK(DecodeFails(bad, Channel::kIntake).reason == RejectReason::kInvalidValue);

  pb::Envelope decline = NewEnvelope();
  decline.mutable_decline_assignment()->set_unit_id(1);
  decline.mutable_decline_assignment()->set_reason(pb::DECLINE_REASON_OTHER);
  decline.mutable_decline_assignment()->set_note(std::string(200, 'n'));
  DecodeAs<DeclineAssignment>(decline, Channel::kResponder);
  decline.mutable_decline_assignment()->set_note(std::string(201, 'n'));
  CHECK(DecodeFails(decline, Channel::kResponder).reason == RejectReason::kInvalidValue);

  pb::Envelope cancel = NewEnvelope();
  cancel.mutable_cancel_incident()->set_incident_id(1);
  cancel.mutable_cancel_incident()->set_note(std::string(201, 'n'));
  CHECK(DecodeFails(cancel, Channel::kOperator).reason == RejectReason::kInvalidValue);
}

TEST_CASE("missing keys zero unit ids and out of range arguments are invalid values",
          "[transport][codec][errors]") {
  pb::Envelope env = AlertEnvelope();
  env.mutable_raise_alert()->clear_reporter_id();
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kInvalidValue);
  env = AlertEnvelope();
  env.mutable_raise_alert()->set_client_sequence(0);
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  env.mutable_ack_assignment()->set_assignment_id(3);
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidValue);
  env = NewEnvelope();
  env.mutable_hello()->set_role(pb::CLIENT_ROLE_RESPONDER);
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidValue);
  env = NewEnvelope();
  env.mutable_get_unit();
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  pb::UnitsNear* near = env.mutable_units_near();
  near->mutable_position()->set_lon(113.26);
  near->mutable_position()->set_lat(23.13);
  near->set_radius_m(0);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);
  near->set_radius_m(20'001);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);
  near->set_radius_m(500);
  near->set_limit(201);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  env.mutable_list_open_incidents()->set_limit(201);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);
}

TEST_CASE("a decline without a reason is an invalid value", "[transport][codec][errors]") {
  pb::Envelope env = NewEnvelope();
  env.mutable_decline_assignment()->set_unit_id(4);
  env.mutable_decline_assignment()->set_assignment_id(8);
  const DecodeError error = DecodeFails(env, Channel::kResponder);
  CHECK(error.reason == RejectReason::kInvalidValue);
  CHECK_THAT(error.message, Catch::Contains("Decline reason"));
}

TEST_CASE("unknown enum values are refused where the codec owns them",
          "[transport][codec][errors]") {
  pb::Envelope env = NewEnvelope();
  env.mutable_decline_assignment()->set_unit_id(4);
  env.mutable_decline_assignment()->set_reason(static_cast<pb::DeclineReason>(9));
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  env.mutable_unit_update()->set_unit_id(4);
  env.mutable_unit_update()->set_status(static_cast<pb::UnitStatus>(7));
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidValue);
  env.mutable_unit_update()->set_status(pb::UNIT_STATUS_UNSPECIFIED);  // present but unspecified
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  env.mutable_set_unit_status()->set_unit_id(4);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);
  env.mutable_set_unit_status()->set_status(static_cast<pb::UnitStatus>(5));
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  env.mutable_manual_assign()->set_incident_id(1);
  env.mutable_manual_assign()->set_unit_id(4);
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);
  env.mutable_manual_assign()->set_role(static_cast<pb::AssignmentRole>(3));
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidValue);

  env = NewEnvelope();
  env.mutable_list_open_incidents()->set_min_level(static_cast<pb::Level>(5));
  CHECK(DecodeFails(env, Channel::kOperator).reason == RejectReason::kInvalidLevel);

  env = NewEnvelope();
  env.mutable_hello()->set_unit_id(4);
  env.mutable_hello()->set_role(pb::CLIENT_ROLE_OPERATOR);
  CHECK(DecodeFails(env, Channel::kResponder).reason == RejectReason::kInvalidValue);
}

TEST_CASE("alert category and level pass through for the core to judge", "[transport][codec]") {
  GridWorld world({"..*AB"});
  pb::Envelope env = AlertEnvelope();
  env.mutable_raise_alert()->set_category(static_cast<pb::Category>(99));
  RaiseAlert alert = DecodeAs<RaiseAlert>(env, Channel::kIntake);
  CHECK(static_cast<int>(alert.category) == 99);
  alert.position = world.alert_point();
  auto rejected = EventsOf<AlertRejected>(world.Apply(absl::Seconds(1), alert));
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kUnknownCategory);

  env = AlertEnvelope();
  env.mutable_raise_alert()->set_client_sequence(8);
  env.mutable_raise_alert()->clear_level();
  alert = DecodeAs<RaiseAlert>(env, Channel::kIntake);
  CHECK(alert.level == Level::kUnspecified);
  alert.position = world.alert_point();
  rejected = EventsOf<AlertRejected>(world.Apply(absl::Seconds(2), alert));
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kInvalidLevel);

  // Values the engine's 8-bit enums cannot hold are refused by the codec, with the same reasons.
  env = AlertEnvelope();
  env.mutable_raise_alert()->set_category(static_cast<pb::Category>(257));
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kUnknownCategory);
  env = AlertEnvelope();
  env.mutable_raise_alert()->set_level(static_cast<pb::Level>(-1));
  CHECK(DecodeFails(env, Channel::kIntake).reason == RejectReason::kInvalidLevel);
}

// =============================================================================================
// Enum mappings.

TEST_CASE("unit status is off by one on the wire", "[transport][codec][enums]") {
  const std::vector<std::pair<pb::UnitStatus, UnitStatus>> pairs{
      {pb::UNIT_STATUS_AVAILABLE, UnitStatus::kAvailable},
      {pb::UNIT_STATUS_ASSIGNED, UnitStatus::kAssigned},
      {pb::UNIT_STATUS_OFF_POST, UnitStatus::kOffPost},
      {pb::UNIT_STATUS_OUT_OF_SERVICE, UnitStatus::kOutOfService},
  };
  for (const auto& [wire, domain] : pairs) {
    INFO("wire " << wire);
    pb::Envelope env = NewEnvelope();
    env.mutable_unit_update()->set_unit_id(1);
    env.mutable_unit_update()->set_status(wire);
    CHECK(DecodeAs<UpdateUnit>(env, Channel::kResponder).status == domain);
    env = NewEnvelope();
    env.mutable_set_unit_status()->set_unit_id(1);
    env.mutable_set_unit_status()->set_status(wire);
    CHECK(DecodeAs<SetUnitStatus>(env, Channel::kOperator).status == domain);
  }
}

TEST_CASE("travel mode and unit status are off by one in unit replies",
          "[transport][codec][enums]") {
  GridWorld world({"A.*.b"});
  const DispatchCore& core = world.core();
  const Slot a = *core.units().SlotOf(world.unit('A'));
  const Slot b = *core.units().SlotOf(world.unit('b'));

  pb::Envelope env = Parse(EncodeUnitDetail(core, b, 5, kHeader));
  CheckHeader(env);
  REQUIRE(env.has_unit_detail());
  CHECK(env.unit_detail().in_reply_to_sequence() == 5);
  const pb::UnitInfo& info = env.unit_detail().unit();
  CHECK(info.unit_id() == world.unit('b'));
  CHECK(info.name() == "b");
  CHECK(info.kind() == pb::UNIT_KIND_SHOP);
  CHECK(info.travel_mode() == pb::TRAVEL_MODE_BICYCLE);
  CHECK(info.status() == pb::UNIT_STATUS_AVAILABLE);
  CHECK(info.district() == 440100);
  CHECK(info.members() == 10);
  CHECK(info.on_post() == 2);
  CHECK(info.assignment_id() == 0);

  const IncidentId incident = OpenedIncident(world.RaiseAlertAtStar());
  env = Parse(EncodeUnitDetail(core, a, 6, kHeader));
  CHECK(env.unit_detail().unit().travel_mode() == pb::TRAVEL_MODE_ON_FOOT);
  CHECK(env.unit_detail().unit().status() == pb::UNIT_STATUS_ASSIGNED);
  CHECK(env.unit_detail().unit().assignment_id() == world.AssignmentOf('A'));
  CHECK(env.unit_detail().unit().incident_id() == incident);
}

// =============================================================================================
// Replies.

TEST_CASE("alert replies quote the idempotency key", "[transport][codec][replies]") {
  pb::Envelope env =
      Parse(EncodeAlertAccepted(AlertAccepted{"110:1", 7, 500001, true, true}, kHeader));
  CheckHeader(env);
  REQUIRE(env.has_alert_reply());
  CHECK(env.alert_reply().reporter_id() == "110:1");
  CHECK(env.alert_reply().client_sequence() == 7);
  REQUIRE(env.alert_reply().has_accepted());
  CHECK(env.alert_reply().accepted().incident_id() == 500001);
  CHECK(env.alert_reply().accepted().merged());
  CHECK(env.alert_reply().accepted().duplicate());

  const AlertRejected rejected{"110:2", 8, RejectReason::kBusy, "The engine is busy.", false};
  env = Parse(EncodeAlertRejected(rejected, 250, kHeader));
  REQUIRE(env.alert_reply().has_rejected());
  CHECK(env.alert_reply().reporter_id() == "110:2");
  CHECK(env.alert_reply().client_sequence() == 8);
  CHECK(env.alert_reply().rejected().reason() == pb::REJECT_REASON_BUSY);
  CHECK(env.alert_reply().rejected().message() == "The engine is busy.");
  CHECK(env.alert_reply().rejected().retry_after_ms() == 250);
}

TEST_CASE("decode errors are answered on their channel", "[transport][codec][replies]") {
  pb::Envelope bad = AlertEnvelope();
  bad.mutable_raise_alert()->set_description(std::string(600, 'x'));
  const DecodeError error = DecodeFails(bad, Channel::kIntake);

  pb::Envelope env = Parse(EncodeDecodeError(Channel::kIntake, error, kHeader));
  CheckHeader(env);
  REQUIRE(env.alert_reply().has_rejected());
  CHECK(env.alert_reply().reporter_id() == "110:000123");
  CHECK(env.alert_reply().client_sequence() == 7);
  CHECK(env.alert_reply().rejected().reason() == pb::REJECT_REASON_INVALID_VALUE);
  CHECK(env.alert_reply().rejected().message() == error.message);

  env = Parse(EncodeDecodeError(Channel::kOperator, error, kHeader));
  REQUIRE(env.has_command_result());
  CHECK_FALSE(env.command_result().ok());
  CHECK(env.command_result().reason() == pb::REJECT_REASON_INVALID_VALUE);
  CHECK(env.command_result().in_reply_to_sequence() == 42);

  const DecodeError garbage = DecodeFails("\xff\xff", Channel::kResponder);
  env = Parse(EncodeDecodeError(Channel::kResponder, garbage, kHeader));
  CHECK(env.command_result().reason() == pb::REJECT_REASON_MALFORMED_MESSAGE);
  CHECK(env.command_result().in_reply_to_sequence() == 0);
}

// Found by fuzz_codec: a reporter id just under the frame cap was quoted whole in the refusal,
// which then went over the cap itself, and the client dropped it unread.
TEST_CASE("the refusal of an over-long reporter id fits the frame cap",
          "[transport][codec][replies]") {
  pb::Envelope bad = AlertEnvelope();
  bad.mutable_raise_alert()->set_reporter_id(std::string(kDefaultMaxFrameBytes - 200, 'r'));
  const std::string frame = Frame(bad);
  REQUIRE(frame.size() <= kDefaultMaxFrameBytes);
  const DecodeError error = DecodeFails(frame, Channel::kIntake);
  CHECK(error.reason == RejectReason::kInvalidValue);
  CHECK(error.reporter_id.empty());
  CHECK(error.client_sequence == 7);
  CHECK(EncodeDecodeError(Channel::kIntake, error, kHeader).size() <= kDefaultMaxFrameBytes);
}

TEST_CASE("command results welcomes and heartbeats carry their fields",
          "[transport][codec][replies]") {
  pb::Envelope env = Parse(EncodeCommandResult(true, RejectReason::kUnspecified, "", 12, kHeader));
  CheckHeader(env);
  CHECK(env.command_result().ok());
  CHECK(env.command_result().reason() == pb::REJECT_REASON_UNSPECIFIED);
  CHECK(env.command_result().in_reply_to_sequence() == 12);

  // Human messages are capped at 200 bytes, cut on a UTF-8 character boundary.
  std::string long_message;
  for (int i = 0; i < 100; ++i) long_message += "单元";  // 3 bytes each
  env = Parse(EncodeCommandResult(false, RejectReason::kNotAssigned, long_message, 13, kHeader));
  CHECK_FALSE(env.command_result().ok());
  CHECK(env.command_result().reason() == pb::REJECT_REASON_NOT_ASSIGNED);
  CHECK(env.command_result().message().size() == 198);
  CHECK(long_message.compare(0, 198, env.command_result().message()) == 0);

  env = Parse(EncodeWelcome(3, absl::Seconds(5), 17, 12, 0xfeedull, kHeader));
  REQUIRE(env.has_welcome());
  CHECK(env.welcome().in_reply_to_sequence() == 3);
  CHECK(env.welcome().heartbeat_interval_ms() == 5000);
  CHECK(env.welcome().last_delivery_sequence_sent() == 17);
  CHECK(env.welcome().resend_from_delivery_sequence() == 12);
  CHECK(env.welcome().engine_incarnation() == 0xfeedull);

  env = Parse(EncodeHeartbeat(17, kHeader));
  REQUIRE(env.has_heartbeat());
  CHECK(env.heartbeat().last_delivery_sequence_sent() == 17);
}

TEST_CASE("responder deliveries carry the incident and the delivery sequence",
          "[transport][codec][replies]") {
  GridWorld world({"A.*.B"});
  const auto events =
      world.RaiseAlertAtStar(absl::ZeroDuration(), Category::kMedical, Level::kIiMajor);
  const auto issued = EventsOf<AssignmentIssued>(events);
  REQUIRE(issued.size() == 2);
  const Incident& incident = *world.core().FindIncident(issued[0].incident);

  pb::Envelope env = Parse(EncodeAssignment(issued[0], incident, 17, kHeader));
  CheckHeader(env);
  REQUIRE(env.has_assignment());
  const pb::Assignment& a = env.assignment();
  CHECK(a.assignment_id() == issued[0].assignment);
  CHECK(a.incident_id() == incident.id);
  CHECK(a.unit_id() == issued[0].unit);
  CHECK(a.role() == pb::ASSIGNMENT_ROLE_FRONTLINE);
  CHECK(a.position().lon() == incident.position.lon);
  CHECK(a.position().lat() == incident.position.lat);
  CHECK(a.category() == pb::CATEGORY_MEDICAL);
  CHECK(a.level() == pb::LEVEL_II_MAJOR);
  CHECK(a.eta_seconds() == 40);  // 40 m on foot at 1 m/s
  CHECK(a.ring_seconds() == 60);
  CHECK(a.ack_deadline_unix_us() == absl::ToUnixMicros(world.start() + absl::Seconds(30)));
  CHECK(a.delivery_sequence() == 17);

  env = Parse(EncodeAssignmentReleased(3, 9, CascadeReason::kAckTimeout, 18, kHeader));
  REQUIRE(env.has_assignment_released());
  CHECK(env.assignment_released().unit_id() == 3);
  CHECK(env.assignment_released().assignment_id() == 9);
  CHECK(env.assignment_released().reason() == pb::CASCADE_REASON_ACK_TIMEOUT);
  CHECK(env.assignment_released().delivery_sequence() == 18);

  env = Parse(EncodeAreaBroadcast(2, 5, "assemble at the north gate", 19, kHeader));
  REQUIRE(env.has_area_broadcast());
  CHECK(env.area_broadcast().zone_id() == 2);
  CHECK(env.area_broadcast().incident_id() == 5);
  CHECK(env.area_broadcast().text() == "assemble at the north gate");
  CHECK(env.area_broadcast().delivery_sequence() == 19);
}

// =============================================================================================
// Feed.

TEST_CASE("every feed event alternative encodes with its detail", "[transport][codec][feed]") {
  GridWorld world({"A.*.B"});
  const auto opened = world.RaiseAlertAtStar();
  const IncidentId id = OpenedIncident(opened);
  const AssignmentIssued issued = EventsOf<AssignmentIssued>(opened).at(0);
  const absl::Time at = world.start() + absl::Seconds(3);
  using D = pb::IncidentEvent::DetailCase;

  struct Case {
    EventBody body;
    D detail;
    IncidentId incident;
  };
  const std::vector<Case> cases{
      {AlertRejected{"r", 4, RejectReason::kOutsideServiceArea, "far", false},
       pb::IncidentEvent::kAlertRejected, 0},
      {IncidentOpened{id, world.alert_point(), Category::kFire, Level::kIvGeneral, 440100, 1},
       pb::IncidentEvent::kIncidentOpened, id},
      {IncidentMerged{id, 2, Level::kIiiLarge}, pb::IncidentEvent::kIncidentMerged, id},
      {issued, pb::IncidentEvent::kAssignmentIssued, id},
      {AssignmentAcked{issued.assignment, id, issued.unit}, pb::IncidentEvent::kAssignmentAcked,
       id},
      {AssignmentDeclined{issued.assignment, id, issued.unit, DeclineReason::kUnsafe},
       pb::IncidentEvent::kAssignmentDeclined, id},
      {AssignmentExpired{issued.assignment, id, issued.unit, CascadeReason::kArrivalTimeout},
       pb::IncidentEvent::kAssignmentExpired, id},
      {AssignmentReleased{issued.assignment, id, issued.unit, CascadeReason::kIncidentEnded},
       pb::IncidentEvent::kAssignmentReleased, id},
      {UnitArrived{issued.assignment, id, issued.unit}, pb::IncidentEvent::kUnitArrived, id},
      {RingWidened{id, AssignmentRole::kAssembly, absl::Minutes(1), absl::Minutes(3)},
       pb::IncidentEvent::kRingWidened, id},
      {EscalationNotified{id, NotifyTarget::kDistrictCentre, "why"},
       pb::IncidentEvent::kEscalationNotified, id},
      {IncidentStateChanged{id, IncidentState::kDispatched, IncidentState::kAcknowledged},
       pb::IncidentEvent::kStateChanged, id},
      {AssemblyComplete{id, 6}, pb::IncidentEvent::kAssemblyComplete, id},
      {IncidentShort{id, 2, 1, 8, 4}, pb::IncidentEvent::kIncidentShort, id},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    INFO("case " << i);
    const std::string frame =
        EncodeFeedEvent(Event{at, cases[i].body}, 100 + i, world.core(), kHeader);
    pb::Envelope env = Parse(frame);
    CheckHeader(env);
    REQUIRE(env.has_incident_event());
    const pb::IncidentEvent& e = env.incident_event();
    CHECK(e.event_sequence() == 100 + i);
    CHECK(e.at_unix_us() == absl::ToUnixMicros(at));
    CHECK(e.incident_id() == cases[i].incident);
    CHECK(e.detail_case() == cases[i].detail);
  }

  // Spot checks of the details.
  auto encode = [&](EventBody body) {
    return Parse(EncodeFeedEvent(Event{at, std::move(body)}, 1, world.core(), kHeader))
        .incident_event();
  };
  pb::IncidentEvent e = encode(cases[0].body);
  CHECK(e.alert_rejected().reporter_id() == "r");
  CHECK(e.alert_rejected().client_sequence() == 4);
  CHECK(e.alert_rejected().reason() == pb::REJECT_REASON_OUTSIDE_SERVICE_AREA);
  CHECK(e.alert_rejected().message() == "far");
  e = encode(cases[1].body);
  CHECK(e.incident_opened().category() == pb::CATEGORY_FIRE);
  CHECK(e.incident_opened().level() == pb::LEVEL_IV_GENERAL);
  CHECK(e.incident_opened().district() == 440100);
  CHECK(e.incident_opened().zone_id() == 1);
  CHECK(e.incident_opened().reports() == 1);
  e = encode(cases[2].body);
  CHECK(e.incident_merged().reports() == 2);
  CHECK(e.incident_merged().level() == pb::LEVEL_III_LARGE);
  e = encode(cases[3].body);
  CHECK(e.assignment_issued().assignment().assignment_id() == issued.assignment);
  CHECK(e.assignment_issued().assignment().unit_id() == issued.unit);
  CHECK(e.assignment_issued().assignment().category() == pb::CATEGORY_FIRE);
  CHECK(e.assignment_issued().assignment().delivery_sequence() == 0);
  CHECK(encode(cases[5].body).assignment_declined().reason() == pb::DECLINE_REASON_UNSAFE);
  CHECK(encode(cases[6].body).assignment_expired().reason() == pb::CASCADE_REASON_ARRIVAL_TIMEOUT);
  CHECK(encode(cases[7].body).assignment_released().reason() == pb::CASCADE_REASON_INCIDENT_ENDED);
  e = encode(cases[9].body);
  CHECK(e.ring_widened().role() == pb::ASSIGNMENT_ROLE_ASSEMBLY);
  CHECK(e.ring_widened().from_seconds() == 60);
  CHECK(e.ring_widened().to_seconds() == 180);
  CHECK(encode(cases[10].body).escalation_notified().target() == pb::NOTIFY_TARGET_DISTRICT_CENTRE);
  e = encode(cases[11].body);
  CHECK(e.state_changed().from_state() == pb::INCIDENT_STATE_DISPATCHED);
  CHECK(e.state_changed().to_state() == pb::INCIDENT_STATE_ACKNOWLEDGED);
  CHECK(encode(cases[12].body).assembly_complete().headcount() == 6);
  e = encode(cases[13].body);
  CHECK(e.incident_short().headcount_needed() == 8);
  CHECK(e.incident_short().headcount_assigned() == 4);

  // Replies are not feed events.
  CHECK(
      EncodeFeedEvent(Event{at, AlertAccepted{"r", 1, id, false, false}}, 1, world.core(), kHeader)
          .empty());
  CHECK(EncodeFeedEvent(Event{at, CommandRejected{RejectReason::kUnknownUnit, "no", 9, 0, 0}}, 1,
                        world.core(), kHeader)
            .empty());
}

TEST_CASE("the events of a whole scenario encode for the feed", "[transport][codec][feed]") {
  GridWorld world({"A.*.B.C"});
  world.RaiseAlertAtStar();
  world.Apply(absl::Seconds(2), AckAssignment{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(3),
              DeclineAssignment{world.unit('B'), world.AssignmentOf('B'), DeclineReason::kBusy});
  world.Apply(absl::Seconds(40), ReportArrival{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(50), AckAssignment{99, 1});  // refused
  uint64_t sequence = 0;
  for (const Event& e : world.events()) {
    const bool reply = std::holds_alternative<AlertAccepted>(e.body) ||
                       std::holds_alternative<CommandRejected>(e.body);
    const std::string frame = EncodeFeedEvent(e, sequence + 1, world.core(), kHeader);
    CHECK(frame.empty() == reply);
    if (reply) continue;
    ++sequence;
    CHECK(Parse(frame).incident_event().event_sequence() == sequence);
  }
  CHECK(sequence >= 8);
}

GridWorld ThreeIncidentWorld() {
  GridWorld world({
      "AB.C..",
      "E.*.F.",
      "G.H..I",
  });
  world.RaiseAlertAtStar(absl::ZeroDuration(), Category::kFire, Level::kIvGeneral);
  world.RaiseAlertAtStar(absl::Seconds(1), Category::kMedical, Level::kIiMajor);
  world.RaiseAlertAtStar(absl::Seconds(2), Category::kTraffic, Level::kIiiLarge);
  return world;
}

TEST_CASE("the feed snapshot lists open incidents with their live assignments",
          "[transport][codec][feed]") {
  GridWorld world = ThreeIncidentWorld();
  const DispatchCore& core = world.core();
  REQUIRE(core.open_incidents().size() == 3);
  const IncidentId first = *core.open_incidents().begin();
  const Assignment* a = core.FindAssignment(core.FindIncident(first)->assignments.at(0));
  world.Apply(absl::Seconds(5), AckAssignment{a->unit, a->id});

  const std::vector<std::string> parts = EncodeFeedSnapshot(core, 77, 31, kHeader);
  REQUIRE(parts.size() == 1);
  pb::Envelope env = Parse(parts[0]);
  CheckHeader(env);
  const pb::FeedSnapshot& s = env.feed_snapshot();
  CHECK(s.in_reply_to_sequence() == 31);
  CHECK(s.as_of_event_sequence() == 77);
  CHECK(s.part() == 0);
  CHECK(s.last());
  REQUIRE(s.incidents_size() == 3);
  const pb::IncidentSummary& row = s.incidents(0);
  CHECK(row.incident_id() == first);
  CHECK(row.state() == pb::INCIDENT_STATE_ACKNOWLEDGED);
  CHECK(row.category() == pb::CATEGORY_FIRE);
  CHECK(row.level() == pb::LEVEL_IV_GENERAL);
  CHECK(row.district() == 440100);
  CHECK(row.reports() == 1);
  CHECK(row.opened_at_unix_us() == absl::ToUnixMicros(world.start()));
  CHECK(row.state_since_unix_us() == absl::ToUnixMicros(world.start() + absl::Seconds(5)));
  REQUIRE(row.assignments_size() == 2);
  CHECK(row.headcount_assigned() == 4);
  CHECK(row.assignments(0).assignment_id() == a->id);
  CHECK(row.assignments(0).unit_id() == a->unit);
  CHECK(row.assignments(0).state() == pb::ASSIGNMENT_STATE_ACKNOWLEDGED);
  CHECK(row.assignments(0).role() == pb::ASSIGNMENT_ROLE_FRONTLINE);
  CHECK(row.assignments(0).headcount() == 2);
  CHECK(row.assignments(1).state() == pb::ASSIGNMENT_STATE_OFFERED);
  CHECK(s.incidents(1).category() == pb::CATEGORY_MEDICAL);
  CHECK(s.incidents(2).category() == pb::CATEGORY_TRAFFIC);

  // A resolved incident leaves the snapshot.
  world.Apply(absl::Seconds(6), ResolveIncident{first});
  env = Parse(EncodeFeedSnapshot(core, 80, 32, kHeader).at(0));
  CHECK(env.feed_snapshot().incidents_size() == 2);
}

TEST_CASE("a small part size splits the snapshot into several parts", "[transport][codec][feed]") {
  GridWorld world = ThreeIncidentWorld();
  const size_t whole = EncodeFeedSnapshot(world.core(), 9, 1, kHeader).at(0).size();
  const size_t max_part_bytes = whole / 2;
  const std::vector<std::string> parts =
      EncodeFeedSnapshot(world.core(), 9, 1, kHeader, max_part_bytes);
  REQUIRE(parts.size() >= 2);
  std::vector<IncidentId> listed;
  for (size_t i = 0; i < parts.size(); ++i) {
    INFO("part " << i);
    CHECK(parts[i].size() <= max_part_bytes);
    const pb::Envelope env = Parse(parts[i]);
    CheckHeader(env, kHeader.sequence + i);  // one envelope sequence per frame
    const pb::FeedSnapshot& s = env.feed_snapshot();
    CHECK(s.part() == i);
    CHECK(s.last() == (i + 1 == parts.size()));
    CHECK(s.as_of_event_sequence() == 9);
    CHECK(s.in_reply_to_sequence() == 1);
    CHECK(s.incidents_size() >= 1);
    for (const pb::IncidentSummary& row : s.incidents()) listed.push_back(row.incident_id());
  }
  CHECK(listed == std::vector<IncidentId>(world.core().open_incidents().begin(),
                                          world.core().open_incidents().end()));

  // Smaller than one row: one incident per part, still all of them.
  CHECK(EncodeFeedSnapshot(world.core(), 9, 1, kHeader, 10).size() == 3);
}

TEST_CASE("an empty snapshot is one last part", "[transport][codec][feed]") {
  GridWorld world({"A.*.B"});
  const std::vector<std::string> parts = EncodeFeedSnapshot(world.core(), 0, 4, kHeader);
  REQUIRE(parts.size() == 1);
  const pb::Envelope env = Parse(parts[0]);
  REQUIRE(env.has_feed_snapshot());
  CHECK(env.feed_snapshot().part() == 0);
  CHECK(env.feed_snapshot().last());
  CHECK(env.feed_snapshot().incidents_size() == 0);
}

// =============================================================================================
// Query replies.

TEST_CASE("incident detail reconstructs the timeline in time order", "[transport][codec][query]") {
  GridWorld world({"A.*.B.C"});
  const IncidentId id = OpenedIncident(world.RaiseAlertAtStar());
  world.Apply(absl::Seconds(2), AckAssignment{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(3), DeclineAssignment{world.unit('B'), world.AssignmentOf('B'),
                                                  DeclineReason::kUnderstaffed});
  world.Apply(absl::Seconds(4), AckAssignment{world.unit('C'), world.AssignmentOf('C')});
  world.Apply(absl::Seconds(40), ReportArrival{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(90), ResolveIncident{id});
  const Incident& incident = *world.core().FindIncident(id);

  const pb::Envelope env = Parse(EncodeIncidentDetail(world.core(), incident, 8, kHeader));
  CheckHeader(env);
  const pb::IncidentDetail& d = env.incident_detail();
  CHECK(d.in_reply_to_sequence() == 8);
  CHECK(d.incident().incident_id() == id);
  CHECK(d.incident().state() == pb::INCIDENT_STATE_RESOLVED);
  CHECK(d.incident().assignments_size() == 0);  // all ended
  CHECK_FALSE(d.timeline_truncated());

  using E = pb::IncidentEvent;
  std::vector<std::pair<int64_t, E::DetailCase>> got;
  for (const pb::IncidentEvent& e : d.timeline()) {
    CHECK(e.incident_id() == id);
    got.emplace_back((e.at_unix_us() - absl::ToUnixMicros(world.start())) / 1'000'000,
                     e.detail_case());
  }
  const std::vector<std::pair<int64_t, E::DetailCase>> expected{
      {0, E::kIncidentOpened},       // reported
      {0, E::kStateChanged},         // dispatched
      {0, E::kAssignmentIssued},     // A
      {0, E::kAssignmentIssued},     // B
      {2, E::kAssignmentAcked},      // A
      {2, E::kStateChanged},         // acknowledged
      {3, E::kAssignmentDeclined},   // B
      {3, E::kAssignmentIssued},     // C
      {4, E::kAssignmentAcked},      // C
      {40, E::kUnitArrived},         // A
      {40, E::kStateChanged},        // on scene
      {90, E::kStateChanged},        // resolved
      {90, E::kAssignmentReleased},  // A
      {90, E::kAssignmentReleased},  // C
  };
  CHECK(got == expected);
  CHECK(d.timeline(0).incident_opened().category() == pb::CATEGORY_FIRE);
  CHECK(d.timeline(0).incident_opened().reports() == 1);
  CHECK(d.timeline(1).state_changed().from_state() == pb::INCIDENT_STATE_REPORTED);
  CHECK(d.timeline(1).state_changed().to_state() == pb::INCIDENT_STATE_DISPATCHED);
  CHECK(d.timeline(6).assignment_declined().reason() == pb::DECLINE_REASON_UNDERSTAFFED);
  CHECK(d.timeline(12).assignment_released().reason() == pb::CASCADE_REASON_INCIDENT_ENDED);
}

TEST_CASE("incident detail keeps the last 200 timeline entries", "[transport][codec][query]") {
  GridWorld world({"A.*"});
  const IncidentId id = OpenedIncident(world.RaiseAlertAtStar());
  for (int i = 1; i <= 120; ++i) {
    world.Apply(absl::Seconds(2 * i), ReleaseAssignment{world.AssignmentOf('A')});
    world.Apply(absl::Seconds(2 * i + 1), ManualAssign{id, world.unit('A')});
  }
  const pb::Envelope env =
      Parse(EncodeIncidentDetail(world.core(), *world.core().FindIncident(id), 1, kHeader));
  const pb::IncidentDetail& d = env.incident_detail();
  CHECK(d.timeline_truncated());
  REQUIRE(d.timeline_size() == 200);
  for (int i = 1; i < d.timeline_size(); ++i) {
    CHECK(d.timeline(i - 1).at_unix_us() <= d.timeline(i).at_unix_us());
  }
  // The newest entry is the last manual assignment.
  CHECK(d.timeline(199).assignment_issued().assignment().assignment_id() ==
        world.AssignmentOf('A'));
}

TEST_CASE("incident list is newest first filtered and paged", "[transport][codec][query]") {
  GridWorld world = ThreeIncidentWorld();
  const std::vector<IncidentId> open(world.core().open_incidents().begin(),
                                     world.core().open_incidents().end());
  REQUIRE(open.size() == 3);
  auto list = [&](ListOpenIncidents q) {
    const pb::Envelope env = Parse(EncodeIncidentList(world.core(), q, 2, kHeader));
    CHECK(env.incident_list().in_reply_to_sequence() == 2);
    return env.incident_list();
  };
  auto ids = [](const pb::IncidentList& l) {
    std::vector<IncidentId> out;
    for (const auto& row : l.incidents()) out.push_back(row.incident_id());
    return out;
  };

  pb::IncidentList l = list(ListOpenIncidents{});
  CHECK(ids(l) == std::vector<IncidentId>{open[2], open[1], open[0]});
  CHECK(l.next_before_incident_id() == 0);

  l = list(ListOpenIncidents{0, Level::kUnspecified, 2, 0});
  CHECK(ids(l) == std::vector<IncidentId>{open[2], open[1]});
  REQUIRE(l.next_before_incident_id() == open[1]);
  l = list(ListOpenIncidents{0, Level::kUnspecified, 2, l.next_before_incident_id()});
  CHECK(ids(l) == std::vector<IncidentId>{open[0]});
  CHECK(l.next_before_incident_id() == 0);

  // Levels: fire IV, medical II, traffic III.
  CHECK(ids(list(ListOpenIncidents{0, Level::kIiiLarge, 50, 0})) ==
        std::vector<IncidentId>{open[2], open[1]});
  CHECK(ids(list(ListOpenIncidents{440100, Level::kIiMajor, 50, 0})) ==
        std::vector<IncidentId>{open[1]});
  CHECK(list(ListOpenIncidents{440103, Level::kUnspecified, 50, 0}).incidents_size() == 0);
}

TEST_CASE("unit list carries distance and eta for each candidate", "[transport][codec][query]") {
  GridWorld world({"A.*.b"});
  const DispatchCore& core = world.core();
  const std::vector<Candidate> candidates{
      {*core.units().SlotOf(world.unit('b')), 40.0, 20.0},
      {*core.units().SlotOf(world.unit('A')), 40.0, 40.4},
  };
  const pb::Envelope env = Parse(EncodeUnitList(core, candidates, 6, kHeader));
  CheckHeader(env);
  const pb::UnitList& l = env.unit_list();
  CHECK(l.in_reply_to_sequence() == 6);
  REQUIRE(l.units_size() == 2);
  CHECK(l.units(0).unit().unit_id() == world.unit('b'));
  CHECK(l.units(0).distance_m() == 40.0);
  CHECK(l.units(0).eta_seconds() == 20);
  CHECK(l.units(1).unit().unit_id() == world.unit('A'));
  CHECK(l.units(1).eta_seconds() == 41);  // rounded up
}

TEST_CASE("stats encode counters and latency histograms", "[transport][codec][query]") {
  Metrics metrics;
  metrics.Increment("alerts_accepted", 3);
  metrics.Increment("rejected.busy");
  for (int us = 1; us <= 100; ++us)
    metrics.Histogram("alert_latency").Record(absl::Microseconds(us));
  const StatsSnapshot snapshot = metrics.Snapshot(absl::FromUnixSeconds(1'767'225'700));

  const pb::Envelope env = Parse(EncodeStats(snapshot, 14, kHeader));
  CheckHeader(env);
  const pb::Stats& s = env.stats();
  CHECK(s.in_reply_to_sequence() == 14);
  CHECK(s.as_of_unix_us() == 1'767'225'700'000'000);
  CHECK(s.counters().at("alerts_accepted") == 3);
  CHECK(s.counters().at("rejected.busy") == 1);
  REQUIRE(s.latencies_size() == 1);
  const pb::LatencyHistogram& h = s.latencies(0);
  CHECK(h.name() == "alert_latency");
  CHECK(h.count() == 100);
  CHECK(h.p50_us() == snapshot.latencies[0].p50_us);
  CHECK(h.p99_us() == snapshot.latencies[0].p99_us);
  CHECK(h.max_us() == 100);
  uint64_t total = 0;
  for (const auto& b : h.buckets()) total += b.count();
  CHECK(total == 100);
  CHECK(static_cast<size_t>(h.buckets_size()) == snapshot.latencies[0].buckets.size());
}

// =============================================================================================
// Hostile input.

TEST_CASE("random bytes and mutated frames never crash the decoder", "[transport][codec][fuzz]") {
  const uint64_t seed = testing::TestSeed();
  INFO("seed " << seed << " (set DISPATCH_TEST_SEED to reproduce)");
  std::mt19937_64 rng(seed);

  std::vector<std::string> valid;
  valid.push_back(Frame(AlertEnvelope()));
  {
    pb::Envelope env = NewEnvelope();
    env.mutable_unit_update()->set_unit_id(3);
    env.mutable_unit_update()->set_status(pb::UNIT_STATUS_OFF_POST);
    env.mutable_unit_update()->set_on_post(2);
    env.mutable_unit_update()->mutable_position()->set_lon(113.2);
    env.mutable_unit_update()->mutable_position()->set_lat(23.1);
    valid.push_back(Frame(env));
    env = NewEnvelope();
    env.mutable_decline_assignment()->set_unit_id(3);
    env.mutable_decline_assignment()->set_assignment_id(4);
    env.mutable_decline_assignment()->set_reason(pb::DECLINE_REASON_BUSY);
    env.mutable_decline_assignment()->set_note("note");
    valid.push_back(Frame(env));
    env = NewEnvelope();
    env.mutable_units_near()->mutable_position()->set_lon(113.2);
    env.mutable_units_near()->mutable_position()->set_lat(23.1);
    env.mutable_units_near()->set_radius_m(500);
    valid.push_back(Frame(env));
    env = NewEnvelope();
    env.mutable_list_open_incidents()->set_limit(10);
    env.mutable_list_open_incidents()->set_min_level(pb::LEVEL_II_MAJOR);
    valid.push_back(Frame(env));
    env = NewEnvelope();
    env.mutable_hello()->set_unit_id(3);
    valid.push_back(Frame(env));
  }

  const Channel channels[] = {Channel::kIntake, Channel::kResponder, Channel::kOperator};
  std::uniform_int_distribution<int> byte(0, 255);
  int decoded = 0;
  int refused = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string frame;
    if (i % 2 == 0) {
      frame.resize(std::uniform_int_distribution<size_t>(0, 256)(rng));
      for (char& c : frame) c = static_cast<char>(byte(rng));
    } else {
      frame = valid[rng() % valid.size()];
      const int mutations = 1 + static_cast<int>(rng() % 4);
      for (int m = 0; m < mutations && !frame.empty(); ++m) {
        const size_t at = rng() % frame.size();
        switch (rng() % 4) {
          case 0:
            frame[at] = static_cast<char>(byte(rng));
            break;
          case 1:
            frame[at] = static_cast<char>(frame[at] ^ (1 << (rng() % 8)));
            break;
          case 2:
            frame.resize(at);
            break;
          default:
            frame.insert(at, 1, static_cast<char>(byte(rng)));
            break;
        }
      }
    }
    const Channel channel = channels[i % 3];
    const size_t cap = i % 10 == 0 ? 1 + rng() % 128 : kDefaultMaxFrameBytes;
    auto result = Decode(frame, channel, cap);
    if (const auto* in = std::get_if<Inbound>(&result)) {
      ++decoded;
      (void)AsCommand(in->body);
    } else {
      ++refused;
      const DecodeError& error = std::get<DecodeError>(result);
      REQUIRE_FALSE(error.message.empty());
      REQUIRE(error.message.size() <= 200);
      REQUIRE(error.reason != RejectReason::kUnspecified);
      // The error always encodes to a reply that parses.
      pb::Envelope reply;
      REQUIRE(reply.ParseFromString(EncodeDecodeError(channel, error, kHeader)));
    }
  }
  CHECK(decoded + refused == 20'000);
  CHECK(decoded > 0);
  CHECK(refused > 0);
}

}  // namespace
}  // namespace gz::transport
