// Tests of the dispatch core's snapshot: DispatchCore::CaptureState / RestoreState
// (engine/dispatch/core_state.h) and their bytes (engine/transport/snapshot_codec.h).
//
// The property that matters: on the full Guangzhou default, run random commands (every command
// kind, valid and invalid), snapshot at a random point, encode, restore into another core, then
// feed the same remaining commands to both: the events must be identical, command by command, and
// so must every query at the end. Also: every live state the run passes through restores (the
// checks never refuse a real state), the indexes left out of a snapshot are rebuilt exactly, and
// damaged bytes, another unit set, another config or an inconsistent state are refused without
// touching the core. Seed: DISPATCH_TEST_SEED (see tests/support/test_seed.h).

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "engine/config/city_data.h"
#include "engine/dispatch/core_state.h"
#include "engine/dispatch/dispatch_core.h"
#include "engine/dispatch/event_format.h"
#include "engine/transport/snapshot_codec.h"
#include "protocol/snapshot.pb.h"
#include "tests/support/grid_world.h"
#include "tests/support/guangzhou.h"
#include "tests/support/test_seed.h"

namespace gz {
namespace {

namespace pb = ::gz::dispatch::snapshot::v1;
using transport::EncodeCoreSnapshot;
using transport::RestoreCoreSnapshot;

const absl::Time kStart = absl::FromUnixSeconds(1'780'000'000);

const CityData& City() { return testing::GuangzhouDefault(); }

std::unique_ptr<DispatchCore> NewCityCore(const DispatchConfig& config) {
  const CityData& city = City();
  auto registry = UnitRegistry::Create(city.units, city.projection, config.travel);
  REQUIRE(registry.ok());
  auto core = DispatchCore::Create(config, city.map.get(), *std::move(registry), kStart);
  REQUIRE(core.ok());
  return *std::move(core);
}

// The default policy on rings of 1, 2 and 3 minutes only: many incidents cannot be filled, so the
// short set, escalation to professional forces and refills from freed units are exercised.
DispatchConfig ScarceConfig() {
  DispatchConfig config = DispatchConfig::Defaults();
  config.rings = {absl::Minutes(1), absl::Minutes(2), absl::Minutes(3)};
  for (auto& by_level : config.plans) {
    for (std::optional<ResponsePlan>& plan : by_level) {
      if (!plan.has_value()) continue;
      plan->frontline_ring = absl::Minutes(1);
      plan->assembly_ring = absl::Minutes(2);
      // Small assembly targets keep each refill of a short incident cheap in a Debug build.
      plan->assembly_headcount = std::min(plan->assembly_headcount, 4);
    }
  }
  // Short enough that remembered alert answers expire during the run.
  config.idempotency_window = absl::Minutes(30);
  REQUIRE(config.Validate().ok());
  return config;
}

// Draws random commands of every kind from a core's current state: most aim at live assignments and
// open incidents, some are invalid on purpose. Gaps between commands have sub-nanosecond parts
// (absl keeps quarter nanoseconds), and now and then jump hours ahead so deadlines, escalation
// steps and remembered alert answers expire.
class CommandSource {
 public:
  explicit CommandSource(uint64_t seed) : rng_(seed) {}

  CommandBody Next(const DispatchCore& core) {
    const CityData& city = City();
    const UnitId random_unit = city.units[Pick(city.units.size())].id;
    const int kind = Pick(100);
    if (kind < 14) return Alert();
    // Control rooms close incidents about as fast as they open: without this, some seeds pile up
    // dozens of open incidents whose offers expire faster than anyone answers.
    const std::vector<IncidentId> open(core.open_incidents().begin(), core.open_incidents().end());
    if (open.size() > 12 && Pick(3) == 0) {
      const IncidentId oldest = open[Pick(open.size() / 2)];
      if (Pick(2) == 0) return ResolveIncident{oldest};
      return CancelIncident{oldest};
    }

    // Responders mostly answer what they were offered (acks before the deadline), or the cascade
    // would walk every silent incident through thousands of units.
    std::vector<const Assignment*> pending;
    std::vector<const Assignment*> acked;
    for (IncidentId id : open) {
      for (AssignmentId aid : core.FindIncident(id)->assignments) {
        const Assignment* a = core.FindAssignment(aid);
        if (a->status == AssignmentStatus::kPending) pending.push_back(a);
        if (a->status == AssignmentStatus::kAcked) acked.push_back(a);
      }
    }
    const auto choose = [&](const std::vector<const Assignment*>& from) {
      return from.empty() || Pick(10) == 0 ? nullptr : from[Pick(from.size())];
    };
    const Assignment* target = kind < 65 ? choose(pending) : choose(acked);
    if (target == nullptr) target = choose(pending);
    const UnitId unit = target != nullptr ? target->unit : random_unit;
    const AssignmentId assignment =
        target != nullptr ? target->id : 1 + Pick(core.stats().assignments_issued + 3);
    const IncidentId incident = open.empty() || Pick(6) == 0 ? 1 + Pick(core.incidents().size() + 2)
                                                             : open[Pick(open.size())];

    if (kind < 57) return AckAssignment{unit, assignment};
    if (kind < 62) return DeclineAssignment{unit, assignment, static_cast<DeclineReason>(Pick(6))};
    if (kind < 72) return ReportArrival{unit, assignment};
    if (kind < 79) {
      UpdateUnit u;
      u.unit = Pick(50) == 0 ? 999999 : (target != nullptr && Pick(3) == 0 ? unit : random_unit);
      if (Pick(3) == 0) u.status = static_cast<UnitStatus>(Pick(4));
      if (Pick(3) == 0) u.on_post = static_cast<int32_t>(Pick(5)) - 1;
      if (Pick(2) == 0) {  // a patrol moving
        const Unit& near = city.units[Pick(city.units.size())];
        u.position = {near.position.lon + (Pick(201) - 100.0) * 1e-5,
                      near.position.lat + (Pick(201) - 100.0) * 1e-5};
      }
      return u;
    }
    if (kind < 82) {
      return SetUnitStatus{Pick(3) == 0 ? unit : random_unit, static_cast<UnitStatus>(Pick(4))};
    }
    if (kind < 85) {
      return ManualAssign{
          incident, random_unit,
          Pick(10) == 0 ? AssignmentRole::kUnspecified : static_cast<AssignmentRole>(1 + Pick(2))};
    }
    if (kind < 87) return ReleaseAssignment{assignment};
    if (kind < 91) return ResolveIncident{incident};
    if (kind < 95) return CloseIncident{incident};
    if (kind < 96) return CancelIncident{incident};
    return AdvanceTime{};
  }

  absl::Duration NextGap() {
    const absl::Duration fraction = absl::Nanoseconds(1) / 4 * static_cast<int64_t>(Pick(4000));
    if (Pick(200) == 0) return absl::Seconds(30 + Pick(90)) + fraction;  // past ack deadlines
    return absl::Milliseconds(Pick(1000)) + fraction;
  }

  uint64_t Pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

 private:
  RaiseAlert Alert() {
    const CityData& city = City();
    RaiseAlert a;
    a.reporter_id = "r" + std::to_string(Pick(20));
    a.client_sequence = (Pick(10) == 0 && sequence_ > 1) ? 1 + Pick(sequence_) : ++sequence_;
    const Unit& near = city.units[Pick(city.units.size())];
    a.position = {near.position.lon + (Pick(2001) - 1000.0) * 1e-5,
                  near.position.lat + (Pick(2001) - 1000.0) * 1e-5};
    if (Pick(40) == 0) a.position = {120.0, 30.0};                 // outside the city
    a.category = static_cast<Category>(Pick(kCategoryCount + 1));  // 0 and 9 are invalid
    a.level = static_cast<Level>(Pick(kLevelCount + 1));
    if (Pick(5) == 0) {  // another report of the previous alert, maybe more severe: merges
      a.position = last_alert_.position;
      a.category = last_alert_.category;
      a.level = Pick(2) == 0 ? last_alert_.level : static_cast<Level>(1 + Pick(4));
    }
    last_alert_ = a;
    return a;
  }

  std::mt19937_64 rng_;
  uint64_t sequence_ = 0;
  RaiseAlert last_alert_;
};

std::string Describe(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) out += "  " + FormatEvent(e.body) + "\n";
  return out.empty() ? "  (none)\n" : out;
}

// Every field of the live records, compared directly rather than through CaptureState, so that a
// field CaptureState forgets is caught too.
void RequireSameIncident(const Incident& a, const Incident& b) {
  INFO("incident " << a.id);
  REQUIRE(a.id == b.id);
  REQUIRE(a.category == b.category);
  REQUIRE(a.level == b.level);
  REQUIRE(a.position == b.position);
  REQUIRE(a.plane == b.plane);
  REQUIRE(a.district == b.district);
  REQUIRE(a.zone == b.zone);
  REQUIRE(a.state == b.state);
  REQUIRE(a.opened_at == b.opened_at);
  REQUIRE(a.reports == b.reports);
  REQUIRE(*a.plan == *b.plan);
  REQUIRE(a.frontline_ring == b.frontline_ring);
  REQUIRE(a.assembly_ring == b.assembly_ring);
  REQUIRE(a.next_escalation == b.next_escalation);
  REQUIRE(a.short_reported == b.short_reported);
  REQUIRE(a.assembly_complete == b.assembly_complete);
  REQUIRE(a.professional_forces_notified == b.professional_forces_notified);
  REQUIRE(a.assignments == b.assignments);
  REQUIRE(a.tried == b.tried);
  REQUIRE(a.timeline.size() == b.timeline.size());
  for (size_t i = 0; i < a.timeline.size(); ++i) {
    REQUIRE(a.timeline[i].at == b.timeline[i].at);
    REQUIRE(a.timeline[i].state == b.timeline[i].state);
  }
  REQUIRE(a.first_ack_at == b.first_ack_at);
  REQUIRE(a.first_arrival_at == b.first_arrival_at);
  REQUIRE(a.assembled_at == b.assembled_at);
}

void RequireSameAssignment(const Assignment& a, const Assignment& b) {
  INFO("assignment " << a.id);
  REQUIRE(a.id == b.id);
  REQUIRE(a.incident == b.incident);
  REQUIRE(a.unit == b.unit);
  REQUIRE(a.slot == b.slot);
  REQUIRE(a.role == b.role);
  REQUIRE(a.status == b.status);
  REQUIRE(a.headcount == b.headcount);
  REQUIRE(a.eta_s == b.eta_s);
  REQUIRE(a.ring == b.ring);
  REQUIRE(a.issued_at == b.issued_at);
  REQUIRE(a.ack_deadline == b.ack_deadline);
  REQUIRE(a.arrival_deadline == b.arrival_deadline);
  REQUIRE(a.acked_at == b.acked_at);
  REQUIRE(a.arrived_at == b.arrived_at);
  REQUIRE(a.ended_at == b.ended_at);
  REQUIRE(a.decline_reason == b.decline_reason);
  REQUIRE(a.end_reason == b.end_reason);
}

// Two cores answer every query the same way: every record is equal, field by field and through
// CaptureState; so are the live indexes a state leaves out (checked through the queries that read
// them) and the spatial index (checked with nearest-unit queries at random points).
void RequireSameAnswers(const DispatchCore& a, const DispatchCore& b, CommandSource& random) {
  REQUIRE(a.CheckDerivedState().ok());
  REQUIRE(b.CheckDerivedState().ok());
  REQUIRE(a.now() == b.now());
  REQUIRE(a.NextDeadline() == b.NextDeadline());
  REQUIRE(a.stats() == b.stats());
  REQUIRE(a.open_incidents() == b.open_incidents());
  REQUIRE(a.incidents().size() == b.incidents().size());
  for (const auto& [id, incident] : a.incidents()) {
    REQUIRE(b.FindIncident(id) != nullptr);
    RequireSameIncident(incident, *b.FindIncident(id));
    for (AssignmentId aid : incident.assignments) {
      REQUIRE(b.FindAssignment(aid) != nullptr);
      RequireSameAssignment(*a.FindAssignment(aid), *b.FindAssignment(aid));
    }
  }
  REQUIRE(a.CaptureState() == b.CaptureState());
  REQUIRE(a.units().size() == b.units().size());
  for (Slot s = 0; s < a.units().size(); ++s) {
    const Unit& ua = a.units().unit(s);
    const Unit& ub = b.units().unit(s);
    REQUIRE(ua.id == ub.id);
    REQUIRE(ua.status == ub.status);
    REQUIRE(ua.on_post == ub.on_post);
    REQUIRE(ua.position == ub.position);
    REQUIRE(a.units().Offerable(s) == b.units().Offerable(s));
    const Assignment* held_a = a.ActiveAssignmentOf(ua.id);
    const Assignment* held_b = b.ActiveAssignmentOf(ua.id);
    REQUIRE((held_a == nullptr) == (held_b == nullptr));
    if (held_a != nullptr) REQUIRE(held_a->id == held_b->id);
    REQUIRE(a.units().index().position(s) == b.units().index().position(s));
  }
  const CityData& city = City();
  std::vector<Candidate> found_a;
  std::vector<Candidate> found_b;
  for (int i = 0; i < 20; ++i) {
    const LonLat near = city.units[random.Pick(city.units.size())].position;
    const PlanePoint p = a.units().projection().ToPlane(near);
    const auto offerable_a = [&](Slot s) { return a.units().Offerable(s); };
    const auto offerable_b = [&](Slot s) { return b.units().Offerable(s); };
    a.units().index().NearestByTravelTime(p, 8, 600, offerable_a, &found_a);
    b.units().index().NearestByTravelTime(p, 8, 600, offerable_b, &found_b);
    REQUIRE(found_a == found_b);
    a.units().index().WithinRadius(p, 500, offerable_a, &found_a);
    b.units().index().WithinRadius(p, 500, offerable_b, &found_b);
    REQUIRE(found_a == found_b);
  }
}

// The snapshot must be taken at an interesting moment, or restoring it proves little.
void CheckStateIsRich(const CoreState& s, bool expect_short) {
  int pending = 0;
  int acked = 0;
  int arrived = 0;
  for (const CoreState::AssignmentEntry& a : s.assignments) {
    pending += a.status == AssignmentStatus::kPending;
    acked += a.status == AssignmentStatus::kAcked;
    arrived += a.status == AssignmentStatus::kArrived;
  }
  int open = 0;
  int short_open = 0;
  for (const CoreState::IncidentEntry& inc : s.incidents) {
    if (!IsOpen(inc.state)) continue;
    ++open;
    short_open += inc.short_reported;
  }
  int moved = 0;
  int off_post = 0;
  for (size_t i = 0; i < s.units.size(); ++i) {
    moved += !(s.units[i].position == City().units[i].position);
    off_post += s.units[i].status == UnitStatus::kOffPost;
  }
  INFO("open " << open << ", short " << short_open << ", pending " << pending << ", acked " << acked
               << ", arrived " << arrived << ", moved " << moved << ", off post " << off_post
               << ", answers " << s.alert_answers.size());
  CHECK(open > 3);
  CHECK(pending + acked > 0);
  CHECK(arrived > 0);
  CHECK(moved > 10);
  CHECK(off_post > 3);
  CHECK(!s.alert_answers.empty());
  if (expect_short) CHECK(short_open > 0);
}

void RunSnapshotProperty(const DispatchConfig& config, bool expect_short) {
  const uint64_t seed = testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  constexpr int kCommands = 2000;
  CommandSource source(seed);
  const int snapshot_at = kCommands / 3 + static_cast<int>(source.Pick(kCommands / 3));
  INFO("snapshot after command " << snapshot_at);

  std::unique_ptr<DispatchCore> original = NewCityCore(config);
  // Restored again and again from the original's live state: every state a real run passes
  // through must pass RestoreState's checks and come back equal.
  std::unique_ptr<DispatchCore> scratch = NewCityCore(config);
  absl::Time t = kStart;
  std::vector<Event> events;
  for (int i = 0; i < snapshot_at; ++i) {
    t += source.NextGap();
    original->Apply(Command{t, source.Next(*original)}, &events);
    if (i % 50 == 0) {
      INFO("after command " << i);
      const absl::Status derived = original->CheckDerivedState();
      REQUIRE(derived.ToString() == "OK");
      if (i % 200 == 0) {
        const CoreState state = original->CaptureState();
        const absl::Status restored = scratch->RestoreState(state);
        REQUIRE(restored.ToString() == "OK");
        REQUIRE(scratch->CaptureState() == state);
      }
    }
  }
  const std::string bytes = EncodeCoreSnapshot(*original);
  REQUIRE(!bytes.empty());
  CheckStateIsRich(original->CaptureState(), expect_short);

  // Restore into a fresh core, and into one that has lived a different life (other incidents,
  // units moved and withdrawn): whatever it did before must be forgotten.
  std::unique_ptr<DispatchCore> fresh = NewCityCore(config);
  std::unique_ptr<DispatchCore> lived = NewCityCore(config);
  {
    CommandSource other(seed + 1);
    absl::Time other_t = kStart;
    std::vector<Event> ignored;
    for (int i = 0; i < 300; ++i) {
      other_t += other.NextGap();
      lived->Apply(Command{other_t, other.Next(*lived)}, &ignored);
    }
  }
  for (DispatchCore* core : {fresh.get(), lived.get()}) {
    const absl::Status restored = RestoreCoreSnapshot(bytes, core);
    REQUIRE(restored.ToString() == "OK");
    REQUIRE(EncodeCoreSnapshot(*core) == bytes);
  }
  RequireSameAnswers(*original, *fresh, source);
  RequireSameAnswers(*original, *lived, source);

  for (int i = snapshot_at; i < kCommands; ++i) {
    t += source.NextGap();
    const Command command{t, source.Next(*original)};
    std::vector<Event> want;
    std::vector<Event> got_fresh;
    std::vector<Event> got_lived;
    original->Apply(command, &want);
    fresh->Apply(command, &got_fresh);
    lived->Apply(command, &got_lived);
    INFO("command " << i << "; the original emitted\n" << Describe(want));
    REQUIRE(got_fresh == want);
    REQUIRE(got_lived == want);
    if (i % 250 == 0) RequireSameAnswers(*original, *fresh, source);
  }
  RequireSameAnswers(*original, *fresh, source);
  RequireSameAnswers(*original, *lived, source);
  REQUIRE(EncodeCoreSnapshot(*fresh) == EncodeCoreSnapshot(*original));
  // The run went through the paths that leave state behind.
  const CoreStats& s = original->stats();
  CHECK(s.alerts_accepted > 50);
  CHECK(s.alerts_merged > 0);
  CHECK(s.assignments_expired > 0);
  CHECK(s.assignments_released > 0);
  CHECK(s.arrivals > 0);
  CHECK(s.escalations > 0);
}

TEST_CASE("a restored core continues exactly like the original on the Guangzhou default",
          "[snapshot][dispatch]") {
  RunSnapshotProperty(DispatchConfig::Defaults(), /*expect_short=*/false);
}

TEST_CASE("a restored core continues exactly like the original when units are scarce",
          "[snapshot][dispatch]") {
  RunSnapshotProperty(ScarceConfig(), /*expect_short=*/true);
}

// ---------------------------------------------------------------------------------------------
// Refusals. These use small grid worlds: what is tested is the checking, not the scale.

// A world with some history: a served incident, a pending one, a declined and an acked assignment,
// a unit moved and one off post.
std::unique_ptr<testing::GridWorld> BusyWorld(DispatchConfig config = testing::SmallTestConfig()) {
  auto world = std::make_unique<testing::GridWorld>(
      std::vector<std::string>{
          "A.b...C",
          "..*.D..",
          "E...f.G",
      },
      std::move(config));
  world->RaiseAlertAtStar(absl::Seconds(1));
  const AssignmentId first =
      world->AssignmentOf('A') != 0 ? world->AssignmentOf('A') : world->AssignmentOf('b');
  REQUIRE(first != 0);
  const UnitId first_unit = world->core().FindAssignment(first)->unit;
  world->Apply(absl::Seconds(3), AckAssignment{first_unit, first});
  world->Apply(absl::Seconds(4),
               UpdateUnit{world->unit('G'), std::nullopt, std::nullopt, world->Cell(2, 5.5)});
  world->Apply(absl::Seconds(5), SetUnitStatus{world->unit('E'), UnitStatus::kOffPost});
  world->RaiseAlertAtStar(absl::Seconds(6), Category::kMedical, Level::kIiMajor);
  const std::vector<Event> issued = world->RaiseAlertAtStar(absl::Seconds(7), Category::kTraffic);
  for (const AssignmentIssued& a : testing::EventsOf<AssignmentIssued>(issued)) {
    world->Apply(absl::Seconds(8), DeclineAssignment{a.unit, a.assignment, DeclineReason::kBusy});
    break;
  }
  REQUIRE(world->core().CheckDerivedState().ok());
  return world;
}

// Refusal leaves the core exactly as it was.
void RequireRefused(const absl::Status& status, DispatchCore& core, const std::string& before) {
  INFO(status.ToString());
  REQUIRE(!status.ok());
  REQUIRE((status.code() == absl::StatusCode::kInvalidArgument ||
           status.code() == absl::StatusCode::kDataLoss));
  REQUIRE(absl::StartsWith(status.message(), "Snapshot refused: "));
  REQUIRE(EncodeCoreSnapshot(core) == before);
}

// Wraps a CoreSnapshot message the way EncodeCoreSnapshot does, with a correct checksum, so a test
// can hand RestoreCoreSnapshot a well-formed file with bad contents.
std::string Wrap(const pb::CoreSnapshot& state) {
  pb::SnapshotFile file;
  file.set_format_version(transport::kCoreSnapshotFormatVersion);
  REQUIRE(state.SerializeToString(file.mutable_state()));
  file.set_state_fnv1a64(Fnv1a64(file.state()));
  std::string out;
  REQUIRE(file.SerializeToString(&out));
  return out;
}

pb::CoreSnapshot Unwrap(const std::string& bytes) {
  pb::SnapshotFile file;
  REQUIRE(file.ParseFromString(bytes));
  pb::CoreSnapshot state;
  REQUIRE(state.ParseFromString(file.state()));
  return state;
}

TEST_CASE("garbage truncated and corrupted snapshot bytes are refused", "[snapshot]") {
  const uint64_t seed = testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  const auto pick = [&](uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
  };

  const std::string good = EncodeCoreSnapshot(BusyWorld()->core());
  REQUIRE(good.size() > 100);
  // The target has a different history, so "unchanged" is visible.
  auto target = std::make_unique<testing::GridWorld>(
      std::vector<std::string>{"A.b...C", "..*.D..", "E...f.G"});
  target->RaiseAlertAtStar(absl::Seconds(2));
  const std::string before = EncodeCoreSnapshot(target->core());
  DispatchCore& core = target->core();

  SECTION("empty and random bytes") {
    RequireRefused(RestoreCoreSnapshot("", &core), core, before);
    for (int i = 0; i < 2000; ++i) {
      std::string junk(pick(300), '\0');
      for (char& c : junk) c = static_cast<char>(pick(256));
      RequireRefused(RestoreCoreSnapshot(junk, &core), core, before);
    }
  }
  SECTION("every truncation") {
    for (size_t cut = 0; cut < good.size(); ++cut) {
      INFO("cut at " << cut << " of " << good.size());
      RequireRefused(RestoreCoreSnapshot(absl::string_view(good).substr(0, cut), &core), core,
                     before);
    }
  }
  SECTION("every single flipped bit") {
    for (size_t bit = 0; bit < good.size() * 8; ++bit) {
      std::string flipped = good;
      flipped[bit / 8] = static_cast<char>(flipped[bit / 8] ^ (1 << (bit % 8)));
      INFO("bit " << bit);
      RequireRefused(RestoreCoreSnapshot(flipped, &core), core, before);
    }
  }
  SECTION("random state bytes under a correct checksum") {
    for (int i = 0; i < 500; ++i) {
      pb::SnapshotFile file;
      file.set_format_version(transport::kCoreSnapshotFormatVersion);
      std::string junk(pick(200), '\0');
      for (char& c : junk) c = static_cast<char>(pick(256));
      file.set_state(junk);
      file.set_state_fnv1a64(Fnv1a64(junk));
      RequireRefused(RestoreCoreSnapshot(file.SerializeAsString(), &core), core, before);
    }
  }
  SECTION("another format version") {
    pb::SnapshotFile file;
    REQUIRE(file.ParseFromString(good));
    file.set_format_version(2);
    const absl::Status s = RestoreCoreSnapshot(file.SerializeAsString(), &core);
    RequireRefused(s, core, before);
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE(absl::StrContains(s.message(), "format version 2"));
  }
  SECTION("well-formed files with values the engine cannot hold") {
    const std::vector<std::pair<std::string, std::function<void(pb::CoreSnapshot*)>>> cases{
        {"a short unit column",
         [](pb::CoreSnapshot* s) { s->mutable_units()->mutable_lat()->RemoveLast(); }},
        {"a unit status past 255",
         [](pb::CoreSnapshot* s) { s->mutable_units()->set_status(0, 300); }},
        {"a time fraction of a whole second",
         [](pb::CoreSnapshot* s) { s->mutable_now()->set_quarter_nanos(4'000'000'000u); }},
        {"an infinity of 2", [](pb::CoreSnapshot* s) { s->mutable_now()->set_infinite(2); }},
        {"an infinite clock",
         [](pb::CoreSnapshot* s) {
           s->mutable_now()->set_infinite(1);
           s->mutable_now()->set_unix_seconds(0);
           s->mutable_now()->set_quarter_nanos(0);
         }},
        {"an infinite time with seconds too",
         [](pb::CoreSnapshot* s) {
           s->mutable_now()->set_infinite(-1);
           s->mutable_now()->set_unix_seconds(5);
         }},
        {"an incident level past 255",
         [](pb::CoreSnapshot* s) { s->mutable_incidents(0)->set_level(256); }},
        {"a ring with a bad fraction",
         [](pb::CoreSnapshot* s) {
           s->mutable_assignments(0)->mutable_ring()->set_quarter_nanos(4'000'000'000u);
         }},
        {"too many rejection counters",
         [](pb::CoreSnapshot* s) { s->mutable_stats()->add_rejected_by_reason(1); }},
        {"another unit set fingerprint",
         [](pb::CoreSnapshot* s) { s->set_unit_set_fingerprint(s->unit_set_fingerprint() + 1); }},
        {"an assignment of an unknown unit",
         [](pb::CoreSnapshot* s) { s->mutable_assignments(0)->set_unit(999); }},
    };
    const pb::CoreSnapshot state = Unwrap(good);
    REQUIRE(state.incidents_size() > 0);
    REQUIRE(state.assignments_size() > 0);
    // The unchanged state wrapped the same way is accepted (into a throwaway world).
    REQUIRE(RestoreCoreSnapshot(Wrap(state), &BusyWorld()->core()).ok());
    for (const auto& [name, mutate] : cases) {
      INFO(name);
      pb::CoreSnapshot bad = state;
      mutate(&bad);
      const absl::Status s = RestoreCoreSnapshot(Wrap(bad), &core);
      RequireRefused(s, core, before);
      REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST_CASE("a snapshot of another unit set or config is refused", "[snapshot]") {
  const std::string bytes = EncodeCoreSnapshot(BusyWorld()->core());

  const auto refused_by = [&](testing::GridWorld& world) {
    const std::string before = EncodeCoreSnapshot(world.core());
    const absl::Status s = RestoreCoreSnapshot(bytes, &world.core());
    RequireRefused(s, world.core(), before);
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    return std::string(s.message());
  };

  SECTION("the same map accepts it") {
    testing::GridWorld same({"A.b...C", "..*.D..", "E...f.G"});
    REQUIRE(RestoreCoreSnapshot(bytes, &same.core()).ok());
    REQUIRE(EncodeCoreSnapshot(same.core()) == bytes);
  }
  SECTION("one unit more") {
    testing::GridWorld more({"A.b...C.", "..*.D...", "E...f.GH"});
    REQUIRE_THAT(refused_by(more), Catch::Contains("it holds 7 units and this engine has 8"));
  }
  SECTION("one unit on a bicycle instead of on foot") {
    testing::GridWorld other({"A.b...c", "..*.D..", "E...f.G"});
    REQUIRE_THAT(refused_by(other), Catch::Contains("another unit set"));
  }
  SECTION("two units in another zone") {
    // Same cells, but a wider map moves the boundary between the west and east zones past D and f.
    testing::GridWorld other({"A.b...C....", "..*.D......", "E...f.G...."});
    REQUIRE_THAT(refused_by(other), Catch::Contains("another unit set"));
  }
  SECTION("another run card") {
    DispatchConfig config = testing::SmallTestConfig();
    ResponsePlan plan = *config.FindPlan(Category::kFire, Level::kIvGeneral);
    plan.ack_deadline = absl::Seconds(45);
    config.SetPlan(Category::kFire, Level::kIvGeneral, plan);
    testing::GridWorld other({"A.b...C", "..*.D..", "E...f.G"}, config);
    REQUIRE_THAT(refused_by(other), Catch::Contains("another dispatch config"));
  }
}

TEST_CASE("an inconsistent core state is refused and the core is left unchanged", "[snapshot]") {
  const std::unique_ptr<testing::GridWorld> source = BusyWorld();
  const CoreState good = source->core().CaptureState();
  testing::GridWorld target({"A.b...C", "..*.D..", "E...f.G"});
  REQUIRE(target.core().RestoreState(good).ok());  // the untouched state restores
  testing::GridWorld fresh({"A.b...C", "..*.D..", "E...f.G"});
  const CoreState before = fresh.core().CaptureState();

  // Handy references into a copy of the good state.
  const auto active_index = [](const CoreState& s) {
    for (size_t i = 0; i < s.assignments.size(); ++i) {
      if (IsActive(s.assignments[i].status)) return i;
    }
    FAIL("no active assignment");
    return size_t{0};
  };
  const auto slot_of = [](const CoreState& s, UnitId id) {
    for (size_t i = 0; i < s.units.size(); ++i) {
      if (s.units[i].id == id) return i;
    }
    FAIL("no unit " << id);
    return size_t{0};
  };

  struct Case {
    std::string name;
    std::string expected;  // part of the sentence
    std::function<void(CoreState*)> mutate;
  };
  const std::vector<Case> cases{
      {"a unit missing", "it holds 6 units", [](CoreState* s) { s->units.pop_back(); }},
      {"units swapped", "unit #0 is", [](CoreState* s) { std::swap(s->units[0], s->units[1]); }},
      {"a unit status out of range", "not a unit status",
       [](CoreState* s) { s->units[3].status = static_cast<UnitStatus>(9); }},
      {"a negative on-post headcount", "negative on-post",
       [](CoreState* s) { s->units[3].on_post = -1; }},
      {"a unit at NaN", "not valid WGS84",
       [](CoreState* s) { s->units[3].position.lat = std::nan(""); }},
      // Found by fuzz_snapshot: a finite position far outside WGS84 reached the cell arithmetic.
      {"a unit far outside WGS84", "not valid WGS84",
       [](CoreState* s) { s->units[3].position.lon = -1e92; }},
      {"an infinite clock", "clock", [](CoreState* s) { s->now = absl::InfiniteFuture(); }},
      {"incidents out of order", "out of order or repeated",
       [](CoreState* s) { std::swap(s->incidents[0], s->incidents[1]); }},
      {"an incident id not issued yet", "outside 1..",
       [](CoreState* s) { s->next_incident_id = s->incidents.back().id; }},
      {"an incident without a run card", "no run card",
       [](CoreState* s) { s->incidents[0].level = Level::kUnspecified; }},
      {"an incident state out of range", "not an incident state",
       [](CoreState* s) { s->incidents[0].state = static_cast<IncidentState>(42); }},
      {"a ring index past the last ring", "searches ring",
       [](CoreState* s) { s->incidents[0].frontline_ring = 9; }},
      {"an escalation step past the plan", "escalation step",
       [](CoreState* s) { s->incidents[0].next_escalation = 3; }},
      {"a timeline that does not end in the state", "does not end in its state",
       [](CoreState* s) { s->incidents[0].timeline.pop_back(); }},
      {"an empty timeline", "does not start with its report",
       [](CoreState* s) { s->incidents[0].timeline.clear(); }},
      {"a tried unit that does not exist", "as tried",
       [](CoreState* s) { s->incidents[0].tried.push_back(999); }},
      {"an assignment of an unknown incident", "which is not in it",
       [&](CoreState* s) { s->assignments[active_index(*s)].incident = 77; }},
      {"an assignment of an unknown unit", "which is unknown",
       [&](CoreState* s) { s->assignments[active_index(*s)].unit = 999; }},
      {"an assignment with a NaN eta", "invalid eta",
       [&](CoreState* s) { s->assignments[active_index(*s)].eta_s = std::nan(""); }},
      {"an assignment from a ring the config lacks", "ring this config does not have",
       [&](CoreState* s) { s->assignments[active_index(*s)].ring = absl::Seconds(61); }},
      {"an assignment status out of range", "out of range",
       [&](CoreState* s) {
         s->assignments[active_index(*s)].status = static_cast<AssignmentStatus>(6);
       }},
      {"a unit held twice", "is held by both",
       [&](CoreState* s) {
         CoreState::AssignmentEntry twin = s->assignments[active_index(*s)];
         twin.id = s->next_assignment_id++;
         s->assignments.push_back(twin);
       }},
      {"an assigned unit nobody holds", "no active assignment holds it",
       [](CoreState* s) {
         for (CoreState::UnitEntry& u : s->units) {
           if (u.status == UnitStatus::kAvailable) {
             u.status = UnitStatus::kAssigned;
             return;
           }
         }
         FAIL("no available unit");
       }},
      {"a held unit marked available", "not assigned",
       [&](CoreState* s) {
         const UnitId held = s->assignments[active_index(*s)].unit;
         s->units[slot_of(*s, held)].status = UnitStatus::kAvailable;
       }},
      {"an active assignment on an ended incident", "which has ended",
       [&](CoreState* s) {
         const IncidentId id = s->assignments[active_index(*s)].incident;
         for (auto& inc : s->incidents) {
           if (inc.id == id) {
             inc.state = IncidentState::kResolved;
             inc.timeline.push_back({s->now, IncidentState::kResolved});
           }
         }
       }},
      {"an escalation step for an unknown incident", "unknown or has ended",
       [](CoreState* s) {
         s->escalations_due.push_back({s->now + absl::Minutes(1), 77});
       }},
      {"an escalation step the run card does not have", "does not match its run card",
       [](CoreState* s) {
         s->escalations_due.push_back({s->now + absl::Minutes(1), 1});
       }},
      {"an alert answered twice", "appears twice",
       [](CoreState* s) { s->alert_answers.push_back(s->alert_answers.back()); }},
      {"alert answers out of time order", "out of time order",
       [](CoreState* s) {
         s->alert_answers.push_back(s->alert_answers.front());
         s->alert_answers.back().client_sequence = 12345;
         s->alert_answers.front().at = s->now;
       }},
      {"an alert answer naming an unknown incident", "unknown incident",
       [](CoreState* s) { s->alert_answers.front().incident = 77; }},
      {"another config", "another dispatch config",
       [](CoreState* s) { s->config_fingerprint ^= 1; }},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CoreState bad = good;
    c.mutate(&bad);
    REQUIRE(!(bad == good));
    const absl::Status s = fresh.core().RestoreState(bad);
    INFO(s.ToString());
    REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
    REQUIRE_THAT(std::string(s.message()), Catch::Contains(c.expected));
    REQUIRE(fresh.core().CaptureState() == before);
  }
}

}  // namespace
}  // namespace gz
