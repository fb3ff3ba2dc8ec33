// Property tests over thousands of random commands on the full Guangzhou default:
//   - the same command sequence applied to two fresh cores gives identical event sequences;
//   - reservation invariants hold after every command (no unit held twice, no unit stuck assigned).
// Seed: DISPATCH_TEST_SEED (see tests/support/test_seed.h).

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "engine/config/city_data.h"
#include "engine/dispatch/dispatch_core.h"
#include "tests/support/guangzhou.h"
#include "tests/support/test_seed.h"

namespace gz {
namespace {

const CityData& City() { return testing::GuangzhouDefault(); }

std::unique_ptr<DispatchCore> NewCore(absl::Time start) {
  const CityData& city = City();
  DispatchConfig config = DispatchConfig::Defaults();
  auto registry = UnitRegistry::Create(city.units, city.projection, config.travel);
  REQUIRE(registry.ok());
  auto core = DispatchCore::Create(config, city.map.get(), *std::move(registry), start);
  REQUIRE(core.ok());
  return *std::move(core);
}

// Every active assignment holds its unit, every assigned unit is held by exactly one.
void CheckReservations(const DispatchCore& core) {
  std::map<UnitId, int> holders;
  for (const auto& [iid, inc] : core.incidents()) {
    for (AssignmentId aid : inc.assignments) {
      const Assignment* a = core.FindAssignment(aid);
      REQUIRE(a != nullptr);
      if (!IsActive(a->status)) continue;
      ++holders[a->unit];
      REQUIRE(IsOpen(inc.state));
      REQUIRE(core.ActiveAssignmentOf(a->unit) == a);
    }
  }
  size_t assigned_units = 0;
  const UnitRegistry& units = core.units();
  for (Slot s = 0; s < units.size(); ++s) {
    if (units.unit(s).status == UnitStatus::kAssigned) ++assigned_units;
  }
  for (const auto& [unit, count] : holders) REQUIRE(count == 1);
  REQUIRE(assigned_units == holders.size());
}

// Draws a random command, biased towards ones that touch live state (acks for issued assignments,
// operator actions on open incidents) and including invalid ones.
class CommandSource {
 public:
  explicit CommandSource(uint64_t seed) : rng_(seed) {}

  CommandBody Next(const DispatchCore& core) {
    const CityData& city = City();
    const int kind = Pick(100);
    if (kind < 30) {
      RaiseAlert a;
      a.reporter_id = "r" + std::to_string(Pick(20));
      // One in ten retries an earlier key.
      a.client_sequence = (Pick(10) == 0 && sequence_ > 1) ? 1 + Pick(sequence_) : ++sequence_;
      const Unit& near = city.units[Pick(city.units.size())];
      a.position = {near.position.lon + (Pick(2001) - 1000) * 1e-5,
                    near.position.lat + (Pick(2001) - 1000) * 1e-5};
      if (Pick(40) == 0) a.position = {120.0, 30.0};                 // outside
      a.category = static_cast<Category>(Pick(kCategoryCount + 1));  // includes 0 and 9: invalid
      a.level = static_cast<Level>(Pick(kLevelCount + 1));
      if (Pick(5) == 0) {  // a second report of the previous alert: merges
        a.position = last_alert_.position;
        a.category = last_alert_.category;
        a.level = last_alert_.level;
      }
      last_alert_ = a;
      return a;
    }
    std::vector<const Assignment*> active;
    for (IncidentId id : core.open_incidents()) {
      for (AssignmentId aid : core.FindIncident(id)->assignments) {
        const Assignment* a = core.FindAssignment(aid);
        if (IsActive(a->status)) active.push_back(a);
      }
    }
    const AssignmentId random_assignment = 1 + Pick(core.stats().assignments_issued + 3);
    const Assignment* target = active.empty() ? nullptr : active[Pick(active.size())];
    const UnitId unit = target ? target->unit : city.units[Pick(city.units.size())].id;
    const AssignmentId assignment = (target && Pick(8) != 0) ? target->id : random_assignment;
    if (kind < 50) return AckAssignment{unit, assignment};
    if (kind < 60) {
      return DeclineAssignment{unit, assignment, static_cast<DeclineReason>(Pick(6))};
    }
    if (kind < 70) return ReportArrival{unit, assignment};
    if (kind < 80) {
      UpdateUnit u;
      u.unit = Pick(50) == 0 ? 999999 : city.units[Pick(city.units.size())].id;
      if (Pick(3) == 0) u.status = static_cast<UnitStatus>(Pick(4));
      if (Pick(3) == 0) u.on_post = static_cast<int32_t>(Pick(5)) - 1;
      if (Pick(3) == 0) {
        const Unit& near = city.units[Pick(city.units.size())];
        u.position = near.position;
      }
      return u;
    }
    const IncidentId incident =
        core.open_incidents().empty() || Pick(5) == 0
            ? 1 + Pick(core.incidents().size() + 2)
            : *std::next(core.open_incidents().begin(), Pick(core.open_incidents().size()));
    if (kind < 88) return ResolveIncident{incident};
    if (kind < 94) return CloseIncident{incident};
    if (kind < 97) return CancelIncident{incident};
    return AdvanceTime{};
  }

  absl::Duration NextGap() { return absl::Milliseconds(Pick(20000)); }

 private:
  uint64_t Pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  std::mt19937_64 rng_;
  uint64_t sequence_ = 0;
  RaiseAlert last_alert_;
};

TEST_CASE("the same commands give the same events bit for bit", "[dispatch][determinism]") {
  const uint64_t seed = testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  const absl::Time start = absl::FromUnixSeconds(1'780'000'000);
  std::unique_ptr<DispatchCore> first = NewCore(start);
  CommandSource source(seed);

  std::vector<Command> commands;
  std::vector<Event> first_events;
  absl::Time t = start;
  for (int i = 0; i < 4000; ++i) {
    t += source.NextGap();
    commands.push_back(Command{t, source.Next(*first)});
    first->Apply(commands.back(), &first_events);
    if (i % 100 == 0) CheckReservations(*first);
  }
  CheckReservations(*first);
  // The run must have exercised the interesting paths, or the comparison proves little.
  const CoreStats& s = first->stats();
  CHECK(s.alerts_accepted > 100);
  CHECK(s.alerts_merged > 0);
  CHECK(s.alerts_duplicate > 0);
  CHECK(s.alerts_rejected > 0);
  CHECK(s.assignments_acked > 100);
  CHECK(s.assignments_declined > 10);
  CHECK(s.assignments_expired > 10);
  CHECK(s.commands_rejected > 100);

  std::unique_ptr<DispatchCore> second = NewCore(start);
  std::vector<Event> second_events;
  for (const Command& c : commands) second->Apply(c, &second_events);
  REQUIRE(second_events.size() == first_events.size());
  for (size_t i = 0; i < first_events.size(); ++i) {
    INFO("event " << i);
    REQUIRE(second_events[i] == first_events[i]);
  }
}

}  // namespace
}  // namespace gz
