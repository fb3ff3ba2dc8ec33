#include "simulators/drill_report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <limits>
#include <map>
#include <utility>
#include <variant>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"

namespace gz {

absl::Duration NearestRank(const std::vector<absl::Duration>& sorted, int percent) {
  const size_t n = sorted.size();
  // Rank ceil(p * n / 100), 1-based, in integer arithmetic so it is exact for every n.
  size_t rank = (static_cast<size_t>(std::max(percent, 0)) * n + 99) / 100;
  rank = std::clamp<size_t>(rank, 1, n);
  return sorted[rank - 1];
}

int CascadeCounts::Count(CascadeReason reason) const {
  const auto it = by_reason.find(reason);
  return it == by_reason.end() ? 0 : it->second;
}

int CascadeCounts::Declined(DeclineReason reason) const {
  const auto it = declines_by_reason.find(reason);
  return it == declines_by_reason.end() ? 0 : it->second;
}

void CascadeCounts::Add(const CascadeCounts& other) {
  total += other.total;
  for (const auto& [reason, n] : other.by_reason) by_reason[reason] += n;
  for (const auto& [reason, n] : other.declines_by_reason) declines_by_reason[reason] += n;
}

// ---------------------------------------------------------------------------------------------
// Building the report.

namespace {

TimeStats Summarise(std::vector<absl::Duration> values) {
  TimeStats stats;
  stats.count = values.size();
  if (values.empty()) return stats;
  std::sort(values.begin(), values.end());
  stats.p50 = NearestRank(values, 50);
  stats.p90 = NearestRank(values, 90);
  stats.max = values.back();
  return stats;
}

// Collects the incidents of one area, then summarises them.
class AreaAccumulator {
 public:
  void Add(const IncidentOutcome& o) {
    ++stats_.incidents;
    stats_.merged_alerts += std::max(o.reports - 1, 0);
    if (o.to_first_ack) ack_.push_back(*o.to_first_ack);
    if (o.to_first_arrival) {
      ++stats_.served;
      arrival_.push_back(*o.to_first_arrival);
      for (size_t r = 0; r < kReportRingCount; ++r) {
        if (*o.to_first_arrival <= absl::Minutes(kReportRingMinutes[r])) ++stats_.served_within[r];
      }
    }
    if (o.to_assembled) assembled_.push_back(*o.to_assembled);
    stats_.assignments += o.assignments;
    stats_.cascades.Add(o.cascades);
    stats_.ring_widenings += o.ring_widenings;
    if (o.went_short) ++stats_.short_incidents;
    stats_.escalations_notified += o.escalations_notified;
  }

  AreaStats Finish() {
    stats_.to_first_ack = Summarise(std::move(ack_));
    stats_.to_first_arrival = Summarise(std::move(arrival_));
    stats_.to_assembled = Summarise(std::move(assembled_));
    for (size_t r = 0; r < kReportRingCount; ++r) {
      stats_.share_within[r] = stats_.incidents == 0
                                   ? 0.0
                                   : static_cast<double>(stats_.served_within[r]) /
                                         static_cast<double>(stats_.incidents);
    }
    return stats_;
  }

 private:
  AreaStats stats_;
  std::vector<absl::Duration> ack_, arrival_, assembled_;
};

// One pass over the events: incidents, alert counts and each unit's busy time.
class EventFolder {
 public:
  EventFolder(absl::Time start, absl::Time end) : start_(start), end_(end) {}

  void Fold(const Event& e) {
    at_ = e.at;
    std::visit([this](const auto& body) { On(body); }, e.body);
  }

  // Assignments still open at the end of the drill are busy until then.
  void Finish() {
    std::vector<AssignmentId> open;
    for (const auto& [id, track] : open_) open.push_back(id);
    std::sort(open.begin(), open.end());
    for (AssignmentId id : open) End(id, end_);
  }

  std::map<IncidentId, IncidentOutcome>& incidents() { return incidents_; }
  std::map<UnitId, UnitBusy>& units() { return units_; }
  const AlertCounts& alerts() const { return alerts_; }
  int commands_rejected() const { return commands_rejected_; }

 private:
  struct Track {
    IncidentId incident = 0;
    UnitId unit = 0;
    absl::Time issued;
    bool arrived = false;
  };

  IncidentOutcome* Find(IncidentId id) {
    const auto it = incidents_.find(id);
    return it == incidents_.end() ? nullptr : &it->second;
  }

  // Ends the assignment's busy time at `at`; returns its track (nullopt if it was not open).
  std::optional<Track> End(AssignmentId id, absl::Time at) {
    const auto it = open_.find(id);
    if (it == open_.end()) return std::nullopt;
    const Track track = it->second;
    open_.erase(it);
    const absl::Time from = std::max(track.issued, start_);
    const absl::Time to = std::min(at, end_);
    if (to > from) units_[track.unit].busy += to - from;
    return track;
  }

  void Cascade(IncidentId incident, CascadeReason reason) {
    IncidentOutcome* o = Find(incident);
    if (o == nullptr) return;
    ++o->cascades.total;
    ++o->cascades.by_reason[reason];
  }

  void On(const AlertAccepted& e) {
    if (e.duplicate) {
      ++alerts_.duplicates;
      return;
    }
    ++alerts_.accepted;
    ++(e.merged ? alerts_.merged : alerts_.opened);
  }

  void On(const AlertRejected& e) {
    if (e.duplicate) {
      ++alerts_.duplicates;
      return;
    }
    ++alerts_.rejected;
    ++alerts_.rejected_by_reason[e.reason];
  }

  void On(const CommandRejected&) { ++commands_rejected_; }

  void On(const IncidentOpened& e) {
    IncidentOutcome& o = incidents_[e.incident];
    o.id = e.incident;
    o.opened_at = at_;
    o.category = e.category;
    o.level = e.level;
    o.district = e.district;
    o.zone = e.zone;
  }

  void On(const IncidentMerged& e) {
    if (IncidentOutcome* o = Find(e.incident)) {
      o->reports = std::max(o->reports, static_cast<int>(e.reports));
      o->level = e.level;
    }
  }

  void On(const AssignmentIssued& e) {
    open_[e.assignment] = Track{e.incident, e.unit, at_, false};
    UnitBusy& unit = units_[e.unit];
    unit.unit = e.unit;
    ++unit.assignments;
    if (IncidentOutcome* o = Find(e.incident)) ++o->assignments;
  }

  void On(const AssignmentAcked& e) {
    IncidentOutcome* o = Find(e.incident);
    if (o != nullptr && !o->to_first_ack) o->to_first_ack = at_ - o->opened_at;
  }

  void On(const UnitArrived& e) {
    if (const auto it = open_.find(e.assignment); it != open_.end()) it->second.arrived = true;
    IncidentOutcome* o = Find(e.incident);
    if (o != nullptr && !o->to_first_arrival) o->to_first_arrival = at_ - o->opened_at;
  }

  void On(const AssignmentDeclined& e) {
    End(e.assignment, at_);
    Cascade(e.incident, CascadeReason::kDeclined);
    if (IncidentOutcome* o = Find(e.incident)) ++o->cascades.declines_by_reason[e.reason];
  }

  void On(const AssignmentExpired& e) {
    End(e.assignment, at_);
    Cascade(e.incident, e.reason == CascadeReason::kArrivalTimeout ? CascadeReason::kArrivalTimeout
                                                                   : CascadeReason::kAckTimeout);
  }

  void On(const AssignmentReleased& e) {
    const std::optional<Track> track = End(e.assignment, at_);
    const bool arrived = track.has_value() && track->arrived;
    if (!arrived && e.reason != CascadeReason::kIncidentEnded) Cascade(e.incident, e.reason);
  }

  void On(const RingWidened& e) {
    if (IncidentOutcome* o = Find(e.incident)) {
      ++o->ring_widenings;
      if (e.role == AssignmentRole::kFrontline) ++o->frontline_widenings;
    }
  }

  void On(const EscalationNotified& e) {
    if (IncidentOutcome* o = Find(e.incident)) ++o->escalations_notified;
  }

  void On(const IncidentStateChanged& e) {
    if (IncidentOutcome* o = Find(e.incident)) o->final_state = e.to;
  }

  void On(const AssemblyComplete& e) {
    IncidentOutcome* o = Find(e.incident);
    if (o != nullptr && !o->to_assembled) o->to_assembled = at_ - o->opened_at;
  }

  void On(const IncidentShort& e) {
    if (IncidentOutcome* o = Find(e.incident)) o->went_short = true;
  }

