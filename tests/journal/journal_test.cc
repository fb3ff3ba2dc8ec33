// The journal's files: record frames, segments, group commit, torn tails, damage in the middle,
// snapshots and recovery of a directory.

#include "engine/journal/journal.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/journal/crc32c.h"
#include "tests/support/test_seed.h"

namespace gz::journal {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kStart = 1'767'225'600'000'000;  // 2026-01-01 00:00 UTC, in microseconds
constexpr uint64_t kFingerprint = 0x1234'5678'9abc'def0ull;

// A fresh directory under /tmp, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "journal_test_XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string Payload(uint64_t n) { return absl::StrCat("command number ", n, " of the test"); }

// Counts the syncs of every writer that uses it.
int syncs = 0;
int CountingSync(int fd) {
  ++syncs;
  return ::fdatasync(fd);
}
int FailingSync(int) {
  ++syncs;
  errno = EIO;
  return -1;
}

// Opens `dir` as a new journal and starts a writer on it (the way dispatchd does on a first start).
std::unique_ptr<JournalWriter> StartNew(const std::string& dir) {
  auto journal = JournalDirectory::Open(dir);
  REQUIRE(journal.ok());
  auto replayed = (*journal)->Replay([](uint64_t, absl::string_view) { return absl::OkStatus(); });
  REQUIRE(replayed.ok());
  auto writer = (*journal)->StartWriter(kStart, kFingerprint);
  REQUIRE(writer.ok());
  return *std::move(writer);
}

// Writes records 1..n in one commit and returns the segment's path.
std::string WriteRecords(const std::string& dir, uint64_t n) {
  std::unique_ptr<JournalWriter> writer = StartNew(dir);
  for (uint64_t i = 1; i <= n; ++i) writer->Append(Payload(i));
  REQUIRE(writer->Commit().ok());
  return writer->segment_path();
}

struct Recovered {
  absl::Status status;
  std::vector<std::string> payloads;
  ReplaySummary summary;
};

Recovered Recover(const std::string& dir) {
  Recovered r;
  auto journal = JournalDirectory::Open(dir);
  if (!journal.ok()) {
    r.status = journal.status();
    return r;
  }
  auto summary = (*journal)->Replay([&](uint64_t number, absl::string_view payload) {
    if (number != r.payloads.size() + 1) return absl::InternalError("records out of order");
    r.payloads.emplace_back(payload);
    return absl::OkStatus();
  });
  if (!summary.ok()) {
    r.status = summary.status();
    return r;
  }
  r.summary = *summary;
  return r;
}

TEST_CASE("crc32c matches the published check values", "[journal]") {
  CHECK(Crc32c("") == 0u);
  CHECK(Crc32c("123456789") == 0xE3069283u);
  // RFC 3720 (iSCSI), appendix B.4.
  CHECK(Crc32c(std::string(32, '\0')) == 0x8A9136AAu);
  CHECK(Crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
  CHECK(Crc32cExtend(Crc32c("1234"), "56789") == Crc32c("123456789"));
}

TEST_CASE("a segment header round trips and a damaged one is refused", "[journal]") {
  SegmentHeader h{.segment_number = 7,
                  .first_record = 1001,
                  .core_start_unix_us = kStart,
                  .fingerprint = kFingerprint,
                  .incarnation = 3};
  const std::string bytes = EncodeSegmentHeader(h);
  REQUIRE(bytes.size() == kSegmentHeaderBytes);
  auto decoded = DecodeSegmentHeader(bytes, "journal-000007.log");
  REQUIRE(decoded.ok());
  CHECK(*decoded == h);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] ^= 0x01;
    auto refused = DecodeSegmentHeader(damaged, "journal-000007.log");
    INFO("byte " << i);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(std::string(refused.status().message()), Catch::Contains("journal-000007.log"));
  }
  CHECK_FALSE(DecodeSegmentHeader(bytes.substr(0, 63), "x").ok());
}

