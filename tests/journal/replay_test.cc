// Journal replay rebuilds the core: the commands a core applied, written through the journal and
// read back into a fresh core created the same way, give the same events and the same state. And
// the fingerprint tells apart what a journal must not be replayed against.

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/journal/fingerprint.h"
#include "engine/journal/journal.h"
#include "engine/transport/journal_codec.h"
#include "tests/support/grid_world.h"
#include "tests/support/test_seed.h"

namespace gz {
namespace {

namespace fs = std::filesystem;
using testing::GridWorld;

const std::vector<std::string> kMap = {
    "A..b....C",
    "....*...d",
    "E....f...",
    "..G.....h",
};

// Plays a random but plausible session against `world`: alerts, acks, declines, arrivals, unit
// updates, operator actions and the deadline timer; returns the commands in the order applied.
std::vector<Command> PlaySession(GridWorld& world, uint64_t seed, int steps) {
  std::mt19937_64 rng(seed);
  std::vector<Command> commands;
  absl::Time now = world.start();
  uint64_t sequence = 0;
  for (int step = 0; step < steps; ++step) {
    now +=
        absl::Milliseconds(static_cast<int64_t>(rng() % 20'000)) + absl::Nanoseconds(rng() % 997);
    std::vector<AssignmentId> active;
    for (IncidentId id : world.core().open_incidents()) {
      for (AssignmentId a : world.core().FindIncident(id)->assignments) {
        const Assignment* as = world.core().FindAssignment(a);
        if (IsActive(as->status)) active.push_back(a);
      }
    }
    CommandBody body = AdvanceTime{};
    const int pick = static_cast<int>(rng() % 10);
    if (pick < 3 || active.empty()) {
      const LonLat at = world.Cell(static_cast<double>(rng() % 4), static_cast<double>(rng() % 9));
      body =
          RaiseAlert{rng() % 5 == 0 ? "repeat" : "reporter", rng() % 5 == 0 ? 1 : ++sequence + 1,
                     at, static_cast<Category>(1 + rng() % 8), static_cast<Level>(1 + rng() % 4)};
    } else {
      const Assignment* a = world.core().FindAssignment(active[rng() % active.size()]);
      switch (pick) {
        case 3:
        case 4:
          body = AckAssignment{a->unit, a->id};
          break;
        case 5:
          body = DeclineAssignment{a->unit, a->id, DeclineReason::kBusy};
          break;
        case 6:
          body = ReportArrival{a->unit, a->id};
          break;
        case 7:
          body =
              UpdateUnit{a->unit, std::nullopt, static_cast<int32_t>(1 + rng() % 3), std::nullopt};
          break;
        case 8:
          body = rng() % 2 ? CommandBody{ResolveIncident{a->incident}}
                           : CommandBody{ReleaseAssignment{a->id}};
          break;
        default:
          break;  // the deadline timer
      }
    }
    const Command command{now, body};
    std::vector<Event> ignored;
    world.core().Apply(command, &ignored);
    commands.push_back(command);
  }
  return commands;
}

TEST_CASE("a journal replayed into a fresh core rebuilds the same state and events",
          "[journal][replay]") {
  const uint64_t seed = gz::testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  std::string pattern = (fs::temp_directory_path() / "replay_test_XXXXXX").string();
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  const std::string dir = pattern;

  // The live engine: every command journaled, committed in groups of a few, as dispatchd does.
  GridWorld live(kMap);
  const std::vector<Command> commands = PlaySession(live, seed, 400);
  {
    auto journal = journal::JournalDirectory::Open(dir);
    REQUIRE(journal.ok());
    REQUIRE((*journal)->Replay([](uint64_t, absl::string_view) { return absl::OkStatus(); }).ok());
    auto writer = (*journal)->StartWriter(absl::ToUnixMicros(live.start()), 1);
    REQUIRE(writer.ok());
    for (size_t i = 0; i < commands.size(); ++i) {
      (*writer)->Append(transport::EncodeJournalCommand(commands[i]));
      if (i % 7 == 6) REQUIRE((*writer)->Commit().ok());
    }
    REQUIRE((*writer)->Commit().ok());
  }

  // The restarted engine: a fresh core, then every record in order.
  GridWorld restarted(kMap);
  GridWorld reference(kMap);
  std::vector<Event> replayed_events;
  std::vector<Event> reference_events;
  auto journal = journal::JournalDirectory::Open(dir);
  REQUIRE(journal.ok());
  size_t index = 0;
  auto summary = (*journal)->Replay([&](uint64_t number, absl::string_view payload) {
    absl::StatusOr<Command> command = transport::DecodeJournalCommand(payload);
    if (!command.ok()) return command.status();
    REQUIRE(number == index + 1);
    REQUIRE(*command == commands[index]);
    restarted.core().Apply(*command, &replayed_events);
    reference.core().Apply(commands[index], &reference_events);
    ++index;
    return absl::OkStatus();
  });
  REQUIRE(summary.ok());
  CHECK(summary->records == commands.size());
  CHECK(replayed_events == reference_events);
  CHECK(restarted.core().now() == live.core().now());
  CHECK(restarted.core().open_incidents() == live.core().open_incidents());
  CHECK(restarted.core().NextDeadline() == live.core().NextDeadline());
  CHECK(restarted.core().stats() == live.core().stats());
  for (const auto& [id, incident] : live.core().incidents()) {
    const Incident* again = restarted.core().FindIncident(id);
    REQUIRE(again != nullptr);
    CHECK(again->state == incident.state);
    CHECK(again->assignments == incident.assignments);
    for (AssignmentId a : incident.assignments) {
      CHECK(restarted.core().FindAssignment(a)->status == live.core().FindAssignment(a)->status);
      CHECK(restarted.core().FindAssignment(a)->ack_deadline ==
            live.core().FindAssignment(a)->ack_deadline);
    }
  }
  // And from here on both answer the same.
  const Command next{live.core().now() + absl::Minutes(5), AdvanceTime{}};
  std::vector<Event> a, b;
  live.core().Apply(next, &a);
  restarted.core().Apply(next, &b);
  CHECK(a == b);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

// A one-district map for fingerprints.
std::unique_ptr<DistrictMap> SquareMap(double zone_seed_x = 0) {
  District d;
  d.code = 440103;
  d.polygons.push_back(Polygon{{Ring{{-1000, 1000}, {1000, 1000}, {1000, -1000}, {-1000, -1000}}}});
  return std::make_unique<DistrictMap>(std::vector<District>{d},
                                       std::vector<Zone>{Zone{1, 440103, "z", {zone_seed_x, 0}}});
}

std::vector<Unit> TwoUnits() {
  Unit a;
  a.id = 1;
  a.name = "a";
  a.position = {113.2644, 23.1291};
  a.district = 440103;
  a.zone = 1;
  a.members = 10;
  a.on_post = 2;
  Unit b = a;
  b.id = 2;
  b.name = "b";
  b.position = {113.2650, 23.1291};
  return {a, b};
}

TEST_CASE("the fingerprint changes with the units the map and the policy but not with names",
          "[journal]") {
  const LocalProjection projection;
  const DispatchConfig config = DispatchConfig::Defaults();
  const auto map = SquareMap();
  const uint64_t base = journal::EngineFingerprint(config, projection, *map, TwoUnits());
  CHECK(base == journal::EngineFingerprint(config, projection, *map, TwoUnits()));

  std::vector<Unit> renamed = TwoUnits();
  renamed[0].name = "another name";
  CHECK(journal::EngineFingerprint(config, projection, *map, renamed) == base);

  std::vector<Unit> units = TwoUnits();
  units[1].on_post = 3;
  CHECK(journal::EngineFingerprint(config, projection, *map, units) != base);
  units = TwoUnits();
  units[1].position.lon += 1e-9;
  CHECK(journal::EngineFingerprint(config, projection, *map, units) != base);
  units = TwoUnits();
  std::swap(units[0], units[1]);  // the order fixes the registry's slots
  CHECK(journal::EngineFingerprint(config, projection, *map, units) != base);

  DispatchConfig slower = config;
  slower.travel.speed_mps[0] = 1.3;
  CHECK(journal::EngineFingerprint(slower, projection, *map, TwoUnits()) != base);
  DispatchConfig later = config;
  ResponsePlan plan = *later.FindPlan(Category::kFire, Level::kIvGeneral);
  plan.ack_deadline += absl::Seconds(1);
  later.SetPlan(Category::kFire, Level::kIvGeneral, plan);
  CHECK(journal::EngineFingerprint(later, projection, *map, TwoUnits()) != base);

  CHECK(journal::EngineFingerprint(config, projection, *SquareMap(10), TwoUnits()) != base);
  CHECK(journal::EngineFingerprint(config, LocalProjection(LonLat{113, 23}), *map, TwoUnits()) !=
        base);
}

}  // namespace
}  // namespace gz
