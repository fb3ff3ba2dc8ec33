#include "engine/geo/geo_index.h"

#include <algorithm>
#include <array>
#include <boost/geometry.hpp>
#include <boost/geometry/index/detail/rtree/utilities/view.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <boost/iterator/function_output_iterator.hpp>
#include <boost/version.hpp>
#include <cmath>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace gz {
namespace {

namespace bg = boost::geometry;
namespace bgi = boost::geometry::index;

using BoostPoint = bg::model::point<double, 2, bg::cs::cartesian>;
using BoostBox = bg::model::box<BoostPoint>;
using TreeValue = std::pair<BoostPoint, Slot>;
// Quadratic splits: a move (remove + insert) costs about half of R* and has no long tail.
using Tree = bgi::rtree<TreeValue, bgi::quadratic<16>>;

// Below this many units a second thread costs more than it saves.
constexpr size_t kParallelPackThreshold = 200'000;

BoostPoint ToBoost(PlanePoint p) { return BoostPoint(p.x, p.y); }

// A box a little larger than the exact radius so that rounding never prunes a point the exact
// distance test would accept; the exact test decides.
BoostBox BoundingBox(PlanePoint p, double radius_m) {
  const double r = radius_m * (1 + 1e-9) + 1e-6;
  return BoostBox(BoostPoint(p.x - r, p.y - r), BoostPoint(p.x + r, p.y + r));
}

// The k nearest eligible units of one mode's tree by (distance, slot), with travel time <= bound,
// found best-first: nodes are opened nearest first from one queue, and the search stops once the
// nearest unopened node is farther than the k-th unit in hand (or than the mode's reach).
//
// Why not the tree's own nearest query: searches with Boost 1.74's visitor were 48% of the core's
// instructions per alert (callgrind, decision_bench at 23,000 units). It opens nodes depth-first,
// checks the eligibility predicate (a hash lookup) before the distance, allocates its result per
// query, and cannot break a tie at the k-th place by slot, which took a second query. This asks for
// eligibility only of a unit that would enter the k best, and keeps ties exact in one pass.
//
// It reads the nodes through Boost's utilities view (what Boost's own tree statistics and printing
// use): an internal interface, so the lowest version it was written for is asserted below, and the
// randomized oracle tests in tests/geo/geo_index_test.cc check every answer against a brute-force
// scan.
static_assert(BOOST_VERSION >= 107400,
              "the node visitor interface below needs Boost 1.74 or later");

using TreeNodes = bgi::detail::rtree::utilities::view<Tree>::members_holder;

class ModeNearestSearch : public TreeNodes::visitor_const {
 public:
  // `best` and `queue` are the caller's scratch, reused across searches.
  ModeNearestSearch(PlanePoint p, size_t k, TravelMode mode, double bound_s,
                    const TravelModel& travel, EligibleFn eligible, std::vector<Candidate>* best,
                    std::vector<std::pair<double, TreeNodes::node_pointer>>* queue)
      : p_(p),
        k_(k),
        mode_(mode),
        bound_s_(bound_s),
        travel_(travel),
        eligible_(eligible),
        best_(*best),
        queue_(*queue) {
    // Slightly wider than the exact reach so that rounding never prunes a unit the exact travel
    // time test accepts; that test decides.
    const double reach = travel.ReachMetres(bound_s, mode) * (1 + 1e-9) + 1e-6;
    prune_d2_ = reach * reach;
  }

  // Replaces *best with the result, ordered by (distance, slot).
  void Run(const Tree& tree) {
    best_.clear();
    queue_.clear();
    if (k_ == 0) return;
    bgi::detail::rtree::utilities::view<Tree>(tree).apply_visitor(*this);
    while (!queue_.empty()) {
      std::pop_heap(queue_.begin(), queue_.end(), NearerLast);
      const auto [d2, node] = queue_.back();
      queue_.pop_back();
      if (d2 > prune_d2_) break;  // every queued node is at least this far
      bgi::detail::rtree::apply_visitor(*this, *node);
    }
    std::sort_heap(best_.begin(), best_.end(), ByDistance);
  }

  void operator()(const TreeNodes::internal_node& node) {
    for (const auto& [box, child] : bgi::detail::rtree::elements(node)) {
      // The box's nearest point: each coordinate difference, and so the sum of squares, is no
      // larger than any unit's inside it (rounding is monotone), so pruning on it is exact.
      const double dx =
          std::max({box.min_corner().get<0>() - p_.x, 0.0, p_.x - box.max_corner().get<0>()});
      const double dy =
          std::max({box.min_corner().get<1>() - p_.y, 0.0, p_.y - box.max_corner().get<1>()});
      const double d2 = dx * dx + dy * dy;
      if (d2 > prune_d2_) continue;
      queue_.emplace_back(d2, child);
      std::push_heap(queue_.begin(), queue_.end(), NearerLast);
    }
  }

