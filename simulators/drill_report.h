// The drill report: what happened in a drill, measured against the 1/3/5/10/20-minute response
// rings (穗应急委〔2024〕13号), computed from nothing but the event stream the core emitted.
//
//   DrillRecord ──BuildReport(record, city)──▶ DrillReport ──▶ RenderMarkdown / RenderHtml
//
// BuildReport folds the events into one IncidentOutcome per incident, then aggregates them overall,
// per district and per street zone (AreaStats), and adds unit utilisation. The report holds every
// name it shows, so RenderMarkdown needs nothing else; RenderHtml also takes the city for the
// district polygons of its map.
//
// Definitions used throughout:
//   - Times are measured from the incident's IncidentOpened event: to the first AssignmentAcked, to
//     the first UnitArrived, and to AssemblyComplete (absent when the event never came).
//   - An incident is served within a ring of T minutes when its first unit arrived at most T
//     minutes after it opened. Shares are over all incidents of the area: an incident nobody
//     reached counts as not served.
//   - Percentiles are nearest-rank: the p-th percentile of n sorted values is the value of rank
//     ceil(p * n / 100) (1-based), so it is always one of the measured values. See NearestRank.
//   - A cascade is an assignment that ended before its unit arrived, so that the next candidate
//     was offered: a decline, an acknowledgement timeout, an arrival timeout, or a release by an
//     operator or a unit withdrawal before arrival. Releases because the incident ended are not
//     cascades.
//   - Alert counts (accepted, merged, rejected by reason) are for the whole drill only: a rejected
//     alert has no district (it may lie outside the service area). Merged alerts are also counted
//     per area, as the extra reports of its incidents.
//   - A unit is busy on an assignment from its AssignmentIssued event to its end (decline, expiry
//     or release), or to the end of the drill if it never ended; busy time is clipped to the drill.
//
// Thread-safety: plain functions over plain data.

#ifndef SIMULATORS_DRILL_REPORT_H_
#define SIMULATORS_DRILL_REPORT_H_

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/config/city_data.h"
#include "engine/dispatch/events.h"

namespace gz {

// Everything a drill produced: the input of the report.
struct DrillRecord {
  std::string scenario_name;         // e.g. "weekday morning, whole city"
  std::string scenario_description;  // one or two sentences for the planner
  absl::Time start;                  // simulated time the drill started
  absl::Time end;                    // simulated time the drill ended (at or after the last event)
  std::vector<Event> events;         // everything the core emitted, in order
  size_t unit_count = 0;             // units in the fleet (the denominator of utilisation)
  double wall_seconds = 0;           // wall-clock time the replay took (for the speed line)
};

// The response rings the report measures against, in minutes.
inline constexpr std::array<int, 5> kReportRingMinutes{1, 3, 5, 10, 20};
inline constexpr size_t kReportRingCount = kReportRingMinutes.size();
// Index of the 5-minute ring in kReportRingMinutes: the map's and the zone ranking's yardstick.
inline constexpr size_t kFiveMinuteRing = 2;

// The p-th percentile (0 < p <= 100) of `sorted` (ascending) by the nearest-rank method: the value
// of 1-based rank ceil(p * n / 100). REQUIRES: `sorted` is not empty and sorted ascending.
absl::Duration NearestRank(const std::vector<absl::Duration>& sorted, int percent);

// Nearest-rank summary of a set of durations; p50, p90 and max are zero when count is 0.
struct TimeStats {
  size_t count = 0;
  absl::Duration p50;
  absl::Duration p90;
  absl::Duration max;
};

// Assignments that ended before the unit arrived (cascades), by why.
struct CascadeCounts {
  int total = 0;
  std::map<CascadeReason, int> by_reason;           // declined, ack_timeout, arrival_timeout, ...
  std::map<DeclineReason, int> declines_by_reason;  // the declines, by the reason given