TEST_CASE("records written by the writer read back in order with a clean end", "[journal]") {
  TempDir dir;
  const std::string path = WriteRecords(dir.path(), 50);
  CHECK(fs::path(path).filename() == "journal-000001.log");
  const std::string bytes = ReadFile(path);
  JournalReader reader(bytes, path);
  REQUIRE(reader.header_ok());
  CHECK(reader.header().first_record == 1);
  CHECK(reader.header().incarnation == 1);
  CHECK(reader.header().fingerprint == kFingerprint);
  CHECK(reader.header().core_start_unix_us == kStart);
  absl::string_view payload;
  for (uint64_t i = 1; i <= 50; ++i) {
    REQUIRE(reader.Next(&payload));
    CHECK(payload == Payload(i));
  }
  CHECK_FALSE(reader.Next(&payload));
  CHECK(reader.end() == JournalReader::End::kClean);
  CHECK(reader.status().ok());
  CHECK(reader.offset() == bytes.size());
}

TEST_CASE("group commit makes many records durable with one write and one sync", "[journal]") {
  TempDir dir;
  auto journal = JournalDirectory::Open(dir.path());
  REQUIRE(journal.ok());
  REQUIRE((*journal)->Replay([](uint64_t, absl::string_view) { return absl::OkStatus(); }).ok());
  // What StartWriter does, with a counting sync.
  JournalWriter::Options options;
  options.dir = dir.path();
  options.core_start_unix_us = kStart;
  options.fingerprint = kFingerprint;
  options.sync = &CountingSync;
  syncs = 0;
  auto writer = JournalWriter::Create(options);
  REQUIRE(writer.ok());
  const int syncs_to_create = syncs;
  CHECK(syncs_to_create == 1);  // the new segment's header
  for (uint64_t i = 1; i <= 1000; ++i) CHECK((*writer)->Append(Payload(i)) == i);
  CHECK((*writer)->uncommitted() == 1000);
  REQUIRE((*writer)->Commit().ok());
  CHECK(syncs - syncs_to_create == 1);
  CHECK((*writer)->stats().commits == 1);
  CHECK((*writer)->stats().records == 1000);
  CHECK((*writer)->uncommitted() == 0);
  // Nothing appended: no write, no sync.
  REQUIRE((*writer)->Commit().ok());
  CHECK(syncs - syncs_to_create == 1);
  (*writer)->Append(Payload(1001));
  REQUIRE((*writer)->Commit().ok());
  CHECK(syncs - syncs_to_create == 2);
}

// Succeeds for the new segment's header, then fails every sync, as a disk that lost data would.
int SyncOnceThenFail(int fd) {
  ++syncs;
  if (syncs == 1) return ::fdatasync(fd);
  errno = EIO;
  return -1;
}

TEST_CASE("a failed sync is final and never retried", "[journal]") {
  TempDir dir;
  JournalWriter::Options options;
  options.dir = dir.path();
  options.sync = &FailingSync;
  syncs = 0;
  auto refused = JournalWriter::Create(options);
  REQUIRE_FALSE(refused.ok());  // not even the new segment's header could be made durable
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("fdatasync"));

  options.sync = &SyncOnceThenFail;
  syncs = 0;
  auto writer = JournalWriter::Create(options);
  REQUIRE(writer.ok());
  (*writer)->Append(Payload(1));
  const absl::Status failed = (*writer)->Commit();
  CHECK(absl::IsDataLoss(failed));
  CHECK_THAT(std::string(failed.message()), Catch::Contains("fdatasync"));
  CHECK_THAT(std::string(failed.message()), Catch::Contains("journal-000001.log"));
  const int syncs_so_far = syncs;
  (*writer)->Append(Payload(2));
  CHECK((*writer)->Commit() == failed);  // the same error, without a second sync
  CHECK((*writer)->WriteSnapshot("state") == failed);
  CHECK(syncs == syncs_so_far);
}

