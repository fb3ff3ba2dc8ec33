// Integration tests of CURVE authentication: the real dispatchd with the keys `dispatchctl
// init-keys` made (tests/support/dispatchd_process.h), real clients over TCP. Each case tries one
// way in without the right key, checks that it is refused and counted, and that a client with a
// good key carries on undisturbed in the same run. Units sit east of the alert point at 10..50 m
// (tests/support/small_city.h); every plan sends 2 frontline units.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/auth/curve_keys.h"
#include "engine/client/alert_client.h"
#include "engine/client/responder_client.h"
#include "protocol/dispatch.pb.h"
#include "tests/support/dispatchd_process.h"
#include "tests/support/small_city.h"
#include "tests/support/test_seed.h"

namespace gz {
namespace {

using client::AlertClient;
using client::Delivery;
using client::ResponderClient;
using testing::DispatchdProcess;

namespace pb = ::gz::dispatch::v1;

struct AuthHarness {
  testing::SmallCity city;
  std::unique_ptr<DispatchdProcess> dispatchd;
  zmq::context_t context;
  auth::CurveClientKeys operator_keys;
  auth::CurveClientKeys drill_keys;
  std::unique_ptr<zmq::socket_t> stats_socket;
  uint64_t stats_sequence = 0;

  AuthHarness() {
    city = testing::MakeSmallCity({10, 20, 30, 40, 50}, 2);
    auto started = DispatchdProcess::Start(city.config_dir);
    REQUIRE(started.ok());
    dispatchd = *std::move(started);
    REQUIRE_FALSE(dispatchd->keys_dir().empty());
    operator_keys = dispatchd->ClientKeys("operator").value();
    drill_keys = dispatchd->ClientKeys("drill").value();
  }

  // A responder for `unit`; the drill key may speak for any unit.
  absl::StatusOr<std::unique_ptr<ResponderClient>> Responder(UnitId unit,
                                                             const auth::CurveClientKeys& keys) {
    return ResponderClient::Connect(context, {.endpoint = dispatchd->responders(),
                                              .unit_id = unit,
                                              .request_timeout = absl::Seconds(3),
                                              .curve = keys});
  }

  absl::StatusOr<client::AlertOutcome> Raise(uint64_t sequence, const auth::CurveClientKeys& keys,
                                             absl::Duration timeout = absl::Seconds(5),
                                             Category category = Category::kFire) {
    auto alerts = AlertClient::Create(context, {.endpoint = dispatchd->intake(),
                                                .reporter_id = "auth-test",
                                                .timeout = timeout,
                                                .attempts = 1,
                                                .curve = keys});
    if (!alerts.ok()) return alerts.status();
    client::Alert alert;
    alert.client_sequence = sequence;
    alert.position = city.alert_point;
    alert.category = category;
    alert.level = Level::kIvGeneral;
    return (*alerts)->Raise(alert);
  }

  // The engine's counters, asked on the operator channel with the operator key.
  std::map<std::string, uint64_t> Counters() {
    if (!stats_socket) {
      stats_socket = std::make_unique<zmq::socket_t>(context, zmq::socket_type::dealer);
      stats_socket->set(zmq::sockopt::linger, 0);
      stats_socket->set(zmq::sockopt::rcvtimeo, 5000);
      REQUIRE(auth::UseClientKeys(stats_socket->handle(), operator_keys).ok());
      stats_socket->connect(dispatchd->operators());
    }
    pb::Envelope request;
    request.set_protocol_version(1);
    request.set_sequence(++stats_sequence);
    request.mutable_get_stats();
    stats_socket->send(zmq::buffer(request.SerializeAsString()), zmq::send_flags::none);
    for (;;) {
      zmq::message_t m;
      REQUIRE(stats_socket->recv(m));
      pb::Envelope reply;
      REQUIRE(reply.ParseFromArray(m.data(), static_cast<int>(m.size())));
      if (!reply.has_stats() || reply.stats().in_reply_to_sequence() != stats_sequence) continue;
      return {reply.stats().counters().begin(), reply.stats().counters().end()};
    }
  }

