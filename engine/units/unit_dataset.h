// The unit and zone datasets as CSV files (config/guangzhou_units.csv, config/guangzhou_zones.csv).
//
// Units file, one unit per line after the header:
//   id,name,kind,travel_mode,district,zone,lon,lat,members,on_post
// `kind` and `travel_mode` are the names from unit.h (UnitKindName, TravelModeName); lon/lat are
// WGS84 degrees written with 6 decimals (about 0.1 m). Names must not contain commas or line
// breaks: the format has no quoting.
//
// Zones file:
//   zone_id,district,name_zh,seed_lon,seed_lat,synthetic
// `synthetic` is 0 or 1. Seeds are stored as lon/lat and projected to plane metres on reading.
//
// Readers check every row and fail with InvalidArgument naming the file, the line number and the
// bad field; they never return a partial dataset. A missing file is NotFound. Lines may end in
// \r\n; blank lines are skipped. Writers produce the exact bytes the generator's reproducibility
// test compares.
//
// Thread-safety: plain functions with no shared state.

#ifndef ENGINE_UNITS_UNIT_DATASET_H_
#define ENGINE_UNITS_UNIT_DATASET_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/geo/district_map.h"
#include "engine/geo/projection.h"
#include "engine/units/unit.h"

namespace gz {

inline constexpr char kUnitsCsvHeader[] =
    "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post";
inline constexpr char kZonesCsvHeader[] = "zone_id,district,name_zh,seed_lon,seed_lat,synthetic";

// Reads units in file order. Each row must have: id > 0 and unique, a non-empty name, a known kind
// other than "unspecified", a known travel mode, district > 0, zone > 0, lon in [-180, 180], lat in
// [-90, 90], members >= 1, 0 <= on_post <= members. Status is left at kAvailable. Whether the
// district, zone and position agree with a map is the caller's check (see LoadCityData).
absl::StatusOr<std::vector<Unit>> ReadUnitsCsv(const std::string& path);

// The same, and `check` is called on each unit as it is read; the first row it refuses (in file
// order, with parse errors) is the error returned as it is. Repeated ids are looked for only once
// every row has parsed and passed the check. Large files are read on two threads,
// so `check` must be safe to call concurrently. Checking while parsing keeps a caller's per-unit
// checks (against the district map) on both cores: at 2.3M units they cost a tenth of a start.
using UnitCheck = std::function<absl::Status(const Unit&)>;
absl::StatusOr<std::vector<Unit>> ReadUnitsCsv(const std::string& path, const UnitCheck& check);

// Writes the header and one row per unit, in the given order, overwriting `path`.
// Fails with InvalidArgument (nothing written) if a name is empty or contains a comma or line
// break.
absl::Status WriteUnitsCsv(const std::vector<Unit>& units, const std::string& path);

// Reads zones in file order; seeds are projected with `projection`. Each row must have: zone_id > 0
// and unique, district > 0, a non-empty name without commas, seed lon/lat in range, synthetic 0
// or 1.
absl::StatusOr<std::vector<Zone>> ReadZonesCsv(const std::string& path,
                                               const LocalProjection& projection);

// Writes the header and one row per zone, seeds converted back to lon/lat with `projection`.
// Fails with InvalidArgument (nothing written) if a name is empty or contains a comma or line
// break.
absl::Status WriteZonesCsv(const std::vector<Zone>& zones, const LocalProjection& projection,
                           const std::string& path);

// `position` rounded exactly as the CSV files store it (6 decimals), so that a generator can place
// points with the precision a reader will see.
LonLat RoundToStoredPrecision(LonLat position);

}  // namespace gz

#endif  // ENGINE_UNITS_UNIT_DATASET_H_
