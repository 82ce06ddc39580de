#include "rt_engine/banks/bank.h"

#include "absl/strings/str_format.h"
#include "rt_engine/base/names.h"

namespace dynclamp::rt {

absl::StatusOr<std::string> SpecContext::Claim(absl::string_view list,
                                               std::size_t k,
                                               const std::string& name) {
  if (auto s = CheckName(name, absl::StrCat(list, "[", k, "]"), "name");
      !s.ok())
    return s;
  const std::string path = absl::StrCat(list, "[", k, "] (", name, ")");
  if (!names_.insert(name).second) {
    return FieldError(path, "name",
                      "is used by another cell, conductance or object");
  }
  return path;
}

absl::Status SpecContext::CheckCell(int cell, absl::string_view path,
                                    absl::string_view field) const {
  if (cell >= 0 && cell < num_cells_) return absl::OkStatus();
  return FieldError(path, field,
                    absl::StrFormat("must be a cell index in [0, %d], got %d",
                                    num_cells_ - 1, cell));
}

bool SignalSink::Add(std::string name, absl::string_view unit,
                     const double* source) {
  all_.push_back(name);
  if (!publishes_(name)) return false;
  published_.push_back({std::move(name), std::string(unit), source});
  return true;
}

absl::StatusOr<int> LiveRow(std::span<const ParamInfo> info,
                            absl::string_view object, absl::string_view param,
                            double value, absl::string_view path) {
  const int row = FindParam(info, param);
  if (row < 0) {
    return absl::NotFoundError(
        absl::StrCat(path, ": '", object, "' has no parameter '", param, "'"));
  }
  if (!info[row].live) {
    return absl::FailedPreconditionError(absl::StrCat(
        path, ": cannot change while running; load a new spec instead"));
  }
  if (auto s = CheckParam(info[row], value, object); !s.ok()) return s;
  return row;
}

}  // namespace dynclamp::rt
