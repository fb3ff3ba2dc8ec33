// Integration tests: the real dispatchd process on 127.0.0.1 with ephemeral ports, real ZeroMQ
// clients over TCP, with CURVE keys as in production (responders use the drill key, everything
// else the operator key; tests/integration/auth_test.cc tests the keys themselves). Units sit east
// of the alert point at 10, 20, 30, 40 and 50 m (a small city written by
// tests/support/small_city.h); every plan sends 2 frontline units.

#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "engine/app/cpu_placement.h"
#include "engine/auth/curve_keys.h"
#include "engine/client/alert_client.h"
#include "engine/client/responder_client.h"
#include "protocol/dispatch.pb.h"
#include "tests/support/dispatchd_process.h"
#include "tests/support/small_city.h"

namespace gz {
namespace {

using client::AlertClient;
using client::Delivery;
using client::ResponderClient;
using testing::DispatchdProcess;
using testing::MakeSmallCity;
using testing::SmallCity;

namespace pb = ::gz::dispatch::v1;

struct Harness {
  SmallCity city;
  std::unique_ptr<DispatchdProcess> dispatchd;
  zmq::context_t context;
  std::map<UnitId, std::unique_ptr<ResponderClient>> responders;

  explicit Harness(int ack_deadline_s = 30, const std::vector<std::string>& extra_flags = {}) {
    city = MakeSmallCity({10, 20, 30, 40, 50}, 2, ack_deadline_s);
    std::vector<std::string> flags = {"--heartbeat_interval_ms=500", "--resend_interval_ms=200"};
    flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
    auto started = DispatchdProcess::Start(city.config_dir, flags);
    REQUIRE(started.ok());
    dispatchd = *std::move(started);
  }

  // The client keys of pair `name` of dispatchd's key directory ("operator" or "drill").
  auth::CurveClientKeys Keys(const std::string& name) {
    absl::StatusOr<auth::CurveClientKeys> keys = dispatchd->ClientKeys(name);
    REQUIRE(keys.ok());
    return *keys;
  }
  // Gives a raw socket the operator key, before it connects.
  void UseOperatorKey(zmq::socket_t& socket) {
    REQUIRE(auth::UseClientKeys(socket.handle(), Keys("operator")).ok());
  }

  ResponderClient& Responder(UnitId unit) {
    auto& slot = responders[unit];
    if (!slot) {
      auto connected = ResponderClient::Connect(context, {.endpoint = dispatchd->responders(),
                                                          .unit_id = unit,
                                                          .request_timeout = absl::Seconds(5),
                                                          .curve = Keys("drill")});
      REQUIRE(connected.ok());
      slot = *std::move(connected);
    }
    return *slot;
  }

  client::AlertOutcome Raise(uint64_t sequence, Category category = Category::kFire,
                             const std::string& reporter = "it") {
    auto alerts = AlertClient::Create(context, {.endpoint = dispatchd->intake(),
                                                .reporter_id = reporter,
                                                .timeout = absl::Seconds(5),
                                                .curve = Keys("operator")});
    REQUIRE(alerts.ok());
    client::Alert alert;
    alert.client_sequence = sequence;
    alert.position = city.alert_point;
    alert.category = category;
    alert.level = Level::kIvGeneral;
    auto outcome = (*alerts)->Raise(alert);
    REQUIRE(outcome.ok());
    return *outcome;
  }

  // The next assignment delivered to `unit`, skipping area broadcasts; nullopt after `timeout`.
  std::optional<Delivery> NextAssignment(UnitId unit, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      auto d = Responder(unit).Next(deadline - absl::Now());
      REQUIRE(d.ok());
      if (d->has_value() && (*d)->kind == Delivery::Kind::kAssignment) return **d;
    }
    return std::nullopt;
  }

  // Everything delivered to `unit` within `timeout`.
  std::vector<Delivery> Drain(UnitId unit, absl::Duration timeout) {
    std::vector<Delivery> out;
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      auto d = Responder(unit).Next(deadline - absl::Now());
      REQUIRE(d.ok());
      if (d->has_value()) out.push_back(**d);
    }
    return out;
  }
};

