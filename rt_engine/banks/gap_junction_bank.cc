#include "rt_engine/banks/gap_junction_bank.h"

#include <limits>

namespace dynclamp::rt {

absl::Status GapJunctionBank::Validate(const std::vector<Spec>& specs,
                                       SpecContext& context) {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Spec& g = specs[k];
    absl::StatusOr<std::string> path = context.Claim(kList, k, g.name);
    if (!path.ok()) return path.status();
    if (auto s = context.CheckCell(g.cell_a, *path, "cell_a"); !s.ok())
      return s;
    if (auto s = context.CheckCell(g.cell_b, *path, "cell_b"); !s.ok())
      return s;
    if (g.cell_a == g.cell_b)
      return FieldError(*path, "cell_b", "must differ from cell_a");
    if (auto s = kParams.Check(g, *path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

void GapJunctionBank::Build(const std::vector<Spec>& specs, double) {
  junctions_.reserve(specs.size());
  for (const Spec& g : specs) junctions_.push_back({g, 0.0});
}

void GapJunctionBank::AddSignals(SignalSink& sink) const {
  for (const Runtime& r : junctions_) sink.Add(r.p.name, kSignals[0], &r.i_a);
}

bool GapJunctionBank::Apply(uint32_t index, int param, double value) noexcept {
  if (index >= junctions_.size()) return false;
  kParams.Set(junctions_[index].p, param, value);
  return true;
}

double GapJunctionBank::Read(uint32_t index, int param) const noexcept {
  if (index >= junctions_.size())
    return std::numeric_limits<double>::quiet_NaN();
  return kParams.Get(junctions_[index].p, param);
}

}  // namespace dynclamp::rt
