#include "server/lowering/spec_lowering.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/names.h"

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

}  // namespace

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

namespace {

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

namespace {

// `value` if present, else `fallback`.
double Or(bool has, double value, double fallback) {
  return has ? value : fallback;
}

absl::StatusOr<int> FindIn(const std::vector<std::string>& names,
                           const std::string& name, const std::string& path,
                           absl::string_view field, absl::string_view what) {
  if (name.empty()) return Missing(path, field);
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    return Bad(
        path, field,
        absl::StrCat(
            "no ", what, " named '", name, "'",
            names.empty()
                ? ""
                : absl::StrCat(" (known: ", absl::StrJoin(names, ", "), ")")));
  }
  return static_cast<int>(it - names.begin());
}

std::string Named(absl::string_view list, int k, const std::string& name) {
  return name.empty() ? absl::StrCat(list, "[", k, "]")
                      : absl::StrCat(list, "[", k, "] (", name, ")");
}

absl::StatusOr<rt::ModelCellSpec> LowerModelCell(const v1::ModelCell& m,
                                                 const std::string& path) {
  rt::ModelCellSpec out;
  out.name = m.name();
  out.capacitance_pf = Or(m.has_capacitance_pf(), m.capacitance_pf(), 100.0);
  out.v_init_mv = Or(m.has_v_init_mv(), m.v_init_mv(), -65.0);
  out.bias_pa = m.bias_pa();
  switch (m.dynamics_case()) {
    case v1::ModelCell::kConductanceBased:
      break;
    case v1::ModelCell::kIzhikevich: {
      const v1::Izhikevich& z = m.izhikevich();
      rt::IzhikevichParams p;
      p.k_ns_per_mv = Or(z.has_k_ns_per_mv(), z.k_ns_per_mv(), p.k_ns_per_mv);
      p.vr_mv = Or(z.has_vr_mv(), z.vr_mv(), p.vr_mv);
      p.vt_mv = Or(z.has_vt_mv(), z.vt_mv(), p.vt_mv);
      p.a_per_ms = Or(z.has_a_per_ms(), z.a_per_ms(), p.a_per_ms);
      p.b_ns = Or(z.has_b_ns(), z.b_ns(), p.b_ns);
      p.c_mv = Or(z.has_c_mv(), z.c_mv(), p.c_mv);
      p.d_pa = Or(z.has_d_pa(), z.d_pa(), p.d_pa);
      p.v_peak_mv = Or(z.has_v_peak_mv(), z.v_peak_mv(), p.v_peak_mv);
      out.dynamics = p;
      if (!m.has_v_init_mv()) out.v_init_mv = p.vr_mv;
      break;
    }
    case v1::ModelCell::kAdex: {
      const v1::Adex& a = m.adex();
      rt::AdexParams p;
      p.gl_ns = Or(a.has_gl_ns(), a.gl_ns(), p.gl_ns);
      p.el_mv = Or(a.has_el_mv(), a.el_mv(), p.el_mv);
      p.vt_mv = Or(a.has_vt_mv(), a.vt_mv(), p.vt_mv);
      p.delta_t_mv = Or(a.has_delta_t_mv(), a.delta_t_mv(), p.delta_t_mv);
      p.a_ns = Or(a.has_a_ns(), a.a_ns(), p.a_ns);
      p.tau_w_ms = Or(a.has_tau_w_ms(), a.tau_w_ms(), p.tau_w_ms);
      p.b_pa = Or(a.has_b_pa(), a.b_pa(), p.b_pa);
      p.v_reset_mv = Or(a.has_v_reset_mv(), a.v_reset_mv(), p.v_reset_mv);
      p.v_peak_mv = Or(a.has_v_peak_mv(), a.v_peak_mv(), p.v_peak_mv);
      out.dynamics = p;
      if (!m.has_v_init_mv()) out.v_init_mv = p.el_mv;
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": one of conductance_based, izhikevich or adex is required"));
  }
  return out;
}

