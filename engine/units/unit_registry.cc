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
  std::vector<GeoIndex::Entry> entries;
  entries.reserve(units_.size());
  for (const Unit& u : units_) {
    entries.push_back({projection_.ToPlane(u.position), u.mode, u.zone});
  }
  // The grid covers the units' posts with a margin; units that move beyond it count at its edge.
  if (!entries.empty()) {
    PlanePoint low = entries[0].position, high = entries[0].position;
    for (const GeoIndex::Entry& e : entries) {
      low = {std::min(low.x, e.position.x), std::min(low.y, e.position.y)};
      high = {std::max(high.x, e.position.x), std::max(high.y, e.position.y)};
    }
    constexpr double kMarginM = 10'000;
    grid_origin_ = {low.x - kMarginM, low.y - kMarginM};
    grid_columns_ = static_cast<int64_t>((high.x - low.x + 2 * kMarginM) / kGridCellM) + 1;
    grid_rows_ = static_cast<int64_t>((high.y - low.y + 2 * kMarginM) / kGridCellM) + 1;
  }
  offerable_per_cell_.assign(static_cast<size_t>(grid_columns_ * grid_rows_), 0);
  cell_of_.resize(units_.size());
  offerable_.assign(units_.size(), 0);
  for (Slot slot = 0; slot < units_.size(); ++slot) {
    cell_of_[slot] = CellOf(entries[slot].position);
    UpdateOfferable(slot);
  }
  index_ = std::make_unique<GeoIndex>(entries, travel);
}

std::pair<int64_t, int64_t> UnitRegistry::ColumnRow(PlanePoint p) const {
  const auto clamp = [](double v, int64_t n) {
    // NaN and huge values land at an edge, never outside the grid.
    if (!(v >= 0)) return int64_t{0};
    return v >= static_cast<double>(n - 1) ? n - 1 : static_cast<int64_t>(v);
  };
  return {clamp((p.x - grid_origin_.x) / kGridCellM, grid_columns_),
          clamp((p.y - grid_origin_.y) / kGridCellM, grid_rows_)};
}

uint32_t UnitRegistry::CellOf(PlanePoint p) const {
  const auto [column, row] = ColumnRow(p);
  return static_cast<uint32_t>(row * grid_columns_ + column);
}

bool UnitRegistry::MayHaveOfferableWithin(PlanePoint p, double radius_m) const {
  const auto [low_column, low_row] = ColumnRow({p.x - radius_m, p.y - radius_m});
  const auto [high_column, high_row] = ColumnRow({p.x + radius_m, p.y + radius_m});
  for (int64_t row = low_row; row <= high_row; ++row) {
    const int32_t* cells = &offerable_per_cell_[static_cast<size_t>(row * grid_columns_)];
    for (int64_t column = low_column; column <= high_column; ++column) {
      if (cells[column] > 0) return true;
    }
  }
  return false;
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
  const PlanePoint plane = projection_.ToPlane(position);
  index_->Move(slot, plane);
  const uint32_t cell = CellOf(plane);
  if (cell == cell_of_[slot]) return;
  if (Offerable(slot)) {
    --offerable_per_cell_[cell_of_[slot]];
    ++offerable_per_cell_[cell];
  }
  cell_of_[slot] = cell;
}

}  // namespace gz
