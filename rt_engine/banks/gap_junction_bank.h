// GapJunctionBank: every gap junction of a model set (circuit_spec.h):
// ohmic coupling both ways, I_a = g (V_b - V_a), I_b = g (V_a - V_b).
//
// Threads: Validate, Build and AddSignals are non-RT; Step, Apply and Read
// are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_GAP_JUNCTION_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_GAP_JUNCTION_BANK_H_

#include <algorithm>
#include <cmath>
#include <vector>

#include "rt_engine/banks/bank.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {

namespace gap_junction_bank {
struct Runtime {
  GapJunctionSpec p;  // live rows change here
  double i_a = 0;
};
}  // namespace gap_junction_bank

class GapJunctionBank
    : public SpecBank<gap_junction_bank::Runtime, kGapJunctionParams> {
 public:
  static constexpr absl::string_view kList = "gap_junctions";
  static constexpr CellField<Spec> kCells[] = {{&Spec::cell_a, "cell_a"},
                                               {&Spec::cell_b, "cell_b"}};
  // The current into cell_a (cell_b receives its negative).
  static constexpr SignalDesc kSignals[] = {{"i_pa", "pA"}};

  static absl::Status Validate(const std::vector<Spec>& specs,
                               SpecContext& context);
  void Build(const std::vector<Spec>& specs, double dt_ms);
  void AddSignals(SignalSink& sink) const;
  void Step(CellSums cells) noexcept {
    for (gap_junction_bank::Runtime& j : objects_) {
      const uint32_t a = j.p.cell_a, b = j.p.cell_b;
      const double g = j.p.g_ns, va = cells.v[a], vb = cells.v[b];
      j.i_a = g * (vb - va);
      cells.Add(a, g, vb);
      cells.Add(b, g, va);
    }
  }
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_GAP_JUNCTION_BANK_H_
