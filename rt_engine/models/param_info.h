// ParamInfo: the description of one numeric model parameter (name with its
// unit, unit, default, allowed range, whether it may change live) and the
// checks that every model's Params run before anything is prepared.
//
// Threads: non-RT (validation builds absl::Status messages). The tables are
// constexpr data readable from any thread.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_PARAM_INFO_H_
#define DYNCLAMP_RT_ENGINE_MODELS_PARAM_INFO_H_

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dynclamp::rt {

struct ParamInfo {
  absl::string_view name;  // carries its unit, as on the wire: "g_max_ns"
  absl::string_view unit;  // "nS", "mV", "ms", "1"
  double default_value;
  double min;  // inclusive unless min_exclusive
  double max;  // inclusive
  bool min_exclusive = false;
  bool live = false;  // may be changed while the model set runs
  absl::string_view help = {};
};

// Returns InvalidArgument naming `path` + "." + info.name and the reason if
// `value` is not finite or outside [min, max] (or (min, max]).
absl::Status CheckParam(const ParamInfo& info, double value,
                        absl::string_view path);

// Index of `name` in `table`, or -1.
int FindParam(std::span<const ParamInfo> table, absl::string_view name);

// "<path>.<field>: <reason>" as an InvalidArgument status.
absl::Status FieldError(absl::string_view path, absl::string_view field,
                        absl::string_view reason);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_PARAM_INFO_H_
