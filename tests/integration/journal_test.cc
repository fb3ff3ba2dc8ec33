// Crash recovery, end to end: the real dispatchd with a journal, killed with SIGKILL, started again
// on the same journal and the same endpoints. Units sit east of the alert point at 10, 20, 30, 40
// and 50 m (tests/support/small_city.h); every plan sends 2 frontline units and gives them 60 s
// to acknowledge, so the assignments are still waiting when the engine comes back.

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/client/alert_client.h"
#include "engine/client/responder_client.h"
#include "protocol/dispatch.pb.h"
#include "tests/support/dispatchd_process.h"
#include "tests/support/small_city.h"

namespace gz {
namespace {

namespace fs = std::filesystem;
namespace pb = ::gz::dispatch::v1;
using client::AlertClient;
using client::Delivery;
using client::ResponderClient;
using testing::DispatchdProcess;

// A journal directory under /tmp, removed at the end.
struct JournalDir {
  JournalDir() {
    std::string pattern = (fs::temp_directory_path() / "gz-journal-it-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~JournalDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  // The newest segment file.
  std::string LastSegment() const {
    std::string last;
    for (const auto& entry : fs::directory_iterator(path)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind("journal-", 0) == 0 && entry.path().extension() == ".log" &&
          entry.path().string() > last) {
        last = entry.path().string();
      }
    }
    return last;
  }
  std::string path;
};

std::vector<std::string> Flags(const JournalDir& journal, std::vector<std::string> more = {}) {
  std::vector<std::string> flags = {"--insecure_no_auth", "--journal_dir=" + journal.path,
                                    "--heartbeat_interval_ms=500", "--resend_interval_ms=200"};
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

// One request on the operator channel, on a fresh DEALER: the reply.
pb::Envelope Ask(zmq::context_t& context, const std::string& endpoint, pb::Envelope request) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::rcvtimeo, 5000);
  socket.connect(endpoint);
  request.set_protocol_version(1);
  request.set_sender_id("journal-test");
  request.set_sequence(1);
  socket.send(zmq::buffer(request.SerializeAsString()), zmq::send_flags::none);
  zmq::message_t reply;
  pb::Envelope envelope;
  REQUIRE(socket.recv(reply));
  REQUIRE(envelope.ParseFromArray(reply.data(), static_cast<int>(reply.size())));
  return envelope;
}

pb::IncidentSummary Incident(zmq::context_t& context, const DispatchdProcess& d, uint64_t id) {
  pb::Envelope request;
  request.mutable_get_incident()->set_incident_id(id);
  const pb::Envelope reply = Ask(context, d.operators(), request);
  REQUIRE(reply.has_incident_detail());
  return reply.incident_detail().incident();
}

uint64_t Counter(zmq::context_t& context, const DispatchdProcess& d, const std::string& name) {
  pb::Envelope request;
  request.mutable_get_stats();
  const pb::Envelope reply = Ask(context, d.operators(), request);
  REQUIRE(reply.has_stats());
  auto it = reply.stats().counters().find(name);
  return it == reply.stats().counters().end() ? 0 : it->second;
}

client::AlertOutcome Raise(zmq::context_t& context, const DispatchdProcess& d,
                           const testing::SmallCity& city, uint64_t sequence) {
  auto alerts = AlertClient::Create(
      context, {.endpoint = d.intake(), .reporter_id = "phone-1", .timeout = absl::Seconds(5)});
  REQUIRE(alerts.ok());
  client::Alert alert;
  alert.client_sequence = sequence;
  alert.position = city.alert_point;
  alert.category = Category::kFire;
  alert.level = Level::kIvGeneral;
  auto outcome = (*alerts)->Raise(alert);
  REQUIRE(outcome.ok());
  return *outcome;
}

std::unique_ptr<ResponderClient> Connect(zmq::context_t& context, const DispatchdProcess& d,
                                         UnitId unit) {
  auto connected = ResponderClient::Connect(
      context, {.endpoint = d.responders(), .unit_id = unit, .request_timeout = absl::Seconds(5)});
  REQUIRE(connected.ok());
  return *std::move(connected);
}

std::optional<Delivery> NextAssignment(ResponderClient& responder,
                                       absl::Duration timeout = absl::Seconds(15)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto d = responder.Next(deadline - absl::Now());
    REQUIRE(d.ok());
    if (d->has_value() && (*d)->kind == Delivery::Kind::kAssignment) return **d;
  }
  return std::nullopt;
}

std::map<uint64_t, pb::AssignmentSummary> ById(const pb::IncidentSummary& incident) {
  std::map<uint64_t, pb::AssignmentSummary> out;
  for (const pb::AssignmentSummary& a : incident.assignments()) out[a.assignment_id()] = a;
  return out;
}

TEST_CASE("dispatchd killed with SIGKILL comes back from its journal where it was",
          "[integration][journal]") {
  const testing::SmallCity city = testing::MakeSmallCity({10, 20, 30, 40, 50}, 2, 60);
  JournalDir journal;
  zmq::context_t context;

  auto first = DispatchdProcess::Start(city.config_dir, Flags(journal));
  REQUIRE(first.ok());
  CHECK_THAT((*first)->output(),
             Catch::Contains("journal: replayed 0 records from " + journal.path));
  std::unique_ptr<ResponderClient> unit1 = Connect(context, **first, 1);
  std::unique_ptr<ResponderClient> unit2 = Connect(context, **first, 2);
  const client::AlertOutcome opened = Raise(context, **first, city, 1);
  REQUIRE(opened.accepted);
  const auto a1 = NextAssignment(*unit1);
  const auto a2 = NextAssignment(*unit2);
  REQUIRE(a1.has_value());
  REQUIRE(a2.has_value());
  REQUIRE(unit1->Ack(a1->assignment_id).ok());  // unit 2 leaves its assignment waiting
  const pb::IncidentSummary before = Incident(context, **first, opened.incident_id);
  const uint64_t feed_before = Counter(context, **first, "feed_sequence");
  CHECK(feed_before > 0);
  const std::vector<std::string> endpoints = (*first)->EndpointFlags();

  const int killed = (*first)->Kill();
  REQUIRE(WIFSIGNALED(killed));
  CHECK(WTERMSIG(killed) == SIGKILL);
  // A crash in the middle of a write leaves part of a record behind.
  {
    std::ofstream segment(journal.LastSegment(), std::ios::binary | std::ios::app);
    segment << std::string("\x2a\x00\x00\x00\x01\x02\x03", 7);
  }

  auto second = DispatchdProcess::Start(city.config_dir, Flags(journal, endpoints));
  REQUIRE(second.ok());
  const std::string& said = (*second)->output();
  CHECK_THAT(said, Catch::Contains("journal: truncated torn tail of 7 bytes at "));
  CHECK_THAT(said, Catch::Contains("journal: replayed "));
  CHECK_THAT(said, Catch::Contains("(1 open incidents, 1 pending assignments)"));
  CHECK((*second)->intake() == (*first)->intake());

  // The incident, its assignments and their deadlines are as they were.
  const pb::IncidentSummary after = Incident(context, **second, opened.incident_id);
  CHECK(after.state() == before.state());
  CHECK(after.state() == pb::INCIDENT_STATE_ACKNOWLEDGED);
  CHECK(after.opened_at_unix_us() == before.opened_at_unix_us());
  const auto was = ById(before);
  const auto is = ById(after);
  REQUIRE(is.size() == 2);
  REQUIRE(was.size() == 2);
  for (const auto& [id, assignment] : was) {
    REQUIRE(is.count(id) == 1);
    CHECK(is.at(id).unit_id() == assignment.unit_id());
    CHECK(is.at(id).state() == assignment.state());
    CHECK(is.at(id).issued_at_unix_us() == assignment.issued_at_unix_us());
    CHECK(is.at(id).ack_deadline_unix_us() == assignment.ack_deadline_unix_us());
  }
  CHECK(is.at(a1->assignment_id).state() == pb::ASSIGNMENT_STATE_ACKNOWLEDGED);
  CHECK(is.at(a2->assignment_id).state() == pb::ASSIGNMENT_STATE_OFFERED);
  // The feed continues where it stopped.
  CHECK(Counter(context, **second, "feed_sequence") == feed_before);

  // Unit 2's client never went away: it finds the new engine at the same address, says Hello,
  // and gets its unacknowledged assignment again, although the new engine numbers it 1.
  const auto again = NextAssignment(*unit2);
  REQUIRE(again.has_value());
  CHECK(again->assignment_id == a2->assignment_id);
  CHECK(again->incident_id == opened.incident_id);
  CHECK(unit2->counters().sequence_resets >= 1);
  CHECK(unit2->Ack(again->assignment_id).ok());

  // The alert retried with the same idempotency key is the same incident.
  const client::AlertOutcome retried = Raise(context, **second, city, 1);
  CHECK(retried.accepted);
  CHECK(retried.duplicate);
  CHECK(retried.incident_id == opened.incident_id);

  const int stopped = (*second)->Stop(SIGTERM);
  REQUIRE(WIFEXITED(stopped));
  CHECK(WEXITSTATUS(stopped) == 0);

  // A third start replays both runs; the ack of the second run is there too.
  auto third = DispatchdProcess::Start(city.config_dir, Flags(journal));
  REQUIRE(third.ok());
  CHECK_THAT((*third)->output(), Catch::Contains("(1 open incidents, 0 pending assignments)"));
  CHECK(Incident(context, **third, opened.incident_id).state() == pb::INCIDENT_STATE_ACKNOWLEDGED);
}

TEST_CASE("a damaged record in the middle of the journal stops dispatchd at start",
          "[integration][journal]") {
  const testing::SmallCity city = testing::MakeSmallCity({10, 20, 30}, 2, 60);
  JournalDir journal;
  zmq::context_t context;
  auto first = DispatchdProcess::Start(city.config_dir, Flags(journal));
  REQUIRE(first.ok());
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) {
    REQUIRE(Raise(context, **first, city, sequence).accepted);
  }
  REQUIRE(WIFEXITED((*first)->Stop(SIGTERM)));
  // Flip one byte inside the first record's payload (just past the 64-byte segment header and the
  // 8-byte record header).
  const std::string segment = journal.LastSegment();
  {
    std::fstream file(segment, std::ios::binary | std::ios::in | std::ios::out);
    file.seekg(64 + 8 + 2);
    char byte = 0;
    file.read(&byte, 1);
    file.seekp(64 + 8 + 2);
    byte = static_cast<char>(byte ^ 0x10);
    file.write(&byte, 1);
  }
  const uintmax_t size = fs::file_size(segment);
  auto second = DispatchdProcess::Start(city.config_dir, Flags(journal));
  REQUIRE_FALSE(second.ok());
  const std::string message(second.status().message());
  CHECK_THAT(message, Catch::Contains(segment));
  CHECK_THAT(message, Catch::Contains("record 1 at offset 64"));
  CHECK_THAT(message, Catch::Contains("not the torn end of a write"));
  CHECK(fs::file_size(segment) == size);  // nothing was cut away
}

