// The journal: every command the dispatch core applies, on local disk, so that dispatchd restarts
// exactly where it stopped (crash recovery). The byte format is documented in protocol/JOURNAL.md.
//
// A journal is one directory:
//
//   LOCK                        held (flock) by the dispatchd that owns the journal
//   journal-000001.log          segments: a fixed header, then framed records
//   journal-000002.log          ...one more per start of dispatchd and per snapshot
//   snapshot-000000012345.bin   the engine's state after record 12345 (written atomically)
//
// Records are numbered 1, 2, 3, ... across segments; each segment's header gives the number of its
// first record, so a hole is noticed. What a record holds is the caller's business (dispatchd: one
// serialized JournalRecord, engine/transport/journal_codec.h): this module knows bytes, frames and
// files, and no protobuf.
//
// Writing (JournalWriter): Append() buffers a record; Commit() writes everything appended since the
// last Commit with one write() and makes it durable with one fdatasync(), so a whole turn of the
// server's loop costs one sync (group commit). A failed write or sync is returned, and the writer
// refuses everything after it: the caller must stop, never retry. After a failed fdatasync the
// kernel may have dropped the dirty pages, and a second fdatasync would report success for data
// that is gone.
//
// Reading: JournalReader walks one segment's bytes (in memory; any bytes at all, it never crashes)
// and says how the segment ends:
//   - clean: the last record is whole;
//   - torn tail: the bytes after the last good record hold no valid record at all: a write cut off
//     by a crash. Recovery truncates them and reports how many bytes went;
//   - corrupt: a damaged record (or header) with a valid record somewhere after it. That is not a
//     crash's doing; recovery stops with the file and offset and never skips the record.
// JournalDirectory opens a journal directory for recovery: it finds the newest snapshot, replays
// the segments after it in order, truncates the last segment's torn tail, and then starts the
// writer on a fresh segment.
//
// Thread-safety: none. One thread owns a JournalDirectory or a JournalWriter; a JournalReader is
// plain computation over its buffer.

#ifndef ENGINE_JOURNAL_JOURNAL_H_
#define ENGINE_JOURNAL_JOURNAL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gz::journal {

// ---- The format (protocol/JOURNAL.md). All integers little-endian.

inline constexpr uint32_t kFormatVersion = 1;
// The first 8 bytes of every segment and every snapshot file.
inline constexpr absl::string_view kSegmentMagic = "gzjournl";
inline constexpr absl::string_view kSnapshotMagic = "gzsnapsh";
inline constexpr size_t kSegmentHeaderBytes = 64;
inline constexpr size_t kSnapshotHeaderBytes = 64;
// A record: [u32 payload length][u32 CRC-32C of the payload][payload].
inline constexpr size_t kRecordHeaderBytes = 8;
// Commands are a few dozen bytes; anything this long is damage, not a record.
inline constexpr uint32_t kMaxRecordBytes = 64 * 1024;

// The fixed header of a segment file.
struct SegmentHeader {
  uint64_t segment_number = 0;  // N of journal-N.log
  uint64_t first_record = 0;    // the number of its first record (records count from 1)
  // When the engine the journal belongs to was created: the dispatch core's start time, which every
  // replay must create its core with. The same in every segment of a journal.
  int64_t core_start_unix_us = 0;
  // What the journal's commands were applied to (the unit set, the map and the dispatch policy):
  // replaying them against anything else would build a different state. Same in every segment.
  uint64_t fingerprint = 0;
  // How many times an engine has started on this journal, this segment's writer included.
  uint64_t incarnation = 0;
  bool operator==(const SegmentHeader&) const = default;
};

// kSegmentHeaderBytes bytes.
std::string EncodeSegmentHeader(const SegmentHeader& header);
// DataLoss naming `name` unless `bytes` starts with a whole, intact header of a version this build
// reads.
absl::StatusOr<SegmentHeader> DecodeSegmentHeader(absl::string_view bytes, absl::string_view name);

// One record frame (header and payload). REQUIRES: 1 <= payload.size() <= kMaxRecordBytes.
std::string EncodeRecord(absl::string_view payload);

// The file names of segment `n` and of the snapshot after record `n`.
std::string SegmentFileName(uint64_t n);
std::string SnapshotFileName(uint64_t n);

// ---- Reading one segment.

class JournalReader {
 public:
  enum class End {
    kMore,      // Next() has not reached the end yet
    kClean,     // the segment ends right after a whole record (or its header)
    kTornTail,  // the segment ends in bytes that hold no valid record
    kCorrupt,   // a damaged header, or a damaged record with a valid record after it
  };

  // Reads the segment in `bytes`, which must outlive the reader; `name` (its file name) is used in
  // messages. The header is checked at once: if it is damaged, end() is kCorrupt and Next() returns
  // false.
  JournalReader(absl::string_view bytes, std::string name);

