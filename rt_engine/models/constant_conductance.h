// ConstantConductance: a voltage-independent conductance, I = g (E - V).
// A negative g subtracts conductance (leak subtraction, Prinz 2004 Fig. 1c).
//
// Threads: Validate() is non-RT; Current() and SetLive() are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_CONSTANT_CONDUCTANCE_H_
#define DYNCLAMP_RT_ENGINE_MODELS_CONSTANT_CONDUCTANCE_H_

#include <span>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

struct ConstantConductance {
  struct Params {
    double g_ns = 0.0;
    double e_rev_mv = 0.0;
  };
  enum ParamIndex { kGNs = 0, kERevMv = 1 };
  static constexpr ParamInfo kParamInfo[] = {
      {"g_ns", "nS", 0.0, -1e6, 1e6, false, true,
       "conductance; negative values subtract (leak subtraction)"},
      {"e_rev_mv", "mV", 0.0, -200.0, 200.0, false, true, "reversal potential"},
  };
  static std::span<const ParamInfo> Info() { return kParamInfo; }

  static absl::Status Validate(const Params& p, absl::string_view path) {
    if (auto s = CheckParam(kParamInfo[kGNs], p.g_ns, path); !s.ok()) return s;
    return CheckParam(kParamInfo[kERevMv], p.e_rev_mv, path);
  }

  // Injected current in pA (positive depolarizes).
  static double Current(const Params& p, double v_mv) noexcept {
    return p.g_ns * (p.e_rev_mv - v_mv);
  }

  // RT. `value` was range-checked when the update was resolved.
  static void SetLive(Params& p, int param, double value) noexcept {
    if (param == kGNs) p.g_ns = value;
    if (param == kERevMv) p.e_rev_mv = value;
  }
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_CONSTANT_CONDUCTANCE_H_
