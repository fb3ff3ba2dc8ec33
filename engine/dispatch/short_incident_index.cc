#include "engine/dispatch/short_incident_index.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <queue>
#include <vector>

namespace gz {

ShortIncidentIndex::ShortIncidentIndex(double cell_m) : cell_m_(std::max(cell_m, 1.0)) {}

ShortIncidentIndex::Cell ShortIncidentIndex::CellOf(PlanePoint p) const {
  // Clamped far beyond the Earth (a plane metre is at most some 2e7), so that no input converts out
  // of int64's range.
  const auto cell = [this](double v) {
    return static_cast<int64_t>(std::clamp(std::floor(v / cell_m_), -1e12, 1e12));
  };
  return {cell(p.x), cell(p.y)};
}

void ShortIncidentIndex::Insert(Rank rank, PlanePoint at) {
  if (!ranks_.insert(rank).second) return;
  cells_[CellOf(at)].insert(rank);
}

void ShortIncidentIndex::Erase(Rank rank, PlanePoint at) {
  if (ranks_.erase(rank) == 0) return;
  auto cell = cells_.find(CellOf(at));
  if (cell == cells_.end()) return;
  cell->second.erase(rank);
  if (cell->second.empty()) cells_.erase(cell);
}

void ShortIncidentIndex::Clear() {
  ranks_.clear();
  cells_.clear();
}

void ShortIncidentIndex::VisitNear(absl::Span<const Square> squares,
                                   absl::FunctionRef<bool(Rank)> visit) {
  if (ranks_.empty()) return;
  std::vector<Cell> near;
  for (const Square& square : squares) {
    const Cell low =
        CellOf({square.centre.x - square.half_side_m, square.centre.y - square.half_side_m});
    const Cell high =
        CellOf({square.centre.x + square.half_side_m, square.centre.y + square.half_side_m});
    for (int64_t x = low.first; x <= high.first; ++x) {
      for (int64_t y = low.second; y <= high.second; ++y) {
        if (cells_.contains(Cell{x, y})) near.push_back({x, y});
      }
    }
  }
  std::sort(near.begin(), near.end());
  near.erase(std::unique(near.begin(), near.end()), near.end());

  // A k-way merge of the cells' rank-ordered sets. Each head is re-sought by value after a visit,
  // never held as an iterator: a visit may change the sets, which invalidates btree iterators.
  using Head = std::pair<Rank, size_t>;  // (next rank in the cell, index into `near`)
  std::priority_queue<Head, std::vector<Head>, std::greater<Head>> heads;
  for (size_t i = 0; i < near.size(); ++i) heads.push({*cells_.at(near[i]).begin(), i});
  while (!heads.empty()) {
    const auto [rank, i] = heads.top();
    heads.pop();
    if (auto cell = cells_.find(near[i]); cell != cells_.end()) {
      if (auto next = cell->second.upper_bound(rank); next != cell->second.end()) {
        heads.push({*next, i});
      }
    }
    if (!ranks_.contains(rank)) continue;  // erased by an earlier visit
    if (!visit(rank)) return;
  }
}

}  // namespace gz
