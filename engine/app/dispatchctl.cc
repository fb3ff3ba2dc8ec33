// dispatchctl: the operator's command line for a running dispatchd.
//
//   dispatchctl alert --lon=113.2644 --lat=23.1291 --category=fire --level=IV
//   dispatchctl incidents
//   dispatchctl watch
//
// Alerts go to the intake socket, commands and queries to the operator socket, and `watch` reads
// the feed with the snapshot-then-updates handshake (protocol/README.md). Every connection uses
// CURVE with a client key (--keys_dir picks the operator key of a key directory). The key
// subcommands (init-keys, keygen, enrol, revoke, clients) work on files and need no engine.
// Exit status: 0 done, 1 the engine refused (reason code and sentence printed; or its handshake
// refused our key) or a key change was refused, 2 the engine did not answer or the transport or a
// file failed, 64 bad usage. Run `dispatchctl --help` for every subcommand with an example.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>
#include <zmq.hpp>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/auth/allow_list.h"
#include "engine/auth/curve_keys.h"
#include "engine/client/alert_client.h"
#include "engine/client/envelope_socket.h"
#include "engine/client/rejection.h"
#include "engine/client/wire_text.h"
#include "protocol/dispatch.pb.h"

ABSL_FLAG(std::string, intake, "tcp://127.0.0.1:7401", "dispatchd's alert intake socket");
ABSL_FLAG(std::string, operator, "tcp://127.0.0.1:7403", "dispatchd's operator socket");
ABSL_FLAG(std::string, feed, "tcp://127.0.0.1:7404", "dispatchd's event feed");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(2), "how long to wait for dispatchd's answer");
ABSL_FLAG(std::string, keys_dir, "",
          "dispatchd's key directory: connect with its operator key (<dir>/operator.key_secret and "
          "<dir>/server.key); enrol, revoke and clients edit or read its clients.allow");
ABSL_FLAG(std::string, key, "",
          "connect with this client key pair instead (<prefix>.key_secret, as keygen writes it)");
ABSL_FLAG(std::string, server_key, "",
          "dispatchd's public key file (server.key of its key directory), with --key");

ABSL_FLAG(double, lon, std::numeric_limits<double>::quiet_NaN(), "longitude, WGS84 degrees");
ABSL_FLAG(double, lat, std::numeric_limits<double>::quiet_NaN(), "latitude, WGS84 degrees");
ABSL_FLAG(std::string, category, "", "alert: fire, medical, public_security, traffic, ...");
ABSL_FLAG(std::string, level, "", "alert: IV, III, II or I (I is the most severe)");
ABSL_FLAG(std::string, reporter, "dispatchctl", "alert: reporter id (half of the idempotency key)");
ABSL_FLAG(uint64_t, sequence, 0,
          "alert: client sequence (the other half of the key); 0 = the current time in us");
ABSL_FLAG(std::string, description, "", "alert: free text, up to 500 bytes");

ABSL_FLAG(int32_t, district, 0, "incidents: only this district code (e.g. 440104); 0 = all");
ABSL_FLAG(std::string, min_level, "", "incidents: only at least this level (IV, III, II, I)");
ABSL_FLAG(uint32_t, limit, 0, "incidents, near: rows to show (default 50 / 20, at most 200)");
ABSL_FLAG(uint64_t, before, 0, "incidents: only ids below this (paging)");

ABSL_FLAG(uint32_t, radius_m, 3000, "near: search radius in metres (1-20000)");
ABSL_FLAG(bool, available_only, false, "near: only available units");

ABSL_FLAG(std::string, role, "frontline",
          "assign: frontline or assembly; enrol: operator, responder, drill or alert_source");
ABSL_FLAG(std::string, note, "",
          "assign, release, cancel, resolve, close, set-status: a note for "
          "the timeline, up to 200 bytes");

ABSL_FLAG(int64_t, count, 0, "watch: exit after this many events past the snapshot; 0 = never");

ABSL_FLAG(std::string, out, "",
          "keygen: prefix of the files to write (<out>.key, <out>.key_secret)");
ABSL_FLAG(std::string, public_key_file, "", "enrol, revoke: the client's public key file");
ABSL_FLAG(std::string, public_key, "", "enrol, revoke: the client's public key itself (Z85)");
ABSL_FLAG(uint32_t, unit, 0, "enrol: a responder key's unit; revoke: every key of this unit");
ABSL_FLAG(std::string, label, "",
          "enrol: a name for the key (letters, digits . _ - @); revoke: every key with this label");

namespace gz::client {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRejected = 1;
constexpr int kExitUnavailable = 2;
constexpr int kExitUsage = 64;

constexpr absl::string_view kUsage = R"(dispatchctl: the operator's command line for dispatchd.

Usage: dispatchctl <subcommand> [arguments] [--flags]

Subcommands, each with an example:
  alert        raise an alert (intake socket)
                 dispatchctl alert --lon=113.2644 --lat=23.1291 --category=fire --level=IV
                 [--reporter=NAME --sequence=N --description=TEXT]
  incidents    list open incidents, newest first
                 dispatchctl incidents [--district=440104 --min_level=III --limit=20 --before=ID]
  incident     one incident with its assignments and timeline
                 dispatchctl incident 500001
  unit         one unit as the engine sees it
                 dispatchctl unit 5123
  near         units nearest a point, ranked by travel time
                 dispatchctl near --lon=113.2644 --lat=23.1291 [--radius_m=3000 --limit=20
                 --available_only]
  assign       send a chosen unit to an incident
                 dispatchctl assign 500001 5123 [--role=frontline|assembly]
  release      take a unit off its assignment
                 dispatchctl release 40
  cancel       withdraw an incident (false alarm, duplicate)
                 dispatchctl cancel 500001
  resolve      declare an incident's emergency over
                 dispatchctl resolve 500001
  close        complete the record of a resolved or cancelled incident
                 dispatchctl close 500001
  set-status   put a unit in or out of service
                 dispatchctl set-status 5123 available|off_post|out_of_service
  stats        engine counters and latencies
                 dispatchctl stats
  watch        the current picture, then every event as it happens
                 dispatchctl watch [--count=10]

Commands (assign, release, cancel, resolve, close, set-status) take --note=TEXT for the timeline.

Flags for every subcommand above:
  --intake=tcp://127.0.0.1:7401    dispatchd's alert intake socket
  --operator=tcp://127.0.0.1:7403  dispatchd's operator socket
  --feed=tcp://127.0.0.1:7404      dispatchd's event feed
  --timeout=2s                     how long to wait for dispatchd
  --keys_dir=DIR                   connect with DIR/operator.key_secret, DIR/server.key
  --key=PREFIX --server_key=FILE   or with this key pair, for the server key in FILE
                                   (neither: no CURVE, for a dispatchd with --insecure_no_auth)

Keys (CURVE authentication; files only, no engine needed; protocol/README.md):
  init-keys    a new key directory: the server's keys, an operator and a drill key, and the
               allow-list clients.allow naming the two
                 dispatchctl init-keys /etc/dispatchd/keys
  keygen       a new client key pair: PREFIX.key (public) and PREFIX.key_secret (mode 0600)
                 dispatchctl keygen --out=phone-5123
  enrol        allow a client key, with its role (operator, responder + unit, drill,
               alert_source); dispatchd applies it within a second, no restart
                 dispatchctl enrol --keys_dir=DIR --public_key_file=phone-5123.key
                 --role=responder --unit=5123 [--label=phone-2024]
  revoke       refuse a key from now on, open connections included (by key, unit or label)
                 dispatchctl revoke --keys_dir=DIR --public_key_file=phone-5123.key
                 dispatchctl revoke --keys_dir=DIR --unit=5123
  clients      list the allow-list
                 dispatchctl clients --keys_dir=DIR

Categories: fire medical public_security traffic natural_disaster hazmat crowd rescue.
Levels: IV (general), III (large), II (major), I (extreme).
Times are Guangzhou time (UTC+8).

Exit status: 0 done; 1 dispatchd refused (its reason code and sentence are printed, or why it
refused the key), or a key change was refused (already enrolled, nothing to revoke, files exist);
2 dispatchd did not answer, the connection or a file failed; 64 bad usage.
)";