// A raw DEALER for sending arbitrary bytes, with `keys`.
std::string RoundTripRaw(zmq::context_t& context, const std::string& endpoint,
                         const std::string& bytes, const auth::CurveClientKeys& keys) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  REQUIRE(auth::UseClientKeys(socket.handle(), keys).ok());
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 5000);
  socket.connect(endpoint);
  socket.send(zmq::buffer(bytes), zmq::send_flags::none);
  zmq::message_t reply;
  if (!socket.recv(reply)) return "";
  return reply.to_string();
}

std::string Envelope(const pb::Envelope& e) { return e.SerializeAsString(); }

TEST_CASE("an alert reaches the nearest units and no others and acks acknowledge the incident",
          "[integration]") {
  Harness h;
  for (UnitId u : h.city.units) h.Responder(u);  // the whole small fleet is online
  const client::AlertOutcome outcome = h.Raise(1);
  REQUIRE(outcome.accepted);
  CHECK_FALSE(outcome.merged);

  const auto first = h.NextAssignment(1);
  const auto second = h.NextAssignment(2);
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  CHECK(first->incident_id == outcome.incident_id);
  CHECK(first->role == AssignmentRole::kFrontline);
  CHECK(first->category == Category::kFire);
  // Units 3-5 get the area broadcast but no assignment.
  for (UnitId u : {3u, 4u, 5u}) {
    for (const Delivery& d : h.Drain(u, absl::Milliseconds(300))) {
      CHECK(d.kind != Delivery::Kind::kAssignment);
    }
  }
  REQUIRE(h.Responder(1).Ack(first->assignment_id).ok());
  REQUIRE(h.Responder(2).Ack(second->assignment_id).ok());
  // Acking an assignment the unit does not hold is refused with a reason.
  const absl::Status wrong = h.Responder(3).Ack(first->assignment_id);
  CHECK_FALSE(wrong.ok());
  CHECK_THAT(std::string(wrong.message()), Catch::Contains("not_assigned"));
  CHECK(h.dispatchd->Stop(SIGTERM) == 0);
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("2 acked"));
}

TEST_CASE("a decline and silence both cascade to the next unit", "[integration]") {
  Harness h(/*ack_deadline_s=*/1);
  for (UnitId u : h.city.units) h.Responder(u);
  REQUIRE(h.Raise(1).accepted);
  const auto first = h.NextAssignment(1);
  REQUIRE(first.has_value());
  REQUIRE(h.NextAssignment(2).has_value());
  // Unit 1 declines: unit 3 is next.
  REQUIRE(h.Responder(1).Decline(first->assignment_id, DeclineReason::kUnsafe).ok());
  const auto third = h.NextAssignment(3);
  REQUIRE(third.has_value());
  // Unit 2 stays silent past its 1 s deadline: unit 4 is next, and unit 2 is told it is released.
  const auto fourth = h.NextAssignment(4);
  REQUIRE(fourth.has_value());
  bool released = false;
  for (const Delivery& d : h.Drain(2, absl::Milliseconds(500))) {
    if (d.kind == Delivery::Kind::kReleased) {
      released = true;
      CHECK(d.release_reason == CascadeReason::kAckTimeout);
    }
  }
  CHECK(released);
}

TEST_CASE("a retried alert gets the same answer and opens one incident", "[integration]") {
  Harness h;
  const client::AlertOutcome first = h.Raise(77, Category::kMedical, "phone-9");
  const client::AlertOutcome again = h.Raise(77, Category::kMedical, "phone-9");
  REQUIRE(first.accepted);
  REQUIRE(again.accepted);
  CHECK(again.duplicate);
  CHECK(again.incident_id == first.incident_id);
  const client::AlertOutcome other = h.Raise(78, Category::kMedical, "phone-9");
  CHECK(other.merged);  // same place and category: joins, still one incident
  CHECK(other.incident_id == first.incident_id);
}

