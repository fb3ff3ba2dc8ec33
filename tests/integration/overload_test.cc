// Overload, end to end against the real dispatchd: a burst of alerts far larger than the engine may
// queue is answered in full (accepted or BUSY, never silence), only the least severe are shed, and
// the shed count shows in the stats. dispatchd runs with a tiny admission queue and one decision
// per turn so that a burst from one client overruns it.

#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/strings/str_cat.h"
#include "engine/auth/curve_keys.h"
#include "protocol/dispatch.pb.h"
#include "tests/support/dispatchd_process.h"
#include "tests/support/small_city.h"

namespace gz {
namespace {

namespace pb = ::gz::dispatch::v1;
using testing::DispatchdProcess;

std::string AlertFrame(uint64_t sequence, LonLat where, pb::Level level) {
  pb::Envelope e;
  e.set_protocol_version(1);
  e.set_sequence(sequence);
  pb::RaiseAlert* a = e.mutable_raise_alert();
  a->set_reporter_id("burst");
  a->set_client_sequence(sequence);
  // Spread out so that nothing merges: each alert is decided on its own.
  a->mutable_position()->set_lon(where.lon + 0.002 * static_cast<double>(sequence % 40));
  a->mutable_position()->set_lat(where.lat + 0.002 * static_cast<double>(sequence / 40 % 10));
  a->set_category(pb::CATEGORY_FIRE);
  a->set_level(level);
  return e.SerializeAsString();
}

struct BurstResult {
  std::map<uint64_t, pb::AlertReply> replies;  // by client_sequence
  int answers = 0;                             // including any duplicates
};

// Sends `levels.size()` alerts back to back on one connection, then collects every answer.
BurstResult Burst(zmq::context_t& context, const DispatchdProcess& dispatchd,
                  const auth::CurveClientKeys& keys, LonLat where, uint64_t first_sequence,
                  const std::vector<pb::Level>& levels) {
  zmq::socket_t socket(context, zmq::socket_type::dealer);
  REQUIRE(auth::UseClientKeys(socket.handle(), keys).ok());
  socket.set(zmq::sockopt::linger, 0);
  socket.set(zmq::sockopt::sndhwm, 100000);
  socket.set(zmq::sockopt::rcvhwm, 100000);
  socket.set(zmq::sockopt::rcvtimeo, 10000);
  socket.connect(dispatchd.intake());
  // One alert first, answered, so the connection (and its CURVE handshake) is up before the burst.
  std::vector<std::string> frames;
  for (size_t i = 0; i < levels.size(); ++i) {
    frames.push_back(AlertFrame(first_sequence + i, where, levels[i]));
  }
  BurstResult result;
  socket.send(zmq::buffer(frames[0]), zmq::send_flags::none);
  for (size_t i = 1; i < frames.size(); ++i) socket.send(zmq::buffer(frames[i]));
  while (result.replies.size() < frames.size()) {
    zmq::message_t reply;
    if (!socket.recv(reply)) break;  // 10 s without an answer: something was lost
    pb::Envelope e;
    REQUIRE(e.ParseFromArray(reply.data(), static_cast<int>(reply.size())));
    REQUIRE(e.has_alert_reply());
    ++result.answers;
    result.replies[e.alert_reply().client_sequence()] = e.alert_reply();
  }
  return result;
}

TEST_CASE(
    "an alert burst past the admission queue is answered in full and sheds only the least "
    "severe",
    "[integration][overload]") {
  const testing::SmallCity city = testing::MakeSmallCity({10, 20, 30, 40, 50}, 1);
  auto started = DispatchdProcess::Start(
      city.config_dir, {"--intake_batch=1", "--intake_read_batch=512", "--max_pending_alerts=8"});
  REQUIRE(started.ok());
  std::unique_ptr<DispatchdProcess> dispatchd = *std::move(started);
  auto keys = dispatchd->ClientKeys("operator");
  REQUIRE(keys.ok());
  zmq::context_t context;

  // Mostly level IV, with a level I every 50th: the queue (8) must never shed a level I while
  // level IV alerts wait. A burst is read faster than it is decided, but how much arrives per turn
  // is up to the scheduler, so bursts are repeated until one overruns the queue.
  constexpr int kPerBurst = 400;
  std::vector<pb::Level> levels;
  for (int i = 0; i < kPerBurst; ++i) {
    levels.push_back(i % 50 == 25 ? pb::LEVEL_I_EXTREME : pb::LEVEL_IV_GENERAL);
  }
  int shed_total = 0;
  int accepted_total = 0;
  for (int attempt = 0; attempt < 5 && shed_total == 0; ++attempt) {
    const uint64_t first = 1 + static_cast<uint64_t>(attempt) * kPerBurst;
    const BurstResult result = Burst(context, *dispatchd, *keys, city.alert_point, first, levels);
    INFO("attempt " << attempt);
    // Every alert answered exactly once: accepted or refused, nothing lost, nothing twice.
    REQUIRE(result.replies.size() == static_cast<size_t>(kPerBurst));
    CHECK(result.answers == kPerBurst);
    for (const auto& [sequence, reply] : result.replies) {
      const pb::Level level = levels[sequence - first];
      if (reply.has_accepted()) {
        ++accepted_total;
        continue;
      }
      REQUIRE(reply.has_rejected());
      INFO("alert " << sequence << ": " << reply.rejected().message());
      CHECK(reply.rejected().reason() == pb::REJECT_REASON_BUSY);
      CHECK(reply.rejected().retry_after_ms() > 0);
      CHECK(level == pb::LEVEL_IV_GENERAL);  // a level I is never the one shed here
      ++shed_total;
    }
  }
  CHECK(shed_total > 0);
  CHECK(accepted_total > 0);

  // The engine says so in its stats, and keeps serving: a fresh alert is accepted.
  zmq::socket_t ops(context, zmq::socket_type::dealer);
  REQUIRE(auth::UseClientKeys(ops.handle(), *keys).ok());
  ops.set(zmq::sockopt::linger, 0);
  ops.set(zmq::sockopt::rcvtimeo, 5000);
  ops.connect(dispatchd->operators());
  pb::Envelope request;
  request.set_protocol_version(1);
  request.set_sequence(1);
  request.mutable_get_stats();
  ops.send(zmq::buffer(request.SerializeAsString()), zmq::send_flags::none);
  zmq::message_t m;
  REQUIRE(ops.recv(m));
  pb::Envelope reply;
  REQUIRE(reply.ParseFromArray(m.data(), static_cast<int>(m.size())));
  const auto& counters = reply.stats().counters();
  CHECK(counters.at("alerts_shed") == static_cast<uint64_t>(shed_total));
  CHECK(counters.at("alerts_shed.level_IV") == static_cast<uint64_t>(shed_total));
  const BurstResult after =
      Burst(context, *dispatchd, *keys, city.alert_point, 100000, {pb::LEVEL_III_LARGE});
  REQUIRE(after.replies.size() == 1);
  CHECK(after.replies.begin()->second.has_accepted());
  CHECK(dispatchd->Stop(SIGTERM) == 0);
}

}  // namespace
}  // namespace gz
