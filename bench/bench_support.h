// Shared pieces of the benchmark programs: the environment banner, latency summaries, the JSON
// result file and the row each run can add to bench/RESULTS.md.
//
// Every program takes the two common flags defined here:
//   --json=<path>      where to write the run's figures as JSON; default
//                      bench/results/<program>-<workload>.json in the source tree (gitignored)
//   --record="<what>"  also insert the run's rows into bench/RESULTS.md, newest first, under the
//                      program's table, with the date, `git describe --always --dirty` and <what>
//                      (what changed since the previous row); empty: print the rows only
//
// Thread-safety: none needed; the programs call these from their main thread.

#ifndef BENCH_BENCH_SUPPORT_H_
#define BENCH_BENCH_SUPPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"

ABSL_DECLARE_FLAG(std::string, json);
ABSL_DECLARE_FLAG(std::string, record);

namespace gz::bench {

// Prints build type, compiler, CPU model and count, the commit, and a warning when assertions are
// on.
void PrintEnvironment(const std::string& program);

// The pieces of that banner, for result files: `git describe --always --dirty` of the source tree
// ("unknown" outside a checkout), CMAKE_BUILD_TYPE, the CPU model, and today's date (YYYY-MM-DD).
std::string GitCommit();
std::string BuildType();
std::string CpuModel();
std::string Today();

// Percentiles of a set of samples in nanoseconds.
struct LatencySummary {
  size_t count = 0;
  double p50_ns = 0, p90_ns = 0, p99_ns = 0, p999_ns = 0, max_ns = 0, mean_ns = 0;
};
LatencySummary Summarize(std::vector<int64_t> samples_ns);

// "p50 1.23 µs  p90 ...", all in microseconds.
std::string FormatSummary(const LatencySummary& s);

// ---- JSON, written by hand (no dependency beyond Abseil; protobuf's JSON stays in the codec).

// A JSON value built up in code: a number, string, bool, object (keys kept in insertion order) or
// array. Non-finite numbers are written as null.
class Json {
 public:
  Json() : kind_(Kind::kNull) {}
  Json(double number) : kind_(Kind::kNumber), number_(number) {}            // NOLINT: value type
  Json(int number) : Json(static_cast<int64_t>(number)) {}                  // NOLINT
  Json(int64_t number) : kind_(Kind::kInteger), integer_(number) {}         // NOLINT
  Json(uint64_t number) : Json(static_cast<int64_t>(number)) {}             // NOLINT
  Json(unsigned number) : Json(static_cast<int64_t>(number)) {}             // NOLINT
  Json(bool value) : kind_(Kind::kBool), bool_(value) {}                    // NOLINT
  Json(std::string text) : kind_(Kind::kString), text_(std::move(text)) {}  // NOLINT
  Json(const char* text) : Json(std::string(text)) {}                       // NOLINT

  static Json Object() { return Json(Kind::kObject); }
  static Json Array() { return Json(Kind::kArray); }

  // REQUIRES: an object. Adds (or replaces) `key`; returns *this for chaining.
  Json& Set(const std::string& key, Json value);
  // REQUIRES: an array.
  Json& Push(Json value);

  // Indented, one member per line; a nested object or array whose one-line form fits in about
  // 100 characters stays on one line.
  std::string Dump() const;

 private:
  enum class Kind { kNull, kNumber, kInteger, kBool, kString, kObject, kArray };
  explicit Json(Kind kind) : kind_(kind) {}
  void DumpTo(int indent, std::string* out) const;
  std::string Compact() const;

  Kind kind_;
  double number_ = 0;
  int64_t integer_ = 0;
  bool bool_ = false;
  std::string text_;
  std::vector<std::string> keys_;  // objects
  std::vector<Json> values_;       // objects and arrays
};

// {"count", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"}.
Json SummaryJson(const LatencySummary& s);

// An object with the fields every result file starts with: program, workload, date (UTC, RFC
// 3339), commit, build_type, cpu, cores, and "assertions" (true when NDEBUG is not defined).
Json ResultHeader(const std::string& program, const std::string& workload);

// Writes `result` to --json, or to bench/results/<program>-<workload>.json when the flag is empty,
// creating the directory; prints where it went.
absl::Status WriteResult(const std::string& program, const std::string& workload,
                         const Json& result);

// The flags every benchmark starts dispatchd with, in one place: --insecure_no_auth, since the
// benches run on loopback and measure the engine and the transport without CURVE (a run with
// CURVE would pass --keys_dir here and give the clients their keys).
std::vector<std::string> DispatchdFlags();

// ---- bench/RESULTS.md.

// One table of bench/RESULTS.md, found by its marker line `<!-- bench-table: <id> -->` (the table's
// header row follows the marker). Rows are inserted right under the header, so the newest comes
// first. If the marker is missing the table is appended at the end of the file under `title`.
struct ResultsTable {
  std::string id;                    // e.g. "decision_bench"
  std::string title;                 // a "## ..." heading, used only when the table is created
  std::vector<std::string> columns;  // after the date, commit and what-changed columns
};

// Prints the rows as they would be recorded; with --record="<what changed>" also inserts them
// (each prefixed with today's date, the commit and <what changed>). Rows are lists of cells.
absl::Status RecordRows(const ResultsTable& table,
                        const std::vector<std::vector<std::string>>& rows);

}  // namespace gz::bench

#endif  // BENCH_BENCH_SUPPORT_H_
