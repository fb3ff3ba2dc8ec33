#include "engine/units/unit.h"

#include <array>
#include <utility>

namespace gz {
namespace {

constexpr std::array<std::pair<UnitKind, absl::string_view>, 11> kKindNames{{
    {UnitKind::kUnspecified, "unspecified"},
    {UnitKind::kHotel, "hotel"},
    {UnitKind::kShop, "shop"},
    {UnitKind::kMarket, "market"},
    {UnitKind::kSchool, "school"},
    {UnitKind::kHospital, "hospital"},
    {UnitKind::kResidentialCompound, "residential_compound"},
    {UnitKind::kTransportHub, "transport_hub"},
    {UnitKind::kEnterprise, "enterprise"},
    {UnitKind::kPublicVenue, "public_venue"},
    {UnitKind::kGovernmentOffice, "government_office"},
}};

constexpr std::array<std::pair<TravelMode, absl::string_view>, kTravelModeCount> kModeNames{{
    {TravelMode::kOnFoot, "foot"},
    {TravelMode::kBicycle, "bicycle"},
    {TravelMode::kVehicle, "vehicle"},
}};

}  // namespace

absl::string_view UnitKindName(UnitKind kind) {
  for (const auto& [k, name] : kKindNames) {
    if (k == kind) return name;
  }
  return "unknown";
}

std::optional<UnitKind> ParseUnitKind(absl::string_view name) {
  for (const auto& [k, n] : kKindNames) {
    if (n == name) return k;
  }
  return std::nullopt;
}

absl::string_view TravelModeName(TravelMode mode) {
  for (const auto& [m, name] : kModeNames) {
    if (m == mode) return name;
  }
  return "unknown";
}

std::optional<TravelMode> ParseTravelMode(absl::string_view name) {
  for (const auto& [m, n] : kModeNames) {
    if (n == name) return m;
  }
  return std::nullopt;
}

absl::string_view UnitStatusName(UnitStatus status) {
  switch (status) {
    case UnitStatus::kAvailable:
      return "available";
    case UnitStatus::kAssigned:
      return "assigned";
    case UnitStatus::kOffPost:
      return "off_post";
    case UnitStatus::kOutOfService:
      return "out_of_service";
  }
  return "unknown";
}

}  // namespace gz
