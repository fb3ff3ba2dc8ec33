// Scenario tests of the dispatch core. Maps are 20 m a cell; see tests/support/grid_world.h.

#include "engine/dispatch/dispatch_core.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "tests/support/grid_world.h"

namespace gz {
namespace {

using testing::EventsOf;
using testing::GridWorld;
using testing::SmallTestConfig;

IncidentId OpenedIncident(const std::vector<Event>& events) {
  const auto opened = EventsOf<IncidentOpened>(events);
  REQUIRE(opened.size() == 1);
  return opened[0].incident;
}

TEST_CASE("frontline goes to the nearest available units", "[dispatch][scenario]") {
  GridWorld world({
      "..........",
      "...A......",
      "..*.B.....",
      "..........",
      "........C.",
  });
  const auto events = world.RaiseAlertAtStar();
  CHECK(world.AssignedNames(events) == "AB");
  const IncidentId id = OpenedIncident(events);
  CHECK(world.core().FindIncident(id)->state == IncidentState::kDispatched);
  // Reserved at once: neither is offerable any more.
  CHECK(world.core().ActiveAssignmentOf(world.unit('A')) != nullptr);
  CHECK(world.core().ActiveAssignmentOf(world.unit('B')) != nullptr);
  CHECK(world.core().ActiveAssignmentOf(world.unit('C')) == nullptr);
}

TEST_CASE("frontline is ranked by travel time rather than straight distance",
          "[dispatch][scenario]") {
  // A walks 40 m (40 s); the bicycle b rides 60 m (30 s); C walks 60 m (60 s).
  GridWorld world({
      "..*.A",
      ".....",
      ".....",
      "..b..",
      ".....",
      "..C..",
  });
  const auto events = world.RaiseAlertAtStar();
  CHECK(world.AssignedNames(events) == "bA");
  const auto issued = EventsOf<AssignmentIssued>(events);
  REQUIRE(issued.size() == 2);
  CHECK(issued[0].eta_s == Approx(30));
  CHECK(issued[1].eta_s == Approx(40));
}

TEST_CASE("an exhausted ring opens the next one", "[dispatch][scenario]") {
  // A at 160 m (160 s: the 3-minute ring), B at 260 m (the 5-minute ring).
  GridWorld world({"*.......A....B"});
  const auto events = world.RaiseAlertAtStar();
  CHECK(world.AssignedNames(events) == "AB");
  const auto widened = EventsOf<RingWidened>(events);
  REQUIRE(widened.size() == 2);
  CHECK(widened[0].from == absl::Minutes(1));
  CHECK(widened[0].to == absl::Minutes(3));
  CHECK(widened[1].from == absl::Minutes(3));
  CHECK(widened[1].to == absl::Minutes(5));
  const auto issued = EventsOf<AssignmentIssued>(events);
  CHECK(issued[0].ring == absl::Minutes(3));
  CHECK(issued[1].ring == absl::Minutes(5));
}

TEST_CASE("a decline releases the unit and cascades to the next candidate", "[dispatch][cascade]") {
  GridWorld world({"*AB", "..C"});
  world.RaiseAlertAtStar();
  const AssignmentId a = world.AssignmentOf('A');
  REQUIRE(a != 0);
  const auto events =
      world.Apply(absl::Seconds(5), DeclineAssignment{world.unit('A'), a, DeclineReason::kUnsafe});
  const auto declined = EventsOf<AssignmentDeclined>(events);
  REQUIRE(declined.size() == 1);
  CHECK(declined[0].reason == DeclineReason::kUnsafe);
  CHECK(world.AssignedNames(events) == "C");
  // A is free for other incidents but never offered to this one again.
  CHECK(world.core().ActiveAssignmentOf(world.unit('A')) == nullptr);
  CHECK(world.core().FindAssignment(a)->status == AssignmentStatus::kDeclined);
  const auto again = world.Apply(
      absl::Seconds(6),
      DeclineAssignment{world.unit('B'), world.AssignmentOf('B'), DeclineReason::kBusy});
  CHECK(world.AssignedNames(again).find('A') == std::string::npos);
}

TEST_CASE("silence past the deadline expires the assignment and cascades", "[dispatch][cascade]") {
  GridWorld world({"*AB..D", "..C..."});
  world.RaiseAlertAtStar();
  REQUIRE(world.core().NextDeadline() == world.start() + absl::Seconds(30));
  // Nothing happens a moment before the deadline...
  CHECK(EventsOf<AssignmentExpired>(world.Apply(absl::Seconds(29), AdvanceTime{})).empty());
  // ...and at the deadline both silent units expire, each at its deadline time.
  const auto events = world.Apply(absl::Seconds(45), AdvanceTime{});
  const auto expired = EventsOf<AssignmentExpired>(events);
  REQUIRE(expired.size() == 2);
  for (const Event& e : events) {
    if (std::holds_alternative<AssignmentExpired>(e.body)) {
      CHECK(e.at == world.start() + absl::Seconds(30));
    }
  }
  CHECK(world.AssignedNames(events) == "CD");
  CHECK(world.core().FindAssignment(expired[0].assignment)->end_reason ==
        CascadeReason::kAckTimeout);
}

TEST_CASE("two concurrent incidents never book the same unit", "[dispatch][reservation]") {
  GridWorld world({".A*.B.C.D"});
  const auto first = world.RaiseAlertAtStar(absl::ZeroDuration(), Category::kFire);
  const auto second = world.RaiseAlertAtStar(absl::Seconds(1), Category::kMedical);
  CHECK(world.AssignedNames(first) == "AB");
  CHECK(world.AssignedNames(second) == "CD");
  const IncidentId fire = OpenedIncident(first);
  // Resolving the first returns A and B to the pool; a third incident gets them.
  const auto resolved = world.Apply(absl::Seconds(2), ResolveIncident{fire});
  CHECK(EventsOf<AssignmentReleased>(resolved).size() == 2);
  const auto third = world.RaiseAlertAtStar(absl::Seconds(3), Category::kTraffic);
  CHECK(world.AssignedNames(third) == "AB");
}

TEST_CASE("no unit is ever held by two active assignments", "[dispatch][reservation]") {
  GridWorld world({
      "A.B.C.D.E.F",
      "...........",
      "G.H.*.I.J.K",
  });
  for (int i = 0; i < 8; ++i) {
    world.RaiseAlertAtStar(absl::Seconds(i), static_cast<Category>(1 + i % 8));
  }
  std::map<UnitId, int> active;
  for (const auto& [iid, inc] : world.core().incidents()) {
    for (AssignmentId aid : inc.assignments) {
      const Assignment* a = world.core().FindAssignment(aid);
      if (IsActive(a->status)) ++active[a->unit];
    }
  }
  CHECK(active.size() == 11);  // every unit busy once
  for (const auto& [unit, count] : active) CHECK(count == 1);
}

TEST_CASE("an off-post unit or one with nobody on post is never offered", "[dispatch][units]") {
  GridWorld world({"..*ABCD"});
  world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('A'), UnitStatus::kOffPost, {}, {}});
  world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('B'), {}, 0, {}});
  world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('C'), UnitStatus::kOutOfService, {}, {}});
  const auto events = world.RaiseAlertAtStar(absl::Seconds(1));
  CHECK(world.AssignedNames(events).find_first_of("ABC") == std::string::npos);
  CHECK(world.AssignedNames(events).find('D') != std::string::npos);
}