TEST_CASE("a console that joins late gets the snapshot then live events", "[integration]") {
  Harness h;
  const client::AlertOutcome a = h.Raise(1, Category::kFire);
  const client::AlertOutcome b = h.Raise(2, Category::kMedical);
  REQUIRE(a.accepted);
  REQUIRE(b.accepted);

  zmq::socket_t feed(h.context, zmq::socket_type::sub);
  feed.set(zmq::sockopt::subscribe, "");
  feed.set(zmq::sockopt::rcvtimeo, 5000);
  h.UseOperatorKey(feed);
  feed.connect(h.dispatchd->feed());
  zmq::socket_t ops(h.context, zmq::socket_type::dealer);
  ops.set(zmq::sockopt::rcvtimeo, 5000);
  h.UseOperatorKey(ops);
  ops.connect(h.dispatchd->operators());
  pb::Envelope request;
  request.set_protocol_version(1);
  request.set_sender_id("console");
  request.set_sequence(1);
  request.mutable_feed_snapshot_request();
  ops.send(zmq::buffer(Envelope(request)), zmq::send_flags::none);
  std::map<uint64_t, pb::IncidentSummary> incidents;
  uint64_t as_of = 0;
  for (bool last = false; !last;) {
    zmq::message_t part;
    REQUIRE(ops.recv(part));
    pb::Envelope reply;
    REQUIRE(reply.ParseFromArray(part.data(), static_cast<int>(part.size())));
    REQUIRE(reply.has_feed_snapshot());
    as_of = reply.feed_snapshot().as_of_event_sequence();
    for (const auto& inc : reply.feed_snapshot().incidents()) incidents[inc.incident_id()] = inc;
    last = reply.feed_snapshot().last();
  }
  CHECK(incidents.count(a.incident_id) == 1);
  CHECK(incidents.count(b.incident_id) == 1);
  CHECK(as_of > 0);

  // A new alert after the snapshot arrives on the feed with the next sequences.
  const client::AlertOutcome c = h.Raise(3, Category::kTraffic);
  bool opened = false;
  for (int i = 0; i < 50 && !opened; ++i) {
    zmq::message_t m;
    REQUIRE(feed.recv(m));
    pb::Envelope e;
    REQUIRE(e.ParseFromArray(m.data(), static_cast<int>(m.size())));
    REQUIRE(e.has_incident_event());
    if (e.incident_event().event_sequence() <= as_of) continue;  // already in the snapshot
    opened = e.incident_event().has_incident_opened() &&
             e.incident_event().incident_id() == c.incident_id;
  }
  CHECK(opened);
}

TEST_CASE("a responder that reconnects gets what it missed", "[integration]") {
  Harness h;
  h.Responder(1);
  h.Responder(2);
  uint64_t seen = h.Responder(1).last_delivery_sequence();
  // Unit 1 goes away; an alert is raised meanwhile.
  h.responders.erase(1);
  REQUIRE(h.Raise(1).accepted);
  // It comes back saying what it had: the assignment is delivered now.
  auto back = ResponderClient::Connect(h.context, {.endpoint = h.dispatchd->responders(),
                                                   .unit_id = 1,
                                                   .request_timeout = absl::Seconds(5),
                                                   .last_delivery_sequence_seen = seen,
                                                   .curve = h.Keys("drill")});
  REQUIRE(back.ok());
  h.responders[1] = *std::move(back);
  const auto missed = h.NextAssignment(1);
  REQUIRE(missed.has_value());
  CHECK(missed->delivery_sequence > seen);
  REQUIRE(h.Responder(1).Ack(missed->assignment_id).ok());
}

