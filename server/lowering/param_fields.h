// Param fields: reads a model's numeric parameters from its proto message
// by name, through reflection, with the engine's parameter table
// (rt_engine/models/param_table.h) saying which fields there are and what
// each defaults to. The wire's field names are the table's names, so a
// parameter is declared once, in the engine, and lowering follows it.
//
// Threads: non-RT; pure functions.
#ifndef DYNCLAMP_SERVER_LOWERING_PARAM_FIELDS_H_
#define DYNCLAMP_SERVER_LOWERING_PARAM_FIELDS_H_

#include <initializer_list>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "rt_engine/models/param_table.h"

namespace dynclamp::server {

// The field of `message` that carries parameter `info`: a double of that
// name (or a bool, for a 0-or-1 parameter). InternalError if there is none (a
// table and a message that disagree, which param_fields_test checks for every
// kind).
absl::StatusOr<const google::protobuf::FieldDescriptor*> ParamField(
    const google::protobuf::Descriptor& message, const rt::ParamInfo& info);

// OK if every row of `info` has its field in `message`.
absl::Status CheckParamFields(const google::protobuf::Descriptor& message,
                              std::span<const rt::ParamInfo> info);

// InvalidArgument "<path>.<field>: is required" for the first of `fields`
// that `message` does not set.
absl::Status RequireFields(const google::protobuf::Message& message,
                           const std::string& path,
                           std::initializer_list<absl::string_view> fields);

// `value` with every parameter of `table` that `message` sets read from it,
// and every other parameter at its default.
template <typename T>
absl::StatusOr<T> ReadParams(const google::protobuf::Message& message,
                             rt::ParamSpan<T> table, T value) {
  const google::protobuf::Reflection& r = *message.GetReflection();
  value = table.WithDefaults(std::move(value));
  for (std::size_t i = 0; i < table.size(); ++i) {
    absl::StatusOr<const google::protobuf::FieldDescriptor*> f =
        ParamField(*message.GetDescriptor(), table.info()[i]);
    if (!f.ok()) return f.status();
    if (!r.HasField(message, *f)) continue;
    table.Set(
        value, static_cast<int>(i),
        (*f)->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_BOOL
            ? (r.GetBool(message, *f) ? 1.0 : 0.0)
            : r.GetDouble(message, *f));
  }
  return value;
}

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_LOWERING_PARAM_FIELDS_H_
