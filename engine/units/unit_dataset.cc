#include "engine/units/unit_dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace gz {
namespace {

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  // One sized read: a 2.3M-unit file is 200 MB, and a stream copy doubles the cost of reading it.
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  std::string contents;
  if (std::fseek(file, 0, SEEK_END) == 0) {
    const long size = std::ftell(file);
    if (size > 0) contents.resize(static_cast<size_t>(size));
    std::rewind(file);
  }
  size_t got = std::fread(contents.data(), 1, contents.size(), file);
  // Not a regular file (or it grew): read the rest in pieces.
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) {
    contents.resize(got);
    contents.append(buffer, n);
    got = contents.size();
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return absl::DataLossError(absl::StrCat("cannot read ", path));
  contents.resize(got);
  return contents;
}

absl::Status WriteWholeFile(const std::string& path, absl::string_view contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", path, " for writing: ", std::strerror(errno)));
  }
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// One data row split into fields, with the location needed for error messages.
class CsvRow {
 public:
  CsvRow(const std::string& path, int line_number, const std::vector<absl::string_view>& fields)
      : path_(path), line_number_(line_number), fields_(fields) {}

  absl::Status Error(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", line_number_, ": field '", field, "': ", what));
  }

  absl::string_view Text(int index) const { return fields_[index]; }

  absl::Status Int(int index, absl::string_view field, int64_t min, int64_t max,
                   int64_t* value) const {
    if (!absl::SimpleAtoi(fields_[index], value)) {
      return Error(field, absl::StrCat("not an integer: \"", fields_[index], "\""));
    }
    if (*value < min || *value > max) {
      return Error(field, absl::StrCat(*value, " is outside [", min, ", ", max, "]"));
    }
    return absl::OkStatus();
  }

  absl::Status Degrees(int index, absl::string_view field, double limit, double* value) const {
    if (!absl::SimpleAtod(fields_[index], value) || !std::isfinite(*value)) {
      return Error(field, absl::StrCat("not a number: \"", fields_[index], "\""));
    }
    if (*value < -limit || *value > limit) {
      return Error(field, absl::StrCat(fields_[index], " is outside [-", limit, ", ", limit, "]"));
    }
    return absl::OkStatus();
  }

 private:
  const std::string& path_;
  int line_number_;
  const std::vector<absl::string_view>& fields_;
};

// Splits `contents` into lines, checks the header, and calls `parse_row` on each non-blank data
// line that has exactly `header`'s number of fields. Stops at the first error.
template <typename ParseRow>
absl::Status ForEachRow(const std::string& path, absl::string_view contents,
                        absl::string_view header, ParseRow parse_row) {
  const size_t field_count = std::count(header.begin(), header.end(), ',') + 1;
  int line_number = 0;
  bool header_seen = false;
  std::vector<absl::string_view> fields;  // reused: no allocation per row
  for (size_t start = 0; start <= contents.size();) {
    size_t end = contents.find('\n', start);
    if (end == absl::string_view::npos) end = contents.size();
    absl::string_view line = contents.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!header_seen) {
      if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // UTF-8 byte order mark
      if (line != header) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": header is \"",
                                                       line, "\", expected \"", header, "\""));
      }
      header_seen = true;
      continue;
    }
    if (line.empty()) continue;
    fields.clear();
    for (size_t from = 0;;) {
      const size_t comma = line.find(',', from);
      if (comma == absl::string_view::npos) {
        fields.push_back(line.substr(from));
        break;
      }
      fields.push_back(line.substr(from, comma - from));
      from = comma + 1;
    }
    if (fields.size() != field_count) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", fields.size(),
                                                     " fields, expected ", field_count));
    }
    absl::Status status = parse_row(CsvRow(path, line_number, fields));
    if (!status.ok()) return status;
  }
  if (!header_seen) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  return absl::OkStatus();
}

bool IsStorableName(absl::string_view name) {
  return !name.empty() && name.find_first_of(",\r\n") == absl::string_view::npos;
}

std::string FormatDegrees(double degrees) { return absl::StrFormat("%.6f", degrees); }

}  // namespace

LonLat RoundToStoredPrecision(LonLat position) {
  // Through the very text the files hold, so the result equals what a reader parses back.
  LonLat rounded;
  if (!absl::SimpleAtod(FormatDegrees(position.lon), &rounded.lon) ||
      !absl::SimpleAtod(FormatDegrees(position.lat), &rounded.lat)) {
    return position;  // not finite; nothing to round
  }
  return rounded;
}