  const absl::Time start_;
  const absl::Time end_;
  absl::Time at_;
  std::map<IncidentId, IncidentOutcome> incidents_;
  absl::flat_hash_map<AssignmentId, Track> open_;
  std::map<UnitId, UnitBusy> units_;
  AlertCounts alerts_;
  int commands_rejected_ = 0;
};

}  // namespace

DrillReport BuildReport(const DrillRecord& record, const CityData& city) {
  DrillReport report;
  report.scenario_name = record.scenario_name;
  report.scenario_description = record.scenario_description;
  report.start = record.start;
  report.end = record.end;
  report.wall_seconds = record.wall_seconds;

  EventFolder folder(record.start, record.end);
  for (const Event& e : record.events) folder.Fold(e);
  folder.Finish();
  report.alerts = folder.alerts();
  report.commands_rejected = folder.commands_rejected();

  // Areas: every district of the city (so the map and table are complete), zones as they occur.
  AreaAccumulator overall;
  std::map<DistrictCode, AreaAccumulator> by_district;
  std::map<ZoneId, AreaAccumulator> by_zone;
  if (city.map != nullptr) {
    for (const District& d : city.map->districts()) by_district[d.code];
  }
  for (auto& [id, outcome] : folder.incidents()) {
    overall.Add(outcome);
    by_district[outcome.district].Add(outcome);
    by_zone[outcome.zone].Add(outcome);
    report.incidents.push_back(std::move(outcome));
  }
  report.overall = overall.Finish();

  const auto district_of = [&](DistrictCode code) -> const District* {
    return city.map == nullptr ? nullptr : city.map->FindDistrict(code);
  };
  for (auto& [code, acc] : by_district) {
    DistrictReport d;
    d.code = code;
    if (const District* district = district_of(code)) {
      d.name_zh = district->name_zh;
      d.name_en = district->name_en;
    } else {
      d.name_en = absl::StrCat(code);
    }
    d.stats = acc.Finish();
    report.districts.push_back(std::move(d));
  }
  for (auto& [id, acc] : by_zone) {
    ZoneReport z;
    z.id = id;
    if (const Zone* zone = city.map == nullptr ? nullptr : city.map->FindZone(id)) {
      z.district = zone->district;
      z.name_zh = zone->name_zh;
    }
    if (const District* district = district_of(z.district)) {
      z.district_name_en = district->name_en;
    }
    z.stats = acc.Finish();
    report.zones.push_back(std::move(z));
  }

  // Utilisation.
  Utilisation& u = report.utilisation;
  u.unit_count = record.unit_count;
  absl::Duration busy_total;
  std::vector<UnitBusy> units;
  for (auto& [id, busy] : folder.units()) {
    busy_total += busy.busy;
    units.push_back(busy);
  }
  u.units_assigned = units.size();
  u.share_assigned =
      u.unit_count == 0 ? 0.0
                        : static_cast<double>(u.units_assigned) / static_cast<double>(u.unit_count);
  u.busy_unit_hours = absl::ToDoubleHours(busy_total);
  const double drill_hours = absl::ToDoubleHours(record.end - record.start);
  u.mean_busy_share = u.unit_count == 0 || drill_hours <= 0
                          ? 0.0
                          : u.busy_unit_hours / (static_cast<double>(u.unit_count) * drill_hours);
  std::sort(units.begin(), units.end(), [](const UnitBusy& a, const UnitBusy& b) {
    return a.busy != b.busy ? a.busy > b.busy : a.unit < b.unit;
  });
  if (units.size() > 10) units.resize(10);
  for (const Unit& unit : city.units) {
    for (UnitBusy& busy : units) {
      if (busy.unit == unit.id) busy.name = unit.name;
    }
  }
  u.busiest = std::move(units);
  return report;
}

std::vector<const ZoneReport*> WorstZones(const DrillReport& report, int min_incidents,
                                          size_t limit) {
  std::vector<const ZoneReport*> zones;
  for (const ZoneReport& z : report.zones) {
    if (z.stats.incidents >= min_incidents) zones.push_back(&z);
  }
  std::sort(zones.begin(), zones.end(), [](const ZoneReport* a, const ZoneReport* b) {
    const double sa = a->stats.share_within[kFiveMinuteRing];
    const double sb = b->stats.share_within[kFiveMinuteRing];
    if (sa != sb) return sa < sb;
    if (a->stats.incidents != b->stats.incidents) return a->stats.incidents > b->stats.incidents;
    return a->id < b->id;
  });
  if (zones.size() > limit) zones.resize(limit);
  return zones;
}

// ---------------------------------------------------------------------------------------------
// Shared formatting.

namespace {

const absl::TimeZone& Guangzhou() {
  static const absl::TimeZone* const kZone = new absl::TimeZone(absl::FixedTimeZone(8 * 3600));
  return *kZone;
}

// "4m05s", or "1h02m03s" from an hour on; truncated to the second.
std::string Clock(absl::Duration d) {
  if (d < absl::ZeroDuration()) return absl::StrCat("-", Clock(-d));
  const int64_t s = absl::ToInt64Seconds(d);
  if (s >= 3600) return absl::StrFormat("%dh%02dm%02ds", s / 3600, s / 60 % 60, s % 60);
  return absl::StrFormat("%dm%02ds", s / 60, s % 60);
}

std::string Clock(const std::optional<absl::Duration>& d, absl::string_view none) {
  return d ? Clock(*d) : std::string(none);
}

std::string P50(const TimeStats& t) { return t.count == 0 ? "n/a" : Clock(t.p50); }
std::string P90(const TimeStats& t) { return t.count == 0 ? "n/a" : Clock(t.p90); }
std::string Max(const TimeStats& t) { return t.count == 0 ? "n/a" : Clock(t.max); }

std::string Percent(double share) { return absl::StrFormat("%.1f%%", 100.0 * share); }

// 23000 -> "23,000".
std::string Count(int64_t n) {
  std::string digits = absl::StrCat(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string Plural(int64_t n, absl::string_view one, absl::string_view many) {
  return absl::StrCat(Count(n), " ", n == 1 ? one : many);
}

std::string TimeOfDay(absl::Time t) { return absl::FormatTime("%H:%M:%S", t, Guangzhou()); }

std::string Spaced(absl::string_view code) { return absl::StrReplaceAll(code, {{"_", " "}}); }

std::string CascadeLabel(CascadeReason reason) {
  switch (reason) {
    case CascadeReason::kDeclined:
      return "declined";
    case CascadeReason::kAckTimeout:
      return "no acknowledgement in time";
    case CascadeReason::kArrivalTimeout:
      return "not on scene in time";
    case CascadeReason::kReleasedByOperator:
      return "released by an operator";
    case CascadeReason::kUnitWithdrawn:
      return "unit withdrawn";
    default:
      return Spaced(CascadeReasonName(reason));
  }
}

std::string DistrictLabel(const DistrictReport& d) {
  return d.name_zh.empty() ? d.name_en : absl::StrCat(d.name_en, " ", d.name_zh);
}

const DistrictReport* FindDistrict(const DrillReport& report, DistrictCode code) {
  for (const DistrictReport& d : report.districts) {
    if (d.code == code) return &d;
  }
  return nullptr;
}

std::string DistrictName(const DrillReport& report, DistrictCode code) {
  const DistrictReport* d = FindDistrict(report, code);
  return d == nullptr ? absl::StrCat(code) : d->name_en;
}

std::string ZoneLabel(const DrillReport& report, ZoneId id) {
  for (const ZoneReport& z : report.zones) {
    if (z.id == id && !z.name_zh.empty()) return absl::StrCat(id, " ", z.name_zh);
  }
  return absl::StrCat(id);
}

std::string SpeedLine(const DrillReport& r) {
  const absl::Duration span = r.end - r.start;
  std::string line =
      absl::StrCat("Simulated ", absl::FormatTime("%Y-%m-%d %H:%M", r.start, Guangzhou()), " to ",
                   absl::FormatTime(absl::FormatTime("%Y-%m-%d", r.start, Guangzhou()) ==
                                            absl::FormatTime("%Y-%m-%d", r.end, Guangzhou())
                                        ? "%H:%M"
                                        : "%Y-%m-%d %H:%M",
                                    r.end, Guangzhou()),
                   " (UTC+8), ", Clock(span), " over ",
                   Count(static_cast<int64_t>(r.utilisation.unit_count)), " units");
  if (r.wall_seconds > 0) {
    absl::StrAppend(
        &line, "; replayed in ", absl::StrFormat("%.3f", r.wall_seconds), " s of wall time (",
        Count(static_cast<int64_t>(std::llround(absl::ToDoubleSeconds(span) / r.wall_seconds))),
        "x real time)");
  }
  return line;
}

// "declined 3, no acknowledgement in time 2"
std::string CascadeList(const CascadeCounts& c) {
  std::string out;
  for (const auto& [reason, n] : c.by_reason) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", CascadeLabel(reason), " ", Count(n));
  }
  return out;
}

std::string DeclineList(const CascadeCounts& c) {
  std::string out;
  for (const auto& [reason, n] : c.declines_by_reason) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", Spaced(DeclineReasonName(reason)), " ",
                    Count(n));
  }
  return out;
}

std::string RejectList(const AlertCounts& a) {
  std::string out;
  for (const auto& [reason, n] : a.rejected_by_reason) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", Spaced(Describe(reason).code), " ", Count(n));
  }
  return out;
}

