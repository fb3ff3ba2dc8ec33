#include "engine/journal/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "engine/journal/crc32c.h"

namespace gz::journal {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kSegmentPrefix = "journal-";
constexpr absl::string_view kSegmentSuffix = ".log";
constexpr absl::string_view kSnapshotPrefix = "snapshot-";
constexpr absl::string_view kSnapshotSuffix = ".bin";
constexpr absl::string_view kTempSuffix = ".tmp";
constexpr absl::string_view kLockFile = "LOCK";

// Where each header's checksum sits: over every byte before it.
constexpr size_t kHeaderCrcOffset = 60;

// ---- Little-endian integers.

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string Errno(int error) { return std::strerror(error); }

std::string JoinPath(const std::string& dir, absl::string_view name) {
  return (fs::path(dir) / std::string(name)).string();
}

// The N of "<prefix>N<suffix>", if `name` is one.
std::optional<uint64_t> NumberIn(absl::string_view name, absl::string_view prefix,
                                 absl::string_view suffix) {
  if (!absl::ConsumePrefix(&name, prefix) || !absl::ConsumeSuffix(&name, suffix)) {
    return std::nullopt;
  }
  if (name.empty() ||
      !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(name, &n)) return std::nullopt;
  return n;
}

// The names in `dir`, without throwing (std::filesystem's iterators throw on errors unless asked).
absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code error;
  fs::directory_iterator it(dir, error);
  for (; !error && it != fs::directory_iterator(); it.increment(error)) {
    names.push_back(it->path().filename().string());
  }
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot list the journal directory ", dir, ": ", error.message()));
  }
  return names;
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::DataLossError(absl::StrCat("write to ", path, " failed: ", Errno(errno)));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", Errno(errno)));
  std::string bytes;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) bytes.reserve(static_cast<size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      return absl::DataLossError(absl::StrCat("cannot read ", path, ": ", Errno(error)));
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

// The first `n` bytes of a file (fewer if it is shorter).
absl::StatusOr<std::string> ReadPrefix(const std::string& path, size_t n) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", Errno(errno)));
  std::string bytes(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, bytes.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  bytes.resize(got);
  return bytes;
}

// Makes a rename or a new file in `dir` durable.
absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::DataLossError(absl::StrCat("cannot open ", dir, ": ", Errno(errno)));
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0)
    return absl::DataLossError(absl::StrCat("fsync of ", dir, " failed: ", Errno(error)));
  return absl::OkStatus();
}

// ---- The snapshot file header.

struct SnapshotHeader {
  uint64_t last_record = 0;
  int64_t core_start_unix_us = 0;
  uint64_t fingerprint = 0;
  uint64_t incarnation = 0;
  uint64_t payload_bytes = 0;
  uint32_t payload_crc = 0;
};

std::string EncodeSnapshotHeader(const SnapshotHeader& h) {
  std::string out(kSnapshotMagic);
  PutU32(&out, kFormatVersion);
  PutU32(&out, static_cast<uint32_t>(kSnapshotHeaderBytes));
  PutU64(&out, h.last_record);
  PutU64(&out, static_cast<uint64_t>(h.core_start_unix_us));
  PutU64(&out, h.fingerprint);
  PutU64(&out, h.incarnation);
  PutU64(&out, h.payload_bytes);
  PutU32(&out, h.payload_crc);
  PutU32(&out, Crc32c(out));
  return out;
}

