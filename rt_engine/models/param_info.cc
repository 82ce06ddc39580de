#include "rt_engine/models/param_info.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dynclamp::rt {

absl::Status FieldError(absl::string_view path, absl::string_view field,
                        absl::string_view reason) {
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", reason));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ".", field, ": ", reason));
}

absl::Status CheckParam(const ParamInfo& info, double value,
                        absl::string_view path) {
  if (!std::isfinite(value)) {
    return FieldError(
        path, info.name,
        absl::StrFormat("must be a finite number, got %g", value));
  }
  const bool below = info.min_exclusive ? value <= info.min : value < info.min;
  if (below || value > info.max) {
    return FieldError(path, info.name,
                      absl::StrFormat("must be in %s%g, %g] %s, got %g",
                                      info.min_exclusive ? "(" : "[", info.min,
                                      info.max, info.unit, value));
  }
  return absl::OkStatus();
}

int FindParam(std::span<const ParamInfo> table, absl::string_view name) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    if (table[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace dynclamp::rt
