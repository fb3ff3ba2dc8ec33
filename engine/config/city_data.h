// Everything the engine needs to know about the city, loaded from a config directory: the
// projection, the district/zone map and the unit dataset.
//
// Files read from `config_dir` (described in config/README.md):
//   guangzhou_districts_wgs84.geojson   district boundaries
//   guangzhou_districts_population.csv  district names (and statistics, unused here)
//   guangzhou_zones.csv                 synthetic street/town zones
//   guangzhou_units.csv                 the (synthetic) unit set
//
// Thread-safety: CityData is plain data; the map is immutable and safe to share once loaded.

#ifndef ENGINE_CONFIG_CITY_DATA_H_
#define ENGINE_CONFIG_CITY_DATA_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/geo/district_map.h"
#include "engine/geo/projection.h"
#include "engine/units/unit.h"

namespace gz {

inline constexpr char kDistrictsGeoJsonFile[] = "guangzhou_districts_wgs84.geojson";
inline constexpr char kDistrictPopulationFile[] = "guangzhou_districts_population.csv";
inline constexpr char kStreetsListFile[] = "guangzhou_streets_list.csv";
inline constexpr char kZonesFile[] = "guangzhou_zones.csv";
inline constexpr char kUnitsFile[] = "guangzhou_units.csv";

struct CityData {
  LocalProjection projection;        // Guangzhou's default origin
  std::unique_ptr<DistrictMap> map;  // never null after a successful load
  std::vector<Unit> units;           // in file order
};

// Loads and cross-checks the dataset. Besides each reader's own checks, fails with InvalidArgument
// (naming the file and the zone or unit) unless:
//   - every zone's district exists, its seed lies in that district, and every district has a zone;
//   - every unit lies inside the service area, in the district it names, and its zone exists and
//     belongs to that district.
// A unit's zone is not required to equal map->ZoneAt(position): an operator may attach a unit to a
// neighbouring zone by hand. NotFound if a file is missing.
absl::StatusOr<CityData> LoadCityData(const std::string& config_dir);

// `config_dir` joined with `file_name`.
std::string ConfigPath(const std::string& config_dir, const std::string& file_name);

}  // namespace gz

#endif  // ENGINE_CONFIG_CITY_DATA_H_