TEST_CASE("garbage and oversized and truncated frames get errors while a good client works",
          "[integration]") {
  Harness h;
  h.Responder(1);
  // Garbage bytes on the intake: an AlertReply with malformed_message.
  pb::Envelope reply;
  REQUIRE(reply.ParseFromString(
      RoundTripRaw(h.context, h.dispatchd->intake(), "\xff\x01garbage", h.Keys("operator"))));
  REQUIRE(reply.has_alert_reply());
  CHECK(reply.alert_reply().rejected().reason() == pb::REJECT_REASON_MALFORMED_MESSAGE);
  CHECK_FALSE(reply.alert_reply().rejected().message().empty());

  // A truncated valid alert.
  pb::Envelope alert;
  alert.set_protocol_version(1);
  alert.set_sender_id("x");
  alert.set_sequence(1);
  alert.mutable_raise_alert()->set_reporter_id("x");
  alert.mutable_raise_alert()->set_client_sequence(1);
  alert.mutable_raise_alert()->mutable_position()->set_lon(h.city.alert_point.lon);
  alert.mutable_raise_alert()->mutable_position()->set_lat(h.city.alert_point.lat);
  alert.mutable_raise_alert()->set_category(pb::CATEGORY_FIRE);
  alert.mutable_raise_alert()->set_level(pb::LEVEL_IV_GENERAL);
  const std::string whole = Envelope(alert);
  REQUIRE(reply.ParseFromString(RoundTripRaw(
      h.context, h.dispatchd->intake(), whole.substr(0, whole.size() - 3), h.Keys("operator"))));
  CHECK(reply.alert_reply().has_rejected());

  // An operator message on the responder channel: unknown_message_type.
  pb::Envelope wrong;
  wrong.set_protocol_version(1);
  wrong.set_sequence(5);
  wrong.mutable_get_stats();
  REQUIRE(reply.ParseFromString(
      RoundTripRaw(h.context, h.dispatchd->responders(), Envelope(wrong), h.Keys("drill"))));
  REQUIRE(reply.has_command_result());
  CHECK(reply.command_result().reason() == pb::REJECT_REASON_UNKNOWN_MESSAGE_TYPE);

  // An oversized frame (over 64 KiB, within 4x that) is answered with the reason and both sizes.
  REQUIRE(reply.ParseFromString(RoundTripRaw(h.context, h.dispatchd->intake(),
                                             std::string(200 * 1024, 'x'), h.Keys("operator"))));
  REQUIRE(reply.has_alert_reply());
  CHECK(reply.alert_reply().rejected().reason() == pb::REJECT_REASON_MESSAGE_TOO_LARGE);
  CHECK_THAT(reply.alert_reply().rejected().message(), Catch::Contains("204800 bytes"));
  CHECK_THAT(reply.alert_reply().rejected().message(), Catch::Contains("65536"));

  // Beyond 4x the cap ZeroMQ cuts the connection off: answered with nothing, and the engine
  // carries on.
  zmq::socket_t big(h.context, zmq::socket_type::dealer);
  big.set(zmq::sockopt::linger, 0);
  h.UseOperatorKey(big);
  big.connect(h.dispatchd->intake());
  big.send(zmq::buffer(std::string(2 * 1024 * 1024, 'x')), zmq::send_flags::none);

  // Not our framing, refused unanswered (either would be echoed back whole): a delimiter that is
  // not empty, and one frame too many.
  zmq::socket_t framing(h.context, zmq::socket_type::dealer);
  framing.set(zmq::sockopt::linger, 0);
  h.UseOperatorKey(framing);
  framing.connect(h.dispatchd->intake());
  framing.send(zmq::buffer(std::string(1000, 'd')), zmq::send_flags::sndmore);
  framing.send(zmq::buffer(whole), zmq::send_flags::none);
  framing.send(zmq::str_buffer(""), zmq::send_flags::sndmore);
  framing.send(zmq::str_buffer("extra"), zmq::send_flags::sndmore);
  framing.send(zmq::buffer(whole), zmq::send_flags::none);
  // Then garbage on the same connection, answered: it is read after both, in order.
  framing.set(zmq::sockopt::rcvtimeo, 5000);
  framing.send(zmq::str_buffer("\xff\x01garbage"), zmq::send_flags::none);
  zmq::message_t answer;
  REQUIRE(framing.recv(answer));
  REQUIRE(reply.ParseFromString(answer.to_string()));
  CHECK(reply.alert_reply().rejected().reason() == pb::REJECT_REASON_MALFORMED_MESSAGE);

  // Meanwhile the good client is unaffected.
  const client::AlertOutcome ok = h.Raise(9);
  CHECK(ok.accepted);
  REQUIRE(h.NextAssignment(1).has_value());
  CHECK(h.dispatchd->Stop(SIGTERM) == 0);
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("bad frames refused"));
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("frames_refused.intake.malformed_message"));
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("frames_refused.intake.message_too_large: 1"));
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("frames_refused.bad_framing: 2"));
}

// Cpus_allowed_list of each of a process's threads, by thread id, from /proc.
std::map<pid_t, std::string> ThreadCpuLists(pid_t pid) {
  std::map<pid_t, std::string> lists;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"))) {
    std::ifstream status(task.path() / "status");
    std::string line;
    while (std::getline(status, line)) {
      if (absl::StartsWith(line, "Cpus_allowed_list:")) {
        lists[std::stoi(task.path().filename().string())] =
            std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      }
    }
  }
  return lists;
}

