// ResponderClient against a fake dispatchd: a real ZeroMQ ROUTER on an ephemeral port, driven by a
// short script on its own thread (the socket belongs to that thread until it is joined). Nothing
// sleeps: both sides wait by polling their sockets with timeouts.

#include "engine/client/responder_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/client/rejection.h"
#include "protocol/dispatch.pb.h"

namespace gz::client {
namespace {

namespace pb = ::gz::dispatch::v1;

constexpr UnitId kUnit = 7;
// Long enough that neither side heartbeats or gives up on the other during a test.
constexpr uint32_t kQuietHeartbeatMs = 60'000;
// How long the fake server waits for the client before it records a failure.
constexpr auto kServerPatience = std::chrono::milliseconds(5000);

// Stands in for dispatchd's responder socket. The constructor binds (on the test's thread); Run()
// hands the socket to a script on the server thread; Join() hands it back.
class FakeDispatchd {
 public:
  explicit FakeDispatchd(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.set(zmq::sockopt::router_mandatory, 1);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  ~FakeDispatchd() { Join(); }

  const std::string& endpoint() const { return endpoint_; }

  void Run(std::function<void(FakeDispatchd&)> script) {
    thread_ = std::thread([this, script = std::move(script)] {
      try {
        script(*this);
      } catch (const std::exception& e) {
        Fail(e.what());
      }
    });
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // ---- For the script, on the server thread.

  // The next envelope from the client (recorded), or nullopt after kServerPatience.
  std::optional<pb::Envelope> Receive() {
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, kServerPatience) == 0) return std::nullopt;
    zmq::message_t identity;
    zmq::message_t frame;
    (void)socket_.recv(identity);
    (void)socket_.recv(frame);
    peer_ = identity.to_string();
    pb::Envelope envelope;
    if (!envelope.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
      Fail("the client sent a frame that is not an Envelope");
      return std::nullopt;
    }
    received_.push_back(envelope);
    return envelope;
  }

  // The next envelope with this body; others (heartbeats, receipts) are recorded and skipped.
  std::optional<pb::Envelope> Expect(pb::Envelope::BodyCase body) {
    for (;;) {
      std::optional<pb::Envelope> envelope = Receive();
      if (!envelope.has_value()) {
        Fail("timed out waiting for the client");
        return std::nullopt;
      }
      if (envelope->body_case() == body) return envelope;
    }
  }

  // Sends to the client that spoke last.
  void Send(pb::Envelope envelope) {
    envelope.set_protocol_version(1);
    envelope.set_sender_id("dispatchd");
    envelope.set_sequence(++sequence_);
    const std::string frame = envelope.SerializeAsString();
    socket_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
    socket_.send(zmq::buffer(frame), zmq::send_flags::none);
  }

  // Answers a Hello the way dispatchd does: resend from the sequence after the client's last.
  void Welcome(const pb::Envelope& hello, uint64_t last_delivery_sequence_sent) {
    pb::Envelope envelope;
    pb::Welcome* welcome = envelope.mutable_welcome();
    welcome->set_in_reply_to_sequence(hello.sequence());
    welcome->set_heartbeat_interval_ms(kQuietHeartbeatMs);
    welcome->set_last_delivery_sequence_sent(last_delivery_sequence_sent);
    welcome->set_resend_from_delivery_sequence(hello.hello().last_delivery_sequence_seen() + 1);
    Send(std::move(envelope));
  }

  // Accepts the session: waits for Hello and welcomes it.
  std::optional<pb::Envelope> AcceptHello(uint64_t last_delivery_sequence_sent = 0) {
    std::optional<pb::Envelope> hello = Expect(pb::Envelope::kHello);
    if (hello.has_value()) Welcome(*hello, last_delivery_sequence_sent);
    return hello;
  }

  void Result(const pb::Envelope& command, bool ok,
              pb::RejectReason reason = pb::REJECT_REASON_UNSPECIFIED,
              const std::string& message = "") {
    pb::Envelope envelope;
    pb::CommandResult* result = envelope.mutable_command_result();
    result->set_ok(ok);
    result->set_reason(reason);
    result->set_message(message);
    result->set_in_reply_to_sequence(command.sequence());
    Send(std::move(envelope));
  }

