// The client side's wire conversions: protocol enums to the engine's domain enums, and the human
// text clients print (event lines, positions, district names, the control room's clock).
//
// Internal to the client library and dispatchctl (it exposes the generated protobuf types).
// Stateless; safe from any thread.

#ifndef ENGINE_CLIENT_WIRE_TEXT_H_
#define ENGINE_CLIENT_WIRE_TEXT_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/dispatch/dispatch_config.h"
#include "engine/dispatch/reason.h"
#include "engine/geo/projection.h"
#include "engine/incidents/lifecycle.h"
#include "engine/units/unit.h"
#include "protocol/dispatch.pb.h"

namespace gz::client {

namespace pb = ::gz::dispatch::v1;

// Wire value -> domain value. The enums below share their numbers with the protocol; a value this
// build does not know reads as kUnspecified (protocol/README.md, evolution rule 4).
Category FromWire(pb::Category v);
Level FromWire(pb::Level v);
AssignmentRole FromWire(pb::AssignmentRole v);
CascadeReason FromWire(pb::CascadeReason v);
DeclineReason FromWire(pb::DeclineReason v);
RejectReason FromWire(pb::RejectReason v);
IncidentState FromWire(pb::IncidentState v);
NotifyTarget FromWire(pb::NotifyTarget v);
UnitKind FromWire(pb::UnitKind v);
// These two are numbered differently on the wire (the engine's enums have no "unspecified");
// nullopt for unspecified or unknown.
std::optional<UnitStatus> FromWire(pb::UnitStatus v);
std::optional<TravelMode> FromWire(pb::TravelMode v);

pb::UnitStatus ToWire(UnitStatus status);
LonLat FromWire(const pb::LonLat& p);
void ToWire(LonLat p, pb::LonLat* out);

// Parses "available", "off_post", "out_of_service", "assigned" (also with '-' for '_').
std::optional<UnitStatus> ParseUnitStatus(absl::string_view name);
// Parses "frontline" / "assembly".
std::optional<AssignmentRole> ParseAssignmentRole(absl::string_view name);
// Parses "busy", "understaffed", "too_far", "unsafe", "other".
std::optional<DeclineReason> ParseDeclineReason(absl::string_view name);

// English name of a Guangzhou district by national code ("Yuexiu" for 440104); "district <code>"
// for a code outside the city, "-" for 0.
std::string DistrictName(int32_t code);

// Guangzhou local time (UTC+8, no daylight saving): the clock the control room reads.
absl::TimeZone GuangzhouTime();
// "08:01:02" in Guangzhou time; "-" for 0 microseconds.
std::string FormatClock(int64_t unix_us);
// "2024-05-01 08:01:02" in Guangzhou time; "-" for 0 microseconds.
std::string FormatDateTime(int64_t unix_us);
// "(113.2644,23.1291)".
std::string FormatPosition(const pb::LonLat& p);
// "6m13s" for 373 seconds.
std::string FormatSeconds(uint32_t seconds);

// Short name of the event's detail, e.g. "incident_opened"; "unknown" when it has none.
absl::string_view EventKindName(const pb::IncidentEvent& event);

// The event in one line without time or incident id, e.g. "fire IV opened at (113.2600,23.1300)
// Yuexiu zone 17", "unit 5123 acknowledged assignment 40", "state dispatched -> acknowledged".
std::string DescribeEvent(const pb::IncidentEvent& event);

// The line dispatchctl watch prints: "08:01:02  #12 " + DescribeEvent(event) ("#-" for incident 0).
std::string FormatEventLine(const pb::IncidentEvent& event);

}  // namespace gz::client

#endif  // ENGINE_CLIENT_WIRE_TEXT_H_
