// unit_generator: writes the synthetic street zones and unit set into config/.
//
//   unit_generator [--config_dir=DIR] [--out_dir=DIR] [--units=23000] [--members=290000]
//                  [--seed=20240401]
//
// Reads the district boundaries, the population table and the streets list from --config_dir and
// writes guangzhou_zones.csv and guangzhou_units.csv into --out_dir. Same inputs and flags, same
// bytes: the random numbers come from our own xoshiro256** and our own sampling code (never std::
// distributions, whose output differs between standard libraries), and every point is rounded to
// the stored precision before it is tested, so the files describe exactly what was checked.
//
// The data is SYNTHETIC: public data gives the number of streets/towns per district, the population
// and the area, but no street boundaries and no unit list. Rules:
//   zones  one per entry of the streets list (ids 1.. in list order), seeded uniformly inside the
//          district; a point's zone is the nearest seed in its district (DistrictMap::ZoneAt).
//   units  per district in proportion to 0.8 * population share + 0.2 * official-area share
//          (largest remainder, so the total is exact). Three in four cluster around a zone seed
//          with a spread that grows as density falls; the rest are uniform over the district.
//   people on post 2 or 3; members split by kind-dependent weights so the total is exactly
//   --members.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/config/city_data.h"
#include "engine/config/geojson_districts.h"
#include "engine/config/statistics_tables.h"
#include "engine/geo/district_map.h"
#include "engine/geo/projection.h"
#include "engine/units/unit.h"
#include "engine/units/unit_dataset.h"
#include "simulators/random.h"

#ifndef DISPATCH_CONFIG_DIR
#define DISPATCH_CONFIG_DIR "config"
#endif

ABSL_FLAG(std::string, config_dir, DISPATCH_CONFIG_DIR,
          "directory holding the district GeoJSON, population table and streets list");
ABSL_FLAG(std::string, out_dir, DISPATCH_CONFIG_DIR,
          "directory to write guangzhou_zones.csv and guangzhou_units.csv into");
ABSL_FLAG(int32_t, units, 23000, "number of units to generate");
ABSL_FLAG(int64_t, members, 290000, "total members across all units");
ABSL_FLAG(uint64_t, seed, 20240401, "random seed; the same seed gives the same files");