  void Fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }

  // ---- After Join().

  const std::vector<pb::Envelope>& received() const { return received_; }
  const std::string& error() const { return error_; }

  std::vector<uint64_t> Receipts() const {
    std::vector<uint64_t> receipts;
    for (const pb::Envelope& e : received_) {
      if (e.has_delivery_receipt()) receipts.push_back(e.delivery_receipt().delivery_sequence());
    }
    return receipts;
  }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
  std::thread thread_;
  std::string peer_;  // routing id of the client that spoke last
  uint64_t sequence_ = 0;
  std::vector<pb::Envelope> received_;
  std::string error_;
};

pb::Envelope AssignmentDelivery(uint64_t delivery_sequence, AssignmentId assignment) {
  pb::Envelope envelope;
  pb::Assignment* a = envelope.mutable_assignment();
  a->set_assignment_id(assignment);
  a->set_incident_id(500001);
  a->set_unit_id(kUnit);
  a->set_role(pb::ASSIGNMENT_ROLE_FRONTLINE);
  a->mutable_position()->set_lon(113.2644);
  a->mutable_position()->set_lat(23.1291);
  a->set_category(pb::CATEGORY_FIRE);
  a->set_level(pb::LEVEL_III_LARGE);
  a->set_eta_seconds(373);
  a->set_ring_seconds(180);
  a->set_ack_deadline_unix_us(1'714'521'600'000'000);
  a->set_delivery_sequence(delivery_sequence);
  a->set_description("smoke from the third floor");
  return envelope;
}

pb::Envelope BroadcastDelivery(uint64_t delivery_sequence, const std::string& text) {
  pb::Envelope envelope;
  pb::AreaBroadcast* b = envelope.mutable_area_broadcast();
  b->set_zone_id(17);
  b->set_text(text);
  b->set_delivery_sequence(delivery_sequence);
  return envelope;
}

ResponderOptions OptionsFor(const FakeDispatchd& server) {
  ResponderOptions options;
  options.endpoint = server.endpoint();
  options.unit_id = kUnit;
  options.request_timeout = absl::Seconds(5);
  return options;
}

// The delivery sequences Next() hands out until it has `count` of them (or waited 5 s for one).
std::vector<uint64_t> TakeDeliveries(ResponderClient& client, size_t count) {
  std::vector<uint64_t> sequences;
  while (sequences.size() < count) {
    absl::StatusOr<std::optional<Delivery>> d = client.Next(absl::Seconds(5));
    if (!d.ok() || !d->has_value()) break;
    sequences.push_back((*d)->delivery_sequence);
  }
  return sequences;
}

TEST_CASE("connect says hello and waits for the welcome", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    std::optional<pb::Envelope> hello = s.Expect(pb::Envelope::kHello);
    if (!hello.has_value()) return;
    pb::Envelope envelope;
    envelope.mutable_welcome()->set_in_reply_to_sequence(hello->sequence());
    envelope.mutable_welcome()->set_heartbeat_interval_ms(1500);
    envelope.mutable_welcome()->set_resend_from_delivery_sequence(1);
    s.Send(std::move(envelope));
  });

  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  server.Join();
  REQUIRE(server.error().empty());
  REQUIRE(client.ok());

  const pb::Envelope& hello = server.received().front();
  CHECK(hello.protocol_version() == 1);
  CHECK(hello.sender_id() == "7");
  CHECK(hello.sequence() == 1);
  CHECK(hello.hello().role() == pb::CLIENT_ROLE_RESPONDER);
  CHECK(hello.hello().unit_id() == kUnit);
  CHECK(hello.hello().last_delivery_sequence_seen() == 0);
  CHECK((*client)->heartbeat_interval() == absl::Milliseconds(1500));
  CHECK((*client)->counters().hellos_sent == 1);
  CHECK((*client)->last_delivery_sequence() == 0);
}

