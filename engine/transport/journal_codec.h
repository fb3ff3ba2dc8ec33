// The journal's payloads as bytes: one core command per record, and the engine's snapshot. The
// schema is protocol/journal.proto; the files around the payloads are engine/journal/journal.h
// (both described in protocol/JOURNAL.md). Protobuf stays inside journal_codec.cc.
//
//   journal_writer->Append(EncodeJournalCommand(command));
//   ... on start ...
//   absl::StatusOr<Command> command = DecodeJournalCommand(payload);
//
// A decoded command is exactly the one encoded, field for field (Command's operator==), provided
// its time is a whole number of nanoseconds (absl::Now() and everything derived from it is).
// Decoding never crashes and never throws, whatever the bytes; it refuses anything that is not a
// command this engine knows (a body missing, an enum value out of range) with DataLoss.
//
// Thread-safety: stateless functions; safe from any thread.

#ifndef ENGINE_TRANSPORT_JOURNAL_CODEC_H_
#define ENGINE_TRANSPORT_JOURNAL_CODEC_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/dispatch/commands.h"

namespace gz::transport {

// One journal record's payload.
std::string EncodeJournalCommand(const Command& command);
absl::StatusOr<Command> DecodeJournalCommand(absl::string_view payload);

// A snapshot file's payload: the dispatch core's snapshot (EncodeCoreSnapshot) and the server's
// own counters that replay would otherwise rebuild.
struct EngineSnapshot {
  uint64_t feed_event_sequence = 0;
  std::string core;
  bool operator==(const EngineSnapshot&) const = default;
};
std::string EncodeEngineSnapshot(const EngineSnapshot& snapshot);
absl::StatusOr<EngineSnapshot> DecodeEngineSnapshot(absl::string_view payload);

}  // namespace gz::transport

#endif  // ENGINE_TRANSPORT_JOURNAL_CODEC_H_
