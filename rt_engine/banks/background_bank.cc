#include "rt_engine/banks/background_bank.h"

#include <algorithm>
#include <cmath>

namespace dynclamp::rt {

void BackgroundBank::Build(const std::vector<Spec>& specs, double dt_ms) {
  objects_.reserve(specs.size());
  for (const Spec& b : specs) {
    background_bank::Runtime r;
    r.p = b;
    r.decay_e = std::exp(-dt_ms / b.tau_e_ms);
    r.decay_i = std::exp(-dt_ms / b.tau_i_ms);
    r.Refresh();
    r.rng.Seed(b.seed);
    objects_.push_back(r);
  }
}

void BackgroundBank::AddSignals(SignalSink& sink) const {
  for (const background_bank::Runtime& r : objects_) {
    sink.Add(r.p.name, kSignals[0], &r.ge);
    sink.Add(r.p.name, kSignals[1], &r.gi);
    sink.Add(r.p.name, kSignals[2], &r.i_pa);
  }
}

void background_bank::Runtime::Refresh() noexcept {
  // Exact OU update: x <- x0 + (x - x0) e^{-dt/tau} + sigma
  // sqrt(1 - e^{-2dt/tau}) N.
  noise_e = p.sigma_e_ns * std::sqrt(1.0 - decay_e * decay_e);
  noise_i = p.sigma_i_ns * std::sqrt(1.0 - decay_i * decay_i);
}

void BackgroundBank::Initialize() noexcept {
  for (background_bank::Runtime& b : objects_) {
    b.ge = b.xe = b.p.ge0_ns;
    b.gi = b.xi = b.p.gi0_ns;
  }
}

}  // namespace dynclamp::rt