std::vector<const IncidentOutcome*> ShortIncidents(const DrillReport& r) {
  std::vector<const IncidentOutcome*> out;
  for (const IncidentOutcome& o : r.incidents) {
    if (o.went_short) out.push_back(&o);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Markdown.

std::string MdCell(absl::string_view s) { return absl::StrReplaceAll(s, {{"|", "\\|"}}); }

std::string RingLine(const AreaStats& s) {
  std::string line = "- First unit on scene within";
  for (size_t r = 0; r < kReportRingCount; ++r) {
    absl::StrAppend(&line, r == 0 ? " " : " · ", kReportRingMinutes[r],
                    " min: ", Percent(s.share_within[r]));
  }
  absl::StrAppend(&line, " of ", Plural(s.incidents, "incident", "incidents"),
                  " (not reached: ", Count(s.incidents - s.served), ", counted as not served).");
  return line;
}

}  // namespace

std::string RenderMarkdown(const DrillReport& r) {
  const AreaStats& o = r.overall;
  std::string md;
  absl::StrAppend(&md, "# Drill report: ", r.scenario_name.empty() ? "drill" : r.scenario_name,
                  "\n\n");
  if (!r.scenario_description.empty()) absl::StrAppend(&md, r.scenario_description, "\n\n");
  absl::StrAppend(&md, SpeedLine(r), ".\n\n");

  absl::StrAppend(&md, "## Headline\n\n");
  absl::StrAppend(&md, "- **", Plural(o.incidents, "incident", "incidents"), "** from ",
                  Plural(r.alerts.accepted + r.alerts.rejected, "alert", "alerts"), ": ",
                  Count(r.alerts.merged), " merged into an open incident, ",
                  Count(r.alerts.rejected), " rejected.\n");
  absl::StrAppend(&md, RingLine(o), "\n");
  absl::StrAppend(&md, "- Median time to first acknowledgement ", P50(o.to_first_ack),
                  ", to first unit on scene ", P50(o.to_first_arrival), ", to headcount assembled ",
                  P50(o.to_assembled), ".\n\n");
  absl::StrAppend(&md,
                  "| time from opening to | incidents | p50 | p90 | max |\n"
                  "|---|--:|--:|--:|--:|\n");
  const std::pair<absl::string_view, const TimeStats*> times[] = {
      {"first acknowledgement", &o.to_first_ack},
      {"first unit on scene", &o.to_first_arrival},
      {"headcount assembled", &o.to_assembled},
  };
  for (const auto& [what, t] : times) {
    absl::StrAppend(&md, "| ", what, " | ", Count(static_cast<int64_t>(t->count)), " | ", P50(*t),
                    " | ", P90(*t), " | ", Max(*t), " |\n");
  }
  absl::StrAppend(&md,
                  "\nPercentiles are nearest-rank: the p-th percentile of n times is the one of "
                  "rank ⌈p·n/100⌉, counted over the incidents that reached that point.\n\n");

  absl::StrAppend(&md, "## Districts\n\n");
  absl::StrAppend(&md, "| district | incidents | served |");
  for (int m : kReportRingMinutes) absl::StrAppend(&md, " ≤", m, " min |");
  absl::StrAppend(&md, " p50 on scene | p90 on scene | cascades | short |\n|---|--:|--:|");
  for (size_t i = 0; i < kReportRingCount; ++i) absl::StrAppend(&md, "--:|");
  absl::StrAppend(&md, "--:|--:|--:|--:|\n");
  for (const DistrictReport& d : r.districts) {
    const AreaStats& s = d.stats;
    absl::StrAppend(&md, "| ", MdCell(DistrictLabel(d)), " | ", Count(s.incidents), " | ",
                    Count(s.served), " |");
    for (size_t i = 0; i < kReportRingCount; ++i) {
      absl::StrAppend(&md, " ", s.incidents == 0 ? "–" : Percent(s.share_within[i]), " |");
    }
    absl::StrAppend(&md, " ", P50(s.to_first_arrival), " | ", P90(s.to_first_arrival), " | ",
                    Count(s.cascades.total), " | ", Count(s.short_incidents), " |\n");
  }

  absl::StrAppend(&md, "\n## Worst zones by 5-minute share\n\n");
  const std::vector<const ZoneReport*> worst = WorstZones(r, 5, 10);
  if (worst.empty()) {
    absl::StrAppend(&md, "No zone had 5 or more incidents.\n");
  } else {
    absl::StrAppend(&md,
                    "Zones with at least 5 incidents, worst first.\n\n"
                    "| zone | district | incidents | ≤5 min | ≤10 min | p50 on scene | "
                    "p90 on scene | short |\n"
                    "|---|---|--:|--:|--:|--:|--:|--:|\n");
    for (const ZoneReport* z : worst) {
      const AreaStats& s = z->stats;
      absl::StrAppend(&md, "| ", MdCell(ZoneLabel(r, z->id)), " | ", MdCell(z->district_name_en),
                      " | ", Count(s.incidents), " | ", Percent(s.share_within[kFiveMinuteRing]),
                      " | ", Percent(s.share_within[kFiveMinuteRing + 1]), " | ",
                      P50(s.to_first_arrival), " | ", P90(s.to_first_arrival), " | ",
                      Count(s.short_incidents), " |\n");
    }
  }

  absl::StrAppend(&md, "\n## Cascades\n\n");
  absl::StrAppend(&md, "- ", Plural(o.assignments, "assignment", "assignments"), " issued; ",
                  Count(o.cascades.total), " ended before the unit arrived",
                  o.cascades.total == 0 ? "" : absl::StrCat(": ", CascadeList(o.cascades)), ".\n");
  if (!o.cascades.declines_by_reason.empty()) {
    absl::StrAppend(&md, "- Declines by reason: ", DeclineList(o.cascades), ".\n");
  }
  int frontline_widenings = 0;
  for (const IncidentOutcome& i : r.incidents) frontline_widenings += i.frontline_widenings;
  absl::StrAppend(&md, "- ", Plural(o.ring_widenings, "ring widening", "ring widenings"), " (",
                  Count(frontline_widenings), " frontline, ",
                  Count(o.ring_widenings - frontline_widenings), " assembly); ",
                  Plural(o.escalations_notified, "notification", "notifications"),
                  " to centres and professional forces.\n");
  absl::StrAppend(&md, "- Incidents left short after every ring: ", Count(o.short_incidents),
                  ".\n");
  absl::StrAppend(&md, "- Alerts merged into an open incident: ", Count(r.alerts.merged),
                  "; alerts rejected: ", Count(r.alerts.rejected),
                  r.alerts.rejected == 0 ? "" : absl::StrCat(" (", RejectList(r.alerts), ")"),
                  ".\n");

  absl::StrAppend(&md, "\n## Short incidents\n\n");
  const std::vector<const IncidentOutcome*> short_incidents = ShortIncidents(r);
  if (short_incidents.empty()) {
    absl::StrAppend(&md, "None: every incident's plan was met from the units.\n");
  } else {
    absl::StrAppend(&md,
                    "| incident | opened | category | level | district | zone | first on scene | "
                    "final state |\n|--:|---|---|---|---|---|--:|---|\n");
    for (const IncidentOutcome* i : short_incidents) {
      absl::StrAppend(&md, "| ", i->id, " | ", TimeOfDay(i->opened_at), " | ",
                      CategoryName(i->category), " | ", LevelName(i->level), " | ",
                      MdCell(DistrictName(r, i->district)), " | ", MdCell(ZoneLabel(r, i->zone)),
                      " | ", Clock(i->to_first_arrival, "never"), " | ",
                      IncidentStateName(i->final_state), " |\n");
    }
  }

  const Utilisation& u = r.utilisation;
  absl::StrAppend(&md, "\n## Utilisation\n\n");
  absl::StrAppend(&md, "- Units ever assigned: ", Count(static_cast<int64_t>(u.units_assigned)),
                  " of ", Count(static_cast<int64_t>(u.unit_count)), " (",
                  Percent(u.share_assigned), ").\n");
  absl::StrAppend(&md, "- Busy unit-hours: ", absl::StrFormat("%.2f", u.busy_unit_hours),
                  " (an assignment counts from issue to its decline, expiry or release, or the "
                  "drill end).\n");
  absl::StrAppend(&md, "- Mean share of the fleet busy: ",
                  absl::StrFormat("%.2f%%", 100 * u.mean_busy_share), ".\n");
  if (!u.busiest.empty()) {
    absl::StrAppend(&md, "\n| busiest unit | name | assignments | busy |\n|--:|---|--:|--:|\n");
    for (const UnitBusy& b : u.busiest) {
      absl::StrAppend(&md, "| ", b.unit, " | ", MdCell(b.name), " | ", Count(b.assignments), " | ",
                      Clock(b.busy), " |\n");
    }
  }
  return md;
}

// ---------------------------------------------------------------------------------------------
// HTML.

namespace {

std::string Esc(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Num(double v) { return absl::StrFormat("%.1f", v); }

// The compliance colour scale: classes from red to green (ColorBrewer RdYlGn), finer towards the
// top, where a drill's districts usually differ. A share belongs to the last class it reaches.
struct ColourClass {
  double from;
  const char* colour;
  const char* label;
};
constexpr ColourClass kClasses[] = {
    {0.0, "#d73027", "< 50%"},  {0.5, "#fc8d59", "50–75%"},  {0.75, "#fee08b", "75–90%"},
    {0.9, "#d9ef8b", "90–95%"}, {0.95, "#91cf60", "95–99%"}, {0.99, "#1a9850", "≥ 99%"},
};
constexpr char kNoDataColour[] = "#e5e7eb";

std::string ScaleColour(double share) {
  const char* colour = kClasses[0].colour;
  for (const ColourClass& c : kClasses) {
    if (share >= c.from) colour = c.colour;
  }
  return colour;
}

// Dark text on light fills, white on dark ones.
std::string TextOn(const std::string& hex) {
  int r = 0, g = 0, b = 0;
  std::sscanf(hex.c_str(), "#%02x%02x%02x", &r, &g, &b);
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? "#ffffff" : "#1f2933";
}

// A "nice" step (1, 2 or 5 times a power of ten) at least `raw`.
double NiceStep(double raw) {
  if (raw <= 0) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= raw - 1e-9) return m * p;
  }
  return 10 * p;
}

constexpr char kCss[] = R"css(
:root{--ink:#1f2933;--muted:#5f6b7a;--line:#e3e7ec;--bg:#f4f6f8;--card:#ffffff;--accent:#2f6fdb;
--accent-soft:#dce8fb;--warn:#b2182b}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.55 system-ui,-apple-system,
"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
-webkit-font-smoothing:antialiased}
main{max-width:1180px;margin:0 auto;padding:36px 28px 56px}
header .eyebrow{margin:0;color:var(--accent);font-weight:600;font-size:13px;letter-spacing:.06em;
text-transform:uppercase}
h1{margin:4px 0 6px;font-size:30px;line-height:1.2;font-weight:700}
h2{margin:0 0 4px;font-size:19px;font-weight:650}
h3{margin:0 0 6px;font-size:15px;font-weight:600}
.lede{margin:0 0 6px;font-size:16px;color:#334155;max-width:860px}
.meta{margin:0;color:var(--muted);font-size:13px}
.note{color:var(--muted);font-size:13px;margin:2px 0 14px}
section{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:22px 26px;
margin-top:20px;box-shadow:0 1px 2px rgba(15,23,42,.04)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(165px,1fr));gap:12px;
margin-top:22px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px}
.card .v{font-size:28px;font-weight:700;line-height:1.15;font-variant-numeric:tabular-nums}
.card .l{color:var(--muted);font-size:13px;margin-top:2px}
.card .s{color:var(--muted);font-size:12px;margin-top:6px}
.card.bad .v{color:var(--warn)}
.grid2{display:grid;grid-template-columns:1fr 1fr;gap:26px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
figure{margin:0}
figcaption{color:var(--muted);font-size:12.5px;margin-top:4px}
svg{display:block;width:100%;height:auto}
svg text{font-family:inherit}
table{border-collapse:collapse;width:100%;font-size:13.5px;font-variant-numeric:tabular-nums}
th,td{padding:6px 9px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:12px;text-transform:none;border-bottom:2px solid
var(--line)}
th:first-child,td:first-child,.left{text-align:left}
tbody tr:hover{background:#f8fafc}
td .zh{color:var(--muted);margin-left:6px}
.chip{display:inline-block;min-width:54px;padding:1px 7px;border-radius:6px;text-align:center}
.muted{color:var(--muted)}
.facts{display:flex;flex-wrap:wrap;gap:10px 28px;margin:10px 0 0;padding:0;list-style:none}
.facts li b{font-size:18px;margin-right:4px;font-variant-numeric:tabular-nums}
.tablewrap{overflow-x:auto}
footer{color:var(--muted);font-size:12.5px;margin-top:22px;line-height:1.6}
footer p{margin:4px 0}
)css";

// A vertical histogram of `seconds` in bins of `bin_s` (a value v falls in the bin (k-1)w < v <=
// kw, so a value exactly on a ring boundary counts inside it), with one grey bar for values past
// the last bin and one for incidents that never got there.
std::string HistogramSvg(absl::string_view label, const std::vector<double>& seconds, double bin_s,
                         int bins, int never, absl::string_view never_label,
                         const std::vector<int>& marker_minutes, double tick_every_s) {
  std::vector<int> counts(bins, 0);
  int over = 0;
  for (double v : seconds) {
    const int k = std::max(0, static_cast<int>(std::ceil(v / bin_s)) - 1);
    if (k < bins) {
      ++counts[k];
    } else {
      ++over;
    }
  }
  const int extra = (over > 0 ? 1 : 0) + (never > 0 ? 1 : 0);
  int top = std::max(over, never);
  for (int c : counts) top = std::max(top, c);
  const double step = NiceStep(std::max(1.0, top / 4.0));
  const double y_max = std::max(step, std::ceil(top / step) * step);

  constexpr double kW = 560, kH = 270, kLeft = 44, kRight = 12, kTop = 22, kBottom = 42;
  const double plot_w = kW - kLeft - kRight;
  const double plot_h = kH - kTop - kBottom;
  const double slot = plot_w / (bins + extra * 1.6);
  const double x_end = kLeft + bins * slot;
  const auto y_of = [&](double c) { return kTop + plot_h - c / y_max * plot_h; };

  std::string svg = absl::StrFormat(
      "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s\" class=\"chart\">\n", kW, kH,
      Esc(label));
  // Grid and y axis.
  for (double c = 0; c <= y_max + 1e-9; c += step) {
    const double y = y_of(c);
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" stroke=\"%s\" "
                          "stroke-width=\"1\"/>\n<text x=\"%s\" y=\"%s\" font-size=\"11\" "
                          "fill=\"#5f6b7a\" text-anchor=\"end\">%s</text>\n",
                          Num(kLeft), Num(kW - kRight), Num(y), Num(y),
                          c == 0 ? "#9aa5b1" : "#edf0f3", Num(kLeft - 6), Num(y + 4),
                          absl::StrCat(static_cast<int64_t>(c)));
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"12\" y=\"%s\" font-size=\"11\" fill=\"#5f6b7a\" "
                        "transform=\"rotate(-90 12 %s)\" text-anchor=\"middle\">incidents</text>\n",
                        Num(kTop + plot_h / 2), Num(kTop + plot_h / 2));
  // Ring markers behind the bars.
  for (int m : marker_minutes) {
    if (m * 60 > bins * bin_s) continue;
    const double x = kLeft + m * 60 / bin_s * slot;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" stroke=\"#b2182b\" "
                          "stroke-width=\"1\" stroke-dasharray=\"3 3\" opacity=\"0.7\"/>\n"
                          "<text x=\"%s\" y=\"%s\" font-size=\"10.5\" fill=\"#b2182b\" "
                          "text-anchor=\"%s\">%d min</text>\n",
                          Num(x), Num(x), Num(kTop - 4), Num(kTop + plot_h), Num(x), Num(kTop - 8),
                          x > kW - kRight - 24 ? "end" : "middle", m);
  }
  // Bars.
  for (int k = 0; k < bins; ++k) {
    if (counts[k] == 0) continue;
    const double x = kLeft + k * slot;
    const double y = y_of(counts[k]);
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" rx=\"1.5\" "
                          "fill=\"#2f6fdb\"><title>%s–%s: %d</title></rect>\n",
                          Num(x + 0.6), Num(y), Num(std::max(slot - 1.2, 0.8)),
                          Num(kTop + plot_h - y), Clock(absl::Seconds(k * bin_s)),
                          Clock(absl::Seconds((k + 1) * bin_s)), counts[k]);
  }
  // x ticks.
  for (double t = 0; t <= bins * bin_s + 1e-9; t += tick_every_s) {
    const double x = kLeft + t / bin_s * slot;
    const std::string tick = tick_every_s >= 60 ? absl::StrCat(static_cast<int>(t / 60))
                                                : absl::StrCat(static_cast<int>(t));
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" stroke=\"#9aa5b1\"/>\n"
                          "<text x=\"%s\" y=\"%s\" font-size=\"11\" fill=\"#5f6b7a\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          Num(x), Num(x), Num(kTop + plot_h), Num(kTop + plot_h + 4), Num(x),
                          Num(kTop + plot_h + 16), tick);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%s\" y=\"%s\" font-size=\"11.5\" fill=\"#5f6b7a\" "
                        "text-anchor=\"middle\">%s after the incident opened</text>\n",
                        Num(kLeft + (x_end - kLeft) / 2), Num(kH - 6),
                        tick_every_s >= 60 ? "minutes" : "seconds");
  // The grey bars: later than the last bin, never.
  double x = x_end + slot * 0.6;
  const auto grey_bar = [&](int n, const std::string& text) {
    const double y = y_of(n);
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" rx=\"1.5\" "
                          "fill=\"#9aa5b1\"><title>%s: %d</title></rect>\n"
                          "<text x=\"%s\" y=\"%s\" font-size=\"10.5\" fill=\"#5f6b7a\" "
                          "text-anchor=\"middle\">%d</text>\n"
                          "<text x=\"%s\" y=\"%s\" font-size=\"10.5\" fill=\"#5f6b7a\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          Num(x), Num(y), Num(slot), Num(kTop + plot_h - y), Esc(text), n,
                          Num(x + slot / 2), Num(y - 4), n, Num(x + slot / 2),
                          Num(kTop + plot_h + 16), Esc(text));
    x += slot * 1.6;
  };
  if (over > 0) grey_bar(over, "later");
  if (never > 0) grey_bar(never, std::string(never_label));
  svg += "</svg>\n";
  return svg;
}

