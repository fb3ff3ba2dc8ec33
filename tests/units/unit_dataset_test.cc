#include "engine/units/unit_dataset.h"

#include <unistd.h>

#include <array>
#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/config/city_data.h"
#include "engine/units/unit_registry.h"
#include "tests/support/guangzhou.h"
#include "tests/support/test_seed.h"

namespace gz {
namespace {

// A scratch directory unique to this process, removed when the object goes away.
class ScratchDir {
 public:
  ScratchDir()
      : path_(std::filesystem::temp_directory_path() /
              absl::StrCat("unit_dataset_test_", ::getpid())) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

Unit MakeUnit(UnitId id, std::string name, UnitKind kind, TravelMode mode, LonLat position) {
  Unit unit;
  unit.id = id;
  unit.name = std::move(name);
  unit.kind = kind;
  unit.mode = mode;
  unit.position = position;
  unit.district = 440104;
  unit.zone = 23;
  unit.members = 14;
  unit.on_post = 3;
  return unit;
}

// Expects `status` to be InvalidArgument mentioning "<file>:<line>:" and the field name.
void CheckRejected(const absl::Status& status, const std::string& file, int line,
                   const std::string& field) {
  INFO(status.ToString());
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(status.message(), absl::StrCat(file, ":", line, ":")));
  CHECK(absl::StrContains(status.message(), field));
}

TEST_CASE("units written to CSV read back unchanged", "[units]") {
  ScratchDir dir;
  const std::vector<Unit> units = {
      MakeUnit(1, "越秀区·北京 酒店 #0001", UnitKind::kHotel, TravelMode::kOnFoot,
               {113.270001, 23.125}),
      MakeUnit(2, "越秀区·北京 医院 #0002", UnitKind::kHospital, TravelMode::kVehicle,
               {113.999999, 22.000001}),
      MakeUnit(70000, "transport hub", UnitKind::kTransportHub, TravelMode::kBicycle,
               {-0.5, -0.25}),
  };
  const std::string path = dir.File("units.csv");
  REQUIRE(WriteUnitsCsv(units, path).ok());

  absl::StatusOr<std::vector<Unit>> read = ReadUnitsCsv(path);
  REQUIRE(read.ok());
  REQUIRE(read->size() == units.size());
  for (size_t i = 0; i < units.size(); ++i) {
    INFO("unit " << units[i].id);
    const Unit& a = units[i];
    const Unit& b = (*read)[i];
    CHECK(b.id == a.id);
    CHECK(b.name == a.name);
    CHECK(b.kind == a.kind);
    CHECK(b.mode == a.mode);
    CHECK(b.district == a.district);
    CHECK(b.zone == a.zone);
    CHECK(b.position == a.position);  // exact: the positions already have 6 decimals
    CHECK(b.members == a.members);
    CHECK(b.on_post == a.on_post);
    CHECK(b.status == UnitStatus::kAvailable);
  }

  std::ifstream in(path);
  std::string header;
  std::getline(in, header);
  CHECK(header == "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post");
  std::string first;
  std::getline(in, first);
  CHECK(first == "1,越秀区·北京 酒店 #0001,hotel,foot,440104,23,113.270001,23.125000,14,3");
}

TEST_CASE("zones written to CSV read back with the same seeds", "[units]") {
  ScratchDir dir;
  const LocalProjection projection;
  std::vector<Zone> zones(2);
  zones[0].id = 1;
  zones[0].district = 440103;
  zones[0].name_zh = "沙面街道";
  zones[0].seed = projection.ToPlane(RoundToStoredPrecision({113.243111, 23.107222}));
  zones[1].id = 2;
  zones[1].district = 440103;
  zones[1].name_zh = "岭南街道";
  zones[1].seed = projection.ToPlane(RoundToStoredPrecision({113.25, 23.11}));
  zones[1].synthetic = false;
  const std::string path = dir.File("zones.csv");
  REQUIRE(WriteZonesCsv(zones, projection, path).ok());

  absl::StatusOr<std::vector<Zone>> read = ReadZonesCsv(path, projection);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 2);
  for (size_t i = 0; i < zones.size(); ++i) {
    CHECK((*read)[i].id == zones[i].id);
    CHECK((*read)[i].district == zones[i].district);
    CHECK((*read)[i].name_zh == zones[i].name_zh);
    CHECK((*read)[i].seed == zones[i].seed);
    CHECK((*read)[i].synthetic == zones[i].synthetic);
  }
}

TEST_CASE("a unit row with a bad field is rejected naming the file and line and field", "[units]") {
  ScratchDir dir;
  const std::string path = dir.File("bad_units.csv");
  const std::string header = "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post\n";
  const std::string good = "1,a,shop,foot,440104,23,113.27,23.12,6,2\n";
  struct Case {
    std::string row;
    std::string field;
  };
  const std::vector<Case> cases = {
      {"2,b,shop,foot,440104,23,113.27,23.12,abc,2", "members"},
      {"2,b,spaceship,foot,440104,23,113.27,23.12,6,2", "kind"},
      {"2,b,unspecified,foot,440104,23,113.27,23.12,6,2", "kind"},
      {"2,b,shop,teleport,440104,23,113.27,23.12,6,2", "travel_mode"},
      {"2,b,shop,foot,440104,23,113.27,23.12,6,7", "on_post"},
      {"2,b,shop,foot,440104,23,113.27,95,6,2", "lat"},
      {"2,b,shop,foot,440104,23,nan,23.12,6,2", "lon"},
      {"2,b,shop,foot,440104,0,113.27,23.12,6,2", "zone"},
      {"2,b,shop,foot,-3,23,113.27,23.12,6,2", "district"},
      {"2,,shop,foot,440104,23,113.27,23.12,6,2", "name"},
      {"1,b,shop,foot,440104,23,113.27,23.12,6,2", "duplicate id"},
      {"0,b,shop,foot,440104,23,113.27,23.12,6,2", "id"},
      {"2,b,c,shop,foot,440104,23,113.27,23.12,6,2", "11 fields, expected 10"},
      {"2,b,shop,foot,440104,23,113.27,23.12,+-6,2", "members"},
      {"2,b,shop,foot,440104,23,113.27,23.12,0x6,2", "members"},
      {"2,b,shop,foot,440104,23,113.27,23.12,6 x,2", "members"},
      {"2,b,shop,foot,440104,23,113.27,23.12,,2", "members"},
      {"2,b,shop,foot,440104,23,1e400,23.12,6,2", "lon"},
      {"2,b,shop,foot,440104,23,113.27.1,23.12,6,2", "lon"},
  };
  for (const Case& c : cases) {
    INFO(c.row);
    WriteText(path, header + good + c.row + "\n" + good);
    CheckRejected(ReadUnitsCsv(path).status(), path, 3, c.field);
  }

  WriteText(path, "id,name,kind\n" + good);
  CheckRejected(ReadUnitsCsv(path).status(), path, 1, "header");
}

TEST_CASE("number fields may have surrounding blanks and a leading plus", "[units]") {
  ScratchDir dir;
  const std::string path = dir.File("blanks.csv");
  WriteText(path,
            "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post\n"
            " 7 ,a,market,bicycle,+440105,40, +113.25 ,23.125\t,+20,3\n");
  absl::StatusOr<std::vector<Unit>> read = ReadUnitsCsv(path);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1);
  CHECK((*read)[0].id == 7u);
  CHECK((*read)[0].district == 440105);
  CHECK((*read)[0].position.lon == 113.25);
  CHECK((*read)[0].position.lat == 23.125);
  CHECK((*read)[0].members == 20);
}

