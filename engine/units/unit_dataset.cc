#include "engine/units/unit_dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
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

// Written under a temporary name and renamed over `path`: a reader (dispatchd maps the units file)
// never sees it half written or truncated.
absl::Status WriteWholeFile(const std::string& path, absl::string_view contents) {
  const std::string temp = absl::StrCat(path, ".tmp");
  std::ofstream out(temp, std::ios::binary | std::ios::trunc);
  if (!out) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", temp, " for writing: ", std::strerror(errno)));
  }
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  if (!out) {
    std::remove(temp.c_str());
    return absl::DataLossError(absl::StrCat("cannot write ", temp));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    return absl::DataLossError(absl::StrCat("cannot rename ", temp, " to ", path, ": ", reason));
  }
  return absl::OkStatus();
}

// Number fields as absl::SimpleAtoi/SimpleAtod read them (surrounding ASCII blanks and a leading
// '+' allowed), through std::from_chars: at 2.3M rows the absl parsers were a fifth of the parse.
absl::string_view NumberText(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  return text;
}

// int64_t or double.
template <typename Number>
bool ParseNumber(absl::string_view text, Number* value) {
  const absl::string_view number = NumberText(text);
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), *value);
  if (error == std::errc() && end == number.data() + number.size() && !number.empty()) return true;
  // The rare text from_chars refuses and absl takes (a double that underflows, e.g. 1e-400, is 0
  // to absl): ask absl, so the files read exactly as they did.
  if constexpr (std::is_floating_point_v<Number>) return absl::SimpleAtod(text, value);
  return false;
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
  int line_number() const { return line_number_; }

  absl::Status Int(int index, absl::string_view field, int64_t min, int64_t max,
                   int64_t* value) const {
    if (!ParseNumber(fields_[index], value)) {
      return Error(field, absl::StrCat("not an integer: \"", fields_[index], "\""));
    }
    if (*value < min || *value > max) {
      return Error(field, absl::StrCat(*value, " is outside [", min, ", ", max, "]"));
    }
    return absl::OkStatus();
  }

  absl::Status Degrees(int index, absl::string_view field, double limit, double* value) const {
    if (!ParseNumber(fields_[index], value) || !std::isfinite(*value)) {
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

// Checks that `contents` starts with the header line `header`; on success *data is the rest (line
// 2 onwards).
absl::Status CheckHeader(const std::string& path, absl::string_view contents,
                         absl::string_view header, absl::string_view* data) {
  if (contents.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));
  size_t end = contents.find('\n');
  if (end == absl::string_view::npos) end = contents.size();
  absl::string_view line = contents.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // UTF-8 byte order mark
  if (line != header) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: header is \"", line, "\", expected \"", header, "\""));
  }
  *data = contents.substr(std::min(end + 1, contents.size()));
  return absl::OkStatus();
}