TEST_CASE("a snapshot bounds what a restart replays", "[integration][journal]") {
  const testing::SmallCity city = testing::MakeSmallCity({10, 20, 30}, 2, 60);
  JournalDir journal;
  zmq::context_t context;
  auto first =
      DispatchdProcess::Start(city.config_dir, Flags(journal, {"--snapshot_every_records=100"}));
  REQUIRE(first.ok());
  // 130 reports of one fire: one incident, 130 records (and a snapshot after the 100th or so).
  uint64_t incident = 0;
  for (uint64_t sequence = 1; sequence <= 130; ++sequence) {
    const client::AlertOutcome outcome = Raise(context, **first, city, sequence);
    REQUIRE(outcome.accepted);
    incident = outcome.incident_id;
  }
  const pb::IncidentSummary before = Incident(context, **first, incident);
  CHECK(before.reports() == 130);
  const uint64_t feed_before = Counter(context, **first, "feed_sequence");
  const uint64_t last_record = Counter(context, **first, "journal_last_record");
  CHECK(last_record >= 130);
  // The snapshot is written by a child process while the engine goes on: wait until the engine
  // has seen it finish (it counts it then), not a fixed time.
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (Counter(context, **first, "journal_snapshots") == 0 && absl::Now() < give_up) {
  }
  CHECK(Counter(context, **first, "journal_snapshots") >= 1);
  (*first)->Kill();

  bool have_snapshot = false;
  for (const auto& entry : fs::directory_iterator(journal.path)) {
    have_snapshot |= entry.path().filename().string().rfind("snapshot-", 0) == 0;
  }
  CHECK(have_snapshot);

  auto second = DispatchdProcess::Start(city.config_dir, Flags(journal));
  REQUIRE(second.ok());
  const std::string& said = (*second)->output();
  CHECK_THAT(said, Catch::Contains("journal: restored the state after record "));
  const size_t at = said.find("journal: replayed ");
  REQUIRE(at != std::string::npos);
  const uint64_t replayed = std::stoull(said.substr(at + std::string("journal: replayed ").size()));
  CHECK(replayed < 100);
  const pb::IncidentSummary after = Incident(context, **second, incident);
  CHECK(after.reports() == 130);
  CHECK(after.state() == before.state());
  CHECK(Counter(context, **second, "feed_sequence") == feed_before);
  CHECK(Counter(context, **second, "journal_last_record") == last_record);
  // The engine goes on from there: a new alert opens the next incident.
  auto alerts = AlertClient::Create(
      context,
      {.endpoint = (*second)->intake(), .reporter_id = "other", .timeout = absl::Seconds(5)});
  REQUIRE(alerts.ok());
  client::Alert medical;
  medical.client_sequence = 1;
  medical.position = city.alert_point;
  medical.category = Category::kMedical;
  medical.level = Level::kIvGeneral;
  auto outcome = (*alerts)->Raise(medical);
  REQUIRE(outcome.ok());
  CHECK(outcome->accepted);
  CHECK(outcome->incident_id == incident + 1);
}

TEST_CASE("a stop while a snapshot is being written waits for it and stops cleanly",
          "[integration][journal]") {
  const testing::SmallCity city = testing::MakeSmallCity({10, 20, 30}, 2, 60);
  JournalDir journal;
  zmq::context_t context;
  auto first =
      DispatchdProcess::Start(city.config_dir, Flags(journal, {"--snapshot_every_records=100"}));
  REQUIRE(first.ok());
  // The 100th record or so makes a snapshot child; the stop comes at once after the last alert,
  // while it may still be writing.
  for (uint64_t sequence = 1; sequence <= 110; ++sequence) {
    REQUIRE(Raise(context, **first, city, sequence).accepted);
  }
  const int status = (*first)->Stop(SIGTERM);
  INFO((*first)->output());
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT((*first)->output(), !Catch::Contains("journal failed"));
  bool have_snapshot = false;
  for (const auto& entry : fs::directory_iterator(journal.path)) {
    const std::string name = entry.path().filename().string();
    CHECK_FALSE(absl::EndsWith(name, ".tmp"));  // nothing half written left behind
    have_snapshot |= name.rfind("snapshot-", 0) == 0;
  }
  CHECK(have_snapshot);
}

}  // namespace
}  // namespace gz
