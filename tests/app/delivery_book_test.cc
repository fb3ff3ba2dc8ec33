#include "engine/app/delivery_book.h"

#include <catch2/catch.hpp>

namespace gz {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

std::vector<uint64_t> Sequences(const std::vector<DeliveryBook::Send>& sends) {
  std::vector<uint64_t> out;
  for (const auto& s : sends) out.push_back(s.sequence);
  return out;
}

TEST_CASE("deliveries to an absent unit wait and come after its Hello in order",
          "[app][delivery]") {
  DeliveryBook book(16);
  for (int i = 0; i < 3; ++i) {
    const uint64_t seq = book.NextSequence(7);
    CHECK(seq == static_cast<uint64_t>(i + 1));
    CHECK_FALSE(book.Queue(7, seq, "frame", 100 + i));  // not connected: nothing sent yet
  }
  CHECK(book.Due(kT0, absl::Seconds(1)).empty());
  const auto hello = book.Hello(7, "conn-a", 0, kT0);
  CHECK(hello.resend_from == 1);
  CHECK(hello.last_sequence_sent == 3);
  CHECK(Sequences(book.PendingFor(7)) == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE("a receipt and an answer stop resends", "[app][delivery]") {
  DeliveryBook book(16);
  book.Hello(7, "conn-a", 0, kT0);
  for (int i = 0; i < 4; ++i) {
    const uint64_t seq = book.NextSequence(7);
    REQUIRE(book.Queue(7, seq, "frame", seq == 4 ? 99 : 0));
    book.MarkSent(7, seq, kT0);
  }
  CHECK(book.Due(kT0 + absl::Milliseconds(500), absl::Seconds(1)).empty());
  CHECK(Sequences(book.Due(kT0 + absl::Seconds(1), absl::Seconds(1))) ==
        std::vector<uint64_t>{1, 2, 3, 4});
  book.Receipt(7, 2);
  book.Answered(7, 99);  // the ack of the assignment in delivery 4
  CHECK(Sequences(book.Due(kT0 + absl::Seconds(1), absl::Seconds(1))) == std::vector<uint64_t>{3});
}

TEST_CASE("a reconnecting unit gets what came after what it saw", "[app][delivery]") {
  DeliveryBook book(16);
  book.Hello(7, "conn-a", 0, kT0);
  for (int i = 0; i < 5; ++i) book.Queue(7, book.NextSequence(7), "frame", 0);
  book.Disconnect(7);
  CHECK(book.UnitOfRoutingId("conn-a") == 0);
  const auto hello = book.Hello(7, "conn-b", 3, kT0 + absl::Seconds(5));
  CHECK(hello.resend_from == 4);
  CHECK(Sequences(book.PendingFor(7)) == std::vector<uint64_t>{4, 5});
  CHECK(book.UnitOfRoutingId("conn-b") == 7);
}

TEST_CASE("the per-unit bound drops the oldest and says so at the next Hello", "[app][delivery]") {
  DeliveryBook book(4);
  for (int i = 0; i < 6; ++i) book.Queue(9, book.NextSequence(9), "frame", 0);
  CHECK(book.dropped_total() == 2);
  const auto hello = book.Hello(9, "conn", 0, kT0);
  CHECK(hello.resend_from == 3);  // 1 and 2 were dropped: the client learns it missed them
}

TEST_CASE("a silent unit is disconnected after the cutoff", "[app][delivery]") {
  DeliveryBook book(4);
  book.Hello(1, "a", 0, kT0);
  book.Hello(2, "b", 0, kT0);
  book.Heard(2, kT0 + absl::Seconds(5));
  CHECK(book.DisconnectSilent(kT0 + absl::Seconds(3)) == std::vector<UnitId>{1});
  CHECK(book.connected() == 1);
}

TEST_CASE("a routing id reused by another unit disconnects the first", "[app][delivery]") {
  DeliveryBook book(4);
  book.Hello(1, "same", 0, kT0);
  const auto hello = book.Hello(2, "same", 0, kT0);
  CHECK(hello.replaced_unit == 1);
  CHECK(book.UnitOfRoutingId("same") == 2);
  CHECK_FALSE(book.Find(1)->connected);
}

// Found by the fuzz_commands harness: the first unit's Hello elsewhere used to erase the routing
// id it had lost, so the unit now on it was refused as if it had never said Hello.
TEST_CASE("a unit back on a new connection leaves its old routing id to the unit now on it",
          "[app][delivery]") {
  DeliveryBook book(4);
  book.Hello(1, "same", 0, kT0);
  book.Hello(2, "same", 0, kT0);
  book.Hello(1, "other", 0, kT0);
  CHECK(book.UnitOfRoutingId("same") == 2);
  CHECK(book.UnitOfRoutingId("other") == 1);
  CHECK(book.Find(2)->connected);
  CHECK(book.connected() == 2);
}

}  // namespace
}  // namespace gz
