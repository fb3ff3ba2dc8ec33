#include "simulators/incident_generator.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/config/city_data.h"
#include "simulators/scenario.h"
#include "tests/support/guangzhou.h"
#include "tests/support/test_seed.h"

namespace gz::sim {
namespace {

// Statistical checks allow 4 standard deviations: for a Poisson count with mean m that is
// 4 * sqrt(m), for a share p of n draws 4 * sqrt(n p (1 - p)). One such check fails by chance about
// once in 16,000; a test makes a few dozen, so a seed from DISPATCH_TEST_SEED passes almost always.
constexpr double kSigmas = 4;

double PoissonTolerance(double mean) { return kSigmas * std::sqrt(mean) + 1; }
double BinomialTolerance(double n, double p) { return kSigmas * std::sqrt(n * p * (1 - p)) + 1; }

const CityData& Guangzhou() { return testing::GuangzhouDefault(); }

std::string ScenarioPath(const std::string& name) {
  return ConfigPath(DISPATCH_CONFIG_DIR, "scenarios/" + name + ".textproto");
}

// A committed scenario with the test seed.
Scenario LoadScenario(const std::string& name) {
  absl::StatusOr<Scenario> scenario = ReadScenario(ScenarioPath(name), Guangzhou());
  if (!scenario.ok()) FAIL(scenario.status().ToString());
  scenario->seed = testing::TestSeed();
  return *std::move(scenario);
}

std::vector<ScheduledAlert> FirstReports(const std::vector<ScheduledAlert>& alerts) {
  std::vector<ScheduledAlert> first;
  for (const ScheduledAlert& a : alerts) {
    if (!a.repeat_report) first.push_back(a);
  }
  return first;
}

bool InWindow(const ScheduledAlert& a, absl::Time from, absl::Time to) {
  return a.at >= from && a.at < to;
}

TEST_CASE("a normal day's alert count matches the integral of the rate", "[sim]") {
  const Scenario day = LoadScenario("normal_day");
  INFO("seed " << day.seed);
  const std::vector<ScheduledAlert> alerts = FirstReports(GenerateAlerts(day, Guangzhou()));
  const double expected = ExpectedAlerts(day, Guangzhou());
  CHECK(expected == Approx(83.3 * 24).epsilon(1e-9));
  CHECK(std::abs(static_cast<double>(alerts.size()) - expected) <= PoissonTolerance(expected));
}

TEST_CASE("a normal day's alerts per hour follow the daily curve", "[sim]") {
  const Scenario day = LoadScenario("normal_day");
  INFO("seed " << day.seed);
  const std::vector<ScheduledAlert> alerts = FirstReports(GenerateAlerts(day, Guangzhou()));
  for (int h = 0; h < 24; ++h) {
    const absl::Time from = day.start + absl::Hours(h);
    const absl::Time to = from + absl::Hours(1);
    const double expected = ExpectedAlerts(day, Guangzhou(), from, to);
    CHECK(expected == Approx(83.3 * DefaultHourlyCurve()[h]).epsilon(1e-9));
    const auto count = std::count_if(alerts.begin(), alerts.end(), [&](const ScheduledAlert& a) {
      return InWindow(a, from, to);
    });
    INFO("hour " << h << ": " << count << " alerts, expected " << expected);
    CHECK(std::abs(static_cast<double>(count) - expected) <= PoissonTolerance(expected));
  }
}

TEST_CASE("a normal day's alerts spread over the districts by population", "[sim]") {
  const Scenario day = LoadScenario("normal_day");
  INFO("seed " << day.seed);
  const std::vector<ScheduledAlert> alerts = FirstReports(GenerateAlerts(day, Guangzhou()));
  std::map<DistrictCode, int> count;
  for (const ScheduledAlert& a : alerts) ++count[a.district];

  int64_t population = 0;
  for (const District& d : Guangzhou().map->districts()) population += d.population;
  REQUIRE(population == 18827000);
  const std::map<DistrictCode, double> expected =
      ExpectedAlertsByDistrict(day, Guangzhou(), day.start, day.end());
  for (const District& d : Guangzhou().map->districts()) {
    const double share = static_cast<double>(d.population) / static_cast<double>(population);
    CHECK(expected.at(d.code) == Approx(83.3 * 24 * share).epsilon(1e-9));
    INFO(d.name_en << ": " << count[d.code] << " alerts, expected " << expected.at(d.code));
    CHECK(std::abs(count[d.code] - expected.at(d.code)) <= PoissonTolerance(expected.at(d.code)));
  }
}

TEST_CASE("a normal day's categories and levels follow the mixes", "[sim]") {
  const Scenario day = LoadScenario("normal_day");
  INFO("seed " << day.seed);
  const std::vector<ScheduledAlert> alerts = FirstReports(GenerateAlerts(day, Guangzhou()));
  const double n = static_cast<double>(alerts.size());
  std::map<Category, int> categories;
  std::map<Level, int> levels;
  for (const ScheduledAlert& a : alerts) {
    ++categories[a.alert.category];
    ++levels[a.alert.level];
  }
  CHECK(categories.count(Category::kUnspecified) == 0);
  CHECK(levels.count(Level::kUnspecified) == 0);
  double category_total = 0;
  for (double w : day.category_weights) category_total += w;
  for (int c = 1; c < kCategoryCount; ++c) {
    const double p = day.category_weights[c] / category_total;
    INFO(CategoryName(static_cast<Category>(c))
         << ": " << categories[static_cast<Category>(c)] << " of " << n << ", share " << p);
    CHECK(std::abs(categories[static_cast<Category>(c)] - n * p) <= BinomialTolerance(n, p));
  }
  double level_total = 0;
  for (double w : day.level_weights) level_total += w;
  for (int l = 1; l < kLevelCount; ++l) {
    const double p = day.level_weights[l] / level_total;
    INFO(LevelName(static_cast<Level>(l)) << ": " << levels[static_cast<Level>(l)] << " of " << n);
    CHECK(std::abs(levels[static_cast<Level>(l)] - n * p) <= BinomialTolerance(n, p));
  }
}

TEST_CASE("every generated alert lies inside the service area in its own district", "[sim]") {
  for (const char* name : {"normal_day", "typhoon_evening"}) {
    const Scenario scenario = LoadScenario(name);
    INFO(name << ", seed " << scenario.seed);
    const std::vector<ScheduledAlert> alerts = GenerateAlerts(scenario, Guangzhou());
    REQUIRE(!alerts.empty());
    std::set<std::string> reporters;
    for (size_t i = 0; i < alerts.size(); ++i) {
      const ScheduledAlert& a = alerts[i];
      const District* d =
          Guangzhou().map->DistrictAt(Guangzhou().projection.ToPlane(a.alert.position));
      REQUIRE(d != nullptr);
      CHECK(d->code == a.district);
      CHECK(a.at >= scenario.start);
      CHECK(a.at < scenario.end());
      if (i > 0) CHECK(alerts[i - 1].at <= a.at);
      CHECK(a.alert.client_sequence == i + 1);
      CHECK(reporters.insert(a.alert.reporter_id).second);
      CHECK(a.alert.reporter_id.rfind("110-" + std::to_string(a.district) + "-", 0) == 0);
    }
  }
}

TEST_CASE("repeat reports come from another reporter near the original soon after", "[sim]") {
  const Scenario day = LoadScenario("normal_day");
  INFO("seed " << day.seed);
  const std::vector<ScheduledAlert> alerts = GenerateAlerts(day, Guangzhou());
  const LocalProjection& projection = Guangzhou().projection;
  int repeats = 0;
  for (size_t i = 0; i < alerts.size(); ++i) {
    const ScheduledAlert& again = alerts[i];
    if (!again.repeat_report) continue;
    ++repeats;
    REQUIRE(again.repeat_of < i);
    const ScheduledAlert& first = alerts[again.repeat_of];
    CHECK_FALSE(first.repeat_report);
    CHECK(again.at - first.at >= absl::Seconds(20));
    CHECK(again.at - first.at <= absl::Seconds(240));
    CHECK(Distance(projection.ToPlane(again.alert.position),
                   projection.ToPlane(first.alert.position)) <= 80.01);
    CHECK(again.alert.category == first.alert.category);
    CHECK(again.alert.level == first.alert.level);
    CHECK(again.district == first.district);
    CHECK(again.alert.reporter_id != first.alert.reporter_id);
  }
  const double n = static_cast<double>(alerts.size() - repeats);
  CHECK(std::abs(repeats - n * day.repeat_report_share) <=
        BinomialTolerance(n, day.repeat_report_share));
}

TEST_CASE("a typhoon evening concentrates alerts in its surge districts during the surge",
          "[sim]") {
  const Scenario typhoon = LoadScenario("typhoon_evening");
  INFO("seed " << typhoon.seed);
  REQUIRE(typhoon.surges.size() == 2);
  const Surge& landfall = typhoon.surges[1];
  REQUIRE(landfall.districts.size() == 4);
  const auto in_surge = [&](DistrictCode d) {
    return std::find(landfall.districts.begin(), landfall.districts.end(), d) !=
           landfall.districts.end();
  };
  const std::vector<ScheduledAlert> alerts = FirstReports(GenerateAlerts(typhoon, Guangzhou()));

  int64_t population = 0;
  int64_t surge_population = 0;
  for (const District& d : Guangzhou().map->districts()) {
    population += d.population;
    if (in_surge(d.code)) surge_population += d.population;
  }
  const double population_share =
      static_cast<double>(surge_population) / static_cast<double>(population);

  int in_window = 0;
  int in_window_surge = 0;
  for (const ScheduledAlert& a : alerts) {
    if (!InWindow(a, landfall.start, landfall.end)) continue;
    ++in_window;
    if (in_surge(a.district)) ++in_window_surge;
  }
  double expected_surge = 0;
  for (const auto& [code, n] :
       ExpectedAlertsByDistrict(typhoon, Guangzhou(), landfall.start, landfall.end)) {
    if (in_surge(code)) expected_surge += n;
  }
  INFO(in_window_surge << " of " << in_window << " alerts in the surge districts during landfall, "
                       << "expected " << expected_surge << "; population share "
                       << population_share);
  CHECK(std::abs(in_window_surge - expected_surge) <= PoissonTolerance(expected_surge));
  // A third of the population, well over half of the alerts.
  CHECK(population_share < 0.4);
  CHECK(in_window_surge > 0.55 * in_window);

  // Those districts get at least 4 times what a normal day gives them in the same hours.
  Scenario normal = LoadScenario("normal_day");
  normal.start = typhoon.start;
  normal.duration = typhoon.duration;
  double normal_surge = 0;
  for (const auto& [code, n] :
       ExpectedAlertsByDistrict(normal, Guangzhou(), landfall.start, landfall.end)) {
    if (in_surge(code)) normal_surge += n;
  }
  CHECK(in_window_surge >= 4 * normal_surge);

  // Before landfall the alerts spread by population again.
  int before = 0;
  int before_surge = 0;
  for (const ScheduledAlert& a : alerts) {
    if (!InWindow(a, typhoon.start, landfall.start)) continue;
    ++before;
    if (in_surge(a.district)) ++before_surge;
  }
  CHECK(std::abs(before_surge - before * population_share) <=
        BinomialTolerance(before, population_share));
}

TEST_CASE("the same seed gives the same alerts and another seed different ones", "[sim]") {
  Scenario day = LoadScenario("normal_day");
  day.duration = absl::Hours(6);
  const std::vector<ScheduledAlert> once = GenerateAlerts(day, Guangzhou());
  const std::vector<ScheduledAlert> again = GenerateAlerts(day, Guangzhou());
  REQUIRE(!once.empty());
  CHECK(once == again);
  day.seed += 1;
  const std::vector<ScheduledAlert> other = GenerateAlerts(day, Guangzhou());
  CHECK(other != once);
}

TEST_CASE("every committed scenario parses and generates alerts", "[sim]") {
  const std::filesystem::path dir = std::filesystem::path(DISPATCH_CONFIG_DIR) / "scenarios";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".textproto") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  CHECK(files.size() >= 4);
  for (const std::filesystem::path& file : files) {
    INFO(file.string());
    absl::StatusOr<Scenario> scenario = ReadScenario(file.string(), Guangzhou());
    REQUIRE(scenario.ok());
    CHECK(scenario->name == file.stem().string());
    CHECK(!scenario->description.empty());
    CHECK(!GenerateAlerts(*scenario, Guangzhou()).empty());
  }
}

TEST_CASE("the tiny scenario raises a few alerts in Yuexiu and Tianhe only", "[sim]") {
  const Scenario tiny = LoadScenario("tiny");
  const std::vector<ScheduledAlert> alerts = GenerateAlerts(tiny, Guangzhou());
  CHECK(ExpectedAlerts(tiny, Guangzhou()) == Approx(20 * 1.05 / 2));
  CHECK(!alerts.empty());
  CHECK(alerts.size() <= 40);
  for (const ScheduledAlert& a : alerts) {
    CHECK((a.district == 440104 || a.district == 440106));
  }
}

TEST_CASE("an empty scenario is the built-in default named after its file", "[sim]") {
  absl::StatusOr<Scenario> scenario = ParseScenario("", "some/dir/empty.textproto", Guangzhou());
  REQUIRE(scenario.ok());
  Scenario expected;
  expected.name = "empty";
  CHECK(*scenario == expected);
  CHECK(expected.Validate().ok());
  double curve_sum = 0;
  for (double m : DefaultHourlyCurve()) curve_sum += m;
  CHECK(curve_sum == Approx(24));
}

TEST_CASE("scenario districts resolve by Chinese or English name or by code", "[sim]") {
  for (const char* name : {"天河区", "天河", "Tianhe", "tianhe", "440106"}) {
    INFO(name);
    absl::StatusOr<Scenario> scenario =
        ParseScenario(std::string("district_weight { district: \"") + name + "\" weight: 1 }",
                      "names", Guangzhou());
    REQUIRE(scenario.ok());
    REQUIRE(scenario->district_weights.size() == 1);
    CHECK(scenario->district_weights[0].district == 440106);
  }
}

TEST_CASE("surge clock times resolve to their first occurrence after the start", "[sim]") {
  absl::StatusOr<Scenario> scenario = ParseScenario(
      R"(start: "2026-07-15 22:00" duration_minutes: 480
         surge { start: "23:30" end: "02:00" rate_multiplier: 2 }
         surge { start: "01:00" end: "24:00" }
         surge { start: "2026-07-16 03:00" }
         hourly_curve: [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])",
      "clock", Guangzhou());
  REQUIRE(scenario.ok());
  const auto at = [](int day, int hour, int minute) {
    return absl::FromCivil(absl::CivilMinute(2026, 7, day, hour, minute), GuangzhouTime());
  };
  REQUIRE(scenario->surges.size() == 3);
  CHECK(scenario->surges[0].start == at(15, 23, 30));
  CHECK(scenario->surges[0].end == at(16, 2, 0));
  CHECK(scenario->surges[0].name == "surge 1");
  CHECK(scenario->surges[1].start == at(16, 1, 0));
  CHECK(scenario->surges[1].end == at(17, 0, 0));
  CHECK(scenario->surges[2].start == at(16, 3, 0));
  CHECK(scenario->surges[2].end == scenario->end());
  CHECK(scenario->hourly_curve[7] == 1);  // normalised to mean 1
  // A whole-city surge doubles the rate for its 2.5 hours.
  CHECK(ExpectedAlerts(*scenario, Guangzhou()) == Approx(83.3 * (8 + 2.5)));
}

