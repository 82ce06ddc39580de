#include "rt_engine/names.h"

#include "absl/strings/ascii.h"
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

absl::Status CheckName(absl::string_view name, absl::string_view path,
                       absl::string_view field) {
  if (IsValidName(name)) return absl::OkStatus();
  return FieldError(
      path, field,
      absl::StrCat("'", name,
                   "' is not a valid name (a letter or '_', then letters, "
                   "digits or '_', at most 64 characters)"));
}

}  // namespace dynclamp::rt
