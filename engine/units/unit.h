// A minimum emergency unit (最小應急單元): a post (hotel, shop, school, ...) with 2-3 trained
// people on duty out of its members. Plain data; the registry owns the live copies.

#ifndef ENGINE_UNITS_UNIT_H_
#define ENGINE_UNITS_UNIT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/geo/projection.h"

namespace gz {

using UnitId = uint32_t;
using ZoneId = uint32_t;
using DistrictCode = int32_t;  // National administrative code, e.g. 440103 for 荔湾区.

// Values are stable: they appear in the dataset and on the wire.
enum class UnitKind : uint8_t {
  kUnspecified = 0,
  kHotel = 1,
  kShop = 2,
  kMarket = 3,
  kSchool = 4,
  kHospital = 5,
  kResidentialCompound = 6,
  kTransportHub = 7,
  kEnterprise = 8,
  kPublicVenue = 9,
  kGovernmentOffice = 10,
};

// How the unit's people get to a scene; each mode has a speed in the dispatch config.
enum class TravelMode : uint8_t {
  kOnFoot = 0,
  kBicycle = 1,  // bicycle or e-bike
  kVehicle = 2,
};
inline constexpr int kTravelModeCount = 3;

enum class UnitStatus : uint8_t {
  kAvailable = 0,     // on post and free to be offered
  kAssigned = 1,      // reserved by exactly one incident
  kOffPost = 2,       // nobody on post: never offered
  kOutOfService = 3,  // withdrawn by an operator: never offered
};

// Fields are ordered to pack into 72 bytes (88 in declaration-by-topic order): millions are
// loaded at a start, and each byte is a page fault's share.
struct Unit {
  UnitId id = 0;
  UnitKind kind = UnitKind::kUnspecified;
  TravelMode mode = TravelMode::kOnFoot;
  UnitStatus status = UnitStatus::kAvailable;
  std::string name;
  LonLat position;  // current position (the post, unless a patrol moved)
  DistrictCode district = 0;
  ZoneId zone = 0;      // street/town zone (synthetic, see config/README.md)
  int32_t members = 0;  // people enrolled in the unit
  int32_t on_post = 0;  // people on duty now; what assembly counts
};
static_assert(sizeof(Unit) <= 72, "Unit no longer packs into 72 bytes");

absl::string_view UnitKindName(UnitKind kind);
std::optional<UnitKind> ParseUnitKind(absl::string_view name);
absl::string_view TravelModeName(TravelMode mode);
std::optional<TravelMode> ParseTravelMode(absl::string_view name);
absl::string_view UnitStatusName(UnitStatus status);

}  // namespace gz

#endif  // ENGINE_UNITS_UNIT_H_
