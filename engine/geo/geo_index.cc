#include "engine/geo/geo_index.h"

#include <algorithm>
#include <array>
#include <boost/geometry.hpp>
#include <boost/geometry/index/rtree.hpp>
#include <boost/iterator/function_output_iterator.hpp>
#include <iterator>
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
  thread_local std::vector<TreeValue> found;
  thread_local std::vector<Candidate> mode_candidates;
  double bound_s = max_travel_s;
  for (int m = 0; m < kTravelModeCount; ++m) {
    const TravelMode mode = static_cast<TravelMode>(m);
    const Tree& tree = impl_->trees[m];
    if (tree.empty()) continue;
    // Once k units are in hand, a unit of another mode is only of use if it is no slower than the
    // k-th of them (equal: it may still win on slot), which shrinks that mode's search box.
    const double reach = impl_->travel.ReachMetres(bound_s, mode);
    const auto in_ring_and_eligible = [&](const TreeValue& v) {
      const PlanePoint at{bg::get<0>(v.first), bg::get<1>(v.first)};  // the tree holds the position
      return impl_->travel.TravelSeconds(Distance(at, p), mode) <= bound_s && eligible(v.second);
    };
    // One more than needed, to see whether the k-th place is tied.
    found.clear();
    tree.query(bgi::nearest(ToBoost(p), static_cast<unsigned>(k) + 1) &&
                   bgi::intersects(BoundingBox(p, reach)) && bgi::satisfies(in_ring_and_eligible),
               std::back_inserter(found));
    mode_candidates.clear();
    for (const TreeValue& v : found) mode_candidates.push_back(impl_->MakeCandidate(v.second, p));
    std::sort(mode_candidates.begin(), mode_candidates.end(), ByDistance);
    if (mode_candidates.size() > static_cast<size_t>(k)) {
      const double kth = mode_candidates[k - 1].distance_m;
      if (mode_candidates[k].distance_m == kth) {
        // The tree chose among units tied at the k-th distance by its node layout; collect every
        // tied unit so the choice is by slot, whatever the tree's history.
        mode_candidates.clear();
        tree.query(bgi::intersects(BoundingBox(p, kth)) && bgi::satisfies([&](const TreeValue& v) {
                     return Distance(impl_->entries[v.second].position, p) <= kth &&
                            in_ring_and_eligible(v);
                   }),
                   boost::make_function_output_iterator([&](const TreeValue& v) {
                     mode_candidates.push_back(impl_->MakeCandidate(v.second, p));
                   }));
        std::sort(mode_candidates.begin(), mode_candidates.end(), ByDistance);
      }
      mode_candidates.resize(k);
    }
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