  // The next record's payload (a view into `bytes`) and true; false when none is left, and then
  // end() says why.
  bool Next(absl::string_view* payload);

  End end() const { return end_; }
  // OK unless end() is kCorrupt: then DataLoss naming the file, the record number and the offset.
  const absl::Status& status() const { return status_; }
  // Valid once the header was read (status() OK or end() other than kCorrupt at the header).
  const SegmentHeader& header() const { return header_; }
  bool header_ok() const { return header_ok_; }
  // Records returned so far.
  uint64_t records() const { return records_; }
  // The offset just past the last record returned (where a torn tail starts).
  uint64_t offset() const { return offset_; }
  // With kTornTail: how many bytes follow offset(); 0 otherwise.
  uint64_t torn_bytes() const { return torn_bytes_; }

 private:
  // Whether a valid frame starts at `at`; if so its payload and the offset after it.
  bool FrameAt(uint64_t at, absl::string_view* payload, uint64_t* next) const;
  // Why the frame at `at` is not valid, as a phrase.
  std::string WhatIsWrongAt(uint64_t at) const;

  absl::string_view bytes_;
  std::string name_;
  SegmentHeader header_;
  bool header_ok_ = false;
  End end_ = End::kMore;
  absl::Status status_;
  uint64_t records_ = 0;
  uint64_t offset_ = 0;
  uint64_t torn_bytes_ = 0;
};

// ---- Writing.

class JournalWriter {
 public:
  struct Options {
    std::string dir;
    // The segment this writer creates and appends to. It must not exist yet.
    uint64_t segment_number = 1;
    // The number the first Append() gets: one past the last record already in the journal.
    uint64_t next_record = 1;
    int64_t core_start_unix_us = 0;
    uint64_t fingerprint = 0;
    uint64_t incarnation = 1;
    // The record number of the journal's newest snapshot (0: none), so that the next snapshot knows
    // which files it makes obsolete.
    uint64_t last_snapshot = 0;
    // How a commit makes its write durable: fdatasync, unless a test injects a failure.
    int (*sync)(int fd) = nullptr;
  };

  // Creates the segment atomically (written under a temporary name, synced, renamed, the directory
  // synced) and opens it for appending. `lock_fd` is the directory's LOCK file descriptor, held
  // (and closed) by the writer; -1 for none.
  static absl::StatusOr<std::unique_ptr<JournalWriter>> Create(Options options, int lock_fd = -1);
  ~JournalWriter();  // closes the files; does not commit

  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Buffers one record and returns its number. A payload outside 1..kMaxRecordBytes bytes fails
  // the writer (the next Commit() returns the error) rather than write what no reader accepts.
  uint64_t Append(absl::string_view payload);
  // Records appended since the last Commit().
  size_t uncommitted() const { return uncommitted_; }

  // One write() of everything appended since the last Commit, then one fdatasync(). OK at once when
  // nothing is uncommitted. Any failure is final: this and every later call return it.
  absl::Status Commit();

  // Saves `payload` as the state after the last record: a new segment is opened for the records
  // that follow, snapshot-<last record>.bin is written atomically, and then the files the previous
  // snapshot made obsolete are deleted (snapshots older than it, and segments holding only records
  // up to it), so the journal always keeps one older snapshot and the records after it. Failures
  // are final, as for Commit().
  // REQUIRES: uncommitted() == 0.
  absl::Status WriteSnapshot(absl::string_view payload);

  // The same in three steps, so that the state can be encoded and written elsewhere (dispatchd
  // forks a child for it) while this writer goes on appending and committing:
  //   BeginSnapshot opens the segment for the records that follow and says where the snapshot of
  //     the state after the last record goes (nullopt when nothing happened since the last one);
  //   WriteSnapshotFile writes it atomically; it reads nothing of the writer, so a forked child
  //     can call it;
  //   FinishSnapshot, after the file is written, deletes what the previous snapshot made obsolete.
  // If the file is never written (a crash, a failure), the journal is as before: the older
  // snapshot and every record after it. REQUIRES for Begin: uncommitted() == 0 and no other
  // snapshot begun and not finished.
  struct SnapshotPlan {
    Options journal;  // the writer's: where, and what the header says
    uint64_t last_record = 0;
  };
  absl::StatusOr<std::optional<SnapshotPlan>> BeginSnapshot();
  static absl::Status WriteSnapshotFile(const SnapshotPlan& plan, absl::string_view payload);
  void FinishSnapshot(const SnapshotPlan& plan);

  // The number of the last record appended (0 if the journal has none).
  uint64_t last_record() const { return next_record_ - 1; }
  const std::string& segment_path() const { return segment_path_; }
  const absl::Status& status() const { return status_; }

