#include "tests/fuzz/inbound_wire.h"

#include <type_traits>
#include <variant>

#include "protocol/dispatch.pb.h"

namespace gz::fuzz {
namespace {

namespace pb = ::gz::dispatch::v1;

// The engine's enums share their numeric values with the wire, except UnitStatus, which counts
// from 1 there (0 is UNIT_STATUS_UNSPECIFIED). The codec passes category and level through as
// numbers, so any value it decoded goes back as the same number.
template <typename WireEnum, typename DomainEnum>
WireEnum Wire(DomainEnum value) {
  return static_cast<WireEnum>(static_cast<int>(value));
}
pb::UnitStatus Wire(UnitStatus status) {
  return static_cast<pb::UnitStatus>(static_cast<int>(status) + 1);
}

void SetPosition(LonLat p, pb::LonLat* out) {
  out->set_lon(p.lon);
  out->set_lat(p.lat);
}

// Fills the envelope's body from one inbound alternative.
struct BodyWriter {
  pb::Envelope* env;

  void operator()(const RaiseAlert& b) const {
    pb::RaiseAlert* m = env->mutable_raise_alert();
    m->set_reporter_id(b.reporter_id);
    m->set_client_sequence(b.client_sequence);
    SetPosition(b.position, m->mutable_position());
    m->set_category(Wire<pb::Category>(b.category));
    m->set_level(Wire<pb::Level>(b.level));
  }
  void operator()(const AckAssignment& b) const {
    pb::AckAssignment* m = env->mutable_ack_assignment();
    m->set_unit_id(b.unit);
    m->set_assignment_id(b.assignment);
  }
  void operator()(const DeclineAssignment& b) const {
    pb::DeclineAssignment* m = env->mutable_decline_assignment();
    m->set_unit_id(b.unit);
    m->set_assignment_id(b.assignment);
    m->set_reason(Wire<pb::DeclineReason>(b.reason));
  }
  void operator()(const ReportArrival& b) const {
    pb::ReportArrival* m = env->mutable_report_arrival();
    m->set_unit_id(b.unit);
    m->set_assignment_id(b.assignment);
  }
  void operator()(const UpdateUnit& b) const {
    pb::UnitUpdate* m = env->mutable_unit_update();
    m->set_unit_id(b.unit);
    if (b.status) m->set_status(Wire(*b.status));
    if (b.on_post) m->set_on_post(*b.on_post);
    if (b.position) SetPosition(*b.position, m->mutable_position());
  }
  void operator()(const ResolveIncident& b) const {
    env->mutable_resolve_incident()->set_incident_id(b.incident);
  }
  void operator()(const CloseIncident& b) const {
    env->mutable_close_incident()->set_incident_id(b.incident);
  }
  void operator()(const CancelIncident& b) const {
    env->mutable_cancel_incident()->set_incident_id(b.incident);
  }
  void operator()(const ManualAssign& b) const {
    pb::ManualAssign* m = env->mutable_manual_assign();
    m->set_incident_id(b.incident);
    m->set_unit_id(b.unit);
    m->set_role(Wire<pb::AssignmentRole>(b.role));
  }
  void operator()(const ReleaseAssignment& b) const {
    env->mutable_release_assignment()->set_assignment_id(b.assignment);
  }
  void operator()(const SetUnitStatus& b) const {
    pb::SetUnitStatus* m = env->mutable_set_unit_status();
    m->set_unit_id(b.unit);
    m->set_status(Wire(b.status));
  }
  void operator()(const transport::Hello& b) const {
    pb::Hello* m = env->mutable_hello();
    m->set_role(pb::CLIENT_ROLE_RESPONDER);
    m->set_unit_id(b.unit);
    m->set_last_delivery_sequence_seen(b.last_delivery_sequence_seen);
  }
  void operator()(const transport::Heartbeat& b) const {
    env->mutable_heartbeat()->set_last_delivery_sequence_seen(b.last_delivery_sequence_seen);
  }
  void operator()(const transport::DeliveryReceipt& b) const {
    pb::DeliveryReceipt* m = env->mutable_delivery_receipt();
    m->set_unit_id(b.unit);
    m->set_delivery_sequence(b.delivery_sequence);
  }
  void operator()(const transport::FeedSnapshotRequest&) const {
    env->mutable_feed_snapshot_request();
  }
  void operator()(const transport::GetIncident& b) const {
    env->mutable_get_incident()->set_incident_id(b.incident);
  }
  void operator()(const transport::ListOpenIncidents& b) const {
    pb::ListOpenIncidents* m = env->mutable_list_open_incidents();
    m->set_district(b.district);
    m->set_min_level(Wire<pb::Level>(b.min_level));
    m->set_limit(b.limit);
    m->set_before_incident_id(b.before_incident);
  }
  void operator()(const transport::GetUnit& b) const {
    env->mutable_get_unit()->set_unit_id(b.unit);
  }
  void operator()(const transport::UnitsNear& b) const {
    pb::UnitsNear* m = env->mutable_units_near();
    SetPosition(b.position, m->mutable_position());
    // The codec takes a whole number of metres, 1..20,000, so the cast is exact.
    m->set_radius_m(static_cast<uint32_t>(b.radius_m));
    m->set_limit(b.limit);
    m->set_available_only(b.available_only);
  }
  void operator()(const transport::GetStats&) const { env->mutable_get_stats(); }
  void operator()(const transport::PositionBatch& b) const {
    pb::PositionBatch* m = env->mutable_position_batch();
    for (const auto& [unit, position] : b.positions) {
      pb::UnitPosition* p = m->add_positions();
      p->set_unit_id(unit);
      SetPosition(position, p->mutable_position());
    }
  }
};

}  // namespace

std::string EncodeInbound(const transport::Inbound& in) {
  pb::Envelope env;
  env.set_protocol_version(transport::kProtocolVersion);
  env.set_sender_id(in.sender_id);
  env.set_sequence(in.sequence);
  env.set_sent_at_unix_us(in.sent_at_unix_us);
  std::visit(BodyWriter{&env}, in.body);
  std::string frame;
  env.SerializeToString(&frame);
  return frame;
}

std::string EncodeInbound(absl::string_view sender_id, uint64_t sequence,
                          const transport::InboundBody& body) {
  transport::Inbound in;
  in.sender_id = std::string(sender_id);
  in.sequence = sequence;
  in.body = body;
  return EncodeInbound(in);
}

}  // namespace gz::fuzz
