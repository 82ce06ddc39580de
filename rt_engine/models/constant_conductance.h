// ConstantConductance: a voltage-independent conductance, I = g (E - V).
// A negative g subtracts conductance (leak subtraction, Prinz 2004 Fig. 1c).
//
// Threads: Validate() is non-RT; Current() is RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_CONSTANT_CONDUCTANCE_H_
#define DYNCLAMP_RT_ENGINE_MODELS_CONSTANT_CONDUCTANCE_H_

#include <array>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/param_info.h"
#include "rt_engine/models/param_table.h"

namespace dynclamp::rt {

struct ConstantConductance {
  struct Params {
    double g_ns = 0.0;
    double e_rev_mv = 0.0;
  };
  static constexpr ParamTable<Params, 2> kParams{std::array<Param<Params>, 2>{{
      {{"g_ns", "nS", 0.0, -1e6, 1e6, false, true,
        "conductance; negative values subtract (leak subtraction)"},
       &Params::g_ns},
      {{"e_rev_mv", "mV", 0.0, -200.0, 200.0, false, true,
        "reversal potential"},
       &Params::e_rev_mv},
  }}};

  static absl::Status Validate(const Params& p, absl::string_view path) {
    return kParams.Check(p, path);
  }

  // Injected current in pA (positive depolarizes).
  static double Current(const Params& p, double v_mv) noexcept {
    return p.g_ns * (p.e_rev_mv - v_mv);
  }
};
DYNCLAMP_PARAMS_COVER(ConstantConductance::Params, ConstantConductance::kParams,
                      0);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_CONSTANT_CONDUCTANCE_H_
