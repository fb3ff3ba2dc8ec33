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

#include <memory>
#include <optional>
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
    offerable_[slot] = u.status == UnitStatus::kAvailable && u.on_post > 0;
  }

  std::vector<Unit> units_;
  // Offerable(slot), kept beside the units: the nearest-unit search reads it for every unit it
  // visits, and a byte per unit stays in cache where a whole Unit does not.
  std::vector<uint8_t> offerable_;
  LocalProjection projection_;
  SlotTable slots_;
  std::unique_ptr<GeoIndex> index_;
};

}  // namespace gz

#endif  // ENGINE_UNITS_UNIT_REGISTRY_H_