namespace gz {
namespace {

using sim::Random;

// Independent streams, so that changing --units does not move the zones.
constexpr uint64_t kZoneStream = 1;
constexpr uint64_t kUnitStream = 2;

// ---------------------------------------------------------------------------------------------
// Unit mix.

struct KindProfile {
  UnitKind kind;
  const char* label_zh;  // used in unit names
  int share;             // per mille of units
  double member_weight;  // relative size of the membership
  int three_on_post;     // per cent of units with 3 (not 2) people on post
};

// Residential compounds and shops dominate; hospitals and transport hubs are rare but large.
constexpr std::array<KindProfile, 10> kKindProfiles{{
    {UnitKind::kResidentialCompound, "小区", 300, 13, 30},
    {UnitKind::kShop, "商铺", 270, 5, 20},
    {UnitKind::kEnterprise, "企业", 100, 15, 30},
    {UnitKind::kHotel, "酒店", 80, 12, 40},
    {UnitKind::kSchool, "学校", 70, 22, 60},
    {UnitKind::kMarket, "市场", 60, 14, 50},
    {UnitKind::kPublicVenue, "公共场所", 50, 16, 50},
    {UnitKind::kGovernmentOffice, "机关", 40, 12, 30},
    {UnitKind::kHospital, "医院", 20, 35, 70},
    {UnitKind::kTransportHub, "交通枢纽", 10, 30, 70},
}};

std::array<int, kKindProfiles.size()> KindShares() {
  std::array<int, kKindProfiles.size()> shares{};
  for (size_t i = 0; i < kKindProfiles.size(); ++i) shares[i] = kKindProfiles[i].share;
  return shares;
}

// Per cent on foot / bicycle or e-bike / vehicle. Outer districts are large and thinly settled,
// so more of their units drive.
std::array<int, kTravelModeCount> TravelModeShares(double density_per_km2) {
  if (density_per_km2 >= 15000) return {75, 22, 3};  // old city and Tianhe
  if (density_per_km2 >= 2000) return {62, 28, 10};  // Baiyun, Huangpu, Panyu
  return {50, 30, 20};                               // Huadu, Nansha, Conghua, Zengcheng
}

// Spread of a cluster around its zone seed: about 300 m in the densest districts, up to 1.5 km in
// the sparsest.
double ClusterSigmaMetres(double density_per_km2) {
  return std::clamp(40000.0 / std::sqrt(density_per_km2), 300.0, 1500.0);
}

constexpr int kClusteredPerCent = 75;
constexpr int kMaxPlacementAttempts = 1000000;

// ---------------------------------------------------------------------------------------------

// Splits `total` into integers proportional to `weights` (largest remainder; ties to the lower
// index), so the parts sum to exactly `total`.
std::vector<int64_t> LargestRemainder(int64_t total, const std::vector<double>& weights) {
  double weight_sum = 0;
  for (double w : weights) weight_sum += w;
  std::vector<int64_t> parts(weights.size());
  std::vector<std::pair<double, size_t>> remainders;
  int64_t assigned = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double quota = static_cast<double>(total) * weights[i] / weight_sum;
    parts[i] = static_cast<int64_t>(std::floor(quota));
    assigned += parts[i];
    remainders.push_back({quota - static_cast<double>(parts[i]), i});
  }
  std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  for (size_t k = 0; assigned < total && k < remainders.size(); ++k, ++assigned) {
    ++parts[remainders[k].second];
  }
  return parts;
}

// A plane point as it will be stored (6-decimal lon/lat) and read back.
PlanePoint Stored(const LocalProjection& projection, PlanePoint p) {
  return projection.ToPlane(RoundToStoredPrecision(projection.ToLonLat(p)));
}

bool IsIn(const DistrictMap& map, PlanePoint p, DistrictCode code) {
  const District* district = map.DistrictAt(p);
  return district != nullptr && district->code == code;
}

// A uniform point of `district` (rejection sampling in its bounding box).
absl::StatusOr<PlanePoint> UniformPointIn(const DistrictMap& map, const District& district,
                                          const LocalProjection& projection, Random& random) {
  for (int attempt = 0; attempt < kMaxPlacementAttempts; ++attempt) {
    const PlanePoint p = Stored(projection, {random.Uniform(district.min_x, district.max_x),
                                             random.Uniform(district.min_y, district.max_y)});
    if (IsIn(map, p, district.code)) return p;
  }
  return absl::InternalError(absl::StrCat("cannot place a point in district ", district.code));
}

// A point of `district` near `centre` (a 2-D gaussian, rejected until inside the district).
absl::StatusOr<PlanePoint> ClusteredPointIn(const DistrictMap& map, const District& district,
                                            PlanePoint centre, double sigma,
                                            const LocalProjection& projection, Random& random) {
  for (int attempt = 0; attempt < kMaxPlacementAttempts; ++attempt) {
    const auto [dx, dy] = random.NormalPair();
    const PlanePoint p = Stored(projection, {centre.x + sigma * dx, centre.y + sigma * dy});
    if (IsIn(map, p, district.code)) return p;
  }
  return absl::InternalError(absl::StrCat("cannot place a point in district ", district.code));
}

struct Inputs {
  std::vector<District> districts;  // sorted by code
  std::vector<DistrictFacts> facts;
  std::vector<StreetFacts> streets;  // list order = zone order
};

absl::StatusOr<Inputs> ReadInputs(const std::string& config_dir,
                                  const LocalProjection& projection) {
  Inputs inputs;
  const std::string population_path = ConfigPath(config_dir, kDistrictPopulationFile);
  absl::StatusOr<std::vector<District>> districts = ReadDistrictsGeoJson(
      ConfigPath(config_dir, kDistrictsGeoJsonFile), population_path, projection);
  if (!districts.ok()) return districts.status();
  inputs.districts = *std::move(districts);
  absl::StatusOr<std::vector<DistrictFacts>> facts = ReadDistrictFactsCsv(population_path);
  if (!facts.ok()) return facts.status();
  inputs.facts = *std::move(facts);
  absl::StatusOr<std::vector<StreetFacts>> streets =
      ReadStreetsCsv(ConfigPath(config_dir, kStreetsListFile));
  if (!streets.ok()) return streets.status();
  inputs.streets = *std::move(streets);
  return inputs;
}

// One zone per street, seeded uniformly inside its district.
absl::StatusOr<std::vector<Zone>> GenerateZones(const Inputs& inputs, const DistrictMap& bare_map,
                                                const LocalProjection& projection, uint64_t seed) {
  Random random(seed, kZoneStream);
  std::vector<Zone> zones;
  for (size_t i = 0; i < inputs.streets.size(); ++i) {
    const StreetFacts& street = inputs.streets[i];
    const District* district = bare_map.FindDistrict(street.district);
    if (district == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("street ", street.town_code,
                                                     " names district ", street.district,
                                                     ", which has no boundary"));
    }
    absl::StatusOr<PlanePoint> seed_point = UniformPointIn(bare_map, *district, projection, random);
    if (!seed_point.ok()) return seed_point.status();
    Zone zone;
    zone.id = static_cast<ZoneId>(i + 1);
    zone.district = street.district;
    zone.name_zh = street.name_zh;
    zone.seed = *seed_point;
    zone.synthetic = true;
    zones.push_back(std::move(zone));
  }
  return zones;
}

