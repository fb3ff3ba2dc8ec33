// UnitRegistry: the live state of every unit (status, on-post headcount, position) and the spatial
// index over them. Units are addressed internally by slot (dense, 0..size-1, in load order) and on
// the wire by UnitId.
//
// A unit is offerable when it is available and has someone on post; only offerable units are ever
// proposed for an assignment.
//
// Thread-safety: none; owned by the dispatch core's thread.

#ifndef ENGINE_UNITS_UNIT_REGISTRY_H_
#define ENGINE_UNITS_UNIT_REGISTRY_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/geo/geo_index.h"
#include "engine/geo/projection.h"
#include "engine/geo/travel_model.h"
#include "engine/units/unit.h"

namespace gz {

class UnitRegistry {
 public:
  // Fails with InvalidArgument on a duplicate or zero id, or a negative headcount.
  static absl::StatusOr<std::unique_ptr<UnitRegistry>> Create(std::vector<Unit> units,
                                                              const LocalProjection& projection,
                                                              const TravelModel& travel);

  std::optional<Slot> SlotOf(UnitId id) const;
  const Unit& unit(Slot slot) const { return units_[slot]; }
  size_t size() const { return units_.size(); }

  bool Offerable(Slot slot) const { return offerable_[slot] != 0; }

  // GeoIndex::NearestByTravelTime over offerable units, with the same result. `eligible` must
  // imply Offerable(). When few units are offerable near `p` (the city saturated, in a typhoon or a
  // flood of alerts), the tree search would visit every busy unit in the ring to find them; this
  // looks them up in a 1 km grid of offerable units instead and chooses among them exactly as the
  // tree search does.
  void NearestOfferable(PlanePoint p, int k, double max_travel_s, EligibleFn eligible,
                        std::vector<Candidate>* out) const;

  void SetStatus(Slot slot, UnitStatus status) {
    units_[slot].status = status;
    UpdateOfferable(slot);
  }
  void SetOnPost(Slot slot, int32_t on_post) {
    units_[slot].on_post = on_post;
    UpdateOfferable(slot);
  }
  // Updates the unit's position and its place in the index.
  void MoveTo(Slot slot, LonLat position);

  const GeoIndex& index() const { return *index_; }
  const LocalProjection& projection() const { return projection_; }

 private:
  // UnitId -> slot: an array indexed by id when ids are dense (the usual 1..N), else a map.
  struct SlotTable {
    std::vector<Slot> dense;  // kNoSlot where no unit has that id; empty when sparse is used
    absl::flat_hash_map<UnitId, Slot> sparse;
  };
  static constexpr Slot kNoSlot = ~Slot{0};

  UnitRegistry(std::vector<Unit> units, const LocalProjection& projection, SlotTable slots,
               const TravelModel& travel);

  void UpdateOfferable(Slot slot) {
    const Unit& u = units_[slot];
    const uint8_t offerable = u.status == UnitStatus::kAvailable && u.on_post > 0;
    if (offerable == offerable_[slot]) return;
    offerable_[slot] = offerable;
    if (offerable) {
      AddToCell(slot);
    } else {
      RemoveFromCell(slot);
    }
  }
  void AddToCell(Slot slot);
  void RemoveFromCell(Slot slot);

  // The grid cell of a plane point, clamped into the grid (so a unit far outside it is counted at
  // the edge, and a query reaching past the edge still sees it).
  uint32_t CellOf(PlanePoint p) const;
  std::pair<int64_t, int64_t> ColumnRow(PlanePoint p) const;

  std::vector<Unit> units_;
  // Offerable(slot), kept beside the units: the nearest-unit search reads it for every unit it
  // visits, and a byte per unit stays in cache where a whole Unit does not.
  std::vector<uint8_t> offerable_;
  // The offerable units of each grid cell (row-major, grid_columns_ x grid_rows_ cells of
  // kGridCellM from grid_origin_), in no order; each unit's cell, and its place in its cell's list
  // while offerable.
  static constexpr double kGridCellM = 1000;
  // A search examines the offerable units in its box directly when they are at most this many and
  // at most 1 in kDirectSearchShare of all units there; otherwise the tree, which stops near the
  // k-th, is cheaper (decision_bench, 23,000 units: with none busy, examining up to 256 directly
  // made the core 1.5x slower; with 95% busy, 2.1x faster).
  static constexpr size_t kDirectSearchLimit = 256;
  static constexpr size_t kDirectSearchShare = 4;
  // From this many units the index is built beside the grid, on a second thread.
  static constexpr size_t kParallelBuildUnits = 200'000;
  PlanePoint grid_origin_;
  int64_t grid_columns_ = 1;
  int64_t grid_rows_ = 1;
  std::vector<std::vector<Slot>> offerable_in_cell_;
  std::vector<uint32_t> units_in_cell_;  // offerable or not
  std::vector<uint32_t> cell_of_;
  std::vector<uint32_t> place_in_cell_;
  LocalProjection projection_;
  SlotTable slots_;
  std::unique_ptr<GeoIndex> index_;
};

}  // namespace gz

#endif  // ENGINE_UNITS_UNIT_REGISTRY_H_
