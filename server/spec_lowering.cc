#include "server/spec_lowering.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rt_engine/models/channel_presets.h"

namespace dynclamp::server {
namespace {

using rt::ConductanceSpec;

absl::Status Missing(const std::string& path, absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ".", field, ": is required"));
}

absl::Status Bad(const std::string& path, absl::string_view field,
                 absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ".", field, ": ", reason));
}

absl::StatusOr<rt::Integrator> LowerIntegrator(v1::Integrator i,
                                               const std::string& path) {
  switch (i) {
    case v1::INTEGRATOR_UNSPECIFIED:
    case v1::EXP_EULER:
      return rt::Integrator::kExpEuler;
    case v1::RK4:
      return rt::Integrator::kRk4;
    case v1::FORWARD_EULER:
      return rt::Integrator::kForwardEuler;
    default:
      return Bad(path, "integrator", absl::StrCat("unknown value ", int(i)));
  }
}

absl::StatusOr<rt::RateFunction> LowerRate(const v1::RateFunction& r,
                                           const std::string& path) {
  rt::RateFunction out;
  switch (r.form()) {
    case v1::EXPONENTIAL:
      out.form = rt::RateForm::kExponential;
      break;
    case v1::SIGMOID:
      out.form = rt::RateForm::kSigmoid;
      break;
    case v1::LINOID:
      out.form = rt::RateForm::kLinoid;
      break;
    default:
      return Bad(path, "form", "is required: EXPONENTIAL, SIGMOID or LINOID");
  }
  if (!r.has_rate_per_ms()) return Missing(path, "rate_per_ms");
  if (!r.has_v_half_mv()) return Missing(path, "v_half_mv");
  if (!r.has_slope_mv()) return Missing(path, "slope_mv");
  out.rate_per_ms = r.rate_per_ms();
  out.v_half_mv = r.v_half_mv();
  out.slope_mv = r.slope_mv();
  return out;
}

absl::StatusOr<rt::GateSpec> LowerGate(const v1::Gate& g,
                                       const std::string& path) {
  rt::GateSpec out;
  if (g.name().empty()) return Missing(path, "name");
  out.name = g.name();
  out.power =
      g.has_power() ? static_cast<int>(std::min<uint32_t>(g.power(), 1000)) : 1;
  if (g.has_q10()) out.q10 = g.q10();
  if (g.has_q10_ref_celsius()) out.q10_ref_celsius = g.q10_ref_celsius();
  out.tau_min_ms = g.tau_min_ms();
  switch (g.kinetics_case()) {
    case v1::Gate::kAlphaBeta: {
      const std::string p = path + ".alpha_beta";
      if (!g.alpha_beta().has_alpha()) return Missing(p, "alpha");
      if (!g.alpha_beta().has_beta()) return Missing(p, "beta");
      auto a = LowerRate(g.alpha_beta().alpha(), p + ".alpha");
      if (!a.ok()) return a.status();
      auto b = LowerRate(g.alpha_beta().beta(), p + ".beta");
      if (!b.ok()) return b.status();
      out.kinetics = rt::AlphaBeta{*a, *b};
      break;
    }
    case v1::Gate::kInfTau: {
      const v1::InfTau& it = g.inf_tau();
      const std::string p = path + ".inf_tau";
      if (!it.has_inf_v_half_mv()) return Missing(p, "inf_v_half_mv");
      if (!it.has_inf_slope_mv()) return Missing(p, "inf_slope_mv");
      rt::InfTau k;
      k.inf_v_half_mv = it.inf_v_half_mv();
      k.inf_slope_mv = it.inf_slope_mv();
      switch (it.tau_case()) {
        case v1::InfTau::kTauMs:
          k.tau_form = rt::TauForm::kConstant;
          k.tau_ms = it.tau_ms();
          break;
        case v1::InfTau::kTauBell: {
          const v1::TauBell& b = it.tau_bell();
          const std::string bp = p + ".tau_bell";
          if (!b.has_amplitude_ms()) return Missing(bp, "amplitude_ms");
          if (!b.has_v_center_mv()) return Missing(bp, "v_center_mv");
          if (!b.has_slope_rise_mv()) return Missing(bp, "slope_rise_mv");
          if (!b.has_slope_fall_mv()) return Missing(bp, "slope_fall_mv");
          k.tau_form = rt::TauForm::kBell;
          k.bell = {b.base_ms(), b.amplitude_ms(), b.v_center_mv(),
                    b.slope_rise_mv(), b.slope_fall_mv()};
          break;
        }
        case v1::InfTau::kTauTable:
          k.tau_form = rt::TauForm::kTable;
          k.table_v_mv.assign(it.tau_table().v_mv().begin(),
                              it.tau_table().v_mv().end());
          k.table_tau_ms.assign(it.tau_table().tau_ms().begin(),
                                it.tau_table().tau_ms().end());
          break;
        default:
          return Bad(p, "tau",
                     "one of tau_ms, tau_bell or tau_table is required");
      }
      out.kinetics = k;
      break;
    }
    case v1::Gate::kExpressions: {
      const v1::Expressions& e = g.expressions();
      const std::string p = path + ".expressions";
      const bool ab = !e.alpha().empty() || !e.beta().empty();
      const bool it = !e.inf().empty() || !e.tau().empty();
      if (ab && it) {
        return Bad(p, "alpha",
                   "give either alpha and beta, or inf and tau, not both");
      }
      if (ab) {
        if (e.alpha().empty()) return Missing(p, "alpha");
        if (e.beta().empty()) return Missing(p, "beta");
        out.kinetics = rt::ExpressionRates{true, e.alpha(), e.beta()};
      } else {
        if (e.inf().empty()) return Missing(p, "inf");
        if (e.tau().empty()) return Missing(p, "tau");
        out.kinetics = rt::ExpressionRates{false, e.inf(), e.tau()};
      }
      break;
    }
    default:
      return Bad(path, "kinetics",
                 "one of alpha_beta, inf_tau or expressions is required");
  }
  return out;
}