TEST_CASE("with engine_cpu the loop runs alone on its CPU and every other thread on the rest",
          "[integration]") {
  const std::vector<int> allowed = AllowedCpus();
  if (allowed.size() < 2) {
    WARN("one CPU only: nothing to place");
    return;
  }
  const int engine_cpu = allowed.back();
  Harness h(30, {absl::StrCat("--engine_cpu=", engine_cpu)});
  REQUIRE(h.Raise(1).accepted);  // answered: the loop is running, so it has been placed
  CHECK_THAT(h.dispatchd->output(),
             Catch::Contains(absl::StrCat("engine loop pinned to CPU ", engine_cpu)));
  const std::map<pid_t, std::string> lists = ThreadCpuLists(h.dispatchd->pid());
  // The loop (dispatchd's main thread), ZeroMQ's I/O thread and its reaper at least.
  CHECK(lists.size() >= 3);
  const std::string others = CpuListText(*CpusBesideEngine(engine_cpu));
  for (const auto& [tid, list] : lists) {
    INFO("thread " << tid);
    CHECK(list == (tid == h.dispatchd->pid() ? absl::StrCat(engine_cpu) : others));
  }
}

TEST_CASE("an engine_cpu the process may not run on is refused at start with the reason",
          "[integration]") {
  const SmallCity city = MakeSmallCity({10, 20}, 1, 30);
  auto started = DispatchdProcess::Start(city.config_dir, {"--engine_cpu=1023"});
  REQUIRE_FALSE(started.ok());
  CHECK_THAT(std::string(started.status().message()),
             Catch::Contains("engine_cpu 1023 is not a CPU this process may run on"));
}

TEST_CASE("SIGTERM stops dispatchd cleanly with a summary", "[integration]") {
  Harness h;
  REQUIRE(h.Raise(1).accepted);
  const int status = h.dispatchd->Stop(SIGTERM);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("dispatchd stopped on signal 15"));
  CHECK_THAT(h.dispatchd->output(), Catch::Contains("1 incidents opened"));
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

