// Estimated travel time: straight-line distance x detour factor / the unit's speed.
//
// Ranking by travel time rather than distance is what puts a vehicle 2 km away ahead of a walker
// 800 m away. A travel-time ring of T seconds is the set of units with estimated travel time <= T.

#ifndef ENGINE_GEO_TRAVEL_MODEL_H_
#define ENGINE_GEO_TRAVEL_MODEL_H_

#include <algorithm>
#include <array>

#include "engine/units/unit.h"

namespace gz {

struct TravelModel {
  // Streets are not straight lines: 1.3 is a common urban network/Euclidean ratio.
  double detour_factor = 1.3;
  // Metres per second, indexed by TravelMode: walking briskly, e-bike in traffic, car in city
  // traffic.
  std::array<double, kTravelModeCount> speed_mps{1.4, 4.0, 8.0};

  double Speed(TravelMode mode) const { return speed_mps[static_cast<int>(mode)]; }

  double TravelSeconds(double distance_m, TravelMode mode) const {
    return distance_m * detour_factor / Speed(mode);
  }

  // The straight-line radius a unit of `mode` can cover within `seconds`.
  double ReachMetres(double seconds, TravelMode mode) const {
    return seconds * Speed(mode) / detour_factor;
  }

  // The widest ReachMetres over the modes.
  double MaxReachMetres(double seconds) const {
    double reach = 0;
    for (int m = 0; m < kTravelModeCount; ++m) {
      reach = std::max(reach, ReachMetres(seconds, static_cast<TravelMode>(m)));
    }
    return reach;
  }

  bool operator==(const TravelModel&) const = default;
};

}  // namespace gz

#endif  // ENGINE_GEO_TRAVEL_MODEL_H_
