#include "rt_engine/banks/graded_synapse_bank.h"

#include <cmath>

namespace dynclamp::rt {

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
