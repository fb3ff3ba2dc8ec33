// Reading and writing the dispatch policy file (config/dispatch.textproto, text-format protobuf).
//
// Protobuf stays here: the result is the plain DispatchConfig the core takes.

#ifndef ENGINE_CONFIG_DISPATCH_CONFIG_FILE_H_
#define ENGINE_CONFIG_DISPATCH_CONFIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/dispatch/dispatch_config.h"

namespace gz {

inline constexpr char kDispatchConfigFile[] = "dispatch.textproto";

// Parses `text` (named `source_name` in errors) over DispatchConfig::Defaults() and validates the
// result. InvalidArgument names the line, or the field and what is wrong with it.
absl::StatusOr<DispatchConfig> ParseDispatchConfig(const std::string& text,
                                                   const std::string& source_name);

// Reads a file and parses it as above. NotFound if it is missing.
absl::StatusOr<DispatchConfig> ReadDispatchConfig(const std::string& path);

// The text-format form of `config`, every field written out; ParseDispatchConfig reads it back
// equal.
std::string DispatchConfigToText(const DispatchConfig& config);

}  // namespace gz

#endif  // ENGINE_CONFIG_DISPATCH_CONFIG_FILE_H_