// ---------------------------------------------------------------------------------------------
// Output helpers.

// Columns of a UTF-8 string on a terminal: East Asian wide characters take two.
size_t DisplayWidth(absl::string_view s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = 1;
    if (c >= 0xF0 && i + 3 < s.size()) {
      cp = ((c & 0x07) << 18) | ((s[i + 1] & 0x3F) << 12) | ((s[i + 2] & 0x3F) << 6) |
           (s[i + 3] & 0x3F);
      len = 4;
    } else if (c >= 0xE0 && i + 2 < s.size()) {
      cp = ((c & 0x0F) << 12) | ((s[i + 1] & 0x3F) << 6) | (s[i + 2] & 0x3F);
      len = 3;
    } else if (c >= 0xC0 && i + 1 < s.size()) {
      cp = ((c & 0x1F) << 6) | (s[i + 1] & 0x3F);
      len = 2;
    }
    const bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
    width += wide ? 2 : 1;
    i += len;
  }
  return width;
}

// A table printed with aligned columns, two spaces apart.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}

  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }

  void Print(std::ostream& out, absl::string_view indent = "") const {
    std::vector<size_t> widths(header_.size(), 0);
    for (size_t i = 0; i < header_.size(); ++i) widths[i] = DisplayWidth(header_[i]);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
        widths[i] = std::max(widths[i], DisplayWidth(row[i]));
      }
    }
    PrintRow(out, indent, header_, widths);
    for (const auto& row : rows_) PrintRow(out, indent, row, widths);
  }

 private:
  static void PrintRow(std::ostream& out, absl::string_view indent,
                       const std::vector<std::string>& row, const std::vector<size_t>& widths) {
    std::string line(indent);
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    out << line << "\n";
  }

  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

std::string Coordinates(const pb::LonLat& p) {
  return absl::StrFormat("%.4f,%.4f", p.lon(), p.lat());
}

std::string Metres(double m) {
  return m < 1000 ? absl::StrFormat("%.0f m", m) : absl::StrFormat("%.2f km", m / 1000);
}

std::string Micros(uint64_t us) {
  if (us < 1000) return absl::StrCat(us, " us");
  if (us < 1000 * 1000) return absl::StrFormat("%.2f ms", us / 1e3);
  return absl::StrFormat("%.2f s", us / 1e6);
}

std::string StatusName(pb::UnitStatus s) {
  std::optional<UnitStatus> status = FromWire(s);
  return status.has_value() ? std::string(UnitStatusName(*status)) : "unknown";
}

std::string AssignmentStateName(pb::AssignmentState s) {
  switch (s) {
    case pb::ASSIGNMENT_STATE_OFFERED:
      return "offered";
    case pb::ASSIGNMENT_STATE_ACKNOWLEDGED:
      return "acknowledged";
    case pb::ASSIGNMENT_STATE_ON_SCENE:
      return "on_scene";
    default:
      return "unknown";
  }
}

void PrintIncidentTable(const google::protobuf::RepeatedPtrField<pb::IncidentSummary>& incidents) {
  Table table({"ID", "STATE", "CATEGORY", "LEVEL", "DISTRICT", "ZONE", "REPORTS", "PEOPLE", "UNITS",
               "OPENED", "POSITION"});
  for (const pb::IncidentSummary& i : incidents) {
    table.Add({absl::StrCat(i.incident_id()), std::string(IncidentStateName(FromWire(i.state()))),
               std::string(CategoryName(FromWire(i.category()))),
               std::string(LevelName(FromWire(i.level()))), DistrictName(i.district()),
               absl::StrCat(i.zone_id()), absl::StrCat(i.reports()),
               absl::StrCat(i.headcount_assigned(), "/", i.headcount_target()),
               absl::StrCat(i.assignments_size()), FormatClock(i.opened_at_unix_us()),
               Coordinates(i.position())});
  }
  table.Print(std::cout);
}

// ---------------------------------------------------------------------------------------------
// Failures and exit codes.

int Usage(absl::string_view problem) {
  std::cerr << "dispatchctl: " << problem << "\n(dispatchctl --help lists every subcommand)\n";
  return kExitUsage;
}

// Prints a failed status for people and returns the exit code it deserves.
int Fail(const absl::Status& status) {
  if (RejectReasonOf(status).has_value()) {
    std::cerr << "rejected: " << status.message() << "\n";
    return kExitRejected;
  }
  if (status.code() == absl::StatusCode::kPermissionDenied) {  // a key dispatchd refused
    std::cerr << "dispatchctl: " << status.message() << "\n";
    return kExitRejected;
  }
  std::cerr << "dispatchctl: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitUnavailable;
}

// ---------------------------------------------------------------------------------------------
// The operator socket: one request, its reply.

class OperatorSession {
 public:
  OperatorSession(zmq::context_t& context, std::string endpoint, absl::Duration timeout,
                  auth::CurveClientKeys keys)
      : socket_(context, std::move(endpoint), "dispatchctl", std::move(keys)), timeout_(timeout) {
    socket_.set_diagnose_handshake(true);
  }

  absl::Status Open() { return socket_.Open(); }