  uint64_t Counter(const std::string& name) {
    const auto counters = Counters();
    auto it = counters.find(name);
    return it == counters.end() ? 0 : it->second;
  }

  // The sum of the counters whose names start with `prefix` (e.g. "handshake_failed.intake.":
  // a client without CURVE is counted as mechanism_mismatch or hung_up, whichever side of the
  // handshake noticed first).
  uint64_t Sum(const std::string& prefix) {
    uint64_t sum = 0;
    for (const auto& [name, value] : Counters()) {
      if (name.rfind(prefix, 0) == 0) sum += value;
    }
    return sum;
  }

  // Waits until `read()` reaches `at_least` (up to 10 s); meanwhile `keep_alive` (a good client,
  // when given) is serviced, which also paces the asking. Returns the last value.
  uint64_t WaitUntil(const std::string& what, const std::function<uint64_t()>& read,
                     uint64_t at_least, ResponderClient* keep_alive) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    uint64_t value = read();
    while (value < at_least && absl::Now() < deadline) {
      if (keep_alive != nullptr) REQUIRE(keep_alive->Next(absl::Milliseconds(20)).ok());
      value = read();
    }
    INFO(what);
    CHECK(value >= at_least);
    return value;
  }
  uint64_t WaitForCounter(const std::string& name, uint64_t at_least,
                          ResponderClient* keep_alive = nullptr) {
    return WaitUntil(
        name, [&] { return Counter(name); }, at_least, keep_alive);
  }
  uint64_t WaitFor(const std::string& prefix, uint64_t at_least,
                   ResponderClient* keep_alive = nullptr) {
    return WaitUntil(
        prefix + "*", [&] { return Sum(prefix); }, at_least, keep_alive);
  }

  // A new key pair <keys_dir>/<name>, enrolled with `dispatchctl enrol` while dispatchd runs;
  // returns once dispatchd has re-read its allow-list.
  auth::CurveClientKeys Enrol(const std::string& name, const std::string& role, UnitId unit,
                              ResponderClient* keep_alive) {
    const uint64_t reloads = Counter("auth_allow_list_reloads");
    absl::StatusOr<auth::CurveClientKeys> keys = dispatchd->Enrol(name, role, unit);
    REQUIRE(keys.ok());
    WaitForCounter("auth_allow_list_reloads", reloads + 1, keep_alive);
    return *keys;
  }

  // The next assignment for `client`, skipping other deliveries; nullopt after 10 s.
  static std::optional<Delivery> NextAssignment(ResponderClient& client) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      auto d = client.Next(deadline - absl::Now());
      REQUIRE(d.ok());
      if (d->has_value() && (*d)->kind == Delivery::Kind::kAssignment) return **d;
    }
    return std::nullopt;
  }

  // A good client's whole round: an alert with the operator key, its assignment to `unit`'s
  // client, the ack.
  void GoodClientWorks(ResponderClient& unit_client, uint64_t sequence) {
    absl::StatusOr<client::AlertOutcome> outcome = Raise(sequence, operator_keys);
    REQUIRE(outcome.ok());
    CHECK(outcome->accepted);
    const std::optional<Delivery> assignment = NextAssignment(unit_client);
    REQUIRE(assignment.has_value());
    CHECK(unit_client.Ack(assignment->assignment_id).ok());
  }
};

std::string Envelope(const pb::Envelope& e) { return e.SerializeAsString(); }

TEST_CASE("a client without a key gets no answer and is counted while a keyed client works",
          "[integration][auth]") {
  AuthHarness h;
  auto good = h.Responder(1, h.drill_keys);
  REQUIRE(good.ok());

  // A plain ZeroMQ socket: its request is never delivered to the engine, let alone answered.
  zmq::socket_t plain(h.context, zmq::socket_type::dealer);
  plain.set(zmq::sockopt::linger, 0);
  plain.connect(h.dispatchd->operators());
  pb::Envelope request;
  request.set_protocol_version(1);
  request.set_sequence(1);
  request.mutable_get_stats();
  plain.send(zmq::buffer(Envelope(request)), zmq::send_flags::none);
  h.WaitFor("handshake_failed.operator.", 1, good->get());
  zmq::message_t reply;
  CHECK_FALSE(plain.recv(reply, zmq::recv_flags::dontwait).has_value());

  // The client library says why rather than "not answering".
  absl::StatusOr<client::AlertOutcome> keyless = h.Raise(1, {}, absl::Seconds(1));
  REQUIRE_FALSE(keyless.ok());
  CHECK(absl::IsPermissionDenied(keyless.status()));
  CHECK_THAT(std::string(keyless.status().message()), Catch::Contains("requires CURVE"));
  h.WaitFor("handshake_failed.intake.", 1, good->get());

  h.GoodClientWorks(**good, 2);
  CHECK(h.Counter("alerts_received") == 1);  // only the keyed client's alert got in
}

