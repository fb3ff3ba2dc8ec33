#include "engine/geo/district_map.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace gz {
namespace {

// Result of walking one ring's edges against a point.
struct RingTest {
  bool on_boundary = false;  // `p` lies exactly on an edge or vertex
  bool inside = false;       // even-odd crossing parity; meaningful only when !on_boundary
};

// True if `p` lies on the closed segment [a, b]. REQUIRES: p.y is within [min(a.y, b.y), max(a.y,
// b.y)] (the caller has already checked it). Exact: a zero cross product, no tolerance, so a point
// is on an edge only if the arithmetic says so; edges and vertices given as input always are.
bool OnSegment(PlanePoint a, PlanePoint b, PlanePoint p) {
  if (p.x < std::min(a.x, b.x) || p.x > std::max(a.x, b.x)) return false;
  const double cross = (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
  return cross == 0.0;
}

// One pass over the ring: the boundary test and the crossing count share the same cheap rejection
// (an edge entirely above or below `p` can neither touch it nor be crossed by its ray).
RingTest TestRing(const Ring& ring, PlanePoint p) {
  RingTest result;
  const size_t n = ring.size();
  if (n < 3) return result;
  for (size_t i = 0, j = n - 1; i < n; j = i++) {
    const PlanePoint a = ring[j];
    const PlanePoint b = ring[i];
    if ((a.y < p.y && b.y < p.y) || (a.y > p.y && b.y > p.y)) continue;
    if (OnSegment(a, b, p)) {
      result.on_boundary = true;
      return result;
    }
    // Half-open rule (one endpoint strictly above, the other not) counts each vertex once and
    // ignores horizontal edges.
    if ((a.y > p.y) != (b.y > p.y)) {
      const double x_cross = a.x + (p.y - a.y) * (b.x - a.x) / (b.y - a.y);
      if (p.x < x_cross) result.inside = !result.inside;
    }
  }
  return result;
}

bool InBoundingBox(const District& d, PlanePoint p) {
  return p.x >= d.min_x && p.x <= d.max_x && p.y >= d.min_y && p.y <= d.max_y;
}

void ComputeBoundingBox(District& d) {
  double min_x = std::numeric_limits<double>::infinity();
  double min_y = min_x;
  double max_x = -min_x;
  double max_y = -min_x;
  for (const Polygon& polygon : d.polygons) {
    for (const Ring& ring : polygon.rings) {
      for (const PlanePoint& v : ring) {
        min_x = std::min(min_x, v.x);
        min_y = std::min(min_y, v.y);
        max_x = std::max(max_x, v.x);
        max_y = std::max(max_y, v.y);
      }
    }
  }
  if (min_x > max_x) {  // no vertices: an empty box that contains nothing
    min_x = min_y = 1;
    max_x = max_y = 0;
  }
  d.min_x = min_x;
  d.min_y = min_y;
  d.max_x = max_x;
  d.max_y = max_y;
}

}  // namespace

bool PolygonContains(const Polygon& polygon, PlanePoint p) {
  if (polygon.rings.empty()) return false;
  // Every ring is walked before deciding, because a point on a hole's edge is on the boundary (and
  // so inside) even though it is not strictly inside the outer ring's interior minus the hole.
  bool inside = false;
  for (size_t r = 0; r < polygon.rings.size(); ++r) {
    const RingTest test = TestRing(polygon.rings[r], p);
    if (test.on_boundary) return true;
    if (r == 0) {
      inside = test.inside;
    } else if (test.inside) {
      inside = false;  // strictly inside a hole
    }
  }
  return inside;
}

DistrictMap::DistrictMap(std::vector<District> districts, std::vector<Zone> zones)
    : districts_(std::move(districts)), zones_(std::move(zones)) {
  std::sort(districts_.begin(), districts_.end(),
            [](const District& a, const District& b) { return a.code < b.code; });
  for (District& d : districts_) ComputeBoundingBox(d);
  std::sort(zones_.begin(), zones_.end(), [](const Zone& a, const Zone& b) { return a.id < b.id; });
  seeds_of_district_.resize(districts_.size());
  for (const Zone& zone : zones_) {
    if (const District* d = FindDistrict(zone.district); d != nullptr) {
      seeds_of_district_[d - districts_.data()].push_back({zone.seed, zone.id});
    }
  }
  BuildGrid();
}

void DistrictMap::BuildGrid() {
  double min_x = std::numeric_limits<double>::infinity(), min_y = min_x;
  double max_x = -min_x, max_y = -min_x;
  for (const District& d : districts_) {
    if (d.min_x > d.max_x) continue;  // no vertices
    min_x = std::min(min_x, d.min_x);
    min_y = std::min(min_y, d.min_y);
    max_x = std::max(max_x, d.max_x);
    max_y = std::max(max_y, d.max_y);
  }
  if (min_x > max_x || districts_.size() >= static_cast<size_t>(INT16_MAX)) return;  // no grid
  const double size = kGridCellMetres;
  grid_x_ = min_x - size;  // a margin of one cell all round
  grid_y_ = min_y - size;
  grid_cols_ = static_cast<int>(std::floor((max_x - grid_x_) / size)) + 2;
  grid_rows_ = static_cast<int>(std::floor((max_y - grid_y_) / size)) + 2;
  const auto cell_index = [&](int col, int row) {
    return static_cast<size_t>(row) * grid_cols_ + col;
  };
  constexpr int16_t kUnknown = -3;
  grid_.assign(static_cast<size_t>(grid_cols_) * grid_rows_, kUnknown);

  // 1. Every cell an edge's bounding box touches (widened a little, so rounding can only add
  // border cells) is a border cell.
  const double slack = 1e-6 * size;
  for (const District& d : districts_) {
    for (const Polygon& polygon : d.polygons) {
      for (const Ring& ring : polygon.rings) {
        for (size_t i = 0, j = ring.size() - 1; i < ring.size(); j = i++) {
          const PlanePoint a = ring[j], b = ring[i];
          const int c0 =
              static_cast<int>(std::floor((std::min(a.x, b.x) - slack - grid_x_) / size));
          const int c1 =
              static_cast<int>(std::floor((std::max(a.x, b.x) + slack - grid_x_) / size));
          const int r0 =
              static_cast<int>(std::floor((std::min(a.y, b.y) - slack - grid_y_) / size));
          const int r1 =
              static_cast<int>(std::floor((std::max(a.y, b.y) + slack - grid_y_) / size));
          for (int r = std::max(r0, 0); r <= std::min(r1, grid_rows_ - 1); ++r) {
            for (int c = std::max(c0, 0); c <= std::min(c1, grid_cols_ - 1); ++c) {
              grid_[cell_index(c, r)] = kBorderCell;
            }
          }
        }
      }
    }
  }

  // 2. No edge crosses a non-border cell, nor the side it shares with a non-border neighbour, so a
  // connected region of them is all inside one district or all outside: test one cell centre per
  // region and flood the answer.
  std::vector<std::pair<int, int>> stack;
  for (int row = 0; row < grid_rows_; ++row) {
    for (int col = 0; col < grid_cols_; ++col) {
      if (grid_[cell_index(col, row)] != kUnknown) continue;
      const PlanePoint centre{grid_x_ + (col + 0.5) * size, grid_y_ + (row + 0.5) * size};
      const District* d = DistrictAtByPolygons(centre);
      const int16_t value =
          d == nullptr ? kOutsideCell : static_cast<int16_t>(d - districts_.data());
      grid_[cell_index(col, row)] = value;
      stack.assign(1, {col, row});
      while (!stack.empty()) {
        const auto [c, r] = stack.back();
        stack.pop_back();
        const std::pair<int, int> next[] = {{c + 1, r}, {c - 1, r}, {c, r + 1}, {c, r - 1}};
        for (const auto& [nc, nr] : next) {
          if (nc < 0 || nr < 0 || nc >= grid_cols_ || nr >= grid_rows_) continue;
          int16_t& cell = grid_[cell_index(nc, nr)];
          if (cell != kUnknown) continue;
          cell = value;
          stack.push_back({nc, nr});
        }
      }
    }
  }
}

const District* DistrictMap::DistrictAt(PlanePoint p) const {
  if (!grid_.empty()) {
    const double fc = std::floor((p.x - grid_x_) / kGridCellMetres);
    const double fr = std::floor((p.y - grid_y_) / kGridCellMetres);
    // Beyond the grid (or NaN): outside every district's bounding box.
    if (!(fc >= 0 && fr >= 0 && fc < grid_cols_ && fr < grid_rows_)) return nullptr;
    const int16_t cell = grid_[static_cast<size_t>(fr) * grid_cols_ + static_cast<size_t>(fc)];
    if (cell == kOutsideCell) return nullptr;
    if (cell >= 0) return &districts_[cell];
  }
  return DistrictAtByPolygons(p);
}

const District* DistrictMap::DistrictAtByPolygons(PlanePoint p) const {
  // Code order makes the first hit the documented winner on a shared border.
  for (const District& d : districts_) {
    if (!InBoundingBox(d, p)) continue;
    for (const Polygon& polygon : d.polygons) {
      if (PolygonContains(polygon, p)) return &d;
    }
  }
  return nullptr;
}

std::optional<ZoneId> DistrictMap::ZoneAt(PlanePoint p) const {
  const District* district = DistrictAt(p);
  if (district == nullptr) return std::nullopt;
  return ZoneIn(*district, p);
}

std::optional<ZoneId> DistrictMap::ZoneIn(const District& district, PlanePoint p) const {
  // A linear scan of the district's seeds (a dozen or two), in id order; only a strictly nearer
  // seed replaces the best, so ties go to the lowest id. Every alert asks: scanning all of the
  // city's ~170 seeds for the district's was 3% of the core's instructions (callgrind,
  // decision_bench).
  const District* own = FindDistrict(district.code);
  if (own == nullptr) return std::nullopt;
  std::optional<ZoneId> best;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (const auto& [seed, id] : seeds_of_district_[own - districts_.data()]) {
    const double dx = seed.x - p.x;
    const double dy = seed.y - p.y;
    const double d2 = dx * dx + dy * dy;
    if (d2 < best_d2) {
      best_d2 = d2;
      best = id;
    }
  }
  return best;
}

const District* DistrictMap::FindDistrict(DistrictCode code) const {
  auto it = std::lower_bound(districts_.begin(), districts_.end(), code,
                             [](const District& d, DistrictCode c) { return d.code < c; });
  if (it == districts_.end() || it->code != code) return nullptr;
  return &*it;
}

const Zone* DistrictMap::FindZone(ZoneId id) const {
  auto it = std::lower_bound(zones_.begin(), zones_.end(), id,
                             [](const Zone& z, ZoneId i) { return z.id < i; });
  if (it == zones_.end() || it->id != id) return nullptr;
  return &*it;
}

}  // namespace gz