  // Sends `request` and returns the reply quoting it. A CommandResult that refuses becomes the
  // rejection status; one that accepts is returned like any reply.
  absl::StatusOr<pb::Envelope> Request(pb::Envelope request) {
    absl::StatusOr<uint64_t> sequence = socket_.Send(std::move(request));
    if (!sequence.ok()) return sequence.status();
    const absl::Time deadline = absl::Now() + timeout_;
    for (;;) {
      absl::StatusOr<std::optional<pb::Envelope>> reply = socket_.Receive(deadline);
      if (!reply.ok()) return reply.status();
      if (!reply->has_value()) return socket_.NoAnswer(timeout_);
      if (InReplyTo(**reply) != *sequence) continue;
      if ((*reply)->has_command_result() && !(*reply)->command_result().ok()) {
        const pb::CommandResult& result = (*reply)->command_result();
        return RejectionStatus(FromWire(result.reason()), result.message());
      }
      return **std::move(reply);
    }
  }

  EnvelopeSocket& socket() { return socket_; }
  absl::Duration timeout() const { return timeout_; }

 private:
  EnvelopeSocket socket_;
  const absl::Duration timeout_;
};

// A reply of the wrong type for the request (a server bug or a version mismatch).
absl::Status Unexpected(const pb::Envelope& reply) {
  const google::protobuf::FieldDescriptor* body =
      pb::Envelope::descriptor()->FindFieldByNumber(reply.body_case());
  return absl::InternalError(absl::StrCat("dispatchd answered with an unexpected ",
                                          body != nullptr ? body->name() : "empty", " message"));
}

// Everything a subcommand handler gets.
struct Context {
  zmq::context_t& zmq;
  std::vector<std::string> args;  // positional arguments after the subcommand
  OperatorSession& session;
  auth::CurveClientKeys keys;  // for the intake and feed sockets
};

std::optional<uint64_t> ParseId(absl::string_view text) {
  uint64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id == 0) return std::nullopt;
  return id;
}

// The single positional id a subcommand takes, or a usage failure.
absl::StatusOr<uint64_t> OneId(const Context& ctx, absl::string_view what) {
  if (ctx.args.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat("expected one ", what, " id"));
  }
  std::optional<uint64_t> id = ParseId(ctx.args[0]);
  if (!id.has_value()) {
    const bool vowel = absl::StrContains("aeiou", what.substr(0, 1));
    return absl::InvalidArgumentError(absl::StrCat(
        "'", ctx.args[0], "' is not ", vowel ? "an " : "a ", what, " id (a positive number)"));
  }
  return *id;
}

absl::StatusOr<LonLat> PositionFlags() {
  const double lon = absl::GetFlag(FLAGS_lon);
  const double lat = absl::GetFlag(FLAGS_lat);
  if (std::isnan(lon) || std::isnan(lat)) {
    return absl::InvalidArgumentError("--lon and --lat are required");
  }
  return LonLat{lon, lat};
}

std::optional<Level> ParseLevelFlag(absl::string_view text) {
  return ParseLevel(absl::AsciiStrToUpper(text));
}

// ---------------------------------------------------------------------------------------------
// Subcommands.

int RunAlert(Context& ctx) {
  if (!ctx.args.empty()) return Usage("alert takes flags only");
  absl::StatusOr<LonLat> position = PositionFlags();
  if (!position.ok()) return Usage(position.status().message());
  const std::optional<Category> category =
      ParseCategory(absl::AsciiStrToLower(absl::GetFlag(FLAGS_category)));
  if (!category.has_value() || *category == Category::kUnspecified) {
    return Usage(
        absl::StrCat("--category must be one of fire, medical, public_security, traffic, "
                     "natural_disaster, hazmat, crowd, rescue (got '",
                     absl::GetFlag(FLAGS_category), "')"));
  }
  const std::optional<Level> level = ParseLevelFlag(absl::GetFlag(FLAGS_level));
  if (!level.has_value() || *level == Level::kUnspecified) {
    return Usage(absl::StrCat("--level must be one of IV, III, II, I (got '",
                              absl::GetFlag(FLAGS_level), "')"));
  }

  AlertOptions options;
  options.endpoint = absl::GetFlag(FLAGS_intake);
  options.reporter_id = absl::GetFlag(FLAGS_reporter);
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.curve = ctx.keys;
  absl::StatusOr<std::unique_ptr<AlertClient>> client = AlertClient::Create(ctx.zmq, options);
  if (!client.ok()) return Fail(client.status());

  Alert alert;
  alert.client_sequence = absl::GetFlag(FLAGS_sequence);
  alert.position = *position;
  alert.category = *category;
  alert.level = *level;
  alert.description = absl::GetFlag(FLAGS_description);
  absl::StatusOr<AlertOutcome> outcome = (*client)->Raise(alert);
  if (!outcome.ok()) return Fail(outcome.status());

  const std::string key = absl::StrCat(outcome->reporter_id, "/", outcome->client_sequence);
  if (!outcome->accepted) {
    std::string line = absl::StrCat(
        "rejected: ", Describe(outcome->reason).code, ": ",
        outcome->message.empty() ? Describe(outcome->reason).message : outcome->message);
    if (outcome->retry_after > absl::ZeroDuration()) {
      absl::StrAppend(&line, " (retry after ", absl::FormatDuration(outcome->retry_after), ")");
    }
    std::cerr << line << "\n";
    return kExitRejected;
  }
  std::cout << "Alert " << key << " accepted: "
            << (outcome->merged ? absl::StrCat("merged into open incident ", outcome->incident_id)
                                : absl::StrCat("opened incident ", outcome->incident_id))
            << (outcome->duplicate ? " (the engine had already answered this alert)" : "") << ".\n";
  return kExitOk;
}

int RunIncidents(Context& ctx) {
  if (!ctx.args.empty()) return Usage("incidents takes flags only");
  pb::Envelope request;
  pb::ListOpenIncidents* query = request.mutable_list_open_incidents();
  query->set_district(absl::GetFlag(FLAGS_district));
  if (const std::string min = absl::GetFlag(FLAGS_min_level); !min.empty()) {
    const std::optional<Level> level = ParseLevelFlag(min);
    if (!level.has_value()) return Usage("--min_level must be one of IV, III, II, I");
    query->set_min_level(static_cast<pb::Level>(*level));
  }
  query->set_limit(absl::GetFlag(FLAGS_limit));
  query->set_before_incident_id(absl::GetFlag(FLAGS_before));
  absl::StatusOr<pb::Envelope> reply = ctx.session.Request(std::move(request));
  if (!reply.ok()) return Fail(reply.status());
  if (!reply->has_incident_list()) return Fail(Unexpected(*reply));
  const pb::IncidentList& list = reply->incident_list();
  if (list.incidents().empty()) {
    std::cout << "No open incidents" << (list.next_before_incident_id() ? " on this page" : "")
              << ".\n";
  } else {
    PrintIncidentTable(list.incidents());
  }
  if (list.next_before_incident_id() != 0) {
    std::cout << "More: dispatchctl incidents --before=" << list.next_before_incident_id() << "\n";
  }
  return kExitOk;
}