TEST_CASE("a record no reader would accept fails the writer instead of the next start",
          "[journal]") {
  TempDir dir;
  std::unique_ptr<JournalWriter> writer = StartNew(dir.path());
  writer->Append(Payload(1));
  writer->Append(std::string(kMaxRecordBytes + 1, 'x'));
  const absl::Status refused = writer->Commit();
  CHECK(absl::IsInvalidArgument(refused));
  CHECK_THAT(std::string(refused.message()), Catch::Contains("65537 bytes"));
  writer.reset();
  Recovered r = Recover(dir.path());
  REQUIRE(r.status.ok());
  CHECK(r.payloads.empty());  // nothing of that commit was written
}

TEST_CASE("a torn last record is truncated at every byte offset with the right byte count",
          "[journal]") {
  TempDir scratch;
  const std::string whole = ReadFile(WriteRecords(scratch.path(), 3));
  const size_t last_start = whole.size() - kRecordHeaderBytes - Payload(3).size();
  for (size_t cut = last_start; cut < whole.size(); ++cut) {
    INFO("segment cut at " << cut << " of " << whole.size());
    // In memory.
    const std::string torn = whole.substr(0, cut);
    JournalReader reader(torn, "journal-000001.log");
    absl::string_view payload;
    int records = 0;
    while (reader.Next(&payload)) ++records;
    CHECK(records == 2);
    CHECK(reader.offset() == last_start);
    if (cut == last_start) {
      CHECK(reader.end() == JournalReader::End::kClean);
      continue;
    }
    CHECK(reader.end() == JournalReader::End::kTornTail);
    CHECK(reader.torn_bytes() == cut - last_start);

    // On disk: recovery truncates the file and says how much it cut.
    TempDir dir;
    const std::string path = dir.File("journal-000001.log");
    WriteFile(path, torn);
    Recovered r = Recover(dir.path());
    REQUIRE(r.status.ok());
    CHECK(r.payloads == std::vector<std::string>{Payload(1), Payload(2)});
    REQUIRE(r.summary.torn.has_value());
    CHECK(r.summary.torn->bytes == cut - last_start);
    CHECK(r.summary.torn->offset == last_start);
    CHECK(r.summary.torn->path == path);
    CHECK(fs::file_size(path) == last_start);
    CHECK(r.summary.last_record == 2);
  }
}

TEST_CASE("a damaged last record with nothing after it is a torn tail", "[journal]") {
  TempDir scratch;
  const std::string whole = ReadFile(WriteRecords(scratch.path(), 3));
  const size_t last_start = whole.size() - kRecordHeaderBytes - Payload(3).size();
  for (size_t i = last_start; i < whole.size(); ++i) {
    std::string damaged = whole;
    damaged[i] ^= 0x40;
    JournalReader reader(damaged, "journal-000001.log");
    absl::string_view payload;
    while (reader.Next(&payload)) {
    }
    INFO("byte " << i);
    CHECK(reader.records() == 2);
    CHECK(reader.end() == JournalReader::End::kTornTail);
    CHECK(reader.torn_bytes() == whole.size() - last_start);
  }
}

TEST_CASE("a flipped byte in a middle record stops recovery naming the file and offset",
          "[journal]") {
  TempDir scratch;
  const std::string whole = ReadFile(WriteRecords(scratch.path(), 3));
  const size_t second_start = kSegmentHeaderBytes + kRecordHeaderBytes + Payload(1).size();
  const size_t third_start = second_start + kRecordHeaderBytes + Payload(2).size();
  for (size_t i = second_start; i < third_start; ++i) {
    INFO("flipped byte " << i);
    TempDir dir;
    const std::string path = dir.File("journal-000001.log");
    std::string damaged = whole;
    damaged[i] ^= 0x01;
    WriteFile(path, damaged);
    Recovered r = Recover(dir.path());
    REQUIRE(absl::IsDataLoss(r.status));
    const std::string message(r.status.message());
    CHECK_THAT(message, Catch::Contains(path));
    CHECK_THAT(message, Catch::Contains(absl::StrCat("record 2 at offset ", second_start)));
    CHECK_THAT(message, Catch::Contains("not the torn end of a write"));
    CHECK(r.payloads == std::vector<std::string>{Payload(1)});
    CHECK(fs::file_size(path) == whole.size());  // nothing truncated
  }
}

