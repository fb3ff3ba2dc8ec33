// The incident lifecycle as an explicit table of legal transitions (事件閉環).
//
//   reported ─▶ dispatched ─▶ acknowledged ─▶ on_scene ─▶ resolved ─▶ closed
//       │            │              │             │
//       └────────────┴──────────────┴─▶ escalated ┘ (no frontline unit could be found: handed to
//                                                    professional forces; units may still join)
//   any open state ─▶ cancelled ─▶ closed
//
// Anything not in the table is refused with RejectReason::kIllegalTransition and changes nothing.

#ifndef ENGINE_INCIDENTS_LIFECYCLE_H_
#define ENGINE_INCIDENTS_LIFECYCLE_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gz {

// Values match protocol IncidentState.
enum class IncidentState : uint8_t {
  kUnspecified = 0,
  kReported = 1,
  kDispatched = 2,
  kAcknowledged = 3,
  kOnScene = 4,
  kResolved = 5,
  kClosed = 6,
  kEscalated = 7,
  kCancelled = 8,
};

bool IsLegalTransition(IncidentState from, IncidentState to);

// Open means units may still be assigned: not resolved, closed or cancelled.
bool IsOpen(IncidentState state);

absl::string_view IncidentStateName(IncidentState state);

}  // namespace gz

#endif  // ENGINE_INCIDENTS_LIFECYCLE_H_
