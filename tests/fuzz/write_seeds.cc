// fuzz_write_seeds: writes the seed corpora and the dictionary of the fuzz targets.
//
//   build-fuzz/tests/fuzz/fuzz_write_seeds tests/fuzz [--trace]
//
// writes tests/fuzz/corpus/<target>/<name> for each target and tests/fuzz/envelope.dict, replacing
// what was there; --trace prints the events of each command scenario as it is played.
//
// Every seed is built with the real encoders: the client's side of the inbound wire
// (inbound_wire.h), the server's codec for outbound frames, the journal's and the snapshot's own
// codecs. The command scenarios are played against the fuzz city while they are recorded, so the
// ids they quote are the ones the engine hands out, and the commands they apply and the state they
// end in become the journal and snapshot seeds. The same program writes the same bytes: the test
// fuzz_seeds_are_current compares its output with the committed files.

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/dispatch/event_format.h"
#include "engine/journal/journal.h"
#include "engine/transport/codec.h"
#include "engine/transport/journal_codec.h"
#include "engine/transport/snapshot_codec.h"
#include "protocol/dispatch.pb.h"
#include "protocol/snapshot.pb.h"
#include "tests/fuzz/command_harness.h"
#include "tests/fuzz/inbound_wire.h"

namespace gz::fuzz {
namespace {

namespace fs = std::filesystem;
namespace pb = ::gz::dispatch::v1;
namespace snapshot_pb = ::gz::dispatch::snapshot::v1;
using transport::Channel;

// The fuzz city's one district (MakeFuzzCity).
constexpr DistrictCode kDistrict = 440100;

// ---------------------------------------------------------------------------------------------
// Command scenarios, played while they are recorded.

// Whether to print the scenarios as they are played (--trace).
bool trace = false;

// A named sequence of records played against a fresh CommandHarness as it is built.

class Scenario {
 public:
  explicit Scenario(std::string name) : name_(std::move(name)) {
    if (trace) std::printf("%s\n", name_.c_str());
  }

  const std::string& name() const { return name_; }
  const std::vector<Event>& Intake(const transport::InboundBody& body, uint8_t step = 1) {
    return Run(RecordKind::kIntake, 0, body, step);
  }
  const std::vector<Event>& Operator(const transport::InboundBody& body, uint8_t step = 1) {
    return Run(RecordKind::kOperator, 0, body, step);
  }
  const std::vector<Event>& Responder(int connection, const transport::InboundBody& body,
                                      uint8_t step = 1) {
    return Run(RecordKind::kResponder, connection, body, step);
  }
  // A raw frame, for the refusals.
  const std::vector<Event>& RawFrame(RecordKind kind, std::string frame, uint8_t step = 1) {
    Record r{kind, 0, step, std::move(frame)};
    return Play(std::move(r));
  }
  // The core's deadline timer, after the clock moved by `step`.
  const std::vector<Event>& Timer(uint8_t step = 0) {
    return Play(Record{RecordKind::kTimer, 0, step, ""});
  }
  // The delivery book's resend and silence check.
  const std::vector<Event>& Maintenance(uint8_t step = 0) {
    return Play(Record{RecordKind::kTimer, 1, step, ""});
  }

  // The assignments `events` issued, in issue order.
  std::vector<AssignmentIssued> Issued(const std::vector<Event>& events) const {
    std::vector<AssignmentIssued> out;
    for (const Event& e : events) {
      if (const auto* a = std::get_if<AssignmentIssued>(&e.body)) out.push_back(*a);
    }
    return out;
  }

  LonLat Star() const { return harness_.world().alert_point(); }
  const DispatchCore& core() const { return harness_.core(); }
  const CommandHarness& harness() const { return harness_; }
  std::string Bytes() const { return SerializeRecords(records_); }
  // Every frame the server would have sent so far.
  const std::vector<std::string>& sent() const { return sent_; }