TEST_CASE("a unit update is refused while the unit holds an assignment", "[dispatch][units]") {
  GridWorld world({"..*AB"});
  world.RaiseAlertAtStar();
  const auto events =
      world.Apply(absl::Seconds(1), UpdateUnit{world.unit('A'), UnitStatus::kOffPost, {}, {}});
  const auto rejected = EventsOf<CommandRejected>(events);
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kInvalidValue);
  CHECK(world.core().units().unit(*world.core().units().SlotOf(world.unit('A'))).status ==
        UnitStatus::kAssigned);
}

TEST_CASE("a moved unit is found at its new position", "[dispatch][units]") {
  GridWorld world({"*.........A.B"});
  world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('B'), {}, {}, world.Cell(0, 1)});
  const auto events = world.RaiseAlertAtStar(absl::Seconds(1));
  CHECK(world.AssignedNames(events) == "BA");
}

TEST_CASE("assembly counts on-post headcount rather than units", "[dispatch][assembly]") {
  DispatchConfig config = SmallTestConfig();
  ResponsePlan plan = *config.FindPlan(Category::kFire, Level::kIvGeneral);
  plan.frontline_units = 1;
  plan.assembly_headcount = 5;
  plan.assembly_ring = absl::Minutes(3);
  config.SetPlan(Category::kFire, Level::kIvGeneral, plan);
  GridWorld world({"..*A.B.C.D"}, config);
  world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('A'), {}, 3, {}});
  world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('B'), {}, 3, {}});
  const auto events = world.RaiseAlertAtStar();
  // A (3 people, frontline) + B (3 people, assembly) = 6 >= 5: C and D stay free.
  CHECK(world.AssignedNames(events) == "AB");
  const auto issued = EventsOf<AssignmentIssued>(events);
  CHECK(issued[0].role == AssignmentRole::kFrontline);
  CHECK(issued[1].role == AssignmentRole::kAssembly);

  world.Apply(absl::Seconds(10), AckAssignment{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(12), AckAssignment{world.unit('B'), world.AssignmentOf('B')});
  // One unit on scene is not yet the headcount.
  CHECK(EventsOf<AssemblyComplete>(
            world.Apply(absl::Seconds(50), ReportArrival{world.unit('A'), world.AssignmentOf('A')}))
            .empty());
  const auto done =
      world.Apply(absl::Seconds(60), ReportArrival{world.unit('B'), world.AssignmentOf('B')});
  const auto complete = EventsOf<AssemblyComplete>(done);
  REQUIRE(complete.size() == 1);
  CHECK(complete[0].headcount == 6);
}

