#include "rt_engine/banks/background_bank.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dynclamp::rt {

absl::Status BackgroundBank::Validate(const std::vector<Spec>& specs,
                                      SpecContext& context) {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Spec& b = specs[k];
    absl::StatusOr<std::string> path = context.Claim(kList, k, b.name);
    if (!path.ok()) return path.status();
    if (auto s = context.CheckCell(b.cell, *path, "cell"); !s.ok()) return s;
    if (auto s = kParams.Check(b, *path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void BackgroundBank::Build(const std::vector<Spec>& specs, double dt_ms) {
  backgrounds_.reserve(specs.size());
  for (const Spec& b : specs) {
    Runtime r;
    r.p = b;
    r.decay_e = std::exp(-dt_ms / b.tau_e_ms);
    r.decay_i = std::exp(-dt_ms / b.tau_i_ms);
    r.UpdateNoise();
    r.rng.Seed(b.seed);
    backgrounds_.push_back(r);
  }
}

void BackgroundBank::AddSignals(SignalSink& sink) const {
  for (const Runtime& r : backgrounds_) {
    sink.Add(r.p.name, kSignals[0], &r.ge);
    sink.Add(r.p.name, kSignals[1], &r.gi);
    sink.Add(r.p.name, kSignals[2], &r.i_pa);
  }
}

void BackgroundBank::Runtime::UpdateNoise() noexcept {
  // Exact OU update: x <- x0 + (x - x0) e^{-dt/tau} + sigma
  // sqrt(1 - e^{-2dt/tau}) N.
  noise_e = p.sigma_e_ns * std::sqrt(1.0 - decay_e * decay_e);
  noise_i = p.sigma_i_ns * std::sqrt(1.0 - decay_i * decay_i);
}

void BackgroundBank::Initialize() noexcept {
  for (Runtime& b : backgrounds_) {
    b.ge = b.xe = b.p.ge0_ns;
    b.gi = b.xi = b.p.gi0_ns;
  }
}

bool BackgroundBank::Apply(uint32_t index, int param, double value) noexcept {
  if (index >= backgrounds_.size()) return false;
  Runtime& b = backgrounds_[index];
  kParams.Set(b.p, param, value);
  b.UpdateNoise();  // the SDs are live
  return true;
}

double BackgroundBank::Read(uint32_t index, int param) const noexcept {
  if (index >= backgrounds_.size())
    return std::numeric_limits<double>::quiet_NaN();
  return kParams.Get(backgrounds_[index].p, param);
}

}  // namespace dynclamp::rt
