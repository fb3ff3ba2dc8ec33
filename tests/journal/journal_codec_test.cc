// Journal payloads: every command body round trips exactly; anything else is refused, never a
// crash.

#include "engine/transport/journal_codec.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

#include "tests/support/test_seed.h"

namespace gz::transport {
namespace {

// An odd time to the nanosecond, so that a codec that rounds to microseconds fails.
const absl::Time kAt = absl::FromUnixNanos(1'767'225'600'123'456'789);

std::vector<CommandBody> EveryBody() {
  return {
      RaiseAlert{"110:20260101-0001", 42, LonLat{113.2644123456789, 23.1291987654321},
                 Category::kHazmat, Level::kIiMajor},
      RaiseAlert{"", 0, LonLat{}, Category::kUnspecified, Level::kUnspecified},
      RaiseAlert{std::string("\xff\x00 not utf-8", 12), 7, LonLat{-0.0, 1e-300}, Category::kRescue,
                 Level::kIExtreme},
      AckAssignment{5123, 900'000'000'001},
      DeclineAssignment{77, 12, DeclineReason::kUnsafe},
      DeclineAssignment{77, 13, DeclineReason::kUnspecified},
      ReportArrival{9, 31},
      UpdateUnit{1, std::nullopt, std::nullopt, std::nullopt},
      UpdateUnit{2, UnitStatus::kOffPost, std::nullopt, std::nullopt},
      UpdateUnit{3, std::nullopt, 0, std::nullopt},
      UpdateUnit{4, UnitStatus::kAvailable, -1, LonLat{113.3, 23.2}},
      ResolveIncident{1},
      CloseIncident{2},
      CancelIncident{3},
      ManualAssign{4, 5, AssignmentRole::kAssembly},
      ManualAssign{6, 7, AssignmentRole::kFrontline},
      ReleaseAssignment{8},
      SetUnitStatus{9, UnitStatus::kOutOfService},
      SetUnitStatus{10, UnitStatus::kAssigned},
      AdvanceTime{},
  };
}

TEST_CASE("every command body round trips through a journal record", "[journal][codec]") {
  std::vector<CommandBody> bodies = EveryBody();
  // Every alternative of the variant is covered.
  std::vector<bool> seen(std::variant_size_v<CommandBody>, false);
  for (const CommandBody& body : bodies) seen[body.index()] = true;
  CHECK(std::count(seen.begin(), seen.end(), false) == 0);
  for (const CommandBody& body : bodies) {
    const Command command{kAt, body};
    const std::string payload = EncodeJournalCommand(command);
    absl::StatusOr<Command> decoded = DecodeJournalCommand(payload);
    INFO("body index " << body.index());
    REQUIRE(decoded.ok());
    CHECK(*decoded == command);
  }
  // Times far from now too.
  for (absl::Time at :
       {absl::UnixEpoch(), absl::FromUnixSeconds(-1), absl::FromUnixSeconds(4'000'000'000)}) {
    absl::StatusOr<Command> decoded =
        DecodeJournalCommand(EncodeJournalCommand({at, AdvanceTime{}}));
    REQUIRE(decoded.ok());
    CHECK(decoded->at == at);
  }
}

TEST_CASE("a journal record that is not a known command is refused", "[journal][codec]") {
  // An empty record parses but carries no command.
  absl::StatusOr<Command> empty = DecodeJournalCommand("");
  REQUIRE(absl::IsDataLoss(empty.status()));
  CHECK_THAT(std::string(empty.status().message()), Catch::Contains("no command"));
  CHECK(absl::IsDataLoss(DecodeJournalCommand("\xff\xff\xff").status()));
  // An enum value this engine does not have: a raise_alert whose category is 99.
  std::string payload = EncodeJournalCommand(
      {kAt, RaiseAlert{"r", 1, LonLat{113.26, 23.12}, Category::kFire, Level::kIvGeneral}});
  // Fields 4 (category) and 5 (level) of the nested message: 0x20 0x01 0x28 0x01 (varints 1, 1).
  const size_t at = payload.find(std::string("\x20\x01\x28\x01", 4));
  REQUIRE(at != std::string::npos);
  payload[at + 1] = 99;
  absl::StatusOr<Command> unknown = DecodeJournalCommand(payload);
  REQUIRE(absl::IsDataLoss(unknown.status()));
  CHECK_THAT(std::string(unknown.status().message()), Catch::Contains("raise_alert.category"));
}

TEST_CASE("decoding random bytes never crashes", "[journal][codec]") {
  const uint64_t seed = gz::testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  const std::vector<CommandBody> bodies = EveryBody();
  for (int round = 0; round < 5000; ++round) {
    std::string payload = EncodeJournalCommand({kAt, bodies[rng() % bodies.size()]});
    for (int k = 0; k < 3; ++k) payload[rng() % payload.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) payload.resize(rng() % (payload.size() + 1));
    (void)DecodeJournalCommand(payload);
  }
}

TEST_CASE("the engine snapshot payload round trips", "[journal][codec]") {
  EngineSnapshot snapshot{.feed_event_sequence = 123456, .core = std::string("\x00\x01core", 6)};
  absl::StatusOr<EngineSnapshot> decoded = DecodeEngineSnapshot(EncodeEngineSnapshot(snapshot));
  REQUIRE(decoded.ok());
  CHECK(*decoded == snapshot);
  CHECK(absl::IsDataLoss(DecodeEngineSnapshot("\x12\x7f").status()));
}

}  // namespace
}  // namespace gz::transport
