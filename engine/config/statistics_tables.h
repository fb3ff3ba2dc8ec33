// Readers for the two statistics tables in config/ (sources in config/README.md):
//   guangzhou_districts_population.csv  official area and resident population per district
//   guangzhou_streets_list.csv          the 174 street/town-level units and their districts
//
// Columns are found by header name, so extra or reordered columns are fine. A missing column, a bad
// value or a duplicate code is InvalidArgument naming the file, line and field; a missing file is
// NotFound.
//
// Thread-safety: plain functions with no shared state.

#ifndef ENGINE_CONFIG_STATISTICS_TABLES_H_
#define ENGINE_CONFIG_STATISTICS_TABLES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/units/unit.h"

namespace gz {

struct DistrictFacts {
  DistrictCode code = 0;
  std::string name_zh;           // 荔湾区
  std::string name_en;           // Liwan
  double official_area_km2 = 0;  // use for density; polygon areas include water and differ
  int64_t population = 0;        // resident population, end of 2023
};

// Reads columns adcode, name_zh, name_en, area_km2_official, pop_2023_yearend, in file order.
// The city-total row (a code ending in "00", which is a prefecture, not a district) is skipped.
absl::StatusOr<std::vector<DistrictFacts>> ReadDistrictFactsCsv(const std::string& path);

struct StreetFacts {
  int64_t town_code = 0;   // national statistics code, e.g. 440103001
  std::string name_zh;     // 沙面街道
  std::string short_name;  // 沙面
  std::string type;        // "street", "town" or "special_unit"
  DistrictCode district = 0;
};

// Reads columns town_code, name_zh, short_name, type, district_adcode, in file order.
absl::StatusOr<std::vector<StreetFacts>> ReadStreetsCsv(const std::string& path);

}  // namespace gz

#endif  // ENGINE_CONFIG_STATISTICS_TABLES_H_
