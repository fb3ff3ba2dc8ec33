// Local equirectangular projection around Guangzhou's centre.
//
// Lon/lat (WGS84 degrees) stay on the wire; everything spatial inside the engine works in metres on
// a plane tangent near the city centre. Over the city's extent (about 22.5°N to 23.95°N) the
// east-west scale error stays under 0.5%, far below the uncertainty of a travel-time estimate.
//
// Thread-safety: stateless after construction; safe to share.

#ifndef ENGINE_GEO_PROJECTION_H_
#define ENGINE_GEO_PROJECTION_H_

namespace gz {

// A WGS84 position in degrees.
struct LonLat {
  double lon = 0;
  double lat = 0;
  bool operator==(const LonLat&) const = default;
};

// A position in metres east (x) and north (y) of the projection origin.
struct PlanePoint {
  double x = 0;
  double y = 0;
  bool operator==(const PlanePoint&) const = default;
};

class LocalProjection {
 public:
  // Guangzhou's centre (Haizhu Square), the default origin.
  static constexpr LonLat kGuangzhouOrigin{113.2644, 23.1291};

  explicit LocalProjection(LonLat origin = kGuangzhouOrigin);

  PlanePoint ToPlane(LonLat p) const;
  LonLat ToLonLat(PlanePoint p) const;

  LonLat origin() const { return origin_; }

 private:
  LonLat origin_;
  double metres_per_degree_lon_;
  double metres_per_degree_lat_;
};

// Straight-line distance in metres between two plane points. Every radius and ring test in the
// engine uses this one function, so a point exactly on a boundary gets the same answer everywhere.
double Distance(PlanePoint a, PlanePoint b);

}  // namespace gz

#endif  // ENGINE_GEO_PROJECTION_H_
