// GeoIndex against a brute-force oracle on random data (seed: DISPATCH_TEST_SEED, see test_seed.h).

#include "engine/geo/geo_index.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

#include "tests/support/test_seed.h"

namespace gz {
namespace {

struct Oracle {
  std::vector<GeoIndex::Entry> entries;
  TravelModel travel;

  Candidate Make(Slot s, PlanePoint p) const {
    const double d = Distance(entries[s].position, p);
    return {s, d, travel.TravelSeconds(d, entries[s].mode)};
  }

  std::vector<Candidate> WithinTravelTime(PlanePoint p, double max_s,
                                          const std::vector<bool>& eligible) const {
    std::vector<Candidate> out;
    for (Slot s = 0; s < entries.size(); ++s) {
      const Candidate c = Make(s, p);
      if (eligible[s] && c.travel_s <= max_s) out.push_back(c);
    }
    std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
      return a.travel_s != b.travel_s ? a.travel_s < b.travel_s : a.slot < b.slot;
    });
    return out;
  }

  std::vector<Candidate> WithinRadius(PlanePoint p, double r,
                                      const std::vector<bool>& eligible) const {
    std::vector<Candidate> out;
    for (Slot s = 0; s < entries.size(); ++s) {
      const Candidate c = Make(s, p);
      if (eligible[s] && c.distance_m <= r) out.push_back(c);
    }
    std::sort(out.begin(), out.end(), [](const Candidate& a, const Candidate& b) {
      return a.distance_m != b.distance_m ? a.distance_m < b.distance_m : a.slot < b.slot;
    });
    return out;
  }
};

// k-nearest must be exactly the oracle's first k: ties at the k-th place go to the lowest slots.
void CheckNearest(const std::vector<Candidate>& got, const std::vector<Candidate>& all, int k) {
  const size_t expected = std::min<size_t>(k, all.size());
  REQUIRE(got.size() == expected);
  CHECK(got == std::vector<Candidate>(all.begin(), all.begin() + expected));
}

struct RandomWorld {
  std::mt19937_64 rng;
  Oracle oracle;
  std::unique_ptr<GeoIndex> index;

  // Positions on a 10 m lattice over 8 km x 8 km, so equal distances (ties) and points exactly on a
  // query radius are common, plus some stacked duplicates.
  RandomWorld(uint64_t seed, int n) : rng(seed) {
    oracle.travel.detour_factor = 1.25;
    std::uniform_int_distribution<int> coord(-400, 400);
    std::uniform_int_distribution<int> mode(0, kTravelModeCount - 1);
    std::uniform_int_distribution<int> zone(1, 12);
    for (int i = 0; i < n; ++i) {
      PlanePoint p{coord(rng) * 10.0, coord(rng) * 10.0};
      if (i > 0 && i % 50 == 0) p = oracle.entries[i - 1].position;  // stacked units
      oracle.entries.push_back(
          {p, static_cast<TravelMode>(mode(rng)), static_cast<ZoneId>(zone(rng))});
    }
    index = std::make_unique<GeoIndex>(oracle.entries, oracle.travel);
  }

  PlanePoint RandomQueryPoint() {
    std::uniform_int_distribution<int> coord(-450, 450);
    return {coord(rng) * 10.0, coord(rng) * 10.0};
  }

  std::vector<bool> RandomEligibility(double share) {
    std::bernoulli_distribution keep(share);
    std::vector<bool> eligible(oracle.entries.size());
    for (size_t i = 0; i < eligible.size(); ++i) eligible[i] = keep(rng);
    return eligible;
  }

  void CheckQueries(int queries) {
    std::uniform_int_distribution<int> k_dist(1, 12);
    std::uniform_real_distribution<double> ring(30, 1500);
    std::uniform_int_distribution<int> radius_steps(0, 100);  // radius in 10 m steps: exact ties
    std::uniform_real_distribution<double> share(0.02, 1.0);
    std::vector<Candidate> got;
    for (int q = 0; q < queries; ++q) {
      const PlanePoint p = RandomQueryPoint();
      const std::vector<bool> eligible = RandomEligibility(share(rng));
      const auto is_eligible = [&](Slot s) { return static_cast<bool>(eligible[s]); };
      const int k = k_dist(rng);
      const double max_s = ring(rng);
      INFO("query " << q << " at (" << p.x << ", " << p.y << ") k=" << k << " ring=" << max_s);

      index->NearestByTravelTime(p, k, max_s, is_eligible, &got);
      CheckNearest(got, oracle.WithinTravelTime(p, max_s, eligible), k);

      index->WithinTravelTime(p, max_s, is_eligible, &got);
      CHECK(got == oracle.WithinTravelTime(p, max_s, eligible));

      const double r = radius_steps(rng) * 10.0;
      index->WithinRadius(p, r, is_eligible, &got);
      CHECK(got == oracle.WithinRadius(p, r, eligible));

      const ZoneId zone = static_cast<ZoneId>(1 + q % 12);
      index->InZone(zone, p, is_eligible, &got);
      std::vector<Candidate> expected;
      for (const Candidate& c : oracle.WithinTravelTime(p, 1e18, eligible)) {
        if (oracle.entries[c.slot].zone == zone) expected.push_back(c);
      }
      CHECK(got == expected);
    }
  }