int RunIncident(Context& ctx) {
  absl::StatusOr<uint64_t> id = OneId(ctx, "incident");
  if (!id.ok()) return Usage(id.status().message());
  pb::Envelope request;
  request.mutable_get_incident()->set_incident_id(*id);
  absl::StatusOr<pb::Envelope> reply = ctx.session.Request(std::move(request));
  if (!reply.ok()) return Fail(reply.status());
  if (!reply->has_incident_detail()) return Fail(Unexpected(*reply));
  const pb::IncidentDetail& detail = reply->incident_detail();
  const pb::IncidentSummary& i = detail.incident();

  std::cout << absl::StreamFormat(
      "Incident %d: %s %s, %s since %s\n", i.incident_id(), CategoryName(FromWire(i.category())),
      LevelName(FromWire(i.level())), IncidentStateName(FromWire(i.state())),
      FormatClock(i.state_since_unix_us()));
  std::cout << "  position     " << FormatPosition(i.position()) << "  "
            << DistrictName(i.district()) << " zone " << i.zone_id() << "\n";
  std::cout << "  opened       " << FormatDateTime(i.opened_at_unix_us()) << ", " << i.reports()
            << (i.reports() == 1 ? " report" : " reports") << "\n";
  std::cout << "  people       " << i.headcount_assigned() << " of " << i.headcount_target()
            << " assigned\n";
  if (!i.description().empty()) std::cout << "  description  " << i.description() << "\n";

  std::cout << "\n";
  if (i.assignments().empty()) {
    std::cout << "No live assignments.\n";
  } else {
    Table table({"ASSIGNMENT", "UNIT", "ROLE", "STATE", "ETA", "PEOPLE", "ISSUED", "ACK BY"});
    for (const pb::AssignmentSummary& a : i.assignments()) {
      table.Add({absl::StrCat(a.assignment_id()), absl::StrCat(a.unit_id()),
                 std::string(AssignmentRoleName(FromWire(a.role()))),
                 AssignmentStateName(a.state()), FormatSeconds(a.eta_seconds()),
                 absl::StrCat(a.headcount()), FormatClock(a.issued_at_unix_us()),
                 a.state() == pb::ASSIGNMENT_STATE_OFFERED ? FormatClock(a.ack_deadline_unix_us())
                                                           : "-"});
    }
    table.Print(std::cout);
  }

  std::cout << "\nTimeline" << (detail.timeline_truncated() ? " (latest events only)" : "")
            << ":\n";
  for (const pb::IncidentEvent& e : detail.timeline()) {
    std::cout << "  " << FormatClock(e.at_unix_us()) << "  " << DescribeEvent(e) << "\n";
  }
  return kExitOk;
}

int RunUnit(Context& ctx) {
  absl::StatusOr<uint64_t> id = OneId(ctx, "unit");
  if (!id.ok()) return Usage(id.status().message());
  if (*id > std::numeric_limits<uint32_t>::max()) return Usage("unit ids fit in 32 bits");
  pb::Envelope request;
  request.mutable_get_unit()->set_unit_id(static_cast<uint32_t>(*id));
  absl::StatusOr<pb::Envelope> reply = ctx.session.Request(std::move(request));
  if (!reply.ok()) return Fail(reply.status());
  if (!reply->has_unit_detail()) return Fail(Unexpected(*reply));
  const pb::UnitInfo& u = reply->unit_detail().unit();
  const std::optional<TravelMode> mode = FromWire(u.travel_mode());
  std::cout << "Unit " << u.unit_id() << "  " << u.name() << " ("
            << UnitKindName(FromWire(u.kind())) << ")\n";
  std::cout << "  status      " << StatusName(u.status()) << "\n";
  std::cout << "  people      " << u.on_post() << " on post of " << u.members() << " members\n";
  std::cout << "  position    " << FormatPosition(u.position()) << "  "
            << DistrictName(u.district()) << " zone " << u.zone_id() << "\n";
  std::cout << "  travels     " << (mode.has_value() ? TravelModeName(*mode) : "unknown") << "\n";
  if (u.assignment_id() != 0) {
    std::cout << "  assignment  " << u.assignment_id() << " (incident " << u.incident_id() << ")\n";
  } else {
    std::cout << "  assignment  none\n";
  }
  std::cout << "  updated     " << FormatDateTime(u.updated_at_unix_us()) << "\n";
  return kExitOk;
}

int RunNear(Context& ctx) {
  if (!ctx.args.empty()) return Usage("near takes flags only");
  absl::StatusOr<LonLat> position = PositionFlags();
  if (!position.ok()) return Usage(position.status().message());
  pb::Envelope request;
  pb::UnitsNear* query = request.mutable_units_near();
  ToWire(*position, query->mutable_position());
  query->set_radius_m(absl::GetFlag(FLAGS_radius_m));
  query->set_limit(absl::GetFlag(FLAGS_limit));
  query->set_available_only(absl::GetFlag(FLAGS_available_only));
  absl::StatusOr<pb::Envelope> reply = ctx.session.Request(std::move(request));
  if (!reply.ok()) return Fail(reply.status());
  if (!reply->has_unit_list()) return Fail(Unexpected(*reply));
  const pb::UnitList& list = reply->unit_list();
  if (list.units().empty()) {
    std::cout << absl::StreamFormat("No %sunits within %d m of %s.\n",
                                    query->available_only() ? "available " : "", query->radius_m(),
                                    FormatPosition(query->position()));
    return kExitOk;
  }
  Table table({"UNIT", "NAME", "KIND", "STATUS", "ON POST", "DISTANCE", "ETA", "DISTRICT", "ZONE"});
  for (const pb::UnitList::Entry& e : list.units()) {
    const pb::UnitInfo& u = e.unit();
    table.Add({absl::StrCat(u.unit_id()), u.name(), std::string(UnitKindName(FromWire(u.kind()))),
               StatusName(u.status()), absl::StrCat(u.on_post(), "/", u.members()),
               Metres(e.distance_m()), FormatSeconds(e.eta_seconds()), DistrictName(u.district()),
               absl::StrCat(u.zone_id())});
  }
  table.Print(std::cout);
  return kExitOk;
}

// Sends an operator command and prints `done` when the engine accepts it.
int Command(Context& ctx, pb::Envelope request, absl::string_view done) {
  absl::StatusOr<pb::Envelope> reply = ctx.session.Request(std::move(request));
  if (!reply.ok()) return Fail(reply.status());
  std::cout << done << "\n";
  return kExitOk;
}

