// ShortIncidentIndex: the open incidents whose plan is not met ("short"), in rank order (most
// severe first, then oldest) and by square cell of their position.
//
// When a unit becomes free, it can only help a short incident within its travel reach. Offering it
// to every short incident in rank order costs one nearest-unit search each; under overload, with
// every unit busy and hundreds of thousands of incidents short, that was seconds per freed unit and
// stalled the engine. The cells let the core visit only the short incidents near the freed units,
// still in rank order, and stop as soon as the freed units are taken.
//
// Thread-safety: none; owned and used by the dispatch core.

#ifndef ENGINE_DISPATCH_SHORT_INCIDENT_INDEX_H_
#define ENGINE_DISPATCH_SHORT_INCIDENT_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/types/span.h"
#include "engine/dispatch/commands.h"
#include "engine/geo/projection.h"

namespace gz {

class ShortIncidentIndex {
 public:
  // (-level, id): the most severe level first, then the oldest incident.
  using Rank = std::pair<int, IncidentId>;

  // An axis-aligned square of half side `half_side_m` around `centre`: the reach of a freed unit.
  struct Square {
    PlanePoint centre;
    double half_side_m = 0;
  };

  // `cell_m` is the side of a cell; small enough that a unit's reach covers few empty cells'
  // worth of unreachable incidents, large enough that a reach is not thousands of cells.
  explicit ShortIncidentIndex(double cell_m = 1000.0);

  // Adds an incident at `at`; nothing if `rank` is already present.
  void Insert(Rank rank, PlanePoint at);
  // Removes an incident, which must have been inserted at `at`; nothing if `rank` is absent.
  void Erase(Rank rank, PlanePoint at);
  void Clear();

  bool contains(Rank rank) const { return ranks_.contains(rank); }
  bool empty() const { return ranks_.empty(); }
  size_t size() const { return ranks_.size(); }
  // Every short incident in rank order.
  const absl::btree_set<Rank>& ranks() const { return ranks_; }

  // Calls visit(rank) for each short incident in a cell that meets one of `squares`, in rank
  // order, each at most once, until visit returns false. Incidents outside the squares but in a
  // cell they meet are visited too: the caller checks the exact reach. visit may erase or re-insert
  // the incident it is given (and erase others: erased incidents are skipped); an incident inserted
  // during the visit may or may not be visited.
  void VisitNear(absl::Span<const Square> squares, absl::FunctionRef<bool(Rank)> visit);

 private:
  using Cell = std::pair<int64_t, int64_t>;
  Cell CellOf(PlanePoint p) const;

  double cell_m_;
  absl::btree_set<Rank> ranks_;
  absl::flat_hash_map<Cell, absl::btree_set<Rank>> cells_;  // no empty cells
};

}  // namespace gz

#endif  // ENGINE_DISPATCH_SHORT_INCIDENT_INDEX_H_
