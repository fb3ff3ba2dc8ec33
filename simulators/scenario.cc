#include "simulators/scenario.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "engine/config/text_proto.h"
#include "simulators/scenario.pb.h"

namespace gz::sim {
namespace {

namespace pb = ::gz::sim::v1;

constexpr absl::Duration kMaxDuration = absl::Hours(24 * 7);
constexpr double kMaxAlertsPerHour = 100000;
constexpr double kMaxRateMultiplier = 100;
constexpr double kMaxJitterM = 5000;

absl::Status Invalid(const std::string& key, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
}

// The same error with the file name in front.
absl::Status InFile(const std::string& source_name, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(source_name, ": ", status.message()));
}

bool IsShare(double x) { return std::isfinite(x) && x >= 0 && x <= 1; }

std::string Quoted(absl::string_view s) { return absl::StrCat("'", s, "'"); }

// A district by code ("440106"), Chinese name with or without 区 ("天河区", "天河") or English name
// in any case ("Tianhe").
std::optional<DistrictCode> ResolveDistrict(absl::string_view name, const DistrictMap& map) {
  name = absl::StripAsciiWhitespace(name);
  if (name.empty()) return std::nullopt;
  DistrictCode code = 0;
  if (absl::SimpleAtoi(name, &code)) {
    if (map.FindDistrict(code) == nullptr) return std::nullopt;
    return code;
  }
  for (const District& d : map.districts()) {
    absl::string_view zh = d.name_zh;
    if (name == zh || absl::EqualsIgnoreCase(name, d.name_en)) return d.code;
    if (absl::ConsumeSuffix(&zh, "区") && name == zh) return d.code;
  }
  return std::nullopt;
}

std::string KnownDistricts(const DistrictMap& map) {
  std::vector<std::string> names;
  for (const District& d : map.districts()) names.push_back(d.name_en);
  return absl::StrJoin(names, ", ");
}

// "2026-07-15 08:00" or "2026-07-15 08:00:30", local Guangzhou time.
std::optional<absl::Time> ParseLocalDateTime(absl::string_view text) {
  const std::string s(absl::StripAsciiWhitespace(text));
  absl::Time t;
  std::string error;
  if (absl::ParseTime("%Y-%m-%d %H:%M:%S", s, GuangzhouTime(), &t, &error)) return t;
  if (absl::ParseTime("%Y-%m-%d %H:%M", s, GuangzhouTime(), &t, &error)) return t;
  return std::nullopt;
}

// "18:00" as minutes after midnight; "24:00" is 1440.
std::optional<int> ParseClock(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  int hours = 0;
  int minutes = 0;
  if (!absl::ascii_isdigit(text[0]) || !absl::ascii_isdigit(text[1]) ||
      !absl::ascii_isdigit(text[3]) || !absl::ascii_isdigit(text[4]) ||
      !absl::SimpleAtoi(text.substr(0, 2), &hours) ||
      !absl::SimpleAtoi(text.substr(3, 2), &minutes)) {
    return std::nullopt;
  }
  if (minutes > 59 || hours > 24 || (hours == 24 && minutes != 0)) return std::nullopt;
  return hours * 60 + minutes;
}

// A surge boundary: a full local date-time, or a clock time meaning its first occurrence at or
// after `after` (strictly after it when `strictly`).
std::optional<absl::Time> ParseSurgeTime(absl::string_view text, absl::Time after, bool strictly) {
  if (std::optional<absl::Time> t = ParseLocalDateTime(text)) return t;
  const std::optional<int> clock = ParseClock(text);
  if (!clock) return std::nullopt;
  const absl::CivilDay day = absl::ToCivilDay(after, GuangzhouTime());
  absl::Time t = absl::FromCivil(day, GuangzhouTime()) + absl::Minutes(*clock);
  while (t < after || (strictly && t == after)) t += absl::Hours(24);
  return t;
}

absl::StatusOr<std::vector<DistrictCode>> ResolveSurgeDistricts(const pb::Surge& s,
                                                                const std::string& key,
                                                                const DistrictMap& map) {
  std::vector<DistrictCode> codes;
  std::set<DistrictCode> seen;
  for (int j = 0; j < s.district_size(); ++j) {
    const std::optional<DistrictCode> code = ResolveDistrict(s.district(j), map);
    const std::string where = absl::StrCat(key, ".district[", j, "]");
    if (!code) {
      return Invalid(where, absl::StrCat(Quoted(s.district(j)), " is not a district (",
                                         KnownDistricts(map), ", in Chinese or by code)"));
    }
    if (!seen.insert(*code).second) {
      return Invalid(where, absl::StrCat(Quoted(s.district(j)), " is listed twice"));
    }
    codes.push_back(*code);
  }
  return codes;
}

// Everything but the file name in front of errors.
absl::StatusOr<Scenario> Convert(const pb::Scenario& file, const std::string& default_name,
                                 const CityData& city) {
  Scenario s;
  s.name = file.has_name() ? file.name() : default_name;
  if (file.has_description()) s.description = file.description();
  if (file.has_start()) {
    const std::optional<absl::Time> start = ParseLocalDateTime(file.start());
    if (!start) {
      return Invalid("start", absl::StrCat(Quoted(file.start()),
                                           " is not a local date-time like 2026-07-15 08:00"));
    }
    s.start = *start;
  }
  if (file.has_duration_minutes()) s.duration = absl::Minutes(file.duration_minutes());
  if (file.has_seed()) s.seed = file.seed();
  if (file.has_base_alerts_per_hour()) s.base_alerts_per_hour = file.base_alerts_per_hour();

  if (file.hourly_curve_size() > 0) {
    if (file.hourly_curve_size() != 24) {
      return Invalid("hourly_curve", absl::StrCat("has ", file.hourly_curve_size(),
                                                  " values; needs 24, one per hour"));
    }
    double sum = 0;
    for (int h = 0; h < 24; ++h) {
      s.hourly_curve[h] = file.hourly_curve(h);
      sum += s.hourly_curve[h];
    }
    // Normalise to mean 1; Validate() reports a negative value or a zero sum.
    if (std::isfinite(sum) && sum > 0) {
      for (double& m : s.hourly_curve) m = m * 24 / sum;
    }
  }

  for (int i = 0; i < file.district_weight_size(); ++i) {
    const pb::DistrictWeight& w = file.district_weight(i);
    const std::string key = absl::StrCat("district_weight[", i, "]");
    const std::optional<DistrictCode> code = ResolveDistrict(w.district(), *city.map);
    if (!code) {
      return Invalid(absl::StrCat(key, ".district"),
                     absl::StrCat(Quoted(w.district()), " is not a district (",
                                  KnownDistricts(*city.map), ", in Chinese or by code)"));
    }
    s.district_weights.push_back({*code, w.weight()});
  }

  for (int i = 0; i < file.surge_size(); ++i) {
    const pb::Surge& p = file.surge(i);
    const std::string key = absl::StrCat("surge[", i, "]");
    Surge surge;
    surge.name = p.has_name() ? p.name() : absl::StrCat("surge ", i + 1);
    absl::StatusOr<std::vector<DistrictCode>> districts = ResolveSurgeDistricts(p, key, *city.map);
    if (!districts.ok()) return districts.status();
    surge.districts = *std::move(districts);
    surge.start = s.start;
    if (p.has_start()) {
      const std::optional<absl::Time> t = ParseSurgeTime(p.start(), s.start, false);
      if (!t) {
        return Invalid(
            absl::StrCat(key, ".start"),
            absl::StrCat(Quoted(p.start()), " is not a local time like 18:00 or 2026-07-15 18:00"));
      }
      surge.start = *t;
    }
    surge.end = s.end();
    if (p.has_end()) {
      const std::optional<absl::Time> t = ParseSurgeTime(p.end(), surge.start, true);
      if (!t) {
        return Invalid(
            absl::StrCat(key, ".end"),
            absl::StrCat(Quoted(p.end()), " is not a local time like 24:00 or 2026-07-15 23:30"));
      }
      surge.end = *t;
    }
    if (p.has_rate_multiplier()) surge.rate_multiplier = p.rate_multiplier();
    s.surges.push_back(std::move(surge));
  }

  if (file.category_mix_size() > 0) {
    s.category_weights.fill(0);
    std::set<Category> seen;
    for (int i = 0; i < file.category_mix_size(); ++i) {
      const pb::CategoryWeight& w = file.category_mix(i);
      const std::string key = absl::StrCat("category_mix[", i, "]");
      const std::optional<Category> category = ParseCategory(w.category());
      if (!category || *category == Category::kUnspecified) {
        return Invalid(absl::StrCat(key, ".category"),
                       absl::StrCat(Quoted(w.category()),
                                    " is not one of fire, medical, public_security, traffic, "
                                    "natural_disaster, hazmat, crowd, rescue"));
      }
      if (!seen.insert(*category).second) {
        return Invalid(absl::StrCat(key, ".category"),
                       absl::StrCat(Quoted(w.category()), " is listed twice"));
      }
      if (!std::isfinite(w.weight()) || w.weight() < 0) {
        return Invalid(absl::StrCat(key, ".weight"),
                       absl::StrCat("must be >= 0, not ", w.weight()));
      }
      s.category_weights[static_cast<int>(*category)] = w.weight();
    }
  }

  if (file.level_mix_size() > 0) {
    s.level_weights.fill(0);
    std::set<Level> seen;
    for (int i = 0; i < file.level_mix_size(); ++i) {
      const pb::LevelWeight& w = file.level_mix(i);
      const std::string key = absl::StrCat("level_mix[", i, "]");
      const std::optional<Level> level = ParseLevel(w.level());
      if (!level || *level == Level::kUnspecified) {
        return Invalid(absl::StrCat(key, ".level"),
                       absl::StrCat(Quoted(w.level()), " is not one of IV, III, II, I"));
      }
      if (!seen.insert(*level).second) {
        return Invalid(absl::StrCat(key, ".level"),
                       absl::StrCat(Quoted(w.level()), " is listed twice"));
      }
      if (!std::isfinite(w.weight()) || w.weight() < 0) {
        return Invalid(absl::StrCat(key, ".weight"),
                       absl::StrCat("must be >= 0, not ", w.weight()));
      }
      s.level_weights[static_cast<int>(*level)] = w.weight();
    }
  }

  if (file.has_repeat_report_share()) s.repeat_report_share = file.repeat_report_share();
  if (file.has_place_jitter_m()) s.place_jitter_m = file.place_jitter_m();
  if (file.has_responders()) {
    const pb::Responders& r = file.responders();
    ResponderBehaviour& b = s.responders;
    if (r.has_ack_delay_mean_s()) b.ack_delay_mean_s = r.ack_delay_mean_s();
    if (r.has_decline_share()) b.decline_share = r.decline_share();
    if (r.has_silence_share()) b.silence_share = r.silence_share();
    if (r.has_on_scene_minutes_min()) b.on_scene_minutes_min = r.on_scene_minutes_min();
    if (r.has_on_scene_minutes_max()) b.on_scene_minutes_max = r.on_scene_minutes_max();
  }

  if (absl::Status status = s.Validate(); !status.ok()) return status;
  return s;
}

}  // namespace

