// CRC-32C (Castagnoli): the checksum of every journal record and header.
//
// The reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF: the CRC of iSCSI,
// ext4 metadata and leveldb's log, so a record can be checked with any standard tool. A table of
// 256 entries computed once; a few hundred MB/s, far more than the journal writes.
//
// Thread-safety: pure functions; safe from any thread.

#ifndef ENGINE_JOURNAL_CRC32C_H_
#define ENGINE_JOURNAL_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace gz::journal {

// The CRC-32C of `data`. Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(absl::string_view data);

// The CRC-32C of the concatenation of what `crc` was computed over and `data`:
// Crc32cExtend(Crc32c(a), b) == Crc32c(a + b), and Crc32cExtend(0, a) == Crc32c(a).
uint32_t Crc32cExtend(uint32_t crc, absl::string_view data);

}  // namespace gz::journal

#endif  // ENGINE_JOURNAL_CRC32C_H_
