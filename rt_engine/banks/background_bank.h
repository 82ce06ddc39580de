// BackgroundBank: every point-conductance background of a model set
// (Destexhe et al. 2001; circuit_spec.h). Each conductance is an
// Ornstein-Uhlenbeck process (xe, xi) with the exact update for the step,
// rectified at 0 (ge, gi) so that it never turns into a reversed current;
// the process itself is left unbounded, so its mean and SD are the
// parameters' and the delivered ones those of a rectified Gaussian.
//
// Threads: Validate, Build and AddSignals are non-RT; Initialize, Step,
// Advance, Apply and Read are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_BACKGROUND_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_BACKGROUND_BANK_H_

#include <algorithm>
#include <cmath>
#include <vector>

#include "rt_engine/banks/bank.h"
#include "rt_engine/base/random.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {

namespace background_bank {
struct Runtime {
  BackgroundSpec p;       // live rows change here
  double xe = 0, xi = 0;  // the OU processes (nS)
  double ge = 0, gi = 0;  // the conductances delivered: max(0, x)
  double i_pa = 0;
  double decay_e = 0, decay_i = 0, noise_e = 0, noise_i = 0;
  Rng rng;
  // The noise coefficients from the SDs (live) and the decays.
  void Refresh() noexcept;
};
}  // namespace background_bank

class BackgroundBank
    : public SpecBank<background_bank::Runtime, kBackgroundParams> {
 public:
  static constexpr absl::string_view kList = "backgrounds";
  static constexpr CellField<Spec> kCells[] = {{&Spec::cell, "cell"}};
  static constexpr SignalDesc kSignals[] = {
      {"ge_ns", "nS"}, {"gi_ns", "nS"}, {"i_pa", "pA"}};

  static absl::Status Validate(const std::vector<Spec>& specs,
                               SpecContext& context) {
    return ValidateSpecs<BackgroundBank>(specs, context);
  }
  void Build(const std::vector<Spec>& specs, double dt_ms);
  void AddSignals(SignalSink& sink) const;
  // RT. Before the first step: each process starts at its mean.
  void Initialize() noexcept;
  // RT. Delivers this step's conductances.
  void Step(CellSums cells) noexcept {
    for (background_bank::Runtime& b : objects_) {
      const double v = cells.v[b.p.cell];
      b.i_pa = b.ge * (b.p.e_e_mv - v) + b.gi * (b.p.e_i_mv - v);
      cells.Add(b.p.cell, b.ge, b.p.e_e_mv);
      cells.Add(b.p.cell, b.gi, b.p.e_i_mv);
    }
  }
  // RT. The processes advance to the next step.
  void Advance() noexcept {
    for (background_bank::Runtime& b : objects_) {
      b.xe = b.p.ge0_ns + (b.xe - b.p.ge0_ns) * b.decay_e +
             b.noise_e * b.rng.Normal();
      b.xi = b.p.gi0_ns + (b.xi - b.p.gi0_ns) * b.decay_i +
             b.noise_i * b.rng.Normal();
      b.ge = std::max(0.0, b.xe);
      b.gi = std::max(0.0, b.xi);
    }
  }
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_BACKGROUND_BANK_H_