TEST_CASE("a bad scenario names the file and the key", "[sim]") {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {R"(surge { district: "Atlantis" })", "surge[0].district[0]: 'Atlantis' is not a district"},
      {R"(district_weight { district: "Gotham" weight: 1 })", "district_weight[0].district"},
      {R"(category_mix { category: "earthquake" weight: 1 })", "category_mix[0].category"},
      {R"(category_mix { category: "fire" weight: -1 })", "category_mix[0].weight"},
      {R"(level_mix { level: "V" weight: 1 })", "level_mix[0].level: 'V'"},
      {"base_alerts_per_hour: -5", "base_alerts_per_hour: must be"},
      {"duration_minutes: 0", "duration_minutes: must be"},
      {R"(start: "tomorrow")", "start: 'tomorrow'"},
      {R"(surge { start: "2026-07-15 18:00" end: "2026-07-15 17:00" })", "surge[0].end"},
      {R"(surge { start: "25:00" })", "surge[0].start"},
      {"surge { rate_multiplier: -1 }", "surge[0].rate_multiplier"},
      {"hourly_curve: [1, 2]", "hourly_curve: has 2 values"},
      {"repeat_report_share: 1.5", "repeat_report_share"},
      {"place_jitter_m: -1", "place_jitter_m"},
      {"responders { decline_share: 0.7 silence_share: 0.5 }", "responders.silence_share"},
      {"responders { on_scene_minutes_min: 30 on_scene_minutes_max: 20 }",
       "responders.on_scene_minutes_max"},
      {"no_such_key: 1", "line 1:"},
      {R"(base_alerts_per_hour: "lots")", "line 1:"},
      {R"(name: "unterminated)", "line 1:"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    absl::StatusOr<Scenario> scenario = ParseScenario(c.text, "bad.textproto", Guangzhou());
    REQUIRE_FALSE(scenario.ok());
    CHECK(scenario.status().code() == absl::StatusCode::kInvalidArgument);
    const std::string message(scenario.status().message());
    INFO(message);
    CHECK(message.rfind("bad.textproto: ", 0) == 0);
    CHECK(message.find(c.expected) != std::string::npos);
  }
}

TEST_CASE("reading a scenario file names the file in its errors", "[sim]") {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("gz_scenario_test_" + std::to_string(testing::TestSeed()) + ".textproto");
  {
    std::ofstream out(path);
    out << "# a planner's typo\nsurge {\n  district: \"Tianhe\"\n  rate_multiplier: 2x\n}\n";
  }
  absl::StatusOr<Scenario> scenario = ReadScenario(path.string(), Guangzhou());
  std::filesystem::remove(path);
  REQUIRE_FALSE(scenario.ok());
  const std::string message(scenario.status().message());
  INFO(message);
  CHECK(message.rfind(path.string() + ": line 4:", 0) == 0);

  absl::StatusOr<Scenario> missing = ReadScenario("/nonexistent/scenario.textproto", Guangzhou());
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(missing.status().message()).find("/nonexistent/scenario.textproto") !=
        std::string::npos);
}

}  // namespace
}  // namespace gz::sim
