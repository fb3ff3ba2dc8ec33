#include "engine/config/dispatch_config_file.h"

#include <google/protobuf/text_format.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/config/dispatch_config.pb.h"
#include "engine/config/text_proto.h"

namespace gz {
namespace {

namespace pb = ::gz::config::v1;

// Collects the first parse error with its position instead of printing to stderr.

absl::Status Invalid(const std::string& source, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", what));
}

absl::StatusOr<ResponsePlan> ConvertPlan(const pb::ResponsePlan& p, const std::string& where,
                                         const std::string& source) {
  ResponsePlan plan;
  if (p.has_frontline_units()) plan.frontline_units = static_cast<int>(p.frontline_units());
  if (p.has_frontline_ring_seconds())
    plan.frontline_ring = absl::Seconds(p.frontline_ring_seconds());
  if (p.has_assembly_headcount())
    plan.assembly_headcount = static_cast<int>(p.assembly_headcount());
  if (p.has_assembly_ring_seconds()) plan.assembly_ring = absl::Seconds(p.assembly_ring_seconds());
  if (p.has_assembly_zone_only()) plan.assembly_zone_only = p.assembly_zone_only();
  if (p.has_ack_deadline_seconds()) plan.ack_deadline = absl::Seconds(p.ack_deadline_seconds());
  for (int i = 0; i < p.escalation_size(); ++i) {
    const pb::EscalationStep& s = p.escalation(i);
    EscalationStep step;
    step.after = absl::Seconds(s.after_seconds());
    if (s.notify() == "street_centre") {
      step.notify = NotifyTarget::kStreetCentre;
    } else if (s.notify() == "district_centre") {
      step.notify = NotifyTarget::kDistrictCentre;
    } else if (s.notify() == "professional_forces") {
      step.notify = NotifyTarget::kProfessionalForces;
    } else {
      return Invalid(source, absl::StrCat(where, ".escalation[", i, "].notify: '", s.notify(),
                                          "' is not street_centre, district_centre or "
                                          "professional_forces"));
    }
    plan.escalation.push_back(step);
  }
  return plan;
}

}  // namespace

absl::StatusOr<DispatchConfig> ParseDispatchConfig(const std::string& text,
                                                   const std::string& source_name) {
  pb::DispatchConfig file;
  if (absl::Status s = ParseTextProto(text, source_name, &file); !s.ok()) return s;

  DispatchConfig config = DispatchConfig::Defaults();
  if (file.has_travel()) {
    const pb::TravelConfig& t = file.travel();
    if (t.has_detour_factor()) config.travel.detour_factor = t.detour_factor();
    if (t.has_foot_mps()) config.travel.speed_mps[0] = t.foot_mps();
    if (t.has_bicycle_mps()) config.travel.speed_mps[1] = t.bicycle_mps();
    if (t.has_vehicle_mps()) config.travel.speed_mps[2] = t.vehicle_mps();
  }
  if (file.ring_seconds_size() > 0) {
    config.rings.clear();
    for (uint32_t s : file.ring_seconds()) config.rings.push_back(absl::Seconds(s));
  }
  if (file.has_merge_radius_m()) config.merge_radius_m = file.merge_radius_m();
  if (file.has_merge_window_seconds()) {
    config.merge_window = absl::Seconds(file.merge_window_seconds());
  }
  if (file.has_idempotency_window_seconds()) {
    config.idempotency_window = absl::Seconds(file.idempotency_window_seconds());
  }
  if (file.has_arrival_eta_factor()) config.arrival_eta_factor = file.arrival_eta_factor();
  if (file.has_arrival_slack_seconds()) {
    config.arrival_slack = absl::Seconds(file.arrival_slack_seconds());
  }
  if (file.has_max_remembered_alerts()) {
    config.max_remembered_alerts = file.max_remembered_alerts();
  }
  if (file.has_max_open_incidents_iv()) {
    config.max_open_incidents[static_cast<int>(Level::kIvGeneral)] = file.max_open_incidents_iv();
  }
  if (file.has_max_open_incidents_iii()) {
    config.max_open_incidents[static_cast<int>(Level::kIiiLarge)] = file.max_open_incidents_iii();
  }
  if (file.has_max_open_incidents_ii()) {
    config.max_open_incidents[static_cast<int>(Level::kIiMajor)] = file.max_open_incidents_ii();
  }
  if (file.has_max_open_incidents_i()) {
    config.max_open_incidents[static_cast<int>(Level::kIExtreme)] = file.max_open_incidents_i();
  }
  if (file.plan_size() > 0) {
    config.plans = {};
    for (int i = 0; i < file.plan_size(); ++i) {
      const pb::ResponsePlan& p = file.plan(i);
      const std::string where = absl::StrCat("plan[", i, "]");
      const std::optional<Category> category = ParseCategory(p.category());
      if (!category) {
        return Invalid(source_name, absl::StrCat(where, ".category: '", p.category(),
                                                 "' is not a known category"));
      }
      const std::optional<Level> level = ParseLevel(p.level());
      if (!level) {
        return Invalid(source_name, absl::StrCat(where, ".level: '", p.level(),
                                                 "' is not one of IV, III, II, I"));
      }
      if (config.FindPlan(*category, *level) != nullptr) {
        return Invalid(source_name,
                       absl::StrCat(where, ": a second plan for ", p.category(), "/", p.level()));
      }
      absl::StatusOr<ResponsePlan> plan = ConvertPlan(p, where, source_name);
      if (!plan.ok()) return plan.status();
      config.SetPlan(*category, *level, *std::move(plan));
    }
  }
  if (absl::Status s = config.Validate(); !s.ok())
    return Invalid(source_name, std::string(s.message()));
  return config;
}

absl::StatusOr<DispatchConfig> ReadDispatchConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the dispatch config"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseDispatchConfig(text.str(), path);
}