// Share of incidents served within each ring, as five vertical bars.
std::string RingChartSvg(const AreaStats& s) {
  constexpr double kW = 560, kH = 270, kLeft = 44, kRight = 12, kTop = 26, kBottom = 42;
  const double plot_w = kW - kLeft - kRight;
  const double plot_h = kH - kTop - kBottom;
  const double slot = plot_w / kReportRingCount;
  std::string svg =
      "<svg viewBox=\"0 0 560 270\" role=\"img\" aria-label=\"Share of incidents with a unit on "
      "scene within each ring\" class=\"chart\">\n";
  for (int pct = 0; pct <= 100; pct += 25) {
    const double y = kTop + plot_h - pct / 100.0 * plot_h;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\" stroke=\"%s\"/>\n"
                          "<text x=\"%s\" y=\"%s\" font-size=\"11\" fill=\"#5f6b7a\" "
                          "text-anchor=\"end\">%d%%</text>\n",
                          Num(kLeft), Num(kW - kRight), Num(y), Num(y),
                          pct == 0 ? "#9aa5b1" : "#edf0f3", Num(kLeft - 6), Num(y + 4), pct);
  }
  for (size_t r = 0; r < kReportRingCount; ++r) {
    const double share = s.share_within[r];
    const double bw = slot * 0.58;
    const double x = kLeft + r * slot + (slot - bw) / 2;
    const double h = share * plot_h;
    const double y = kTop + plot_h - h;
    const std::string fill = ScaleColour(share);
    absl::StrAppendFormat(
        &svg,
        "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" rx=\"3\" fill=\"%s\" "
        "stroke=\"#00000022\"><title>within %d min: %d of %d</title></rect>\n"
        "<text x=\"%s\" y=\"%s\" font-size=\"13\" font-weight=\"700\" fill=\"#1f2933\" "
        "text-anchor=\"middle\">%s</text>\n"
        "<text x=\"%s\" y=\"%s\" font-size=\"12\" fill=\"#1f2933\" text-anchor=\"middle\">≤ %d "
        "min</text>\n",
        Num(x), Num(y), Num(bw), Num(std::max(h, 0.0)), fill, kReportRingMinutes[r],
        s.served_within[r], s.incidents, Num(x + bw / 2), Num(y - 6), Percent(share),
        Num(x + bw / 2), Num(kTop + plot_h + 17), kReportRingMinutes[r]);
  }
  absl::StrAppendFormat(&svg,
                        "<text x=\"%s\" y=\"%s\" font-size=\"11.5\" fill=\"#5f6b7a\" "
                        "text-anchor=\"middle\">first unit on scene within the ring, share of "
                        "all %d incidents</text>\n</svg>\n",
                        Num(kLeft + plot_w / 2), Num(kH - 6), s.incidents);
  return svg;
}