// Checks magic, checksum, version and size common to both headers.
absl::Status CheckHeader(absl::string_view bytes, absl::string_view name, absl::string_view magic,
                         size_t header_bytes, absl::string_view what) {
  if (bytes.size() < header_bytes) {
    return absl::DataLossError(absl::StrCat(name, ": ", bytes.size(), " bytes, shorter than the ",
                                            header_bytes, "-byte ", what, " header"));
  }
  if (bytes.substr(0, magic.size()) != magic) {
    return absl::DataLossError(
        absl::StrCat(name, ": does not start with \"", magic, "\": not a journal ", what));
  }
  const uint32_t stored = GetU32(bytes.data() + kHeaderCrcOffset);
  const uint32_t computed = Crc32c(bytes.substr(0, kHeaderCrcOffset));
  if (stored != computed) {
    return absl::DataLossError(
        absl::StrFormat("%s: the %s header is damaged (checksum %08x, computed %08x)", name, what,
                        stored, computed));
  }
  const uint32_t version = GetU32(bytes.data() + 8);
  if (version != kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(name, ": journal format version ", version,
                                                      "; this dispatchd reads version ",
                                                      kFormatVersion));
  }
  if (GetU32(bytes.data() + 12) != header_bytes) {
    return absl::DataLossError(
        absl::StrCat(name, ": unexpected ", what, " header size ", GetU32(bytes.data() + 12)));
  }
  return absl::OkStatus();
}

absl::StatusOr<SnapshotHeader> DecodeSnapshotHeader(absl::string_view bytes,
                                                    absl::string_view name) {
  if (absl::Status s = CheckHeader(bytes, name, kSnapshotMagic, kSnapshotHeaderBytes, "snapshot");
      !s.ok()) {
    return s;
  }
  SnapshotHeader h;
  h.last_record = GetU64(bytes.data() + 16);
  h.core_start_unix_us = static_cast<int64_t>(GetU64(bytes.data() + 24));
  h.fingerprint = GetU64(bytes.data() + 32);
  h.incarnation = GetU64(bytes.data() + 40);
  h.payload_bytes = GetU64(bytes.data() + 48);
  h.payload_crc = GetU32(bytes.data() + 56);
  return h;
}

// A snapshot file's payload, checked (header, size, checksum); its header, if it decoded, in
// *header_out.
absl::StatusOr<std::string> ReadSnapshotFile(const std::string& path, uint64_t number,
                                             absl::StatusOr<SnapshotHeader>* header_out) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<SnapshotHeader> header = DecodeSnapshotHeader(*bytes, path);
  *header_out = header;
  if (!header.ok()) return header.status();
  if (header->last_record != number) {
    return absl::DataLossError(
        absl::StrCat(path, ": its header says it follows record ", header->last_record));
  }
  const absl::string_view payload = absl::string_view(*bytes).substr(kSnapshotHeaderBytes);
  if (payload.size() != header->payload_bytes) {
    return absl::DataLossError(absl::StrCat(path, ": ", payload.size(),
                                            " bytes of state where the header promises ",
                                            header->payload_bytes));
  }
  if (Crc32c(payload) != header->payload_crc) {
    return absl::DataLossError(absl::StrCat(path, ": the state is damaged (checksum mismatch)"));
  }
  return std::string(payload);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Format.

std::string EncodeSegmentHeader(const SegmentHeader& h) {
  std::string out(kSegmentMagic);
  PutU32(&out, kFormatVersion);
  PutU32(&out, static_cast<uint32_t>(kSegmentHeaderBytes));
  PutU64(&out, h.segment_number);
  PutU64(&out, h.first_record);
  PutU64(&out, static_cast<uint64_t>(h.core_start_unix_us));
  PutU64(&out, h.fingerprint);
  PutU64(&out, h.incarnation);
  PutU32(&out, 0);  // reserved
  PutU32(&out, Crc32c(out));
  return out;
}

absl::StatusOr<SegmentHeader> DecodeSegmentHeader(absl::string_view bytes, absl::string_view name) {
  if (absl::Status s = CheckHeader(bytes, name, kSegmentMagic, kSegmentHeaderBytes, "segment");
      !s.ok()) {
    return s;
  }
  SegmentHeader h;
  h.segment_number = GetU64(bytes.data() + 16);
  h.first_record = GetU64(bytes.data() + 24);
  h.core_start_unix_us = static_cast<int64_t>(GetU64(bytes.data() + 32));
  h.fingerprint = GetU64(bytes.data() + 40);
  h.incarnation = GetU64(bytes.data() + 48);
  if (h.first_record == 0) {
    return absl::DataLossError(absl::StrCat(name, ": the header names record 0 as its first"));
  }
  return h;
}