TEST_CASE("the reader takes any bytes without crashing", "[journal]") {
  const uint64_t seed = gz::testing::TestSeed();
  INFO("DISPATCH_TEST_SEED=" << seed);
  std::mt19937_64 rng(seed);
  TempDir scratch;
  const std::string valid = ReadFile(WriteRecords(scratch.path(), 20));
  for (int round = 0; round < 2000; ++round) {
    std::string bytes;
    switch (round % 3) {
      case 0: {  // random bytes behind a valid header
        bytes = valid.substr(0, kSegmentHeaderBytes);
        const size_t n = rng() % 600;
        for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(rng()));
        break;
      }
      case 1: {  // a valid segment with a few bytes changed and a random length
        bytes = valid.substr(0, rng() % (valid.size() + 1));
        for (int k = 0; k < 4 && !bytes.empty(); ++k) {
          bytes[rng() % bytes.size()] = static_cast<char>(rng());
        }
        break;
      }
      default: {  // anything
        const size_t n = rng() % 200;
        for (size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(rng()));
      }
    }
    JournalReader reader(bytes, "fuzz");
    absl::string_view payload;
    uint64_t records = 0;
    while (reader.Next(&payload)) {
      ++records;
      REQUIRE(payload.data() >= bytes.data());
      REQUIRE(payload.data() + payload.size() <= bytes.data() + bytes.size());
      REQUIRE(records < bytes.size());
    }
    REQUIRE(reader.end() != JournalReader::End::kMore);
    REQUIRE(reader.offset() <= bytes.size());
    if (reader.end() == JournalReader::End::kTornTail) {
      REQUIRE(reader.offset() + reader.torn_bytes() == bytes.size());
    }
    if (reader.end() == JournalReader::End::kCorrupt) REQUIRE(absl::IsDataLoss(reader.status()));
  }
}

TEST_CASE("each start appends a new segment with the next incarnation", "[journal]") {
  TempDir dir;
  WriteRecords(dir.path(), 5);
  {
    auto journal = JournalDirectory::Open(dir.path());
    REQUIRE(journal.ok());
    CHECK_FALSE((*journal)->empty());
    CHECK((*journal)->last_incarnation() == 1);
    CHECK((*journal)->core_start_unix_us() == kStart);
    uint64_t seen = 0;
    REQUIRE((*journal)
                ->Replay([&](uint64_t, absl::string_view) {
                  ++seen;
                  return absl::OkStatus();
                })
                .ok());
    CHECK(seen == 5);
    auto writer = (*journal)->StartWriter(kStart, kFingerprint);
    REQUIRE(writer.ok());
    CHECK(fs::path((*writer)->segment_path()).filename() == "journal-000002.log");
    CHECK((*writer)->Append(Payload(6)) == 6);
    REQUIRE((*writer)->Commit().ok());
  }
  Recovered r = Recover(dir.path());
  REQUIRE(r.status.ok());
  CHECK(r.payloads.size() == 6);
  CHECK(r.payloads.back() == Payload(6));
  CHECK(ReadFile(dir.File("journal-000002.log")).size() > kSegmentHeaderBytes);
  auto again = JournalDirectory::Open(dir.path());
  REQUIRE(again.ok());
  CHECK((*again)->last_incarnation() == 2);
}

TEST_CASE("a second engine cannot open a journal in use", "[journal]") {
  TempDir dir;
  auto first = JournalDirectory::Open(dir.path());
  REQUIRE(first.ok());
  auto second = JournalDirectory::Open(dir.path());
  REQUIRE_FALSE(second.ok());
  CHECK(absl::IsFailedPrecondition(second.status()));
  CHECK_THAT(std::string(second.status().message()), Catch::Contains("in use"));
  // The lock passes to the writer and goes with it.
  REQUIRE((*first)->Replay([](uint64_t, absl::string_view) { return absl::OkStatus(); }).ok());
  auto writer = (*first)->StartWriter(kStart, kFingerprint);
  REQUIRE(writer.ok());
  first->reset();
  CHECK_FALSE(JournalDirectory::Open(dir.path()).ok());
  writer->reset();
  CHECK(JournalDirectory::Open(dir.path()).ok());
}