absl::StatusOr<std::vector<Unit>> ReadUnitsCsv(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadWholeFile(path);
  if (!contents.ok()) return contents.status();

  std::vector<Unit> units;
  absl::flat_hash_set<UnitId> ids;
  const size_t lines = std::count(contents->begin(), contents->end(), '\n');
  units.reserve(lines);
  // Files list ids in increasing order (the generator writes them so): while they keep rising no
  // id can repeat, and the hash set (a cache miss per row at 2.3M units) is only filled from the
  // first row that breaks the order.
  UnitId last_id = 0;
  bool ids_rising = true;
  absl::Status status = ForEachRow(path, *contents, kUnitsCsvHeader, [&](const CsvRow& row) {
    Unit unit;
    int64_t value = 0;
    absl::Status s = row.Int(0, "id", 1, UINT32_MAX, &value);
    if (!s.ok()) return s;
    unit.id = static_cast<UnitId>(value);
    if (ids_rising && unit.id <= last_id) {
      ids_rising = false;
      ids.reserve(lines);
      for (const Unit& earlier : units) ids.insert(earlier.id);
    }
    last_id = unit.id;
    if (!ids_rising && !ids.insert(unit.id).second) {
      return row.Error("id", absl::StrCat("duplicate id ", value));
    }

    if (row.Text(1).empty()) return row.Error("name", "empty");
    unit.name = std::string(row.Text(1));

    std::optional<UnitKind> kind = ParseUnitKind(row.Text(2));
    if (!kind.has_value() || *kind == UnitKind::kUnspecified) {
      return row.Error("kind", absl::StrCat("unknown kind \"", row.Text(2), "\""));
    }
    unit.kind = *kind;

    std::optional<TravelMode> mode = ParseTravelMode(row.Text(3));
    if (!mode.has_value()) {
      return row.Error("travel_mode", absl::StrCat("unknown travel mode \"", row.Text(3), "\""));
    }
    unit.mode = *mode;

    s = row.Int(4, "district", 1, INT32_MAX, &value);
    if (!s.ok()) return s;
    unit.district = static_cast<DistrictCode>(value);
    s = row.Int(5, "zone", 1, UINT32_MAX, &value);
    if (!s.ok()) return s;
    unit.zone = static_cast<ZoneId>(value);

    s = row.Degrees(6, "lon", 180, &unit.position.lon);
    if (!s.ok()) return s;
    s = row.Degrees(7, "lat", 90, &unit.position.lat);
    if (!s.ok()) return s;

    s = row.Int(8, "members", 1, INT32_MAX, &value);
    if (!s.ok()) return s;
    unit.members = static_cast<int32_t>(value);
    s = row.Int(9, "on_post", 0, unit.members, &value);
    if (!s.ok()) return s;
    unit.on_post = static_cast<int32_t>(value);

    units.push_back(std::move(unit));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return units;
}

absl::Status WriteUnitsCsv(const std::vector<Unit>& units, const std::string& path) {
  std::string out = absl::StrCat(kUnitsCsvHeader, "\n");
  out.reserve(units.size() * 96);
  for (const Unit& unit : units) {
    if (!IsStorableName(unit.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unit ", unit.id, ": name \"", unit.name,
                       "\" is empty or contains a comma or line break; not writing ", path));
    }
    absl::StrAppend(&out, unit.id, ",", unit.name, ",", UnitKindName(unit.kind), ",",
                    TravelModeName(unit.mode), ",", unit.district, ",", unit.zone, ",",
                    FormatDegrees(unit.position.lon), ",", FormatDegrees(unit.position.lat), ",",
                    unit.members, ",", unit.on_post, "\n");
  }
  return WriteWholeFile(path, out);
}

absl::StatusOr<std::vector<Zone>> ReadZonesCsv(const std::string& path,
                                               const LocalProjection& projection) {
  absl::StatusOr<std::string> contents = ReadWholeFile(path);
  if (!contents.ok()) return contents.status();

  std::vector<Zone> zones;
  absl::flat_hash_set<ZoneId> ids;
  absl::Status status = ForEachRow(path, *contents, kZonesCsvHeader, [&](const CsvRow& row) {
    Zone zone;
    int64_t value = 0;
    absl::Status s = row.Int(0, "zone_id", 1, UINT32_MAX, &value);
    if (!s.ok()) return s;
    zone.id = static_cast<ZoneId>(value);
    if (!ids.insert(zone.id).second) {
      return row.Error("zone_id", absl::StrCat("duplicate zone id ", value));
    }
    s = row.Int(1, "district", 1, INT32_MAX, &value);
    if (!s.ok()) return s;
    zone.district = static_cast<DistrictCode>(value);

    if (row.Text(2).empty()) return row.Error("name_zh", "empty");
    zone.name_zh = std::string(row.Text(2));

    LonLat seed;
    s = row.Degrees(3, "seed_lon", 180, &seed.lon);
    if (!s.ok()) return s;
    s = row.Degrees(4, "seed_lat", 90, &seed.lat);
    if (!s.ok()) return s;
    zone.seed = projection.ToPlane(seed);

    s = row.Int(5, "synthetic", 0, 1, &value);
    if (!s.ok()) return s;
    zone.synthetic = value == 1;

    zones.push_back(std::move(zone));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return zones;
}

absl::Status WriteZonesCsv(const std::vector<Zone>& zones, const LocalProjection& projection,
                           const std::string& path) {
  std::string out = absl::StrCat(kZonesCsvHeader, "\n");
  for (const Zone& zone : zones) {
    if (!IsStorableName(zone.name_zh)) {
      return absl::InvalidArgumentError(
          absl::StrCat("zone ", zone.id, ": name \"", zone.name_zh,
                       "\" is empty or contains a comma or line break; not writing ", path));
    }
    const LonLat seed = projection.ToLonLat(zone.seed);
    absl::StrAppend(&out, zone.id, ",", zone.district, ",", zone.name_zh, ",",
                    FormatDegrees(seed.lon), ",", FormatDegrees(seed.lat), ",",
                    zone.synthetic ? 1 : 0, "\n");
  }
  return WriteWholeFile(path, out);
}

}  // namespace gz
