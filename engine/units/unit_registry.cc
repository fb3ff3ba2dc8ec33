#include "engine/units/unit_registry.h"

#include <algorithm>
#include <array>
#include <thread>
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
  // The grid covers the units' posts with a margin; units that move beyond it count at its edge.
  // At millions of units the entries are projected in two halves, one on a second thread.
  std::vector<GeoIndex::Entry> entries(units_.size());
  struct Bounds {
    PlanePoint low{0, 0}, high{0, 0};
  };
  const auto project = [&](size_t begin, size_t end, Bounds* bounds) {
    for (size_t slot = begin; slot < end; ++slot) {
      const Unit& u = units_[slot];
      const PlanePoint at = projection_.ToPlane(u.position);
      if (slot == begin) bounds->low = bounds->high = at;
      bounds->low = {std::min(bounds->low.x, at.x), std::min(bounds->low.y, at.y)};
      bounds->high = {std::max(bounds->high.x, at.x), std::max(bounds->high.y, at.y)};
      entries[slot] = {at, u.mode, u.zone};
    }
  };
  const bool parallel = units_.size() >= kParallelBuildUnits;
  const size_t half = parallel ? units_.size() / 2 : units_.size();
  Bounds first, second;
  if (parallel) {
    std::thread helper(project, half, units_.size(), &second);
    project(0, half, &first);
    helper.join();
    first.low = {std::min(first.low.x, second.low.x), std::min(first.low.y, second.low.y)};
    first.high = {std::max(first.high.x, second.high.x), std::max(first.high.y, second.high.y)};
  } else {
    project(0, half, &first);
  }
  const PlanePoint low = first.low, high = first.high;
  constexpr double kMarginM = 10'000;
  grid_origin_ = {low.x - kMarginM, low.y - kMarginM};
  grid_columns_ = static_cast<int64_t>((high.x - low.x + 2 * kMarginM) / kGridCellM) + 1;
  grid_rows_ = static_cast<int64_t>((high.y - low.y + 2 * kMarginM) / kGridCellM) + 1;

  // At millions of units the index (packing its trees) is built on another thread while this one
  // fills the grid; they share nothing but the units, which neither changes.
  const auto build_index = [this, &entries, &travel] {
    index_ = std::make_unique<GeoIndex>(std::move(entries), travel);
  };
  std::thread indexer;
  if (parallel) {
    indexer = std::thread(build_index);
  } else {
    build_index();
  }
  offerable_in_cell_.assign(static_cast<size_t>(grid_columns_ * grid_rows_), {});
  units_in_cell_.assign(offerable_in_cell_.size(), 0);
  cell_of_.resize(units_.size());
  place_in_cell_.resize(units_.size());
  offerable_.assign(units_.size(), 0);
  for (Slot slot = 0; slot < units_.size(); ++slot) {
    cell_of_[slot] = CellOf(projection_.ToPlane(units_[slot].position));
    ++units_in_cell_[cell_of_[slot]];
    UpdateOfferable(slot);
  }
  if (indexer.joinable()) indexer.join();
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

void UnitRegistry::AddToCell(Slot slot) {
  std::vector<Slot>& cell = offerable_in_cell_[cell_of_[slot]];
  place_in_cell_[slot] = static_cast<uint32_t>(cell.size());
  cell.push_back(slot);
}

void UnitRegistry::RemoveFromCell(Slot slot) {
  std::vector<Slot>& cell = offerable_in_cell_[cell_of_[slot]];
  const Slot last = cell.back();
  cell[place_in_cell_[slot]] = last;
  place_in_cell_[last] = place_in_cell_[slot];
  cell.pop_back();
}

void UnitRegistry::NearestOfferable(PlanePoint p, int k, double max_travel_s, EligibleFn eligible,
                                    std::vector<Candidate>* out) const {
  out->clear();
  if (k <= 0 || max_travel_s < 0) return;
  const TravelModel& travel = index_->travel();
  // A little wider than the exact reach, so that rounding never leaves out a unit the ring holds.
  const double reach_m = travel.MaxReachMetres(max_travel_s) * (1 + 1e-9) + 1e-6;
  const auto [low_column, low_row] = ColumnRow({p.x - reach_m, p.y - reach_m});
  const auto [high_column, high_row] = ColumnRow({p.x + reach_m, p.y + reach_m});
  size_t offerable = 0;
  size_t units = 0;
  for (int64_t row = low_row; row <= high_row && offerable <= kDirectSearchLimit; ++row) {
    for (int64_t column = low_column; column <= high_column; ++column) {
      const size_t cell = static_cast<size_t>(row * grid_columns_ + column);
      offerable += offerable_in_cell_[cell].size();
      units += units_in_cell_[cell];
    }
  }
  if (offerable == 0) return;
  if (offerable > kDirectSearchLimit || offerable * kDirectSearchShare > units) {
    index_->NearestByTravelTime(p, k, max_travel_s, eligible, out);
    return;
  }
  // The tree search's choice, step by step: per mode the k nearest by (distance, slot) within the
  // bound; merged by (travel time, slot); the k-th travel time bounds the later modes.
  thread_local std::array<std::vector<Candidate>, kTravelModeCount> by_mode;
  for (std::vector<Candidate>& c : by_mode) c.clear();
  for (int64_t row = low_row; row <= high_row; ++row) {
    for (int64_t column = low_column; column <= high_column; ++column) {
      for (Slot slot : offerable_in_cell_[static_cast<size_t>(row * grid_columns_ + column)]) {
        const TravelMode mode = units_[slot].mode;
        const double d = Distance(index_->position(slot), p);
        const double t = travel.TravelSeconds(d, mode);
        if (t <= max_travel_s && eligible(slot)) {
          by_mode[static_cast<int>(mode)].push_back(Candidate{slot, d, t});
        }
      }
    }
  }
  double bound_s = max_travel_s;
  for (std::vector<Candidate>& candidates : by_mode) {
    candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                    [&](const Candidate& c) { return c.travel_s > bound_s; }),
                     candidates.end());
    std::sort(candidates.begin(), candidates.end(), ByDistance);
    if (candidates.size() > static_cast<size_t>(k)) candidates.resize(k);
    MergeModeNearest(candidates, k, out, &bound_s);
  }
  FinishNearest(k, out);
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
  --units_in_cell_[cell_of_[slot]];
  ++units_in_cell_[cell];
  if (Offerable(slot)) {
    RemoveFromCell(slot);
    cell_of_[slot] = cell;
    AddToCell(slot);
  } else {
    cell_of_[slot] = cell;
  }
}

}  // namespace gz