std::string EncodeRecord(absl::string_view payload) {
  std::string out;
  out.reserve(kRecordHeaderBytes + payload.size());
  PutU32(&out, static_cast<uint32_t>(payload.size()));
  PutU32(&out, Crc32c(payload));
  out.append(payload.data(), payload.size());
  return out;
}

std::string SegmentFileName(uint64_t n) {
  return absl::StrFormat("%s%06d%s", kSegmentPrefix, n, kSegmentSuffix);
}

std::string SnapshotFileName(uint64_t n) {
  return absl::StrFormat("%s%012d%s", kSnapshotPrefix, n, kSnapshotSuffix);
}

// ---------------------------------------------------------------------------------------------
// JournalReader.

JournalReader::JournalReader(absl::string_view bytes, std::string name)
    : bytes_(bytes), name_(std::move(name)) {
  absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(bytes_, name_);
  if (!header.ok()) {
    end_ = End::kCorrupt;
    status_ = header.status();
    return;
  }
  header_ = *header;
  header_ok_ = true;
  offset_ = kSegmentHeaderBytes;
}

bool JournalReader::FrameAt(uint64_t at, absl::string_view* payload, uint64_t* next) const {
  const uint64_t size = bytes_.size();
  if (at > size || size - at < kRecordHeaderBytes) return false;
  const uint32_t length = GetU32(bytes_.data() + at);
  if (length == 0 || length > kMaxRecordBytes) return false;
  if (size - at - kRecordHeaderBytes < length) return false;
  const absl::string_view body = bytes_.substr(at + kRecordHeaderBytes, length);
  if (Crc32c(body) != GetU32(bytes_.data() + at + 4)) return false;
  *payload = body;
  *next = at + kRecordHeaderBytes + length;
  return true;
}

std::string JournalReader::WhatIsWrongAt(uint64_t at) const {
  const uint64_t left = bytes_.size() - at;
  if (left < kRecordHeaderBytes) return absl::StrCat("only ", left, " bytes of a record header");
  const uint32_t length = GetU32(bytes_.data() + at);
  if (length == 0) return "a record length of 0";
  if (length > kMaxRecordBytes) {
    return absl::StrCat("a record length of ", length, ", over the ", kMaxRecordBytes,
                        "-byte limit");
  }
  if (left - kRecordHeaderBytes < length) {
    return absl::StrCat("a ", length, "-byte record with only ", left - kRecordHeaderBytes,
                        " bytes left in the file");
  }
  return absl::StrFormat("a checksum mismatch (stored %08x, computed %08x)",
                         GetU32(bytes_.data() + at + 4),
                         Crc32c(bytes_.substr(at + kRecordHeaderBytes, length)));
}

bool JournalReader::Next(absl::string_view* payload) {
  if (end_ != End::kMore) return false;
  if (offset_ == bytes_.size()) {
    end_ = End::kClean;
    return false;
  }
  uint64_t next = 0;
  if (FrameAt(offset_, payload, &next)) {
    offset_ = next;
    ++records_;
    return true;
  }
  // A bad frame. If a valid one starts anywhere after it, the damage is in the middle of the file:
  // a crash only ever cuts the end off. Otherwise what is left is the torn end of the last write.
  absl::string_view ignored;
  uint64_t after = 0;
  for (uint64_t at = offset_ + 1; at + kRecordHeaderBytes < bytes_.size(); ++at) {
    if (FrameAt(at, &ignored, &after)) {
      end_ = End::kCorrupt;
      status_ = absl::DataLossError(absl::StrCat(
          name_, ": record ", header_.first_record + records_, " at offset ", offset_,
          " is damaged (", WhatIsWrongAt(offset_), ") and a valid record follows at offset ", at,
          ", so this is not the torn end of a write but a damaged file"));
      return false;
    }
  }
  end_ = End::kTornTail;
  torn_bytes_ = bytes_.size() - offset_;
  return false;
}

// ---------------------------------------------------------------------------------------------
// JournalWriter.

