#include "rt_engine/base/names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

bool IsValidName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  if (!absl::ascii_isalpha(name[0]) && name[0] != '_') return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

absl::string_view Utf8Prefix(absl::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  return text.substr(0, cut);
}

namespace {
// What an error message shows of a name a client sent.
absl::string_view Head(absl::string_view text) { return Utf8Prefix(text, 64); }
}  // namespace

std::string Clipped(absl::string_view text) {
  const absl::string_view head = Head(text);
  if (head.size() == text.size()) return std::string(text);
  return absl::StrCat(head, "… (", text.size(), " characters)");
}

std::string Quoted(absl::string_view text) {
  const absl::string_view head = Head(text);
  if (head.size() == text.size()) return absl::StrCat("'", text, "'");
  return absl::StrCat("'", head, "…' (", text.size(), " characters)");
}

absl::Status CheckName(absl::string_view name, absl::string_view path,
                       absl::string_view field) {
  if (IsValidName(name)) return absl::OkStatus();
  return FieldError(
      path, field,
      absl::StrCat(Quoted(name),
                   " is not a valid name (a letter or '_', then letters, "
                   "digits or '_', at most 64 characters)"));
}

bool MatchesSignalPattern(absl::string_view pattern, absl::string_view signal) {
  if (!pattern.empty() && pattern.back() == '*') {
    return absl::StartsWith(signal, pattern.substr(0, pattern.size() - 1));
  }
  return signal == pattern;
}

}  // namespace dynclamp::rt