struct DistrictPlan {
  const District* district;
  double density_per_km2;
  int64_t units;
};

absl::StatusOr<std::vector<DistrictPlan>> PlanDistricts(const Inputs& inputs,
                                                        const DistrictMap& map, int32_t units) {
  double population_total = 0;
  double area_total = 0;
  for (const DistrictFacts& f : inputs.facts) {
    population_total += static_cast<double>(f.population);
    area_total += f.official_area_km2;
  }
  std::vector<DistrictPlan> plans;
  std::vector<double> weights;
  for (const District& district : map.districts()) {
    const auto f = std::find_if(inputs.facts.begin(), inputs.facts.end(),
                                [&](const DistrictFacts& x) { return x.code == district.code; });
    if (f == inputs.facts.end()) {
      return absl::InvalidArgumentError(absl::StrCat("no population for ", district.code));
    }
    const double population = static_cast<double>(f->population);
    plans.push_back({&district, population / f->official_area_km2, 0});
    // Population alone would leave the outer districts thin; a fifth by area keeps them covered.
    weights.push_back(0.8 * population / population_total +
                      0.2 * f->official_area_km2 / area_total);
  }
  const std::vector<int64_t> counts = LargestRemainder(units, weights);
  for (size_t i = 0; i < plans.size(); ++i) plans[i].units = counts[i];
  return plans;
}

// Everything about the units except their members, which are split once all exist.
absl::StatusOr<std::vector<Unit>> PlaceUnits(const std::vector<DistrictPlan>& plans,
                                             const Inputs& inputs, const DistrictMap& map,
                                             const LocalProjection& projection, uint64_t seed,
                                             std::vector<double>& member_weights) {
  Random random(seed, kUnitStream);
  const auto kind_shares = KindShares();
  std::vector<Unit> units;
  for (const DistrictPlan& plan : plans) {
    const District& district = *plan.district;
    std::vector<const Zone*> zones;
    for (const Zone& zone : map.zones()) {
      if (zone.district == district.code) zones.push_back(&zone);
    }
    const double sigma = ClusterSigmaMetres(plan.density_per_km2);
    const auto mode_shares = TravelModeShares(plan.density_per_km2);
    for (int64_t n = 1; n <= plan.units; ++n) {
      absl::StatusOr<PlanePoint> position =
          static_cast<int>(random.Below(100)) < kClusteredPerCent
              ? ClusteredPointIn(map, district, zones[random.Below(zones.size())]->seed, sigma,
                                 projection, random)
              : UniformPointIn(map, district, projection, random);
      if (!position.ok()) return position.status();
      const std::optional<ZoneId> zone = map.ZoneAt(*position);
      if (!zone.has_value()) return absl::InternalError("a placed unit has no zone");

      const KindProfile& profile = kKindProfiles[random.Pick(kind_shares)];
      Unit unit;
      unit.id = static_cast<UnitId>(units.size() + 1);
      unit.kind = profile.kind;
      unit.mode = static_cast<TravelMode>(random.Pick(mode_shares));
      // *position came from stored text; rounding again recovers that exact text.
      unit.position = RoundToStoredPrecision(projection.ToLonLat(*position));
      unit.district = district.code;
      unit.zone = *zone;
      unit.on_post = static_cast<int>(random.Below(100)) < profile.three_on_post ? 3 : 2;
      unit.name = absl::StrFormat("%s·%s %s #%04d", district.name_zh,
                                  inputs.streets[*zone - 1].short_name, profile.label_zh, n);
      units.push_back(std::move(unit));
      // Sizes vary by half either way around the kind's typical size.
      member_weights.push_back(profile.member_weight * random.Uniform(0.5, 1.5));
    }
  }
  return units;
}

