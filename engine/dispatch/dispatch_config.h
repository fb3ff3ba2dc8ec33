// Dispatch policy configuration: the travel model, the response rings, merge thresholds and the
// response plans (run cards) by incident category x level.
//
// Plain data with a default for every field and one Validate(). The text-format file in config/
// (dispatch.textproto) is converted to this struct at the edge (engine/config); the core never sees
// protobuf.

#ifndef ENGINE_DISPATCH_DISPATCH_CONFIG_H_
#define ENGINE_DISPATCH_DISPATCH_CONFIG_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/geo/travel_model.h"

namespace gz {

// Values match protocol Category.
enum class Category : uint8_t {
  kUnspecified = 0,
  kFire = 1,             // 火灾
  kMedical = 2,          // 医疗急救
  kPublicSecurity = 3,   // 治安
  kTraffic = 4,          // 交通事故
  kNaturalDisaster = 5,  // 自然灾害 (typhoon, flood, landslide)
  kHazmat = 6,           // 危化品
  kCrowd = 7,            // 人群聚集/踩踏
  kRescue = 8,           // 救援 (trapped, drowning)
};
inline constexpr int kCategoryCount = 9;

// Values match protocol Level: a higher value is more severe (Ⅳ级 一般 ... Ⅰ级 特别重大).
enum class Level : uint8_t {
  kUnspecified = 0,
  kIvGeneral = 1,
  kIiiLarge = 2,
  kIiMajor = 3,
  kIExtreme = 4,
};
inline constexpr int kLevelCount = 5;

// Values match protocol NotifyTarget.
enum class NotifyTarget : uint8_t {
  kUnspecified = 0,
  kStreetCentre = 1,        // 街镇综治中心
  kDistrictCentre = 2,      // 区综治中心
  kProfessionalForces = 3,  // 专业力量: fire brigade, ambulance, police, district teams
};

// Values match protocol AssignmentRole.
enum class AssignmentRole : uint8_t {
  kUnspecified = 0,
  kFrontline = 1,  // 一线响应
  kAssembly = 2,   // 一片集结
};

absl::string_view CategoryName(Category c);
std::optional<Category> ParseCategory(absl::string_view name);
absl::string_view LevelName(Level l);
std::optional<Level> ParseLevel(absl::string_view name);
absl::string_view NotifyTargetName(NotifyTarget t);
absl::string_view AssignmentRoleName(AssignmentRole r);

struct EscalationStep {
  // Time after the incident opened at which `notify` is told, unless by then a unit is on scene.
  // Zero means at once.
  absl::Duration after = absl::ZeroDuration();
  NotifyTarget notify = NotifyTarget::kUnspecified;
  bool operator==(const EscalationStep&) const = default;
};

// A run card: what one category x level incident gets.
struct ResponsePlan {
  // 一线响应: units sent at once, nearest by travel time.
  int frontline_units = 2;
  // The first ring searched for them; must be one of DispatchConfig::rings.
  absl::Duration frontline_ring = absl::Minutes(3);
  // 一片集結: people (on-post headcount, frontline included) to assemble at the scene. 0: none.
  int assembly_headcount = 0;
  // The first ring searched for assembly units; must be one of DispatchConfig::rings.
  absl::Duration assembly_ring = absl::Minutes(5);
  // Assemble only units of the incident's street zone (片区) rather than the whole ring.
  bool assembly_zone_only = false;
  // Silence past this after an assignment is issued releases the unit and offers the next one.
  absl::Duration ack_deadline = absl::Seconds(30);
  // Notifications over time; sorted by `after`.
  std::vector<EscalationStep> escalation;
  bool operator==(const ResponsePlan&) const = default;
};

struct DispatchConfig {
  TravelModel travel;
  // The response rings (穗应急委〔2024〕13号): 1, 3, 5, 10, 20 minutes. When a ring holds no more
  // candidates the next one opens; past the last the incident is short and professional forces are
  // notified. Strictly increasing.
  std::vector<absl::Duration> rings{absl::Minutes(1), absl::Minutes(3), absl::Minutes(5),
                                    absl::Minutes(10), absl::Minutes(20)};
  // An alert of the same category within this distance of an open incident reported within the
  // window joins it as an extra report instead of opening a second incident.
  double merge_radius_m = 300;
  absl::Duration merge_window = absl::Minutes(30);
  // An acknowledged unit not on scene by acked_at + eta x arrival_eta_factor + arrival_slack is
  // released (reason arrival_timeout) and the next candidate offered: a responder whose phone died
  // on the way must not hold the incident's place for ever.
  double arrival_eta_factor = 2.0;
  absl::Duration arrival_slack = absl::Minutes(5);
  // How long the answer to an alert's idempotency key (reporter id + client sequence) is kept.
  absl::Duration idempotency_window = absl::Hours(24);
  // At most this many answers are kept for the window; past it the oldest are forgotten early, so
  // an alert flood cannot grow memory without bound. A retry of a forgotten accepted alert is
  // decided afresh, and normally merges into the incident it opened.
  int64_t max_remembered_alerts = 500'000;
  // Open incidents past which a new incident of each level (indexed by Level) is refused BUSY, the
  // least severe first: memory stays bounded under an alert flood, and the most severe alerts are
  // still opened long after level IV is refused. Alerts that merge into an open incident, and
  // retries of alerts already answered, are never refused this way. Non-decreasing with severity.
  std::array<int64_t, kLevelCount> max_open_incidents{0, 25'000, 40'000, 60'000, 100'000};
  // Run cards indexed [category][level]; a missing plan makes that combination unknown.
  std::array<std::array<std::optional<ResponsePlan>, kLevelCount>, kCategoryCount> plans;

  const ResponsePlan* FindPlan(Category category, Level level) const;
  void SetPlan(Category category, Level level, ResponsePlan plan);

  // OK, or InvalidArgument naming the field and what is wrong with it.
  absl::Status Validate() const;

  // A complete built-in configuration (the same policy as config/dispatch.textproto), for tests and
  // for programs run without a config file.
  static DispatchConfig Defaults();

  bool operator==(const DispatchConfig&) const = default;
};

}  // namespace gz

#endif  // ENGINE_DISPATCH_DISPATCH_CONFIG_H_