int RunAssign(Context& ctx) {
  if (ctx.args.size() != 2) return Usage("assign takes an incident id and a unit id");
  const std::optional<uint64_t> incident = ParseId(ctx.args[0]);
  const std::optional<uint64_t> unit = ParseId(ctx.args[1]);
  if (!incident.has_value())
    return Usage(absl::StrCat("'", ctx.args[0], "' is not an incident id"));
  if (!unit.has_value() || *unit > std::numeric_limits<uint32_t>::max()) {
    return Usage(absl::StrCat("'", ctx.args[1], "' is not a unit id"));
  }
  const std::optional<AssignmentRole> role = ParseAssignmentRole(absl::GetFlag(FLAGS_role));
  if (!role.has_value()) return Usage("--role must be frontline or assembly");
  pb::Envelope request;
  pb::ManualAssign* assign = request.mutable_manual_assign();
  assign->set_incident_id(*incident);
  assign->set_unit_id(static_cast<uint32_t>(*unit));
  assign->set_role(static_cast<pb::AssignmentRole>(*role));
  assign->set_note(absl::GetFlag(FLAGS_note));
  return Command(ctx, std::move(request),
                 absl::StrCat("Unit ", *unit, " assigned to incident ", *incident, " as ",
                              AssignmentRoleName(*role), "."));
}

int RunRelease(Context& ctx) {
  absl::StatusOr<uint64_t> id = OneId(ctx, "assignment");
  if (!id.ok()) return Usage(id.status().message());
  pb::Envelope request;
  request.mutable_release_assignment()->set_assignment_id(*id);
  request.mutable_release_assignment()->set_note(absl::GetFlag(FLAGS_note));
  return Command(ctx, std::move(request), absl::StrCat("Assignment ", *id, " released."));
}

int RunCancel(Context& ctx) {
  absl::StatusOr<uint64_t> id = OneId(ctx, "incident");
  if (!id.ok()) return Usage(id.status().message());
  pb::Envelope request;
  request.mutable_cancel_incident()->set_incident_id(*id);
  request.mutable_cancel_incident()->set_note(absl::GetFlag(FLAGS_note));
  return Command(ctx, std::move(request),
                 absl::StrCat("Incident ", *id, " cancelled; its units are released."));
}

int RunResolve(Context& ctx) {
  absl::StatusOr<uint64_t> id = OneId(ctx, "incident");
  if (!id.ok()) return Usage(id.status().message());
  pb::Envelope request;
  request.mutable_resolve_incident()->set_incident_id(*id);
  request.mutable_resolve_incident()->set_note(absl::GetFlag(FLAGS_note));
  return Command(ctx, std::move(request),
                 absl::StrCat("Incident ", *id, " resolved; its units are released."));
}

int RunClose(Context& ctx) {
  absl::StatusOr<uint64_t> id = OneId(ctx, "incident");
  if (!id.ok()) return Usage(id.status().message());
  pb::Envelope request;
  request.mutable_close_incident()->set_incident_id(*id);
  request.mutable_close_incident()->set_note(absl::GetFlag(FLAGS_note));
  return Command(ctx, std::move(request), absl::StrCat("Incident ", *id, " closed."));
}

int RunSetStatus(Context& ctx) {
  if (ctx.args.size() != 2) {
    return Usage("set-status takes a unit id and a status (available, off_post, out_of_service)");
  }
  const std::optional<uint64_t> unit = ParseId(ctx.args[0]);
  if (!unit.has_value() || *unit > std::numeric_limits<uint32_t>::max()) {
    return Usage(absl::StrCat("'", ctx.args[0], "' is not a unit id"));
  }
  const std::optional<UnitStatus> status = ParseUnitStatus(ctx.args[1]);
  if (!status.has_value() || *status == UnitStatus::kAssigned) {
    return Usage(absl::StrCat("the status must be available, off_post or out_of_service (got '",
                              ctx.args[1], "'); to assign a unit use `dispatchctl assign`"));
  }
  pb::Envelope request;
  pb::SetUnitStatus* set = request.mutable_set_unit_status();
  set->set_unit_id(static_cast<uint32_t>(*unit));
  set->set_status(ToWire(*status));
  set->set_note(absl::GetFlag(FLAGS_note));
  return Command(ctx, std::move(request),
                 absl::StrCat("Unit ", *unit, " is now ", UnitStatusName(*status), "."));
}

int RunStats(Context& ctx) {
  if (!ctx.args.empty()) return Usage("stats takes no arguments");
  pb::Envelope request;
  request.mutable_get_stats();
  absl::StatusOr<pb::Envelope> reply = ctx.session.Request(std::move(request));
  if (!reply.ok()) return Fail(reply.status());
  if (!reply->has_stats()) return Fail(Unexpected(*reply));
  const pb::Stats& stats = reply->stats();
  std::cout << "Stats as of " << FormatDateTime(stats.as_of_unix_us()) << "\n\n";
  std::vector<std::pair<std::string, uint64_t>> counters(stats.counters().begin(),
                                                         stats.counters().end());
  std::sort(counters.begin(), counters.end());
  Table table({"COUNTER", "VALUE"});
  for (const auto& [name, value] : counters) table.Add({name, absl::StrCat(value)});
  if (table.empty()) {
    std::cout << "No counters.\n";
  } else {
    table.Print(std::cout);
  }
  if (!stats.latencies().empty()) {
    std::cout << "\n";
    Table latencies({"LATENCY", "COUNT", "P50", "P90", "P99", "P99.9", "MAX"});
    for (const pb::LatencyHistogram& h : stats.latencies()) {
      latencies.Add({h.name(), absl::StrCat(h.count()), Micros(h.p50_us()), Micros(h.p90_us()),
                     Micros(h.p99_us()), Micros(h.p999_us()), Micros(h.max_us())});
    }
    latencies.Print(std::cout);
  }
  return kExitOk;
}

// watch: subscribe to the feed, take a snapshot on the operator socket, then print every event
// after it; on a jump in event_sequence, take the snapshot again.
class Watcher {
 public:
  Watcher(Context& ctx, int64_t count) : ctx_(ctx), count_(count) {}

