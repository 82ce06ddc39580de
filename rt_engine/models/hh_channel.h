// HhChannel: a Hodgkin-Huxley-type voltage-gated conductance with any number
// of gates, g = g_max * prod_i x_i^p_i, I = g (E - V).
//
// Each gate follows dx/dt = (x_inf(V) - x)/tau(V) with V held at the value
// read this cycle. The gate's kinetics are tabulated over V at prepare time
// (RateTable); the step interpolates and integrates with the channel's
// integrator:
//   exponential Euler (default)  x <- x_inf + (x - x_inf) exp(-dt/tau)
//   RK4                          four stages of f(x) = (x_inf - x)/tau
//   forward Euler                x <- x + dt (x_inf - x)/tau
// Gate values are kept in [0, 1]. Gates start at x_inf of the first V read.
//
// Threads: Validate() and BuildTables() are non-RT; StepGates() is RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_HH_CHANNEL_H_
#define DYNCLAMP_RT_ENGINE_MODELS_HH_CHANNEL_H_

#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/gate_kinetics.h"
#include "rt_engine/models/param_info.h"
#include "rt_engine/models/param_table.h"
#include "rt_engine/models/rate_table.h"

namespace dynclamp::rt {

struct HhChannel {
  struct Params {
    double g_max_ns = 0.0;
    double e_rev_mv = 0.0;
    double celsius = 6.3;
    Integrator integrator = Integrator::kExpEuler;
    std::vector<GateSpec> gates;
    TableRange table;
  };
  // The numeric parameters; the gates and table range are checked by
  // Validate() (integrator, gates, table: the other members).
  static constexpr ParamTable<Params, 3> kParams{std::array<Param<Params>, 3>{{
      {{"g_max_ns", "nS", 0.0, 0.0, 1e6, false, true, "maximal conductance"},
       &Params::g_max_ns},
      {{"e_rev_mv", "mV", 0.0, -200.0, 200.0, false, true,
        "reversal potential"},
       &Params::e_rev_mv},
      {{"celsius", "degC", 6.3, -10.0, 60.0, false, false,
        "temperature for the gates' q10 scaling"},
       &Params::celsius},
  }}};
  static constexpr int kMaxGates = 16;

  // Checks the scalars, the gate list (1..kMaxGates gates, unique names,
  // powers) and the table range. Kinetics are checked by BuildTables().
  static absl::Status Validate(const Params& p, absl::string_view path);

  // Tabulates each gate for `dt_ms` (through `cache`); fails naming the
  // gate, the field and the V where its kinetics are not valid.
  static absl::StatusOr<std::vector<std::shared_ptr<const RateTable>>>
  BuildTables(const Params& p, double dt_ms, absl::string_view path,
              RateTableCache& cache);

  // One gate at run time.
  struct GateRuntime {
    const RateTable* table;
    int power;
  };

  // RT. Advances every gate state by `dt_ms` at V, returns prod x^p. The
  // tables may have been built for another step (exponential Euler then
  // pays one pow() per gate).
  static double StepGates(Integrator integrator, double dt_ms,
                          std::span<const GateRuntime> gates,
                          std::span<double> state, double v_mv) noexcept;
  // RT. Sets every gate to its steady state at V, returns prod x^p.
  static double InitGates(std::span<const GateRuntime> gates,
                          std::span<double> state, double v_mv) noexcept;
};

// integrator, gates, table
DYNCLAMP_PARAMS_COVER(HhChannel::Params, HhChannel::kParams, 3);

// x^n for small non-negative integer n.
inline double IntPow(double x, int n) noexcept {
  double r = 1.0;
  for (; n > 0; --n) r *= x;
  return r;
}

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_HH_CHANNEL_H_