// Regression: a client that went away before its reply made ZeroMQ throw EHOSTUNREACH on the
// routing frame, outside any catch, and dispatchd died.
TEST_CASE("clients that leave before their reply do not bring dispatchd down",
          "[integration][regression]") {
  Harness h;
  pb::Envelope alert;
  alert.set_protocol_version(1);
  alert.set_sender_id("hit-and-run");
  alert.mutable_raise_alert()->set_reporter_id("hit-and-run");
  alert.mutable_raise_alert()->mutable_position()->set_lon(h.city.alert_point.lon);
  alert.mutable_raise_alert()->mutable_position()->set_lat(h.city.alert_point.lat);
  alert.mutable_raise_alert()->set_category(pb::CATEGORY_MEDICAL);
  alert.mutable_raise_alert()->set_level(pb::LEVEL_IV_GENERAL);
  for (int i = 0; i < 50; ++i) {
    zmq::socket_t s(h.context, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 1000);  // the request leaves; the socket is gone before the reply
    h.UseOperatorKey(s);
    s.connect(h.dispatchd->intake());
    alert.set_sequence(i + 1);
    alert.mutable_raise_alert()->set_client_sequence(i + 1);
    s.send(zmq::buffer(Envelope(alert)), zmq::send_flags::none);
    // A message of too many frames is refused too, not echoed.
    if (i % 10 == 0) {
      zmq::socket_t odd(h.context, zmq::socket_type::dealer);
      odd.set(zmq::sockopt::linger, 1000);
      h.UseOperatorKey(odd);
      odd.connect(h.dispatchd->operators());
      for (int f = 0; f < 5; ++f) odd.send(zmq::str_buffer("x"), zmq::send_flags::sndmore);
      odd.send(zmq::str_buffer("x"), zmq::send_flags::none);
    }
  }
  const client::AlertOutcome ok = h.Raise(99, Category::kFire, "good");
  CHECK(ok.accepted);
  const int status = h.dispatchd->Stop(SIGTERM);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

// Regression: a responder whose session the engine dropped (silent too long) kept heartbeating
// into "say Hello first" and never got its assignments again.
TEST_CASE("a responder whose session was dropped says Hello again and gets its assignment",
          "[integration][regression]") {
  Harness h;
  ResponderClient& unit1 = h.Responder(1);
  h.Responder(2);
  // Stay silent (no Next) until the engine has dropped unit 1: ask it, rather than sleep.
  zmq::socket_t ops(h.context, zmq::socket_type::dealer);
  ops.set(zmq::sockopt::rcvtimeo, 5000);
  h.UseOperatorKey(ops);
  ops.connect(h.dispatchd->operators());
  uint64_t lost = 0;
  for (uint64_t seq = 1; lost < 1 && seq < 10000; ++seq) {
    (void)h.Responder(2).Next(absl::Milliseconds(50));  // unit 2 stays alive meanwhile
    pb::Envelope request;
    request.set_protocol_version(1);
    request.set_sequence(seq);
    request.mutable_get_stats();
    ops.send(zmq::buffer(Envelope(request)), zmq::send_flags::none);
    zmq::message_t m;
    REQUIRE(ops.recv(m));
    pb::Envelope reply;
    REQUIRE(reply.ParseFromArray(m.data(), static_cast<int>(m.size())));
    const auto& counters = reply.stats().counters();
    if (auto it = counters.find("responders_lost"); it != counters.end()) lost = it->second;
  }
  REQUIRE(lost >= 1);
  REQUIRE(h.Raise(1).accepted);
  const auto assignment = h.NextAssignment(1);
  REQUIRE(assignment.has_value());
  CHECK(unit1.counters().hellos_sent >= 2);
  CHECK(unit1.Ack(assignment->assignment_id).ok());
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

using testing::DispatchdProcess;
namespace pb = ::gz::dispatch::v1;

pb::Envelope PositionBatchEnvelope(uint64_t sequence,
                                   const std::vector<std::pair<UnitId, LonLat>>& positions) {
  pb::Envelope e;
  e.set_protocol_version(1);
  e.set_sender_id("gateway");
  e.set_sequence(sequence);
  for (const auto& [unit, at] : positions) {
    pb::UnitPosition* p = e.mutable_position_batch()->add_positions();
    p->set_unit_id(unit);
    p->mutable_position()->set_lon(at.lon);
    p->mutable_position()->set_lat(at.lat);
  }
  return e;
}

pb::CommandResult ResultOf(const std::string& reply) {
  pb::Envelope e;
  REQUIRE(e.ParseFromString(reply));
  REQUIRE(e.has_command_result());
  return e.command_result();
}

TEST_CASE("a position gateway's batch moves units; a bad batch is refused whole",
          "[integration][positions]") {
  Harness h;
  const LonLat far_away{h.city.alert_point.lon + 0.05, h.city.alert_point.lat};  // about 5 km east
  const auth::CurveClientKeys drill = h.Keys("drill");

  // Units 1 and 2, the nearest, report (through one batch, unit 1 twice: the latest counts) that
  // they are far away; units 3 and 4 become the nearest.
  const LonLat nearer{h.city.alert_point.lon + 0.04, h.city.alert_point.lat};
  pb::CommandResult result = ResultOf(RoundTripRaw(
      h.context, h.dispatchd->responders(),
      Envelope(PositionBatchEnvelope(1, {{1, nearer}, {2, far_away}, {1, far_away}})), drill));
  CHECK(result.ok());
  CHECK(result.in_reply_to_sequence() == 1);

  // Refused whole: an unknown unit, bad coordinates (auth_test: a key naming another unit).
  result = ResultOf(
      RoundTripRaw(h.context, h.dispatchd->responders(),
                   Envelope(PositionBatchEnvelope(2, {{3, far_away}, {999, far_away}})), drill));
  CHECK_FALSE(result.ok());
  CHECK(result.reason() == pb::REJECT_REASON_UNKNOWN_UNIT);
  CHECK_THAT(result.message(), Catch::Contains("999"));
  result =
      ResultOf(RoundTripRaw(h.context, h.dispatchd->responders(),
                            Envelope(PositionBatchEnvelope(3, {{3, LonLat{200, 23}}})), drill));
  CHECK_FALSE(result.ok());
  CHECK(result.reason() == pb::REJECT_REASON_INVALID_COORDINATES);
  // The alert's two frontline units are 3 and 4: 1 and 2 moved away, and 3 did not (its batches
  // were refused).
  const client::AlertOutcome outcome = h.Raise(1);
  REQUIRE(outcome.accepted);
  CHECK(h.NextAssignment(3).has_value());
  CHECK(h.NextAssignment(4).has_value());
}

}  // namespace
}  // namespace gz