absl::TimeZone GuangzhouTime() { return absl::FixedTimeZone(8 * 3600); }

std::array<double, 24> DefaultHourlyCurve() {
  // Mean exactly 1 (the values sum to 24). Night low 02:00-06:00, late-morning peak at 11:00, a
  // dip after lunch, the day's peak at 20:00.
  return {0.9, 0.7, 0.45, 0.4,  0.4, 0.45, 0.6, 0.85, 1.05, 1.15, 1.25, 1.3,
          1.1, 1.0, 1.1,  1.15, 1.2, 1.25, 1.3, 1.4,  1.45, 1.35, 1.2,  1.0};
}

absl::Status Scenario::Validate() const {
  if (duration <= absl::ZeroDuration() || duration > kMaxDuration) {
    return Invalid("duration_minutes",
                   absl::StrCat("must be 1-10080 (a week), not ", absl::ToInt64Minutes(duration)));
  }
  if (!std::isfinite(base_alerts_per_hour) || base_alerts_per_hour < 0 ||
      base_alerts_per_hour > kMaxAlertsPerHour) {
    return Invalid("base_alerts_per_hour",
                   absl::StrCat("must be 0-100000 alerts per hour, not ", base_alerts_per_hour));
  }
  double curve_sum = 0;
  for (int h = 0; h < 24; ++h) {
    if (!std::isfinite(hourly_curve[h]) || hourly_curve[h] < 0) {
      return Invalid(absl::StrCat("hourly_curve[", h, "]"),
                     absl::StrCat("must be >= 0, not ", hourly_curve[h]));
    }
    curve_sum += hourly_curve[h];
  }
  if (!(curve_sum > 0)) return Invalid("hourly_curve", "at least one hour must be > 0");

  if (!district_weights.empty()) {
    std::set<DistrictCode> seen;
    double sum = 0;
    for (size_t i = 0; i < district_weights.size(); ++i) {
      const DistrictWeight& w = district_weights[i];
      const std::string key = absl::StrCat("district_weight[", i, "]");
      if (!seen.insert(w.district).second) {
        return Invalid(absl::StrCat(key, ".district"),
                       absl::StrCat("district ", w.district, " is listed twice"));
      }
      if (!std::isfinite(w.weight) || w.weight < 0) {
        return Invalid(absl::StrCat(key, ".weight"), absl::StrCat("must be >= 0, not ", w.weight));
      }
      sum += w.weight;
    }
    if (!(sum > 0)) return Invalid("district_weight", "at least one weight must be > 0");
  }

  for (size_t i = 0; i < surges.size(); ++i) {
    const Surge& surge = surges[i];
    const std::string key = absl::StrCat("surge[", i, "]");
    if (surge.end <= surge.start) {
      return Invalid(absl::StrCat(key, ".end"),
                     absl::StrCat(FormatLocalTime(surge.end), " is not after start ",
                                  FormatLocalTime(surge.start)));
    }
    if (!std::isfinite(surge.rate_multiplier) || surge.rate_multiplier < 0 ||
        surge.rate_multiplier > kMaxRateMultiplier) {
      return Invalid(absl::StrCat(key, ".rate_multiplier"),
                     absl::StrCat("must be 0-100, not ", surge.rate_multiplier));
    }
  }

  double category_sum = 0;
  for (int c = 0; c < kCategoryCount; ++c) {
    const double w = category_weights[c];
    const std::string key =
        absl::StrCat("category_mix[", CategoryName(static_cast<Category>(c)), "].weight");
    if (!std::isfinite(w) || w < 0) return Invalid(key, absl::StrCat("must be >= 0, not ", w));
    if (c == 0 && w != 0) return Invalid(key, "the unspecified category cannot have a weight");
    category_sum += w;
  }
  if (!(category_sum > 0)) return Invalid("category_mix", "at least one weight must be > 0");

  double level_sum = 0;
  for (int l = 0; l < kLevelCount; ++l) {
    const double w = level_weights[l];
    const std::string key =
        absl::StrCat("level_mix[", LevelName(static_cast<Level>(l)), "].weight");
    if (!std::isfinite(w) || w < 0) return Invalid(key, absl::StrCat("must be >= 0, not ", w));
    if (l == 0 && w != 0) return Invalid(key, "the unspecified level cannot have a weight");
    level_sum += w;
  }
  if (!(level_sum > 0)) return Invalid("level_mix", "at least one weight must be > 0");

  if (!IsShare(repeat_report_share)) {
    return Invalid("repeat_report_share", absl::StrCat("must be 0-1, not ", repeat_report_share));
  }
  if (!std::isfinite(place_jitter_m) || place_jitter_m < 0 || place_jitter_m > kMaxJitterM) {
    return Invalid("place_jitter_m", absl::StrCat("must be 0-5000 m, not ", place_jitter_m));
  }

  const ResponderBehaviour& r = responders;
  if (!std::isfinite(r.ack_delay_mean_s) || r.ack_delay_mean_s <= 0 || r.ack_delay_mean_s > 3600) {
    return Invalid("responders.ack_delay_mean_s",
                   absl::StrCat("must be > 0 and at most 3600 s, not ", r.ack_delay_mean_s));
  }
  if (!IsShare(r.decline_share)) {
    return Invalid("responders.decline_share", absl::StrCat("must be 0-1, not ", r.decline_share));
  }
  if (!IsShare(r.silence_share)) {
    return Invalid("responders.silence_share", absl::StrCat("must be 0-1, not ", r.silence_share));
  }
  if (r.decline_share + r.silence_share > 1) {
    return Invalid("responders.silence_share", "decline_share + silence_share must be at most 1");
  }
  if (!std::isfinite(r.on_scene_minutes_min) || r.on_scene_minutes_min < 0) {
    return Invalid("responders.on_scene_minutes_min",
                   absl::StrCat("must be >= 0, not ", r.on_scene_minutes_min));
  }
  if (!std::isfinite(r.on_scene_minutes_max) || r.on_scene_minutes_max < r.on_scene_minutes_min ||
      r.on_scene_minutes_max > 24 * 60) {
    return Invalid("responders.on_scene_minutes_max",
                   absl::StrCat("must be at least on_scene_minutes_min and at most 1440, not ",
                                r.on_scene_minutes_max));
  }
  return absl::OkStatus();
}

absl::StatusOr<Scenario> ParseScenario(const std::string& text, const std::string& source_name,
                                       const CityData& city) {
  pb::Scenario file;
  if (absl::Status s = ParseTextProto(text, source_name, &file); !s.ok()) return s;
  absl::StatusOr<Scenario> scenario =
      Convert(file, std::filesystem::path(source_name).stem().string(), city);
  if (!scenario.ok()) return InFile(source_name, scenario.status());
  return scenario;
}

absl::StatusOr<Scenario> ReadScenario(const std::string& path, const CityData& city) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the scenario file"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseScenario(text.str(), path, city);
}

std::string FormatLocalTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M", t, GuangzhouTime());
}

}  // namespace gz::sim
