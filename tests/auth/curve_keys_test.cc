#include "engine/auth/curve_keys.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace gz::auth {
namespace {

std::string TempDir() {
  char dir[] = "/tmp/gz-dispatch-keys-test-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  return dir;
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

TEST_CASE("a key pair written to files reads back whole with a private secret", "[auth]") {
  absl::StatusOr<CurveKeyPair> pair = GenerateKeyPair();
  REQUIRE(pair.ok());
  CHECK(IsZ85Key(pair->public_key));
  CHECK(IsZ85Key(pair->secret_key));
  CHECK(PublicKeyOf(pair->secret_key).value() == pair->public_key);

  const std::string prefix = TempDir() + "/phone-5123";
  REQUIRE(WriteKeyPair(prefix, *pair, "unit 5123's phone").ok());
  CHECK(ModeOf(SecretKeyPath(prefix)) == 0600);
  CHECK(ModeOf(PublicKeyPath(prefix)) == 0644);
  absl::StatusOr<CurveKeyPair> read = ReadKeyPair(prefix);
  REQUIRE(read.ok());
  CHECK(read->public_key == pair->public_key);
  CHECK(read->secret_key == pair->secret_key);
  // Never overwritten.
  CHECK(absl::IsAlreadyExists(WriteKeyPair(prefix, *GenerateKeyPair(), "another")));
  CHECK(ReadKeyPair(prefix)->public_key == pair->public_key);
}

TEST_CASE("key files that cannot be trusted are refused with the reason", "[auth]") {
  const std::string dir = TempDir();
  const std::string prefix = dir + "/k";
  REQUIRE(WriteKeyPair(prefix, *GenerateKeyPair(), "test").ok());

  SECTION("a secret readable by others") {
    REQUIRE(chmod(SecretKeyPath(prefix).c_str(), 0644) == 0);
    absl::StatusOr<CurveKeyPair> read = ReadKeyPair(prefix);
    CHECK(absl::IsPermissionDenied(read.status()));
    CHECK_THAT(std::string(read.status().message()), Catch::Contains("chmod 600"));
  }
  SECTION("a public key from another pair") {
    REQUIRE(std::remove(PublicKeyPath(prefix).c_str()) == 0);
    std::ofstream(PublicKeyPath(prefix)) << GenerateKeyPair()->public_key << "\n";
    CHECK(absl::IsFailedPrecondition(ReadKeyPair(prefix).status()));
  }
  SECTION("a file that holds no key") {
    std::ofstream(dir + "/bad.key") << "# a comment\nnot a key\n";
    absl::StatusOr<std::string> read = ReadPublicKeyFile(dir + "/bad.key");
    CHECK(absl::IsInvalidArgument(read.status()));
    CHECK_THAT(std::string(read.status().message()), Catch::Contains("bad.key:2:"));
  }
  SECTION("a missing file") {
    CHECK(absl::IsNotFound(ReadPublicKeyFile(dir + "/none.key").status()));
  }
}

TEST_CASE("client keys come from a key directory or from an explicit pair", "[auth]") {
  const std::string dir = TempDir();
  REQUIRE(WriteKeyPair(dir + "/server", *GenerateKeyPair(), "server").ok());
  REQUIRE(WriteKeyPair(dir + "/operator", *GenerateKeyPair(), "operator").ok());
  REQUIRE(WriteKeyPair(dir + "/mine", *GenerateKeyPair(), "mine").ok());
  const std::string server = ReadPublicKeyFile(dir + "/server.key").value();

  absl::StatusOr<CurveClientKeys> from_dir = ClientKeysFromFlags(dir, "", "", "operator");
  REQUIRE(from_dir.ok());
  CHECK(from_dir->server_public == server);
  CHECK(from_dir->client_public == ReadPublicKeyFile(dir + "/operator.key").value());
  CHECK(from_dir->Validate().ok());

  absl::StatusOr<CurveClientKeys> explicit_pair =
      ClientKeysFromFlags("", dir + "/mine", dir + "/server.key", "operator");
  REQUIRE(explicit_pair.ok());
  CHECK(explicit_pair->client_public == ReadPublicKeyFile(dir + "/mine.key").value());

  CHECK_FALSE(ClientKeysFromFlags("", "", "", "operator")->enabled());
  CHECK(absl::IsInvalidArgument(ClientKeysFromFlags("", dir + "/mine", "", "operator").status()));
  CHECK(absl::IsInvalidArgument(ClientKeysFromFlags("", "", dir + "/server.key", "x").status()));
  CHECK(absl::IsNotFound(ClientKeysFromFlags(dir, "", "", "drill").status()));
}

TEST_CASE("only Z85 strings that decode are keys", "[auth]") {
  CHECK(IsZ85Key("o7O%X&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKUN"));
  CHECK_FALSE(IsZ85Key("o7O%X&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKU"));    // 39 characters
  CHECK_FALSE(IsZ85Key("o7O%X&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKU~"));   // '~' is not Z85
  CHECK_FALSE(IsZ85Key("#####&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKUN"));   // overflows 32 bits
  CHECK_FALSE(IsZ85Key("o7O%X&3UG3jgIF%fSPJJuI)^$bCacYVduUHdlKUN "));  // 41
}

}  // namespace
}  // namespace gz::auth
