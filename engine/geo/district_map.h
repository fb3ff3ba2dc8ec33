// The service area: Guangzhou's 11 districts as polygons in plane metres, and the street/town zones
// inside them.
//
// Street zones are synthetic (no public 街镇 boundaries exist): each zone is the Voronoi cell of a
// seed point inside its district, restricted to that district. A point's zone is the nearest seed
// of the district that contains it.
//
// Boundary rule: a point on a polygon edge or vertex is inside. Where two districts share an edge,
// the point belongs to the district listed first (districts are kept sorted by code), so every
// point has exactly one answer.
//
// Lookups go through a uniform grid over the service area (kGridCellMetres): a cell that no
// polygon edge touches lies wholly inside one district or wholly outside, and answers at once; only
// points in cells an edge crosses pay for the polygon test. The answers are exactly those of the
// polygon test (the grid is only a cache of it).
//
// Thread-safety: immutable after construction; safe to share.

#ifndef ENGINE_GEO_DISTRICT_MAP_H_
#define ENGINE_GEO_DISTRICT_MAP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/geo/projection.h"
#include "engine/units/unit.h"

namespace gz {

// One closed ring; the last vertex is not repeated.
using Ring = std::vector<PlanePoint>;

// A polygon: the first ring is the outer boundary, the rest are holes.
struct Polygon {
  std::vector<Ring> rings;
};

struct District {
  DistrictCode code = 0;
  std::string name_zh;                                // e.g. 荔湾区
  std::string name_en;                                // e.g. Liwan
  int64_t population = 0;                             // resident population (0: unknown)
  std::vector<Polygon> polygons;                      // a multipolygon
  double min_x = 0, min_y = 0, max_x = 0, max_y = 0;  // bounding box, filled by DistrictMap
};

struct Zone {
  ZoneId id = 0;
  DistrictCode district = 0;
  std::string name_zh;  // the street/town whose count this synthetic zone stands for
  PlanePoint seed;
  bool synthetic = true;
};

class DistrictMap {
 public:
  // REQUIRES: every zone's district is one of `districts`; district codes and zone ids are unique.
  DistrictMap(std::vector<District> districts, std::vector<Zone> zones);

  // The district containing `p`, or nullptr outside the service area.
  const District* DistrictAt(PlanePoint p) const;

  // The zone containing `p`: nearest seed (ties: lowest id) within DistrictAt(p); nullopt outside.
  std::optional<ZoneId> ZoneAt(PlanePoint p) const;
  // The same when the district is already known (saves the polygon test): the nearest seed of
  // `district`, or nullopt if it has no zones.
  std::optional<ZoneId> ZoneIn(const District& district, PlanePoint p) const;

  bool Contains(PlanePoint p) const { return DistrictAt(p) != nullptr; }

  const std::vector<District>& districts() const { return districts_; }
  const std::vector<Zone>& zones() const { return zones_; }
  const District* FindDistrict(DistrictCode code) const;
  const Zone* FindZone(ZoneId id) const;

  // Side of a grid cell. 250 m keeps the grid near 300k cells (600 KB) for Guangzhou with under
  // a tenth of them on a border.
  static constexpr double kGridCellMetres = 250.0;

 private:
  // The exact answer, without the grid.
  const District* DistrictAtByPolygons(PlanePoint p) const;
  void BuildGrid();

  std::vector<District> districts_;  // sorted by code
  std::vector<Zone> zones_;          // sorted by id
  // Each district's zone seeds (parallel to districts_), in id order.
  std::vector<std::vector<std::pair<PlanePoint, ZoneId>>> seeds_of_district_;

  // Cell (col, row) covers [grid_x_ + col*size, +size) x [grid_y_ + row*size, +size).
  // kBorderCell: an edge touches it, test the polygons; kOutsideCell: no district; otherwise the
  // index into districts_.
  static constexpr int16_t kBorderCell = -1;
  static constexpr int16_t kOutsideCell = -2;
  double grid_x_ = 0, grid_y_ = 0;
  int grid_cols_ = 0, grid_rows_ = 0;
  std::vector<int16_t> grid_;
};

// True if `p` is inside `polygon` or on its boundary.
bool PolygonContains(const Polygon& polygon, PlanePoint p);

}  // namespace gz

#endif  // ENGINE_GEO_DISTRICT_MAP_H_