// Horizontal bars: one row per cascade reason (declines split by the reason given).
std::string CascadeChartSvg(const CascadeCounts& c) {
  std::vector<std::pair<std::string, int>> rows;
  for (const auto& [reason, n] : c.declines_by_reason) {
    rows.emplace_back(absl::StrCat("declined: ", Spaced(DeclineReasonName(reason))), n);
  }
  for (const auto& [reason, n] : c.by_reason) {
    if (reason != CascadeReason::kDeclined) rows.emplace_back(CascadeLabel(reason), n);
  }
  constexpr double kW = 560, kLabel = 200, kRight = 48, kRow = 30, kTop = 8;
  const double h = kTop * 2 + std::max<size_t>(rows.size(), 1) * kRow;
  std::string svg = absl::StrFormat(
      "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"Cascades by reason\" "
      "class=\"chart\">\n",
      kW, h);
  if (rows.empty()) {
    absl::StrAppendFormat(&svg,
                          "<text x=\"0\" y=\"%s\" font-size=\"13\" fill=\"#5f6b7a\">No assignment "
                          "ended before its unit arrived.</text>\n",
                          Num(kTop + 18));
  }
  int top = 1;
  for (const auto& [label, n] : rows) top = std::max(top, n);
  double y = kTop;
  for (const auto& [label, n] : rows) {
    const double w = (kW - kLabel - kRight) * n / top;
    const bool decline = absl::StartsWith(label, "declined");
    absl::StrAppendFormat(&svg,
                          "<text x=\"%s\" y=\"%s\" font-size=\"12.5\" fill=\"#1f2933\" "
                          "text-anchor=\"end\">%s</text>\n"
                          "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" rx=\"3\" "
                          "fill=\"%s\"/>\n<text x=\"%s\" y=\"%s\" font-size=\"12\" "
                          "font-weight=\"600\" fill=\"#1f2933\">%s</text>\n",
                          Num(kLabel - 10), Num(y + kRow / 2 + 4), Esc(label), Num(kLabel),
                          Num(y + 5), Num(std::max(w, 1.0)), Num(kRow - 10),
                          decline ? "#ef8a62" : "#b2182b", Num(kLabel + w + 6),
                          Num(y + kRow / 2 + 4), Count(n));
    y += kRow;
  }
  svg += "</svg>\n";
  return svg;
}

// ---- The district map.

double RingArea(const Ring& ring) {
  double a = 0;
  for (size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
    a += ring[j].x * ring[i].y - ring[i].x * ring[j].y;
  }
  return a / 2;
}

double SegmentDistance(PlanePoint p, PlanePoint a, PlanePoint b) {
  const double dx = b.x - a.x, dy = b.y - a.y;
  const double len2 = dx * dx + dy * dy;
  double t = len2 == 0 ? 0 : ((p.x - a.x) * dx + (p.y - a.y) * dy) / len2;
  t = std::clamp(t, 0.0, 1.0);
  return std::hypot(p.x - (a.x + t * dx), p.y - (a.y + t * dy));
}

// A point well inside the district's largest polygon, for its label: of a grid of candidates
// inside the polygon, the one farthest from its boundary (a coarse pole of inaccessibility).
// Candidates `allowed` rejects are skipped if any other candidate remains.
PlanePoint LabelPoint(const District& d, absl::FunctionRef<bool(PlanePoint)> allowed) {
  const Polygon* largest = nullptr;
  double largest_area = -1;
  for (const Polygon& p : d.polygons) {
    if (p.rings.empty() || p.rings[0].size() < 3) continue;
    const double a = std::abs(RingArea(p.rings[0]));
    if (a > largest_area) {
      largest_area = a;
      largest = &p;
    }
  }
  PlanePoint best{(d.min_x + d.max_x) / 2, (d.min_y + d.max_y) / 2};
  if (largest == nullptr) return best;
  double min_x = largest->rings[0][0].x, max_x = min_x;
  double min_y = largest->rings[0][0].y, max_y = min_y;
  for (const PlanePoint& p : largest->rings[0]) {
    min_x = std::min(min_x, p.x);
    max_x = std::max(max_x, p.x);
    min_y = std::min(min_y, p.y);
    max_y = std::max(max_y, p.y);
  }
  constexpr int kGrid = 40;
  // [0]: best outside `avoid`; [1]: best anywhere.
  double clearance_of[2] = {-1, -1};
  PlanePoint best_of[2] = {best, best};
  for (int i = 0; i <= kGrid; ++i) {
    for (int j = 0; j <= kGrid; ++j) {
      const PlanePoint c{min_x + (max_x - min_x) * i / kGrid, min_y + (max_y - min_y) * j / kGrid};
      if (!PolygonContains(*largest, c)) continue;
      double clearance = std::numeric_limits<double>::max();
      for (const Ring& ring : largest->rings) {
        for (size_t k = 0, l = ring.size() - 1; k < ring.size(); l = k++) {
          clearance = std::min(clearance, SegmentDistance(c, ring[l], ring[k]));
        }
      }
      for (int which : {0, 1}) {
        if (which == 0 && !allowed(c)) continue;
        if (clearance > clearance_of[which]) {
          clearance_of[which] = clearance;
          best_of[which] = c;
        }
      }
    }
  }
  return clearance_of[0] >= 0 ? best_of[0] : best_of[1];
}

struct MapFrame {
  double min_x, max_y, scale, pad_x, pad_y;
  double X(double x) const { return pad_x + (x - min_x) * scale; }
  double Y(double y) const { return pad_y + (max_y - y) * scale; }
};

std::string PathData(const District& d, const MapFrame& f) {
  std::string path;
  for (const Polygon& polygon : d.polygons) {
    for (const Ring& ring : polygon.rings) {
      std::string last;
      bool first = true;
      for (const PlanePoint& p : ring) {
        const std::string xy = absl::StrCat(Num(f.X(p.x)), ",", Num(f.Y(p.y)));
        if (xy == last) continue;
        absl::StrAppend(&path, first ? "M" : "L", xy);
        last = xy;
        first = false;
      }
      if (!first) path += "Z";
    }
  }
  return path;
}

// Rough rendered width of `text` at `size` px: Latin about 0.6 em, CJK (any multi-byte UTF-8
// character) 1 em.
double TextWidth(absl::string_view text, double size) {
  double em = 0;
  for (unsigned char c : text) {
    if (c < 0x80) {
      em += 0.6;
    } else if (c >= 0xc0) {
      em += 1.0;  // the lead byte of a multi-byte character
    }
  }
  return em * size;
}

std::string MapLabel(double x, double y, absl::string_view line1, absl::string_view line2,
                     double size) {
  return absl::StrFormat(
      "<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" font-size=\"%s\" font-weight=\"650\" "
      "fill=\"#1f2933\" stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" "
      "paint-order=\"stroke\">%s</text>\n<text x=\"%s\" y=\"%s\" text-anchor=\"middle\" "
      "font-size=\"%s\" fill=\"#1f2933\" stroke=\"#ffffff\" stroke-width=\"3\" "
      "stroke-linejoin=\"round\" paint-order=\"stroke\">%s</text>\n",
      Num(x), Num(y - 2), Num(size), Esc(line1), Num(x), Num(y + size), Num(size - 1), Esc(line2));
}

