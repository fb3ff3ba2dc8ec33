#include "engine/auth/server_auth.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "absl/time/clock.h"
#include "engine/auth/curve_keys.h"

namespace gz::auth {
namespace {

// Waits (up to 5 s) for a handshake failure event on the monitor of a client socket.
bool HandshakeFailed(zmq::socket_t& monitor) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (absl::Now() < deadline) {
    zmq::pollitem_t item{monitor.handle(), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, std::chrono::milliseconds(100));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    std::vector<zmq::message_t> frames;
    REQUIRE(zmq::recv_multipart(monitor, std::back_inserter(frames)));
    uint16_t event = 0;
    std::memcpy(&event, frames[0].data(), sizeof event);
    if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)) {
      return true;
    }
  }
  return false;
}

TEST_CASE("a CURVE server refuses every client while no ZAP handler is bound", "[auth]") {
  const CurveKeyPair server_keys = GenerateKeyPair().value();
  const CurveKeyPair client_keys = GenerateKeyPair().value();
  zmq::context_t context;
  zmq::socket_t server(context, zmq::socket_type::router);
  server.set(zmq::sockopt::linger, 0);
  REQUIRE(MakeCurveServer(server, server_keys.secret_key, "intake").ok());
  server.bind("tcp://127.0.0.1:*");
  const std::string endpoint = server.get(zmq::sockopt::last_endpoint);

  // A client with a perfectly good key: without a handler to ask, ZeroMQ must not let it in (its
  // default would be to accept any key).
  zmq::socket_t refused(context, zmq::socket_type::dealer);
  refused.set(zmq::sockopt::linger, 0);
  REQUIRE(UseClientKeys(refused.handle(),
                        {server_keys.public_key, client_keys.public_key, client_keys.secret_key})
              .ok());
  REQUIRE(zmq_socket_monitor(refused.handle(), "inproc://refused-monitor",
                             ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                 ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) == 0);
  zmq::socket_t monitor(context, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect("inproc://refused-monitor");
  refused.connect(endpoint);
  refused.send(zmq::str_buffer("let me in"), zmq::send_flags::none);
  CHECK(HandshakeFailed(monitor));
  zmq::message_t nothing;
  CHECK_FALSE(server.recv(nothing, zmq::recv_flags::dontwait).has_value());
  refused.close();  // (it would otherwise get in too once the handler below is bound)

  // With a handler bound (this one accepts every key), the same client key gets through, and the
  // message carries the User-Id the handler gave it.
  zmq::socket_t handler(context, zmq::socket_type::rep);
  handler.set(zmq::sockopt::linger, 0);
  handler.bind("inproc://zeromq.zap.01");
  zmq::socket_t admitted(context, zmq::socket_type::dealer);
  admitted.set(zmq::sockopt::linger, 0);
  REQUIRE(UseClientKeys(admitted.handle(),
                        {server_keys.public_key, client_keys.public_key, client_keys.secret_key})
              .ok());
  admitted.connect(endpoint);
  admitted.send(zmq::str_buffer("let me in"), zmq::send_flags::none);
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  std::string user_id;
  while (user_id.empty() && absl::Now() < deadline) {
    zmq::pollitem_t items[] = {{handler.handle(), 0, ZMQ_POLLIN, 0},
                               {server.handle(), 0, ZMQ_POLLIN, 0}};
    zmq::poll(items, 2, std::chrono::milliseconds(100));
    if (items[0].revents & ZMQ_POLLIN) {
      std::vector<zmq::message_t> request;
      REQUIRE(zmq::recv_multipart(handler, std::back_inserter(request)));
      REQUIRE(request.size() >= 2);
      const std::string reply[] = {"1.0", request[1].to_string(), "200", "OK", "drill:test", ""};
      for (size_t i = 0; i < 6; ++i) {
        handler.send(zmq::buffer(reply[i]),
                     i < 5 ? zmq::send_flags::sndmore : zmq::send_flags::none);
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      std::vector<zmq::message_t> frames;
      REQUIRE(zmq::recv_multipart(server, std::back_inserter(frames)));
      REQUIRE(frames.size() == 2);
      CHECK(frames[1].to_string() == "let me in");
      user_id = frames[1].gets("User-Id");
    }
  }
  CHECK(user_id == "drill:test");
}

}  // namespace
}  // namespace gz::auth
