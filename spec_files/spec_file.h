// Spec files: YAML or JSON text that maps one-to-one onto dynclamp.v1.Spec.
// YAML is read with yaml-cpp and turned into JSON; JSON (which is YAML) goes
// through protobuf's JSON mapping, which names unknown or mistyped fields.
// Field names may be snake_case (as in the .proto) or lowerCamelCase.
//
// Threads: any; pure functions.
#ifndef DYNCLAMP_SPEC_FILES_SPEC_FILE_H_
#define DYNCLAMP_SPEC_FILES_SPEC_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dynclamp/v1/protocol.pb.h"
#include "dynclamp/v1/spec.pb.h"

namespace dynclamp::spec_files {

// InvalidArgument "<source>: ..." naming the line, or the field, and why.
absl::StatusOr<v1::Spec> ParseSpec(absl::string_view text,
                                   absl::string_view source);
// NotFound if the file cannot be read; otherwise as ParseSpec.
absl::StatusOr<v1::Spec> ReadSpecFile(const std::string& path);

// The same for protocol files (dynclamp.v1.Protocol).
absl::StatusOr<v1::Protocol> ParseProtocol(absl::string_view text,
                                           absl::string_view source);
// The text of a file, or NotFound naming it.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

// YAML or JSON text into any proto message (unknown fields refused);
// InvalidArgument "<source>: ..." as ParseSpec.
absl::Status ParseYamlMessage(absl::string_view text, absl::string_view source,
                              google::protobuf::Message& message);

// YAML (or JSON) text to a JSON document, for any proto message.
absl::StatusOr<std::string> YamlToJson(absl::string_view text,
                                       absl::string_view source);

// The spec as JSON with the .proto's field names.
std::string SpecToJson(const v1::Spec& spec);

}  // namespace dynclamp::spec_files

#endif  // DYNCLAMP_SPEC_FILES_SPEC_FILE_H_
