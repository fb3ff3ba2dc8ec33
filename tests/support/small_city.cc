#include "tests/support/small_city.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "engine/config/city_data.h"
#include "engine/units/unit_dataset.h"

namespace gz::testing {

SmallCity MakeSmallCity(const std::vector<double>& unit_offsets_m, int frontline,
                        int ack_deadline_s) {
  namespace fs = std::filesystem;
  char dir_template[] = "/tmp/gz-dispatch-test-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) throw std::runtime_error("mkdtemp failed");
  SmallCity city;
  city.config_dir = dir_template;
  for (const char* file :
       {kDistrictsGeoJsonFile, kDistrictPopulationFile, kStreetsListFile, kZonesFile}) {
    fs::copy_file(ConfigPath(DISPATCH_CONFIG_DIR, file), ConfigPath(city.config_dir, file));
  }
  absl::StatusOr<CityData> real = LoadCityData(DISPATCH_CONFIG_DIR);
  if (!real.ok()) throw std::runtime_error(std::string(real.status().message()));
  const LocalProjection& projection = real->projection;
  city.alert_point = RoundToStoredPrecision(LocalProjection::kGuangzhouOrigin);
  const PlanePoint origin = projection.ToPlane(city.alert_point);
  std::vector<Unit> units;
  for (size_t i = 0; i < unit_offsets_m.size(); ++i) {
    Unit u;
    u.id = static_cast<UnitId>(i + 1);
    u.name = absl::StrCat("test unit ", u.id);
    u.kind = UnitKind::kShop;
    u.mode = TravelMode::kOnFoot;
    u.position =
        RoundToStoredPrecision(projection.ToLonLat({origin.x + unit_offsets_m[i], origin.y}));
    const PlanePoint plane = projection.ToPlane(u.position);
    u.district = real->map->DistrictAt(plane)->code;
    u.zone = *real->map->ZoneAt(plane);
    u.members = 10;
    u.on_post = 2;
    units.push_back(u);
    city.units.push_back(u.id);
  }
  if (absl::Status s = WriteUnitsCsv(units, ConfigPath(city.config_dir, kUnitsFile)); !s.ok()) {
    throw std::runtime_error(std::string(s.message()));
  }
  std::ofstream policy(ConfigPath(city.config_dir, "dispatch.textproto"));
  for (const char* category : {"fire", "medical", "public_security", "traffic", "natural_disaster",
                               "hazmat", "crowd", "rescue"}) {
    for (const char* level : {"IV", "III", "II", "I"}) {
      policy << "plan { category: \"" << category << "\" level: \"" << level
             << "\" frontline_units: " << frontline
             << " frontline_ring_seconds: 60 assembly_headcount: 0 assembly_ring_seconds: 60"
             << " ack_deadline_seconds: " << ack_deadline_s << " }\n";
    }
  }
  return city;
}

}  // namespace gz::testing