std::string DispatchConfigToText(const DispatchConfig& config) {
  pb::DispatchConfig file;
  pb::TravelConfig* t = file.mutable_travel();
  t->set_detour_factor(config.travel.detour_factor);
  t->set_foot_mps(config.travel.speed_mps[0]);
  t->set_bicycle_mps(config.travel.speed_mps[1]);
  t->set_vehicle_mps(config.travel.speed_mps[2]);
  for (absl::Duration r : config.rings) {
    file.add_ring_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(r)));
  }
  file.set_merge_radius_m(config.merge_radius_m);
  file.set_merge_window_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(config.merge_window)));
  file.set_idempotency_window_seconds(
      static_cast<uint32_t>(absl::ToInt64Seconds(config.idempotency_window)));
  file.set_arrival_eta_factor(config.arrival_eta_factor);
  file.set_arrival_slack_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(config.arrival_slack)));
  file.set_max_remembered_alerts(static_cast<uint32_t>(config.max_remembered_alerts));
  const auto limit = [&](Level l) {
    return static_cast<uint32_t>(config.max_open_incidents[static_cast<int>(l)]);
  };
  file.set_max_open_incidents_iv(limit(Level::kIvGeneral));
  file.set_max_open_incidents_iii(limit(Level::kIiiLarge));
  file.set_max_open_incidents_ii(limit(Level::kIiMajor));
  file.set_max_open_incidents_i(limit(Level::kIExtreme));
  for (int c = 1; c < kCategoryCount; ++c) {
    for (int l = 1; l < kLevelCount; ++l) {
      const ResponsePlan* plan = config.FindPlan(static_cast<Category>(c), static_cast<Level>(l));
      if (plan == nullptr) continue;
      pb::ResponsePlan* p = file.add_plan();
      p->set_category(std::string(CategoryName(static_cast<Category>(c))));
      p->set_level(std::string(LevelName(static_cast<Level>(l))));
      p->set_frontline_units(plan->frontline_units);
      p->set_frontline_ring_seconds(absl::ToInt64Seconds(plan->frontline_ring));
      p->set_assembly_headcount(plan->assembly_headcount);
      p->set_assembly_ring_seconds(absl::ToInt64Seconds(plan->assembly_ring));
      p->set_assembly_zone_only(plan->assembly_zone_only);
      p->set_ack_deadline_seconds(absl::ToInt64Seconds(plan->ack_deadline));
      for (const EscalationStep& s : plan->escalation) {
        pb::EscalationStep* step = p->add_escalation();
        step->set_after_seconds(absl::ToInt64Seconds(s.after));
        step->set_notify(std::string(NotifyTargetName(s.notify)));
      }
    }
  }
  std::string text;
  google::protobuf::TextFormat::PrintToString(file, &text);
  return text;
}

}  // namespace gz
