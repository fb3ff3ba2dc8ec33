#include "engine/dispatch/dispatch_config.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gz {
namespace {

constexpr std::array<std::pair<Category, absl::string_view>, kCategoryCount> kCategoryNames{{
    {Category::kUnspecified, "unspecified"},
    {Category::kFire, "fire"},
    {Category::kMedical, "medical"},
    {Category::kPublicSecurity, "public_security"},
    {Category::kTraffic, "traffic"},
    {Category::kNaturalDisaster, "natural_disaster"},
    {Category::kHazmat, "hazmat"},
    {Category::kCrowd, "crowd"},
    {Category::kRescue, "rescue"},
}};

constexpr std::array<std::pair<Level, absl::string_view>, kLevelCount> kLevelNames{{
    {Level::kUnspecified, "unspecified"},
    {Level::kIvGeneral, "IV"},
    {Level::kIiiLarge, "III"},
    {Level::kIiMajor, "II"},
    {Level::kIExtreme, "I"},
}};

std::string PlanName(int c, int l) {
  return absl::StrCat("plans[", kCategoryNames[c].second, "/", kLevelNames[l].second, "]");
}

}  // namespace

absl::string_view CategoryName(Category c) {
  const auto i = static_cast<size_t>(c);
  return i < kCategoryNames.size() ? kCategoryNames[i].second : "unknown";
}

std::optional<Category> ParseCategory(absl::string_view name) {
  for (const auto& [c, n] : kCategoryNames) {
    if (n == name && c != Category::kUnspecified) return c;
  }
  return std::nullopt;
}

absl::string_view LevelName(Level l) {
  const auto i = static_cast<size_t>(l);
  return i < kLevelNames.size() ? kLevelNames[i].second : "unknown";
}

std::optional<Level> ParseLevel(absl::string_view name) {
  for (const auto& [l, n] : kLevelNames) {
    if (n == name && l != Level::kUnspecified) return l;
  }
  return std::nullopt;
}

absl::string_view NotifyTargetName(NotifyTarget t) {
  switch (t) {
    case NotifyTarget::kUnspecified:
      return "unspecified";
    case NotifyTarget::kStreetCentre:
      return "street_centre";
    case NotifyTarget::kDistrictCentre:
      return "district_centre";
    case NotifyTarget::kProfessionalForces:
      return "professional_forces";
  }
  return "unknown";
}

absl::string_view AssignmentRoleName(AssignmentRole r) {
  switch (r) {
    case AssignmentRole::kUnspecified:
      return "unspecified";
    case AssignmentRole::kFrontline:
      return "frontline";
    case AssignmentRole::kAssembly:
      return "assembly";
  }
  return "unknown";
}

const ResponsePlan* DispatchConfig::FindPlan(Category category, Level level) const {
  const auto c = static_cast<size_t>(category);
  const auto l = static_cast<size_t>(level);
  if (c == 0 || c >= kCategoryCount || l == 0 || l >= kLevelCount) return nullptr;
  const auto& plan = plans[c][l];
  return plan.has_value() ? &*plan : nullptr;
}

void DispatchConfig::SetPlan(Category category, Level level, ResponsePlan plan) {
  plans[static_cast<size_t>(category)][static_cast<size_t>(level)] = std::move(plan);
}

