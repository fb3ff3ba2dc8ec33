#include "engine/incidents/lifecycle.h"

#include <array>
#include <utility>

namespace gz {
namespace {

using S = IncidentState;

constexpr std::array<std::pair<S, S>, 20> kLegalTransitions{{
    {S::kReported, S::kDispatched},    {S::kReported, S::kEscalated},
    {S::kReported, S::kCancelled},     {S::kDispatched, S::kAcknowledged},
    {S::kDispatched, S::kEscalated},   {S::kDispatched, S::kResolved},
    {S::kDispatched, S::kCancelled},   {S::kAcknowledged, S::kOnScene},
    {S::kAcknowledged, S::kEscalated}, {S::kAcknowledged, S::kResolved},
    {S::kAcknowledged, S::kCancelled}, {S::kEscalated, S::kDispatched},
    {S::kEscalated, S::kAcknowledged}, {S::kEscalated, S::kOnScene},
    {S::kEscalated, S::kResolved},     {S::kEscalated, S::kCancelled},
    {S::kOnScene, S::kResolved},       {S::kOnScene, S::kCancelled},
    {S::kResolved, S::kClosed},        {S::kCancelled, S::kClosed},
}};

}  // namespace

bool IsLegalTransition(IncidentState from, IncidentState to) {
  if (from == to) return false;  // a transition changes the state; re-entering is not one
  for (const auto& [f, t] : kLegalTransitions) {
    if (f == from && t == to) return true;
  }
  return false;
}

bool IsOpen(IncidentState state) {
  switch (state) {
    case S::kReported:
    case S::kDispatched:
    case S::kAcknowledged:
    case S::kOnScene:
    case S::kEscalated:
      return true;
    default:
      return false;
  }
}

absl::string_view IncidentStateName(IncidentState state) {
  switch (state) {
    case S::kUnspecified:
      return "unspecified";
    case S::kReported:
      return "reported";
    case S::kDispatched:
      return "dispatched";
    case S::kAcknowledged:
      return "acknowledged";
    case S::kOnScene:
      return "on_scene";
    case S::kResolved:
      return "resolved";
    case S::kClosed:
      return "closed";
    case S::kEscalated:
      return "escalated";
    case S::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

}  // namespace gz
