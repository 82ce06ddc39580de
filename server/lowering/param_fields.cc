#include "server/lowering/param_fields.h"

namespace dynclamp::server {

using google::protobuf::FieldDescriptor;

absl::StatusOr<const FieldDescriptor*> ParamField(
    const google::protobuf::Descriptor& message, const rt::ParamInfo& info) {
  const FieldDescriptor* f = message.FindFieldByName(std::string(info.name));
  if (f == nullptr || f->is_repeated() ||
      (f->cpp_type() != FieldDescriptor::CPPTYPE_DOUBLE &&
       f->cpp_type() != FieldDescriptor::CPPTYPE_BOOL)) {
    return absl::InternalError(absl::StrCat(message.full_name(),
                                            " has no double (or bool) field "
                                            "for the parameter ",
                                            info.name));
  }
  return f;
}

absl::Status CheckParamFields(const google::protobuf::Descriptor& message,
                              std::span<const rt::ParamInfo> info) {
  for (const rt::ParamInfo& p : info) {
    if (auto f = ParamField(message, p); !f.ok()) return f.status();
  }
  return absl::OkStatus();
}

absl::Status RequireFields(const google::protobuf::Message& message,
                           const std::string& path,
                           std::initializer_list<absl::string_view> fields) {
  const google::protobuf::Reflection& r = *message.GetReflection();
  for (absl::string_view name : fields) {
    const FieldDescriptor* f =
        message.GetDescriptor()->FindFieldByName(std::string(name));
    if (f == nullptr) {
      return absl::InternalError(absl::StrCat(
          message.GetDescriptor()->full_name(), " has no field ", name));
    }
    if (!r.HasField(message, f)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ".", name, ": is required"));
    }
  }
  return absl::OkStatus();
}

}  // namespace dynclamp::server