TEST_CASE("deliveries come out in order with every field converted", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    if (!s.AcceptHello().has_value()) return;
    s.Send(AssignmentDelivery(1, 40));
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  absl::StatusOr<std::optional<Delivery>> d = (*client)->Next(absl::Seconds(5));
  server.Join();
  REQUIRE(server.error().empty());
  REQUIRE(d.ok());
  REQUIRE(d->has_value());
  const Delivery& a = **d;
  CHECK(a.kind == Delivery::Kind::kAssignment);
  CHECK(a.delivery_sequence == 1);
  CHECK(a.assignment_id == 40);
  CHECK(a.incident_id == 500001);
  CHECK(a.role == AssignmentRole::kFrontline);
  CHECK(a.position == LonLat{113.2644, 23.1291});
  CHECK(a.category == Category::kFire);
  CHECK(a.level == Level::kIiiLarge);
  CHECK(a.eta_seconds == 373);
  CHECK(a.ring_seconds == 180);
  CHECK(a.ack_deadline == absl::FromUnixMicros(1'714'521'600'000'000));
  CHECK(a.description == "smoke from the third floor");
}

TEST_CASE("resent deliveries are dropped as duplicates", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    if (!s.AcceptHello().has_value()) return;
    for (uint64_t sequence : {1, 1, 2, 1, 2, 3}) {
      s.Send(BroadcastDelivery(sequence, "assemble at the north gate"));
    }
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  CHECK(TakeDeliveries(**client, 3) == std::vector<uint64_t>{1, 2, 3});
  server.Join();
  REQUIRE(server.error().empty());
  CHECK((*client)->counters().duplicates_dropped == 3);
  CHECK((*client)->counters().gaps_detected == 0);
  CHECK((*client)->last_delivery_sequence() == 3);
}

TEST_CASE("a gap makes the client say hello again with its last in-order sequence", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  std::optional<pb::Envelope> second_hello;
  server.Run([&second_hello](FakeDispatchd& s) {
    if (!s.AcceptHello().has_value()) return;
    s.Send(BroadcastDelivery(1, "one"));
    s.Send(BroadcastDelivery(3, "three"));  // 2 was lost on the way
    second_hello = s.Expect(pb::Envelope::kHello);
    if (!second_hello.has_value()) return;
    s.Welcome(*second_hello, 3);
    s.Send(BroadcastDelivery(2, "two"));
    s.Send(BroadcastDelivery(3, "three"));
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  CHECK(TakeDeliveries(**client, 3) == std::vector<uint64_t>{1, 2, 3});
  server.Join();
  REQUIRE(server.error().empty());
  REQUIRE(second_hello.has_value());
  CHECK(second_hello->hello().last_delivery_sequence_seen() == 1);
  CHECK((*client)->counters().gaps_detected == 1);
  CHECK((*client)->counters().hellos_sent == 2);
}

TEST_CASE("a heartbeat ahead of the client makes it ask for the missing tail", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  std::optional<pb::Envelope> second_hello;
  server.Run([&second_hello](FakeDispatchd& s) {
    if (!s.AcceptHello().has_value()) return;
    s.Send(BroadcastDelivery(1, "one"));
    pb::Envelope heartbeat;
    heartbeat.mutable_heartbeat()->set_last_delivery_sequence_sent(2);  // 2 never arrived
    s.Send(std::move(heartbeat));
    second_hello = s.Expect(pb::Envelope::kHello);
    if (!second_hello.has_value()) return;
    s.Welcome(*second_hello, 2);
    s.Send(BroadcastDelivery(2, "two"));
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  CHECK(TakeDeliveries(**client, 2) == std::vector<uint64_t>{1, 2});
  server.Join();
  REQUIRE(server.error().empty());
  REQUIRE(second_hello.has_value());
  CHECK(second_hello->hello().last_delivery_sequence_seen() == 1);
}

TEST_CASE("each delivery handed out is receipted", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    if (!s.AcceptHello().has_value()) return;
    s.Send(BroadcastDelivery(1, "one"));
    s.Send(BroadcastDelivery(2, "two"));
    for (;;) {
      std::optional<pb::Envelope> receipt = s.Expect(pb::Envelope::kDeliveryReceipt);
      if (!receipt.has_value() || receipt->delivery_receipt().delivery_sequence() == 2) return;
    }
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  CHECK(TakeDeliveries(**client, 2) == std::vector<uint64_t>{1, 2});
  server.Join();
  REQUIRE(server.error().empty());
  CHECK(server.Receipts() == std::vector<uint64_t>{1, 2});
  for (const pb::Envelope& e : server.received()) {
    if (e.has_delivery_receipt()) CHECK(e.delivery_receipt().unit_id() == kUnit);
  }
  CHECK((*client)->counters().receipts_sent == 2);
}

TEST_CASE("ack waits for its result and keeps a delivery that arrives first", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    if (!s.AcceptHello().has_value()) return;
    std::optional<pb::Envelope> ack = s.Expect(pb::Envelope::kAckAssignment);
    if (!ack.has_value()) return;
    s.Send(BroadcastDelivery(1, "assemble at the north gate"));  // before the answer
    s.Result(*ack, /*ok=*/true);
    std::optional<pb::Envelope> second = s.Expect(pb::Envelope::kAckAssignment);
    if (!second.has_value()) return;
    s.Result(*second, /*ok=*/false, pb::REJECT_REASON_NOT_ASSIGNED,
             "Unit 7 does not hold assignment 41.");
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  CHECK((*client)->Ack(40).ok());
  // Already queued during Ack: no waiting needed.
  absl::StatusOr<std::optional<Delivery>> d = (*client)->Next(absl::ZeroDuration());
  REQUIRE(d.ok());
  REQUIRE(d->has_value());
  CHECK((*d)->kind == Delivery::Kind::kBroadcast);
  CHECK((*d)->text == "assemble at the north gate");

  const absl::Status refused = (*client)->Ack(41);
  server.Join();
  REQUIRE(server.error().empty());
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(RejectReasonOf(refused) == RejectReason::kNotAssigned);
  CHECK(refused.message() == "not_assigned: Unit 7 does not hold assignment 41.");
  const pb::Envelope& ack =
      *std::find_if(server.received().begin(), server.received().end(),
                    [](const pb::Envelope& e) { return e.has_ack_assignment(); });
  CHECK(ack.ack_assignment().unit_id() == kUnit);
  CHECK(ack.ack_assignment().assignment_id() == 40);
}

TEST_CASE("a refused hello fails connect with the engine's reason", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    std::optional<pb::Envelope> hello = s.Expect(pb::Envelope::kHello);
    if (hello.has_value()) {
      s.Result(*hello, /*ok=*/false, pb::REJECT_REASON_UNKNOWN_UNIT, "No unit 7 in the dataset.");
    }
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  server.Join();
  REQUIRE(server.error().empty());
  CHECK(client.status().code() == absl::StatusCode::kNotFound);
  CHECK(RejectReasonOf(client.status()) == RejectReason::kUnknownUnit);
}

TEST_CASE("a welcome past the client's position counts the missed deliveries", "[client]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  server.Run([](FakeDispatchd& s) {
    std::optional<pb::Envelope> hello = s.Expect(pb::Envelope::kHello);
    if (!hello.has_value()) return;
    pb::Envelope envelope;
    envelope.mutable_welcome()->set_in_reply_to_sequence(hello->sequence());
    envelope.mutable_welcome()->set_heartbeat_interval_ms(kQuietHeartbeatMs);
    envelope.mutable_welcome()->set_last_delivery_sequence_sent(9);
    envelope.mutable_welcome()->set_resend_from_delivery_sequence(6);  // 1-5 dropped by the outbox
    s.Send(std::move(envelope));
    s.Send(BroadcastDelivery(6, "six"));
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());

  CHECK(TakeDeliveries(**client, 1) == std::vector<uint64_t>{6});
  server.Join();
  REQUIRE(server.error().empty());
  CHECK((*client)->counters().deliveries_missed == 5);
  CHECK((*client)->counters().gaps_detected == 0);
}

TEST_CASE("connect to a port where nothing answers gives up within the timeout", "[client]") {
  zmq::context_t context;
  // A TCP listener that never accepts nor speaks: the connection opens (into its backlog) and no
  // greeting ever comes, as with a hung dispatchd. Holding the port for the whole test keeps it
  // from going to another test's server meanwhile (ctest runs tests in parallel).
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(listener, 16) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  const std::string endpoint = absl::StrCat("tcp://127.0.0.1:", ntohs(address.sin_port));
  ResponderOptions options;
  options.endpoint = endpoint;
  options.unit_id = kUnit;
  options.request_timeout = absl::Milliseconds(300);

  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, options);
  const absl::Duration waited = absl::Now() - start;

  CHECK(client.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(client.status().message() ==
        "dispatchd is not answering at " + endpoint + " (waited 300 ms)");
  CHECK(waited >= absl::Milliseconds(300));
  CHECK(waited < absl::Seconds(2));
  ::close(listener);
}

TEST_CASE("options without a unit are refused before connecting", "[client]") {
  zmq::context_t context;
  ResponderOptions options;
  options.unit_id = 0;
  CHECK(ResponderClient::Connect(context, options).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

// The engine restarted on its journal and re-sends the assignments still waiting for an
// acknowledgement, numbered from 1 again: the client must not take them for deliveries it has.
TEST_CASE("a new engine incarnation restarts the client's delivery count", "[client][journal]") {
  zmq::context_t context;
  FakeDispatchd server(context);
  uint64_t second_hello_position = 0;
  server.Run([&second_hello_position](FakeDispatchd& s) {
    auto welcome = [&s](const pb::Envelope& hello, uint64_t incarnation) {
      pb::Envelope envelope;
      pb::Welcome* w = envelope.mutable_welcome();
      w->set_in_reply_to_sequence(hello.sequence());
      w->set_heartbeat_interval_ms(kQuietHeartbeatMs);
      w->set_last_delivery_sequence_sent(2);
      w->set_resend_from_delivery_sequence(1);
      w->set_engine_incarnation(incarnation);
      s.Send(std::move(envelope));
    };
    std::optional<pb::Envelope> hello = s.Expect(pb::Envelope::kHello);
    if (!hello.has_value()) return;
    welcome(*hello, 11);
    s.Send(AssignmentDelivery(1, 40));
    s.Send(AssignmentDelivery(2, 41));
    // The restarted engine does not know this connection: the client says Hello again.
    pb::Envelope unknown;
    unknown.mutable_command_result()->set_reason(pb::REJECT_REASON_UNAUTHORIZED);
    unknown.mutable_command_result()->set_in_reply_to_sequence(999);  // a heartbeat, say
    s.Send(std::move(unknown));
    hello = s.Expect(pb::Envelope::kHello);
    if (!hello.has_value()) return;
    second_hello_position = hello->hello().last_delivery_sequence_seen();
    welcome(*hello, 12);
    s.Send(AssignmentDelivery(1, 50));
    s.Send(AssignmentDelivery(2, 51));
  });
  absl::StatusOr<std::unique_ptr<ResponderClient>> client =
      ResponderClient::Connect(context, OptionsFor(server));
  REQUIRE(client.ok());
  std::vector<AssignmentId> assignments;
  while (assignments.size() < 4) {
    absl::StatusOr<std::optional<Delivery>> d = (*client)->Next(absl::Seconds(5));
    REQUIRE(d.ok());
    REQUIRE(d->has_value());
    assignments.push_back((*d)->assignment_id);
  }
  server.Join();
  REQUIRE(server.error().empty());
  CHECK(second_hello_position == 2);
  CHECK(assignments == std::vector<AssignmentId>{40, 41, 50, 51});
  CHECK((*client)->counters().sequence_resets == 1);
  CHECK((*client)->counters().duplicates_dropped == 0);
  CHECK((*client)->last_delivery_sequence() == 2);
}

}  // namespace
}  // namespace gz::client
