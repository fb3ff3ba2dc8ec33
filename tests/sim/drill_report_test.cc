// Tests of the drill report: a tiny drill written by hand as events over the real city (three
// incidents in Liwan and Yuexiu), with every figure worked out by hand in the comments.

#include "simulators/drill_report.h"

#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "tests/support/guangzhou.h"

namespace gz {
namespace {

constexpr DistrictCode kLiwan = 440103;
constexpr DistrictCode kYuexiu = 440104;
constexpr ZoneId kLiwanZoneA = 1;   // 沙面街道
constexpr ZoneId kLiwanZoneB = 2;   // 岭南街道
constexpr ZoneId kYuexiuZone = 23;  // 洪桥街道

const CityData& City() { return testing::GuangzhouDefault(); }

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 7, 15, 8, 0, 0), absl::FixedTimeZone(8 * 3600));

// Appends events at offsets (in seconds) from the drill's start.
class DrillWriter {
 public:
  DrillWriter() {
    record_.scenario_name = "Hand-made drill";
    record_.scenario_description = "Three incidents in two districts.";
    record_.start = kStart;
    record_.end = kStart + absl::Hours(1);
    record_.unit_count = 10;
    record_.wall_seconds = 0.5;
  }

  DrillWriter& At(double seconds, EventBody body) {
    record_.events.push_back(Event{kStart + absl::Seconds(seconds), std::move(body)});
    return *this;
  }

  DrillWriter& Opened(double seconds, IncidentId id, Category category, Level level,
                      DistrictCode district, ZoneId zone) {
    At(seconds, AlertAccepted{absl::StrCat("reporter-", id), 1, id, false, false});
    At(seconds, IncidentOpened{id, {113.25, 23.12}, category, level, district, zone});
    return *this;
  }

  DrillWriter& Issued(double seconds, AssignmentId a, IncidentId id, UnitId unit,
                      AssignmentRole role, absl::Duration ring) {
    return At(seconds, AssignmentIssued{a, id, unit, role, 2, 400, 200, ring,
                                        kStart + absl::Seconds(seconds + 30)});
  }

  DrillWriter& State(double seconds, IncidentId id, IncidentState from, IncidentState to) {
    return At(seconds, IncidentStateChanged{id, from, to});
  }

  DrillRecord& record() { return record_; }

 private:
  DrillRecord record_;
};

UnitId UnitNo(int i) { return City().units.at(i).id; }

