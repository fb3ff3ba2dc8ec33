#include "bench/bench_support.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, json, "",
          "Where to write the run's figures as JSON; empty: "
          "bench/results/<program>-<workload>.json in the source tree.");
ABSL_FLAG(std::string, record, "",
          "What changed since the last recorded run; when set, the run's rows are inserted into "
          "bench/RESULTS.md (newest first) with the date and commit.");

namespace gz::bench {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string GitCommit() {
  const std::string command =
      std::string("git -C '") + DISPATCH_SOURCE_DIR + "' describe --always --dirty 2>/dev/null";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return "unknown";
  char buffer[128] = {};
  if (std::fgets(buffer, sizeof buffer, pipe.get()) == nullptr) return "unknown";
  std::string commit(buffer);
  while (!commit.empty() && (commit.back() == '\n' || commit.back() == '\r')) commit.pop_back();
  return commit.empty() ? "unknown" : commit;
}

std::string BuildType() { return DISPATCH_BUILD_TYPE; }

std::string Today() { return absl::FormatTime("%Y-%m-%d", absl::Now(), absl::LocalTimeZone()); }

void PrintEnvironment(const std::string& program) {
  std::printf("%s\n", program.c_str());
  std::printf("  build:    %s, %s %s\n", DISPATCH_BUILD_TYPE, "gcc", __VERSION__);
  std::printf("  cpu:      %s x %u\n", CpuModel().c_str(), std::thread::hardware_concurrency());
  std::printf("  commit:   %s\n", GitCommit().c_str());
#ifndef NDEBUG
  std::printf("  WARNING:  assertions are enabled (NDEBUG not defined): figures are pessimistic\n");
#endif
  std::fflush(stdout);
}

LatencySummary Summarize(std::vector<int64_t> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    const size_t i = std::min(samples.size() - 1, static_cast<size_t>(q * samples.size()));
    return static_cast<double>(samples[i]);
  };
  s.count = samples.size();
  s.p50_ns = at(0.50);
  s.p90_ns = at(0.90);
  s.p99_ns = at(0.99);
  s.p999_ns = at(0.999);
  s.max_ns = static_cast<double>(samples.back());
  s.mean_ns = std::accumulate(samples.begin(), samples.end(), 0.0) / samples.size();
  return s;
}

std::string FormatSummary(const LatencySummary& s) {
  return absl::StrFormat(
      "p50 %7.2f µs  p90 %7.2f µs  p99 %7.2f µs  p99.9 %7.2f µs  max %8.2f µs  (n=%d)",
      s.p50_ns / 1e3, s.p90_ns / 1e3, s.p99_ns / 1e3, s.p999_ns / 1e3, s.max_ns / 1e3, s.count);
}

// ---- Json.

namespace {

std::string Quoted(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += ch;  // UTF-8 passes through
    }
  }
  return out + "\"";
}

constexpr size_t kInlineWidth = 100;

}  // namespace

Json& Json::Set(const std::string& key, Json value) {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) {
      values_[i] = std::move(value);
      return *this;
    }
  }
  keys_.push_back(key);
  values_.push_back(std::move(value));
  return *this;
}

Json& Json::Push(Json value) {
  values_.push_back(std::move(value));
  return *this;
}

std::string Json::Compact() const {
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kNumber:
      if (!std::isfinite(number_)) return "null";
      return absl::StrFormat("%.6g", number_);
    case Kind::kInteger:
      return absl::StrCat(integer_);
    case Kind::kBool:
      return bool_ ? "true" : "false";
    case Kind::kString:
      return Quoted(text_);
    case Kind::kObject: {
      std::string out = "{";
      for (size_t i = 0; i < keys_.size(); ++i) {
        absl::StrAppend(&out, i ? ", " : "", Quoted(keys_[i]), ": ", values_[i].Compact());
      }
      return out + "}";
    }
    case Kind::kArray: {
      std::string out = "[";
      for (size_t i = 0; i < values_.size(); ++i) {
        absl::StrAppend(&out, i ? ", " : "", values_[i].Compact());
      }
      return out + "]";
    }
  }
  return "null";
}

void Json::DumpTo(int indent, std::string* out) const {
  const bool container = kind_ == Kind::kObject || kind_ == Kind::kArray;
  std::string compact = Compact();
  if (!container || compact.size() + indent <= kInlineWidth || values_.empty()) {
    absl::StrAppend(out, compact);
    return;
  }
  const std::string pad(indent + 2, ' ');
  absl::StrAppend(out, kind_ == Kind::kObject ? "{\n" : "[\n");
  for (size_t i = 0; i < values_.size(); ++i) {
    absl::StrAppend(out, pad);
    if (kind_ == Kind::kObject) absl::StrAppend(out, Quoted(keys_[i]), ": ");
    values_[i].DumpTo(indent + 2, out);
    absl::StrAppend(out, i + 1 < values_.size() ? ",\n" : "\n");
  }
  absl::StrAppend(out, std::string(indent, ' '), kind_ == Kind::kObject ? "}" : "]");
}