absl::StatusOr<rt::EventSynapseParams> LowerSynapse(const v1::EventSynapse& sy,
                                                    const std::string& path) {
  rt::EventSynapseParams p;
  switch (sy.kind_case()) {
    case v1::EventSynapse::kExpSyn:
      p.kind = rt::SynapseKind::kExp;
      p.tau_ms = Or(sy.exp_syn().has_tau_ms(), sy.exp_syn().tau_ms(), 2.0);
      p.e_rev_mv = sy.exp_syn().e_rev_mv();
      break;
    case v1::EventSynapse::kExp2Syn:
      p.kind = rt::SynapseKind::kExp2;
      p.tau1_ms = Or(sy.exp2_syn().has_tau1_ms(), sy.exp2_syn().tau1_ms(), 0.5);
      p.tau2_ms = Or(sy.exp2_syn().has_tau2_ms(), sy.exp2_syn().tau2_ms(), 5.0);
      p.e_rev_mv = sy.exp2_syn().e_rev_mv();
      break;
    case v1::EventSynapse::kAlphaSyn:
      p.kind = rt::SynapseKind::kAlpha;
      p.tau_ms = Or(sy.alpha_syn().has_tau_ms(), sy.alpha_syn().tau_ms(), 2.0);
      p.e_rev_mv = sy.alpha_syn().e_rev_mv();
      break;
    case v1::EventSynapse::kGsyn: {
      const v1::GSyn& g = sy.gsyn();
      p.kind = rt::SynapseKind::kGsyn;
      p.tau1_ms = Or(g.has_tau1_ms(), g.tau1_ms(), 1.0);
      p.tau2_ms = Or(g.has_tau2_ms(), g.tau2_ms(), 1.05);
      p.gtau1_ms = Or(g.has_gtau1_ms(), g.gtau1_ms(), 20.0);
      p.gtau2_ms = Or(g.has_gtau2_ms(), g.gtau2_ms(), 21.0);
      p.ginc = Or(g.has_ginc(), g.ginc(), 1.0);
      p.e_rev_mv = g.e_rev_mv();
      break;
    }
    case v1::EventSynapse::kAmpaS: {
      const v1::AmpaS& a = sy.ampa_s();
      p.kind = rt::SynapseKind::kAmpa;
      p.cdur_ms = Or(a.has_cdur_ms(), a.cdur_ms(), 1.0);
      p.alpha_per_ms = Or(a.has_alpha_per_ms(), a.alpha_per_ms(), 1.1);
      p.beta_per_ms = Or(a.has_beta_per_ms(), a.beta_per_ms(), 0.19);
      p.e_rev_mv = a.e_rev_mv();
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path,
          ": one of exp_syn, exp2_syn, alpha_syn, gsyn or ampa_s is required"));
  }
  return p;
}

absl::StatusOr<rt::ArtificialParams> LowerArtificial(
    const v1::ArtificialCell& a, const std::string& path) {
  rt::ArtificialParams p;
  switch (a.kind_case()) {
    case v1::ArtificialCell::kIntFire1:
      p.kind = rt::ArtificialKind::kIntFire1;
      p.tau_ms = Or(a.int_fire1().has_tau_ms(), a.int_fire1().tau_ms(), 10.0);
      p.refrac_ms =
          Or(a.int_fire1().has_refrac_ms(), a.int_fire1().refrac_ms(), 5.0);
      break;
    case v1::ArtificialCell::kIntFire2:
      p.kind = rt::ArtificialKind::kIntFire2;
      p.taum_ms =
          Or(a.int_fire2().has_taum_ms(), a.int_fire2().taum_ms(), 10.0);
      p.taus_ms =
          Or(a.int_fire2().has_taus_ms(), a.int_fire2().taus_ms(), 20.0);
      p.ib = Or(a.int_fire2().has_ib(), a.int_fire2().ib(), 0.0);
      break;
    case v1::ArtificialCell::kIntFire4: {
      const v1::IntFire4& f = a.int_fire4();
      p.kind = rt::ArtificialKind::kIntFire4;
      p.taue_ms = Or(f.has_taue_ms(), f.taue_ms(), 5.0);
      p.taui1_ms = Or(f.has_taui1_ms(), f.taui1_ms(), 10.0);
      p.taui2_ms = Or(f.has_taui2_ms(), f.taui2_ms(), 20.0);
      p.taum4_ms = Or(f.has_taum_ms(), f.taum_ms(), 50.0);
      break;
    }
    case v1::ArtificialCell::kVecStim:
      p.kind = rt::ArtificialKind::kVecStim;
      p.spike_times_ms.assign(a.vec_stim().spike_times_ms().begin(),
                              a.vec_stim().spike_times_ms().end());
      break;
    case v1::ArtificialCell::kNetStim: {
      const v1::NetStim& n = a.net_stim();
      p.kind = rt::ArtificialKind::kNetStim;
      p.interval_ms = Or(n.has_interval_ms(), n.interval_ms(), 10.0);
      p.number = Or(n.has_number(), n.number(), 10.0);
      p.start_ms = Or(n.has_start_ms(), n.start_ms(), 50.0);
      p.noise = Or(n.has_noise(), n.noise(), 0.0);
      p.seed = n.has_seed() ? n.seed() : 1;
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path,
          ": one of int_fire1, int_fire2, int_fire4, vec_stim or net_stim "
          "is required"));
  }
  return p;
}

}  // namespace