TEST_CASE("a units file with CRLF line endings and a trailing blank line reads", "[units]") {
  ScratchDir dir;
  const std::string path = dir.File("crlf.csv");
  WriteText(path,
            "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post\r\n"
            "5,a,market,bicycle,440105,40,113.3,23.1,20,3\r\n\r\n");
  absl::StatusOr<std::vector<Unit>> read = ReadUnitsCsv(path);
  REQUIRE(read.ok());
  REQUIRE(read->size() == 1);
  CHECK((*read)[0].kind == UnitKind::kMarket);
  CHECK((*read)[0].on_post == 3);
}

TEST_CASE("a zone row with a bad field is rejected naming the file and line and field", "[units]") {
  ScratchDir dir;
  const LocalProjection projection;
  const std::string path = dir.File("bad_zones.csv");
  const std::string header = "zone_id,district,name_zh,seed_lon,seed_lat,synthetic\n";
  WriteText(path, header + "1,440103,沙面街道,113.24,23.10,2\n");
  CheckRejected(ReadZonesCsv(path, projection).status(), path, 2, "synthetic");
  WriteText(path, header + "1,440103,沙面街道,113.24,23.10,1\n1,440103,岭南街道,113.25,23.11,1\n");
  CheckRejected(ReadZonesCsv(path, projection).status(), path, 3, "zone_id");
  WriteText(path, header + "1,440103,沙面街道,181,23.10,1\n");
  CheckRejected(ReadZonesCsv(path, projection).status(), path, 2, "seed_lon");
}

