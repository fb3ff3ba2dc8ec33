// Human-readable one-line descriptions of events, for drills, logs and dispatchctl.

#ifndef ENGINE_DISPATCH_EVENT_FORMAT_H_
#define ENGINE_DISPATCH_EVENT_FORMAT_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/dispatch/events.h"

namespace gz {

// E.g. "incident 12: assignment 40 to unit 5123 (frontline, 2 on post, 412 m, eta 6m13s, ring
// 10m)". Times are not included; callers prefix them in the clock they show.
std::string FormatEvent(const EventBody& event);

// The incident an event concerns; 0 for events about no incident (a rejected alert or command
// without one).
IncidentId IncidentOf(const EventBody& event);

// Short name of the event type, e.g. "assignment_issued".
absl::string_view EventTypeName(const EventBody& event);

// "+MM:SS" (or "+H:MM:SS") offset of `t` from `origin`.
std::string FormatOffset(absl::Time t, absl::Time origin);

}  // namespace gz

#endif  // ENGINE_DISPATCH_EVENT_FORMAT_H_
