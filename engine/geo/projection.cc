#include "engine/geo/projection.h"

#include <cmath>
#include <numbers>

namespace gz {
namespace {
// IUGG mean Earth radius.
constexpr double kEarthRadiusMetres = 6371008.8;
constexpr double kRadiansPerDegree = std::numbers::pi / 180.0;
}  // namespace

LocalProjection::LocalProjection(LonLat origin)
    : origin_(origin),
      metres_per_degree_lon_(kEarthRadiusMetres * kRadiansPerDegree *
                             std::cos(origin.lat * kRadiansPerDegree)),
      metres_per_degree_lat_(kEarthRadiusMetres * kRadiansPerDegree) {}

PlanePoint LocalProjection::ToPlane(LonLat p) const {
  return {(p.lon - origin_.lon) * metres_per_degree_lon_,
          (p.lat - origin_.lat) * metres_per_degree_lat_};
}

LonLat LocalProjection::ToLonLat(PlanePoint p) const {
  return {origin_.lon + p.x / metres_per_degree_lon_, origin_.lat + p.y / metres_per_degree_lat_};
}

double Distance(PlanePoint a, PlanePoint b) {
  // Not std::hypot: this is on every query's hot path and the coordinates never overflow.
  const double dx = a.x - b.x;
  const double dy = a.y - b.y;
  return std::sqrt(dx * dx + dy * dy);
}

}  // namespace gz
