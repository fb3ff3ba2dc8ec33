// fuzz_commands: the whole command path of dispatchd on an in-memory engine.
//
// Each input is a fresh fuzz city (MakeFuzzCity) fed a sequence of records: inbound frames on the
// three inbound channels from several responder connections, and the server's timers, at a clock
// that only moves forward (command_harness.h has the format). Every frame goes through
// transport::Decode, the shell's session checks, DispatchCore::Apply and the encoders of every
// reply, delivery and feed frame, as in dispatchd.
//
// Beyond "no crash, leak, hang or UB", checked after every record (CommandHarness):
//   - one answer per alert, at most one rejection per command, and nothing after a rejection (a
//     refused command changes nothing);
//   - events in time order, never ahead of the core's clock; the feed gap-free;
//   - no unit held by two active assignments; a unit is assigned exactly when it holds one; only
//     open incidents hold units;
//   - every incident's timeline is a walk through the lifecycle table ending at its state;
//   - NextDeadline() is never in the past, and after an AdvanceTime is strictly in the future;
//   - every frame that would go out parses as an Envelope within the 64 KiB cap;
//   - the delivery book's pending deliveries are in order, unreceipted and within their bound.

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "tests/fuzz/command_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gz::fuzz::CommandHarness harness;
  for (const gz::fuzz::Record& record :
       gz::fuzz::ParseRecords(absl::string_view(reinterpret_cast<const char*>(data), size))) {
    harness.Run(record);
  }
  return 0;
}
