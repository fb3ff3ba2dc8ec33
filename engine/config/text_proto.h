// Parsing a text-format protobuf config with a useful error: the first problem with its source,
// line and column ("dispatch.textproto: line 12:3: ..."), and nothing printed to stderr.

#ifndef ENGINE_CONFIG_TEXT_PROTO_H_
#define ENGINE_CONFIG_TEXT_PROTO_H_

#include <string>

#include <google/protobuf/message.h>

#include "absl/status/status.h"

namespace gz {

// InvalidArgument naming `source_name` and the position of the first error.
absl::Status ParseTextProto(const std::string& text, const std::string& source_name,
                            google::protobuf::Message* message);

}  // namespace gz

#endif  // ENGINE_CONFIG_TEXT_PROTO_H_
