// fuzz_snapshot: transport::RestoreCoreSnapshot into the fuzz city's core, whatever the bytes, as
// dispatchd's recovery restores the journal's newest snapshot.
//
// Input: the first byte picks how the rest is used.
//   even: the rest is a whole snapshot (a SnapshotFile), restored as is: the outer checks (size,
//         parse, version, checksum) are what is fuzzed.
//   odd:  the rest is the state inside (a CoreSnapshot), which the target seals into a
//         SnapshotFile of the current version with the right checksum, so that mutations reach
//         the validation of the state itself.
//
// Checked, beyond "no crash, leak, hang or UB":
//   - a refusal is DataLoss or InvalidArgument with a sentence, and leaves the core unchanged (its
//     snapshot is the fresh city's, byte for byte);
//   - a restored core keeps every invariant of CommandHarness (no unit held twice, legal
//     timelines, deadlines not in the past, ...); RestoreCoreSnapshot promises to refuse
//     inconsistent states rather than load them;
//   - its snapshot restores into another fresh core and snapshots to the same bytes;
//   - it goes on working: the deadline timer fires a few times and the operator's feed snapshot
//     and incident list encode, all under the harness's checks.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/transport/snapshot_codec.h"
#include "protocol/snapshot.pb.h"
#include "tests/fuzz/command_harness.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/inbound_wire.h"

namespace gz::fuzz {
namespace {

// FNV-1a 64, the checksum SnapshotFile.state_fnv1a64 carries (protocol/snapshot.proto).
uint64_t Fnv1a64(absl::string_view bytes) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string Seal(absl::string_view state) {
  gz::dispatch::snapshot::v1::SnapshotFile file;
  file.set_format_version(transport::kCoreSnapshotFormatVersion);
  file.set_state(std::string(state));
  file.set_state_fnv1a64(Fnv1a64(state));
  std::string bytes;
  file.SerializeToString(&bytes);
  return bytes;
}

// The snapshot of a fresh fuzz city, to check that a refused restore changed nothing.
const std::string& FreshSnapshot() {
  static const std::string* fresh = [] {
    CommandHarness harness;
    return new std::string(transport::EncodeCoreSnapshot(harness.core()));
  }();
  return *fresh;
}

void Restore(absl::string_view bytes) {
  CommandHarness harness;
  const absl::Status status = transport::RestoreCoreSnapshot(bytes, &harness.mutable_core());
  if (!status.ok()) {
    FUZZ_CHECK(status.code() == absl::StatusCode::kDataLoss ||
                   status.code() == absl::StatusCode::kInvalidArgument,
               "a refused snapshot with status ", status.ToString());
    FUZZ_CHECK(!status.message().empty(), "a refused snapshot without a sentence");
    FUZZ_CHECK(transport::EncodeCoreSnapshot(harness.core()) == FreshSnapshot(),
               "a refused snapshot changed the core: ", status.message());
    return;
  }
  harness.SyncClock();
  harness.CheckInvariants();

  const std::string again = transport::EncodeCoreSnapshot(harness.core());
  FUZZ_CHECK(!again.empty(), "a restored core does not snapshot");
  CommandHarness other;
  const absl::Status restored = transport::RestoreCoreSnapshot(again, &other.mutable_core());
  FUZZ_CHECK(restored.ok(),
             "the snapshot of a restored core does not restore: ", restored.message());
  FUZZ_CHECK(transport::EncodeCoreSnapshot(other.core()) == again,
             "a snapshot changed on its way through a restore");

  // The restored engine goes on: its deadlines fire, and the operator's views encode.
  for (int i = 0; i < 3; ++i) harness.Run(Record{RecordKind::kTimer, 0, 0, ""});
  harness.Run(Record{RecordKind::kOperator, 0, 1,
                     EncodeInbound("console", 1, transport::FeedSnapshotRequest{})});
  harness.Run(Record{RecordKind::kOperator, 0, 1,
                     EncodeInbound("console", 2, transport::ListOpenIncidents{})});
}

}  // namespace
}  // namespace gz::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    gz::fuzz::Restore(rest);
  } else {
    gz::fuzz::Restore(gz::fuzz::Seal(rest));
  }
  return 0;
}