  int Run() {
    try {
      feed_ = std::make_unique<zmq::socket_t>(ctx_.zmq, zmq::socket_type::sub);
      feed_->set(zmq::sockopt::linger, 0);
      feed_->set(zmq::sockopt::subscribe, "");
      if (absl::Status keyed = auth::UseClientKeys(feed_->handle(), ctx_.keys); !keyed.ok()) {
        return Fail(keyed);
      }
      feed_->connect(absl::GetFlag(FLAGS_feed));
    } catch (const zmq::error_t& e) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("cannot subscribe to '", absl::GetFlag(FLAGS_feed), "': ", e.what())));
    }
    bool first = true;
    for (;;) {
      // Subscribed before asking: every event after the snapshot is in the buffer or still coming.
      absl::Status snapshot = TakeSnapshot(first);
      if (!snapshot.ok()) return Fail(snapshot);
      first = false;
      std::cout << "Watching " << absl::GetFlag(FLAGS_feed)
                << (count_ > 0 ? absl::StrCat(" for ", count_, " events") : " (Ctrl-C to stop)")
                << "\n"
                << std::flush;
      std::vector<pb::IncidentEvent> buffered = std::move(buffered_);
      buffered_.clear();
      bool jumped = false;
      for (const pb::IncidentEvent& e : buffered) {
        if (!Apply(e)) {
          jumped = true;
          break;
        }
        if (Done()) return kExitOk;
      }
      while (!jumped) {
        absl::StatusOr<std::optional<pb::IncidentEvent>> e = NextFeedEvent(absl::InfiniteFuture());
        if (!e.ok()) return Fail(e.status());
        if (!e->has_value()) continue;
        if (!Apply(**e)) break;
        if (Done()) return kExitOk;
      }
    }
  }

 private:
  // Prints the event if it is the next one; false on a jump (events were lost).
  bool Apply(const pb::IncidentEvent& e) {
    // Published before the snapshot was taken (it may still be in flight on the feed socket).
    if (e.event_sequence() <= as_of_) return true;
    if (e.event_sequence() < expected_) {
      std::cout << "-- the feed went back from #" << expected_ - 1 << " to #" << e.event_sequence()
                << " (dispatchd restarted?); taking a fresh snapshot --\n";
      return false;
    }
    if (e.event_sequence() > expected_) {
      std::cout << "-- the feed jumped from #" << expected_ - 1 << " to #" << e.event_sequence()
                << ": events were lost; taking a fresh snapshot --\n";
      return false;
    }
    std::cout << FormatEventLine(e) << "\n" << std::flush;
    ++expected_;
    ++printed_;
    return true;
  }

  bool Done() const { return count_ > 0 && printed_ >= count_; }

  // One feed event, waiting until `deadline`; nullopt at the deadline or for a frame that is not
  // an event.
  absl::StatusOr<std::optional<pb::IncidentEvent>> NextFeedEvent(absl::Time deadline) {
    absl::StatusOr<std::optional<std::string>> frame = TryReceiveLastFrame(*feed_);
    if (!frame.ok()) return frame.status();
    if (!frame->has_value()) {
      absl::StatusOr<std::optional<size_t>> ready = PollReadable({feed_.get()}, deadline);
      if (!ready.ok()) return ready.status();
      if (!ready->has_value()) return std::nullopt;
      frame = TryReceiveLastFrame(*feed_);
      if (!frame.ok()) return frame.status();
      if (!frame->has_value()) return std::nullopt;
    }
    std::optional<pb::Envelope> envelope = ParseEnvelope(**frame);
    if (!envelope.has_value() || !envelope->has_incident_event()) return std::nullopt;
    return envelope->incident_event();
  }

  // Asks for the snapshot, buffering feed events meanwhile, and prints it.
  absl::Status TakeSnapshot(bool first) {
    pb::Envelope request;
    request.mutable_feed_snapshot_request();
    absl::StatusOr<uint64_t> sequence = ctx_.session.socket().Send(std::move(request));
    if (!sequence.ok()) return sequence.status();
    const absl::Time deadline = absl::Now() + ctx_.session.timeout();
    std::vector<pb::FeedSnapshot> parts;
    while (parts.empty() || !parts.back().last()) {
      absl::StatusOr<std::optional<size_t>> ready =
          PollReadable({feed_.get(), &ctx_.session.socket().socket()}, deadline);
      if (!ready.ok()) return ready.status();
      if (!ready->has_value()) {
        return ctx_.session.socket().NoAnswer(ctx_.session.timeout());
      }
      if (**ready == 0) {
        absl::StatusOr<std::optional<pb::IncidentEvent>> e = NextFeedEvent(absl::InfinitePast());
        if (!e.ok()) return e.status();
        if (e->has_value()) buffered_.push_back(**std::move(e));
        continue;
      }
      absl::StatusOr<std::optional<pb::Envelope>> reply = ctx_.session.socket().TryReceive();
      if (!reply.ok()) return reply.status();
      if (!reply->has_value() || InReplyTo(**reply) != *sequence) continue;
      if ((*reply)->has_command_result()) {
        const pb::CommandResult& result = (*reply)->command_result();
        return RejectionStatus(FromWire(result.reason()), result.message());
      }
      if ((*reply)->has_feed_snapshot()) parts.push_back((*reply)->feed_snapshot());
    }
    const uint64_t as_of = parts.front().as_of_event_sequence();
    as_of_ = as_of;
    expected_ = as_of + 1;
    google::protobuf::RepeatedPtrField<pb::IncidentSummary> incidents;
    for (const pb::FeedSnapshot& part : parts) {
      for (const pb::IncidentSummary& i : part.incidents()) *incidents.Add() = i;
    }
    std::cout << (first ? "Snapshot" : "Fresh snapshot") << " as of event #" << as_of << ": "
              << incidents.size() << (incidents.size() == 1 ? " open incident" : " open incidents")
              << "\n";
    if (!incidents.empty()) PrintIncidentTable(incidents);
    return absl::OkStatus();
  }

  Context& ctx_;
  const int64_t count_;
  std::unique_ptr<zmq::socket_t> feed_;
  std::vector<pb::IncidentEvent> buffered_;  // arrived while the snapshot was being taken
  uint64_t as_of_ = 0;                       // the snapshot includes every event up to this one
  uint64_t expected_ = 1;                    // the next event_sequence to print
  int64_t printed_ = 0;
};

int RunWatch(Context& ctx) {
  if (!ctx.args.empty()) return Usage("watch takes flags only");
  if (absl::GetFlag(FLAGS_count) < 0) return Usage("--count must not be negative");
  return Watcher(ctx, absl::GetFlag(FLAGS_count)).Run();
}

// ---------------------------------------------------------------------------------------------
// Key subcommands: files only.

// A failed key operation: 64 for bad usage, 1 for a change refused (the files say no), 2 for a
// file that could not be read or written.
int KeyFail(const absl::Status& status) {
  std::cerr << "dispatchctl: " << status.message() << "\n";
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return kExitUsage;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return kExitRejected;
    default:
      return kExitUnavailable;
  }
}

// The key directory flag, required by the subcommands that edit it.
absl::StatusOr<std::string> KeysDirFlag(absl::string_view subcommand) {
  const std::string dir = absl::GetFlag(FLAGS_keys_dir);
  if (dir.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(subcommand, " needs --keys_dir=<dispatchd's key directory>"));
  }
  return dir;
}

std::string AllowListPath(const std::string& keys_dir) {
  return absl::StrCat(keys_dir, "/", auth::kAllowListFile);
}

