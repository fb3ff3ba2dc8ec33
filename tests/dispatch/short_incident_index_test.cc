#include "engine/dispatch/short_incident_index.h"

#include <catch2/catch.hpp>
#include <vector>

namespace gz {
namespace {

using Rank = ShortIncidentIndex::Rank;

std::vector<Rank> VisitAll(ShortIncidentIndex& index,
                           const std::vector<ShortIncidentIndex::Square>& squares) {
  std::vector<Rank> seen;
  index.VisitNear(squares, [&](Rank r) {
    seen.push_back(r);
    return true;
  });
  return seen;
}

TEST_CASE("short incidents near a freed unit are visited in rank order across cells",
          "[dispatch][short]") {
  ShortIncidentIndex index(1000);
  index.Insert({-1, 7}, {100, 100});     // level IV, cell (0, 0)
  index.Insert({-3, 9}, {1500, 200});    // level II, cell (1, 0)
  index.Insert({-1, 2}, {2500, 300});    // level IV, older, cell (2, 0)
  index.Insert({-4, 11}, {9000, 9000});  // level I, far away
  index.Insert({-1, 7}, {100, 100});     // again: no effect
  CHECK(index.size() == 4);

  CHECK(VisitAll(index, {{{1000, 0}, 1800}}) == std::vector<Rank>{{-3, 9}, {-1, 2}, {-1, 7}});
  CHECK(VisitAll(index, {{{100, 100}, 10}}) == std::vector<Rank>{{-1, 7}});
  // Two squares meeting the same cell visit it once; the union is still in rank order.
  CHECK(VisitAll(index, {{{100, 100}, 10}, {{9000, 9000}, 10}, {{150, 150}, 10}}) ==
        std::vector<Rank>{{-4, 11}, {-1, 7}});
  CHECK(VisitAll(index, {{{50000, 50000}, 100}}).empty());
}

TEST_CASE("a visit may erase and re-insert incidents and stop the walk", "[dispatch][short]") {
  ShortIncidentIndex index(1000);
  for (IncidentId id = 1; id <= 6; ++id) {
    index.Insert({-1, id}, {static_cast<double>(id) * 300, 0});
  }
  std::vector<Rank> seen;
  index.VisitNear({{{1000, 0}, 5000}}, [&](Rank r) {
    seen.push_back(r);
    if (r.second == 1) index.Erase(r, {300, 0});         // the one visited, emptying no cell
    if (r.second == 2) index.Erase({-1, 5}, {1500, 0});  // one not yet visited: skipped
    if (r.second == 3) {                                 // erased and put back: not visited twice
      index.Erase(r, {900, 0});
      index.Insert(r, {900, 0});
    }
    return r.second != 4;
  });
  CHECK(seen == std::vector<Rank>{{-1, 1}, {-1, 2}, {-1, 3}, {-1, 4}});
  CHECK(index.size() == 4);
  CHECK(!index.contains({-1, 1}));
  CHECK(!index.contains({-1, 5}));

  // Erasing the last incident of a cell drops the cell; visiting still works after.
  index.Erase({-1, 6}, {1800, 0});
  index.Erase({-1, 4}, {1200, 0});
  CHECK(VisitAll(index, {{{0, 0}, 5000}}) == std::vector<Rank>{{-1, 2}, {-1, 3}});
  index.Clear();
  CHECK(index.empty());
  CHECK(VisitAll(index, {{{0, 0}, 5000}}).empty());
}

}  // namespace
}  // namespace gz
