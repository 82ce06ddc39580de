#include "rt_engine/banks/graded_synapse_bank.h"

#include <cmath>

namespace dynclamp::rt {

absl::Status GradedSynapseBank::Validate(const std::vector<Spec>& specs,
                                         SpecContext& context) {
  return ValidateEach(
      specs, kList, context, [&](const Spec& g, const std::string& path) {
        if (auto s = context.CheckCell(g.pre, path, "pre"); !s.ok()) return s;
        if (auto s = context.CheckCell(g.post, path, "post"); !s.ok()) return s;
        return kParams.Check(g, path);
      });
}

void GradedSynapseBank::Build(const std::vector<Spec>& specs, double dt_ms) {
  objects_.reserve(specs.size());
  for (const Spec& g : specs) {
    graded_synapse_bank::Runtime r;
    r.out.cell = static_cast<uint32_t>(g.post);
    r.p = g;
    r.decay = g.tau_ms > 0 ? std::exp(-dt_ms / g.tau_ms) : 0.0;
    objects_.push_back(r);
  }
}

void GradedSynapseBank::AddSignals(SignalSink& sink) const {
  for (const graded_synapse_bank::Runtime& r : objects_) {
    sink.Add(r.p.name, kSignals[0], &r.out.g_ns);
    sink.Add(r.p.name, kSignals[1], &r.out.i_pa);
  }
}

}  // namespace dynclamp::rt
