#include "rt_engine/models/hh_channel.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/base/names.h"

namespace dynclamp::rt {

absl::Status HhChannel::Validate(const Params& p, absl::string_view path) {
  if (auto s = kParams.Check(p, path); !s.ok()) return s;
  if (p.gates.empty() || p.gates.size() > kMaxGates) {
    return FieldError(path, "gates",
                      absl::StrFormat("must have 1 to %d gates, got %d",
                                      kMaxGates, p.gates.size()));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < p.gates.size(); ++i) {
    const GateSpec& g = p.gates[i];
    const std::string gpath = absl::StrCat(path, ".gates[", i, "]");
    if (auto s = CheckName(g.name, gpath, "name"); !s.ok()) return s;
    if (!names.insert(g.name).second) {
      return FieldError(gpath, "name",
                        absl::StrCat("'", g.name, "' is used by another gate"));
    }
    if (g.power < 0 || g.power > 8) {
      return FieldError(
          gpath, "power",
          absl::StrFormat("must be an integer in [0, 8], got %d", g.power));
    }
  }
  return ValidateTableRange(p.table, absl::StrCat(path, ".table"));
}

absl::StatusOr<std::vector<std::shared_ptr<const RateTable>>>
HhChannel::BuildTables(const Params& p, double dt_ms, absl::string_view path,
                       RateTableCache& cache) {
  std::vector<std::shared_ptr<const RateTable>> tables;
  for (std::size_t i = 0; i < p.gates.size(); ++i) {
    std::string gpath =
        absl::StrCat(path, ".gates[", i, "] (", p.gates[i].name, ")");
    absl::StatusOr<std::shared_ptr<const RateTable>> table = cache.GetOrBuild(
        p.gates[i], p.celsius, p.table, p.integrator, dt_ms, std::move(gpath));
    if (!table.ok()) return table.status();
    tables.push_back(*std::move(table));
  }
  return tables;
}

namespace {

template <Integrator kMethod>
double StepGatesWith(double dt, std::span<const HhChannel::GateRuntime> gates,
                     std::span<double> state, double v) noexcept {
  double product = 1.0;
  for (std::size_t i = 0; i < gates.size(); ++i) {
    const RateTable::Entry e = gates[i].table->Lookup(v);
    double x = state[i];
    if constexpr (kMethod == Integrator::kExpEuler) {
      // The table holds exp(-dt_table/tau); another step scales the exponent.
      const double table_dt = gates[i].table->dt_ms();
      const double decay =
          dt == table_dt ? e.coef : std::pow(e.coef, dt / table_dt);
      x = e.inf + (x - e.inf) * decay;
    } else if constexpr (kMethod == Integrator::kForwardEuler) {
      x += dt * e.coef * (e.inf - x);
    } else {
      // Classic RK4 on dx/dt = (inf - x) / tau with V held over the step.
      const double r = e.coef;
      const double k1 = r * (e.inf - x);
      const double k2 = r * (e.inf - (x + 0.5 * dt * k1));
      const double k3 = r * (e.inf - (x + 0.5 * dt * k2));
      const double k4 = r * (e.inf - (x + dt * k3));
      x += dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4);
    }
    // A gate is a fraction: unstable explicit steps must not run away.
    x = std::clamp(x, 0.0, 1.0);
    state[i] = x;
    product *= IntPow(x, gates[i].power);
  }
  return product;
}

}  // namespace

double HhChannel::StepGates(Integrator integrator, double dt_ms,
                            std::span<const GateRuntime> gates,
                            std::span<double> state, double v_mv) noexcept {
  switch (integrator) {
    case Integrator::kExpEuler:
      return StepGatesWith<Integrator::kExpEuler>(dt_ms, gates, state, v_mv);
    case Integrator::kRk4:
      return StepGatesWith<Integrator::kRk4>(dt_ms, gates, state, v_mv);
    case Integrator::kForwardEuler:
      return StepGatesWith<Integrator::kForwardEuler>(dt_ms, gates, state,
                                                      v_mv);
  }
  return 0.0;
}

double HhChannel::InitGates(std::span<const GateRuntime> gates,
                            std::span<double> state, double v_mv) noexcept {
  double product = 1.0;
  for (std::size_t i = 0; i < gates.size(); ++i) {
    state[i] = gates[i].table->Lookup(v_mv).inf;
    product *= IntPow(state[i], gates[i].power);
  }
  return product;
}

}  // namespace dynclamp::rt
