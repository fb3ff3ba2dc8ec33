#include "engine/auth/allow_list.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/auth/curve_keys.h"

namespace gz::auth {
namespace {

// Fixed keys (as `dispatchctl keygen` would print them) so failures read the same every run.
constexpr char kAlice[] = "o7O%X&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKUN";
constexpr char kPhone[] = "^V=2B(9ZgV(=561AM{7!/+)PVW^fDf.%+=5.C+.W";
constexpr char kFleet[] = "ms@i+u8L5HFz9R5e7Kk.@dYN+-8naHfLJ-#2SQx!";
constexpr char kOld[] = "Fjl*#5jEtsJl/pvM}$c3{ekJg9@V6EOJ#v3sJ}%5";  // '#' inside is fine

std::string TempDir() {
  char dir[] = "/tmp/gz-dispatch-auth-test-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  return dir;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST_CASE("an allow-list gives each key its role unit and User-Id", "[auth]") {
  const std::string text = absl::StrCat(
      "# the control room\n", "\n", kAlice, " operator alice   # day shift\n", kPhone,
      "\tresponder 5123 phone-2024\n", kFleet, " drill\n", kOld, " revoked responder 5123 old\n");
  absl::StatusOr<AllowList> list = AllowList::Parse(text, "clients.allow");
  REQUIRE(list.ok());
  REQUIRE(list->clients().size() == 4);
  CHECK(list->active() == 3);

  const AllowedClient* alice = list->Find(kAlice);
  REQUIRE(alice != nullptr);
  CHECK(alice->role == Role::kOperator);
  CHECK(alice->label == "alice");
  CHECK(alice->line == 3);
  CHECK(alice->UserId() == "operator:alice");

  const AllowedClient* phone = list->Find(kPhone);
  REQUIRE(phone != nullptr);
  CHECK(phone->role == Role::kResponder);
  CHECK(phone->unit == 5123);
  CHECK(phone->UserId() == "responder:5123");

  CHECK(list->Find(kFleet)->UserId() == "drill");
  const AllowedClient* old = list->Find(kOld);
  REQUIRE(old != nullptr);
  CHECK(old->revoked);
  CHECK(old->unit == 5123);
  CHECK(list->Find("0000000000000000000000000000000000000000") == nullptr);
}

TEST_CASE("a malformed allow-list line is reported with its file and line", "[auth]") {
  const std::pair<std::string, std::string> cases[] = {
      {"not-a-key operator\n", "is not a public key"},
      {absl::StrCat(kAlice, "\n"), "a role must follow the key"},
      {absl::StrCat(kAlice, " admin\n"), "unknown role 'admin'"},
      {absl::StrCat(kPhone, " responder\n"), "needs its unit id"},
      {absl::StrCat(kPhone, " responder 0\n"), "needs its unit id"},
      {absl::StrCat(kPhone, " responder five\n"), "needs its unit id"},
      {absl::StrCat(kAlice, " operator al!ce\n"), "is not a label"},
      {absl::StrCat(kAlice, " operator alice extra\n"), "unexpected 'extra'"},
      {absl::StrCat(kAlice, " operator\n", kAlice, " drill\n"), "already listed on line 2"},
  };
  for (const auto& [text, why] : cases) {
    INFO(text);
    absl::StatusOr<AllowList> list = AllowList::Parse(absl::StrCat("# header\n", text), "k/a");
    REQUIRE_FALSE(list.ok());
    const std::string message(list.status().message());
    CHECK_THAT(message, Catch::Contains(why));
    // The bad line is the last one: line 2, or 3 for the duplicate.
    CHECK_THAT(message,
               Catch::StartsWith(why == "already listed on line 2" ? "k/a:3: " : "k/a:2: "));
  }
}

TEST_CASE("each role is allowed on its channels only", "[auth]") {
  using C = Channel;
  CHECK(RoleAllowedOn(Role::kOperator, C::kIntake));
  CHECK(RoleAllowedOn(Role::kOperator, C::kOperator));
  CHECK(RoleAllowedOn(Role::kOperator, C::kFeed));
  CHECK_FALSE(RoleAllowedOn(Role::kOperator, C::kResponder));
  CHECK(RoleAllowedOn(Role::kResponder, C::kResponder));
  for (C c : {C::kIntake, C::kOperator, C::kFeed}) CHECK_FALSE(RoleAllowedOn(Role::kResponder, c));
  for (C c : {C::kIntake, C::kResponder, C::kOperator, C::kFeed}) {
    CHECK(RoleAllowedOn(Role::kDrill, c));
  }
  CHECK(RoleAllowedOn(Role::kAlertSource, C::kIntake));
  for (C c : {C::kResponder, C::kOperator, C::kFeed}) {
    CHECK_FALSE(RoleAllowedOn(Role::kAlertSource, c));
  }
  for (C c : {C::kIntake, C::kResponder, C::kOperator, C::kFeed}) {
    CHECK(ChannelOfDomain(ChannelName(c)) == c);
  }
  CHECK_FALSE(ChannelOfDomain("global").has_value());
}

TEST_CASE("a responder identity speaks for its own unit and a drill for any", "[auth]") {
  const std::optional<Identity> responder = ParseUserId("responder:5123");
  REQUIRE(responder.has_value());
  CHECK(MaySpeakFor(*responder, 5123));
  CHECK_FALSE(MaySpeakFor(*responder, 5124));
  const std::optional<Identity> drill = ParseUserId("drill:fleet");
  REQUIRE(drill.has_value());
  CHECK(MaySpeakFor(*drill, 5124));
  CHECK_FALSE(MaySpeakFor(*ParseUserId("operator:alice"), 5123));
  CHECK_FALSE(ParseUserId("responder").has_value());
  CHECK_FALSE(ParseUserId("responder:x").has_value());
  CHECK_FALSE(ParseUserId("root:1").has_value());
}

TEST_CASE("enrolling and revoking rewrite the allow-list and keep its comments", "[auth]") {
  const std::string path = TempDir() + "/clients.allow";
  { std::ofstream(path) << "# the control room\n" << kAlice << " operator alice\n"; }
  AllowedClient phone;
  phone.public_key = kPhone;
  phone.role = Role::kResponder;
  phone.unit = 5123;
  phone.label = "phone-2024";
  REQUIRE(EnrolClient(path, phone).ok());
  // The same key twice is refused, and a responder without a unit is not written at all.
  CHECK(absl::IsAlreadyExists(EnrolClient(path, phone)));
  AllowedClient unitless = phone;
  unitless.public_key = kFleet;
  unitless.unit = 0;
  CHECK(absl::IsInvalidArgument(EnrolClient(path, unitless)));

  absl::StatusOr<AllowList> list = AllowList::Read(path);
  REQUIRE(list.ok());
  CHECK(list->active() == 2);
  CHECK(list->Find(kPhone)->line == 3);

  absl::StatusOr<std::vector<AllowedClient>> revoked = RevokeClients(
      path, [](const AllowedClient& c) { return c.unit == 5123; }, "lost phone");
  REQUIRE(revoked.ok());
  REQUIRE(revoked->size() == 1);
  CHECK(revoked->front().public_key == kPhone);
  const std::string text = ReadAll(path);
  CHECK_THAT(text, Catch::StartsWith("# the control room\n"));
  CHECK_THAT(text, Catch::Contains(absl::StrCat(kPhone, " revoked responder 5123 phone-2024")));
  CHECK_THAT(text, Catch::Contains("# revoked lost phone"));

  list = AllowList::Read(path);
  REQUIRE(list.ok());
  CHECK(list->Find(kPhone)->revoked);
  CHECK(list->active() == 1);
  // Nothing left to revoke: nothing matched, nothing written; a revoked key is not enrolled again.
  revoked = RevokeClients(
      path, [](const AllowedClient& c) { return c.unit == 5123; }, "");
  REQUIRE(revoked.ok());
  CHECK(revoked->empty());
  CHECK(absl::IsAlreadyExists(EnrolClient(path, phone)));
}

TEST_CASE("a missing allow-list is not found and enrolling creates it", "[auth]") {
  const std::string path = TempDir() + "/clients.allow";
  CHECK(absl::IsNotFound(AllowList::Read(path).status()));
  AllowedClient fleet;
  fleet.public_key = kFleet;
  fleet.role = Role::kDrill;
  fleet.label = "fleet";
  REQUIRE(EnrolClient(path, fleet).ok());
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  absl::StatusOr<AllowList> list = AllowList::Read(path);
  REQUIRE(list.ok());
  CHECK(list->Find(kFleet)->UserId() == "drill:fleet");
}

}  // namespace
}  // namespace gz::auth
