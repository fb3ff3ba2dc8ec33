#include "engine/journal/fingerprint.h"

#include <cstring>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gz::journal {
namespace {

// Feeds values into a 64-bit FNV-1a hash, each as its little-endian bytes.
class Hasher {
 public:
  void Bytes(absl::string_view bytes) {
    for (const char c : bytes) {
      hash_ ^= static_cast<uint8_t>(c);
      hash_ *= 0x100000001b3ull;
    }
  }
  void U64(uint64_t v) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((v >> (8 * i)) & 0xFFu);
    Bytes(absl::string_view(bytes, 8));
  }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Double(double v) {
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof bits);
    U64(bits);
  }
  void Duration(absl::Duration d) { I64(absl::ToInt64Nanoseconds(d)); }
  void Point(PlanePoint p) {
    Double(p.x);
    Double(p.y);
  }
  void Position(LonLat p) {
    Double(p.lon);
    Double(p.lat);
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ull;
};

void HashConfig(const DispatchConfig& c, Hasher& h) {
  h.Double(c.travel.detour_factor);
  for (double speed : c.travel.speed_mps) h.Double(speed);
  h.U64(c.rings.size());
  for (absl::Duration ring : c.rings) h.Duration(ring);
  h.Double(c.merge_radius_m);
  h.Duration(c.merge_window);
  h.Double(c.arrival_eta_factor);
  h.Duration(c.arrival_slack);
  h.Duration(c.idempotency_window);
  h.I64(c.max_remembered_alerts);
  for (int64_t limit : c.max_open_incidents) h.I64(limit);
  for (const auto& by_level : c.plans) {
    for (const std::optional<ResponsePlan>& plan : by_level) {
      h.U64(plan.has_value() ? 1 : 0);
      if (!plan.has_value()) continue;
      h.I64(plan->frontline_units);
      h.Duration(plan->frontline_ring);
      h.I64(plan->assembly_headcount);
      h.Duration(plan->assembly_ring);
      h.U64(plan->assembly_zone_only ? 1 : 0);
      h.Duration(plan->ack_deadline);
      h.U64(plan->escalation.size());
      for (const EscalationStep& step : plan->escalation) {
        h.Duration(step.after);
        h.U64(static_cast<uint64_t>(step.notify));
      }
    }
  }
}

void HashMap(const DistrictMap& map, Hasher& h) {
  h.U64(map.districts().size());
  for (const District& d : map.districts()) {
    h.I64(d.code);
    h.U64(d.polygons.size());
    for (const Polygon& polygon : d.polygons) {
      h.U64(polygon.rings.size());
      for (const Ring& ring : polygon.rings) {
        h.U64(ring.size());
        for (const PlanePoint& p : ring) h.Point(p);
      }
    }
  }
  h.U64(map.zones().size());
  for (const Zone& z : map.zones()) {
    h.U64(z.id);
    h.I64(z.district);
    h.Point(z.seed);
  }
}

void HashUnits(const std::vector<Unit>& units, Hasher& h) {
  h.U64(units.size());
  for (const Unit& u : units) {
    h.U64(u.id);
    h.U64(static_cast<uint64_t>(u.kind));
    h.U64(static_cast<uint64_t>(u.mode));
    h.Position(u.position);
    h.I64(u.district);
    h.U64(u.zone);
    h.I64(u.members);
    h.I64(u.on_post);
    h.U64(static_cast<uint64_t>(u.status));
  }
}

}  // namespace

uint64_t EngineFingerprint(const DispatchConfig& config, const LocalProjection& projection,
                           const DistrictMap& map, const std::vector<Unit>& units) {
  Hasher h;
  h.Bytes("gz-dispatch engine fingerprint v1");
  HashConfig(config, h);
  h.Position(projection.origin());
  HashMap(map, h);
  HashUnits(units, h);
  return h.value();
}

}  // namespace gz::journal
