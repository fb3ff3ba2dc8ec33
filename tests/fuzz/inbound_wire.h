// The client side of the inbound wire, for the fuzz targets and their seed corpora: the Envelope a
// client sends for each inbound message the codec decodes (engine/transport/codec.h), built with
// the generated protocol classes.
//
// Round trip: for every Inbound that transport::Decode produced on a channel,
// Decode(EncodeInbound(in), channel) decodes again, to the same Inbound. fuzz_codec checks this.
// Fields the codec validates but does not keep (an alert's description, a note, an arrival
// position, a Hello's role) are left out.
//
// Thread-safety: stateless functions; safe from any thread.

#ifndef TESTS_FUZZ_INBOUND_WIRE_H_
#define TESTS_FUZZ_INBOUND_WIRE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "engine/transport/codec.h"

namespace gz::fuzz {

// A serialized Envelope, protocol version 1, with the header and body of `in`.
std::string EncodeInbound(const transport::Inbound& in);

// The same from parts: sent_at_unix_us is left 0.
std::string EncodeInbound(absl::string_view sender_id, uint64_t sequence,
                          const transport::InboundBody& body);

}  // namespace gz::fuzz

#endif  // TESTS_FUZZ_INBOUND_WIRE_H_