  void operator()(const TreeNodes::leaf& node) {
    for (const TreeValue& v : bgi::detail::rtree::elements(node)) {
      // As Distance(position, p) computes it, so candidates match the other searches bit for bit.
      const double dx = v.first.get<0>() - p_.x;
      const double dy = v.first.get<1>() - p_.y;
      const double d2 = dx * dx + dy * dy;
      if (d2 > prune_d2_) continue;
      const Candidate c{v.second, std::sqrt(d2), 0};
      if (best_.size() == k_ && !ByDistance(c, best_.front())) continue;
      const double travel_s = travel_.TravelSeconds(c.distance_m, mode_);
      if (travel_s > bound_s_ || !eligible_(c.slot)) continue;
      if (best_.size() == k_) {
        std::pop_heap(best_.begin(), best_.end(), ByDistance);
        best_.pop_back();
      }
      best_.push_back(Candidate{c.slot, c.distance_m, travel_s});
      std::push_heap(best_.begin(), best_.end(), ByDistance);  // the worst in front
      if (best_.size() == k_) {
        // A node only matters if it may hold a unit no farther than the k-th (equal: it may win on
        // slot). The margin covers the rounding of squaring; the exact comparison decides.
        const double kth = best_.front().distance_m;
        prune_d2_ = std::min(prune_d2_, kth * kth * (1 + 1e-9) + 1e-12);
      }
    }
  }

 private:
  static bool NearerLast(const std::pair<double, TreeNodes::node_pointer>& a,
                         const std::pair<double, TreeNodes::node_pointer>& b) {
    return a.first > b.first;
  }

  const PlanePoint p_;
  const size_t k_;
  const TravelMode mode_;
  const double bound_s_;
  const TravelModel& travel_;
  const EligibleFn eligible_;
  std::vector<Candidate>& best_;
  std::vector<std::pair<double, TreeNodes::node_pointer>>& queue_;
  double prune_d2_ = 0;
};

}  // namespace

bool ByTravelTime(const Candidate& a, const Candidate& b) {
  return a.travel_s != b.travel_s ? a.travel_s < b.travel_s : a.slot < b.slot;
}

bool ByDistance(const Candidate& a, const Candidate& b) {
  return a.distance_m != b.distance_m ? a.distance_m < b.distance_m : a.slot < b.slot;
}

struct GeoIndex::Impl {
  TravelModel travel;
  std::vector<Entry> entries;
  std::array<Tree, kTravelModeCount> trees;
  // Slots of each zone, ascending; zones are fixed per unit (its home zone).
  std::vector<std::pair<ZoneId, std::vector<Slot>>> zones;

  Candidate MakeCandidate(Slot slot, PlanePoint p) const {
    const Entry& e = entries[slot];
    const double d = Distance(e.position, p);
    return Candidate{slot, d, travel.TravelSeconds(d, e.mode)};
  }
};

