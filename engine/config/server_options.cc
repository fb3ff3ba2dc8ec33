#include "engine/config/server_options.h"

#include <google/protobuf/text_format.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/config/server_config.pb.h"
#include "engine/config/text_proto.h"

namespace gz {
namespace {

absl::Status CheckEndpoint(const char* name, const std::string& endpoint) {
  if (!absl::StartsWith(endpoint, "tcp://") && !absl::StartsWith(endpoint, "ipc://") &&
      !absl::StartsWith(endpoint, "inproc://")) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": '", endpoint, "' is not a ZeroMQ endpoint (tcp://host:port, ipc://path)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ServerOptions::Validate() const {
  for (const auto& [name, endpoint] : {std::pair{"intake_endpoint", &intake_endpoint},
                                       std::pair{"responder_endpoint", &responder_endpoint},
                                       std::pair{"operator_endpoint", &operator_endpoint},
                                       std::pair{"feed_endpoint", &feed_endpoint}}) {
    if (absl::Status s = CheckEndpoint(name, *endpoint); !s.ok()) return s;
  }
  auto invalid = [](const char* key, const char* why) {
    return absl::InvalidArgumentError(absl::StrCat(key, ": ", why));
  };
  if (max_frame_bytes < 256 || max_frame_bytes > 16 * 1024 * 1024) {
    return invalid("max_frame_bytes", "must be between 256 bytes and 16 MiB");
  }
  if (heartbeat_interval < absl::Milliseconds(50) || heartbeat_interval > absl::Minutes(5)) {
    return invalid("heartbeat_interval", "must be between 50 ms and 5 min");
  }
  if (resend_interval < absl::Milliseconds(10) || resend_interval > absl::Minutes(5)) {
    return invalid("resend_interval", "must be between 10 ms and 5 min");
  }
  if (max_pending_deliveries_per_unit < 4 || max_pending_deliveries_per_unit > 100000) {
    return invalid("max_pending_deliveries_per_unit", "must be between 4 and 100000");
  }
  if (intake_batch < 1 || operator_batch < 1 || responder_batch < 1) {
    return invalid("*_batch", "every batch size must be at least 1");
  }
  if (intake_read_batch < intake_batch) {
    return invalid("intake_read_batch", "must be at least intake_batch (alerts read per turn)");
  }
  if (max_pending_alerts < 1 || max_pending_alerts > 1'000'000) {
    return invalid("max_pending_alerts", "must be between 1 and 1000000");
  }
  if (zone_broadcast_min_level < 0 || zone_broadcast_min_level > 4) {
    return invalid("zone_broadcast_min_level", "must be 0 (never) or a level from 1 (IV) to 4 (I)");
  }
  if (engine_cpu < -1 || engine_cpu > 1023) {
    return invalid("engine_cpu", "must be -1 (not pinned) or a CPU number from 0 to 1023");
  }
  if (linger_on_stop < absl::ZeroDuration() || linger_on_stop > absl::Minutes(1)) {
    return invalid("linger_on_stop", "must be between 0 and 1 min");
  }
  if (snapshot_every_records != 0 && snapshot_every_records < 100) {
    return invalid("snapshot_every_records",
                   "must be 0 (never) or at least 100 (a snapshot costs far more than a record)");
  }
  if (insecure_no_auth && !keys_dir.empty()) {
    return invalid("keys_dir",
                   "is set together with --insecure_no_auth; pick one (keys, or no authentication "
                   "for development)");
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerOptions> ParseServerOptions(const std::string& text,
                                                 const std::string& source_name) {
  config::v1::ServerConfig file;
  if (absl::Status s = ParseTextProto(text, source_name, &file); !s.ok()) return s;
  ServerOptions o;
  if (file.has_intake_endpoint()) o.intake_endpoint = file.intake_endpoint();
  if (file.has_responder_endpoint()) o.responder_endpoint = file.responder_endpoint();
  if (file.has_operator_endpoint()) o.operator_endpoint = file.operator_endpoint();
  if (file.has_feed_endpoint()) o.feed_endpoint = file.feed_endpoint();
  if (file.has_dispatch_config_path()) o.dispatch_config_path = file.dispatch_config_path();
  if (file.has_max_frame_bytes()) o.max_frame_bytes = file.max_frame_bytes();
  if (file.has_heartbeat_interval_ms()) {
    o.heartbeat_interval = absl::Milliseconds(file.heartbeat_interval_ms());
  }
  if (file.has_resend_interval_ms())
    o.resend_interval = absl::Milliseconds(file.resend_interval_ms());
  if (file.has_max_pending_deliveries_per_unit()) {
    o.max_pending_deliveries_per_unit = file.max_pending_deliveries_per_unit();
  }
  if (file.has_intake_batch()) o.intake_batch = static_cast<int>(file.intake_batch());
  if (file.has_intake_read_batch())
    o.intake_read_batch = static_cast<int>(file.intake_read_batch());
  if (file.has_max_pending_alerts()) o.max_pending_alerts = file.max_pending_alerts();
  if (file.has_operator_batch()) o.operator_batch = static_cast<int>(file.operator_batch());
  if (file.has_responder_batch()) o.responder_batch = static_cast<int>(file.responder_batch());
  if (file.has_linger_on_stop_ms()) o.linger_on_stop = absl::Milliseconds(file.linger_on_stop_ms());
  if (file.has_zone_broadcast_min_level()) {
    o.zone_broadcast_min_level = static_cast<int>(file.zone_broadcast_min_level());
  }
  if (file.has_engine_cpu()) o.engine_cpu = file.engine_cpu();
  if (file.has_journal_dir()) o.journal_dir = file.journal_dir();
  if (file.has_snapshot_every_records()) o.snapshot_every_records = file.snapshot_every_records();
  if (file.has_keys_dir()) o.keys_dir = file.keys_dir();
  if (absl::Status s = o.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": ", s.message()));
  }
  return o;
}

absl::StatusOr<ServerOptions> ReadServerOptions(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open the server config"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseServerOptions(text.str(), path);
}

}  // namespace gz