  void MoveRandomUnits(int moves) {
    std::uniform_int_distribution<Slot> slot(0, static_cast<Slot>(oracle.entries.size() - 1));
    for (int i = 0; i < moves; ++i) {
      const Slot s = slot(rng);
      const PlanePoint to = RandomQueryPoint();
      oracle.entries[s].position = to;
      index->Move(s, to);
    }
  }
};

TEST_CASE("geo index agrees with a brute-force scan on random queries", "[geo][index]") {
  const uint64_t seed = testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  RandomWorld world(seed, 3000);
  world.CheckQueries(2000);
}

TEST_CASE("geo index agrees with a brute-force scan after many moves", "[geo][index]") {
  const uint64_t seed = testing::TestSeed() + 1;
  INFO("DISPATCH_TEST_SEED(+1)=" << seed);
  RandomWorld world(seed, 2000);
  for (int round = 0; round < 5; ++round) {
    world.MoveRandomUnits(2000);
    world.CheckQueries(300);
  }
}

TEST_CASE("geo index includes a unit exactly on the radius and on the ring", "[geo][index]") {
  TravelModel travel;
  travel.detour_factor = 1.0;
  travel.speed_mps = {1.0, 2.0, 4.0};
  // (30, 40) is exactly 50 m from the origin; (0, 50) too; (0, 51) is just outside.
  GeoIndex index({{{30, 40}, TravelMode::kOnFoot, 1},
                  {{0, 50}, TravelMode::kOnFoot, 1},
                  {{0, 51}, TravelMode::kOnFoot, 1},
                  {{0, 100}, TravelMode::kBicycle, 2}},
                 travel);
  const auto all = [](Slot) { return true; };
  std::vector<Candidate> got;
  index.WithinRadius({0, 0}, 50, all, &got);
  REQUIRE(got.size() == 2);
  CHECK(got[0].slot == 0);  // tie at 50 m broken by slot
  CHECK(got[1].slot == 1);
  // 50 s on foot or 100 m by bicycle are both exactly 50 s away.
  index.WithinTravelTime({0, 0}, 50, all, &got);
  REQUIRE(got.size() == 3);
  CHECK(got[2].slot == 3);
  index.NearestByTravelTime({0, 0}, 3, 50, all, &got);
  REQUIRE(got.size() == 3);
  CHECK(got[0].slot == 0);
  CHECK(got[1].slot == 1);
  CHECK(got[2].slot == 3);
}

TEST_CASE("geo index breaks a tie at the k-th place by slot whatever the insertion order",
          "[geo][index]") {
  TravelModel travel;
  // Eight units on a circle of 100 m (all tied), inserted in a scrambled order by moves.
  std::vector<GeoIndex::Entry> entries;
  for (int i = 0; i < 8; ++i) entries.push_back({{5000.0 + i, 5000.0}, TravelMode::kOnFoot, 1});
  GeoIndex index(entries, travel);
  const PlanePoint circle[] = {{100, 0}, {0, 100},  {-100, 0}, {0, -100},
                               {60, 80}, {-60, 80}, {60, -80}, {-80, -60}};
  for (Slot s : {5u, 2u, 7u, 0u, 3u, 6u, 1u, 4u}) index.Move(s, circle[s]);
  std::vector<Candidate> got;
  index.NearestByTravelTime(
      {0, 0}, 3, 1e9, [](Slot) { return true; }, &got);
  REQUIRE(got.size() == 3);
  CHECK(got[0].slot == 0);
  CHECK(got[1].slot == 1);
  CHECK(got[2].slot == 2);
}

TEST_CASE("geo index search is bounded by the ring when almost every unit is busy",
          "[geo][index]") {
  // 10,000 units within 1 km, all busy but one far away: the predicate must only be asked about
  // units inside the ring's box, not the whole tree.
  std::vector<GeoIndex::Entry> entries;
  for (int i = 0; i < 10000; ++i) {
    entries.push_back({{(i % 100) * 10.0, (i / 100) * 10.0}, TravelMode::kOnFoot, 1});
  }
  entries.push_back({{50000, 50000}, TravelMode::kOnFoot, 1});
  GeoIndex index(entries, TravelModel{});
  size_t asked = 0;
  std::vector<Candidate> got;
  index.NearestByTravelTime(
      {0, 0}, 5, 60,
      [&](Slot s) {
        ++asked;
        return s == 10000;
      },
      &got);
  CHECK(got.empty());
  // A 60 s walk covers about 65 m: a few dozen lattice points, far fewer than 10,000.
  CHECK(asked < 200);
}

}  // namespace
}  // namespace gz