// Calls `parse_row` on each non-blank line of `data` (whose first line is line `first_line` of
// the file), which must have exactly `field_count` fields. Stops at the first error.
template <typename ParseRow>
absl::Status ForEachDataRow(const std::string& path, absl::string_view data, int first_line,
                            size_t field_count, ParseRow parse_row) {
  int line_number = first_line - 1;
  std::vector<absl::string_view> fields;  // reused: no allocation per row
  for (size_t start = 0; start < data.size();) {
    size_t end = data.find('\n', start);
    if (end == absl::string_view::npos) end = data.size();
    absl::string_view line = data.substr(start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
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
  return absl::OkStatus();
}

size_t FieldCount(absl::string_view header) {
  return std::count(header.begin(), header.end(), ',') + 1;
}

// Checks the header, then parses every data row.
template <typename ParseRow>
absl::Status ForEachRow(const std::string& path, absl::string_view contents,
                        absl::string_view header, ParseRow parse_row) {
  absl::string_view data;
  if (absl::Status s = CheckHeader(path, contents, header, &data); !s.ok()) return s;
  return ForEachDataRow(path, data, 2, FieldCount(header), std::move(parse_row));
}

bool IsStorableName(absl::string_view name) {
  return !name.empty() && name.find_first_of(",\r\n") == absl::string_view::npos;
}

std::string FormatDegrees(double degrees) { return absl::StrFormat("%.6f", degrees); }

}  // namespace

LonLat RoundToStoredPrecision(LonLat position) {
  // Through the very text the files hold, so the result equals what a reader parses back.
  LonLat rounded;
  if (!ParseNumber(FormatDegrees(position.lon), &rounded.lon) ||
      !ParseNumber(FormatDegrees(position.lat), &rounded.lat)) {
    return position;  // not finite; nothing to round
  }
  return rounded;
}

namespace {

absl::Status ParseUnitRow(const CsvRow& row, Unit* unit) {
  int64_t value = 0;
  absl::Status s = row.Int(0, "id", 1, UINT32_MAX, &value);
  if (!s.ok()) return s;
  unit->id = static_cast<UnitId>(value);
  if (row.Text(1).empty()) return row.Error("name", "empty");
  unit->name = std::string(row.Text(1));
  std::optional<UnitKind> kind = ParseUnitKind(row.Text(2));
  if (!kind.has_value() || *kind == UnitKind::kUnspecified) {
    return row.Error("kind", absl::StrCat("unknown kind \"", row.Text(2), "\""));
  }
  unit->kind = *kind;
  std::optional<TravelMode> mode = ParseTravelMode(row.Text(3));
  if (!mode.has_value()) {
    return row.Error("travel_mode", absl::StrCat("unknown travel mode \"", row.Text(3), "\""));
  }
  unit->mode = *mode;
  s = row.Int(4, "district", 1, INT32_MAX, &value);
  if (!s.ok()) return s;
  unit->district = static_cast<DistrictCode>(value);
  s = row.Int(5, "zone", 1, UINT32_MAX, &value);
  if (!s.ok()) return s;
  unit->zone = static_cast<ZoneId>(value);
  s = row.Degrees(6, "lon", 180, &unit->position.lon);
  if (!s.ok()) return s;
  s = row.Degrees(7, "lat", 90, &unit->position.lat);
  if (!s.ok()) return s;
  s = row.Int(8, "members", 1, INT32_MAX, &value);
  if (!s.ok()) return s;
  unit->members = static_cast<int32_t>(value);
  s = row.Int(9, "on_post", 0, unit->members, &value);
  if (!s.ok()) return s;
  unit->on_post = static_cast<int32_t>(value);
  return absl::OkStatus();
}

// A file's bytes, mapped read-only when it is a regular file (a 2.3M-unit file is 200 MB, and
// copying it out of the page cache was a tenth of a cold start), else read into memory.
class FileBytes {
 public:
  static absl::StatusOr<std::unique_ptr<FileBytes>> Open(const std::string& path) {
    auto bytes = std::unique_ptr<FileBytes>(new FileBytes);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return absl::NotFoundError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
    struct stat info;
    if (::fstat(fd, &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0) {
      void* mapped = ::mmap(nullptr, static_cast<size_t>(info.st_size), PROT_READ,
                            MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (mapped != MAP_FAILED) {
        ::close(fd);
        bytes->mapped_ = mapped;
        bytes->view_ =
            absl::string_view(static_cast<const char*>(mapped), static_cast<size_t>(info.st_size));
        return bytes;
      }
    }
    ::close(fd);
    absl::StatusOr<std::string> contents = ReadWholeFile(path);
    if (!contents.ok()) return contents.status();
    bytes->copy_ = *std::move(contents);
    bytes->view_ = bytes->copy_;
    return bytes;
  }
  ~FileBytes() {
    if (mapped_ != nullptr) ::munmap(mapped_, view_.size());
  }
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;

  absl::string_view view() const { return view_; }

 private:
  FileBytes() = default;
  void* mapped_ = nullptr;
  std::string copy_;
  absl::string_view view_;
};

// One slice of the data rows, parsed and checked on its own thread straight into its part of the
// result (moving 2.3M units from per-slice vectors into one was a tenth of a cold start). Ids are
// checked for repeats afterwards, across slices, with each unit's line kept for the message.
struct UnitSlice {
  absl::string_view data;
  int first_line = 0;
  size_t first_unit = 0;  // where its units go in the result
  size_t capacity = 0;    // lines in `data`: no more units than that
  size_t parsed = 0;
  absl::Status status;
};

void ParseUnitSlice(const std::string& path, const UnitCheck& check, UnitSlice* slice,
                    std::vector<Unit>* units, std::vector<int>* lines) {
  Unit* out = units->data() + slice->first_unit;
  int* out_line = lines->data() + slice->first_unit;
  slice->status = ForEachDataRow(path, slice->data, slice->first_line, FieldCount(kUnitsCsvHeader),
                                 [&](const CsvRow& row) {
                                   Unit& unit = out[slice->parsed];
                                   absl::Status s = ParseUnitRow(row, &unit);
                                   if (!s.ok()) return s;
                                   s = check(unit);
                                   if (!s.ok()) return s;
                                   out_line[slice->parsed++] = row.line_number();
                                   return absl::OkStatus();
                                 });
}

size_t LineCount(absl::string_view data) {
  // Every line, blank or not, so a slice's count bounds the units it can hold.
  return std::count(data.begin(), data.end(), '\n') + (data.empty() || data.back() == '\n' ? 0 : 1);
}

// Above this size the rows are parsed on two threads (a 2.3M-unit file is 200 MB).
constexpr size_t kParallelParseBytes = 8 << 20;

}  // namespace

absl::StatusOr<std::vector<Unit>> ReadUnitsCsv(const std::string& path) {
  return ReadUnitsCsv(path, [](const Unit&) { return absl::OkStatus(); });
}

absl::StatusOr<std::vector<Unit>> ReadUnitsCsv(const std::string& path, const UnitCheck& check) {
  absl::StatusOr<std::unique_ptr<FileBytes>> bytes = FileBytes::Open(path);
  if (!bytes.ok()) return bytes.status();
  absl::string_view data;
  if (absl::Status s = CheckHeader(path, (*bytes)->view(), kUnitsCsvHeader, &data); !s.ok()) {
    return s;
  }

  std::vector<UnitSlice> slices(1);
  slices[0].data = data;
  if (data.size() > kParallelParseBytes) {
    // Cut at the line break after the middle; the second half's line numbers follow the first's.
    const size_t cut = data.find('\n', data.size() / 2);
    if (cut != absl::string_view::npos) {
      slices.resize(2);
      slices[0].data = data.substr(0, cut + 1);
      slices[1].data = data.substr(cut + 1);
    }
  }
  if (slices.size() == 2) {
    std::thread second([&] { slices[1].capacity = LineCount(slices[1].data); });
    slices[0].capacity = LineCount(slices[0].data);
    second.join();
  } else {
    slices[0].capacity = LineCount(slices[0].data);
  }
  size_t capacity = 0;
  int first_line = 2;
  for (UnitSlice& slice : slices) {
    slice.first_unit = capacity;
    slice.first_line = first_line;
    capacity += slice.capacity;
    first_line += static_cast<int>(slice.capacity);
  }
  std::vector<Unit> units(capacity);
  std::vector<int> lines(capacity);
  if (slices.size() == 2) {
    std::thread second(ParseUnitSlice, std::cref(path), std::cref(check), &slices[1], &units,
                       &lines);
    ParseUnitSlice(path, check, &slices[0], &units, &lines);
    second.join();
  } else {
    ParseUnitSlice(path, check, &slices[0], &units, &lines);
  }
  // The first error in file order, as a single pass would have reported it.
  for (const UnitSlice& slice : slices) {
    if (!slice.status.ok()) return slice.status;
  }
  // Blank lines leave gaps at the end of a slice: close them up.
  size_t count = 0;
  for (const UnitSlice& slice : slices) {
    if (slice.first_unit != count) {
      std::move(units.begin() + slice.first_unit, units.begin() + slice.first_unit + slice.parsed,
                units.begin() + count);
      std::move(lines.begin() + slice.first_unit, lines.begin() + slice.first_unit + slice.parsed,
                lines.begin() + count);
    }
    count += slice.parsed;
  }
  units.resize(count);
  lines.resize(count);

  // Files list ids in increasing order (the generator writes them so): while they keep rising no
  // id can repeat, and the hash set (a cache miss per row at 2.3M units) is only filled from the
  // first row that breaks the order.
  absl::flat_hash_set<UnitId> ids;
  bool ids_rising = true;
  for (size_t i = 0; i < units.size(); ++i) {
    if (ids_rising && i > 0 && units[i].id <= units[i - 1].id) {
      ids_rising = false;
      ids.reserve(units.size());
      for (size_t j = 0; j < i; ++j) ids.insert(units[j].id);
    }
    if (!ids_rising && !ids.insert(units[i].id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", lines[i], ": field 'id': ", "duplicate id ", units[i].id));
    }
  }
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
