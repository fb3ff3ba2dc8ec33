// The fingerprint a journal carries of what its commands were applied to.
//
// Replaying a journal reproduces the engine's state only against the same unit set, the same map
// and the same dispatch policy: the same alert lands in another zone on another map, or picks other
// units with other speeds. dispatchd stores this fingerprint in every segment header and refuses
// to replay a journal whose fingerprint differs from its own, rather than rebuild a state that
// never was.
//
// It covers everything the core's decisions depend on: every field of DispatchConfig, the
// projection origin, every district polygon and zone seed, and every unit's id, kind, travel mode,
// position, district, zone, members, on-post headcount and status (in file order: the order fixes
// the registry's slots and so breaks ties). Names are left out; they change no decision.
// A field added to DispatchConfig, Unit or the map must be added here too.
//
// FNV-1a, 64 bits: it catches accidents (another dataset, an edited policy), not tampering.

#ifndef ENGINE_JOURNAL_FINGERPRINT_H_
#define ENGINE_JOURNAL_FINGERPRINT_H_

#include <cstdint>
#include <vector>

#include "engine/dispatch/dispatch_config.h"
#include "engine/geo/district_map.h"
#include "engine/geo/projection.h"
#include "engine/units/unit.h"

namespace gz::journal {

uint64_t EngineFingerprint(const DispatchConfig& config, const LocalProjection& projection,
                           const DistrictMap& map, const std::vector<Unit>& units);

}  // namespace gz::journal

#endif  // ENGINE_JOURNAL_FINGERPRINT_H_