absl::StatusOr<rt::HhChannel::Params> LowerHh(const v1::HhChannel& h,
                                              const std::string& path) {
  rt::HhChannel::Params p;
  if (!h.has_g_max_ns()) return Missing(path, "g_max_ns");
  if (!h.has_e_rev_mv()) return Missing(path, "e_rev_mv");
  p.g_max_ns = h.g_max_ns();
  p.e_rev_mv = h.e_rev_mv();
  if (h.has_celsius()) p.celsius = h.celsius();
  auto integrator = LowerIntegrator(h.integrator(), path);
  if (!integrator.ok()) return integrator.status();
  p.integrator = *integrator;
  if (h.gates().empty()) return Missing(path, "gates");
  for (int i = 0; i < h.gates_size(); ++i) {
    const std::string gp = absl::StrCat(
        path, ".gates[", i, "]", h.gates(i).name().empty() ? "" : " (",
        h.gates(i).name(), h.gates(i).name().empty() ? "" : ")");
    auto g = LowerGate(h.gates(i), gp);
    if (!g.ok()) return g.status();
    p.gates.push_back(*std::move(g));
  }
  if (h.has_table()) {
    if (h.table().has_v_min_mv()) p.table.v_min_mv = h.table().v_min_mv();
    if (h.table().has_v_max_mv()) p.table.v_max_mv = h.table().v_max_mv();
    if (h.table().has_dv_mv()) p.table.dv_mv = h.table().dv_mv();
  }
  return p;
}

absl::StatusOr<rt::LigandGated::Params> LowerLigand(
    const v1::LigandGatedConductance& l, const std::string& path) {
  rt::LigandGated::Params p;
  switch (l.mode()) {
    case v1::LigandGatedConductance::MODE_UNSPECIFIED:
    case v1::LigandGatedConductance::TRIGGERED:
      p.mode = rt::LigandGated::Mode::kTriggered;
      break;
    case v1::LigandGatedConductance::CONTINUOUS:
      p.mode = rt::LigandGated::Mode::kContinuous;
      break;
    default:
      return Bad(path, "mode", "must be TRIGGERED or CONTINUOUS");
  }
  if (!l.has_g_max_ns()) return Missing(path, "g_max_ns");
  if (!l.has_e_rev_mv()) return Missing(path, "e_rev_mv");
  if (!l.has_tau_rise_ms()) return Missing(path, "tau_rise_ms");
  if (!l.has_tau_decay_ms()) return Missing(path, "tau_decay_ms");
  p.g_max_ns = l.g_max_ns();
  p.e_rev_mv = l.e_rev_mv();
  p.tau_rise_ms = l.tau_rise_ms();
  p.tau_decay_ms = l.tau_decay_ms();
  p.onset_ms = l.has_onset_ms() ? l.onset_ms() : -1.0;
  p.interval_ms = l.interval_ms();
  p.duration_ms = l.duration_ms();
  p.applied = l.applied() ? 1.0 : 0.0;
  if (l.has_onset_ms() && l.onset_ms() < 0) {
    return Bad(path, "onset_ms", "must be >= 0 (leave it out for no schedule)");
  }
  return p;
}

