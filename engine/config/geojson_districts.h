// Reads the district boundaries (config/guangzhou_districts_wgs84.geojson) into plane polygons.
//
// The GeoJSON is a FeatureCollection with one feature per district: `properties.adcode` is the
// district code, `geometry` a Polygon or MultiPolygon of WGS84 lon/lat rings (outer ring first,
// then holes). Closing vertices that repeat the first are dropped, as Ring requires. Names (zh/en)
// and the population come from the population CSV (config/guangzhou_districts_population.csv),
// which must list every code.
//
// Parsing goes through protobuf's JSON parser into google::protobuf::Struct, so no JSON library is
// needed; protobuf stays inside this library, out of the core.
//
// Thread-safety: a plain function with no shared state.

#ifndef ENGINE_CONFIG_GEOJSON_DISTRICTS_H_
#define ENGINE_CONFIG_GEOJSON_DISTRICTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/geo/district_map.h"
#include "engine/geo/projection.h"

namespace gz {

// Districts sorted by code, polygons projected with `projection`; bounding boxes are left for
// DistrictMap to fill. InvalidArgument (naming the file and the feature) for malformed JSON, an
// unsupported geometry, a ring with fewer than 3 vertices, a duplicate code or a code missing from
// the population CSV; NotFound if a file is missing.
absl::StatusOr<std::vector<District>> ReadDistrictsGeoJson(const std::string& geojson_path,
                                                           const std::string& population_csv_path,
                                                           const LocalProjection& projection);

}  // namespace gz

#endif  // ENGINE_CONFIG_GEOJSON_DISTRICTS_H_