JournalWriter::JournalWriter(Options options, int lock_fd)
    : options_(std::move(options)),
      lock_fd_(lock_fd),
      next_record_(options_.next_record),
      last_snapshot_(options_.last_snapshot) {
  if (options_.sync == nullptr) options_.sync = &::fdatasync;
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<JournalWriter>> JournalWriter::Create(Options options, int lock_fd) {
  if (options.next_record == 0) {
    if (lock_fd >= 0) ::close(lock_fd);
    return absl::InvalidArgumentError("records are numbered from 1");
  }
  const uint64_t number = options.segment_number;
  const uint64_t first = options.next_record;
  std::unique_ptr<JournalWriter> writer(new JournalWriter(std::move(options), lock_fd));
  if (absl::Status s = writer->OpenSegment(number, first); !s.ok()) return s;
  return writer;
}

absl::Status JournalWriter::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return status_;
}

absl::Status JournalWriter::OpenSegment(uint64_t number, uint64_t first_record) {
  const std::string path = JoinPath(options_.dir, SegmentFileName(number));
  const std::string temp = absl::StrCat(path, kTempSuffix);
  if (::access(path.c_str(), F_OK) == 0) {
    return Fail(absl::AlreadyExistsError(absl::StrCat(path, " already exists")));
  }
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fail(absl::DataLossError(absl::StrCat("cannot create ", temp, ": ", Errno(errno))));
  }
  SegmentHeader header;
  header.segment_number = number;
  header.first_record = first_record;
  header.core_start_unix_us = options_.core_start_unix_us;
  header.fingerprint = options_.fingerprint;
  header.incarnation = options_.incarnation;
  absl::Status s = WriteAll(fd, EncodeSegmentHeader(header), temp);
  if (s.ok() && options_.sync(fd) != 0) {
    s = absl::DataLossError(absl::StrCat("fdatasync of ", temp, " failed: ", Errno(errno)));
  }
  if (s.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    s = absl::DataLossError(absl::StrCat("cannot rename ", temp, ": ", Errno(errno)));
  }
  if (s.ok()) s = SyncDirectory(options_.dir);
  if (!s.ok()) {
    ::close(fd);
    return Fail(s);
  }
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  segment_path_ = path;
  segment_number_ = number;
  return absl::OkStatus();
}

uint64_t JournalWriter::Append(absl::string_view payload) {
  if (payload.empty() || payload.size() > kMaxRecordBytes) {
    // A record no reader would accept: refuse to write it (and everything after), rather than
    // leave a journal that stops the next start.
    (void)Fail(absl::InvalidArgumentError(absl::StrCat(
        "a journal record of ", payload.size(), " bytes; records hold 1 to ", kMaxRecordBytes)));
    return next_record_++;
  }
  PutU32(&buffer_, static_cast<uint32_t>(payload.size()));
  PutU32(&buffer_, Crc32c(payload));
  buffer_.append(payload.data(), payload.size());
  ++uncommitted_;
  return next_record_++;
}

absl::Status JournalWriter::Commit() {
  if (!status_.ok()) return status_;
  if (buffer_.empty()) return absl::OkStatus();
  if (absl::Status s = WriteAll(fd_, buffer_, segment_path_); !s.ok()) return Fail(s);
  if (options_.sync(fd_) != 0) {
    // Never retried: after a failed fdatasync the kernel may have marked the dirty pages clean and
    // thrown them away, and a second call would report success for data that is not on disk.
    return Fail(absl::DataLossError(
        absl::StrCat("fdatasync of ", segment_path_, " failed: ", Errno(errno))));
  }
  ++stats_.commits;
  stats_.records += uncommitted_;
  stats_.bytes += buffer_.size();
  buffer_.clear();
  uncommitted_ = 0;
  return absl::OkStatus();
}