TEST_CASE("a unit name with a comma is refused and nothing is written", "[units]") {
  ScratchDir dir;
  const std::string path = dir.File("never.csv");
  const std::vector<Unit> units = {
      MakeUnit(1, "shop, the best", UnitKind::kShop, TravelMode::kOnFoot, {113.2, 23.1})};
  CHECK(WriteUnitsCsv(units, path).code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(std::filesystem::exists(path));
}

TEST_CASE("a missing dataset file is NotFound", "[units]") {
  CHECK(ReadUnitsCsv("/nonexistent/units.csv").status().code() == absl::StatusCode::kNotFound);
  CHECK(ReadZonesCsv("/nonexistent/zones.csv", LocalProjection()).status().code() ==
        absl::StatusCode::kNotFound);
}

// The committed dataset in config/, loaded once.
const CityData& CommittedDataset() { return testing::GuangzhouDefault(); }

TEST_CASE("the committed dataset has 23000 units with 290000 members and unique ids", "[units]") {
  const CityData& city = CommittedDataset();
  REQUIRE(city.units.size() == 23000);
  int64_t members = 0;
  absl::flat_hash_set<UnitId> ids;
  absl::flat_hash_set<std::string> names;
  for (const Unit& unit : city.units) {
    members += unit.members;
    CHECK(ids.insert(unit.id).second);
    CHECK(names.insert(unit.name).second);
    CHECK((unit.on_post == 2 || unit.on_post == 3));
    CHECK(unit.members >= unit.on_post);
  }
  CHECK(members == 290000);
  CHECK(std::filesystem::file_size(ConfigPath(DISPATCH_CONFIG_DIR, kUnitsFile)) < 5 * 1024 * 1024);
}

TEST_CASE("every committed unit lies in its own district and zone", "[units]") {
  const CityData& city = CommittedDataset();
  for (const Unit& unit : city.units) {
    const PlanePoint p = city.projection.ToPlane(unit.position);
    const District* district = city.map->DistrictAt(p);
    REQUIRE(district != nullptr);
    if (district->code != unit.district || city.map->ZoneAt(p) != unit.zone) {
      FAIL("unit " << unit.id << " is in district " << district->code << " zone "
                   << city.map->ZoneAt(p).value_or(0) << ", not " << unit.district << "/"
                   << unit.zone);
    }
  }
}

TEST_CASE("every committed district and zone has a reasonable number of units", "[units]") {
  const CityData& city = CommittedDataset();
  absl::flat_hash_map<DistrictCode, int> per_district;
  absl::flat_hash_map<ZoneId, int> per_zone;
  for (const Unit& unit : city.units) {
    ++per_district[unit.district];
    ++per_zone[unit.zone];
  }
  REQUIRE(city.map->districts().size() == 11);
  for (const District& district : city.map->districts()) {
    INFO(district.name_en);
    // The smallest district (Yuexiu) gets about 4% of the units, the largest (Baiyun) under 20%.
    CHECK(per_district[district.code] >= 500);
    CHECK(per_district[district.code] <= 5000);
  }
  for (const Zone& zone : city.map->zones()) {
    INFO("zone " << zone.id << " " << zone.name_zh);
    CHECK(per_zone[zone.id] >= 10);
  }
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

TEST_CASE("a duplicate id is found after the ids stop rising", "[units]") {
  ScratchDir dir;
  const std::string path = dir.File("out_of_order.csv");
  const std::string header = "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post\n";
  const auto row = [](int id) {
    return absl::StrCat(id, ",u", id, ",shop,foot,440104,23,113.27,23.12,6,2\n");
  };
  WriteText(path, header + row(5) + row(9) + row(3) + row(7));
  absl::StatusOr<std::vector<Unit>> read = ReadUnitsCsv(path);
  REQUIRE(read.ok());
  CHECK(read->size() == 4);
  // 9 was seen while the ids were still rising, before the order broke at 3.
  WriteText(path, header + row(5) + row(9) + row(3) + row(9));
  CheckRejected(ReadUnitsCsv(path).status(), path, 5, "duplicate id 9");
}

TEST_CASE("the registry finds units by id whether ids are dense or sparse", "[units]") {
  const TravelModel travel;
  const LocalProjection projection;
  for (const std::vector<UnitId>& ids :
       {std::vector<UnitId>{3, 1, 2, 5}, std::vector<UnitId>{4000000000u, 7, 123456789}}) {
    std::vector<Unit> units;
    for (UnitId id : ids) {
      units.push_back(MakeUnit(id, "u", UnitKind::kShop, TravelMode::kOnFoot, {113.27, 23.12}));
    }
    auto registry = UnitRegistry::Create(units, projection, travel);
    REQUIRE(registry.ok());
    for (Slot slot = 0; slot < ids.size(); ++slot) CHECK((*registry)->SlotOf(ids[slot]) == slot);
    CHECK_FALSE((*registry)->SlotOf(4).has_value());
    CHECK_FALSE((*registry)->SlotOf(4000000001u).has_value());
    CHECK_FALSE((*registry)->SlotOf(0).has_value());

    units.push_back(units.front());
    auto duplicate = UnitRegistry::Create(units, projection, travel);
    REQUIRE_FALSE(duplicate.ok());
    CHECK(absl::StrContains(duplicate.status().message(), "appears twice"));
  }
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

TEST_CASE(
    "a units file large enough to be parsed in two halves reads whole and reports lines "
    "across the cut",
    "[units]") {
  ScratchDir dir;
  const std::string path = dir.File("large_units.csv");
  constexpr int kRows = 160000;  // about 10 MB: over the two-thread threshold
  std::string text = "id,name,kind,travel_mode,district,zone,lon,lat,members,on_post\n";
  const auto row = [](int id) {
    return absl::StrCat(id, ",unit number ", id, ",shop,foot,440104,23,113.270000,23.120000,6,2\n");
  };
  for (int id = 1; id <= kRows; ++id) text += row(id);
  WriteText(path, text);
  absl::StatusOr<std::vector<Unit>> read = ReadUnitsCsv(path);
  REQUIRE(read.ok());
  REQUIRE(read->size() == static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; i += 997) CHECK((*read)[i].id == static_cast<UnitId>(i + 1));
  CHECK(read->back().id == static_cast<UnitId>(kRows));

  // A bad row late in the file: its line number counts the first half's lines.
  const std::string bad_late = text.substr(0, text.size() - row(kRows).size()) +
                               absl::StrCat(kRows, ",x,shop,foot,440104,23,113.27,23.12,0,2\n");
  WriteText(path, bad_late);
  CheckRejected(ReadUnitsCsv(path).status(), path, kRows + 1, "members");

  // An id of the first half repeated in the second.
  WriteText(path, text + row(17));
  CheckRejected(ReadUnitsCsv(path).status(), path, kRows + 2, "duplicate id 17");

  // A caller's check runs on every unit, on both halves' threads; the first unit it refuses in
  // file order is the error, even when a later half finishes first.
  WriteText(path, text);
  std::atomic<int> checked{0};
  read = ReadUnitsCsv(path, [&](const Unit&) {
    ++checked;
    return absl::OkStatus();
  });
  REQUIRE(read.ok());
  CHECK(checked.load() == kRows);
  absl::StatusOr<std::vector<Unit>> refused = ReadUnitsCsv(path, [](const Unit& unit) {
    if (unit.id == 20 || unit.id == kRows - 5 || unit.id == 90) {
      return absl::InvalidArgumentError(absl::StrCat("refused unit ", unit.id));
    }
    return absl::OkStatus();
  });
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message() == "refused unit 20");
}

}  // namespace
}  // namespace gz