TEST_CASE("an unknown key is refused by the ZAP handler and counted while a keyed client works",
          "[integration][auth]") {
  AuthHarness h;
  auto good = h.Responder(1, h.drill_keys);
  REQUIRE(good.ok());

  const auth::CurveKeyPair stranger = auth::GenerateKeyPair().value();
  const auth::CurveClientKeys unknown{h.operator_keys.server_public, stranger.public_key,
                                      stranger.secret_key};
  absl::StatusOr<client::AlertOutcome> refused = h.Raise(1, unknown, absl::Seconds(2));
  REQUIRE_FALSE(refused.ok());
  CHECK(absl::IsPermissionDenied(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("refused this client's key"));
  h.WaitForCounter("auth_refused.intake.unknown_key", 1, good->get());

  // An enrolled key with the wrong server key fails the handshake before ZAP is asked.
  const auth::CurveClientKeys wrong_server{stranger.public_key, h.operator_keys.client_public,
                                           h.operator_keys.client_secret};
  CHECK_FALSE(h.Raise(2, wrong_server, absl::Seconds(1)).ok());
  h.WaitForCounter("handshake_failed.intake.cryptographic", 1, good->get());

  // A key of another role: a responder key may not raise alerts.
  const auth::CurveClientKeys phone = h.Enrol("phone-3", "responder", 3, good->get());
  CHECK_FALSE(h.Raise(3, phone, absl::Seconds(1)).ok());
  h.WaitForCounter("auth_refused.intake.wrong_role", 1, good->get());

  h.GoodClientWorks(**good, 4);
  CHECK(h.Counter("alerts_received") == 1);
  // dispatchctl shows the same counters (and connects with the key directory's operator key).
  const testing::CommandOutput stats = testing::RunDispatchctl(
      {"stats", "--operator=" + h.dispatchd->operators(), "--keys_dir=" + h.dispatchd->keys_dir()});
  CHECK(stats.exit_code == 0);
  CHECK_THAT(stats.output, Catch::Contains("auth_refused.intake.unknown_key"));
  CHECK(h.dispatchd->Stop(SIGTERM) == 0);
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("refused by authentication"));
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("unknown_key, key " + stranger.public_key));
}

