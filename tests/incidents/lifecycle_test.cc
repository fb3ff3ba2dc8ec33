#include "engine/incidents/lifecycle.h"

#include <catch2/catch.hpp>

namespace gz {
namespace {

using S = IncidentState;

TEST_CASE("lifecycle allows the closed loop and refuses shortcuts", "[incidents][lifecycle]") {
  CHECK(IsLegalTransition(S::kReported, S::kDispatched));
  CHECK(IsLegalTransition(S::kDispatched, S::kAcknowledged));
  CHECK(IsLegalTransition(S::kAcknowledged, S::kOnScene));
  CHECK(IsLegalTransition(S::kOnScene, S::kResolved));
  CHECK(IsLegalTransition(S::kResolved, S::kClosed));
  CHECK(IsLegalTransition(S::kCancelled, S::kClosed));
  CHECK(IsLegalTransition(S::kEscalated, S::kAcknowledged));

  CHECK_FALSE(IsLegalTransition(S::kReported, S::kClosed));
  CHECK_FALSE(IsLegalTransition(S::kReported, S::kOnScene));
  CHECK_FALSE(IsLegalTransition(S::kDispatched, S::kClosed));
  CHECK_FALSE(IsLegalTransition(S::kClosed, S::kReported));
  CHECK_FALSE(IsLegalTransition(S::kResolved, S::kDispatched));
  CHECK_FALSE(IsLegalTransition(S::kCancelled, S::kResolved));
  CHECK_FALSE(IsLegalTransition(S::kOnScene, S::kOnScene));
}

TEST_CASE("a closed incident can go nowhere", "[incidents][lifecycle]") {
  for (int to = 0; to <= 8; ++to) {
    CHECK_FALSE(IsLegalTransition(S::kClosed, static_cast<S>(to)));
  }
}

TEST_CASE("every open state can be cancelled and no ended state is open",
          "[incidents][lifecycle]") {
  for (S s : {S::kReported, S::kDispatched, S::kAcknowledged, S::kOnScene, S::kEscalated}) {
    CHECK(IsOpen(s));
    CHECK(IsLegalTransition(s, S::kCancelled));
  }
  for (S s : {S::kResolved, S::kClosed, S::kCancelled}) CHECK_FALSE(IsOpen(s));
}

}  // namespace
}  // namespace gz
