#include "engine/geo/district_map.h"

#include <algorithm>
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
}

const District* DistrictMap::DistrictAt(PlanePoint p) const {
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
  // A linear scan of ~170 seeds costs well under a microsecond, cheaper than the polygon test
  // above. Zones are sorted by id and only a strictly nearer seed replaces the best, so ties go to
  // the lowest id. A district without zones yields nullopt.
  std::optional<ZoneId> best;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (const Zone& zone : zones_) {
    if (zone.district != district.code) continue;
    const double dx = zone.seed.x - p.x;
    const double dy = zone.seed.y - p.y;
    const double d2 = dx * dx + dy * dy;
    if (d2 < best_d2) {
      best_d2 = d2;
      best = zone.id;
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