TEST_CASE("zone-only assembly takes units of the incident's zone", "[dispatch][assembly]") {
  DispatchConfig config = SmallTestConfig();
  ResponsePlan plan = *config.FindPlan(Category::kFire, Level::kIvGeneral);
  plan.frontline_units = 0;
  plan.assembly_headcount = 4;
  plan.assembly_ring = absl::Minutes(5);
  plan.assembly_zone_only = true;
  config.SetPlan(Category::kFire, Level::kIvGeneral, plan);
  // The grid splits into a west zone (columns 0-10) and an east zone (11-19); * is in the west.
  GridWorld world({"A.......*..B........", "C..................."}, config);
  const auto events = world.RaiseAlertAtStar();
  // B is nearest but in the east zone; A and C are farther but share the incident's zone.
  CHECK(world.AssignedNames(events) == "AC");
}

TEST_CASE("acknowledge then arrive then resolve then close walks the lifecycle",
          "[dispatch][lifecycle]") {
  GridWorld world({"..*AB"});
  const IncidentId id = OpenedIncident(world.RaiseAlertAtStar());
  world.Apply(absl::Seconds(10), AckAssignment{world.unit('A'), world.AssignmentOf('A')});
  CHECK(world.core().FindIncident(id)->state == IncidentState::kAcknowledged);
  // A repeated acknowledgement is harmless.
  CHECK(world.Apply(absl::Seconds(11), AckAssignment{world.unit('A'), world.AssignmentOf('A')})
            .empty());
  world.Apply(absl::Seconds(40), ReportArrival{world.unit('A'), world.AssignmentOf('A')});
  CHECK(world.core().FindIncident(id)->state == IncidentState::kOnScene);
  world.Apply(absl::Minutes(20), ResolveIncident{id});
  world.Apply(absl::Minutes(21), CloseIncident{id});
  const Incident* inc = world.core().FindIncident(id);
  CHECK(inc->state == IncidentState::kClosed);
  std::vector<IncidentState> states;
  for (const StateChange& s : inc->timeline) states.push_back(s.state);
  CHECK(states == std::vector<IncidentState>{IncidentState::kReported, IncidentState::kDispatched,
                                             IncidentState::kAcknowledged, IncidentState::kOnScene,
                                             IncidentState::kResolved, IncidentState::kClosed});
  CHECK(inc->timeline[3].at == world.start() + absl::Seconds(40));
  // B was silent past its deadline: expired, and the cascade found nobody else on the map.
  CHECK(world.core().units().Offerable(*world.core().units().SlotOf(world.unit('A'))));
  CHECK(world.core().open_incidents().empty());
}

TEST_CASE("illegal transitions are refused and change nothing", "[dispatch][lifecycle]") {
  GridWorld world({"..*AB"});
  const IncidentId id = OpenedIncident(world.RaiseAlertAtStar());
  auto rejected = EventsOf<CommandRejected>(world.Apply(absl::Seconds(1), CloseIncident{id}));
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kIllegalTransition);
  CHECK(world.core().FindIncident(id)->state == IncidentState::kDispatched);

  world.Apply(absl::Seconds(2), CancelIncident{id});
  CHECK(world.core().FindIncident(id)->state == IncidentState::kCancelled);
  for (CommandBody c : {CommandBody{ResolveIncident{id}}, CommandBody{CancelIncident{id}}}) {
    rejected = EventsOf<CommandRejected>(world.Apply(absl::Seconds(3), c));
    REQUIRE(rejected.size() == 1);
    CHECK(rejected[0].reason == RejectReason::kIllegalTransition);
  }
  rejected = EventsOf<CommandRejected>(world.Apply(absl::Seconds(4), ResolveIncident{999}));
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kUnknownIncident);
  CHECK(world.core().FindIncident(id)->timeline.size() == 3);  // reported, dispatched, cancelled
}