absl::StatusOr<rt::ConductanceModel> LowerPreset(const v1::PresetChannel& pc,
                                                 const std::string& path) {
  if (pc.preset().empty()) return Missing(path, "preset");
  auto preset = rt::MakePreset(pc.preset());
  if (!preset.ok()) {
    std::vector<std::string> names;
    for (const auto& info : rt::ListPresets()) names.emplace_back(info.name);
    return Bad(path, "preset",
               absl::StrCat("no preset named '", pc.preset(),
                            "' (known: ", absl::StrJoin(names, ", "), ")"));
  }
  if (auto* hh = std::get_if<rt::HhChannel::Params>(&*preset)) {
    if (pc.has_g_max_ns()) hh->g_max_ns = pc.g_max_ns();
    if (pc.has_e_rev_mv()) hh->e_rev_mv = pc.e_rev_mv();
    auto integrator = LowerIntegrator(pc.integrator(), path);
    if (!integrator.ok()) return integrator.status();
    hh->integrator = *integrator;
    return rt::ConductanceModel(*std::move(hh));
  }
  auto c = std::get<rt::ConstantConductance::Params>(*preset);
  if (pc.has_g_max_ns()) c.g_ns = pc.g_max_ns();
  if (pc.has_e_rev_mv()) c.e_rev_mv = pc.e_rev_mv();
  return rt::ConductanceModel(c);
}

}  // namespace

absl::StatusOr<rt::ModelSetSpec> LowerSpec(
    const v1::Spec& spec, const std::vector<std::string>& cell_names) {
  rt::ModelSetSpec out;
  for (int k = 0; k < spec.conductances_size(); ++k) {
    const v1::Conductance& c = spec.conductances(k);
    std::string path = absl::StrCat("conductances[", k, "]");
    if (c.name().empty()) return Missing(path, "name");
    absl::StrAppend(&path, " (", c.name(), ")");
    ConductanceSpec cs;
    cs.name = c.name();
    if (c.cell().empty()) return Missing(path, "cell");
    const auto it = std::find(cell_names.begin(), cell_names.end(), c.cell());
    if (it == cell_names.end()) {
      return Bad(path, "cell",
                 absl::StrCat("no cell named '", c.cell(), "' (the rig has ",
                              absl::StrJoin(cell_names, ", "), ")"));
    }
    cs.cell = static_cast<int>(it - cell_names.begin());
    switch (c.model_case()) {
      case v1::Conductance::kConstant: {
        const std::string p = path + ".constant";
        if (!c.constant().has_g_ns()) return Missing(p, "g_ns");
        if (!c.constant().has_e_rev_mv()) return Missing(p, "e_rev_mv");
        cs.model = rt::ConstantConductance::Params{c.constant().g_ns(),
                                                   c.constant().e_rev_mv()};
        break;
      }
      case v1::Conductance::kLigandGated: {
        auto p = LowerLigand(c.ligand_gated(), path + ".ligand_gated");
        if (!p.ok()) return p.status();
        cs.model = *p;
        break;
      }
      case v1::Conductance::kHh: {
        auto p = LowerHh(c.hh(), path + ".hh");
        if (!p.ok()) return p.status();
        cs.model = *std::move(p);
        break;
      }
      case v1::Conductance::kPreset: {
        auto m = LowerPreset(c.preset(), path + ".preset");
        if (!m.ok()) return m.status();
        cs.model = *std::move(m);
        break;
      }
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": one of constant, ligand_gated, hh or preset is required"));
    }
    out.conductances.push_back(std::move(cs));
  }
  return out;
}

}  // namespace dynclamp::server