  // What this writer did, for the server's counters.
  struct Stats {
    uint64_t records = 0;
    uint64_t commits = 0;
    uint64_t bytes = 0;
    uint64_t snapshots = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  explicit JournalWriter(Options options, int lock_fd);
  absl::Status OpenSegment(uint64_t number, uint64_t first_record);
  absl::Status Fail(absl::Status status);
  void DeleteObsolete(uint64_t previous_snapshot);

  Options options_;
  int lock_fd_ = -1;
  int fd_ = -1;
  std::string segment_path_;
  uint64_t segment_number_ = 0;
  uint64_t next_record_ = 1;
  std::string buffer_;  // frames appended since the last commit
  size_t uncommitted_ = 0;
  uint64_t last_snapshot_ = 0;  // record number of the newest snapshot this journal has (0: none)
  absl::Status status_;
  Stats stats_;
};

// ---- Recovery.

struct SnapshotFile {
  std::string path;
  uint64_t last_record = 0;  // the state after this record
};

struct SegmentFile {
  std::string path;
  SegmentHeader header;
};

// A torn tail cut off the last segment.
struct TornTail {
  std::string path;
  uint64_t offset = 0;  // where the segment now ends
  uint64_t bytes = 0;   // how many bytes were removed
};

struct ReplaySummary {
  uint64_t records = 0;      // records visited (those after the snapshot)
  uint64_t last_record = 0;  // the number of the journal's last record (0: none at all)
  std::optional<TornTail> torn;
};

class JournalDirectory {
 public:
  // Opens `dir` for recovery, creating it if missing: takes its LOCK (FailedPrecondition if another
  // process holds it), deletes leftovers of interrupted atomic writes (*.tmp), reads every segment
  // header, and picks the newest intact snapshot (see warnings()) and the segments after it. Fails
  // with DataLoss on a damaged segment header, files that disagree (fingerprint, start time), or
  // records that nothing covers, naming the file.
  static absl::StatusOr<std::unique_ptr<JournalDirectory>> Open(const std::string& dir);
  ~JournalDirectory();

  JournalDirectory(const JournalDirectory&) = delete;
  JournalDirectory& operator=(const JournalDirectory&) = delete;

  const std::string& dir() const { return dir_; }
  // No segment and no snapshot: a journal that starts now.
  bool empty() const { return segments_.empty() && !snapshot_.has_value(); }
  // Of the existing files; meaningless when empty().
  int64_t core_start_unix_us() const { return core_start_unix_us_; }
  uint64_t fingerprint() const { return fingerprint_; }
  // The highest incarnation recorded so far (0 when empty()).
  uint64_t last_incarnation() const { return last_incarnation_; }
  // The newest intact snapshot, where replay starts from; nullopt to replay from record 1.
  const std::optional<SnapshotFile>& snapshot() const { return snapshot_; }
  // The segments replay walks, in order.
  const std::vector<SegmentFile>& segments() const { return segments_; }

  // The snapshot's payload (checked at Open: header, size, checksum). Once: it is moved out.
  // REQUIRES: snapshot() has a value.
  absl::StatusOr<std::string> ReadSnapshot();
  // Snapshots Open() passed over because they are damaged (or no segment continues them), one
  // line each: recovery then starts from an older snapshot, or the first record, and rebuilds the
  // same state. Worth an operator's attention (the disk may be failing); dispatchd prints them.
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Calls visit(number, payload) for every record after the snapshot, in order. A torn tail of the
  // last segment is truncated (ftruncate, then fsync) after its records were visited, and reported.
  // Damage anywhere else (a torn tail in an earlier segment, a corrupt record, a segment starting
  // at the wrong record) fails with DataLoss naming the file and offset, and nothing is truncated.
  // An error from `visit` stops the walk and is returned.
  absl::StatusOr<ReplaySummary> Replay(
      absl::FunctionRef<absl::Status(uint64_t number, absl::string_view payload)> visit);

  // Starts writing on a new segment after everything replayed. Passes the LOCK on to the writer.
  // `core_start_unix_us` and `fingerprint` are the journal's own for a journal that exists, the new
  // engine's for an empty one. REQUIRES: Replay() succeeded; called once.
  absl::StatusOr<std::unique_ptr<JournalWriter>> StartWriter(int64_t core_start_unix_us,
                                                             uint64_t fingerprint);

 private:
  explicit JournalDirectory(std::string dir, int lock_fd)
      : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  absl::Status Inspect();

  std::string dir_;
  int lock_fd_ = -1;
  int64_t core_start_unix_us_ = 0;
  uint64_t fingerprint_ = 0;
  uint64_t last_incarnation_ = 0;
  uint64_t next_segment_number_ = 1;
  std::optional<SnapshotFile> snapshot_;
  std::string snapshot_payload_;
  std::vector<std::string> warnings_;
  std::vector<SegmentFile> segments_;
  uint64_t last_record_ = 0;  // after Replay()
  bool replayed_ = false;
};

}  // namespace gz::journal

#endif  // ENGINE_JOURNAL_JOURNAL_H_