std::string MapSvg(const DrillReport& report, const CityData& city) {
  if (city.map == nullptr || city.map->districts().empty()) return "";
  const std::vector<District>& districts = city.map->districts();
  double min_x = districts[0].min_x, max_x = districts[0].max_x;
  double min_y = districts[0].min_y, max_y = districts[0].max_y;
  for (const District& d : districts) {
    min_x = std::min(min_x, d.min_x);
    max_x = std::max(max_x, d.max_x);
    min_y = std::min(min_y, d.min_y);
    max_y = std::max(max_y, d.max_y);
  }
  // The city, north up, aspect kept, inside a box of kMapW x kMapH; a side panel holds the legend
  // and an enlarged inset of the small central districts.
  constexpr double kMapW = 640, kMapH = 800, kPad = 14, kPanelW = 340, kGap = 24;
  const double dx = std::max(max_x - min_x, 1.0), dy = std::max(max_y - min_y, 1.0);
  const double scale = std::min((kMapW - 2 * kPad) / dx, (kMapH - 2 * kPad) / dy);
  const MapFrame frame{min_x, max_y, scale, kPad + ((kMapW - 2 * kPad) - dx * scale) / 2,
                       kPad + ((kMapH - 2 * kPad) - dy * scale) / 2};
  const double panel_x = kMapW + kGap;
  const double total_w = panel_x + kPanelW;

  // Districts too small for a label on the main map go in the inset.
  std::vector<const District*> small;
  for (const District& d : districts) {
    if ((d.max_x - d.min_x) * scale < 90 || (d.max_y - d.min_y) * scale < 40) small.push_back(&d);
  }

  const auto stats_of = [&](DistrictCode code) -> const AreaStats* {
    const DistrictReport* d = FindDistrict(report, code);
    return d == nullptr ? nullptr : &d->stats;
  };
  const auto fill_of = [&](const AreaStats* s) {
    return s == nullptr || s->incidents == 0 ? std::string(kNoDataColour)
                                             : ScaleColour(s->share_within[kFiveMinuteRing]);
  };
  const auto figure_of = [&](const AreaStats* s) {
    if (s == nullptr || s->incidents == 0) return std::string("no incidents");
    return absl::StrCat(Percent(s->share_within[kFiveMinuteRing]), " · n=", s->incidents);
  };

  std::string svg = absl::StrFormat(
      "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"District map shaded by the share "
      "of incidents with a unit on scene within 5 minutes\" class=\"map\">\n<defs>\n",
      total_w, kMapH);

  // Inset geometry (in main-map coordinates).
  double ix0 = 0, iy0 = 0, ix1 = 0, iy1 = 0, inset_scale = 1;
  constexpr double kInsetTop = 150, kInsetW = kPanelW, kInsetH = 460;
  if (!small.empty()) {
    ix0 = iy0 = std::numeric_limits<double>::max();
    ix1 = iy1 = std::numeric_limits<double>::lowest();
    for (const District* d : small) {
      ix0 = std::min(ix0, frame.X(d->min_x));
      ix1 = std::max(ix1, frame.X(d->max_x));
      iy0 = std::min(iy0, frame.Y(d->max_y));
      iy1 = std::max(iy1, frame.Y(d->min_y));
    }
    const double m = 0.06 * std::max(ix1 - ix0, iy1 - iy0);
    ix0 -= m;
    iy0 -= m;
    ix1 += m;
    iy1 += m;
    inset_scale = std::min(kInsetW / (ix1 - ix0), kInsetH / (iy1 - iy0));
    absl::StrAppendFormat(&svg,
                          "<clipPath id=\"gz-inset-clip\"><rect x=\"%s\" y=\"%s\" width=\"%s\" "
                          "height=\"%s\" rx=\"8\"/></clipPath>\n",
                          Num(panel_x), Num(kInsetTop), Num(kInsetW), Num(kInsetH));
  }
  svg += "</defs>\n";

  // The districts, drawn once; the inset reuses them.
  svg += "<g id=\"gz-districts\">\n";
  for (const District& d : districts) {
    const AreaStats* s = stats_of(d.code);
    absl::StrAppendFormat(&svg,
                          "<path class=\"district\" d=\"%s\" fill=\"%s\" fill-rule=\"evenodd\" "
                          "stroke=\"#ffffff\" stroke-width=\"1.3\" stroke-linejoin=\"round\" "
                          "vector-effect=\"non-scaling-stroke\"><title>%s %s: %s</title></path>\n",
                          PathData(d, frame), fill_of(s), Esc(d.name_en), Esc(d.name_zh),
                          Esc(figure_of(s)));
  }
  svg += "</g>\n";

  const auto is_small = [&](const District& d) {
    return std::find(small.begin(), small.end(), &d) != small.end();
  };
  // Labels, most constrained (smallest) district first, each inside `bounds` and clear of the
  // rectangles in `taken` and of the labels already placed (all in SVG pixels).
  struct Rect {
    double x0, y0, x1, y1;
    bool Overlaps(const Rect& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
    bool Inside(const Rect& o) const {
      return x0 >= o.x0 && x1 <= o.x1 && y0 >= o.y0 && y1 <= o.y1;
    }
  };
  const auto place_labels = [&](std::vector<const District*> order, auto to_svg, const Rect& bounds,
                                std::vector<Rect> taken, double size) {
    std::sort(order.begin(), order.end(), [](const District* a, const District* b) {
      return (a->max_x - a->min_x) * (a->max_y - a->min_y) <
             (b->max_x - b->min_x) * (b->max_y - b->min_y);
    });
    for (const District* d : order) {
      const std::string line1 = absl::StrCat(d->name_en, " ", d->name_zh);
      const std::string line2 = figure_of(stats_of(d->code));
      const double half_w = std::max(TextWidth(line1, size), TextWidth(line2, size - 1)) / 2 + 8;
      const auto rect_at = [&](PlanePoint c) {
        const auto [x, y] = to_svg(c);
        return Rect{x - half_w, y - size - 2, x + half_w, y + size + 4};
      };
      const PlanePoint p = LabelPoint(*d, [&](PlanePoint c) {
        const Rect r = rect_at(c);
        if (!r.Inside(bounds)) return false;
        for (const Rect& t : taken) {
          if (r.Overlaps(t)) return false;
        }
        return true;
      });
      taken.push_back(rect_at(p));
      const auto [x, y] = to_svg(p);
      svg += MapLabel(x, y, line1, line2, size);
    }
  };
  std::vector<const District*> large;
  for (const District& d : districts) {
    if (!is_small(d)) large.push_back(&d);
  }
  std::vector<Rect> inset_frame;
  if (!small.empty()) inset_frame.push_back(Rect{ix0, iy0, ix1, iy1});
  place_labels(
      large, [&](PlanePoint c) { return std::make_pair(frame.X(c.x), frame.Y(c.y)); },
      Rect{0, 0, kMapW, kMapH}, inset_frame, 12.5);

  // Legend: one swatch per class, worst first, then "no incidents".
  absl::StrAppendFormat(&svg,
                        "<text x=\"%s\" y=\"20\" font-size=\"13\" font-weight=\"650\" "
                        "fill=\"#1f2933\">First unit on scene within 5 min</text>\n",
                        Num(panel_x));
  const double swatch = (kPanelW - 4) / std::size(kClasses);
  for (size_t i = 0; i < std::size(kClasses); ++i) {
    const double x = panel_x + i * swatch;
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%s\" y=\"30\" width=\"%s\" height=\"16\" fill=\"%s\"/>"
                          "<text x=\"%s\" y=\"60\" font-size=\"11\" fill=\"#5f6b7a\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          Num(x), Num(swatch - 2), kClasses[i].colour, Num(x + swatch / 2 - 1),
                          Esc(kClasses[i].label));
  }
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%s\" y=\"72\" width=\"14\" height=\"14\" rx=\"3\" "
                        "fill=\"%s\" stroke=\"#cbd2d9\"/><text x=\"%s\" y=\"83\" "
                        "font-size=\"11.5\" fill=\"#5f6b7a\">no incidents in the district</text>\n"
                        "<text x=\"%s\" y=\"104\" font-size=\"11.5\" fill=\"#5f6b7a\">Labels: "
                        "share within 5 min · incidents (n)</text>\n",
                        Num(panel_x), kNoDataColour, Num(panel_x + 20), Num(panel_x));

  if (!small.empty()) {
    // The inset frame on the main map, then the enlarged copy with its own labels.
    absl::StrAppendFormat(&svg,
                          "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" fill=\"none\" "
                          "stroke=\"#1f2933\" stroke-width=\"1\" stroke-dasharray=\"4 3\"/>\n",
                          Num(ix0), Num(iy0), Num(ix1 - ix0), Num(iy1 - iy0));
    const double ox = panel_x + (kInsetW - (ix1 - ix0) * inset_scale) / 2;
    const double oy = kInsetTop + (kInsetH - (iy1 - iy0) * inset_scale) / 2;
    absl::StrAppendFormat(&svg,
                          "<text x=\"%s\" y=\"%s\" font-size=\"13\" font-weight=\"650\" "
                          "fill=\"#1f2933\">Central districts (enlarged)</text>\n"
                          "<rect x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\" rx=\"8\" "
                          "fill=\"#f8fafc\" stroke=\"#cbd2d9\"/>\n"
                          "<g clip-path=\"url(#gz-inset-clip)\"><use href=\"#gz-districts\" "
                          "transform=\"translate(%s %s) scale(%s) translate(%s %s)\"/></g>\n",
                          Num(panel_x), Num(kInsetTop - 10), Num(panel_x), Num(kInsetTop),
                          Num(kInsetW), Num(kInsetH), Num(ox), Num(oy),
                          absl::StrFormat("%.4f", inset_scale), Num(-ix0), Num(-iy0));
    place_labels(
        small,
        [&](PlanePoint c) {
          return std::make_pair(ox + (frame.X(c.x) - ix0) * inset_scale,
                                oy + (frame.Y(c.y) - iy0) * inset_scale);
        },
        Rect{panel_x, kInsetTop, panel_x + kInsetW, kInsetTop + kInsetH}, {}, 11.5);
  }
  // A scale bar: 10 km.
  const double bar = 10000 * scale;
  absl::StrAppendFormat(&svg,
                        "<g stroke=\"#1f2933\" stroke-width=\"1.5\"><line x1=\"%s\" x2=\"%s\" "
                        "y1=\"%s\" y2=\"%s\"/><line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\"/>"
                        "<line x1=\"%s\" x2=\"%s\" y1=\"%s\" y2=\"%s\"/></g>\n<text x=\"%s\" "
                        "y=\"%s\" font-size=\"11\" fill=\"#1f2933\">10 km · north up</text>\n",
                        Num(kPad), Num(kPad + bar), Num(kMapH - kPad), Num(kMapH - kPad), Num(kPad),
                        Num(kPad), Num(kMapH - kPad - 5), Num(kMapH - kPad), Num(kPad + bar),
                        Num(kPad + bar), Num(kMapH - kPad - 5), Num(kMapH - kPad), Num(kPad),
                        Num(kMapH - kPad - 9));
  svg += "</svg>\n";
  return svg;
}

