// AlertClient against a fake intake socket (a real ZeroMQ ROUTER on an ephemeral port, answered by
// a thread). Nothing sleeps: both sides wait by polling with timeouts.

#include "engine/client/alert_client.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>

#include "absl/time/time.h"
#include "engine/client/envelope_socket.h"
#include "protocol/dispatch.pb.h"

namespace gz::client {
namespace {

namespace pb = ::gz::dispatch::v1;

// Binds a ROUTER like dispatchd's intake; the thread started by Serve() owns it until joined.
class FakeIntake {
 public:
  explicit FakeIntake(zmq::context_t& context) : socket_(context, zmq::socket_type::router) {
    socket_.set(zmq::sockopt::linger, 0);
    socket_.bind("tcp://127.0.0.1:*");
    endpoint_ = socket_.get(zmq::sockopt::last_endpoint);
  }
  ~FakeIntake() {
    if (thread_.joinable()) thread_.join();
  }

  const std::string& endpoint() const { return endpoint_; }

  // Reads `ignore` alerts without answering, then, if `answer`, answers the next one as accepted
  // (incident 500001, duplicate when it is a retry).
  void Serve(int ignore, bool answer) {
    thread_ = std::thread([this, ignore, answer] {
      for (int i = 0; i < ignore + (answer ? 1 : 0); ++i) {
        zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
        if (zmq::poll(&item, 1, std::chrono::milliseconds(5000)) == 0) return;
        zmq::message_t identity;
        zmq::message_t frame;
        (void)socket_.recv(identity);
        (void)socket_.recv(frame);
        pb::Envelope request;
        if (!request.ParseFromArray(frame.data(), static_cast<int>(frame.size()))) return;
        received_.push_back(request.raise_alert());
        if (i < ignore) continue;
        pb::Envelope reply;
        reply.set_protocol_version(1);
        reply.set_sequence(1);
        pb::AlertReply* answer = reply.mutable_alert_reply();
        answer->set_reporter_id(request.raise_alert().reporter_id());
        answer->set_client_sequence(request.raise_alert().client_sequence());
        answer->mutable_accepted()->set_incident_id(500001);
        answer->mutable_accepted()->set_duplicate(ignore > 0);
        const std::string bytes = reply.SerializeAsString();
        socket_.send(identity, zmq::send_flags::sndmore);
        socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
      }
    });
  }

  // The alerts received, in order. REQUIRES: the serving thread has been joined.
  const std::vector<pb::RaiseAlert>& Received() {
    if (thread_.joinable()) thread_.join();
    return received_;
  }

 private:
  zmq::socket_t socket_;
  std::string endpoint_;
  std::thread thread_;
  std::vector<pb::RaiseAlert> received_;
};

Alert FireInYuexiu() {
  Alert alert;
  alert.client_sequence = 7;
  alert.position = {113.2644, 23.1291};
  alert.category = Category::kFire;
  alert.level = Level::kIvGeneral;
  alert.description = "smoke from the third floor";
  return alert;
}

TEST_CASE("an alert without an answer is resent with the same key", "[client]") {
  zmq::context_t context;
  FakeIntake intake(context);
  intake.Serve(/*ignore=*/1, /*answer=*/true);
  AlertOptions options;
  options.endpoint = intake.endpoint();
  options.reporter_id = "110:000123";
  options.timeout = absl::Milliseconds(600);  // a resend after 200 ms
  absl::StatusOr<std::unique_ptr<AlertClient>> client = AlertClient::Create(context, options);
  REQUIRE(client.ok());

  absl::StatusOr<AlertOutcome> outcome = (*client)->Raise(FireInYuexiu());
  REQUIRE(outcome.ok());
  CHECK(outcome->accepted);
  CHECK(outcome->incident_id == 500001);
  CHECK(outcome->duplicate);
  CHECK(outcome->sends == 2);

  const std::vector<pb::RaiseAlert>& received = intake.Received();
  REQUIRE(received.size() == 2);
  for (const pb::RaiseAlert& r : received) {
    CHECK(r.reporter_id() == "110:000123");
    CHECK(r.client_sequence() == 7);
    CHECK(r.category() == pb::CATEGORY_FIRE);
    CHECK(r.level() == pb::LEVEL_IV_GENERAL);
    CHECK(r.description() == "smoke from the third floor");
  }
}

TEST_CASE("an alert nobody answers fails within the timeout", "[client]") {
  zmq::context_t context;
  FakeIntake intake(context);
  intake.Serve(/*ignore=*/3, /*answer=*/false);
  AlertOptions options;
  options.endpoint = intake.endpoint();
  options.timeout = absl::Milliseconds(300);
  absl::StatusOr<std::unique_ptr<AlertClient>> client = AlertClient::Create(context, options);
  REQUIRE(client.ok());

  const absl::Time start = absl::Now();
  absl::StatusOr<AlertOutcome> outcome = (*client)->Raise(FireInYuexiu());
  const absl::Duration waited = absl::Now() - start;
  CHECK(outcome.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(outcome.status().message() ==
        "dispatchd is not answering at " + intake.endpoint() + " (waited 300 ms)");
  CHECK(waited < absl::Seconds(2));
  CHECK(intake.Received().size() == 3);  // the first send and two resends, all with one key
}

}  // namespace
}  // namespace gz::client

namespace gz::client {
namespace {

TEST_CASE("a socket whose reopening failed reports it instead of crashing", "[client]") {
  // A context with room for one socket, taken: the EnvelopeSocket cannot open one. This is what a
  // wave of reconnects did to the responder fleet (closed sockets hold their slots until reaped).
  zmq::context_t context;
  context.set(zmq::ctxopt::max_sockets, 1);
  zmq::socket_t hog(context, zmq::socket_type::pair);
  EnvelopeSocket socket(context, "tcp://127.0.0.1:9", "test", {});
  const absl::Status opened = socket.Open();
  REQUIRE_FALSE(opened.ok());
  const absl::StatusOr<uint64_t> sent = socket.Send(dispatch::v1::Envelope());
  REQUIRE_FALSE(sent.ok());
  CHECK(absl::IsUnavailable(sent.status()));
  CHECK_THAT(std::string(sent.status().message()), Catch::Contains("not connected"));
  CHECK(absl::IsUnavailable(socket.TryReceive().status()));
  CHECK(absl::IsUnavailable(socket.Receive(absl::Now()).status()));
}

}  // namespace
}  // namespace gz::client