std::string Json::Dump() const {
  std::string out;
  DumpTo(0, &out);
  return out + "\n";
}

Json SummaryJson(const LatencySummary& s) {
  return Json::Object()
      .Set("count", static_cast<int64_t>(s.count))
      .Set("p50_us", s.p50_ns / 1e3)
      .Set("p90_us", s.p90_ns / 1e3)
      .Set("p99_us", s.p99_ns / 1e3)
      .Set("p999_us", s.p999_ns / 1e3)
      .Set("max_us", s.max_ns / 1e3)
      .Set("mean_us", s.mean_ns / 1e3);
}

Json ResultHeader(const std::string& program, const std::string& workload) {
#ifdef NDEBUG
  const bool assertions = false;
#else
  const bool assertions = true;
#endif
  return Json::Object()
      .Set("program", program)
      .Set("workload", workload)
      .Set("date", absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone()))
      .Set("commit", GitCommit())
      .Set("build_type", BuildType())
      .Set("cpu", CpuModel())
      .Set("cores", static_cast<int64_t>(std::thread::hardware_concurrency()))
      .Set("assertions", assertions);
}

absl::Status WriteResult(const std::string& program, const std::string& workload,
                         const Json& result) {
  std::string path = absl::GetFlag(FLAGS_json);
  if (path.empty()) {
    path = absl::StrCat(DISPATCH_SOURCE_DIR, "/bench/results/", program, "-", workload, ".json");
  }
  std::error_code error;
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  std::ofstream out(path);
  out << result.Dump();
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  std::printf("JSON: %s\n", path.c_str());
  return absl::OkStatus();
}

std::vector<std::string> DispatchdFlags() { return {"--insecure_no_auth"}; }

// ---- RESULTS.md.

namespace {

std::string Row(const std::vector<std::string>& cells) {
  return absl::StrCat("| ", absl::StrJoin(cells, " | "), " |");
}

}  // namespace

absl::Status RecordRows(const ResultsTable& table,
                        const std::vector<std::vector<std::string>>& rows) {
  const std::string what = absl::GetFlag(FLAGS_record);
  const std::string commit = GitCommit();
  std::vector<std::string> lines;
  for (const std::vector<std::string>& cells : rows) {
    std::vector<std::string> full = {Today(), commit, what.empty() ? "(not recorded)" : what};
    full.insert(full.end(), cells.begin(), cells.end());
    lines.push_back(Row(full));
  }
  std::vector<std::string> header = {"date", "commit", "what changed"};
  header.insert(header.end(), table.columns.begin(), table.columns.end());
  std::printf("\nRESULTS.md rows (table %s):\n%s\n", table.id.c_str(), Row(header).c_str());
  for (const std::string& line : lines) std::printf("%s\n", line.c_str());
  if (what.empty()) {
    std::printf("(pass --record=\"<what changed>\" to insert them into bench/RESULTS.md)\n");
    return absl::OkStatus();
  }

  const std::string path = absl::StrCat(DISPATCH_SOURCE_DIR, "/bench/RESULTS.md");
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::vector<std::string> file;
  for (std::string line; std::getline(buffer, line);) file.push_back(line);

  const std::string marker = absl::StrCat("<!-- bench-table: ", table.id, " -->");
  auto at = std::find(file.begin(), file.end(), marker);
  if (at == file.end()) {
    file.push_back("");
    file.push_back(table.title);
    file.push_back("");
    file.push_back(marker);
    file.push_back(Row(header));
    std::vector<std::string> rule(header.size(), "---");
    file.push_back(absl::StrCat("|", absl::StrJoin(rule, "|"), "|"));
    file.insert(file.end(), lines.begin(), lines.end());
  } else {
    // Past the marker, the header row and its |---| rule.
    auto rule =
        std::find_if(at, file.end(), [](const std::string& l) { return l.rfind("|---", 0) == 0; });
    if (rule == file.end()) {
      return absl::FailedPreconditionError(absl::StrCat(path, ": no table header under ", marker));
    }
    file.insert(rule + 1, lines.begin(), lines.end());
  }
  std::ofstream out(path);
  for (const std::string& line : file) out << line << "\n";
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  std::printf("recorded in %s\n", path.c_str());
  return absl::OkStatus();
}

}  // namespace gz::bench
