#include "engine/config/city_data.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/config/geojson_districts.h"
#include "engine/units/unit_dataset.h"

namespace gz {
namespace {

std::string FormatLonLat(LonLat p) { return absl::StrFormat("(%.6f, %.6f)", p.lon, p.lat); }

absl::Status CheckZones(const DistrictMap& map, const LocalProjection& projection,
                        const std::string& zones_path) {
  absl::flat_hash_set<DistrictCode> districts_with_zones;
  for (const Zone& zone : map.zones()) {
    const std::string where = absl::StrCat(zones_path, ": zone ", zone.id);
    if (map.FindDistrict(zone.district) == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": district ", zone.district, " is not in the map"));
    }
    const District* at_seed = map.DistrictAt(zone.seed);
    if (at_seed == nullptr || at_seed->code != zone.district) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": seed ",
                                                     FormatLonLat(projection.ToLonLat(zone.seed)),
                                                     " is not inside district ", zone.district));
    }
    districts_with_zones.insert(zone.district);
  }
  for (const District& district : map.districts()) {
    if (!districts_with_zones.contains(district.code)) {
      return absl::InvalidArgumentError(absl::StrCat(zones_path, ": district ", district.code, " ",
                                                     district.name_zh, " has no zone"));
    }
  }
  return absl::OkStatus();
}

// The checks a unit needs the map for. Called on the CSV reader's threads: reads only.
absl::Status CheckUnit(const DistrictMap& map, const LocalProjection& projection, const Unit& unit,
                       const std::string& units_path) {
  // The place is built only for a message: at 2.3M units a string per unit costs more than the
  // checks.
  const auto where = [&] { return absl::StrCat(units_path, ": unit ", unit.id); };
  const District* at_position = map.DistrictAt(projection.ToPlane(unit.position));
  if (at_position == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        where(), ": position ", FormatLonLat(unit.position), " is outside the service area"));
  }
  if (at_position->code != unit.district) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": names district ", unit.district, " but its position ",
                     FormatLonLat(unit.position), " is in ", at_position->code));
  }
  const Zone* zone = map.FindZone(unit.zone);
  if (zone == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where(), ": zone ", unit.zone, " does not exist"));
  }
  if (zone->district != unit.district) {
    return absl::InvalidArgumentError(absl::StrCat(where(), ": zone ", unit.zone, " belongs to ",
                                                   zone->district, ", not ", unit.district));
  }
  return absl::OkStatus();
}

}  // namespace

std::string ConfigPath(const std::string& config_dir, const std::string& file_name) {
  if (config_dir.empty()) return file_name;
  if (absl::EndsWith(config_dir, "/")) return absl::StrCat(config_dir, file_name);
  return absl::StrCat(config_dir, "/", file_name);
}

absl::StatusOr<CityData> LoadCityData(const std::string& config_dir) {
  CityData city;
  absl::StatusOr<std::vector<District>> districts =
      ReadDistrictsGeoJson(ConfigPath(config_dir, kDistrictsGeoJsonFile),
                           ConfigPath(config_dir, kDistrictPopulationFile), city.projection);
  if (!districts.ok()) return districts.status();

  const std::string zones_path = ConfigPath(config_dir, kZonesFile);
  absl::StatusOr<std::vector<Zone>> zones = ReadZonesCsv(zones_path, city.projection);
  if (!zones.ok()) return zones.status();

  // DistrictMap REQUIRES known districts; check that before building it, the rest after.
  absl::flat_hash_set<DistrictCode> codes;
  for (const District& d : *districts) codes.insert(d.code);
  for (const Zone& zone : *zones) {
    if (!codes.contains(zone.district)) {
      return absl::InvalidArgumentError(absl::StrCat(zones_path, ": zone ", zone.id, ": district ",
                                                     zone.district, " is not in the map"));
    }
  }
  city.map = std::make_unique<DistrictMap>(*std::move(districts), *std::move(zones));
  absl::Status status = CheckZones(*city.map, city.projection, zones_path);
  if (!status.ok()) return status;

  const std::string units_path = ConfigPath(config_dir, kUnitsFile);
  const DistrictMap& map = *city.map;
  const LocalProjection& projection = city.projection;
  absl::StatusOr<std::vector<Unit>> units = ReadUnitsCsv(
      units_path, [&](const Unit& unit) { return CheckUnit(map, projection, unit, units_path); });
  if (!units.ok()) return units.status();
  city.units = *std::move(units);
  return city;
}

}  // namespace gz
