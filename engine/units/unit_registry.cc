#include "engine/units/unit_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace gz {

absl::StatusOr<std::unique_ptr<UnitRegistry>> UnitRegistry::Create(
    std::vector<Unit> units, const LocalProjection& projection, const TravelModel& travel) {
  UnitId max_id = 0;
  for (Slot slot = 0; slot < units.size(); ++slot) {
    const Unit& u = units[slot];
    if (u.id == 0) return absl::InvalidArgumentError(absl::StrCat("unit #", slot, " has id 0"));
    if (u.on_post < 0 || u.members < 0) {
      return absl::InvalidArgumentError(absl::StrCat("unit ", u.id, " has a negative headcount"));
    }
    max_id = std::max(max_id, u.id);
  }
  SlotTable slots;
  // Ids are usually 1..N: then a plain array answers SlotOf (every responder message asks) and
  // builds in a fraction of a hash map's time at millions of units. Sparse ids use the map.
  if (max_id <= 2 * units.size() + 1024) {
    slots.dense.assign(static_cast<size_t>(max_id) + 1, kNoSlot);
    for (Slot slot = 0; slot < units.size(); ++slot) {
      Slot& entry = slots.dense[units[slot].id];
      if (entry != kNoSlot) {
        return absl::InvalidArgumentError(
            absl::StrCat("unit id ", units[slot].id, " appears twice"));
      }
      entry = slot;
    }
  } else {
    slots.sparse.reserve(units.size());
    for (Slot slot = 0; slot < units.size(); ++slot) {
      if (!slots.sparse.emplace(units[slot].id, slot).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("unit id ", units[slot].id, " appears twice"));
      }
    }
  }
  return std::unique_ptr<UnitRegistry>(
      new UnitRegistry(std::move(units), projection, std::move(slots), travel));
}

UnitRegistry::UnitRegistry(std::vector<Unit> units, const LocalProjection& projection,
                           SlotTable slots, const TravelModel& travel)
    : units_(std::move(units)), projection_(projection), slots_(std::move(slots)) {
  offerable_.resize(units_.size());
  for (Slot slot = 0; slot < units_.size(); ++slot) UpdateOfferable(slot);
  std::vector<GeoIndex::Entry> entries;
  entries.reserve(units_.size());
  for (const Unit& u : units_) {
    entries.push_back({projection_.ToPlane(u.position), u.mode, u.zone});
  }
  index_ = std::make_unique<GeoIndex>(entries, travel);
}

std::optional<Slot> UnitRegistry::SlotOf(UnitId id) const {
  if (!slots_.dense.empty()) {
    if (id >= slots_.dense.size() || slots_.dense[id] == kNoSlot) return std::nullopt;
    return slots_.dense[id];
  }
  auto it = slots_.sparse.find(id);
  if (it == slots_.sparse.end()) return std::nullopt;
  return it->second;
}

void UnitRegistry::MoveTo(Slot slot, LonLat position) {
  units_[slot].position = position;
  index_->Move(slot, projection_.ToPlane(position));
}

}  // namespace gz