GeoIndex::GeoIndex(std::vector<Entry> entries_in, const TravelModel& travel)
    : impl_(std::make_unique<Impl>()) {
  impl_->travel = travel;
  impl_->entries = std::move(entries_in);
  const std::vector<Entry>& entries = impl_->entries;
  std::array<std::vector<TreeValue>, kTravelModeCount> by_mode;
  std::array<size_t, kTravelModeCount> mode_count{};
  for (const Entry& e : entries) ++mode_count[static_cast<int>(e.mode)];
  for (int m = 0; m < kTravelModeCount; ++m) by_mode[m].reserve(mode_count[m]);
  for (Slot slot = 0; slot < entries.size(); ++slot) {
    const Entry& e = entries[slot];
    by_mode[static_cast<int>(e.mode)].emplace_back(ToBoost(e.position), slot);
  }
  // The range constructor packs (STR-like bulk load): better-shaped nodes than repeated inserts.
  // Packing is the bulk of a cold start at millions of units; the largest mode's tree is packed on
  // a second thread while this one lists the zones and packs the others. The result does not
  // depend on the threads.
  int largest = 0;
  for (int m = 1; m < kTravelModeCount; ++m) {
    if (by_mode[m].size() > by_mode[largest].size()) largest = m;
  }
  const auto pack = [&](int m) { impl_->trees[m] = Tree(by_mode[m].begin(), by_mode[m].end()); };
  std::thread helper;
  if (entries.size() >= kParallelPackThreshold) helper = std::thread(pack, largest);
  absl::flat_hash_map<ZoneId, size_t> zone_position;  // into impl_->zones
  for (Slot slot = 0; slot < entries.size(); ++slot) {
    const auto [it, added] = zone_position.try_emplace(entries[slot].zone, impl_->zones.size());
    if (added) impl_->zones.push_back({entries[slot].zone, {}});
    impl_->zones[it->second].second.push_back(slot);  // slots ascend within each zone
  }
  std::sort(impl_->zones.begin(), impl_->zones.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (int m = 0; m < kTravelModeCount; ++m) {
    if (m != largest || !helper.joinable()) pack(m);
  }
  if (helper.joinable()) helper.join();
}

GeoIndex::~GeoIndex() = default;

void GeoIndex::NearestByTravelTime(PlanePoint p, int k, double max_travel_s, EligibleFn eligible,
                                   std::vector<Candidate>* out) const {
  out->clear();
  if (k <= 0 || max_travel_s < 0) return;
  // Scratch reused across calls: this runs for every alert, and allocating it each time was a
  // measurable share of the decision.
  thread_local std::vector<Candidate> mode_candidates;
  thread_local std::vector<std::pair<double, TreeNodes::node_pointer>> queue;
  double bound_s = max_travel_s;
  for (int m = 0; m < kTravelModeCount; ++m) {
    const Tree& tree = impl_->trees[m];
    if (tree.empty()) continue;
    // Once k units are in hand, a unit of another mode is only of use if it is no slower than the
    // k-th of them (equal: it may still win on slot), which shrinks that mode's search.
    ModeNearestSearch(p, static_cast<size_t>(k), static_cast<TravelMode>(m), bound_s, impl_->travel,
                      eligible, &mode_candidates, &queue)
        .Run(tree);
    MergeModeNearest(mode_candidates, k, out, &bound_s);
  }
  FinishNearest(k, out);
}

void MergeModeNearest(const std::vector<Candidate>& mode_nearest, int k,
                      std::vector<Candidate>* best, double* bound_s) {
  best->insert(best->end(), mode_nearest.begin(), mode_nearest.end());
  if (best->size() >= static_cast<size_t>(k)) {
    std::sort(best->begin(), best->end(), ByTravelTime);
    best->resize(k);
    *bound_s = std::min(*bound_s, best->back().travel_s);
  }
}

void FinishNearest(int k, std::vector<Candidate>* best) {
  std::sort(best->begin(), best->end(), ByTravelTime);
  if (best->size() > static_cast<size_t>(k)) best->resize(k);
}

void GeoIndex::WithinTravelTime(PlanePoint p, double max_travel_s, EligibleFn eligible,
                                std::vector<Candidate>* out) const {
  out->clear();
  if (max_travel_s < 0) return;
  for (int m = 0; m < kTravelModeCount; ++m) {
    const TravelMode mode = static_cast<TravelMode>(m);
    const double reach = impl_->travel.ReachMetres(max_travel_s, mode);
    impl_->trees[m].query(
        bgi::intersects(BoundingBox(p, reach)) && bgi::satisfies([&](const TreeValue& v) {
          return impl_->travel.TravelSeconds(Distance(impl_->entries[v.second].position, p),
                                             mode) <= max_travel_s &&
                 eligible(v.second);
        }),
        boost::make_function_output_iterator(
            [&](const TreeValue& v) { out->push_back(impl_->MakeCandidate(v.second, p)); }));
  }
  std::sort(out->begin(), out->end(), ByTravelTime);
}

void GeoIndex::WithinRadius(PlanePoint p, double radius_m, EligibleFn eligible,
                            std::vector<Candidate>* out) const {
  out->clear();
  if (radius_m < 0) return;
  for (const Tree& tree : impl_->trees) {
    tree.query(bgi::intersects(BoundingBox(p, radius_m)) && bgi::satisfies([&](const TreeValue& v) {
                 return Distance(impl_->entries[v.second].position, p) <= radius_m &&
                        eligible(v.second);
               }),
               boost::make_function_output_iterator(
                   [&](const TreeValue& v) { out->push_back(impl_->MakeCandidate(v.second, p)); }));
  }
  std::sort(out->begin(), out->end(), ByDistance);
}

void GeoIndex::InZone(ZoneId zone, PlanePoint p, EligibleFn eligible,
                      std::vector<Candidate>* out) const {
  out->clear();
  auto it = std::lower_bound(
      impl_->zones.begin(), impl_->zones.end(), zone,
      [](const std::pair<ZoneId, std::vector<Slot>>& z, ZoneId id) { return z.first < id; });
  if (it == impl_->zones.end() || it->first != zone) return;
  for (Slot slot : it->second) {
    if (eligible(slot)) out->push_back(impl_->MakeCandidate(slot, p));
  }
  std::sort(out->begin(), out->end(), ByTravelTime);
}

void GeoIndex::Move(Slot slot, PlanePoint to) {
  Entry& e = impl_->entries[slot];
  if (e.position == to) return;
  Tree& tree = impl_->trees[static_cast<int>(e.mode)];
  tree.remove(TreeValue(ToBoost(e.position), slot));
  e.position = to;
  tree.insert(TreeValue(ToBoost(to), slot));
}

PlanePoint GeoIndex::position(Slot slot) const { return impl_->entries[slot].position; }
size_t GeoIndex::size() const { return impl_->entries.size(); }
const TravelModel& GeoIndex::travel() const { return impl_->travel; }

}  // namespace gz