namespace gz {
namespace {

TEST_CASE("the nearest offerable units are the tree search's, through status changes and moves",
          "[units]") {
  // Random units around the origin with a mix of modes; a random share made unofferable, some
  // moved, and queries compared with GeoIndex::NearestByTravelTime on the same predicate. The share
  // runs from nearly everyone offerable (the tree path) to nearly no one (the direct path).
  const uint64_t seed = testing::TestSeed();
  INFO("seed " << seed << " (DISPATCH_TEST_SEED overrides)");
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> coordinate(-6000, 6000);
  const TravelModel travel;
  const LocalProjection projection(LonLat{113.27, 23.12});
  std::vector<Unit> units;
  for (UnitId id = 1; id <= 3000; ++id) {
    // Every tenth unit shares a post with the one before: ties must be broken by slot alike.
    const PlanePoint at = id % 10 == 0 ? projection.ToPlane(units.back().position)
                                       : PlanePoint{coordinate(random), coordinate(random)};
    units.push_back(MakeUnit(id, "u", UnitKind::kShop, static_cast<TravelMode>(id % 3),
                             projection.ToLonLat(at)));
    units.back().on_post = 1;
  }
  auto created = UnitRegistry::Create(units, projection, travel);
  REQUIRE(created.ok());
  UnitRegistry& registry = **created;
  for (const double busy_share : {0.0, 0.5, 0.95, 0.995, 1.0}) {
    for (Slot slot = 0; slot < registry.size(); ++slot) {
      const bool busy = std::uniform_real_distribution<double>(0, 1)(random) < busy_share;
      registry.SetStatus(slot, busy ? UnitStatus::kAssigned : UnitStatus::kAvailable);
      if (slot % 7 == 0) {
        registry.MoveTo(slot, projection.ToLonLat({coordinate(random), coordinate(random)}));
      }
    }
    for (int query = 0; query < 200; ++query) {
      const PlanePoint p{coordinate(random), coordinate(random)};
      const int k = 1 + query % 6;
      const double ring_s = std::array<double, 4>{60, 300, 1200, 3600}[query % 4];
      const auto eligible = [&](Slot s) { return registry.Offerable(s) && s % 5 != 1; };
      std::vector<Candidate> direct, tree;
      registry.NearestOfferable(p, k, ring_s, eligible, &direct);
      registry.index().NearestByTravelTime(p, k, ring_s, eligible, &tree);
      INFO("busy share " << busy_share << ", query " << query);
      REQUIRE(direct == tree);
    }
  }
  // Nobody offerable at all: nothing, without a search.
  for (Slot slot = 0; slot < registry.size(); ++slot) registry.SetOnPost(slot, 0);
  std::vector<Candidate> none;
  registry.NearestOfferable(
      {0, 0}, 3, 3600, [&](Slot s) { return registry.Offerable(s); }, &none);
  CHECK(none.empty());
}

}  // namespace
}  // namespace gz
