// The dispatch core's snapshot as bytes: what dispatchd's journal writes to bound replay after a
// crash, and reads back on start. The format is protocol/snapshot.proto (described in
// protocol/SNAPSHOT.md); protobuf stays inside snapshot_codec.cc.
//
//   std::string bytes = EncodeCoreSnapshot(core);
//   ... later, in a new process, after creating a core from the same config and unit set ...
//   absl::Status s = RestoreCoreSnapshot(bytes, core.get());
//
// The bytes carry a format version and a checksum of the state, so a torn or corrupted file is
// refused before any field is trusted. RestoreCoreSnapshot never crashes and never throws, whatever
// the bytes (a fuzz target points at it).
//
// Thread-safety: stateless functions; each call touches only the core it is given, which must not
// be in use by another thread.

#ifndef ENGINE_TRANSPORT_SNAPSHOT_CODEC_H_
#define ENGINE_TRANSPORT_SNAPSHOT_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "engine/dispatch/dispatch_core.h"

namespace gz::transport {

// The snapshot format this code writes, and the only one it reads.
inline constexpr uint32_t kCoreSnapshotFormatVersion = 1;

// Bytes longer than this are refused unread. 23,000 units and a normal day of incidents come to
// roughly 2 MB (protocol/SNAPSHOT.md); protobuf itself cannot parse 2 GiB or more.
inline constexpr size_t kMaxCoreSnapshotBytes = size_t{1} << 30;

// The whole mutable state of `core` (DispatchCore::CaptureState), serialized. Deterministic: equal
// states give equal bytes. Empty if the result would exceed kMaxCoreSnapshotBytes (and
// RestoreCoreSnapshot refuses an empty string).
std::string EncodeCoreSnapshot(const DispatchCore& core);

// Replaces the state of `core` with the snapshot in `bytes` (DispatchCore::RestoreState). `core`
// must have been created with the config and unit set the snapshot was taken with. On success the
// core answers every query and every further command exactly as the snapshotted core did.
//
// On failure `core` is unchanged and the status says why in a sentence:
//   DataLoss         the bytes are not an intact snapshot: too long, not a SnapshotFile, truncated,
//                    or the checksum does not match;
//   InvalidArgument  an intact snapshot this engine refuses: an unknown format version, another
//                    unit set or config, or an inconsistent state (a unit held twice, an unknown
//                    id, a value out of range, ...).
// REQUIRES: core != nullptr; not called from inside core->Apply().
absl::Status RestoreCoreSnapshot(absl::string_view bytes, DispatchCore* core);

}  // namespace gz::transport

#endif  // ENGINE_TRANSPORT_SNAPSHOT_CODEC_H_
