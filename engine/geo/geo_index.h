// GeoIndex: the spatial index over every unit's position, in plane metres.
//
// One packed Boost.Geometry R-tree per travel mode (bulk-loaded by packing at construction;
// quadratic splits for later moves, which are cheaper than R*). Because travel time is proportional
// to distance within a mode, the k fastest units overall are among the k nearest of each mode; a
// query asks each tree for its k nearest and merges by travel time.
//
// Units are addressed by slot: a dense index 0..size-1 assigned by the caller (the unit registry).
// Eligibility (available, not already tried, ...) is a predicate evaluated inside the tree
// traversal, so a query never collects ineligible units and filters them afterwards. Every query is
// bounded by a travel-time or distance limit: when most units are busy the search still only visits
// the ring's neighbourhood instead of walking the whole tree.
//
// Results are ordered by (travel time or distance, slot), and a choice among units tied at the k-th
// place goes to the lowest slots, so the answer does not depend on the trees' insertion history.
//
// Thread-safety: none; owned and used by one thread (the dispatch core).

#ifndef ENGINE_GEO_GEO_INDEX_H_
#define ENGINE_GEO_GEO_INDEX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "engine/geo/projection.h"
#include "engine/geo/travel_model.h"
#include "engine/units/unit.h"

namespace gz {

using Slot = uint32_t;

struct Candidate {
  Slot slot = 0;
  double distance_m = 0;
  double travel_s = 0;
  bool operator==(const Candidate&) const = default;
};

using EligibleFn = absl::FunctionRef<bool(Slot)>;

// The orders results come in: by (travel time, slot) and by (distance, slot).
bool ByTravelTime(const Candidate& a, const Candidate& b);
bool ByDistance(const Candidate& a, const Candidate& b);

// NearestByTravelTime's choice, one travel mode at a time: adds `mode_nearest` (one mode's k
// nearest within *bound_s, by (distance, slot)) to *best, keeping the k best by (travel time,
// slot); once there are k, the k-th's travel time bounds the modes after (*bound_s). Shared so
// that a search over a few units chooses exactly as the trees do.
void MergeModeNearest(const std::vector<Candidate>& mode_nearest, int k,
                      std::vector<Candidate>* best, double* bound_s);
// After the last mode: *best in (travel time, slot) order, at most k.
void FinishNearest(int k, std::vector<Candidate>* best);

class GeoIndex {
 public:
  struct Entry {
    PlanePoint position;
    TravelMode mode = TravelMode::kOnFoot;
    ZoneId zone = 0;
  };

  // Slot i is entries[i]. Bulk-loads the trees by packing.
  GeoIndex(std::vector<Entry> entries, const TravelModel& travel);
  ~GeoIndex();
  GeoIndex(const GeoIndex&) = delete;
  GeoIndex& operator=(const GeoIndex&) = delete;

  // Up to k eligible slots with the smallest travel time to `p`, all with travel time <=
  // max_travel_s. Replaces *out; ordered by (travel_s, slot).
  void NearestByTravelTime(PlanePoint p, int k, double max_travel_s, EligibleFn eligible,
                           std::vector<Candidate>* out) const;

  // Every eligible slot within travel time <= max_travel_s of `p`. Replaces *out; ordered by
  // (travel_s, slot).
  void WithinTravelTime(PlanePoint p, double max_travel_s, EligibleFn eligible,
                        std::vector<Candidate>* out) const;

  // Every eligible slot with straight distance <= radius_m (inclusive). Replaces *out; ordered by
  // (distance_m, slot).
  void WithinRadius(PlanePoint p, double radius_m, EligibleFn eligible,
                    std::vector<Candidate>* out) const;

  // Every eligible slot whose zone is `zone`, ordered by (travel time to `p`, slot).
  void InZone(ZoneId zone, PlanePoint p, EligibleFn eligible, std::vector<Candidate>* out) const;

  // Moves a slot to a new position (remove + insert in its mode's tree).
  // REQUIRES: slot < size().
  void Move(Slot slot, PlanePoint to);

  PlanePoint position(Slot slot) const;
  size_t size() const;
  const TravelModel& travel() const;

 private:
  struct Impl;  // keeps Boost.Geometry out of every includer
  std::unique_ptr<Impl> impl_;
};

}  // namespace gz

#endif  // ENGINE_GEO_GEO_INDEX_H_