absl::Status JournalWriter::WriteSnapshot(absl::string_view payload) {
  absl::StatusOr<std::optional<SnapshotPlan>> plan = BeginSnapshot();
  if (!plan.ok()) return plan.status();
  if (!plan->has_value()) return absl::OkStatus();  // nothing happened since the last one
  if (absl::Status s = WriteSnapshotFile(**plan, payload); !s.ok()) return Fail(s);
  FinishSnapshot(**plan);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<JournalWriter::SnapshotPlan>> JournalWriter::BeginSnapshot() {
  if (!status_.ok()) return status_;
  if (uncommitted_ != 0) {
    return absl::FailedPreconditionError("a snapshot needs every record committed first");
  }
  const uint64_t last = last_record();
  if (last == last_snapshot_) return std::nullopt;
  // The segment for the records after the snapshot comes first: a snapshot on disk then always has
  // the segment that continues it, whatever moment a crash picks.
  if (absl::Status s = OpenSegment(segment_number_ + 1, last + 1); !s.ok()) return s;
  return SnapshotPlan{options_, last};
}

absl::Status JournalWriter::WriteSnapshotFile(const SnapshotPlan& plan, absl::string_view payload) {
  const std::string path = JoinPath(plan.journal.dir, SnapshotFileName(plan.last_record));
  const std::string temp = absl::StrCat(path, kTempSuffix);
  SnapshotHeader header;
  header.last_record = plan.last_record;
  header.core_start_unix_us = plan.journal.core_start_unix_us;
  header.fingerprint = plan.journal.fingerprint;
  header.incarnation = plan.journal.incarnation;
  header.payload_bytes = payload.size();
  header.payload_crc = Crc32c(payload);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::DataLossError(absl::StrCat("cannot create ", temp, ": ", Errno(errno)));
  }
  absl::Status s = WriteAll(fd, EncodeSnapshotHeader(header), temp);
  if (s.ok()) s = WriteAll(fd, payload, temp);
  if (s.ok() && plan.journal.sync(fd) != 0) {
    s = absl::DataLossError(absl::StrCat("fdatasync of ", temp, " failed: ", Errno(errno)));
  }
  ::close(fd);
  if (s.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    s = absl::DataLossError(absl::StrCat("cannot rename ", temp, ": ", Errno(errno)));
  }
  if (s.ok()) s = SyncDirectory(plan.journal.dir);
  return s;
}

void JournalWriter::FinishSnapshot(const SnapshotPlan& plan) {
  ++stats_.snapshots;
  const uint64_t previous = last_snapshot_;
  last_snapshot_ = plan.last_record;
  if (previous > 0) DeleteObsolete(previous);
}

void JournalWriter::DeleteObsolete(uint64_t previous_snapshot) {
  // Housekeeping only: a file left behind is ignored by recovery, so failures here are harmless.
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(options_.dir);
  if (!names.ok()) return;
  std::error_code error;
  std::map<uint64_t, std::pair<std::string, uint64_t>> segments;  // number -> (path, first record)
  for (const std::string& name : *names) {
    const std::string path = JoinPath(options_.dir, name);
    if (auto n = NumberIn(name, kSnapshotPrefix, kSnapshotSuffix); n && *n < previous_snapshot) {
      fs::remove(path, error);
    } else if (auto s = NumberIn(name, kSegmentPrefix, kSegmentSuffix)) {
      absl::StatusOr<std::string> head = ReadPrefix(path, kSegmentHeaderBytes);
      if (!head.ok()) continue;
      absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(*head, name);
      if (header.ok()) segments[*s] = {path, header->first_record};
    }
  }
  // A segment holds the records from its first up to the next segment's first, exclusive: it is
  // obsolete when they all come at or before the previous snapshot.
  for (auto it = segments.begin(); it != segments.end(); ++it) {
    auto next = std::next(it);
    if (next == segments.end() || it->first == segment_number_) break;
    if (next->second.second <= previous_snapshot + 1) fs::remove(it->second.first, error);
  }
}

// ---------------------------------------------------------------------------------------------
// JournalDirectory.

JournalDirectory::~JournalDirectory() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<JournalDirectory>> JournalDirectory::Open(const std::string& dir) {
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create the journal directory ", dir, ": ", error.message()));
  }
  const std::string lock_path = JoinPath(dir, kLockFile);
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", lock_path, ": ", Errno(errno)));
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int e = errno;
    ::close(lock_fd);
    return absl::FailedPreconditionError(
        absl::StrCat("the journal ", dir, " is in use by another process (",
                     e == EWOULDBLOCK ? "its LOCK is held" : Errno(e),
                     "); two engines must never write one journal"));
  }
  std::unique_ptr<JournalDirectory> journal(new JournalDirectory(dir, lock_fd));
  if (absl::Status s = journal->Inspect(); !s.ok()) return s;
  return journal;
}

