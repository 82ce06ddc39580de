#include "server/api/grpc_status.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "rt_engine/base/names.h"

namespace dynclamp::server {

std::string FieldOfMessage(absl::string_view message, std::size_t* reason_at) {
  std::string field;
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == ':') {
      if (i + 1 >= message.size() || message[i + 1] != ' ') return {};
      if (reason_at != nullptr) *reason_at = i + 2;
      return field;
    }
    if (c == ' ' && i + 1 < message.size() && message[i + 1] == '(') {
      // A label (which may hold parentheses of its own): skip it.
      int depth = 0;
      for (++i; i < message.size(); ++i) {
        if (message[i] == '(') ++depth;
        if (message[i] == ')' && --depth == 0) break;
      }
      if (i >= message.size()) return {};
      continue;
    }
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        absl::string_view("_.[]-").find(c) == absl::string_view::npos) {
      return {};
    }
    field.push_back(c);
  }
  return {};
}

std::string ClipText(absl::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return absl::StrCat(rt::Utf8Prefix(text, max_bytes), "… (", text.size(),
                      " characters in all)");
}

google::rpc::Status RichStatus(const absl::Status& status) {
  google::rpc::Status rich;
  rich.set_code(static_cast<int>(status.code()));
  rich.set_message(ClipText(status.message(), kMaxErrorMessageBytes));
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    google::rpc::BadRequest bad;
    google::rpc::BadRequest::FieldViolation* v = bad.add_field_violations();
    std::size_t reason_at = 0;
    const std::string field = FieldOfMessage(status.message(), &reason_at);
    v->set_field(ClipText(field, kMaxFieldPathBytes));
    const absl::string_view reason = status.message().substr(reason_at);
    v->set_description(ClipText(reason, kMaxErrorMessageBytes));
    rich.add_details()->PackFrom(bad);
  }
  return rich;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const google::rpc::Status rich = RichStatus(status);
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      rich.message(), rich.SerializeAsString());
}

}  // namespace dynclamp::server
