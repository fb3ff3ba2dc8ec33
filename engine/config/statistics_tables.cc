#include "engine/config/statistics_tables.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace gz {
namespace {

// A CSV file with a header line, addressed by column name. No quoting: none of these tables needs
// it.
class HeaderedCsv {
 public:
  static absl::StatusOr<HeaderedCsv> Open(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
    std::ostringstream contents;
    contents << in.rdbuf();
    HeaderedCsv csv(path, contents.str());
    if (csv.lines_.empty() || csv.lines_[0].empty()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
    }
    std::vector<absl::string_view> header = absl::StrSplit(csv.lines_[0], ',');
    for (size_t i = 0; i < header.size(); ++i) csv.columns_[std::string(header[i])] = i;
    return csv;
  }

  // Index of column `name`, or an error naming the file.
  absl::StatusOr<size_t> Column(absl::string_view name) const {
    auto it = columns_.find(name);
    if (it == columns_.end()) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": no column '", name, "'"));
    }
    return it->second;
  }

  // Calls `row(line_number, fields)` for every non-blank data line; stops at the first error.
  template <typename RowFn>
  absl::Status ForEachRow(RowFn row) const {
    for (size_t i = 1; i < lines_.size(); ++i) {
      if (lines_[i].empty()) continue;
      std::vector<absl::string_view> fields = absl::StrSplit(lines_[i], ',');
      if (fields.size() != columns_.size()) {
        return absl::InvalidArgumentError(absl::StrCat(path_, ":", i + 1, ": ", fields.size(),
                                                       " fields, expected ", columns_.size()));
      }
      absl::Status status = row(static_cast<int>(i + 1), fields);
      if (!status.ok()) return status;
    }
    return absl::OkStatus();
  }

  absl::Status Error(int line, absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", line, ": field '", field, "': ", what));
  }

 private:
  HeaderedCsv(std::string path, absl::string_view text) : path_(std::move(path)) {
    if (absl::StartsWith(text, "\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 byte order mark
    for (absl::string_view line : absl::StrSplit(text, '\n')) {
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      lines_.emplace_back(line);
    }
  }

  std::string path_;
  std::vector<std::string> lines_;
  absl::flat_hash_map<std::string, size_t> columns_;
};

}  // namespace

absl::StatusOr<std::vector<DistrictFacts>> ReadDistrictFactsCsv(const std::string& path) {
  absl::StatusOr<HeaderedCsv> csv = HeaderedCsv::Open(path);
  if (!csv.ok()) return csv.status();
  absl::StatusOr<size_t> code_col = csv->Column("adcode");
  absl::StatusOr<size_t> zh_col = csv->Column("name_zh");
  absl::StatusOr<size_t> en_col = csv->Column("name_en");
  absl::StatusOr<size_t> area_col = csv->Column("area_km2_official");
  absl::StatusOr<size_t> pop_col = csv->Column("pop_2023_yearend");
  for (const auto* col : {&code_col, &zh_col, &en_col, &area_col, &pop_col}) {
    if (!col->ok()) return col->status();
  }

  std::vector<DistrictFacts> districts;
  absl::flat_hash_set<DistrictCode> codes;
  absl::Status status = csv->ForEachRow([&](int line, const std::vector<absl::string_view>& f) {
    DistrictFacts facts;
    if (!absl::SimpleAtoi(f[*code_col], &facts.code) || facts.code <= 0) {
      return csv->Error(line, "adcode", absl::StrCat("not a code: \"", f[*code_col], "\""));
    }
    if (facts.code % 100 == 0) return absl::OkStatus();  // the city total, not a district
    if (!codes.insert(facts.code).second) {
      return csv->Error(line, "adcode", absl::StrCat("duplicate code ", facts.code));
    }
    facts.name_zh = std::string(f[*zh_col]);
    facts.name_en = std::string(f[*en_col]);
    if (facts.name_zh.empty()) return csv->Error(line, "name_zh", "empty");
    if (facts.name_en.empty()) return csv->Error(line, "name_en", "empty");
    if (!absl::SimpleAtod(f[*area_col], &facts.official_area_km2) ||
        !std::isfinite(facts.official_area_km2) || facts.official_area_km2 <= 0) {
      return csv->Error(line, "area_km2_official",
                        absl::StrCat("not a positive area: \"", f[*area_col], "\""));
    }
    if (!absl::SimpleAtoi(f[*pop_col], &facts.population) || facts.population <= 0) {
      return csv->Error(line, "pop_2023_yearend",
                        absl::StrCat("not a positive count: \"", f[*pop_col], "\""));
    }
    districts.push_back(std::move(facts));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return districts;
}

absl::StatusOr<std::vector<StreetFacts>> ReadStreetsCsv(const std::string& path) {
  absl::StatusOr<HeaderedCsv> csv = HeaderedCsv::Open(path);
  if (!csv.ok()) return csv.status();
  absl::StatusOr<size_t> code_col = csv->Column("town_code");
  absl::StatusOr<size_t> zh_col = csv->Column("name_zh");
  absl::StatusOr<size_t> short_col = csv->Column("short_name");
  absl::StatusOr<size_t> type_col = csv->Column("type");
  absl::StatusOr<size_t> district_col = csv->Column("district_adcode");
  for (const auto* col : {&code_col, &zh_col, &short_col, &type_col, &district_col}) {
    if (!col->ok()) return col->status();
  }

  std::vector<StreetFacts> streets;
  absl::flat_hash_set<int64_t> codes;
  absl::Status status = csv->ForEachRow([&](int line, const std::vector<absl::string_view>& f) {
    StreetFacts street;
    if (!absl::SimpleAtoi(f[*code_col], &street.town_code) || street.town_code <= 0) {
      return csv->Error(line, "town_code", absl::StrCat("not a code: \"", f[*code_col], "\""));
    }
    if (!codes.insert(street.town_code).second) {
      return csv->Error(line, "town_code", absl::StrCat("duplicate code ", street.town_code));
    }
    street.name_zh = std::string(f[*zh_col]);
    street.short_name = std::string(f[*short_col]);
    street.type = std::string(f[*type_col]);
    if (street.name_zh.empty()) return csv->Error(line, "name_zh", "empty");
    if (street.short_name.empty()) return csv->Error(line, "short_name", "empty");
    if (street.type != "street" && street.type != "town" && street.type != "special_unit") {
      return csv->Error(line, "type", absl::StrCat("unknown type \"", street.type, "\""));
    }
    if (!absl::SimpleAtoi(f[*district_col], &street.district) || street.district <= 0) {
      return csv->Error(line, "district_adcode",
                        absl::StrCat("not a code: \"", f[*district_col], "\""));
    }
    streets.push_back(std::move(street));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return streets;
}

}  // namespace gz
