#include "engine/config/server_options.h"

#include <catch2/catch.hpp>

#include "engine/config/city_data.h"

namespace gz {
namespace {

TEST_CASE("the committed dispatchd.textproto parses and validates", "[config]") {
  absl::StatusOr<ServerOptions> options =
      ReadServerOptions(ConfigPath(DISPATCH_CONFIG_DIR, kServerConfigFile));
  REQUIRE(options.ok());
  CHECK(options->intake_endpoint == "tcp://127.0.0.1:7401");
  CHECK(options->heartbeat_interval == absl::Seconds(2));
}

TEST_CASE("server options keep defaults for missing keys", "[config]") {
  absl::StatusOr<ServerOptions> options = ParseServerOptions("resend_interval_ms: 250", "t");
  REQUIRE(options.ok());
  CHECK(options->resend_interval == absl::Milliseconds(250));
  CHECK(options->max_frame_bytes == ServerOptions{}.max_frame_bytes);
  CHECK(options->engine_cpu == -1);  // not pinned unless asked
}

TEST_CASE("a bad server config names the key", "[config]") {
  for (const auto& [text, key] :
       {std::pair{"intake_endpoint: \"localhost:1\"", "intake_endpoint"},
        std::pair{"max_frame_bytes: 10", "max_frame_bytes"},
        std::pair{"heartbeat_interval_ms: 1", "heartbeat_interval"},
        std::pair{"engine_cpu: -2", "engine_cpu"}, std::pair{"engine_cpu: 1024", "engine_cpu"},
        std::pair{"bogus: 1", "line 1"}}) {
    INFO(text);
    absl::StatusOr<ServerOptions> options = ParseServerOptions(text, "dispatchd.textproto");
    REQUIRE_FALSE(options.ok());
    CHECK_THAT(std::string(options.status().message()), Catch::Contains(key));
    CHECK_THAT(std::string(options.status().message()), Catch::Contains("dispatchd.textproto"));
  }
}

}  // namespace
}  // namespace gz