absl::Status DispatchConfig::Validate() const {
  auto invalid = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  if (!(travel.detour_factor >= 1.0 && travel.detour_factor <= 5.0)) {
    return invalid("travel.detour_factor", "must be between 1 and 5");
  }
  for (int m = 0; m < kTravelModeCount; ++m) {
    const double v = travel.speed_mps[m];
    if (!(v > 0.1 && v <= 60)) {
      return invalid(
          absl::StrCat("travel.speed_mps[", TravelModeName(static_cast<TravelMode>(m)), "]"),
          "must be between 0.1 and 60 m/s");
    }
  }
  if (rings.empty()) return invalid("rings", "at least one ring is needed");
  for (size_t i = 0; i < rings.size(); ++i) {
    if (rings[i] <= absl::ZeroDuration()) return invalid("rings", "every ring must be positive");
    if (i > 0 && rings[i] <= rings[i - 1]) return invalid("rings", "must be strictly increasing");
  }
  if (!(merge_radius_m >= 0 && merge_radius_m <= 10000)) {
    return invalid("merge_radius_m", "must be between 0 and 10000 metres");
  }
  if (merge_window < absl::ZeroDuration()) return invalid("merge_window", "must not be negative");
  if (!(arrival_eta_factor >= 1.0 && arrival_eta_factor <= 10.0)) {
    return invalid("arrival_eta_factor", "must be between 1 and 10");
  }
  if (arrival_slack < absl::ZeroDuration() || arrival_slack > absl::Hours(2)) {
    return invalid("arrival_slack", "must be between 0 and 2 hours");
  }
  if (idempotency_window < absl::Minutes(1)) {
    return invalid("idempotency_window", "must be at least one minute");
  }
  if (max_remembered_alerts < 1 || max_remembered_alerts > 100'000'000) {
    return invalid("max_remembered_alerts", "must be between 1 and 100000000");
  }
  for (int l = 1; l < kLevelCount; ++l) {
    const std::string field =
        absl::StrCat("max_open_incidents[", LevelName(static_cast<Level>(l)), "]");
    if (max_open_incidents[l] < 1 || max_open_incidents[l] > 10'000'000) {
      return invalid(field, "must be between 1 and 10000000");
    }
    if (l > 1 && max_open_incidents[l] < max_open_incidents[l - 1]) {
      return invalid(field, "must not be below the limit of a less severe level");
    }
  }
  const auto is_ring = [&](absl::Duration d) {
    return std::find(rings.begin(), rings.end(), d) != rings.end();
  };
  int plan_count = 0;
  for (int c = 1; c < kCategoryCount; ++c) {
    for (int l = 1; l < kLevelCount; ++l) {
      if (!plans[c][l].has_value()) continue;
      ++plan_count;
      const ResponsePlan& p = *plans[c][l];
      const std::string name = PlanName(c, l);
      if (p.frontline_units < 0 || p.frontline_units > 50) {
        return invalid(absl::StrCat(name, ".frontline_units"), "must be between 0 and 50");
      }
      if (!is_ring(p.frontline_ring)) {
        return invalid(absl::StrCat(name, ".frontline_ring"), "must be one of the rings");
      }
      if (p.assembly_headcount < 0 || p.assembly_headcount > 500) {
        return invalid(absl::StrCat(name, ".assembly_headcount"), "must be between 0 and 500");
      }
      if (!is_ring(p.assembly_ring)) {
        return invalid(absl::StrCat(name, ".assembly_ring"), "must be one of the rings");
      }
      if (p.frontline_units == 0 && p.assembly_headcount == 0) {
        return invalid(name, "sends nobody: frontline_units and assembly_headcount are both 0");
      }
      if (p.ack_deadline < absl::Seconds(1) || p.ack_deadline > absl::Minutes(10)) {
        return invalid(absl::StrCat(name, ".ack_deadline"), "must be between 1 s and 10 min");
      }
      for (size_t i = 0; i < p.escalation.size(); ++i) {
        const EscalationStep& s = p.escalation[i];
        const std::string step = absl::StrCat(name, ".escalation[", i, "]");
        if (s.notify == NotifyTarget::kUnspecified) return invalid(step, "needs a notify target");
        if (s.after < absl::ZeroDuration()) return invalid(step, "after must not be negative");
        if (i > 0 && s.after < p.escalation[i - 1].after) {
          return invalid(step, "steps must be sorted by after");
        }
      }
    }
  }
  if (plan_count == 0) return invalid("plans", "at least one response plan is needed");
  return absl::OkStatus();
}

DispatchConfig DispatchConfig::Defaults() {
  struct Base {
    Category category;
    int frontline;
    int frontline_ring_min;
    int headcount;
    int assembly_ring_min;
  };
  // Level IV (general) run cards; higher levels add frontline units and multiply the headcount.
  constexpr std::array<Base, 8> kBases{{
      {Category::kFire, 3, 3, 8, 5},
      {Category::kMedical, 2, 3, 4, 5},
      {Category::kPublicSecurity, 2, 3, 6, 5},
      {Category::kTraffic, 2, 3, 4, 5},
      {Category::kNaturalDisaster, 3, 5, 12, 10},
      {Category::kHazmat, 2, 5, 8, 10},
      {Category::kCrowd, 3, 3, 12, 5},
      {Category::kRescue, 2, 3, 6, 5},
  }};
  constexpr std::array<int, kLevelCount> kHeadcountFactor{0, 1, 2, 3, 5};
  DispatchConfig config;
  for (const Base& b : kBases) {
    for (int l = 1; l < kLevelCount; ++l) {
      ResponsePlan plan;
      plan.frontline_units = b.frontline + (l - 1);
      plan.frontline_ring = absl::Minutes(b.frontline_ring_min);
      plan.assembly_headcount = b.headcount * kHeadcountFactor[l];
      plan.assembly_ring = absl::Minutes(b.assembly_ring_min);
      plan.ack_deadline = l >= 3 ? absl::Seconds(20) : absl::Seconds(30);
      switch (static_cast<Level>(l)) {
        case Level::kIvGeneral:
          plan.escalation = {{absl::Minutes(5), NotifyTarget::kStreetCentre},
                             {absl::Minutes(10), NotifyTarget::kDistrictCentre}};
          break;
        case Level::kIiiLarge:
          plan.escalation = {{absl::ZeroDuration(), NotifyTarget::kStreetCentre},
                             {absl::Minutes(5), NotifyTarget::kDistrictCentre},
                             {absl::Minutes(10), NotifyTarget::kProfessionalForces}};
          break;
        default:
          plan.escalation = {{absl::ZeroDuration(), NotifyTarget::kStreetCentre},
                             {absl::ZeroDuration(), NotifyTarget::kDistrictCentre},
                             {absl::ZeroDuration(), NotifyTarget::kProfessionalForces}};
          break;
      }
      config.SetPlan(b.category, static_cast<Level>(l), std::move(plan));
    }
  }
  return config;
}

}  // namespace gz
