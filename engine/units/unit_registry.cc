#include "engine/units/unit_registry.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gz {

absl::StatusOr<std::unique_ptr<UnitRegistry>> UnitRegistry::Create(
    std::vector<Unit> units, const LocalProjection& projection, const TravelModel& travel) {
  absl::flat_hash_map<UnitId, Slot> slots;
  slots.reserve(units.size());
  for (Slot slot = 0; slot < units.size(); ++slot) {
    const Unit& u = units[slot];
    if (u.id == 0) return absl::InvalidArgumentError(absl::StrCat("unit #", slot, " has id 0"));
    if (u.on_post < 0 || u.members < 0) {
      return absl::InvalidArgumentError(absl::StrCat("unit ", u.id, " has a negative headcount"));
    }
    if (!slots.emplace(u.id, slot).second) {
      return absl::InvalidArgumentError(absl::StrCat("unit id ", u.id, " appears twice"));
    }
  }
  return std::unique_ptr<UnitRegistry>(
      new UnitRegistry(std::move(units), projection, std::move(slots), travel));
}

UnitRegistry::UnitRegistry(std::vector<Unit> units, const LocalProjection& projection,
                           absl::flat_hash_map<UnitId, Slot> slots, const TravelModel& travel)
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
  auto it = slots_.find(id);
  if (it == slots_.end()) return std::nullopt;
  return it->second;
}

void UnitRegistry::MoveTo(Slot slot, LonLat position) {
  units_[slot].position = position;
  index_->Move(slot, projection_.ToPlane(position));
}

}  // namespace gz
