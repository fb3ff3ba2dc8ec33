#include "engine/config/geojson_districts.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/config/statistics_tables.h"

namespace gz {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

// The member `name` of `object` if present and of `kind`, else nullptr.
const Value* Member(const Struct& object, const std::string& name, Value::KindCase kind) {
  auto it = object.fields().find(name);
  if (it == object.fields().end() || it->second.kind_case() != kind) return nullptr;
  return &it->second;
}

// Walks one feature; `where` prefixes every error ("path: feature 3").
class FeatureReader {
 public:
  FeatureReader(std::string where, const LocalProjection& projection)
      : where_(std::move(where)), projection_(projection) {}

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(where_, ": ", what));
  }

  absl::StatusOr<DistrictCode> Code(const Struct& feature) {
    const Value* properties = Member(feature, "properties", Value::kStructValue);
    if (properties == nullptr) return Error("no 'properties' object");
    const Value* adcode = Member(properties->struct_value(), "adcode", Value::kNumberValue);
    if (adcode == nullptr) return Error("no numeric 'properties.adcode'");
    const double code = adcode->number_value();
    if (!(code > 0 && code < 1e9 && code == std::floor(code))) {
      return Error(absl::StrCat("adcode ", code, " is not a district code"));
    }
    where_ = absl::StrCat(where_, " (adcode ", static_cast<DistrictCode>(code), ")");
    return static_cast<DistrictCode>(code);
  }

  absl::StatusOr<std::vector<Polygon>> Polygons(const Struct& feature) const {
    const Value* geometry = Member(feature, "geometry", Value::kStructValue);
    if (geometry == nullptr) return Error("no 'geometry' object");
    const Value* type = Member(geometry->struct_value(), "type", Value::kStringValue);
    const Value* coordinates = Member(geometry->struct_value(), "coordinates", Value::kListValue);
    if (type == nullptr || coordinates == nullptr) {
      return Error("geometry needs a 'type' string and a 'coordinates' array");
    }
    std::vector<Polygon> polygons;
    if (type->string_value() == "Polygon") {
      absl::StatusOr<Polygon> polygon = ReadPolygon(coordinates->list_value());
      if (!polygon.ok()) return polygon.status();
      polygons.push_back(*std::move(polygon));
    } else if (type->string_value() == "MultiPolygon") {
      for (const Value& item : coordinates->list_value().values()) {
        if (item.kind_case() != Value::kListValue)
          return Error("a MultiPolygon member is not an array");
        absl::StatusOr<Polygon> polygon = ReadPolygon(item.list_value());
        if (!polygon.ok()) return polygon.status();
        polygons.push_back(*std::move(polygon));
      }
    } else {
      return Error(absl::StrCat("geometry type \"", type->string_value(),
                                "\" is not Polygon or MultiPolygon"));
    }
    if (polygons.empty()) return Error("geometry has no polygons");
    return polygons;
  }

 private:
  absl::StatusOr<Polygon> ReadPolygon(const ListValue& rings) const {
    Polygon polygon;
    for (const Value& item : rings.values()) {
      if (item.kind_case() != Value::kListValue) return Error("a polygon ring is not an array");
      absl::StatusOr<Ring> ring = ReadRing(item.list_value());
      if (!ring.ok()) return ring.status();
      polygon.rings.push_back(*std::move(ring));
    }
    if (polygon.rings.empty()) return Error("a polygon has no rings");
    return polygon;
  }

  absl::StatusOr<Ring> ReadRing(const ListValue& positions) const {
    Ring ring;
    std::vector<LonLat> lonlats;
    for (const Value& item : positions.values()) {
      // A position is [lon, lat] or [lon, lat, altitude]; altitude is ignored.
      if (item.kind_case() != Value::kListValue || item.list_value().values_size() < 2 ||
          item.list_value().values(0).kind_case() != Value::kNumberValue ||
          item.list_value().values(1).kind_case() != Value::kNumberValue) {
        return Error("a position is not an array of numbers [lon, lat]");
      }
      const LonLat p{item.list_value().values(0).number_value(),
                     item.list_value().values(1).number_value()};
      if (!(std::abs(p.lon) <= 180 && std::abs(p.lat) <= 90)) {
        return Error(absl::StrCat("position [", p.lon, ", ", p.lat, "] is not WGS84 degrees"));
      }
      lonlats.push_back(p);
    }
    // GeoJSON repeats the first vertex at the end; Ring does not.
    if (lonlats.size() >= 2 && lonlats.front() == lonlats.back()) lonlats.pop_back();
    if (lonlats.size() < 3) return Error("a ring has fewer than 3 vertices");
    ring.reserve(lonlats.size());
    for (const LonLat& p : lonlats) ring.push_back(projection_.ToPlane(p));
    return ring;
  }

  std::string where_;
  const LocalProjection& projection_;
};

}  // namespace

absl::StatusOr<std::vector<District>> ReadDistrictsGeoJson(const std::string& geojson_path,
                                                           const std::string& population_csv_path,
                                                           const LocalProjection& projection) {
  absl::StatusOr<std::vector<DistrictFacts>> facts = ReadDistrictFactsCsv(population_csv_path);
  if (!facts.ok()) return facts.status();
  absl::flat_hash_map<DistrictCode, const DistrictFacts*> facts_by_code;
  for (const DistrictFacts& f : *facts) facts_by_code[f.code] = &f;

  std::ifstream in(geojson_path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", geojson_path, ": ", std::strerror(errno)));
  }
  std::ostringstream json;
  json << in.rdbuf();

  Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(json.str(), &root);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(geojson_path, ": not valid JSON: ", std::string(parsed.message())));
  }
  const Value* type = Member(root, "type", Value::kStringValue);
  const Value* features = Member(root, "features", Value::kListValue);
  if (type == nullptr || type->string_value() != "FeatureCollection" || features == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(geojson_path, ": not a GeoJSON FeatureCollection with a 'features' array"));
  }

  std::vector<District> districts;
  absl::flat_hash_set<DistrictCode> seen;
  for (int i = 0; i < features->list_value().values_size(); ++i) {
    FeatureReader reader(absl::StrCat(geojson_path, ": feature ", i), projection);
    const Value& feature = features->list_value().values(i);
    if (feature.kind_case() != Value::kStructValue) return reader.Error("not an object");

    absl::StatusOr<DistrictCode> code = reader.Code(feature.struct_value());
    if (!code.ok()) return code.status();
    if (!seen.insert(*code).second) return reader.Error("duplicate district code");
    auto f = facts_by_code.find(*code);
    if (f == facts_by_code.end()) {
      return reader.Error(absl::StrCat("code missing from ", population_csv_path));
    }
    absl::StatusOr<std::vector<Polygon>> polygons = reader.Polygons(feature.struct_value());
    if (!polygons.ok()) return polygons.status();

    District district;
    district.code = *code;
    district.name_zh = f->second->name_zh;
    district.name_en = f->second->name_en;
    district.population = f->second->population;
    district.polygons = *std::move(polygons);
    districts.push_back(std::move(district));
  }
  if (districts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(geojson_path, ": no features"));
  }
  std::sort(districts.begin(), districts.end(),
            [](const District& a, const District& b) { return a.code < b.code; });
  return districts;
}

}  // namespace gz