// Incident 1 (Liwan, zone 1): acknowledged at 10 s, on scene at 50 s, a second report merged.
// Incident 2 (Liwan, zone 2): the first unit declines (too far), the frontline ring widens from 3
// to
//   5 min, the second unit acknowledges at 45 s and is on scene at 4 min; assembled at 6 min.
// Incident 3 (Yuexiu, zone 23): its unit stays silent, both searches widen to 20 min, the incident
//   is short and professional forces are told; a unit is assigned at 50 min and still holds the
//   assignment when the drill ends at 60 min. Nobody ever arrives.
// Besides: one alert rejected outside the service area, one retried alert, one refused command.
DrillRecord HandMadeDrill() {
  using S = IncidentState;
  DrillWriter w;
  // Incident 1.
  w.Opened(0, 1, Category::kMedical, Level::kIvGeneral, kLiwan, kLiwanZoneA)
      .State(0, 1, S::kReported, S::kDispatched)
      .Issued(0, 1, 1, UnitNo(0), AssignmentRole::kFrontline, absl::Minutes(1))
      .At(10, AssignmentAcked{1, 1, UnitNo(0)})
      .State(10, 1, S::kDispatched, S::kAcknowledged)
      .At(30, AlertAccepted{"bystander", 1, 1, true, false})
      .At(30, IncidentMerged{1, 2, Level::kIvGeneral})
      .At(35, AlertAccepted{"bystander", 1, 1, true, true})  // a retry: the same answer again
      .At(50, UnitArrived{1, 1, UnitNo(0)})
      .State(50, 1, S::kAcknowledged, S::kOnScene);
  // The rejected alert.
  w.At(300, AlertRejected{"lost", 1, RejectReason::kOutsideServiceArea, "outside", false});
  // Incident 2.
  w.Opened(600, 2, Category::kFire, Level::kIiiLarge, kLiwan, kLiwanZoneB)
      .State(600, 2, S::kReported, S::kDispatched)
      .Issued(600, 2, 2, UnitNo(1), AssignmentRole::kFrontline, absl::Minutes(3))
      .At(615, AssignmentDeclined{2, 2, UnitNo(1), DeclineReason::kTooFar})
      .At(615, RingWidened{2, AssignmentRole::kFrontline, absl::Minutes(3), absl::Minutes(5)})
      .Issued(615, 3, 2, UnitNo(2), AssignmentRole::kFrontline, absl::Minutes(5))
      .At(620, CommandRejected{RejectReason::kNotAssigned, "late ack", UnitNo(1), 2, 2})
      .At(645, AssignmentAcked{3, 2, UnitNo(2)})
      .State(645, 2, S::kDispatched, S::kAcknowledged)
      .At(840, UnitArrived{3, 2, UnitNo(2)})
      .State(840, 2, S::kAcknowledged, S::kOnScene)
      .At(960, AssemblyComplete{2, 3});
  // Incident 1 ends.
  w.State(1200, 1, S::kOnScene, S::kResolved)
      .At(1200, AssignmentReleased{1, 1, UnitNo(0), CascadeReason::kIncidentEnded})
      .State(1320, 1, S::kResolved, S::kClosed);
  // Incident 3.
  w.Opened(1200, 3, Category::kRescue, Level::kIiMajor, kYuexiu, kYuexiuZone)
      .State(1200, 3, S::kReported, S::kDispatched)
      .Issued(1200, 4, 3, UnitNo(3), AssignmentRole::kFrontline, absl::Minutes(10))
      .At(1230, AssignmentExpired{4, 3, UnitNo(3), CascadeReason::kAckTimeout})
      .At(1230, RingWidened{3, AssignmentRole::kFrontline, absl::Minutes(10), absl::Minutes(20)})
      .At(1230, RingWidened{3, AssignmentRole::kAssembly, absl::Minutes(10), absl::Minutes(20)})
      .State(1230, 3, S::kDispatched, S::kEscalated)
      .At(1230, IncidentShort{3, 1, 0, 6, 0})
      .At(1230, EscalationNotified{3, NotifyTarget::kProfessionalForces, "rings exhausted"});
  // Incident 2 ends.
  w.State(2400, 2, S::kOnScene, S::kResolved)
      .At(2400, AssignmentReleased{3, 2, UnitNo(2), CascadeReason::kIncidentEnded});
  // Incident 3 gets a unit at last; it is still assigned when the drill ends.
  w.State(3000, 3, S::kEscalated, S::kDispatched)
      .Issued(3000, 5, 3, UnitNo(4), AssignmentRole::kAssembly, absl::Minutes(20));
  return std::move(w.record());
}

const DistrictReport& DistrictOf(const DrillReport& report, DistrictCode code) {
  for (const DistrictReport& d : report.districts) {
    if (d.code == code) return d;
  }
  FAIL("no district " << code);
  return report.districts.front();
}

