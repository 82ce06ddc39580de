#include "spec_files/spec_file.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace dynclamp::spec_files {
namespace {

void AppendJsonString(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// A plain (unquoted) YAML scalar becomes a JSON number, bool or null when it
// reads as one; anything quoted stays a string.
void AppendScalar(std::string& out, const YAML::Node& node) {
  const std::string& v = node.Scalar();
  if (node.Tag() != "!") {
    const std::string lower = absl::AsciiStrToLower(v);
    if (lower == "true" || lower == "false") {
      out += lower;
      return;
    }
    if (lower == "null" || v == "~") {
      out += "null";
      return;
    }
    if (lower == ".nan" || lower == "nan") {
      out += "\"NaN\"";
      return;
    }
    if (lower == ".inf" || lower == "inf" || lower == "+.inf") {
      out += "\"Infinity\"";
      return;
    }
    if (lower == "-.inf" || lower == "-inf") {
      out += "\"-Infinity\"";
      return;
    }
    if (!v.empty()) {
      char* end = nullptr;
      errno = 0;
      const double d = std::strtod(v.c_str(), &end);
      if (end == v.c_str() + v.size() && errno == 0 && std::isfinite(d) &&
          !absl::StartsWith(lower, "0x")) {
        out += v;
        return;
      }
    }
  }
  AppendJsonString(out, v);
}

// Aliases can make a small file expand without bound ("billion laughs"):
// the JSON is cut off at this size.
constexpr std::size_t kMaxJsonBytes = 16 << 20;
// Aliases can also nest a small file without bound (each anchor holding the
// one before, a few hundred levels deeper); no spec or protocol goes beyond
// a dozen levels, and the protobuf JSON parser refuses past 100.
constexpr int kMaxDepth = 64;

absl::Status AppendNode(std::string& out, const YAML::Node& node,
                        absl::string_view source, int depth = 0) {
  if (out.size() > kMaxJsonBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": over ", kMaxJsonBytes >> 20,
                     " MB once its aliases are expanded"));
  }
  if (depth > kMaxDepth) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: line %d, column %d: nested more than %d levels deep (once its "
        "aliases are expanded)",
        source, node.Mark().line + 1, node.Mark().column + 1, kMaxDepth));
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      out += '{';
      bool first = true;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s: line %d, column %d: a key must be a name, not a list or a "
              "mapping",
              source, kv.first.Mark().line + 1, kv.first.Mark().column + 1));
        }
        if (!first) out += ',';
        first = false;
        AppendJsonString(out, kv.first.Scalar());
        out += ':';
        if (absl::Status s = AppendNode(out, kv.second, source, depth + 1);
            !s.ok())
          return s;
      }
      out += '}';
      break;
    }
    case YAML::NodeType::Sequence: {
      out += '[';
      bool first = true;
      for (const auto& item : node) {
        if (!first) out += ',';
        first = false;
        if (absl::Status s = AppendNode(out, item, source, depth + 1); !s.ok())
          return s;
      }
      out += ']';
      break;
    }
    case YAML::NodeType::Scalar:
      AppendScalar(out, node);
      break;
    default:
      out += "null";
  }
  return absl::OkStatus();
}

// Protobuf's JSON parser names a bad enum value by its type URL,
//   (conductances[0].preset.integrator): invalid value "RK5" for type
//   type.googleapis.com/dynclamp.v1.Integrator,
// which says nothing of what is valid: say which names are.
std::string Readable(const std::string& message) {
  // Plain string search: a regex recurses per character and a long value
  // (the fuzzer's) overflows the stack.
  constexpr std::string_view kValue = "): invalid value \"";
  constexpr std::string_view kType = "\" for type type.googleapis.com/";
  const std::size_t value = message.find(kValue);
  const std::size_t type = message.rfind(kType);
  if (message.empty() || message[0] != '(' || value == std::string::npos ||
      type == std::string::npos || type < value + kValue.size()) {
    return message;
  }
  const google::protobuf::EnumDescriptor* found =
      google::protobuf::DescriptorPool::generated_pool()->FindEnumTypeByName(
          message.substr(type + kType.size()));
  if (found == nullptr) return message;
  std::vector<std::string> names;
  for (int k = 0; k < found->value_count(); ++k) {
    const std::string& name = found->value(k)->name();
    if (!absl::EndsWith(name, "_UNSPECIFIED")) names.push_back(name);
  }
  const std::size_t start = value + kValue.size();
  return absl::StrCat(message.substr(1, value - 1), ": '",
                      message.substr(start, type - start), "' is not one of ",
                      absl::StrJoin(names, ", "));
}

}  // namespace

absl::StatusOr<std::string> YamlToJson(absl::string_view text,
                                       absl::string_view source) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: not YAML or JSON: line %d, column %d: %s", source,
                        e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source,
        ": the top level must be a mapping (e.g. 'conductances: ...')"));
  }
  std::string json;
  if (absl::Status s = AppendNode(json, root, source); !s.ok()) return s;
  return json;
}

absl::Status ParseYamlMessage(absl::string_view text, absl::string_view source,
                              google::protobuf::Message& message) {
  absl::StatusOr<std::string> json = YamlToJson(text, source);
  if (!json.ok()) return json.status();
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      google::protobuf::util::JsonStringToMessage(*json, &message, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", Readable(status.message().as_string())));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Spec> ParseSpec(absl::string_view text,
                                   absl::string_view source) {
  v1::Spec spec;
  if (auto s = ParseYamlMessage(text, source, spec); !s.ok()) return s;
  return spec;
}

absl::StatusOr<v1::Protocol> ParseProtocol(absl::string_view text,
                                           absl::string_view source) {
  v1::Protocol protocol;
  if (auto s = ParseYamlMessage(text, source, protocol); !s.ok()) return s;
  return protocol;
}

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open the file"));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::StatusOr<v1::Spec> ReadSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  return ParseSpec(*text, path);
}

std::string SpecToJson(const v1::Spec& spec) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(spec, &out, options);
  return out;
}

}  // namespace dynclamp::spec_files