TEST_CASE("a revoked key loses new connections and its open session while others work",
          "[integration][auth]") {
  AuthHarness h;
  auto good = h.Responder(2, h.drill_keys);
  REQUIRE(good.ok());
  // Enrolled while dispatchd runs, no restart.
  const auth::CurveClientKeys phone_keys = h.Enrol("phone-1", "responder", 1, good->get());
  absl::StatusOr<std::unique_ptr<ResponderClient>> phone = h.Responder(1, phone_keys);
  REQUIRE(phone.ok());
  REQUIRE(h.Raise(1, h.operator_keys)->accepted);
  const std::optional<Delivery> offered = AuthHarness::NextAssignment(**phone);
  REQUIRE(offered.has_value());
  REQUIRE((*phone)->Ack(offered->assignment_id).ok());
  const std::optional<Delivery> good_offer = AuthHarness::NextAssignment(**good);
  REQUIRE(good_offer.has_value());
  REQUIRE((*good)->Ack(good_offer->assignment_id).ok());

  const uint64_t reloads = h.Counter("auth_allow_list_reloads");
  REQUIRE(h.dispatchd->Revoke("phone-1").ok());
  h.WaitForCounter("auth_allow_list_reloads", reloads + 1, good->get());

  // The session the key opened before may no longer speak (asked at once, on the same
  // connection: a client silent for three heartbeats would reconnect, and be refused there)...
  const absl::Status arrive = (*phone)->Arrive(offered->assignment_id);
  CHECK_FALSE(arrive.ok());
  CHECK_THAT(std::string(arrive.message()), Catch::Contains("unauthorized"));
  CHECK(h.Counter("auth_refused.responder.revoked_session") >= 1);
  // ...and a new connection with it is refused in the handshake.
  absl::StatusOr<std::unique_ptr<ResponderClient>> again = h.Responder(1, phone_keys);
  REQUIRE_FALSE(again.ok());
  CHECK(absl::IsPermissionDenied(again.status()));
  h.WaitForCounter("auth_refused.responder.revoked_key", 1, good->get());

  // Keys that were not revoked work on: a new incident (another category, so it does not merge)
  // goes to the nearest free units, 3 and 4, and unit 3 acknowledges.
  auto unit3 = h.Responder(3, h.drill_keys);
  REQUIRE(unit3.ok());
  REQUIRE(h.Raise(2, h.operator_keys, absl::Seconds(5), Category::kMedical)->accepted);
  const std::optional<Delivery> unit3_offer = AuthHarness::NextAssignment(**unit3);
  REQUIRE(unit3_offer.has_value());
  CHECK((*unit3)->Ack(unit3_offer->assignment_id).ok());
}

TEST_CASE("a responder key cannot say Hello or acknowledge for another unit",
          "[integration][auth]") {
  AuthHarness h;
  auto good = h.Responder(2, h.drill_keys);
  REQUIRE(good.ok());
  const auth::CurveClientKeys unit1_keys = h.Enrol("unit-1", "responder", 1, good->get());

  // Hello as unit 2 with unit 1's key.
  absl::StatusOr<std::unique_ptr<ResponderClient>> impostor = h.Responder(2, unit1_keys);
  REQUIRE_FALSE(impostor.ok());
  CHECK(absl::IsPermissionDenied(impostor.status()));
  CHECK_THAT(std::string(impostor.status().message()),
             Catch::Contains("This key belongs to unit 1; it cannot speak for unit 2."));
  CHECK(h.Counter("auth_refused.responder.wrong_unit") == 1);

  // Hello as unit 1 (its own), then an ack for unit 2's assignment in unit 2's name, raw.
  REQUIRE(h.Raise(1, h.operator_keys)->accepted);
  const std::optional<Delivery> offered = AuthHarness::NextAssignment(**good);
  REQUIRE(offered.has_value());
  zmq::socket_t raw(h.context, zmq::socket_type::dealer);
  raw.set(zmq::sockopt::linger, 0);
  raw.set(zmq::sockopt::rcvtimeo, 5000);
  REQUIRE(auth::UseClientKeys(raw.handle(), unit1_keys).ok());
  raw.connect(h.dispatchd->responders());
  pb::Envelope hello;
  hello.set_protocol_version(1);
  hello.set_sequence(1);
  hello.mutable_hello()->set_role(pb::CLIENT_ROLE_RESPONDER);
  hello.mutable_hello()->set_unit_id(1);
  raw.send(zmq::buffer(Envelope(hello)), zmq::send_flags::none);
  pb::Envelope ack;
  ack.set_protocol_version(1);
  ack.set_sequence(2);
  ack.mutable_ack_assignment()->set_unit_id(2);
  ack.mutable_ack_assignment()->set_assignment_id(offered->assignment_id);
  raw.send(zmq::buffer(Envelope(ack)), zmq::send_flags::none);
  bool welcomed = false;
  std::optional<pb::CommandResult> answer;
  while (!answer.has_value()) {
    zmq::message_t m;
    REQUIRE(raw.recv(m));
    pb::Envelope e;
    REQUIRE(e.ParseFromArray(m.data(), static_cast<int>(m.size())));
    welcomed = welcomed || e.has_welcome();
    if (e.has_command_result() && e.command_result().in_reply_to_sequence() == 2) {
      answer = e.command_result();
    }
  }
  CHECK(welcomed);
  CHECK_FALSE(answer->ok());
  CHECK(answer->reason() == pb::REJECT_REASON_UNAUTHORIZED);
  CHECK(answer->message() == "This connection speaks for unit 1, not unit 2.");
  CHECK(h.Counter("auth_refused.responder.wrong_unit") == 2);

  // A position batch with unit 1's key may name unit 1 only: naming unit 2 refuses it whole.
  for (const UnitId named : {UnitId{1}, UnitId{2}}) {
    pb::Envelope batch;
    batch.set_protocol_version(1);
    batch.set_sequence(10 + named);
    for (const UnitId unit : {UnitId{1}, named}) {
      pb::UnitPosition* p = batch.mutable_position_batch()->add_positions();
      p->set_unit_id(unit);
      p->mutable_position()->set_lon(113.3);
      p->mutable_position()->set_lat(23.1);
    }
    raw.send(zmq::buffer(Envelope(batch)), zmq::send_flags::none);
    std::optional<pb::CommandResult> result;
    while (!result.has_value()) {
      zmq::message_t m;
      REQUIRE(raw.recv(m));
      pb::Envelope e;
      REQUIRE(e.ParseFromArray(m.data(), static_cast<int>(m.size())));
      if (e.has_command_result() && e.command_result().in_reply_to_sequence() == 10 + named) {
        result = e.command_result();
      }
    }
    INFO("batch naming units 1 and " << named);
    CHECK(result->ok() == (named == 1));
    if (named == 2) {
      CHECK(result->reason() == pb::REJECT_REASON_UNAUTHORIZED);
      CHECK_THAT(result->message(), Catch::Contains("may not report positions for unit 2"));
    }
  }
  CHECK(h.Counter("auth_refused.responder.wrong_unit") == 3);

  // The assignment is still unit 2's to acknowledge.
  CHECK((*good)->Ack(offered->assignment_id).ok());
}

