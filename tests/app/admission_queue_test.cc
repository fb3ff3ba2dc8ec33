#include "engine/app/admission_queue.h"

#include <catch2/catch.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/support/test_seed.h"

namespace gz {
namespace {

std::vector<int> DrainAll(AdmissionQueue<int>& queue) {
  std::vector<int> out;
  while (std::optional<int> item = queue.PopMostSevere()) out.push_back(*item);
  return out;
}

TEST_CASE("the admission queue hands out the most severe level first and keeps arrival order",
          "[admission]") {
  AdmissionQueue<int> queue(10);
  CHECK_FALSE(queue.Push(Level::kIvGeneral, 1).has_value());
  CHECK_FALSE(queue.Push(Level::kIiMajor, 2).has_value());
  CHECK_FALSE(queue.Push(Level::kIvGeneral, 3).has_value());
  CHECK_FALSE(queue.Push(Level::kIExtreme, 4).has_value());
  CHECK_FALSE(queue.Push(Level::kIiMajor, 5).has_value());
  CHECK(queue.size() == 5);
  CHECK(queue.size_at(Level::kIiMajor) == 2);
  CHECK(DrainAll(queue) == std::vector<int>{4, 2, 5, 1, 3});
  CHECK(queue.empty());
  CHECK_FALSE(queue.PopMostSevere().has_value());
}

TEST_CASE("a full admission queue sheds the newest of the least severe level", "[admission]") {
  AdmissionQueue<int> queue(3);
  queue.Push(Level::kIvGeneral, 1);
  queue.Push(Level::kIvGeneral, 2);
  queue.Push(Level::kIiiLarge, 3);
  // A level-I alert displaces the newest level-IV one.
  CHECK(queue.Push(Level::kIExtreme, 4) == 2);
  // Another level-IV alert has nothing less severe to displace: it is the one refused.
  CHECK(queue.Push(Level::kIvGeneral, 5) == 5);
  // A level-III alert displaces the last level-IV one, then level III is the least severe left.
  CHECK(queue.Push(Level::kIiiLarge, 6) == 1);
  CHECK(queue.Push(Level::kIiiLarge, 7) == 7);
  CHECK(queue.size() == 3);
  CHECK(DrainAll(queue) == std::vector<int>{4, 3, 6});
}

TEST_CASE(
    "under random load the admission queue never sheds a more severe alert for a less "
    "severe one and loses nothing",
    "[admission]") {
  std::mt19937_64 random(testing::TestSeed());
  AdmissionQueue<std::pair<int, int>> queue(50);  // (level, id)
  std::vector<int> handed_out, shed;
  int next_id = 0;
  for (int step = 0; step < 20000; ++step) {
    if (random() % 3 != 0) {
      const int level = 1 + static_cast<int>(random() % 4);
      const std::pair<int, int> item{level, next_id++};
      const size_t before = queue.size();
      std::optional<std::pair<int, int>> refused = queue.Push(static_cast<Level>(level), item);
      if (refused) {
        REQUIRE(before == queue.capacity());
        // Whatever was refused is no more severe than anything still queued.
        AdmissionQueue<std::pair<int, int>> copy = queue;
        while (auto left = copy.PopMostSevere()) REQUIRE(left->first >= refused->first);
        shed.push_back(refused->second);
      }
    } else if (auto item = queue.PopMostSevere()) {
      handed_out.push_back(item->second);
    }
    REQUIRE(queue.size() <= queue.capacity());
  }
  const size_t queued = queue.size();
  CHECK(handed_out.size() + shed.size() + queued == static_cast<size_t>(next_id));
  CHECK_FALSE(shed.empty());  // the test did reach overload
}

}  // namespace
}  // namespace gz