// The public key named by --public_key_file or --public_key; nullopt if neither is given.
absl::StatusOr<std::optional<std::string>> PublicKeyFlag() {
  const std::string file = absl::GetFlag(FLAGS_public_key_file);
  const std::string key = absl::GetFlag(FLAGS_public_key);
  if (!file.empty() && !key.empty()) {
    return absl::InvalidArgumentError("give --public_key_file or --public_key, not both");
  }
  if (!file.empty()) {
    absl::StatusOr<std::string> read = auth::ReadPublicKeyFile(file);
    if (!read.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--public_key_file: ", read.status().message()));
    }
    return std::optional<std::string>(*std::move(read));
  }
  if (!key.empty()) {
    if (!auth::IsZ85Key(key)) {
      return absl::InvalidArgumentError(
          "--public_key is not a CURVE public key (40 characters of Z85)");
    }
    return std::optional<std::string>(key);
  }
  return std::optional<std::string>();
}

std::string DescribeClient(const auth::AllowedClient& c) {
  std::string out = std::string(auth::RoleName(c.role));
  if (c.role == auth::Role::kResponder) absl::StrAppend(&out, " of unit ", c.unit);
  if (!c.label.empty()) absl::StrAppend(&out, " (", c.label, ")");
  return out;
}

int RunInitKeys(const std::vector<std::string>& args) {
  if (args.size() != 1)
    return Usage("init-keys takes the directory to create, e.g. init-keys keys");
  const std::string& dir = args[0];
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error)
    return KeyFail(
        absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", error.message())));
  // Only the owner may list or enter it: it holds secret keys.
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, error);
  struct Pair {
    const char* name;
    const char* what;
  };
  const Pair pairs[] = {
      {auth::kServerKeyName, "dispatchd's server key; give server.key to every client"},
      {auth::kOperatorKeyName, "an operator key (dispatchctl --keys_dir uses it)"},
      {auth::kDrillKeyName, "the simulators' drill key (responder_fleet, drill --live)"}};
  const std::string allow = AllowListPath(dir);
  for (const std::string& path :
       {auth::SecretKeyPath(absl::StrCat(dir, "/", auth::kServerKeyName)), allow}) {
    if (std::filesystem::exists(path)) {
      return KeyFail(absl::AlreadyExistsError(
          absl::StrCat(path, " already exists: ", dir,
                       " is a key directory already (keys are never replaced)")));
    }
  }
  {
    std::ofstream header(allow);
    header
        << "# dispatchd's allow-list of client keys (config/README.md, engine/auth/allow_list.h):\n"
           "#   <public key> operator|drill|alert_source [label]\n"
           "#   <public key> responder <unit id> [label]\n"
           "#   <public key> revoked ...\n"
           "# Edit with `dispatchctl enrol` and `dispatchctl revoke`; dispatchd re-reads it within "
           "a "
           "second.\n";
    if (!header) {
      return KeyFail(absl::UnavailableError(absl::StrCat("cannot write ", allow)));
    }
  }
  std::filesystem::permissions(
      allow, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write, error);
  std::map<std::string, std::string> public_keys;
  for (const Pair& pair : pairs) {
    absl::StatusOr<auth::CurveKeyPair> keys = auth::GenerateKeyPair();
    if (!keys.ok()) return KeyFail(keys.status());
    if (absl::Status s = auth::WriteKeyPair(absl::StrCat(dir, "/", pair.name), *keys, pair.what);
        !s.ok()) {
      return KeyFail(s);
    }
    public_keys[pair.name] = keys->public_key;
  }
  for (const auto& [name, label] : {std::pair{auth::kOperatorKeyName, "control-room"},
                                    std::pair{auth::kDrillKeyName, "simulators"}}) {
    auth::AllowedClient client;
    client.public_key = public_keys[name];
    client.role =
        name == std::string(auth::kOperatorKeyName) ? auth::Role::kOperator : auth::Role::kDrill;
    client.label = label;
    if (absl::Status s = auth::EnrolClient(allow, client); !s.ok()) return KeyFail(s);
  }
  std::cout << "Made the key directory " << dir << ":\n"
            << "  server.key, server.key_secret      dispatchd's keys (public: "
            << public_keys[auth::kServerKeyName] << ")\n"
            << "  operator.key, operator.key_secret  an operator key, enrolled\n"
            << "  drill.key, drill.key_secret        the simulators' drill key, enrolled\n"
            << "  clients.allow                      the allow-list\n"
            << "Start dispatchd with --keys_dir=" << dir << "; dispatchctl --keys_dir=" << dir
            << " connects with the operator key.\n"
            << "A drill key may speak for any unit: revoke it (dispatchctl revoke --keys_dir="
            << dir << " --label=simulators) on an engine that runs no drills.\n";
  return kExitOk;
}

int RunKeygen(const std::vector<std::string>& args) {
  std::string prefix = absl::GetFlag(FLAGS_out);
  if (prefix.empty() && args.size() == 1) prefix = args[0];
  if (prefix.empty() || args.size() > 1) return Usage("keygen takes --out=<prefix>");
  absl::StatusOr<auth::CurveKeyPair> keys = auth::GenerateKeyPair();
  if (!keys.ok()) return KeyFail(keys.status());
  if (absl::Status s = auth::WriteKeyPair(prefix, *keys, "a dispatchd client key"); !s.ok()) {
    return KeyFail(s);
  }
  std::cout << "Wrote " << auth::PublicKeyPath(prefix) << " (public) and "
            << auth::SecretKeyPath(prefix) << " (secret, mode 0600).\n"
            << "Public key: " << keys->public_key << "\n"
            << "Enrol it where dispatchd's keys are, e.g.:\n"
            << "  dispatchctl enrol --keys_dir=<dir> --public_key_file="
            << auth::PublicKeyPath(prefix) << " --role=responder --unit=<unit id>\n";
  return kExitOk;
}

int RunEnrol(const std::vector<std::string>& args) {
  if (!args.empty()) return Usage("enrol takes flags only");
  absl::StatusOr<std::string> dir = KeysDirFlag("enrol");
  if (!dir.ok()) return Usage(dir.status().message());
  absl::StatusOr<std::optional<std::string>> key = PublicKeyFlag();
  if (!key.ok()) return Usage(key.status().message());
  if (!key->has_value()) return Usage("enrol needs --public_key_file=<file> or --public_key=<z85>");
  const std::optional<auth::Role> role = auth::ParseRole(absl::GetFlag(FLAGS_role));
  if (!role.has_value() && absl::GetFlag(FLAGS_role) == "frontline") {  // --role was not given
    return Usage(
        "enrol needs --role=operator, --role=responder (with --unit), --role=drill or "
        "--role=alert_source");
  }
  if (!role.has_value()) {
    return Usage(absl::StrCat("--role must be operator, responder, drill or alert_source (got '",
                              absl::GetFlag(FLAGS_role), "')"));
  }
  auth::AllowedClient client;
  client.public_key = **key;
  client.role = *role;
  client.unit = absl::GetFlag(FLAGS_unit);
  client.label = absl::GetFlag(FLAGS_label);
  if (*role == auth::Role::kResponder && client.unit == 0) {
    return Usage("a responder key belongs to one unit: give --unit=<unit id>");
  }
  if (*role != auth::Role::kResponder && client.unit != 0) {
    return Usage("--unit goes with --role=responder only");
  }
  const std::string path = AllowListPath(*dir);
  if (absl::Status s = auth::EnrolClient(path, client); !s.ok()) return KeyFail(s);
  std::cout << "Enrolled " << client.public_key << " as " << DescribeClient(client) << " in "
            << path << ". A running dispatchd applies it within a second.\n";
  return kExitOk;
}