 private:
  const std::vector<Event>& Run(RecordKind kind, int connection, const transport::InboundBody& body,
                                uint8_t step) {
    Record r{kind, static_cast<uint8_t>(connection), step,
             EncodeInbound(absl::StrCat("seed-", connection), ++sequence_, body)};
    return Play(std::move(r));
  }
  const std::vector<Event>& Play(Record r) {
    harness_.Run(r);
    if (trace) {
      static constexpr const char* kKinds[] = {"intake", "responder", "operator", "timer"};
      std::printf("  %s %s: %zu frames out\n",
                  FormatOffset(harness_.clock(), harness_.world().start()).c_str(),
                  kKinds[static_cast<int>(r.kind)], harness_.last_frames().size());
      for (const Event& e : harness_.last_events()) {
        std::printf("    %s\n", FormatEvent(e.body).c_str());
      }
    }
    records_.push_back(std::move(r));
    sent_.insert(sent_.end(), harness_.last_frames().begin(), harness_.last_frames().end());
    return harness_.last_events();
  }

  std::string name_;
  CommandHarness harness_;
  std::vector<Record> records_;
  std::vector<std::string> sent_;
  uint64_t sequence_ = 0;
};

RaiseAlert Alert(const std::string& reporter, uint64_t seq, LonLat at, Category category,
                 Level level) {
  return RaiseAlert{reporter, seq, at, category, level};
}

// Says Hello for `unit` on `connection` and returns the connection.
int Connect(Scenario& s, int connection, UnitId unit, uint64_t last_seen = 0) {
  s.Responder(connection, transport::Hello{unit, last_seen});
  return connection;
}

// The seeds of the targets that start from an engine's history.
struct HistorySeeds {
  std::map<std::string, std::string> commands;  // fuzz_commands: the scenario's records
  std::map<std::string, std::string> journal;   // fuzz_journal_reader: what dispatchd journaled
  std::map<std::string, std::string> snapshot;  // fuzz_snapshot: the state it ended in
};

// A journal segment holding `commands` (fuzz_journal_reader's even mode), or the same payloads
// for the target to frame (its odd mode).
std::string JournalSegmentSeed(const std::vector<Command>& commands, absl::Time start) {
  journal::SegmentHeader header;
  header.segment_number = 1;
  header.first_record = 1;
  header.core_start_unix_us = absl::ToUnixMicros(start);
  header.fingerprint = 0x6775'6675'7a7a'0001;
  header.incarnation = 1;
  std::string seed(1, '\0');
  seed += journal::EncodeSegmentHeader(header);
  for (const Command& c : commands)
    seed += journal::EncodeRecord(transport::EncodeJournalCommand(c));
  return seed;
}
std::string JournalPayloadsSeed(const std::vector<Command>& commands) {
  std::string seed(1, '\1');
  for (const Command& c : commands) {
    const std::string payload = transport::EncodeJournalCommand(c);
    seed.push_back(static_cast<char>(payload.size() & 0xff));
    seed.push_back(static_cast<char>(payload.size() >> 8));
    seed += payload;
  }
  return seed;
}

// The state inside the core's snapshot (fuzz_snapshot's odd mode), or the whole snapshot file
// (its even mode).
std::string SnapshotStateSeed(const DispatchCore& core) {
  snapshot_pb::SnapshotFile file;
  file.ParseFromString(transport::EncodeCoreSnapshot(core));
  return std::string(1, '\1') + file.state();
}
std::string SnapshotFileSeed(const DispatchCore& core) {
  return std::string(1, '\0') + transport::EncodeCoreSnapshot(core);
}

// Keeps what a played scenario gives each target.
void Keep(const Scenario& s, HistorySeeds* seeds) {
  seeds->commands[s.name()] = s.Bytes();
  const std::vector<Command>& applied = s.harness().applied();
  seeds->journal[absl::StrCat(s.name(), "_segment")] =
      JournalSegmentSeed(applied, s.harness().world().start());
  seeds->journal[absl::StrCat(s.name(), "_payloads")] = JournalPayloadsSeed(applied);
  seeds->snapshot[absl::StrCat(s.name(), "_state")] = SnapshotStateSeed(s.core());
}

HistorySeeds CommandSeeds() {
  HistorySeeds seeds;

  {  // The whole happy path: alert, offers, acks, arrivals, resolve, close.
    Scenario s("happy_path");
    const auto issued =
        s.Issued(s.Intake(Alert("110:0001", 1, s.Star(), Category::kFire, Level::kIvGeneral)));
    // Four connections, so the first four units answer; the rest stay silent and expire.
    const size_t answering = std::min<size_t>(issued.size(), 4);
    for (size_t i = 0; i < answering; ++i) {
      Connect(s, static_cast<int>(i), issued[i].unit);
      s.Responder(static_cast<int>(i), AckAssignment{issued[i].unit, issued[i].assignment});
    }
    for (size_t i = 0; i < answering; ++i) {
      s.Responder(static_cast<int>(i), ReportArrival{issued[i].unit, issued[i].assignment}, 20);
    }
    s.Operator(ResolveIncident{1}, 120);
    s.Operator(CloseIncident{1}, 30);
    Keep(s, &seeds);
  }

  {  // Declines cascade to the next units; the decliner is never offered again.
    Scenario s("decline_cascade");
    auto issued =
        s.Issued(s.Intake(Alert("110:0002", 1, s.Star(), Category::kMedical, Level::kIvGeneral)));
    for (int round = 0; round < 3 && !issued.empty(); ++round) {
      const AssignmentIssued a = issued.front();
      Connect(s, round % 4, a.unit);
      issued = s.Issued(s.Responder(
          round % 4,
          DeclineAssignment{a.unit, a.assignment, static_cast<DeclineReason>(round % 5 + 1)}, 3));
    }
    Keep(s, &seeds);
  }

  {  // Silence: acknowledgement deadlines expire, rings widen, escalation steps fire.
    Scenario s("ack_timeouts_and_escalation");
    s.Intake(Alert("110:0003", 1, s.Star(), Category::kPublicSecurity, Level::kIvGeneral));
    for (int i = 0; i < 12; ++i) s.Timer();
    Keep(s, &seeds);
  }

  {  // Acknowledged but never on scene: the arrival deadline releases the unit.
    Scenario s("arrival_timeout");
    const auto issued =
        s.Issued(s.Intake(Alert("110:0004", 1, s.Star(), Category::kTraffic, Level::kIvGeneral)));
    for (size_t i = 0; i < issued.size() && i < 2; ++i) {
      Connect(s, static_cast<int>(i), issued[i].unit);
      s.Responder(static_cast<int>(i), AckAssignment{issued[i].unit, issued[i].assignment});
    }
    for (int i = 0; i < 6; ++i) s.Timer(ClockStepByte(absl::Minutes(1)));
    Keep(s, &seeds);
  }

  {  // A level I incident the city cannot staff: short, professional forces, zone broadcasts.
    Scenario s("short_and_escalated");
    for (int c = 0; c < 4; ++c) Connect(s, c, static_cast<UnitId>(c * 4 + 1));
    s.Intake(Alert("110:0005", 1, s.Star(), Category::kCrowd, Level::kIExtreme));
    s.Intake(Alert("110:0006", 1, s.Star(), Category::kHazmat, Level::kIiMajor), 10);
    s.Timer(ClockStepByte(absl::Minutes(5)));
    s.Maintenance(3);
    Keep(s, &seeds);
  }

  {  // Merging, duplicates, and the idempotency window running out.
    Scenario s("merge_duplicate_and_expiry");
    const RaiseAlert first = Alert("110:0007", 1, s.Star(), Category::kRescue, Level::kIvGeneral);
    s.Intake(first);
    s.Intake(
        Alert("110:0008", 1, s.harness().world().Cell(4, 9), Category::kRescue, Level::kIiiLarge),
        20);
    s.Intake(first, 5);  // a retry: the same answer
    s.Operator(Alert("console-1", 1, s.harness().world().Cell(0, 0), Category::kRescue,
                     Level::kIvGeneral));
    s.Operator(CancelIncident{1}, ClockStepByte(absl::Hours(25)));
    s.Intake(first);  // answered afresh after the window
    Keep(s, &seeds);
  }

  {  // The operator's commands and every query.
    Scenario s("operator_commands_and_queries");
    s.Intake(Alert("110:0009", 1, s.Star(), Category::kNaturalDisaster, Level::kIvGeneral));
    s.Operator(ManualAssign{1, 16, AssignmentRole::kAssembly});
    s.Operator(ManualAssign{1, 14, AssignmentRole::kFrontline});
    s.Operator(ReleaseAssignment{1});
    s.Operator(SetUnitStatus{16, UnitStatus::kOutOfService});
    s.Operator(SetUnitStatus{16, UnitStatus::kAvailable}, 30);
    s.Operator(transport::GetIncident{1});
    s.Operator(transport::ListOpenIncidents{kDistrict, Level::kIvGeneral, 10, 0});
    s.Operator(transport::GetUnit{14});
    s.Operator(transport::UnitsNear{s.Star(), 500, 5, true});
    s.Operator(transport::GetStats{});
    s.Operator(transport::FeedSnapshotRequest{});
    s.Operator(transport::Heartbeat{0});
    s.Operator(ResolveIncident{1}, 60);
    s.Operator(CloseIncident{1});
    Keep(s, &seeds);
  }

  {  // Refusals: the codec's, the shell's and the core's.
    Scenario s("refusals");
    const LonLat outside{114.5, 22.0};
    s.Intake(Alert("110:0010", 1, outside, Category::kFire, Level::kIvGeneral));
    s.Intake(Alert("110:0010", 2, s.Star(), static_cast<Category>(42), Level::kIvGeneral));
    s.Intake(Alert("110:0010", 3, s.Star(), Category::kFire, static_cast<Level>(9)));
    s.Intake(Alert("110:0010", 4, LonLat{200, 95}, Category::kFire, Level::kIvGeneral));
    s.Intake(AckAssignment{1, 1});        // not on the intake channel
    s.Responder(0, AckAssignment{1, 1});  // before Hello
    Connect(s, 0, 99);                    // no such unit
    Connect(s, 0, 3);
    s.Responder(0, AckAssignment{4, 1});   // another unit's command
    s.Responder(0, AckAssignment{3, 77});  // not its assignment
    s.Responder(0, UpdateUnit{3, UnitStatus::kAssigned, std::nullopt, std::nullopt});
    s.Responder(0, UpdateUnit{3, std::nullopt, 99, std::nullopt});
    s.Operator(CloseIncident{5});
    s.Intake(Alert("110:0010", 5, s.Star(), Category::kFire, Level::kIvGeneral));
    s.Operator(CloseIncident{1});  // not resolved yet
    s.Operator(ManualAssign{1, 3, AssignmentRole::kFrontline});
    s.RawFrame(RecordKind::kOperator, "\x08\x02\x1a\x01", 0);  // version 2
    s.RawFrame(RecordKind::kIntake, "not an envelope", 0);
    Keep(s, &seeds);
  }

  {  // A unit's own reports: headcount, position, status, while assigned and free.
    Scenario s("unit_updates");
    const auto issued =
        s.Issued(s.Intake(Alert("110:0011", 1, s.Star(), Category::kFire, Level::kIiiLarge)));
    const AssignmentIssued a = issued.back();  // an assembly unit: its headcount counts
    Connect(s, 1, a.unit);
    s.Responder(1, AckAssignment{a.unit, a.assignment});
    s.Responder(1, UpdateUnit{a.unit, std::nullopt, 1, std::nullopt}, 10);
    Connect(s, 2, 7);
    s.Responder(2, UpdateUnit{7, UnitStatus::kOffPost, std::nullopt, std::nullopt});
    s.Responder(2, UpdateUnit{7, UnitStatus::kAvailable, 2, s.Star()}, 30);
    s.Responder(1, UpdateUnit{a.unit, std::nullopt, std::nullopt, s.harness().world().Cell(4, 7)});
    Keep(s, &seeds);
  }

  {  // Reliable delivery: receipts, heartbeats, silence, the pending bound, reconnection.
    Scenario s("delivery_book");
    Connect(s, 0, 9);
    Connect(s, 1, 5);
    // Level III: the incidents' zone hears a broadcast, on top of the assignments.
    s.Intake(Alert("110:0012", 1, s.Star(), Category::kMedical, Level::kIiiLarge));
    s.Responder(0, transport::DeliveryReceipt{9, 1});
    s.Responder(0, transport::Heartbeat{1}, 6);
    s.Maintenance(1);  // unit 5 has been silent for three heartbeat intervals: disconnected
    // While unit 5 is away its deliveries pile up past the bound.
    const Category categories[] = {Category::kFire, Category::kTraffic, Category::kRescue,
                                   Category::kCrowd};
    uint64_t seq = 2;
    for (Category category : categories) {
      s.Intake(Alert("110:0012", seq++, s.Star(), category, Level::kIiiLarge));
      s.Responder(0, transport::Heartbeat{1}, 5);
      s.Timer();
      s.Maintenance(1);  // resends to unit 9, which is still connected
    }
    Connect(s, 2, 5, 1);    // back, on another connection, having seen only its first delivery
    Connect(s, 0, 5, 3);    // and again on unit 9's connection, which now speaks for unit 5
    Connect(s, 1, 9, 100);  // unit 9 claims more than it was ever sent
    Keep(s, &seeds);

    // The journal's failure modes, on this scenario's segment: a tail cut by a crash in the middle
    // of a record, and a flipped bit in an early record.
    const std::string segment =
        JournalSegmentSeed(s.harness().applied(), s.harness().world().start());
    seeds.journal["torn_tail"] = segment.substr(0, segment.size() - 5);
    std::string corrupt = segment;
    corrupt[1 + journal::kSegmentHeaderBytes + journal::kRecordHeaderBytes + 2] ^= 0x10;
    seeds.journal["corrupt_record"] = corrupt;
    seeds.snapshot["whole_file"] = SnapshotFileSeed(s.core());
  }
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// Codec seeds: the first byte picks the channel and cap (fuzz_codec.cc), the rest is the frame.

std::string CodecSeed(Channel channel, const std::string& frame, bool small_cap = false) {
  uint8_t first = static_cast<uint8_t>(channel);
  if (small_cap) {
    // The smallest cap (a multiple of 8 bytes) whose byte still picks `channel`.
    first = 0x81;
    while (first % 3 != static_cast<int>(channel)) ++first;
  }
  return std::string(1, static_cast<char>(first)) + frame;
}

std::string Frame(const transport::InboundBody& body) { return EncodeInbound("seed", 7, body); }

// A frame with its maps (Stats.counters) in key order: protobuf writes them in hash order, which
// changes from run to run, and the seeds must not.
std::string Deterministic(const std::string& frame) {
  pb::Envelope env;
  env.ParseFromString(frame);
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    env.SerializeToCodedStream(&coded);
  }
  return out;
}

std::string Serialized(const pb::Envelope& env) {
  std::string out;
  env.SerializeToString(&out);
  return out;
}

std::map<std::string, std::string> CodecSeeds() {
  std::map<std::string, std::string> seeds;
  const LonLat star = MakeFuzzCity()->alert_point();

  // Every inbound body, valid, on a channel that takes it.
  const RaiseAlert alert{"110:0001", 1, star, Category::kFire, Level::kIiiLarge};
  seeds["intake_raise_alert"] = CodecSeed(Channel::kIntake, Frame(alert));
  seeds["intake_heartbeat"] = CodecSeed(Channel::kIntake, Frame(transport::Heartbeat{3}));
  seeds["responder_hello"] = CodecSeed(Channel::kResponder, Frame(transport::Hello{9, 4}));
  seeds["responder_ack"] = CodecSeed(Channel::kResponder, Frame(AckAssignment{9, 1}));
  seeds["responder_decline"] =
      CodecSeed(Channel::kResponder, Frame(DeclineAssignment{9, 1, DeclineReason::kTooFar}));
  seeds["responder_arrival"] = CodecSeed(Channel::kResponder, Frame(ReportArrival{9, 1}));
  seeds["responder_unit_update"] =
      CodecSeed(Channel::kResponder, Frame(UpdateUnit{9, UnitStatus::kOffPost, 1, star}));
  seeds["responder_position_batch"] = CodecSeed(
      Channel::kResponder, Frame(transport::PositionBatch{{{9, star}, {10, star}, {9, star}}}));
  seeds["responder_receipt"] =
      CodecSeed(Channel::kResponder, Frame(transport::DeliveryReceipt{9, 5}));
  seeds["operator_raise_alert"] = CodecSeed(Channel::kOperator, Frame(alert));
  seeds["operator_manual_assign"] =
      CodecSeed(Channel::kOperator, Frame(ManualAssign{1, 9, AssignmentRole::kAssembly}));
  seeds["operator_release"] = CodecSeed(Channel::kOperator, Frame(ReleaseAssignment{2}));
  seeds["operator_cancel"] = CodecSeed(Channel::kOperator, Frame(CancelIncident{1}));
  seeds["operator_resolve"] = CodecSeed(Channel::kOperator, Frame(ResolveIncident{1}));
  seeds["operator_close"] = CodecSeed(Channel::kOperator, Frame(CloseIncident{1}));
  seeds["operator_set_unit_status"] =
      CodecSeed(Channel::kOperator, Frame(SetUnitStatus{9, UnitStatus::kOutOfService}));
  seeds["operator_feed_snapshot_request"] =
      CodecSeed(Channel::kOperator, Frame(transport::FeedSnapshotRequest{}));
  seeds["operator_get_incident"] = CodecSeed(Channel::kOperator, Frame(transport::GetIncident{1}));
  seeds["operator_list_open_incidents"] = CodecSeed(
      Channel::kOperator, Frame(transport::ListOpenIncidents{kDistrict, Level::kIiiLarge, 20, 5}));
  seeds["operator_get_unit"] = CodecSeed(Channel::kOperator, Frame(transport::GetUnit{9}));
  seeds["operator_units_near"] =
      CodecSeed(Channel::kOperator, Frame(transport::UnitsNear{star, 1000, 10, true}));
  seeds["operator_get_stats"] = CodecSeed(Channel::kOperator, Frame(transport::GetStats{}));
  seeds["operator_heartbeat"] = CodecSeed(Channel::kOperator, Frame(transport::Heartbeat{0}));

  // Refusals.
  seeds["refused_wrong_channel"] = CodecSeed(Channel::kIntake, Frame(AckAssignment{9, 1}));
  seeds["refused_too_large"] = CodecSeed(Channel::kIntake, Frame(alert), /*small_cap=*/true);
  seeds["refused_garbage"] = CodecSeed(Channel::kOperator, "\xff\xff\xff\xff\x0f");
  {
    pb::Envelope env;
    env.ParseFromString(Frame(alert));
    env.set_protocol_version(2);
    seeds["refused_version"] = CodecSeed(Channel::kIntake, Serialized(env));
    env.set_protocol_version(1);
    env.mutable_raise_alert()->mutable_position()->set_lon(
        std::numeric_limits<double>::quiet_NaN());
    seeds["refused_nan_position"] = CodecSeed(Channel::kIntake, Serialized(env));
    env.mutable_raise_alert()->set_reporter_id(std::string(65, 'r'));
    seeds["refused_long_reporter"] = CodecSeed(Channel::kIntake, Serialized(env));
  }

  // Outbound messages, which no inbound channel accepts: one frame of each kind the server sent
  // during a short scenario.
  Scenario s("outbound frames for the codec seeds");
  const auto issued =
      s.Issued(s.Intake(Alert("110:0001", 1, s.Star(), Category::kFire, Level::kIiiLarge)));
  Connect(s, 0, issued.front().unit);
  s.Responder(0, AckAssignment{issued.front().unit, issued.front().assignment});
  s.Operator(transport::GetIncident{1});
  s.Operator(transport::ListOpenIncidents{});
  s.Operator(transport::GetUnit{issued.front().unit});
  s.Operator(transport::UnitsNear{s.Star(), 300, 3, false});
  s.Operator(transport::FeedSnapshotRequest{});
  s.Operator(transport::GetStats{});
  s.Operator(CancelIncident{1});
  std::map<std::string, std::string> by_body;
  for (const std::string& frame : s.sent()) {
    pb::Envelope env;
    if (!env.ParseFromString(frame)) continue;
    const google::protobuf::FieldDescriptor* field =
        pb::Envelope::descriptor()->FindFieldByNumber(static_cast<int>(env.body_case()));
    if (field != nullptr) by_body.emplace(field->name(), frame);
  }
  for (const auto& [name, frame] : by_body) {
    seeds[absl::StrCat("outbound_", name)] = CodecSeed(Channel::kOperator, Deterministic(frame));
  }
  return seeds;
}

// ---------------------------------------------------------------------------------------------
// The dictionary: the keys of the Envelope's fields (tag and wire type, varint-encoded), which
// libFuzzer's mutators would take long to find byte by byte.

std::string DictionaryText() {
  std::string text =
      "# The keys of the protocol Envelope's fields: written by fuzz_write_seeds "
      "(write_seeds.cc).\n";
  const google::protobuf::Descriptor* envelope = pb::Envelope::descriptor();
  for (int i = 0; i < envelope->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* field = envelope->field(i);
    const int wire_type = field->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE ||
                                  field->type() == google::protobuf::FieldDescriptor::TYPE_STRING
                              ? 2
                              : 0;
    uint32_t key = static_cast<uint32_t>(field->number()) << 3 | wire_type;
    std::string bytes;
    do {
      uint8_t b = key & 0x7f;
      key >>= 7;
      if (key) b |= 0x80;
      bytes += absl::StrFormat("\\x%02x", b);
    } while (key);
    absl::StrAppend(&text, field->name(), "=\"", bytes, "\"\n");
  }
  absl::StrAppend(&text, "protocol_version_1=\"\\x08\\x01\"\n");
  return text;
}

// ---------------------------------------------------------------------------------------------

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz_write_seeds: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

void WriteCorpus(const fs::path& dir, const std::map<std::string, std::string>& seeds) {
  // Replace the whole directory, so that a seed dropped here does not linger.
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const auto& [name, bytes] : seeds) WriteFile(dir / name, bytes);
  std::printf("fuzz_write_seeds: %zu seeds in %s\n", seeds.size(), dir.c_str());
}

}  // namespace
}  // namespace gz::fuzz

int main(int argc, char** argv) {
  const bool usage = argc < 2 || argc > 3 || (argc == 3 && std::string(argv[2]) != "--trace");
  if (usage) {
    std::fprintf(stderr,
                 "usage: %s <fuzz dir> [--trace]\n"
                 "Writes <fuzz dir>/corpus/<target>/* and <fuzz dir>/envelope.dict; --trace\n"
                 "prints the events of each command scenario.\n",
                 argv[0]);
    return 2;
  }
  gz::fuzz::trace = argc == 3;
  const std::filesystem::path root = argv[1];
  gz::fuzz::WriteCorpus(root / "corpus" / "fuzz_codec", gz::fuzz::CodecSeeds());
  const gz::fuzz::HistorySeeds history = gz::fuzz::CommandSeeds();
  gz::fuzz::WriteCorpus(root / "corpus" / "fuzz_commands", history.commands);
  gz::fuzz::WriteCorpus(root / "corpus" / "fuzz_journal_reader", history.journal);
  gz::fuzz::WriteCorpus(root / "corpus" / "fuzz_snapshot", history.snapshot);
  gz::fuzz::WriteFile(root / "envelope.dict", gz::fuzz::DictionaryText());
  return 0;
}