void PrintSummary(const std::vector<DistrictPlan>& plans, const std::vector<Unit>& units,
                  const std::vector<Zone>& zones, const std::string& out_dir) {
  std::map<DistrictCode, std::array<int64_t, 3 + kTravelModeCount>> per_district;
  for (const Unit& unit : units) {
    auto& row = per_district[unit.district];
    row[0] += 1;
    row[1] += unit.members;
    row[2] += unit.on_post;
    row[3 + static_cast<int>(unit.mode)] += 1;
  }
  std::map<DistrictCode, int> zone_counts;
  for (const Zone& zone : zones) ++zone_counts[zone.district];

  // Chinese names go last: their display width would break the column alignment.
  absl::PrintF("%-8s %-10s %6s %7s %8s %8s %6s %8s %8s  %s\n", "code", "district", "zones", "units",
               "members", "on_post", "foot", "bicycle", "vehicle", "名称");
  std::array<int64_t, 3 + kTravelModeCount> total{};
  for (const DistrictPlan& plan : plans) {
    const auto& row = per_district[plan.district->code];
    for (size_t i = 0; i < total.size(); ++i) total[i] += row[i];
    absl::PrintF("%-8d %-10s %6d %7d %8d %8d %6d %8d %8d  %s\n", plan.district->code,
                 plan.district->name_en, zone_counts[plan.district->code], row[0], row[1], row[2],
                 row[3], row[4], row[5], plan.district->name_zh);
  }
  absl::PrintF("%-8s %-10s %6d %7d %8d %8d %6d %8d %8d\n", "total", "", zones.size(), total[0],
               total[1], total[2], total[3], total[4], total[5]);
  absl::PrintF("wrote %s and %s (synthetic)\n", ConfigPath(out_dir, kZonesFile),
               ConfigPath(out_dir, kUnitsFile));
}

absl::Status Run() {
  const std::string config_dir = absl::GetFlag(FLAGS_config_dir);
  const std::string out_dir = absl::GetFlag(FLAGS_out_dir);
  const int32_t unit_count = absl::GetFlag(FLAGS_units);
  const int64_t member_total = absl::GetFlag(FLAGS_members);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (unit_count <= 0) return absl::InvalidArgumentError("--units must be positive");
  // Every unit needs at least its (at most 3) people on post.
  if (member_total < 3 * static_cast<int64_t>(unit_count)) {
    return absl::InvalidArgumentError("--members must be at least 3 * --units");
  }

  const LocalProjection projection;
  absl::StatusOr<Inputs> inputs = ReadInputs(config_dir, projection);
  if (!inputs.ok()) return inputs.status();

  // Seeds are placed with a map that has no zones yet; only its district lookup is used.
  const DistrictMap bare_map(inputs->districts, {});
  absl::StatusOr<std::vector<Zone>> zones = GenerateZones(*inputs, bare_map, projection, seed);
  if (!zones.ok()) return zones.status();
  const DistrictMap map(inputs->districts, *zones);
  for (const District& district : map.districts()) {
    if (std::none_of(zones->begin(), zones->end(),
                     [&](const Zone& z) { return z.district == district.code; })) {
      return absl::InvalidArgumentError(
          absl::StrCat("district ", district.code, " has no entry in the streets list"));
    }
  }

  absl::StatusOr<std::vector<DistrictPlan>> plans = PlanDistricts(*inputs, map, unit_count);
  if (!plans.ok()) return plans.status();
  std::vector<double> member_weights;
  absl::StatusOr<std::vector<Unit>> units =
      PlaceUnits(*plans, *inputs, map, projection, seed, member_weights);
  if (!units.ok()) return units.status();

  // Members = people on post + a share of the rest by weight, so the total is exact and no unit has
  // fewer members than people on post.
  int64_t on_post_total = 0;
  for (const Unit& unit : *units) on_post_total += unit.on_post;
  const std::vector<int64_t> extra = LargestRemainder(member_total - on_post_total, member_weights);
  for (size_t i = 0; i < units->size(); ++i) {
    (*units)[i].members = (*units)[i].on_post + static_cast<int32_t>(extra[i]);
  }

  std::error_code error;
  std::filesystem::create_directories(out_dir, error);
  if (error) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", out_dir, ": ", error.message()));
  }
  absl::Status status = WriteZonesCsv(*zones, projection, ConfigPath(out_dir, kZonesFile));
  if (!status.ok()) return status;
  status = WriteUnitsCsv(*units, ConfigPath(out_dir, kUnitsFile));
  if (!status.ok()) return status;
  PrintSummary(*plans, *units, *zones, out_dir);
  return absl::OkStatus();
}

}  // namespace
}  // namespace gz

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Generates the synthetic street zones and unit set (guangzhou_zones.csv, "
      "guangzhou_units.csv) from the district boundaries, population table and streets list.\n"
      "Usage: unit_generator [--config_dir=DIR] [--out_dir=DIR] [--units=N] [--members=N] "
      "[--seed=N]");
  absl::ParseCommandLine(argc, argv);
  const absl::Status status = gz::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "unit_generator: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