TEST_CASE("a missing segment is a hole and stops recovery", "[journal]") {
  TempDir dir;
  WriteRecords(dir.path(), 3);               // segment 1: records 1-3
  for (int start = 0; start < 2; ++start) {  // segments 2 and 3: one record each
    auto journal = JournalDirectory::Open(dir.path());
    REQUIRE(journal.ok());
    REQUIRE((*journal)->Replay([](uint64_t, absl::string_view) { return absl::OkStatus(); }).ok());
    auto writer = (*journal)->StartWriter(kStart, kFingerprint);
    REQUIRE(writer.ok());
    (*writer)->Append("one more");
    REQUIRE((*writer)->Commit().ok());
  }
  fs::remove(dir.File("journal-000002.log"));
  Recovered r = Recover(dir.path());
  REQUIRE(absl::IsDataLoss(r.status));
  CHECK_THAT(std::string(r.status.message()), Catch::Contains("journal-000003.log"));
  CHECK_THAT(std::string(r.status.message()), Catch::Contains("records are missing"));
}

TEST_CASE("files of another journal in the directory stop recovery", "[journal]") {
  TempDir dir;
  WriteRecords(dir.path(), 3);
  JournalWriter::Options other;
  other.dir = dir.path();
  other.segment_number = 2;
  other.next_record = 4;
  other.core_start_unix_us = kStart;
  other.fingerprint = kFingerprint + 1;
  REQUIRE(JournalWriter::Create(other).ok());
  Recovered r = Recover(dir.path());
  REQUIRE(absl::IsDataLoss(r.status));
  CHECK_THAT(std::string(r.status.message()), Catch::Contains("belongs to another journal"));
}

// Appends records from..to (their payloads by number) and commits them.
void AppendAndCommit(JournalWriter& writer, uint64_t from, uint64_t to) {
  for (uint64_t i = from; i <= to; ++i) CHECK(writer.Append(Payload(i)) == i);
  REQUIRE(writer.Commit().ok());
}

TEST_CASE("snapshots bound replay and make older files obsolete", "[journal]") {
  TempDir dir;
  std::unique_ptr<JournalWriter> writer = StartNew(dir.path());
  AppendAndCommit(*writer, 1, 10);
  REQUIRE(writer->WriteSnapshot("state after 10").ok());
  CHECK(fs::exists(dir.File("snapshot-000000000010.bin")));
  CHECK(fs::path(writer->segment_path()).filename() == "journal-000002.log");
  AppendAndCommit(*writer, 11, 20);
  REQUIRE(writer->WriteSnapshot("state after 20").ok());
  // One older snapshot and the records after it are kept: segment 1 (records 1-10) goes.
  CHECK_FALSE(fs::exists(dir.File("journal-000001.log")));
  CHECK(fs::exists(dir.File("journal-000002.log")));
  CHECK(fs::exists(dir.File("snapshot-000000000010.bin")));
  AppendAndCommit(*writer, 21, 25);
  writer.reset();

  auto journal = JournalDirectory::Open(dir.path());
  REQUIRE(journal.ok());
  REQUIRE((*journal)->snapshot().has_value());
  CHECK((*journal)->snapshot()->last_record == 20);
  auto state = (*journal)->ReadSnapshot();
  REQUIRE(state.ok());
  CHECK(*state == "state after 20");
  std::vector<uint64_t> numbers;
  auto summary = (*journal)->Replay([&](uint64_t n, absl::string_view payload) {
    numbers.push_back(n);
    CHECK(payload == Payload(n));
    return absl::OkStatus();
  });
  REQUIRE(summary.ok());
  CHECK(numbers == std::vector<uint64_t>{21, 22, 23, 24, 25});
  CHECK(summary->last_record == 25);
  auto next = (*journal)->StartWriter(kStart, kFingerprint);
  REQUIRE(next.ok());
  CHECK((*next)->Append(Payload(26)) == 26);
  REQUIRE((*next)->Commit().ok());
  REQUIRE((*next)->WriteSnapshot("state after 26").ok());
  // The snapshot at 20 is now the older one: the one at 10 and segment 2 (11-20) go.
  CHECK_FALSE(fs::exists(dir.File("snapshot-000000000010.bin")));
  CHECK_FALSE(fs::exists(dir.File("journal-000002.log")));
  CHECK(fs::exists(dir.File("snapshot-000000000020.bin")));
  CHECK(fs::exists(dir.File("journal-000003.log")));
}

