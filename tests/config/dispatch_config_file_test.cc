#include "engine/config/dispatch_config_file.h"

#include <catch2/catch.hpp>

#include "engine/config/city_data.h"

namespace gz {
namespace {

TEST_CASE("the committed dispatch.textproto is the built-in default policy", "[config]") {
  absl::StatusOr<DispatchConfig> config =
      ReadDispatchConfig(ConfigPath(DISPATCH_CONFIG_DIR, kDispatchConfigFile));
  REQUIRE(config.ok());
  CHECK(*config == DispatchConfig::Defaults());
}

TEST_CASE("dispatch config text round-trips", "[config]") {
  DispatchConfig config = DispatchConfig::Defaults();
  config.merge_radius_m = 123;
  config.travel.speed_mps[2] = 11;
  config.max_open_incidents[static_cast<int>(Level::kIiiLarge)] = 30'000;
  absl::StatusOr<DispatchConfig> back =
      ParseDispatchConfig(DispatchConfigToText(config), "round-trip");
  REQUIRE(back.ok());
  CHECK(*back == config);
}

TEST_CASE("an empty dispatch config gives the defaults", "[config]") {
  absl::StatusOr<DispatchConfig> config = ParseDispatchConfig("", "empty");
  REQUIRE(config.ok());
  CHECK(*config == DispatchConfig::Defaults());
}

TEST_CASE("listing plans replaces them: the others become unknown", "[config]") {
  absl::StatusOr<DispatchConfig> config = ParseDispatchConfig(
      R"(plan { category: "fire" level: "I" frontline_units: 5 frontline_ring_seconds: 60 })",
      "one-plan");
  REQUIRE(config.ok());
  REQUIRE(config->FindPlan(Category::kFire, Level::kIExtreme) != nullptr);
  CHECK(config->FindPlan(Category::kFire, Level::kIExtreme)->frontline_units == 5);
  CHECK(config->FindPlan(Category::kMedical, Level::kIvGeneral) == nullptr);
}

TEST_CASE("a bad dispatch config names the key and the reason", "[config]") {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"travel { detour_factor: 0.5 }", "travel.detour_factor"},
      {"ring_seconds: 60 ring_seconds: 30", "rings: must be strictly increasing"},
      {R"(plan { category: "fire" level: "IV" frontline_ring_seconds: 100 })",
       "plans[fire/IV].frontline_ring: must be one of the rings"},
      {R"(plan { category: "volcano" level: "IV" })", "plan[0].category: 'volcano'"},
      {R"(plan { category: "fire" level: "V" })", "plan[0].level: 'V'"},
      {R"(plan { category: "fire" level: "IV" escalation { notify: "mayor" } })",
       "escalation[0].notify: 'mayor'"},
      {"merge_radius_m: -1", "merge_radius_m"},
      {"max_remembered_alerts: 0", "max_remembered_alerts: must be between"},
      {"max_open_incidents_iv: 0", "max_open_incidents[IV]: must be between 1 and 10000000"},
      {"max_open_incidents_iv: 50000 max_open_incidents_iii: 100",
       "max_open_incidents[III]: must not be below the limit of a less severe level"},
      {"no_such_key: 1", "line 1:"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    absl::StatusOr<DispatchConfig> config = ParseDispatchConfig(c.text, "test.textproto");
    REQUIRE_FALSE(config.ok());
    CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(config.status().message()), Catch::Contains(c.expected));
    CHECK_THAT(std::string(config.status().message()), Catch::Contains("test.textproto"));
  }
}

TEST_CASE("a missing dispatch config file is NotFound", "[config]") {
  CHECK(ReadDispatchConfig("/nonexistent/dispatch.textproto").status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gz
