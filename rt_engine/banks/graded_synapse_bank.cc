#include "rt_engine/banks/graded_synapse_bank.h"

#include <cmath>
#include <limits>

namespace dynclamp::rt {

absl::Status GradedSynapseBank::Validate(const std::vector<Spec>& specs,
                                         SpecContext& context) {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Spec& g = specs[k];
    absl::StatusOr<std::string> path = context.Claim(kList, k, g.name);
    if (!path.ok()) return path.status();
    if (auto s = context.CheckCell(g.pre, *path, "pre"); !s.ok()) return s;
    if (auto s = context.CheckCell(g.post, *path, "post"); !s.ok()) return s;
    if (auto s = kParams.Check(g, *path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void GradedSynapseBank::Build(const std::vector<Spec>& specs, double dt_ms) {
  synapses_.reserve(specs.size());
  for (const Spec& g : specs) {
    Runtime r;
    r.out.cell = static_cast<uint32_t>(g.post);
    r.p = g;
    r.decay = g.tau_ms > 0 ? std::exp(-dt_ms / g.tau_ms) : 0.0;
    synapses_.push_back(r);
  }
}

void GradedSynapseBank::AddSignals(SignalSink& sink) const {
  for (const Runtime& r : synapses_) {
    sink.Add(r.p.name, kSignals[0], &r.out.g_ns);
    sink.Add(r.p.name, kSignals[1], &r.out.i_pa);
  }
}

bool GradedSynapseBank::Apply(uint32_t index, int param,
                              double value) noexcept {
  if (index >= synapses_.size()) return false;
  kParams.Set(synapses_[index].p, param, value);
  return true;
}

double GradedSynapseBank::Read(uint32_t index, int param) const noexcept {
  if (index >= synapses_.size())
    return std::numeric_limits<double>::quiet_NaN();
  return kParams.Get(synapses_[index].p, param);
}

}  // namespace dynclamp::rt