absl::StatusOr<rt::ModelSetSpec> LowerSpec(
    const v1::Spec& spec, const std::vector<std::string>& real_cells) {
  rt::ModelSetSpec out;
  // Cell names: the rig's, then the model cells'.
  std::vector<std::string> cells = real_cells;
  for (int k = 0; k < spec.model_cells_size(); ++k) {
    const v1::ModelCell& m = spec.model_cells(k);
    const std::string path = Named("model_cells", k, m.name());
    if (m.name().empty()) return Missing(path, "name");
    auto lowered = LowerModelCell(m, path);
    if (!lowered.ok()) return lowered.status();
    out.model_cells.push_back(*std::move(lowered));
    cells.push_back(m.name());
  }
  auto cell_of = [&cells](const std::string& name, const std::string& path,
                          absl::string_view field) {
    return FindIn(cells, name, path, field, "cell");
  };

  for (int k = 0; k < spec.conductances_size(); ++k) {
    const v1::Conductance& c = spec.conductances(k);
    std::string path = absl::StrCat("conductances[", k, "]");
    if (c.name().empty()) return Missing(path, "name");
    absl::StrAppend(&path, " (", rt::Clipped(c.name()), ")");
    ConductanceSpec cs;
    cs.name = c.name();
    if (c.cell().empty()) return Missing(path, "cell");
    const auto it = std::find(cells.begin(), cells.end(), c.cell());
    if (it == cells.end()) {
      return Bad(path, "cell",
                 absl::StrCat("no cell named '", c.cell(), "' (the rig has ",
                              absl::StrJoin(real_cells, ", "),
                              spec.model_cells_size() > 0
                                  ? "; model cells are listed in model_cells"
                                  : "",
                              ")"));
    }
    cs.cell = static_cast<int>(it - cells.begin());
    switch (c.model_case()) {
      case v1::Conductance::kConstant: {
        cs.model_field = "constant";
        const std::string p = path + ".constant";
        if (!c.constant().has_g_ns()) return Missing(p, "g_ns");
        if (!c.constant().has_e_rev_mv()) return Missing(p, "e_rev_mv");
        cs.model = rt::ConstantConductance::Params{c.constant().g_ns(),
                                                   c.constant().e_rev_mv()};
        break;
      }
      case v1::Conductance::kLigandGated: {
        cs.model_field = "ligand_gated";
        auto p = LowerLigand(c.ligand_gated(), path + ".ligand_gated");
        if (!p.ok()) return p.status();
        cs.model = *p;
        break;
      }
      case v1::Conductance::kHh: {
        cs.model_field = "hh";
        auto p = LowerHh(c.hh(), path + ".hh");
        if (!p.ok()) return p.status();
        cs.model = *std::move(p);
        break;
      }
      case v1::Conductance::kPreset: {
        cs.model_field = "preset";
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

  std::vector<std::string> synapse_names, artificial_names;
  for (int k = 0; k < spec.synapses_size(); ++k) {
    const v1::EventSynapse& sy = spec.synapses(k);
    const std::string path = Named("synapses", k, sy.name());
    if (sy.name().empty()) return Missing(path, "name");
    rt::EventSynapseSpec es;
    es.name = sy.name();
    auto cell = cell_of(sy.cell(), path, "cell");
    if (!cell.ok()) return cell.status();
    es.cell = *cell;
    auto p = LowerSynapse(sy, path);
    if (!p.ok()) return p.status();
    es.params = *p;
    out.synapses.push_back(es);
    synapse_names.push_back(sy.name());
  }
  for (int k = 0; k < spec.artificial_cells_size(); ++k) {
    const v1::ArtificialCell& a = spec.artificial_cells(k);
    const std::string path = Named("artificial_cells", k, a.name());
    if (a.name().empty()) return Missing(path, "name");
    auto p = LowerArtificial(a, path);
    if (!p.ok()) return p.status();
    out.artificial_cells.push_back({a.name(), *std::move(p)});
    artificial_names.push_back(a.name());
  }
  for (int k = 0; k < spec.connections_size(); ++k) {
    const v1::Connection& c = spec.connections(k);
    const std::string path = Named("connections", k, c.name());
    if (c.name().empty()) return Missing(path, "name");
    rt::ConnectionSpec cs;
    cs.name = c.name();
    if (c.source().empty()) return Missing(path, "source");
    if (auto it = std::find(cells.begin(), cells.end(), c.source());
        it != cells.end()) {
      cs.source = {rt::SourceRef::Kind::kCell,
                   static_cast<int>(it - cells.begin())};
    } else if (auto it2 = std::find(artificial_names.begin(),
                                    artificial_names.end(), c.source());
               it2 != artificial_names.end()) {
      cs.source = {rt::SourceRef::Kind::kArtificial,
                   static_cast<int>(it2 - artificial_names.begin())};
    } else {
      return Bad(
          path, "source",
          absl::StrCat("no cell or artificial cell named '", c.source(), "'"));
    }
    if (c.target().empty()) return Missing(path, "target");
    if (auto it =
            std::find(synapse_names.begin(), synapse_names.end(), c.target());
        it != synapse_names.end()) {
      cs.target = {rt::TargetRef::Kind::kSynapse,
                   static_cast<int>(it - synapse_names.begin())};
    } else if (auto it2 = std::find(artificial_names.begin(),
                                    artificial_names.end(), c.target());
               it2 != artificial_names.end()) {
      cs.target = {rt::TargetRef::Kind::kArtificial,
                   static_cast<int>(it2 - artificial_names.begin())};
    } else {
      return Bad(path, "target",
                 absl::StrCat("no synapse or artificial cell named '",
                              c.target(), "'"));
    }
    if (!c.has_weight()) return Missing(path, "weight");
    cs.weight = c.weight();
    cs.delay_ms = Or(c.has_delay_ms(), c.delay_ms(), 1.0);
    cs.threshold_mv = Or(c.has_threshold_mv(), c.threshold_mv(), -20.0);
    cs.hysteresis_mv = Or(c.has_hysteresis_mv(), c.hysteresis_mv(), 10.0);
    out.connections.push_back(cs);
  }
  for (int k = 0; k < spec.graded_synapses_size(); ++k) {
    const v1::GradedSynapse& g = spec.graded_synapses(k);
    const std::string path = Named("graded_synapses", k, g.name());
    if (g.name().empty()) return Missing(path, "name");
    rt::GradedSynapseSpec gs;
    gs.name = g.name();
    auto pre = cell_of(g.pre(), path, "pre");
    if (!pre.ok()) return pre.status();
    auto post = cell_of(g.post(), path, "post");
    if (!post.ok()) return post.status();
    gs.pre = *pre;
    gs.post = *post;
    if (!g.has_g_max_ns()) return Missing(path, "g_max_ns");
    if (!g.has_e_rev_mv()) return Missing(path, "e_rev_mv");
    gs.g_max_ns = g.g_max_ns();
    gs.e_rev_mv = g.e_rev_mv();
    gs.v_half_mv = Or(g.has_v_half_mv(), g.v_half_mv(), -40.0);
    gs.slope_mv = Or(g.has_slope_mv(), g.slope_mv(), 5.0);
    gs.tau_ms = g.tau_ms();
    out.graded_synapses.push_back(gs);
  }
  for (int k = 0; k < spec.gap_junctions_size(); ++k) {
    const v1::GapJunction& g = spec.gap_junctions(k);
    const std::string path = Named("gap_junctions", k, g.name());
    if (g.name().empty()) return Missing(path, "name");
    auto a = cell_of(g.cell_a(), path, "cell_a");
    if (!a.ok()) return a.status();
    auto b = cell_of(g.cell_b(), path, "cell_b");
    if (!b.ok()) return b.status();
    if (!g.has_g_ns()) return Missing(path, "g_ns");
    out.gap_junctions.push_back({g.name(), *a, *b, g.g_ns()});
  }
  for (int k = 0; k < spec.backgrounds_size(); ++k) {
    const v1::Background& b = spec.backgrounds(k);
    const std::string path = Named("backgrounds", k, b.name());
    if (b.name().empty()) return Missing(path, "name");
    rt::BackgroundSpec bs;
    bs.name = b.name();
    auto cell = cell_of(b.cell(), path, "cell");
    if (!cell.ok()) return cell.status();
    bs.cell = *cell;
    bs.ge0_ns = Or(b.has_ge0_ns(), b.ge0_ns(), bs.ge0_ns);
    bs.sigma_e_ns = Or(b.has_sigma_e_ns(), b.sigma_e_ns(), bs.sigma_e_ns);
    bs.tau_e_ms = Or(b.has_tau_e_ms(), b.tau_e_ms(), bs.tau_e_ms);
    bs.e_e_mv = Or(b.has_e_e_mv(), b.e_e_mv(), bs.e_e_mv);
    bs.gi0_ns = Or(b.has_gi0_ns(), b.gi0_ns(), bs.gi0_ns);
    bs.sigma_i_ns = Or(b.has_sigma_i_ns(), b.sigma_i_ns(), bs.sigma_i_ns);
    bs.tau_i_ms = Or(b.has_tau_i_ms(), b.tau_i_ms(), bs.tau_i_ms);
    bs.e_i_mv = Or(b.has_e_i_mv(), b.e_i_mv(), bs.e_i_mv);
    bs.seed = b.has_seed() ? b.seed() : 1;
    out.backgrounds.push_back(bs);
  }
  if (spec.has_max_events_in_flight())
    out.max_events_in_flight = spec.max_events_in_flight();
  if (spec.published_signals_size() > 0) {
    out.published_signals = std::vector<std::string>(
        spec.published_signals().begin(), spec.published_signals().end());
  }
  return out;
}

}  // namespace dynclamp::server
