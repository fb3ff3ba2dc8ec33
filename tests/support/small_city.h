// A small city for integration tests: the real districts and zones with a handful of units at known
// places around Haizhu Square (越秀区), written to a temporary config directory with a dispatch
// policy that has short deadlines.

#ifndef TESTS_SUPPORT_SMALL_CITY_H_
#define TESTS_SUPPORT_SMALL_CITY_H_

#include <string>
#include <vector>

#include "engine/geo/projection.h"
#include "engine/units/unit.h"

namespace gz::testing {

struct SmallCity {
  std::string config_dir;     // a fresh temporary directory
  LonLat alert_point;         // where alerts are raised
  std::vector<UnitId> units;  // ids 1..n, nearest to alert_point first (on foot, 2 on post)
};

// `unit_offsets_m`: how far east of the alert point each unit is (metres, increasing).
// The plan for every category and level: `frontline` units from the 1-minute ring, no assembly,
// `ack_deadline_s` to acknowledge, no escalation steps.
SmallCity MakeSmallCity(const std::vector<double>& unit_offsets_m, int frontline = 2,
                        int ack_deadline_s = 30);

}  // namespace gz::testing

#endif  // TESTS_SUPPORT_SMALL_CITY_H_