  int Count(CascadeReason reason) const;
  int Declined(DeclineReason reason) const;
  void Add(const CascadeCounts& other);
};

// What happened to one incident.
struct IncidentOutcome {
  IncidentId id = 0;
  absl::Time opened_at;
  Category category = Category::kUnspecified;
  Level level = Level::kUnspecified;  // after any upgrade by a merged, more severe report
  DistrictCode district = 0;
  ZoneId zone = 0;
  int reports = 1;  // alerts counted on the incident, the first included
  std::optional<absl::Duration> to_first_ack;
  std::optional<absl::Duration> to_first_arrival;
  std::optional<absl::Duration> to_assembled;  // headcount target met (AssemblyComplete)
  int assignments = 0;                         // AssignmentIssued
  // Declines by reason; expiries as ack_timeout (silence) or arrival_timeout (acknowledged, not on
  // scene in time); releases by an operator or a unit withdrawal before the unit arrived.
  CascadeCounts cascades;
  int ring_widenings = 0;       // both roles
  int frontline_widenings = 0;  // of which the frontline search
  bool went_short = false;      // IncidentShort: every ring exhausted with the plan unmet
  int escalations_notified = 0;
  IncidentState final_state = IncidentState::kReported;
};

// Aggregates over a set of incidents: the whole drill, a district or a zone.
struct AreaStats {
  int incidents = 0;
  int served = 0;         // incidents with a unit on scene at all
  int merged_alerts = 0;  // extra reports merged into these incidents
  TimeStats to_first_ack;
  TimeStats to_first_arrival;
  TimeStats to_assembled;
  std::array<int, kReportRingCount> served_within{};    // counts per kReportRingMinutes
  std::array<double, kReportRingCount> share_within{};  // served_within / incidents; 0 if none
  int assignments = 0;
  CascadeCounts cascades;
  int ring_widenings = 0;
  int short_incidents = 0;
  int escalations_notified = 0;
};

struct DistrictReport {
  DistrictCode code = 0;
  std::string name_zh;
  std::string name_en;
  AreaStats stats;
};

struct ZoneReport {
  ZoneId id = 0;
  DistrictCode district = 0;
  std::string name_zh;           // the street/town the synthetic zone stands for
  std::string district_name_en;  // of `district`
  AreaStats stats;
};

struct UnitBusy {
  UnitId unit = 0;
  std::string name;  // from the city's unit set; empty when the unit is not in it
  int assignments = 0;
  absl::Duration busy;
};

struct Utilisation {
  size_t unit_count = 0;
  size_t units_assigned = 0;      // distinct units ever issued an assignment
  double share_assigned = 0;      // units_assigned / unit_count
  double busy_unit_hours = 0;     // summed over every assignment
  double mean_busy_share = 0;     // busy_unit_hours / (unit_count x drill hours)
  std::vector<UnitBusy> busiest;  // up to 10, most busy time first (ties: lower unit id first)
};

struct AlertCounts {
  int accepted = 0;    // distinct alerts accepted, opening or merged (retries not counted)
  int opened = 0;      // of which opened an incident
  int merged = 0;      // of which joined an open incident
  int duplicates = 0;  // retries answered again from the idempotency record
  int rejected = 0;    // distinct alerts refused
  std::map<RejectReason, int> rejected_by_reason;
};

struct DrillReport {
  std::string scenario_name;
  std::string scenario_description;
  absl::Time start;
  absl::Time end;
  double wall_seconds = 0;
  AlertCounts alerts;
  int commands_rejected = 0;  // acks, declines, ... refused (e.g. for an assignment already gone)
  std::vector<IncidentOutcome> incidents;  // by id
  AreaStats overall;
  std::vector<DistrictReport> districts;  // every district of the city, by code
  std::vector<ZoneReport> zones;          // zones with at least one incident, by id
  Utilisation utilisation;
};

// Folds the record's events into the report. Events about an incident whose IncidentOpened is not
// in the record are ignored. District and zone names come from `city.map`, unit names from
// `city.units`.
DrillReport BuildReport(const DrillRecord& record, const CityData& city);

// Zones with at least `min_incidents` incidents, worst 5-minute share first (ties: more incidents
// first, then lower zone id), at most `limit` of them.
std::vector<const ZoneReport*> WorstZones(const DrillReport& report, int min_incidents,
                                          size_t limit);

// A Markdown summary for planners: the headline (incidents, served within each ring, median
// times), a per-district table, the 10 worst zones by 5-minute share (zones with at least 5
// incidents), cascades and their reasons, the incidents left short, and utilisation.
std::string RenderMarkdown(const DrillReport& report);

// One self-contained HTML page (inline CSS and SVG, no scripts, fonts or links): headline figures,
// histograms of the time to first arrival and to first acknowledgement, ring compliance, the
// district map shaded by 5-minute share, the district and zone tables, cascades, short incidents
// and utilisation. All text is escaped.
std::string RenderHtml(const DrillReport& report, const CityData& city);

}  // namespace gz

#endif  // SIMULATORS_DRILL_REPORT_H_