int RunRevoke(const std::vector<std::string>& args) {
  if (!args.empty()) return Usage("revoke takes flags only");
  absl::StatusOr<std::string> dir = KeysDirFlag("revoke");
  if (!dir.ok()) return Usage(dir.status().message());
  absl::StatusOr<std::optional<std::string>> key = PublicKeyFlag();
  if (!key.ok()) return Usage(key.status().message());
  const uint32_t unit = absl::GetFlag(FLAGS_unit);
  const std::string label = absl::GetFlag(FLAGS_label);
  const int selectors = (key->has_value() ? 1 : 0) + (unit != 0 ? 1 : 0) + (label.empty() ? 0 : 1);
  if (selectors != 1) {
    return Usage("revoke takes one of --public_key_file, --public_key, --unit or --label");
  }
  const std::string path = AllowListPath(*dir);
  absl::StatusOr<std::vector<auth::AllowedClient>> revoked = auth::RevokeClients(
      path,
      [&](const auth::AllowedClient& c) {
        if (key->has_value()) return c.public_key == **key;
        if (unit != 0) return c.role == auth::Role::kResponder && c.unit == unit;
        return c.label == label;
      },
      absl::FormatTime("%Y-%m-%d %H:%M", absl::Now(), absl::LocalTimeZone()));
  if (!revoked.ok()) return KeyFail(revoked.status());
  if (revoked->empty()) {
    return KeyFail(absl::NotFoundError(absl::StrCat("no active key in ", path, " matches")));
  }
  for (const auth::AllowedClient& c : *revoked) {
    std::cout << "Revoked " << c.public_key << " (" << DescribeClient(c) << ", line " << c.line
              << ").\n";
  }
  std::cout << "A running dispatchd refuses new connections with "
            << (revoked->size() == 1 ? "it" : "them")
            << ", and messages on open ones, within a second.\n";
  return kExitOk;
}

int RunClients(const std::vector<std::string>& args) {
  if (!args.empty()) return Usage("clients takes flags only");
  absl::StatusOr<std::string> dir = KeysDirFlag("clients");
  if (!dir.ok()) return Usage(dir.status().message());
  absl::StatusOr<auth::AllowList> list = auth::AllowList::Read(AllowListPath(*dir));
  if (!list.ok()) return KeyFail(list.status());
  Table table({"LINE", "KEY", "ROLE", "UNIT", "LABEL", "STATE"});
  for (const auth::AllowedClient& c : list->clients()) {
    table.Add({absl::StrCat(c.line), c.public_key, std::string(auth::RoleName(c.role)),
               c.unit != 0 ? absl::StrCat(c.unit) : "-", c.label.empty() ? "-" : c.label,
               c.revoked ? "revoked" : "allowed"});
  }
  if (table.empty()) {
    std::cout << "No client keys in " << AllowListPath(*dir) << ".\n";
    return kExitOk;
  }
  table.Print(std::cout);
  std::cout << list->active() << " allowed, " << list->clients().size() - list->active()
            << " revoked.\n";
  return kExitOk;
}

struct KeySubcommand {
  absl::string_view name;
  std::function<int(const std::vector<std::string>&)> run;
};

const std::vector<KeySubcommand>& KeySubcommands() {
  static const std::vector<KeySubcommand>* const kKeySubcommands = new std::vector<KeySubcommand>{
      {"init-keys", RunInitKeys}, {"keygen", RunKeygen},   {"enrol", RunEnrol},
      {"revoke", RunRevoke},      {"clients", RunClients},
  };
  return *kKeySubcommands;
}

struct Subcommand {
  absl::string_view name;
  std::function<int(Context&)> run;
};

const std::vector<Subcommand>& Subcommands() {
  static const std::vector<Subcommand>* const kSubcommands = new std::vector<Subcommand>{
      {"alert", RunAlert},
      {"incidents", RunIncidents},
      {"incident", RunIncident},
      {"unit", RunUnit},
      {"near", RunNear},
      {"assign", RunAssign},
      {"release", RunRelease},
      {"cancel", RunCancel},
      {"resolve", RunResolve},
      {"close", RunClose},
      {"set-status", RunSetStatus},
      {"stats", RunStats},
      {"watch", RunWatch},
  };
  return *kSubcommands;
}

bool WantsHelp(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (arg == "--help" || arg == "-help" || arg == "-h" || arg == "--usage") return true;
  }
  return argc > 1 && absl::string_view(argv[1]) == "help";
}

int Main(int argc, char** argv) {
  if (WantsHelp(argc, argv)) {
    std::cout << kUsage;
    return kExitOk;
  }
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const absl::string_view name = positional[1];
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  const auto key_command = std::find_if(KeySubcommands().begin(), KeySubcommands().end(),
                                        [&](const KeySubcommand& s) { return s.name == name; });
  if (key_command != KeySubcommands().end()) return key_command->run(args);
  const auto it = std::find_if(Subcommands().begin(), Subcommands().end(),
                               [&](const Subcommand& s) { return s.name == name; });
  if (it == Subcommands().end()) return Usage(absl::StrCat("unknown subcommand '", name, "'"));
  if (absl::GetFlag(FLAGS_timeout) <= absl::ZeroDuration()) {
    return Usage("--timeout must be positive");
  }

  absl::StatusOr<auth::CurveClientKeys> keys =
      auth::ClientKeysFromFlags(absl::GetFlag(FLAGS_keys_dir), absl::GetFlag(FLAGS_key),
                                absl::GetFlag(FLAGS_server_key), auth::kOperatorKeyName);
  if (!keys.ok()) return Fail(keys.status());

  zmq::context_t zmq_context(1);
  OperatorSession session(zmq_context, absl::GetFlag(FLAGS_operator), absl::GetFlag(FLAGS_timeout),
                          *keys);
  if (absl::Status opened = session.Open(); !opened.ok()) return Fail(opened);
  Context ctx{zmq_context, std::move(args), session, *std::move(keys)};
  return it->run(ctx);
}

}  // namespace
}  // namespace gz::client

int main(int argc, char** argv) { return gz::client::Main(argc, argv); }
