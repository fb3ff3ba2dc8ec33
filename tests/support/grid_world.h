// A small world drawn as an ASCII map, for scenario tests of the dispatch core.
//
//   GridWorld world({
//       "A....",
//       "..*.B",
//   });
//
// Each character is one cell of `cell_m` metres (default 20 m), rows run north to south. Letters
// are units with 2 on post, named by their letter (unit ids are 1.. in reading order): upper case
// on foot, lower case on bicycle; '*' marks the alert point; '.' is empty.
//
// SmallTestConfig's travel model makes distances easy to read: no detour, on foot 1 m/s, bicycle
// 2 m/s, so the 1-minute ring reaches 3 cells on foot and 6 on a bicycle. The whole grid (plus a 1
// km margin) is one district, code 440100, split into two zones: zone 1 seeded at the west edge,
// zone 2 at the east edge.

#ifndef TESTS_SUPPORT_GRID_WORLD_H_
#define TESTS_SUPPORT_GRID_WORLD_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/dispatch/dispatch_core.h"

namespace gz::testing {

// A plan that keeps scenarios small: 2 frontline units from the 1-minute ring, no assembly, 30 s to
// acknowledge, no escalation steps; every category and level uses it. Travel: detour 1, on foot
// 1 m/s, bicycle 2 m/s, vehicle 4 m/s.
DispatchConfig SmallTestConfig();

class GridWorld {
 public:
  explicit GridWorld(const std::vector<std::string>& rows,
                     DispatchConfig config = SmallTestConfig(), double cell_m = 20);

  DispatchCore& core() { return *core_; }
  const DispatchCore& core() const { return *core_; }

  // The unit drawn as `name`. REQUIRES: the letter is on the map.
  UnitId unit(char name) const;
  // The letter of a unit id, '?' if none.
  char name(UnitId id) const;
  // The '*' cell. REQUIRES: the map has one.
  LonLat alert_point() const { return alert_point_; }
  // Lon/lat of cell (row, column) of the grid.
  LonLat Cell(double row, double column) const;
  absl::Time start() const { return start_; }

  // Applies a command at start() + offset; returns the events it caused (also kept in events()).
  std::vector<Event> Apply(absl::Duration offset, CommandBody body);
  // Raises an alert at the '*' point: category fire, level IV, reporter "test", a fresh sequence.
  std::vector<Event> RaiseAlertAtStar(absl::Duration offset = absl::ZeroDuration(),
                                      Category category = Category::kFire,
                                      Level level = Level::kIvGeneral);

  // Letters of the units with an AssignmentIssued in `events`, in issue order.
  std::string AssignedNames(const std::vector<Event>& events) const;
  // The assignment currently held by unit `name`, 0 if none.
  AssignmentId AssignmentOf(char name) const;

  const std::vector<Event>& events() const { return events_; }

 private:
  LocalProjection projection_;
  std::unique_ptr<DistrictMap> map_;
  std::unique_ptr<DispatchCore> core_;
  std::map<char, UnitId> units_;
  LonLat alert_point_;
  double cell_m_;
  absl::Time start_ = absl::FromUnixSeconds(1'767'225'600);  // 2026-01-01 00:00 UTC
  uint64_t next_sequence_ = 1;
  std::vector<Event> events_;
};

// The events of type T in `events`, in order.
template <typename T>
std::vector<T> EventsOf(const std::vector<Event>& events) {
  std::vector<T> out;
  for (const Event& e : events) {
    if (const T* t = std::get_if<T>(&e.body)) out.push_back(*t);
  }
  return out;
}

}  // namespace gz::testing

#endif  // TESTS_SUPPORT_GRID_WORLD_H_