// Sends `bytes` over a plain TCP connection to `endpoint` (tcp://127.0.0.1:port) and closes it.
void SendRawBytes(const std::string& endpoint, const std::string& bytes) {
  int port = 0;
  REQUIRE(absl::SimpleAtoi(endpoint.substr(endpoint.rfind(':') + 1), &port));
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0);
  CHECK(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  close(fd);
}

TEST_CASE("random bytes on every port are refused and counted while a keyed client works",
          "[integration][auth]") {
  const uint64_t seed = testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  std::mt19937_64 random(seed);
  AuthHarness h;
  auto good = h.Responder(1, h.drill_keys);
  REQUIRE(good.ok());
  const std::pair<std::string, std::string> ports[] = {{"intake", h.dispatchd->intake()},
                                                       {"responder", h.dispatchd->responders()},
                                                       {"operator", h.dispatchd->operators()},
                                                       {"feed", h.dispatchd->feed()}};
  for (const auto& [channel, endpoint] : ports) {
    std::string noise(512, '\0');
    for (char& c : noise) c = static_cast<char>(random());
    SendRawBytes(endpoint, noise);
    // And noise behind a valid ZMTP signature, so the greeting's later checks are reached too.
    std::string signed_noise = noise;
    signed_noise[0] = static_cast<char>(0xff);
    signed_noise[9] = 0x7f;
    SendRawBytes(endpoint, signed_noise);
  }
  // Two refused connections per port; how each is counted depends on the bytes, but every one is.
  const uint64_t failed = h.WaitForCounter("handshake_failed", 8, good->get());
  CHECK(failed == 8);
  const auto counters = h.Counters();
  for (const auto& [channel, endpoint] : ports) {
    uint64_t on_channel = 0;
    for (const auto& [name, value] : counters) {
      if (name.rfind(absl::StrCat("handshake_failed.", channel, "."), 0) == 0) on_channel += value;
    }
    INFO(channel);
    CHECK(on_channel == 2);
  }
  h.GoodClientWorks(**good, 1);
  CHECK(h.dispatchd->Stop(SIGTERM) == 0);
}

}  // namespace
}  // namespace gz