// Recovers `dir`: the snapshot's last record (0: none) and the numbers of the records replayed.
std::pair<uint64_t, std::vector<uint64_t>> SnapshotAndReplayed(const std::string& dir) {
  auto journal = JournalDirectory::Open(dir);
  REQUIRE(journal.ok());
  std::vector<uint64_t> numbers;
  REQUIRE((*journal)
              ->Replay([&](uint64_t n, absl::string_view) {
                numbers.push_back(n);
                return absl::OkStatus();
              })
              .ok());
  const auto& snapshot = (*journal)->snapshot();
  return {snapshot.has_value() ? snapshot->last_record : 0, numbers};
}

TEST_CASE(
    "a snapshot written elsewhere while records go on: they continue it, and until it is "
    "written the older snapshot and every record after it remain",
    "[journal]") {
  TempDir dir;
  std::unique_ptr<JournalWriter> writer = StartNew(dir.path());
  AppendAndCommit(*writer, 1, 10);
  REQUIRE(writer->WriteSnapshot("state after 10").ok());
  AppendAndCommit(*writer, 11, 20);
  auto plan = writer->BeginSnapshot();
  REQUIRE(plan.ok());
  REQUIRE(plan->has_value());
  CHECK((*plan)->last_record == 20);
  CHECK(fs::path(writer->segment_path()).filename() == "journal-000003.log");
  // Records committed while the snapshot is being made go to the segment that continues it.
  AppendAndCommit(*writer, 21, 23);
  CHECK_FALSE(fs::exists(dir.File("snapshot-000000000020.bin")));

  // A crash now (no file yet; the files as they are, copied away from the live writer's lock):
  // recovery takes the older snapshot and every record after it.
  {
    TempDir crashed;
    fs::copy(dir.path(), crashed.path(),
             fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    const auto [snapshot, numbers] = SnapshotAndReplayed(crashed.path());
    CHECK(snapshot == 10);
    CHECK(numbers == std::vector<uint64_t>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  }

  // The file is written (as dispatchd's child does), then finished: the obsolete files go.
  REQUIRE(JournalWriter::WriteSnapshotFile(**plan, "state after 20").ok());
  CHECK(fs::exists(dir.File("journal-000001.log")));  // not yet: Finish deletes
  writer->FinishSnapshot(**plan);
  CHECK(writer->stats().snapshots == 2);
  CHECK_FALSE(fs::exists(dir.File("journal-000001.log")));
  CHECK(fs::exists(dir.File("snapshot-000000000010.bin")));
  writer.reset();

  const auto [snapshot, numbers] = SnapshotAndReplayed(dir.path());
  CHECK(snapshot == 20);
  CHECK(numbers == std::vector<uint64_t>{21, 22, 23});
}

// Flips one byte of the state in a snapshot file.
void DamageSnapshot(const std::string& path) {
  std::string bytes = ReadFile(path);
  bytes[bytes.size() - 3] ^= 0x01;
  WriteFile(path, bytes);
}

TEST_CASE("a damaged snapshot is passed over loudly for an older one and the same records",
          "[journal]") {
  TempDir dir;
  {
    std::unique_ptr<JournalWriter> writer = StartNew(dir.path());
    for (uint64_t i = 1; i <= 10; ++i) writer->Append(Payload(i));
    REQUIRE(writer->Commit().ok());
    REQUIRE(writer->WriteSnapshot("state after 10").ok());
    for (uint64_t i = 11; i <= 20; ++i) writer->Append(Payload(i));
    REQUIRE(writer->Commit().ok());
    REQUIRE(writer->WriteSnapshot("state after 20").ok());
    for (uint64_t i = 21; i <= 22; ++i) writer->Append(Payload(i));
    REQUIRE(writer->Commit().ok());
  }
  const std::string newest = dir.File("snapshot-000000000020.bin");
  DamageSnapshot(newest);
  auto journal = JournalDirectory::Open(dir.path());
  REQUIRE(journal.ok());
  REQUIRE((*journal)->snapshot().has_value());
  CHECK((*journal)->snapshot()->last_record == 10);
  REQUIRE((*journal)->warnings().size() == 1);
  CHECK_THAT((*journal)->warnings()[0], Catch::Contains(newest));
  CHECK_THAT((*journal)->warnings()[0], Catch::Contains("damaged"));
  auto state = (*journal)->ReadSnapshot();
  REQUIRE(state.ok());
  CHECK(*state == "state after 10");
  std::vector<uint64_t> numbers;
  REQUIRE((*journal)
              ->Replay([&](uint64_t n, absl::string_view payload) {
                numbers.push_back(n);
                return payload == Payload(n) ? absl::OkStatus() : absl::InternalError("payload");
              })
              .ok());
  CHECK(numbers.size() == 12);
  CHECK(numbers.front() == 11);
  CHECK(numbers.back() == 22);
  journal->reset();

  // With the older one damaged too, nothing covers records 1-10 any more (segment 1 is gone).
  DamageSnapshot(dir.File("snapshot-000000000010.bin"));
  auto lost = JournalDirectory::Open(dir.path());
  REQUIRE(absl::IsDataLoss(lost.status()));
  CHECK_THAT(std::string(lost.status().message()), Catch::Contains("no intact snapshot covers"));
}

TEST_CASE("the only snapshot damaged or not continued means replay from the first record",
          "[journal]") {
  for (const bool remove_segment : {false, true}) {
    INFO((remove_segment ? "segment after the snapshot removed" : "snapshot damaged"));
    TempDir dir;
    {
      std::unique_ptr<JournalWriter> writer = StartNew(dir.path());
      for (uint64_t i = 1; i <= 3; ++i) writer->Append(Payload(i));
      REQUIRE(writer->Commit().ok());
      REQUIRE(writer->WriteSnapshot("state").ok());
    }
    if (remove_segment) {
      fs::remove(dir.File("journal-000002.log"));
    } else {
      DamageSnapshot(dir.File("snapshot-000000000003.bin"));
    }
    auto journal = JournalDirectory::Open(dir.path());
    REQUIRE(journal.ok());
    CHECK_FALSE((*journal)->snapshot().has_value());
    CHECK((*journal)->warnings().size() == 1);
    Recovered r;
    journal->reset();
    r = Recover(dir.path());
    REQUIRE(r.status.ok());
    CHECK(r.payloads == std::vector<std::string>{Payload(1), Payload(2), Payload(3)});
  }
}

TEST_CASE("leftovers of an interrupted atomic write are removed", "[journal]") {
  TempDir dir;
  WriteRecords(dir.path(), 2);
  WriteFile(dir.File("journal-000002.log.tmp"), "half a header");
  WriteFile(dir.File("snapshot-000000000002.bin.tmp"), "half a snapshot");
  Recovered r = Recover(dir.path());
  REQUIRE(r.status.ok());
  CHECK(r.payloads.size() == 2);
  CHECK_FALSE(fs::exists(dir.File("journal-000002.log.tmp")));
  CHECK_FALSE(fs::exists(dir.File("snapshot-000000000002.bin.tmp")));
}

}  // namespace
}  // namespace gz::journal
