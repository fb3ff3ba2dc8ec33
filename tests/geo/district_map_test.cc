#include "engine/geo/district_map.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/config/city_data.h"
#include "tests/support/guangzhou.h"
#include "tests/support/test_seed.h"

namespace gz {
namespace {

// An axis-aligned rectangle as a one-ring polygon, counter-clockwise.
Polygon Rectangle(double x0, double y0, double x1, double y1) {
  return Polygon{{Ring{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}}};
}

District MakeDistrict(DistrictCode code, std::vector<Polygon> polygons) {
  District district;
  district.code = code;
  district.name_en = "D" + std::to_string(code);
  district.polygons = std::move(polygons);
  return district;
}

Zone MakeZone(ZoneId id, DistrictCode district, PlanePoint seed) {
  Zone zone;
  zone.id = id;
  zone.district = district;
  zone.name_zh = "Z" + std::to_string(id);
  zone.seed = seed;
  return zone;
}

// Two districts side by side sharing the edge x = 10:
//
//   y=10 +---------+---------+
//        |   200   |   100   |
//        |  [hole] |         |
//   y=0  +---------+---------+
//        x=0      x=10      x=20
//
// District 200 (listed first on purpose) has a hole [4,6] x [4,6]. Codes are deliberately given out
// of order so the map's sorting is exercised.
DistrictMap TwoDistrictMap(std::vector<Zone> zones = {}) {
  Polygon with_hole = Rectangle(0, 0, 10, 10);
  with_hole.rings.push_back(Ring{{4, 4}, {4, 6}, {6, 6}, {6, 4}});
  std::vector<District> districts;
  districts.push_back(MakeDistrict(200, {with_hole}));
  districts.push_back(MakeDistrict(100, {Rectangle(10, 0, 20, 10)}));
  return DistrictMap(std::move(districts), std::move(zones));
}

DistrictCode CodeAt(const DistrictMap& map, PlanePoint p) {
  const District* district = map.DistrictAt(p);
  return district == nullptr ? 0 : district->code;
}

TEST_CASE("a polygon contains its interior points and not points outside", "[geo]") {
  const Polygon square = Rectangle(0, 0, 10, 10);
  CHECK(PolygonContains(square, {5, 5}));
  CHECK(PolygonContains(square, {0.001, 9.999}));
  CHECK_FALSE(PolygonContains(square, {-0.001, 5}));
  CHECK_FALSE(PolygonContains(square, {5, 10.001}));
  CHECK_FALSE(PolygonContains(square, {20, 20}));
  CHECK_FALSE(PolygonContains(Polygon{}, {0, 0}));
}

TEST_CASE("a point on a polygon edge or vertex is inside", "[geo]") {
  const Polygon square = Rectangle(0, 0, 10, 10);
  CHECK(PolygonContains(square, {5, 0}));   // bottom edge (horizontal)
  CHECK(PolygonContains(square, {10, 3}));  // right edge (vertical)
  CHECK(PolygonContains(square, {0, 7}));   // left edge
  CHECK(PolygonContains(square, {0, 0}));   // vertices
  CHECK(PolygonContains(square, {10, 10}));
  const Polygon triangle{{Ring{{0, 0}, {8, 0}, {0, 8}}}};
  CHECK(PolygonContains(triangle, {4, 4}));  // on the diagonal edge, exactly representable
  CHECK_FALSE(PolygonContains(triangle, {4.5, 4}));
  // On the line through an edge but beyond its end is not on the boundary.
  CHECK_FALSE(PolygonContains(triangle, {-4, 12}));
}

TEST_CASE("a concave polygon excludes the points of its notch", "[geo]") {
  // A U shape: the notch [4,6] x [4,10] is open at the top.
  const Polygon u_shape{
      {Ring{{0, 0}, {10, 0}, {10, 10}, {6, 10}, {6, 4}, {4, 4}, {4, 10}, {0, 10}}}};
  CHECK(PolygonContains(u_shape, {2, 8}));
  CHECK(PolygonContains(u_shape, {8, 8}));
  CHECK(PolygonContains(u_shape, {5, 2}));
  CHECK_FALSE(PolygonContains(u_shape, {5, 8}));
  CHECK(PolygonContains(u_shape, {5, 4}));  // the notch's floor is boundary
  // A ray from here passes through the vertices (6,10) and (10,10) along the top edge.
  CHECK_FALSE(PolygonContains(u_shape, {5, 10}));
}

TEST_CASE("a point strictly inside a hole is outside but the hole's edge is inside", "[geo]") {
  const DistrictMap map = TwoDistrictMap();
  CHECK(CodeAt(map, {5, 5}) == 0);
  CHECK(CodeAt(map, {4.5, 5.5}) == 0);
  CHECK(CodeAt(map, {4, 5}) == 200);  // on the hole's edge
  CHECK(CodeAt(map, {6, 6}) == 200);  // on the hole's vertex
  CHECK(CodeAt(map, {3, 5}) == 200);  // beside the hole
  CHECK(CodeAt(map, {5, 7}) == 200);
}

TEST_CASE("a point on a border shared by two districts belongs to exactly the lower code",
          "[geo]") {
  const DistrictMap map = TwoDistrictMap();
  CHECK(CodeAt(map, {10, 5}) == 100);   // shared edge
  CHECK(CodeAt(map, {10, 0}) == 100);   // shared vertex
  CHECK(CodeAt(map, {10, 10}) == 100);  // shared vertex
  CHECK(CodeAt(map, {9.999, 5}) == 200);
  CHECK(CodeAt(map, {10.001, 5}) == 100);
  CHECK(CodeAt(map, {21, 5}) == 0);
  CHECK(CodeAt(map, {10, 11}) == 0);
}

TEST_CASE("the map sorts districts by code and zones by id and finds them", "[geo]") {
  const DistrictMap map = TwoDistrictMap({MakeZone(7, 100, {15, 5}), MakeZone(3, 200, {2, 2})});
  REQUIRE(map.districts().size() == 2);
  CHECK(map.districts()[0].code == 100);
  CHECK(map.districts()[1].code == 200);
  CHECK(map.districts()[1].min_x == 0);
  CHECK(map.districts()[1].max_y == 10);
  REQUIRE(map.zones().size() == 2);
  CHECK(map.zones()[0].id == 3);
  CHECK(map.zones()[1].id == 7);
  REQUIRE(map.FindDistrict(200) != nullptr);
  CHECK(map.FindDistrict(200)->name_en == "D200");
  CHECK(map.FindDistrict(150) == nullptr);
  REQUIRE(map.FindZone(7) != nullptr);
  CHECK(map.FindZone(7)->district == 100);
  CHECK(map.FindZone(5) == nullptr);
  CHECK(map.Contains({1, 1}));
  CHECK_FALSE(map.Contains({-1, 1}));
}

TEST_CASE("a point's zone is the nearest seed of its own district", "[geo]") {
  const DistrictMap map = TwoDistrictMap({
      MakeZone(1, 200, {1, 1}),
      MakeZone(2, 200, {9, 9}),
      MakeZone(3, 100, {11, 5}),  // nearer to (9, 5) than zone 2, but in the other district
      MakeZone(4, 100, {19, 9}),
  });
  CHECK(map.ZoneAt({2, 2}) == ZoneId{1});
  CHECK(map.ZoneAt({8, 7}) == ZoneId{2});
  CHECK(map.ZoneAt({9, 5}) == ZoneId{2});
  CHECK(map.ZoneAt({12, 4}) == ZoneId{3});
  CHECK(map.ZoneAt({18, 9}) == ZoneId{4});
  CHECK(map.ZoneAt({10, 5}) == ZoneId{3});      // the border point goes to district 100
  CHECK_FALSE(map.ZoneAt({5, 5}).has_value());  // in the hole
  CHECK_FALSE(map.ZoneAt({30, 5}).has_value());
}

TEST_CASE("a point equidistant from two seeds goes to the lower zone id", "[geo]") {
  // Zones are given highest id first, so the answer cannot come from input order.
  const DistrictMap map = TwoDistrictMap({MakeZone(9, 100, {12, 5}), MakeZone(4, 100, {18, 5})});
  CHECK(map.ZoneAt({15, 5}) == ZoneId{4});
  CHECK(map.ZoneAt({15, 9}) == ZoneId{4});
  CHECK(map.ZoneAt({14.9, 5}) == ZoneId{9});
}

TEST_CASE("a district without zones has no zone at its points", "[geo]") {
  const DistrictMap map = TwoDistrictMap({MakeZone(1, 200, {1, 1})});
  CHECK(map.ZoneAt({15, 5}) == std::nullopt);
  CHECK(map.ZoneAt({1, 2}) == ZoneId{1});
}

TEST_CASE("a multipolygon district contains points of each of its parts", "[geo]") {
  std::vector<District> districts;
  districts.push_back(MakeDistrict(1, {Rectangle(0, 0, 1, 1), Rectangle(5, 5, 6, 6)}));
  const DistrictMap map(std::move(districts), {});
  CHECK(CodeAt(map, {0.5, 0.5}) == 1);
  CHECK(CodeAt(map, {5.5, 5.5}) == 1);
  CHECK(CodeAt(map, {3, 3}) == 0);  // inside the bounding box, between the parts
}

// The real Guangzhou map, loaded once for all the tests below.
const CityData& Guangzhou() { return testing::GuangzhouDefault(); }

DistrictCode CodeAt(const CityData& city, LonLat p) {
  return CodeAt(*city.map, city.projection.ToPlane(p));
}

TEST_CASE("Guangzhou's district centroids land in their own districts", "[geo]") {
  // WGS84 centroids from the GeoJSON's properties.
  const std::vector<std::pair<DistrictCode, LonLat>> centroids = {
      {440103, {113.222458, 23.090721}}, {440104, {113.275988, 23.135645}},
      {440105, {113.321263, 23.084619}}, {440106, {113.370415, 23.162402}},
      {440111, {113.318525, 23.291932}}, {440112, {113.502899, 23.219534}},
      {440113, {113.401413, 22.976156}}, {440114, {113.209395, 23.445318}},
      {440115, {113.539163, 22.739553}}, {440117, {113.675301, 23.679975}},
      {440118, {113.759062, 23.343661}},
  };
  const CityData& city = Guangzhou();
  REQUIRE(city.map->districts().size() == 11);
  for (const auto& [code, centroid] : centroids) {
    INFO("district " << code);
    CHECK(CodeAt(city, centroid) == code);
    CHECK(city.map->FindDistrict(code) != nullptr);
  }
  CHECK(city.map->FindDistrict(440104)->name_zh == "越秀区");
  CHECK(city.map->FindDistrict(440104)->name_en == "Yuexiu");
  CHECK(CodeAt(city, LocalProjection::kGuangzhouOrigin) == 440104);  // Haizhu Square is in Yuexiu
}

TEST_CASE("points beyond Guangzhou are outside the service area", "[geo]") {
  const CityData& city = Guangzhou();
  CHECK(CodeAt(city, {113.70, 22.45}) == 0);  // the sea south of Nansha
  CHECK(CodeAt(city, {113.12, 23.02}) == 0);  // Foshan
  CHECK(CodeAt(city, {113.75, 23.02}) == 0);  // Dongguan
  CHECK_FALSE(city.map->ZoneAt(city.projection.ToPlane({113.70, 22.45})).has_value());
}

TEST_CASE("a vertex shared by Liwan and Yuexiu belongs to Liwan only", "[geo]") {
  const CityData& city = Guangzhou();
  const PlanePoint shared = city.projection.ToPlane({113.236772, 23.158783});
  CHECK(PolygonContains(city.map->FindDistrict(440103)->polygons[0], shared));
  CHECK(PolygonContains(city.map->FindDistrict(440104)->polygons[0], shared));
  CHECK(CodeAt(*city.map, shared) == 440103);
}

TEST_CASE("every Guangzhou zone seed lies in its district and is its own nearest seed", "[geo]") {
  const CityData& city = Guangzhou();
  REQUIRE(city.map->zones().size() == 174);
  for (const Zone& zone : city.map->zones()) {
    INFO("zone " << zone.id);
    CHECK(zone.synthetic);
    CHECK(CodeAt(*city.map, zone.seed) == zone.district);
    CHECK(city.map->ZoneAt(zone.seed) == zone.id);
  }
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

// The answer by the polygons alone, in the documented order (lowest code first on a shared edge).
DistrictCode CodeByPolygons(const DistrictMap& map, PlanePoint p) {
  for (const District& d : map.districts()) {
    for (const Polygon& polygon : d.polygons) {
      if (PolygonContains(polygon, p)) return d.code;
    }
  }
  return 0;
}

TEST_CASE("the lookup grid answers exactly as the polygon test across Guangzhou", "[geo]") {
  const CityData& city = Guangzhou();
  const DistrictMap& map = *city.map;
  double min_x = 1e18, min_y = 1e18, max_x = -1e18, max_y = -1e18;
  for (const District& d : map.districts()) {
    min_x = std::min(min_x, d.min_x);
    min_y = std::min(min_y, d.min_y);
    max_x = std::max(max_x, d.max_x);
    max_y = std::max(max_y, d.max_y);
  }
  std::mt19937_64 random(testing::TestSeed());
  std::uniform_real_distribution<double> x(min_x - 2000, max_x + 2000);
  std::uniform_real_distribution<double> y(min_y - 2000, max_y + 2000);
  int inside = 0;
  for (int i = 0; i < 20000; ++i) {
    const PlanePoint p{x(random), y(random)};
    const DistrictCode expected = CodeByPolygons(map, p);
    inside += expected != 0;
    INFO("point (" << p.x << ", " << p.y << ")");
    REQUIRE(CodeAt(map, p) == expected);
  }
  CHECK(inside > 5000);  // the sample reaches well inside the city, not only its surroundings
  // Every vertex and every edge midpoint: the places where a cell is on a border.
  int checked = 0;
  for (const District& d : map.districts()) {
    for (const Polygon& polygon : d.polygons) {
      for (const Ring& ring : polygon.rings) {
        for (size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
          const PlanePoint mid{(ring[i].x + ring[j].x) / 2, (ring[i].y + ring[j].y) / 2};
          REQUIRE(CodeAt(map, ring[i]) == CodeByPolygons(map, ring[i]));
          REQUIRE(CodeAt(map, mid) == CodeByPolygons(map, mid));
          checked += 2;
        }
      }
    }
  }
  CHECK(checked > 1000);
}

}  // namespace
}  // namespace gz
