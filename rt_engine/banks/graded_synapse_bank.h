// GradedSynapseBank: every graded synapse of a model set (circuit_spec.h).
// Release follows the presynaptic V through a sigmoid, s_inf =
// 1 / (1 + exp((v_half - V_pre) / slope)), with first-order kinetics of
// tau (0: instantaneous); g = g_max s on the postsynaptic cell.
//
// Threads: Validate, Build, AddSignals and Resolve are non-RT; Step, Apply
// and Read are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_GRADED_SYNAPSE_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_GRADED_SYNAPSE_BANK_H_

#include <algorithm>
#include <cmath>
#include <vector>

#include "rt_engine/banks/bank.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {

namespace graded_synapse_bank {
struct Runtime {
  Output out;
  GradedSynapseSpec p;  // live rows change here
  double decay = 0, s = 0;
};
}  // namespace graded_synapse_bank

class GradedSynapseBank
    : public SpecBank<graded_synapse_bank::Runtime, kGradedSynapseParams> {
 public:
  static constexpr absl::string_view kList = "graded_synapses";
  static constexpr CellField<Spec> kCells[] = {{&Spec::pre, "pre"},
                                               {&Spec::post, "post"}};
  static constexpr SignalDesc kSignals[] = {{"g_ns", "nS"}, {"i_pa", "pA"}};

  static absl::Status Validate(const std::vector<Spec>& specs,
                               SpecContext& context) {
    return ValidateSpecs<GradedSynapseBank>(specs, context);
  }
  void Build(const std::vector<Spec>& specs, double dt_ms);
  void AddSignals(SignalSink& sink) const;
  // RT. `first`: the first step after loading (release starts at s_inf).
  // (Inline, as every bank's step is: an empty bank costs nothing.)
  void Step(CellSums cells, bool first) noexcept {
    for (graded_synapse_bank::Runtime& g : objects_) {
      const double s_inf =
          1.0 /
          (1.0 + std::exp((g.p.v_half_mv - cells.v[g.p.pre]) / g.p.slope_mv));
      if (g.decay == 0.0 || first) g.s = s_inf;
      cells.Deliver(g.out, g.p.g_max_ns * g.s, g.p.e_rev_mv);
      if (g.decay > 0.0) g.s = s_inf + (g.s - s_inf) * g.decay;  // next step
    }
  }
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_GRADED_SYNAPSE_BANK_H_
