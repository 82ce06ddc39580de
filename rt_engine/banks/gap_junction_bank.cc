#include "rt_engine/banks/gap_junction_bank.h"

namespace dynclamp::rt {

absl::Status GapJunctionBank::Validate(const std::vector<Spec>& specs,
                                       SpecContext& context) {
  return ValidateSpecs<GapJunctionBank>(
      specs, context, [](const Spec& g, const std::string& path) {
        return g.cell_a == g.cell_b
                   ? FieldError(path, "cell_b", "must differ from cell_a")
                   : absl::OkStatus();
      });
}

void GapJunctionBank::Build(const std::vector<Spec>& specs, double) {
  objects_.reserve(specs.size());
  for (const Spec& g : specs) objects_.push_back({g, 0.0});
}

void GapJunctionBank::AddSignals(SignalSink& sink) const {
  for (const gap_junction_bank::Runtime& r : objects_)
    sink.Add(r.p.name, kSignals[0], &r.i_a);
}

}  // namespace dynclamp::rt