size_t Occurrences(absl::string_view text, absl::string_view what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != absl::string_view::npos; at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST_CASE("nearest rank percentiles are always measured values", "[report]") {
  std::vector<absl::Duration> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(absl::Seconds(i));
  CHECK(NearestRank(ten, 50) == absl::Seconds(5));   // rank ceil(5.0) = 5
  CHECK(NearestRank(ten, 90) == absl::Seconds(9));   // rank ceil(9.0) = 9
  CHECK(NearestRank(ten, 91) == absl::Seconds(10));  // rank ceil(9.1) = 10
  CHECK(NearestRank(ten, 100) == absl::Seconds(10));
  CHECK(NearestRank(ten, 1) == absl::Seconds(1));
  const std::vector<absl::Duration> three{absl::Seconds(1), absl::Seconds(2), absl::Seconds(3)};
  CHECK(NearestRank(three, 50) == absl::Seconds(2));  // rank ceil(1.5) = 2
  CHECK(NearestRank(three, 90) == absl::Seconds(3));  // rank ceil(2.7) = 3
  CHECK(NearestRank({absl::Seconds(7)}, 50) == absl::Seconds(7));
  const std::vector<absl::Duration> two{absl::Seconds(10), absl::Seconds(45)};
  CHECK(NearestRank(two, 50) == absl::Seconds(10));  // rank ceil(1.0) = 1
  CHECK(NearestRank(two, 90) == absl::Seconds(45));  // rank ceil(1.8) = 2
}

TEST_CASE("each incident's times and cascades come from its events", "[report]") {
  const DrillReport report = BuildReport(HandMadeDrill(), City());
  REQUIRE(report.incidents.size() == 3);

  const IncidentOutcome& first = report.incidents[0];
  CHECK(first.id == 1);
  CHECK(first.category == Category::kMedical);
  CHECK(first.district == kLiwan);
  CHECK(first.zone == kLiwanZoneA);
  CHECK(first.reports == 2);
  CHECK(first.to_first_ack == absl::Seconds(10));
  CHECK(first.to_first_arrival == absl::Seconds(50));
  CHECK_FALSE(first.to_assembled.has_value());
  CHECK(first.assignments == 1);
  CHECK(first.cascades.total == 0);
  CHECK_FALSE(first.went_short);
  CHECK(first.final_state == IncidentState::kClosed);

  const IncidentOutcome& second = report.incidents[1];
  CHECK(second.level == Level::kIiiLarge);
  CHECK(second.to_first_ack == absl::Seconds(45));
  CHECK(second.to_first_arrival == absl::Minutes(4));
  CHECK(second.to_assembled == absl::Minutes(6));
  CHECK(second.assignments == 2);
  CHECK(second.cascades.total == 1);
  CHECK(second.cascades.Count(CascadeReason::kDeclined) == 1);
  CHECK(second.cascades.Declined(DeclineReason::kTooFar) == 1);
  CHECK(second.ring_widenings == 1);
  CHECK(second.frontline_widenings == 1);
  CHECK(second.final_state == IncidentState::kResolved);

  const IncidentOutcome& third = report.incidents[2];
  CHECK(third.district == kYuexiu);
  CHECK_FALSE(third.to_first_ack.has_value());
  CHECK_FALSE(third.to_first_arrival.has_value());
  CHECK(third.cascades.Count(CascadeReason::kAckTimeout) == 1);
  CHECK(third.cascades.Count(CascadeReason::kArrivalTimeout) == 0);
  CHECK(third.ring_widenings == 2);
  CHECK(third.frontline_widenings == 1);
  CHECK(third.went_short);
  CHECK(third.escalations_notified == 1);
  CHECK(third.final_state == IncidentState::kDispatched);
}

TEST_CASE("overall figures count every incident and unreached ones as not served", "[report]") {
  const DrillReport report = BuildReport(HandMadeDrill(), City());
  const AreaStats& o = report.overall;
  CHECK(o.incidents == 3);
  CHECK(o.served == 2);
  CHECK(o.merged_alerts == 1);
  // Acks at 10 s and 45 s: p50 is rank ceil(1.0) = 1, p90 rank ceil(1.8) = 2.
  CHECK(o.to_first_ack.count == 2);
  CHECK(o.to_first_ack.p50 == absl::Seconds(10));
  CHECK(o.to_first_ack.p90 == absl::Seconds(45));
  CHECK(o.to_first_ack.max == absl::Seconds(45));
  CHECK(o.to_first_arrival.count == 2);
  CHECK(o.to_first_arrival.p50 == absl::Seconds(50));
  CHECK(o.to_first_arrival.p90 == absl::Minutes(4));
  CHECK(o.to_first_arrival.max == absl::Minutes(4));
  CHECK(o.to_assembled.count == 1);
  CHECK(o.to_assembled.p50 == absl::Minutes(6));
  // First arrivals at 50 s and 4 min out of three incidents.
  CHECK(o.served_within == std::array<int, kReportRingCount>{1, 1, 2, 2, 2});
  CHECK(o.share_within[0] == Approx(1.0 / 3));
  CHECK(o.share_within[1] == Approx(1.0 / 3));
  CHECK(o.share_within[2] == Approx(2.0 / 3));
  CHECK(o.share_within[3] == Approx(2.0 / 3));
  CHECK(o.share_within[4] == Approx(2.0 / 3));
  CHECK(o.assignments == 5);
  CHECK(o.cascades.total == 2);
  CHECK(o.cascades.Count(CascadeReason::kDeclined) == 1);
  CHECK(o.cascades.Count(CascadeReason::kAckTimeout) == 1);
  CHECK(o.ring_widenings == 3);
  CHECK(o.short_incidents == 1);
  CHECK(o.escalations_notified == 1);

  CHECK(report.alerts.accepted == 4);
  CHECK(report.alerts.opened == 3);
  CHECK(report.alerts.merged == 1);
  CHECK(report.alerts.duplicates == 1);
  CHECK(report.alerts.rejected == 1);
  CHECK(report.alerts.rejected_by_reason.at(RejectReason::kOutsideServiceArea) == 1);
  CHECK(report.commands_rejected == 1);
}

TEST_CASE("districts and zones each get their own incidents", "[report]") {
  const DrillReport report = BuildReport(HandMadeDrill(), City());
  CHECK(report.districts.size() == 11);  // every district, with incidents or not
  const DistrictReport& liwan = DistrictOf(report, kLiwan);
  CHECK(liwan.name_en == "Liwan");
  CHECK(liwan.name_zh == "荔湾区");
  CHECK(liwan.stats.incidents == 2);
  CHECK(liwan.stats.served == 2);
  CHECK(liwan.stats.share_within[0] == Approx(0.5));
  CHECK(liwan.stats.share_within[1] == Approx(0.5));
  CHECK(liwan.stats.share_within[2] == Approx(1.0));
  CHECK(liwan.stats.to_first_arrival.p50 == absl::Seconds(50));
  CHECK(liwan.stats.merged_alerts == 1);
  CHECK(liwan.stats.cascades.total == 1);
  CHECK(liwan.stats.short_incidents == 0);

  const DistrictReport& yuexiu = DistrictOf(report, kYuexiu);
  CHECK(yuexiu.stats.incidents == 1);
  CHECK(yuexiu.stats.served == 0);
  CHECK(yuexiu.stats.share_within[4] == 0.0);
  CHECK(yuexiu.stats.to_first_arrival.count == 0);
  CHECK(yuexiu.stats.cascades.Count(CascadeReason::kAckTimeout) == 1);
  CHECK(yuexiu.stats.ring_widenings == 2);
  CHECK(yuexiu.stats.short_incidents == 1);

  int others = 0;
  for (const DistrictReport& d : report.districts) others += d.stats.incidents;
  CHECK(others == 3);

  REQUIRE(report.zones.size() == 3);
  CHECK(report.zones[0].id == kLiwanZoneA);
  CHECK(report.zones[0].name_zh == "沙面街道");
  CHECK(report.zones[0].district_name_en == "Liwan");
  CHECK(report.zones[2].id == kYuexiuZone);
  CHECK(report.zones[2].district == kYuexiu);
  CHECK(report.zones[2].stats.short_incidents == 1);
}

TEST_CASE("units are busy from issue to the end of their assignment or of the drill", "[report]") {
  const DrillReport report = BuildReport(HandMadeDrill(), City());
  const Utilisation& u = report.utilisation;
  CHECK(u.unit_count == 10);
  CHECK(u.units_assigned == 5);
  CHECK(u.share_assigned == Approx(0.5));
  // 1200 s (released) + 15 s (declined) + 1785 s (released) + 30 s (expired) + 600 s (drill end).
  CHECK(u.busy_unit_hours == Approx(3630.0 / 3600));
  CHECK(u.mean_busy_share == Approx(3630.0 / 3600 / 10));
  REQUIRE(u.busiest.size() == 5);
  CHECK(u.busiest[0].unit == UnitNo(2));
  CHECK(u.busiest[0].busy == absl::Seconds(1785));
  CHECK(u.busiest[0].name == City().units[2].name);
  CHECK(u.busiest[1].unit == UnitNo(0));
  CHECK(u.busiest[1].busy == absl::Minutes(20));
  CHECK(u.busiest[2].unit == UnitNo(4));
  CHECK(u.busiest[2].busy == absl::Minutes(10));
  CHECK(u.busiest[3].unit == UnitNo(3));
  CHECK(u.busiest[4].unit == UnitNo(1));
  CHECK(u.busiest[4].busy == absl::Seconds(15));
}

TEST_CASE("early releases are cascades and releases at the end are not", "[report]") {
  DrillWriter w;
  w.Opened(0, 1, Category::kCrowd, Level::kIvGeneral, kLiwan, kLiwanZoneA)
      .Issued(0, 1, 1, UnitNo(0), AssignmentRole::kFrontline, absl::Minutes(3))
      .Issued(0, 2, 1, UnitNo(1), AssignmentRole::kFrontline, absl::Minutes(3))
      .Issued(0, 3, 1, UnitNo(2), AssignmentRole::kAssembly, absl::Minutes(5))
      .Issued(0, 4, 1, UnitNo(3), AssignmentRole::kAssembly, absl::Minutes(5))
      .At(20, AssignmentAcked{1, 1, UnitNo(0)})
      .At(20, AssignmentAcked{2, 1, UnitNo(1)})
      .At(60, AssignmentReleased{1, 1, UnitNo(0), CascadeReason::kReleasedByOperator})
      .At(90, UnitArrived{2, 1, UnitNo(1)})
      .At(120, AssignmentReleased{2, 1, UnitNo(1), CascadeReason::kReleasedByOperator})
      .At(900, AssignmentExpired{3, 1, UnitNo(2), CascadeReason::kArrivalTimeout})
      .At(1000, AssignmentReleased{4, 1, UnitNo(3), CascadeReason::kIncidentEnded});
  const DrillReport report = BuildReport(w.record(), City());
  REQUIRE(report.incidents.size() == 1);
  const CascadeCounts& c = report.incidents[0].cascades;
  CHECK(c.total == 2);
  CHECK(c.Count(CascadeReason::kReleasedByOperator) == 1);  // before arriving; not the one after
  CHECK(c.Count(CascadeReason::kArrivalTimeout) == 1);
  CHECK(c.Count(CascadeReason::kIncidentEnded) == 0);
  // 60 + 120 + 900 + 1000 seconds.
  CHECK(report.utilisation.busy_unit_hours == Approx(2080.0 / 3600));
}

TEST_CASE("worst zones need five incidents and rank by the five minute share", "[report]") {
  DrillReport report;
  const auto zone = [](ZoneId id, int incidents, double share) {
    ZoneReport z;
    z.id = id;
    z.stats.incidents = incidents;
    z.stats.share_within[kFiveMinuteRing] = share;
    return z;
  };
  report.zones = {zone(1, 4, 0.0), zone(2, 5, 0.8), zone(3, 9, 0.5),
                  zone(4, 6, 0.5), zone(5, 5, 0.2), zone(6, 7, 1.0)};
  const std::vector<const ZoneReport*> worst = WorstZones(report, 5, 3);
  REQUIRE(worst.size() == 3);
  CHECK(worst[0]->id == 5);
  CHECK(worst[1]->id == 3);  // same share as zone 4, more incidents
  CHECK(worst[2]->id == 4);
}

TEST_CASE("the markdown summary states the headline and the tables", "[report]") {
  const std::string md = RenderMarkdown(BuildReport(HandMadeDrill(), City()));
  INFO(md);
  const std::string lines[] = {
      "# Drill report: Hand-made drill\n",
      "\nThree incidents in two districts.\n",
      "Simulated 2026-07-15 08:00 to 09:00 (UTC+8), 1h00m00s over 10 units; replayed in 0.500 s "
      "of wall time (7,200x real time).\n",
      "- **3 incidents** from 5 alerts: 1 merged into an open incident, 1 rejected.\n",
      "- First unit on scene within 1 min: 33.3% · 3 min: 33.3% · 5 min: 66.7% · 10 min: 66.7% "
      "· 20 min: 66.7% of 3 incidents (not reached: 1, counted as not served).\n",
      "- Median time to first acknowledgement 0m10s, to first unit on scene 0m50s, to headcount "
      "assembled 6m00s.\n",
      "| first acknowledgement | 2 | 0m10s | 0m45s | 0m45s |\n",
      "| first unit on scene | 2 | 0m50s | 4m00s | 4m00s |\n",
      "| headcount assembled | 1 | 6m00s | 6m00s | 6m00s |\n",
      "| Liwan 荔湾区 | 2 | 2 | 50.0% | 50.0% | 100.0% | 100.0% | 100.0% | 0m50s | 4m00s | 1 | 0 "
      "|\n",
      "| Yuexiu 越秀区 | 1 | 0 | 0.0% | 0.0% | 0.0% | 0.0% | 0.0% | n/a | n/a | 1 | 1 |\n",
      "| Haizhu 海珠区 | 0 | 0 | – | – | – | – | – | n/a | n/a | 0 | 0 |\n",
      "No zone had 5 or more incidents.\n",
      "- 5 assignments issued; 2 ended before the unit arrived: declined 1, no acknowledgement "
      "in time 1.\n",
      "- Declines by reason: too far 1.\n",
      "- 3 ring widenings (2 frontline, 1 assembly); 1 notification to centres and professional "
      "forces.\n",
      "- Incidents left short after every ring: 1.\n",
      "- Alerts merged into an open incident: 1; alerts rejected: 1 (outside service area 1).\n",
      "| 3 | 08:20:00 | rescue | II | Yuexiu | 23 洪桥街道 | never | dispatched |\n",
      "- Units ever assigned: 5 of 10 (50.0%).\n",
      "- Busy unit-hours: 1.01 (",
      "- Mean share of the fleet busy: 10.08%.\n",
      absl::StrCat("| ", UnitNo(2), " | ", City().units[2].name, " | 1 | 29m45s |\n"),
  };
  for (const std::string& line : lines) {
    INFO(line);
    CHECK(absl::StrContains(md, line));
  }
}

TEST_CASE("the html page is self contained and escapes its text", "[report]") {
  DrillRecord record = HandMadeDrill();
  record.scenario_description = "Rain <heavy> & \"wind\" <script>alert('x')</script>";
  // The same city with one district renamed to something that needs escaping.
  std::vector<District> districts = City().map->districts();
  for (District& d : districts) {
    if (d.code == kLiwan) d.name_en = "Li<w>&an";
  }
  CityData city;
  city.projection = City().projection;
  city.map = std::make_unique<DistrictMap>(std::move(districts), City().map->zones());
  const std::string html = RenderHtml(BuildReport(record, city), city);

  CHECK(absl::StartsWith(html, "<!DOCTYPE html>\n<html"));
  CHECK(absl::EndsWith(html, "</html>\n"));
  // Two histograms, the ring chart, the cascade chart and the map.
  CHECK(Occurrences(html, "<svg") == 5);
  CHECK(Occurrences(html, "</svg>") == 5);
  CHECK(Occurrences(html, "<path class=\"district\"") == 11);
  for (const char* tag : {"section", "table", "figure", "main", "style"}) {
    INFO(tag);
    CHECK(Occurrences(html, absl::StrCat("<", tag, ">")) +
              Occurrences(html, absl::StrCat("<", tag, " ")) ==
          Occurrences(html, absl::StrCat("</", tag, ">")));
  }
  CHECK_FALSE(absl::StrContains(html, "http"));
  CHECK_FALSE(absl::StrContains(html, "<script"));
  CHECK_FALSE(absl::StrContains(html, "@import"));
  CHECK(absl::StrContains(html,
                          "Rain &lt;heavy&gt; &amp; &quot;wind&quot; "
                          "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
  CHECK_FALSE(absl::StrContains(html, "Li<w>&an"));
  CHECK(absl::StrContains(html, "Li&lt;w&gt;&amp;an"));
  // Headline figures.
  CHECK(absl::StrContains(html,
                          "<div class=\"v\">66.7%</div><div class=\"l\">on scene within "
                          "5 min</div>"));
  CHECK(absl::StrContains(html, "<div class=\"v\">0m50s</div>"));
}

}  // namespace
}  // namespace gz
