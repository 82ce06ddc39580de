#include "rt_engine/banks/gap_junction_bank.h"

namespace dynclamp::rt {

absl::Status GapJunctionBank::Validate(const std::vector<Spec>& specs,
                                       SpecContext& context) {
  return ValidateEach(
      specs, kList, context, [&](const Spec& g, const std::string& path) {
        if (auto s = context.CheckCell(g.cell_a, path, "cell_a"); !s.ok())
          return s;
        if (auto s = context.CheckCell(g.cell_b, path, "cell_b"); !s.ok())
          return s;
        if (g.cell_a == g.cell_b)
          return FieldError(path, "cell_b", "must differ from cell_a");
        return kParams.Check(g, path);
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