std::string Card(absl::string_view value, absl::string_view label, absl::string_view sub,
                 bool bad = false) {
  return absl::StrCat("<div class=\"card", bad ? " bad" : "", "\"><div class=\"v\">", Esc(value),
                      "</div><div class=\"l\">", Esc(label), "</div>",
                      sub.empty() ? "" : absl::StrCat("<div class=\"s\">", Esc(sub), "</div>"),
                      "</div>\n");
}

std::string ShareCell(const AreaStats& s, size_t ring) {
  if (s.incidents == 0) return "<td class=\"muted\">–</td>";
  const std::string fill = ScaleColour(s.share_within[ring]);
  return absl::StrCat("<td><span class=\"chip\" style=\"background:", fill, ";color:", TextOn(fill),
                      "\">", Percent(s.share_within[ring]), "</span></td>");
}

std::string PlainShareCell(const AreaStats& s, size_t ring) {
  return s.incidents == 0 ? "<td class=\"muted\">–</td>"
                          : absl::StrCat("<td>", Percent(s.share_within[ring]), "</td>");
}

}  // namespace

std::string RenderHtml(const DrillReport& r, const CityData& city) {
  const AreaStats& o = r.overall;
  std::string h;
  const std::string title =
      absl::StrCat("Drill report: ", r.scenario_name.empty() ? "drill" : r.scenario_name);
  absl::StrAppend(&h,
                  "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                  "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                  "<title>",
                  Esc(title), "</title>\n<style>", kCss, "</style>\n</head>\n<body>\n<main>\n");

  // Header and headline.
  absl::StrAppend(&h,
                  "<header>\n<p class=\"eyebrow\">Drill report · response rings 1 · 3 · 5 / 10 / "
                  "20 min</p>\n<h1>",
                  Esc(r.scenario_name.empty() ? "Drill" : r.scenario_name), "</h1>\n");
  if (!r.scenario_description.empty()) {
    absl::StrAppend(&h, "<p class=\"lede\">", Esc(r.scenario_description), "</p>\n");
  }
  absl::StrAppend(&h, "<p class=\"meta\">", Esc(SpeedLine(r)), ".</p>\n</header>\n");

  const int never = o.incidents - o.served;
  const std::vector<const IncidentOutcome*> short_incidents = ShortIncidents(r);
  absl::StrAppend(&h, "<div class=\"cards\">\n");
  absl::StrAppend(&h, Card(Count(o.incidents), "incidents",
                           absl::StrCat(Count(r.alerts.accepted + r.alerts.rejected), " alerts · ",
                                        Count(r.alerts.merged), " merged · ",
                                        Count(r.alerts.rejected), " rejected")));
  absl::StrAppend(&h, Card(Percent(o.share_within[kFiveMinuteRing]), "on scene within 5 min",
                           absl::StrCat(Count(o.served_within[kFiveMinuteRing]), " of ",
                                        Count(o.incidents), " incidents")));
  absl::StrAppend(&h, Card(P50(o.to_first_arrival), "median to first unit on scene",
                           absl::StrCat("p90 ", P90(o.to_first_arrival))));
  absl::StrAppend(&h, Card(P50(o.to_first_ack), "median to first acknowledgement",
                           absl::StrCat("p90 ", P90(o.to_first_ack))));
  absl::StrAppend(&h, Card(P50(o.to_assembled), "median to headcount assembled",
                           absl::StrCat(Count(static_cast<int64_t>(o.to_assembled.count)),
                                        " incidents assembled")));
  absl::StrAppend(&h, Card(Count(o.short_incidents),
                           o.short_incidents == 1 ? "incident left short" : "incidents left short",
                           absl::StrCat(Count(never), " never reached"), o.short_incidents > 0));
  absl::StrAppend(&h, "</div>\n");

  // Rings and times.
  absl::StrAppend(&h,
                  "<section>\n<h2>Against the response rings</h2>\n<p class=\"note\">An "
                  "incident is served within a ring when its first unit arrived at most that "
                  "long after it opened; incidents nobody reached count as not served.</p>\n"
                  "<div class=\"grid2\">\n<figure>",
                  RingChartSvg(o), "</figure>\n<div>\n<h3>Times from opening</h3>\n",
                  "<table>\n<thead><tr><th>to</th><th>incidents</th><th>p50</th><th>p90</th>"
                  "<th>max</th></tr></thead>\n<tbody>\n");
  const std::pair<absl::string_view, const TimeStats*> times[] = {
      {"first acknowledgement", &o.to_first_ack},
      {"first unit on scene", &o.to_first_arrival},
      {"headcount assembled", &o.to_assembled},
  };
  for (const auto& [what, t] : times) {
    absl::StrAppend(&h, "<tr><td>", what, "</td><td>", Count(static_cast<int64_t>(t->count)),
                    "</td><td>", P50(*t), "</td><td>", P90(*t), "</td><td>", Max(*t),
                    "</td></tr>\n");
  }
  absl::StrAppend(&h,
                  "</tbody>\n</table>\n<table style=\"margin-top:14px\">\n<thead><tr>"
                  "<th>ring</th>");
  for (int m : kReportRingMinutes) absl::StrAppend(&h, "<th>≤", m, " min</th>");
  absl::StrAppend(&h, "</tr></thead>\n<tbody><tr><td>incidents served</td>");
  for (size_t i = 0; i < kReportRingCount; ++i) {
    absl::StrAppend(&h, "<td>", Count(o.served_within[i]), "</td>");
  }
  absl::StrAppend(&h, "</tr><tr><td>share</td>");
  for (size_t i = 0; i < kReportRingCount; ++i) absl::StrAppend(&h, ShareCell(o, i));
  absl::StrAppend(&h,
                  "</tr></tbody>\n</table>\n<p class=\"note\">Percentiles are nearest-rank (the "
                  "value of rank ⌈p·n/100⌉ among the n incidents that got that far), so each "
                  "is a time that really occurred.</p>\n</div>\n</div>\n</section>\n");

  // Histograms.
  std::vector<double> arrival_s, ack_s;
  int never_acked = 0;
  for (const IncidentOutcome& i : r.incidents) {
    if (i.to_first_arrival) arrival_s.push_back(absl::ToDoubleSeconds(*i.to_first_arrival));
    if (i.to_first_ack) {
      ack_s.push_back(absl::ToDoubleSeconds(*i.to_first_ack));
    } else {
      ++never_acked;
    }
  }
  // Acknowledgements: bins of a nice width covering (almost) all of them.
  std::vector<double> sorted_ack = ack_s;
  std::sort(sorted_ack.begin(), sorted_ack.end());
  double ack_span = 60;
  if (!sorted_ack.empty()) {
    const size_t k = std::min(sorted_ack.size() - 1, (sorted_ack.size() * 98 + 99) / 100 - 1);
    ack_span = std::max(ack_span, sorted_ack[k]);
  }
  double ack_bin = 5;
  for (double w : {5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0}) {
    ack_bin = w;
    if (ack_span / w <= 36) break;
  }
  const int ack_bins = static_cast<int>(std::ceil(ack_span / ack_bin));
  double ack_tick = ack_bin;
  while (ack_bins * ack_bin / ack_tick > 8) ack_tick *= 2;
  if (ack_bins * ack_bin > 300) ack_tick = std::max(60.0, std::round(ack_tick / 60) * 60);
  absl::StrAppend(
      &h,
      "<section>\n<h2>How long it took</h2>\n<p class=\"note\">Each incident counted once, by "
      "its first unit; dashed lines mark the rings. Grey bars: later than the chart, or "
      "never.</p>\n<div class=\"grid2\">\n<figure><h3>Time to first unit on scene</h3>",
      HistogramSvg("Histogram of the time to first unit on scene", arrival_s, 30, 40, never,
                   "never", {1, 3, 5, 10, 20}, 120),
      "<figcaption>30-second bins up to 20 minutes.</figcaption></figure>\n"
      "<figure><h3>Time to first acknowledgement</h3>",
      HistogramSvg("Histogram of the time to first acknowledgement", ack_s, ack_bin, ack_bins,
                   never_acked, "never", {1, 3, 5}, ack_tick),
      "<figcaption>",
      ack_bin < 60 ? absl::StrCat(ack_bin, "-second bins.")
                   : absl::StrCat(ack_bin / 60, "-minute bins."),
      "</figcaption></figure>\n</div>\n</section>\n");

  // Map and districts.
  absl::StrAppend(&h,
                  "<section>\n<h2>Districts</h2>\n<p class=\"note\">Each district shaded by the "
                  "share of its incidents with a unit on scene within 5 minutes.</p>\n",
                  MapSvg(r, city),
                  "<div class=\"tablewrap\" style=\"margin-top:18px\">\n<table>\n<thead><tr>"
                  "<th>district</th><th>incidents</th><th>served</th>");
  for (int m : kReportRingMinutes) absl::StrAppend(&h, "<th>≤", m, " min</th>");
  absl::StrAppend(&h,
                  "<th>p50 ack</th><th>p50 on scene</th><th>p90 on scene</th><th>cascades</th>"
                  "<th>short</th></tr></thead>\n<tbody>\n");
  for (const DistrictReport& d : r.districts) {
    const AreaStats& s = d.stats;
    absl::StrAppend(&h, "<tr><td>", Esc(d.name_en), "<span class=\"zh\">", Esc(d.name_zh),
                    "</span></td><td>", Count(s.incidents), "</td><td>", Count(s.served), "</td>");
    for (size_t i = 0; i < kReportRingCount; ++i) {
      absl::StrAppend(&h, i == kFiveMinuteRing ? ShareCell(s, i) : PlainShareCell(s, i));
    }
    absl::StrAppend(&h, "<td>", P50(s.to_first_ack), "</td><td>", P50(s.to_first_arrival),
                    "</td><td>", P90(s.to_first_arrival), "</td><td>", Count(s.cascades.total),
                    "</td><td>", Count(s.short_incidents), "</td></tr>\n");
  }
  absl::StrAppend(&h, "</tbody>\n</table>\n</div>\n</section>\n");

  // Worst zones.
  absl::StrAppend(&h,
                  "<section>\n<h2>Worst zones by 5-minute share</h2>\n<p class=\"note\">Street "
                  "zones with at least 5 incidents, worst first (zones are synthetic: each "
                  "stands for the street or town named).</p>\n");
  const std::vector<const ZoneReport*> worst = WorstZones(r, 5, 10);
  if (worst.empty()) {
    absl::StrAppend(&h, "<p>No zone had 5 or more incidents.</p>\n");
  } else {
    absl::StrAppend(&h,
                    "<div class=\"tablewrap\"><table>\n<thead><tr><th>zone</th><th "
                    "class=\"left\">district</th><th>incidents</th><th>≤5 min</th><th>≤10 "
                    "min</th><th>p50 on scene</th><th>p90 on scene</th><th>cascades</th>"
                    "<th>short</th></tr></thead>\n<tbody>\n");
    for (const ZoneReport* z : worst) {
      const AreaStats& s = z->stats;
      absl::StrAppend(&h, "<tr><td>", z->id, "<span class=\"zh\">", Esc(z->name_zh),
                      "</span></td><td class=\"left\">", Esc(z->district_name_en), "</td><td>",
                      Count(s.incidents), "</td>", ShareCell(s, kFiveMinuteRing),
                      PlainShareCell(s, kFiveMinuteRing + 1), "<td>", P50(s.to_first_arrival),
                      "</td><td>", P90(s.to_first_arrival), "</td><td>", Count(s.cascades.total),
                      "</td><td>", Count(s.short_incidents), "</td></tr>\n");
    }
    absl::StrAppend(&h, "</tbody>\n</table></div>\n");
  }
  absl::StrAppend(&h, "</section>\n");

  // Cascades.
  int frontline_widenings = 0;
  for (const IncidentOutcome& i : r.incidents) frontline_widenings += i.frontline_widenings;
  absl::StrAppend(&h,
                  "<section>\n<h2>Cascades</h2>\n<p class=\"note\">Assignments that ended "
                  "before the unit arrived, so that the next candidate was offered.</p>\n"
                  "<div class=\"grid2\">\n<figure>",
                  CascadeChartSvg(o.cascades), "</figure>\n<div>\n<ul class=\"facts\">\n");
  const std::pair<std::string, std::string> facts[] = {
      {Count(o.assignments), "assignments issued"},
      {Count(o.cascades.total), "cascades"},
      {Count(o.ring_widenings),
       absl::StrCat("ring widenings (", Count(frontline_widenings), " frontline)")},
      {Count(o.escalations_notified), "notifications to centres and forces"},
      {Count(o.short_incidents), o.short_incidents == 1 ? "incident short after every ring"
                                                        : "incidents short after every ring"},
      {Count(r.alerts.merged), "alerts merged"},
      {Count(r.alerts.rejected), "alerts rejected"},
  };
  for (const auto& [value, what] : facts) {
    absl::StrAppend(&h, "<li><b>", value, "</b>", Esc(what), "</li>\n");
  }
  absl::StrAppend(&h, "</ul>\n");
  if (!r.alerts.rejected_by_reason.empty()) {
    absl::StrAppend(&h, "<p class=\"note\" style=\"margin-top:12px\">Rejected alerts: ",
                    Esc(RejectList(r.alerts)), ".</p>\n");
  }
  absl::StrAppend(&h, "</div>\n</div>\n</section>\n");

  // Short incidents.
  absl::StrAppend(&h, "<section>\n<h2>Incidents left short</h2>\n");
  if (short_incidents.empty()) {
    absl::StrAppend(&h, "<p>None: every incident's plan was met from the units.</p>\n");
  } else {
    constexpr size_t kMaxRows = 100;
    absl::StrAppend(&h,
                    "<p class=\"note\">Every ring was exhausted with the plan unmet; "
                    "professional forces were notified.</p>\n<div class=\"tablewrap\"><table>\n"
                    "<thead><tr><th>incident</th><th class=\"left\">opened</th><th "
                    "class=\"left\">category</th><th class=\"left\">level</th><th "
                    "class=\"left\">district</th><th class=\"left\">zone</th><th>first on "
                    "scene</th><th>assignments</th><th class=\"left\">final state</th></tr>"
                    "</thead>\n<tbody>\n");
    for (size_t k = 0; k < short_incidents.size() && k < kMaxRows; ++k) {
      const IncidentOutcome* i = short_incidents[k];
      absl::StrAppend(&h, "<tr><td>", i->id, "</td><td class=\"left\">", TimeOfDay(i->opened_at),
                      "</td><td class=\"left\">", Esc(Spaced(CategoryName(i->category))),
                      "</td><td class=\"left\">", Esc(LevelName(i->level)),
                      "</td><td class=\"left\">", Esc(DistrictName(r, i->district)),
                      "</td><td class=\"left\">", Esc(ZoneLabel(r, i->zone)), "</td><td>",
                      Clock(i->to_first_arrival, "never"), "</td><td>", i->assignments,
                      "</td><td class=\"left\">", Esc(Spaced(IncidentStateName(i->final_state))),
                      "</td></tr>\n");
    }
    absl::StrAppend(&h, "</tbody>\n</table></div>\n");
    if (short_incidents.size() > kMaxRows) {
      absl::StrAppend(&h, "<p class=\"note\">… and ", short_incidents.size() - kMaxRows,
                      " more.</p>\n");
    }
  }
  absl::StrAppend(&h, "</section>\n");

  // Utilisation.
  const Utilisation& u = r.utilisation;
  absl::StrAppend(&h,
                  "<section>\n<h2>Unit utilisation</h2>\n<div class=\"cards\" "
                  "style=\"margin-top:10px\">\n");
  absl::StrAppend(&h, Card(Percent(u.share_assigned), "of units ever assigned",
                           absl::StrCat(Count(static_cast<int64_t>(u.units_assigned)), " of ",
                                        Count(static_cast<int64_t>(u.unit_count)))));
  absl::StrAppend(&h, Card(absl::StrFormat("%.1f", u.busy_unit_hours), "busy unit-hours",
                           "issue to decline, expiry, release or drill end"));
  absl::StrAppend(&h, Card(absl::StrFormat("%.2f%%", 100 * u.mean_busy_share),
                           "mean share of the fleet busy", "over the whole drill"));
  absl::StrAppend(&h, "</div>\n");
  if (!u.busiest.empty()) {
    absl::StrAppend(&h,
                    "<h3 style=\"margin-top:16px\">Busiest units</h3>\n<div "
                    "class=\"tablewrap\"><table>\n<thead><tr><th>unit</th><th "
                    "class=\"left\">name</th><th>assignments</th><th>busy</th></tr></thead>\n"
                    "<tbody>\n");
    for (const UnitBusy& b : u.busiest) {
      absl::StrAppend(&h, "<tr><td>", b.unit, "</td><td class=\"left\">", Esc(b.name), "</td><td>",
                      Count(b.assignments), "</td><td>", Clock(b.busy), "</td></tr>\n");
    }
    absl::StrAppend(&h, "</tbody>\n</table></div>\n");
  }
  absl::StrAppend(&h, "</section>\n");

  absl::StrAppend(
      &h,
      "<footer>\n<p>Computed from the drill's event stream alone. Times run from the moment "
      "the incident opened. A cascade is an assignment that ended before its unit arrived "
      "(declined, not acknowledged in time, not on scene in time, or released early). A unit "
      "is busy from the moment it is assigned until its assignment ends.</p>\n<p>Unit set and "
      "street zones are synthetic.</p>\n</footer>\n</main>\n</body>\n</html>\n");
  return h;
}

}  // namespace gz