TEST_CASE("acknowledgements for assignments a unit does not hold are refused",
          "[dispatch][responders]") {
  GridWorld world({"..*ABC"});
  world.RaiseAlertAtStar();
  const AssignmentId a = world.AssignmentOf('A');
  // C holds nothing; an unknown unit; a made-up assignment.
  auto r =
      EventsOf<CommandRejected>(world.Apply(absl::Seconds(1), AckAssignment{world.unit('C'), a}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason == RejectReason::kNotAssigned);
  r = EventsOf<CommandRejected>(world.Apply(absl::Seconds(1), AckAssignment{777, a}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason == RejectReason::kUnknownUnit);
  r = EventsOf<CommandRejected>(
      world.Apply(absl::Seconds(1), AckAssignment{world.unit('A'), 9999}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason == RejectReason::kNotAssigned);
  // After expiry the late acknowledgement is refused too.
  world.Apply(absl::Seconds(31), AdvanceTime{});
  r = EventsOf<CommandRejected>(world.Apply(absl::Seconds(32), AckAssignment{world.unit('A'), a}));
  REQUIRE(r.size() == 1);
  CHECK(r[0].reason == RejectReason::kNotAssigned);
  CHECK(world.core().FindAssignment(a)->status == AssignmentStatus::kExpired);
}

TEST_CASE("invalid alerts are rejected with a reason and change nothing", "[dispatch][intake]") {
  GridWorld world({"..*AB"});
  struct Case {
    RaiseAlert alert;
    RejectReason reason;
  };
  const LonLat far_away{114.5, 22.0};
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Case> cases{
      {{"r", 1, far_away, Category::kFire, Level::kIvGeneral}, RejectReason::kOutsideServiceArea},
      {{"r", 2, world.alert_point(), Category::kUnspecified, Level::kIvGeneral},
       RejectReason::kUnknownCategory},
      {{"r", 3, world.alert_point(), static_cast<Category>(42), Level::kIvGeneral},
       RejectReason::kUnknownCategory},
      {{"r", 4, world.alert_point(), Category::kFire, static_cast<Level>(9)},
       RejectReason::kInvalidLevel},
      {{"r", 5, world.alert_point(), Category::kFire, Level::kUnspecified},
       RejectReason::kInvalidLevel},
      {{"r", 6, LonLat{nan, 23.1}, Category::kFire, Level::kIvGeneral},
       RejectReason::kInvalidCoordinates},
      {{"r", 7, LonLat{113.2, 95}, Category::kFire, Level::kIvGeneral},
       RejectReason::kInvalidCoordinates},
  };
  for (const Case& c : cases) {
    INFO("client_sequence " << c.alert.client_sequence);
    const auto events = world.Apply(absl::Seconds(1), c.alert);
    REQUIRE(events.size() == 1);
    const auto* rejected = std::get_if<AlertRejected>(&events[0].body);
    REQUIRE(rejected != nullptr);
    CHECK(rejected->reason == c.reason);
    CHECK_FALSE(rejected->message.empty());
  }
  CHECK(world.core().incidents().empty());
  CHECK(world.core().stats().alerts_rejected == cases.size());
  CHECK(world.core().ActiveAssignmentOf(world.unit('A')) == nullptr);
}

TEST_CASE("a retried alert gets the same answer and never a second incident",
          "[dispatch][intake]") {
  GridWorld world({"..*ABCD"});
  const RaiseAlert alert{"phone-1", 41, world.alert_point(), Category::kFire, Level::kIvGeneral};
  const auto first = world.Apply(absl::ZeroDuration(), alert);
  const auto retry = world.Apply(absl::Seconds(3), alert);
  REQUIRE(retry.size() == 1);
  const auto* again = std::get_if<AlertAccepted>(&retry[0].body);
  REQUIRE(again != nullptr);
  CHECK(again->duplicate);
  CHECK(again->incident == OpenedIncident(first));
  CHECK(world.core().incidents().size() == 1);
  CHECK(world.core().FindIncident(again->incident)->reports == 1);

  // A rejected alert retried gets the same rejection.
  const RaiseAlert bad{"phone-1", 42, world.alert_point(), Category::kFire, Level::kUnspecified};
  world.Apply(absl::Seconds(4), bad);
  const auto bad_retry = world.Apply(absl::Seconds(5), bad);
  const auto* rejected = std::get_if<AlertRejected>(&bad_retry.at(0).body);
  REQUIRE(rejected != nullptr);
  CHECK(rejected->duplicate);
  CHECK(rejected->reason == RejectReason::kInvalidLevel);
}

TEST_CASE("alerts close in space and time with the same category merge", "[dispatch][merge]") {
  GridWorld world({"..*ABCDEFGH"});
  const IncidentId id = OpenedIncident(world.RaiseAlertAtStar());
  world.Apply(absl::Minutes(5),
              AdvanceTime{});  // let the silent frontline expire and cascade first
  // Another report 100 m away five minutes later joins the incident.
  const auto merged = world.Apply(absl::Minutes(5), RaiseAlert{"other", 1, world.Cell(0, 7),
                                                               Category::kFire, Level::kIvGeneral});
  const auto accepted = EventsOf<AlertAccepted>(merged);
  REQUIRE(accepted.size() == 1);
  CHECK(accepted[0].merged);
  CHECK(accepted[0].incident == id);
  CHECK(EventsOf<IncidentMerged>(merged).at(0).reports == 2);
  CHECK(EventsOf<AssignmentIssued>(merged).empty());

  // A different category at the same place is a different incident.
  const auto medical = world.RaiseAlertAtStar(absl::Minutes(6), Category::kMedical);
  CHECK(OpenedIncident(medical) != id);
  // Beyond the merge radius (300 m: this is 400 m south) is a new incident.
  const auto far = world.Apply(absl::Minutes(7), RaiseAlert{"far", 1, world.Cell(20, 2),
                                                            Category::kFire, Level::kIvGeneral});
  CHECK(OpenedIncident(far) != id);
  // The same category at the same place after the merge window (30 min) is a new incident too.
  const auto later = world.RaiseAlertAtStar(absl::Minutes(31));
  CHECK(OpenedIncident(later) != id);
}

TEST_CASE("escalation steps notify centres over time until someone is on scene",
          "[dispatch][escalation]") {
  DispatchConfig config = SmallTestConfig();
  ResponsePlan plan = *config.FindPlan(Category::kFire, Level::kIiMajor);
  plan.escalation = {{absl::ZeroDuration(), NotifyTarget::kStreetCentre},
                     {absl::Minutes(1), NotifyTarget::kDistrictCentre},
                     {absl::Minutes(3), NotifyTarget::kProfessionalForces}};
  config.SetPlan(Category::kFire, Level::kIiMajor, plan);
  GridWorld world({"..*AB"}, config);
  const auto opened =
      world.RaiseAlertAtStar(absl::ZeroDuration(), Category::kFire, Level::kIiMajor);
  auto notified = EventsOf<EscalationNotified>(opened);
  REQUIRE(notified.size() == 1);
  CHECK(notified[0].target == NotifyTarget::kStreetCentre);
  CHECK(world.core().NextDeadline() == world.start() + absl::Seconds(30));  // ack deadlines first

  world.Apply(absl::Seconds(10), AckAssignment{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(12), AckAssignment{world.unit('B'), world.AssignmentOf('B')});
  notified = EventsOf<EscalationNotified>(world.Apply(absl::Seconds(90), AdvanceTime{}));
  REQUIRE(notified.size() == 1);
  CHECK(notified[0].target == NotifyTarget::kDistrictCentre);
  world.Apply(absl::Seconds(100), ReportArrival{world.unit('A'), world.AssignmentOf('A')});
  world.Apply(absl::Seconds(110), ReportArrival{world.unit('B'), world.AssignmentOf('B')});
  // On scene before three minutes: professional forces are not called.
  CHECK(EventsOf<EscalationNotified>(world.Apply(absl::Minutes(10), AdvanceTime{})).empty());
  CHECK(world.core().NextDeadline() == std::nullopt);
}

TEST_CASE("when every ring is exhausted the incident is short and escalated",
          "[dispatch][escalation]") {
  GridWorld world({"*" + std::string(65, '.') + "Z"});
  // Z is 1,320 m away on foot (22 min): outside even the 20-minute ring.
  const auto events = world.RaiseAlertAtStar();
  CHECK(EventsOf<AssignmentIssued>(events).empty());
  CHECK(EventsOf<RingWidened>(events).size() == 4);
  const auto short_events = EventsOf<IncidentShort>(events);
  REQUIRE(short_events.size() == 1);
  CHECK(short_events[0].frontline_needed == 2);
  CHECK(short_events[0].frontline_assigned == 0);
  const auto notified = EventsOf<EscalationNotified>(events);
  REQUIRE(notified.size() == 1);
  CHECK(notified[0].target == NotifyTarget::kProfessionalForces);
  CHECK(world.core().FindIncident(OpenedIncident(events))->state == IncidentState::kEscalated);
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

using testing::EventsOf;
using testing::GridWorld;
using testing::SmallTestConfig;

TEST_CASE("an acknowledged unit not on scene by its arrival deadline is replaced",
          "[dispatch][cascade]") {
  GridWorld world({"*AB", "..C"});
  world.RaiseAlertAtStar();
  const AssignmentId a = world.AssignmentOf('A');
  world.Apply(absl::Seconds(5), AckAssignment{world.unit('A'), a});
  world.Apply(absl::Seconds(6), AckAssignment{world.unit('B'), world.AssignmentOf('B')});
  const Assignment* held = world.core().FindAssignment(a);
  // A is 20 m away on foot (20 s): deadline = ack + 2 x 20 s + 5 min.
  CHECK(held->arrival_deadline == world.start() + absl::Seconds(5 + 40 + 300));
  world.Apply(absl::Seconds(60), ReportArrival{world.unit('B'), world.AssignmentOf('B')});
  const auto events = world.Apply(absl::Minutes(6), AdvanceTime{});
  const auto expired = EventsOf<AssignmentExpired>(events);
  REQUIRE(expired.size() == 1);
  CHECK(expired[0].unit == world.unit('A'));
  CHECK(expired[0].reason == CascadeReason::kArrivalTimeout);
  CHECK(world.AssignedNames(events) == "C");
}

TEST_CASE("a short incident gets a unit as soon as one is freed", "[dispatch][cascade]") {
  GridWorld world({"*A"});
  const auto first = world.RaiseAlertAtStar(absl::ZeroDuration(), Category::kFire);
  const IncidentId fire = EventsOf<IncidentOpened>(first).at(0).incident;
  CHECK(EventsOf<IncidentShort>(first).size() == 1);  // needs 2, has 1
  const auto second = world.RaiseAlertAtStar(absl::Seconds(1), Category::kMedical);
  const IncidentId medical = EventsOf<IncidentOpened>(second).at(0).incident;
  CHECK(world.core().FindIncident(medical)->state == IncidentState::kEscalated);

  const auto resolved = world.Apply(absl::Seconds(2), ResolveIncident{fire});
  const auto issued = EventsOf<AssignmentIssued>(resolved);
  REQUIRE(issued.size() == 1);
  CHECK(issued[0].incident == medical);
  CHECK(issued[0].unit == world.unit('A'));
  CHECK(world.core().FindIncident(medical)->state == IncidentState::kDispatched);
}

TEST_CASE("a freed unit goes to the most severe short incident that can reach it",
          "[dispatch][cascade]") {
  // On foot at 1 m/s the widest ring (20 min) reaches 1,200 m = 60 cells. A at column 0, B at 150.
  GridWorld world({"A*" + std::string(148, '.') + "B"});
  auto open = [&](absl::Duration at, double column, Category category, Level level) {
    const auto events =
        world.Apply(at, RaiseAlert{"test", static_cast<uint64_t>(absl::ToInt64Seconds(at)) + 1,
                                   world.Cell(0, column), category, level});
    return EventsOf<IncidentOpened>(events).at(0).incident;
  };
  const IncidentId far = open(absl::Seconds(0), 149, Category::kFire, Level::kIvGeneral);
  const IncidentId severe = open(absl::Seconds(1), 1, Category::kFire, Level::kIExtreme);
  const IncidentId near_old = open(absl::Seconds(2), 2, Category::kMedical, Level::kIvGeneral);
  const IncidentId near_major = open(absl::Seconds(3), 55, Category::kFire, Level::kIiMajor);
  CHECK(world.core().ActiveAssignmentOf(world.unit('A'))->incident == severe);
  CHECK(world.core().ActiveAssignmentOf(world.unit('B'))->incident == far);

  // Freed, A goes to the level-II incident 1,100 m away before the older level-IV one beside it,
  // and never to the older level-IV one 3 km away, out of its reach.
  auto issued = EventsOf<AssignmentIssued>(world.Apply(absl::Seconds(4), ResolveIncident{severe}));
  REQUIRE(issued.size() == 1);
  CHECK(issued[0].unit == world.unit('A'));
  CHECK(issued[0].incident == near_major);
  issued = EventsOf<AssignmentIssued>(world.Apply(absl::Seconds(5), ResolveIncident{near_major}));
  REQUIRE(issued.size() == 1);
  CHECK(issued[0].incident == near_old);
  // Resolving the far incident frees B, and no short incident is within its reach.
  issued = EventsOf<AssignmentIssued>(world.Apply(absl::Seconds(6), ResolveIncident{far}));
  CHECK(issued.empty());
  CHECK(world.core().CheckDerivedState().ok());
}

TEST_CASE("past the open-incident limit a new incident is refused busy, the least severe first",
          "[dispatch][overload]") {
  DispatchConfig config = SmallTestConfig();
  config.max_open_incidents = {0, 2, 2, 2, 3};  // levels IV, III, II: 2 open; level I: 3
  GridWorld world({"*A" + std::string(100, '.')}, config);
  auto raise = [&](absl::Duration at, uint64_t sequence, double column, Level level) {
    return world.Apply(
        at, RaiseAlert{"flood", sequence, world.Cell(0, column), Category::kFire, level});
  };
  const IncidentId first =
      EventsOf<IncidentOpened>(raise(absl::Seconds(0), 1, 0, Level::kIvGeneral)).at(0).incident;
  const IncidentId second =
      EventsOf<IncidentOpened>(raise(absl::Seconds(1), 2, 30, Level::kIvGeneral)).at(0).incident;

  // A third level-IV incident is refused BUSY, and not remembered...
  auto events = raise(absl::Seconds(2), 3, 60, Level::kIvGeneral);
  auto rejected = EventsOf<AlertRejected>(events);
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kBusy);
  CHECK_FALSE(rejected[0].duplicate);
  CHECK_THAT(rejected[0].message, Catch::Contains("2 incidents are open"));
  CHECK(EventsOf<IncidentOpened>(events).empty());
  // ...while a report merging into an open incident is still taken, and a level-I one opens.
  const auto merged = EventsOf<AlertAccepted>(raise(absl::Seconds(3), 4, 1, Level::kIvGeneral));
  REQUIRE(merged.size() == 1);
  CHECK(merged[0].merged);
  CHECK(EventsOf<IncidentOpened>(raise(absl::Seconds(4), 5, 90, Level::kIExtreme)).size() == 1);
  // At the level-I limit, level I is refused too.
  rejected = EventsOf<AlertRejected>(raise(absl::Seconds(5), 6, 50, Level::kIExtreme));
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kBusy);

  // The level-I incident counts too: with one incident cancelled, two are still open. Once the
  // second ends, the retry of the refused alert (same key) is decided afresh and opens.
  world.Apply(absl::Seconds(6), CancelIncident{first});
  CHECK(EventsOf<AlertRejected>(raise(absl::Seconds(7), 3, 60, Level::kIvGeneral)).size() == 1);
  world.Apply(absl::Seconds(8), CancelIncident{second});
  events = raise(absl::Seconds(9), 3, 60, Level::kIvGeneral);
  REQUIRE(EventsOf<IncidentOpened>(events).size() == 1);
  CHECK(EventsOf<AlertAccepted>(events).at(0).duplicate == false);
  CHECK(world.core().stats().rejected_by_reason[static_cast<size_t>(RejectReason::kBusy)] == 3);
}

TEST_CASE("past max_remembered_alerts the oldest answer is forgotten and its retry merges",
          "[dispatch][overload]") {
  DispatchConfig config = SmallTestConfig();
  config.max_remembered_alerts = 2;
  GridWorld world({"*A" + std::string(60, '.') + "B"}, config);
  auto raise = [&](absl::Duration at, uint64_t sequence, double column) {
    return world.Apply(at, RaiseAlert{"flood", sequence, world.Cell(0, column), Category::kFire,
                                      Level::kIvGeneral});
  };
  const IncidentId first = EventsOf<IncidentOpened>(raise(absl::Seconds(0), 1, 0)).at(0).incident;
  raise(absl::Seconds(1), 2, 60);
  // Remembered: the retry is a duplicate with the same answer.
  auto accepted = EventsOf<AlertAccepted>(raise(absl::Seconds(2), 1, 0));
  REQUIRE(accepted.size() == 1);
  CHECK(accepted[0].duplicate);
  CHECK(accepted[0].incident == first);
  // A third answer pushes out the oldest: its retry is decided afresh and joins its own incident.
  raise(absl::Seconds(3), 3, 61);
  accepted = EventsOf<AlertAccepted>(raise(absl::Seconds(4), 1, 0));
  REQUIRE(accepted.size() == 1);
  CHECK_FALSE(accepted[0].duplicate);
  CHECK(accepted[0].merged);
  CHECK(accepted[0].incident == first);
  CHECK(world.core().CheckDerivedState().ok());
}

TEST_CASE("the state change to dispatched comes before the assignments", "[dispatch][events]") {
  GridWorld world({"..*AB"});
  const auto events = world.RaiseAlertAtStar();
  size_t changed = events.size(), first_issued = events.size();
  for (size_t i = 0; i < events.size(); ++i) {
    if (std::holds_alternative<IncidentStateChanged>(events[i].body) && changed == events.size()) {
      changed = i;
    }
    if (std::holds_alternative<AssignmentIssued>(events[i].body) && first_issued == events.size()) {
      first_issued = i;
    }
  }
  REQUIRE(changed < events.size());
  CHECK(changed < first_issued);
}

TEST_CASE("a more severe report merged into an incident upgrades its plan", "[dispatch][merge]") {
  DispatchConfig config = SmallTestConfig();
  ResponsePlan severe = *config.FindPlan(Category::kFire, Level::kIExtreme);
  severe.frontline_units = 4;
  config.SetPlan(Category::kFire, Level::kIExtreme, severe);
  GridWorld world({"..*ABCDE"}, config);
  const IncidentId id = EventsOf<IncidentOpened>(world.RaiseAlertAtStar()).at(0).incident;
  const auto merged = world.Apply(absl::Seconds(10), RaiseAlert{"second", 1, world.alert_point(),
                                                                Category::kFire, Level::kIExtreme});
  const auto m = EventsOf<IncidentMerged>(merged);
  REQUIRE(m.size() == 1);
  CHECK(m[0].level == Level::kIExtreme);
  CHECK(world.core().FindIncident(id)->level == Level::kIExtreme);
  CHECK(world.AssignedNames(merged) == "CD");  // two more frontline units
}

TEST_CASE("an operator assigns a chosen unit and releases another", "[dispatch][operator]") {
  GridWorld world({"..*AB.....C"});
  const IncidentId id = EventsOf<IncidentOpened>(world.RaiseAlertAtStar()).at(0).incident;
  // C is far away and not ranked, but the operator wants it there.
  auto events =
      world.Apply(absl::Seconds(1), ManualAssign{id, world.unit('C'), AssignmentRole::kAssembly});
  REQUIRE(EventsOf<AssignmentIssued>(events).size() == 1);
  CHECK(world.AssignmentOf('C') != 0);
  // Assigning a busy unit is refused.
  events =
      world.Apply(absl::Seconds(2), ManualAssign{id, world.unit('A'), AssignmentRole::kFrontline});
  REQUIRE(EventsOf<CommandRejected>(events).size() == 1);
  CHECK(EventsOf<CommandRejected>(events)[0].reason == RejectReason::kIllegalTransition);
  // Releasing A frees it; the frontline is refilled from whoever is left (nobody here: short).
  const AssignmentId a = world.AssignmentOf('A');
  events = world.Apply(absl::Seconds(3), ReleaseAssignment{a});
  const auto released = EventsOf<AssignmentReleased>(events);
  REQUIRE(released.size() == 1);
  CHECK(released[0].reason == CascadeReason::kReleasedByOperator);
  CHECK(world.core().ActiveAssignmentOf(world.unit('A')) == nullptr);
  // Releasing it again is refused.
  CHECK(EventsOf<CommandRejected>(world.Apply(absl::Seconds(4), ReleaseAssignment{a})).size() == 1);
}

TEST_CASE("an operator can withdraw an assigned unit, which cascades", "[dispatch][operator]") {
  GridWorld world({"*AB", "..C"});
  world.RaiseAlertAtStar();
  const auto events =
      world.Apply(absl::Seconds(1), SetUnitStatus{world.unit('A'), UnitStatus::kOutOfService});
  const auto released = EventsOf<AssignmentReleased>(events);
  REQUIRE(released.size() == 1);
  CHECK(released[0].reason == CascadeReason::kUnitWithdrawn);
  CHECK(world.AssignedNames(events) == "C");
  CHECK(world.core().units().unit(*world.core().units().SlotOf(world.unit('A'))).status ==
        UnitStatus::kOutOfService);
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

TEST_CASE("an on-post headcount above the unit's members is refused", "[dispatch][units]") {
  testing::GridWorld world({"..*AB"});  // members 10 each
  auto events = world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('A'), {}, 11, {}});
  auto rejected = testing::EventsOf<CommandRejected>(events);
  REQUIRE(rejected.size() == 1);
  CHECK(rejected[0].reason == RejectReason::kInvalidValue);
  CHECK(world.core().units().unit(*world.core().units().SlotOf(world.unit('A'))).on_post == 2);
  CHECK(world.Apply(absl::ZeroDuration(), UpdateUnit{world.unit('A'), {}, 10, {}}).empty());
}

}  // namespace
}  // namespace gz
