#include "rt_engine/banks/model_cell_bank.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"

namespace dynclamp::rt {
namespace {

// v_prev = v; v = (C/dt v + GE + I) / (C/dt + G), for n cells. Built twice;
// the loader picks the AVX2 build where the CPU has it.
__attribute__((target_clones("avx2", "default"))) void BackwardEuler(
    std::size_t n, const double* __restrict c_over_dt,
    const double* __restrict bias, const double* __restrict g,
    const double* __restrict ge, double* __restrict v,
    double* __restrict v_prev) noexcept {
  for (std::size_t m = 0; m < n; ++m) {
    v_prev[m] = v[m];
    v[m] = (c_over_dt[m] * v[m] + ge[m] + bias[m]) / (c_over_dt[m] + g[m]);
  }
}

}  // namespace

absl::Status ModelCellBank::Validate(const std::vector<Spec>& specs,
                                     SpecContext& context) {
  if (specs.size() > kMaxModelCells) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model_cells: at most %d, got %d", kMaxModelCells, specs.size()));
  }
  return ValidateEach(
      specs, kList, context, [](const Spec& m, const std::string& path) {
        if (auto s = kParams.Check(m, path); !s.ok()) return s;
        if (const auto* z = std::get_if<IzhikevichParams>(&m.dynamics)) {
          const std::string zpath = path + ".izhikevich";
          if (auto s = kIzhikevichParams.Check(*z, zpath); !s.ok()) return s;
          if (!(z->c_mv < z->v_peak_mv))
            return FieldError(zpath, "c_mv", "must be below v_peak_mv");
        } else if (const auto* a = std::get_if<AdexParams>(&m.dynamics)) {
          const std::string apath = path + ".adex";
          if (auto s = kAdexParams.Check(*a, apath); !s.ok()) return s;
          if (!(a->v_reset_mv < a->v_peak_mv) || !(a->vt_mv < a->v_peak_mv))
            return FieldError(apath, "v_peak_mv",
                              "must be above v_reset_mv and vt_mv");
        }
        return absl::OkStatus();
      });
}

std::size_t ModelCellBank::CountSignals(const std::vector<Spec>& specs) {
  std::size_t n = 0;
  for (const Spec& m : specs)
    n += std::size(kSignals) +
         (std::holds_alternative<std::monostate>(m.dynamics) ? 0 : 1);
  return n;
}

void ModelCellBank::Build(const std::vector<Spec>& specs, double dt_ms,
                          NetworkBank& network) {
  dt_ms_ = dt_ms;
  cells_.reserve(specs.size());
  for (const Spec& m : specs) {
    Runtime rt;
    rt.c_pf = m.capacitance_pf;
    rt.v_init = m.v_init_mv;
    bias_pa_.push_back(m.bias_pa);
    c_over_dt_.push_back(m.capacitance_pf / dt_ms);
    if (const auto* z = std::get_if<IzhikevichParams>(&m.dynamics)) {
      rt.dynamics = Runtime::Dynamics::kIzhikevich;
      rt.izh = z;
    } else if (const auto* a = std::get_if<AdexParams>(&m.dynamics)) {
      rt.dynamics = Runtime::Dynamics::kAdex;
      rt.adex = a;
    }
    if (rt.dynamics != Runtime::Dynamics::kConductance) {
      rt.spike_source = network.AddSource(m.name);
      spiking_cells_.push_back(static_cast<uint32_t>(cells_.size()));
    }
    cells_.push_back(rt);
  }
}

void ModelCellBank::AddSignals(const std::vector<Spec>& specs,
                               const double* v_prev, SignalSink& sink) const {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const std::string& name = specs[k].name;
    sink.Add(name, kSignals[0], &v_prev[k]);
    if (cells_[k].dynamics == Runtime::Dynamics::kIzhikevich)
      sink.Add(name, kIzhikevichSignal, &cells_[k].recovery);
    else if (cells_[k].dynamics == Runtime::Dynamics::kAdex)
      sink.Add(name, kAdexSignal, &cells_[k].recovery);
  }
}

void ModelCellBank::Initialize(std::span<double> v) noexcept {
  for (std::size_t m = 0; m < cells_.size(); ++m) {
    Runtime& mc = cells_[m];
    v[m] = mc.v_init;
    if (mc.dynamics == Runtime::Dynamics::kIzhikevich)
      mc.recovery = mc.izh->b_ns * (mc.v_init - mc.izh->vr_mv);
    else if (mc.dynamics == Runtime::Dynamics::kAdex)
      mc.recovery = mc.adex->a_ns * (mc.v_init - mc.adex->el_mv);
  }
}

void ModelCellBank::AdvanceAll(Cells cells, double now, NetworkBank& network,
                               StepReport& report) noexcept {
  // One plain loop over the arrays (it vectorizes); Izhikevich and AdEx
  // cells are then stepped again from V below.
  double* v = cells.v.data();
  const double* v_prev = cells.v_prev.data();
  const double* g = cells.g.data();
  const double* ge = cells.ge.data();
  BackwardEuler(cells_.size(), c_over_dt_.data(), bias_pa_.data(), g, ge, v,
                cells.v_prev.data());
  const double dt = dt_ms_;
  for (uint32_t m : spiking_cells_) {
    Runtime& mc = cells_[m];
    const double G = g[m], GE = ge[m], bias = bias_pa_[m];
    // Explicit substeps of at most 5 us with the conductance input held; a
    // spike is a reset inside the step.
    const int steps =
        std::max(1, static_cast<int>(std::ceil(dt / 0.005 - 1e-9)));
    const double h = dt / steps;
    double x = v_prev[m], u = mc.recovery;
    for (int k = 0; k < steps; ++k) {
      const double i_in = GE - G * x + bias;
      double dv, du, v_peak, v_reset, jump;  // du: of u (Izhikevich) or w
      if (mc.dynamics == Runtime::Dynamics::kIzhikevich) {
        const IzhikevichParams& z = *mc.izh;
        dv = (z.k_ns_per_mv * (x - z.vr_mv) * (x - z.vt_mv) - u + i_in) /
             mc.c_pf;
        du = z.a_per_ms * (z.b_ns * (x - z.vr_mv) - u);
        v_peak = z.v_peak_mv, v_reset = z.c_mv, jump = z.d_pa;
      } else {
        const AdexParams& a = *mc.adex;
        const double ex =
            a.gl_ns * a.delta_t_mv *
            std::exp(std::min((x - a.vt_mv) / a.delta_t_mv, 50.0));
        dv = (-a.gl_ns * (x - a.el_mv) + ex - u + i_in) / mc.c_pf;
        du = (a.a_ns * (x - a.el_mv) - u) / a.tau_w_ms;
        v_peak = a.v_peak_mv, v_reset = a.v_reset_mv, jump = a.b_pa;
      }
      x += h * dv;
      u += h * du;
      if (x >= v_peak) {
        x = v_reset;
        u += jump;
        network.Fire(mc.spike_source, now + (k + 1) * h, report);
      }
    }
    v[m] = x;
    mc.recovery = u;
  }
}

bool ModelCellBank::Apply(uint32_t index, int, double value) noexcept {
  if (index >= cells_.size()) return false;
  bias_pa_[index] = value;  // the one live row (static_assert)
  return true;
}

double ModelCellBank::Read(uint32_t index, int) const noexcept {
  return index < cells_.size() ? bias_pa_[index]
                               : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace dynclamp::rt