absl::Status JournalDirectory::Inspect() {
  absl::StatusOr<std::vector<std::string>> names = ListDirectory(dir_);
  if (!names.ok()) return names.status();
  std::map<uint64_t, std::string> segment_paths;
  std::map<uint64_t, std::string> snapshot_paths;
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir_, name);
    if (absl::EndsWith(name, kTempSuffix)) {
      // Half of an atomic write a crash interrupted: never renamed, so never part of the journal.
      std::error_code ignored;
      fs::remove(path, ignored);
    } else if (auto n = NumberIn(name, kSegmentPrefix, kSegmentSuffix)) {
      segment_paths[*n] = path;
    } else if (auto s = NumberIn(name, kSnapshotPrefix, kSnapshotSuffix)) {
      snapshot_paths[*s] = path;
    }
  }

  bool first_file = true;
  // Every file of one journal carries the same start time and fingerprint.
  auto agree = [&](const std::string& path, int64_t start, uint64_t fingerprint) -> absl::Status {
    if (first_file) {
      core_start_unix_us_ = start;
      fingerprint_ = fingerprint;
      first_file = false;
      return absl::OkStatus();
    }
    if (start != core_start_unix_us_ || fingerprint != fingerprint_) {
      return absl::DataLossError(absl::StrCat(
          path,
          " belongs to another journal (another engine start time or fingerprint than the "
          "other files of ",
          dir_, "); files of two journals are mixed in one directory"));
    }
    return absl::OkStatus();
  };

  std::vector<SegmentFile> all;
  for (const auto& [number, path] : segment_paths) {
    absl::StatusOr<std::string> head = ReadPrefix(path, kSegmentHeaderBytes);
    if (!head.ok()) return head.status();
    absl::StatusOr<SegmentHeader> header = DecodeSegmentHeader(*head, path);
    if (!header.ok()) return header.status();
    if (header->segment_number != number) {
      return absl::DataLossError(
          absl::StrCat(path, ": its header says it is segment ", header->segment_number));
    }
    if (absl::Status s = agree(path, header->core_start_unix_us, header->fingerprint); !s.ok()) {
      return s;
    }
    last_incarnation_ = std::max(last_incarnation_, header->incarnation);
    next_segment_number_ = std::max(next_segment_number_, number + 1);
    all.push_back(SegmentFile{path, *header});
  }
  // The newest intact snapshot that a segment continues. A damaged one is passed over loudly
  // (warnings()): the journal keeps the older snapshot and every record after it, so recovering
  // from there rebuilds exactly the same state, only more slowly. Nothing is skipped.
  std::string why_not;  // why each newer snapshot was passed over, for the error if all are
  for (auto it = snapshot_paths.rbegin(); it != snapshot_paths.rend(); ++it) {
    const auto& [number, path] = *it;
    absl::StatusOr<SnapshotHeader> header = absl::DataLossError("unread");
    absl::StatusOr<std::string> payload = ReadSnapshotFile(path, number, &header);
    if (header.ok()) {
      // A snapshot of another journal is not damage but a mix-up: stop.
      if (absl::Status s = agree(path, header->core_start_unix_us, header->fingerprint); !s.ok()) {
        return s;
      }
      last_incarnation_ = std::max(last_incarnation_, header->incarnation);
    }
    if (payload.ok()) {
      const bool continued =
          std::any_of(all.begin(), all.end(), [&, number = number](const SegmentFile& f) {
            return f.header.first_record == number + 1;
          });
      if (continued) {
        snapshot_ = SnapshotFile{path, number};
        snapshot_payload_ = *std::move(payload);
        break;
      }
      payload = absl::DataLossError(absl::StrCat(
          path, ": no segment continues it (one starting at record ", number + 1, " must exist)"));
    }
    warnings_.push_back(absl::StrCat("journal: WARNING: ", payload.status().message(),
                                     "; recovering from an older snapshot or the first record"));
    absl::StrAppend(&why_not, why_not.empty() ? "" : "; ", payload.status().message());
  }

  const uint64_t after = snapshot_ ? snapshot_->last_record : 0;
  for (SegmentFile& s : all) {
    if (s.header.first_record > after) segments_.push_back(std::move(s));
  }
  if (!snapshot_.has_value() && !segments_.empty() && segments_.front().header.first_record != 1) {
    return absl::DataLossError(absl::StrCat(
        segments_.front().path, " starts at record ", segments_.front().header.first_record,
        ", and no intact snapshot covers the records before it",
        why_not.empty() ? "" : absl::StrCat(" (", why_not, ")")));
  }
  if (!snapshot_.has_value() && segments_.empty() && !snapshot_paths.empty()) {
    return absl::DataLossError(
        absl::StrCat(dir_, ": no intact snapshot and no segment to replay (", why_not, ")"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> JournalDirectory::ReadSnapshot() {
  if (!snapshot_.has_value()) return absl::FailedPreconditionError("the journal has no snapshot");
  return std::move(snapshot_payload_);
}

absl::StatusOr<ReplaySummary> JournalDirectory::Replay(
    absl::FunctionRef<absl::Status(uint64_t, absl::string_view)> visit) {
  ReplaySummary summary;
  uint64_t expected = snapshot_ ? snapshot_->last_record + 1 : 1;
  for (size_t i = 0; i < segments_.size(); ++i) {
    const std::string& path = segments_[i].path;
    absl::StatusOr<std::string> bytes = ReadWholeFile(path);
    if (!bytes.ok()) return bytes.status();
    JournalReader reader(*bytes, path);
    if (!reader.header_ok()) return reader.status();
    if (reader.header().first_record != expected) {
      return absl::DataLossError(absl::StrCat(
          path, " starts at record ", reader.header().first_record, " where record ", expected,
          " was expected: ",
          reader.header().first_record > expected ? "records are missing" : "records overlap"));
    }
    absl::string_view payload;
    while (reader.Next(&payload)) {
      if (absl::Status s = visit(expected, payload); !s.ok()) return s;
      ++expected;
      ++summary.records;
    }
    if (reader.end() == JournalReader::End::kCorrupt) return reader.status();
    if (reader.end() == JournalReader::End::kTornTail) {
      if (i + 1 < segments_.size()) {
        return absl::DataLossError(absl::StrCat(
            path, ": ", reader.torn_bytes(), " bytes at offset ", reader.offset(),
            " hold no valid record, but later segments follow it, so a crash did not leave them: "
            "the file is damaged"));
      }
      const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) {
        return absl::DataLossError(
            absl::StrCat("cannot open ", path, " to truncate its torn tail: ", Errno(errno)));
      }
      absl::Status s;
      if (::ftruncate(fd, static_cast<off_t>(reader.offset())) != 0 || ::fsync(fd) != 0) {
        s = absl::DataLossError(
            absl::StrCat("cannot truncate the torn tail of ", path, ": ", Errno(errno)));
      }
      ::close(fd);
      if (!s.ok()) return s;
      summary.torn = TornTail{path, reader.offset(), reader.torn_bytes()};
    }
  }
  last_record_ = expected - 1;
  summary.last_record = last_record_;
  replayed_ = true;
  return summary;
}

absl::StatusOr<std::unique_ptr<JournalWriter>> JournalDirectory::StartWriter(
    int64_t core_start_unix_us, uint64_t fingerprint) {
  if (!replayed_) return absl::FailedPreconditionError("replay the journal before writing to it");
  JournalWriter::Options options;
  options.dir = dir_;
  options.segment_number = next_segment_number_;
  options.next_record = last_record_ + 1;
  options.core_start_unix_us = core_start_unix_us;
  options.fingerprint = fingerprint;
  options.incarnation = last_incarnation_ + 1;
  options.last_snapshot = snapshot_ ? snapshot_->last_record : 0;
  const int lock_fd = lock_fd_;
  lock_fd_ = -1;
  return JournalWriter::Create(std::move(options), lock_fd);
}

}  // namespace gz::journal
