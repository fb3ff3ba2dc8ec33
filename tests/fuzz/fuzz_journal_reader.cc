// fuzz_journal_reader: what dispatchd reads back from its journal on start, whatever the bytes:
// journal::JournalReader over a segment, each record's payload through DecodeJournalCommand, and
// the decoded commands replayed into the fuzz city's core as recovery replays them.
//
// Input: the first byte picks how the rest is used.
//   even: the rest is a segment file, read as is: its header, framing and CRCs are what is fuzzed.
//   odd:  the rest is a list of payloads, each [u16 little-endian length][bytes], which the target
//         frames into a segment with a valid header and valid CRCs, so that mutations reach the
//         payload decoder and the replay instead of stopping at a checksum.
//
// Checked, beyond "no crash, leak, hang or UB":
//   - every payload lies inside the segment, is 1..kMaxRecordBytes long, and the reader's offset
//     moves past exactly its frame; the end is kClean, kTornTail or kCorrupt, never kMore, and
//     stays so; kClean ends at the last byte, kTornTail counts the bytes after offset(), status()
//     is an error exactly for kCorrupt;
//   - a header the reader accepted encodes and decodes to itself;
//   - in the framed mode the reader returns exactly the payloads framed, and ends clean;
//   - a payload that decodes re-encodes to one that decodes to the same command, byte for byte;
//   - replaying the decoded commands keeps every invariant of CommandHarness.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/journal/journal.h"
#include "engine/transport/journal_codec.h"
#include "tests/fuzz/command_harness.h"
#include "tests/fuzz/fuzz_check.h"

namespace gz::fuzz {
namespace {

using journal::JournalReader;

// The framed mode: the payloads of the input, and the segment made of them.
std::vector<std::string> SplitPayloads(absl::string_view rest) {
  std::vector<std::string> payloads;
  size_t i = 0;
  while (i + 2 <= rest.size()) {
    size_t length =
        static_cast<uint8_t>(rest[i]) | static_cast<size_t>(static_cast<uint8_t>(rest[i + 1])) << 8;
    i += 2;
    length = std::min(length, rest.size() - i);
    // A record holds at least one byte (EncodeRecord's precondition).
    if (length > 0) payloads.emplace_back(rest.substr(i, length));
    i += length;
  }
  return payloads;
}

std::string FrameSegment(const std::vector<std::string>& payloads) {
  journal::SegmentHeader header;
  header.segment_number = 1;
  header.first_record = 1;
  header.core_start_unix_us = 1'767'225'600'000'000;
  header.fingerprint = 0x6775'6675'7a7a'0001;
  header.incarnation = 1;
  std::string segment = journal::EncodeSegmentHeader(header);
  for (const std::string& p : payloads) segment += journal::EncodeRecord(p);
  return segment;
}

void CheckCommandRoundTrip(const Command& command) {
  const std::string again = transport::EncodeJournalCommand(command);
  absl::StatusOr<Command> decoded = transport::DecodeJournalCommand(again);
  FUZZ_CHECK(decoded.ok(),
             "a re-encoded journal command does not decode: ", decoded.status().message());
  // Compared as bytes, not with operator==: a NaN coordinate (which the core refuses when it is
  // applied) is the same NaN after the trip but never equal to itself.
  FUZZ_CHECK(transport::EncodeJournalCommand(*decoded) == again,
             "a journal command changed on its way through the codec");
}

void ReadSegment(absl::string_view segment, const std::vector<std::string>* framed) {
  JournalReader reader(segment, "journal-000001.log");
  CommandHarness harness;
  absl::string_view payload;
  uint64_t offset = reader.offset();
  uint64_t records = 0;
  while (reader.Next(&payload)) {
    ++records;
    FUZZ_CHECK(reader.records() == records, "the reader counts ", reader.records(), " records of ",
               records);
    FUZZ_CHECK(payload.data() >= segment.data() &&
                   payload.data() + payload.size() <= segment.data() + segment.size(),
               "record ", records, " points outside the segment");
    FUZZ_CHECK(!payload.empty() && payload.size() <= journal::kMaxRecordBytes, "record ", records,
               " is ", payload.size(), " bytes");
    FUZZ_CHECK(reader.offset() > offset && reader.offset() <= segment.size() &&
                   static_cast<uint64_t>(payload.data() - segment.data()) + payload.size() ==
                       reader.offset(),
               "after record ", records, " the offset ", reader.offset(),
               " is not the end of its frame");
    offset = reader.offset();
    if (framed != nullptr) {
      FUZZ_CHECK(records <= framed->size() && payload == (*framed)[records - 1], "record ", records,
                 " is not the payload framed");
    }

    absl::StatusOr<Command> command = transport::DecodeJournalCommand(payload);
    if (!command.ok()) {
      FUZZ_CHECK(!command.status().message().empty(), "a refused payload without a reason");
      continue;  // recovery stops here with the error; the reader goes on for the fuzzer's sake
    }
    CheckCommandRoundTrip(*command);
    harness.Replay(*command);
  }
  FUZZ_CHECK(!reader.Next(&payload), "Next() returned a record after the end");
  const JournalReader::End end = reader.end();
  FUZZ_CHECK(end != JournalReader::End::kMore, "the reader stopped without saying why");
  FUZZ_CHECK(reader.status().ok() == (end != JournalReader::End::kCorrupt),
             "status() and end() disagree: ", reader.status().message());
  FUZZ_CHECK(reader.status().ok() || !reader.status().message().empty(),
             "a corrupt segment without a message");
  if (end == JournalReader::End::kClean) {
    FUZZ_CHECK(reader.offset() == segment.size(), "a clean end at ", reader.offset(), " of ",
               segment.size(), " bytes");
  }
  if (end == JournalReader::End::kTornTail) {
    FUZZ_CHECK(reader.torn_bytes() > 0 && reader.offset() + reader.torn_bytes() == segment.size(),
               "a torn tail of ", reader.torn_bytes(), " bytes after offset ", reader.offset(),
               " in ", segment.size());
  } else {
    FUZZ_CHECK(reader.torn_bytes() == 0, "torn bytes without a torn tail");
  }
  if (reader.header_ok()) {
    absl::StatusOr<journal::SegmentHeader> again = journal::DecodeSegmentHeader(
        journal::EncodeSegmentHeader(reader.header()), "re-encoded header");
    FUZZ_CHECK(again.ok() && *again == reader.header(), "an accepted header does not round-trip");
  }
  if (framed != nullptr) {
    FUZZ_CHECK(reader.header_ok() && end == JournalReader::End::kClean && records == framed->size(),
               "a well-framed segment of ", framed->size(), " records read as ", records,
               " ending ", static_cast<int>(end), ": ", reader.status().message());
  }
}

}  // namespace
}  // namespace gz::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] % 2 == 0) {
    gz::fuzz::ReadSegment(rest, nullptr);
  } else {
    const std::vector<std::string> payloads = gz::fuzz::SplitPayloads(rest);
    const std::string segment = gz::fuzz::FrameSegment(payloads);
    gz::fuzz::ReadSegment(segment, &payloads);
  }
  return 0;
}
