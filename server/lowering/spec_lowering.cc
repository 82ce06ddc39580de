#include "server/lowering/spec_lowering.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rt_engine/base/names.h"
#include "rt_engine/models/channel_presets.h"
#include "server/lowering/param_fields.h"

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
  if (auto s = RequireFields(h, path, {"g_max_ns", "e_rev_mv"}); !s.ok())
    return s;
  absl::StatusOr<rt::HhChannel::Params> read =
      ReadParams(h, rt::HhChannel::kParams.rows(), {});
  if (!read.ok()) return read.status();
  rt::HhChannel::Params& p = *read;
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
  return read;
}

absl::StatusOr<rt::LigandGated::Params> LowerLigand(
    const v1::LigandGatedConductance& l, const std::string& path) {
  if (auto s = RequireFields(
          l, path, {"g_max_ns", "e_rev_mv", "tau_rise_ms", "tau_decay_ms"});
      !s.ok())
    return s;
  absl::StatusOr<rt::LigandGated::Params> read =
      ReadParams(l, rt::LigandGated::kParams.rows(), {});
  if (!read.ok()) return read.status();
  rt::LigandGated::Params& p = *read;
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
  if (l.has_onset_ms() && l.onset_ms() < 0) {
    return Bad(path, "onset_ms", "must be >= 0 (leave it out for no schedule)");
  }
  return read;
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
  switch (m.dynamics_case()) {
    case v1::ModelCell::kConductanceBased:
      break;
    case v1::ModelCell::kIzhikevich: {
      auto p = ReadParams(m.izhikevich(), rt::kIzhikevichParams.rows(), {});
      if (!p.ok()) return p.status();
      out.dynamics = *p;
      out.v_init_mv = p->vr_mv;  // unless given
      break;
    }
    case v1::ModelCell::kAdex: {
      auto p = ReadParams(m.adex(), rt::kAdexParams.rows(), {});
      if (!p.ok()) return p.status();
      out.dynamics = *p;
      out.v_init_mv = p->el_mv;  // unless given
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": one of conductance_based, izhikevich or adex is required"));
  }
  // The cell's own parameters; v_init defaults to the dynamics' rest.
  const double v_rest = std::holds_alternative<std::monostate>(out.dynamics)
                            ? rt::kModelCellParams.Defaults().v_init_mv
                            : out.v_init_mv;
  auto cell = ReadParams(m, rt::kModelCellParams.rows(), std::move(out));
  if (!cell.ok()) return cell.status();
  if (!m.has_v_init_mv()) cell->v_init_mv = v_rest;
  return cell;
}

// The sub-message set in `m`'s oneof `oneof` if its field is named `name`,
// else null.
const google::protobuf::Message* KindNamed(const google::protobuf::Message& m,
                                           absl::string_view oneof,
                                           absl::string_view name) {
  const google::protobuf::Reflection& r = *m.GetReflection();
  const google::protobuf::FieldDescriptor* f = r.GetOneofFieldDescriptor(
      m, m.GetDescriptor()->FindOneofByName(std::string(oneof)));
  return f != nullptr && f->name() == name ? &r.GetMessage(m, f) : nullptr;
}

absl::StatusOr<rt::EventSynapseParams> LowerSynapse(const v1::EventSynapse& sy,
                                                    const std::string& path) {
  for (rt::SynapseKind k : rt::kSynapseKinds) {
    const auto* kind = KindNamed(sy, "kind", rt::SynapseKindName(k));
    if (kind == nullptr) continue;
    rt::EventSynapseParams p;
    p.kind = k;
    return ReadParams(*kind, rt::EventSynapseParamTable(k), p);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      ": one of exp_syn, exp2_syn, alpha_syn, gsyn or ampa_s is required"));
}

absl::StatusOr<rt::ArtificialParams> LowerArtificial(
    const v1::ArtificialCell& a, const std::string& path) {
  for (rt::ArtificialKind k : rt::kArtificialKinds) {
    const auto* kind = KindNamed(a, "kind", rt::ArtificialKindName(k));
    if (kind == nullptr) continue;
    rt::ArtificialParams p;
    p.kind = k;
    absl::StatusOr<rt::ArtificialParams> read =
        ReadParams(*kind, rt::ArtificialParamTable(k), p);
    if (!read.ok()) return read.status();
    // The members that are not numeric parameters.
    read->spike_times_ms.assign(a.vec_stim().spike_times_ms().begin(),
                                a.vec_stim().spike_times_ms().end());
    read->seed = a.net_stim().has_seed() ? a.net_stim().seed() : 1;
    return read;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      path,
      ": one of int_fire1, int_fire2, int_fire4, vec_stim or net_stim "
      "is required"));
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
        if (auto s = RequireFields(c.constant(), path + ".constant",
                                   {"g_ns", "e_rev_mv"});
            !s.ok())
          return s;
        auto p = ReadParams(c.constant(),
                            rt::ConstantConductance::kParams.rows(), {});
        if (!p.ok()) return p.status();
        cs.model = *p;
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
    if (auto s = RequireFields(c, path, {"weight"}); !s.ok()) return s;
    auto read = ReadParams(c, rt::kConnectionParams.rows(), std::move(cs));
    if (!read.ok()) return read.status();
    out.connections.push_back(*std::move(read));
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
    if (auto s = RequireFields(g, path, {"g_max_ns", "e_rev_mv"}); !s.ok())
      return s;
    auto read = ReadParams(g, rt::kGradedSynapseParams.rows(), std::move(gs));
    if (!read.ok()) return read.status();
    out.graded_synapses.push_back(*std::move(read));
  }
  for (int k = 0; k < spec.gap_junctions_size(); ++k) {
    const v1::GapJunction& g = spec.gap_junctions(k);
    const std::string path = Named("gap_junctions", k, g.name());
    if (g.name().empty()) return Missing(path, "name");
    auto a = cell_of(g.cell_a(), path, "cell_a");
    if (!a.ok()) return a.status();
    auto b = cell_of(g.cell_b(), path, "cell_b");
    if (!b.ok()) return b.status();
    if (auto s = RequireFields(g, path, {"g_ns"}); !s.ok()) return s;
    auto read = ReadParams(g, rt::kGapJunctionParams.rows(),
                           rt::GapJunctionSpec{g.name(), *a, *b});
    if (!read.ok()) return read.status();
    out.gap_junctions.push_back(*std::move(read));
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
    bs.seed = b.has_seed() ? b.seed() : 1;
    auto read = ReadParams(b, rt::kBackgroundParams.rows(), std::move(bs));
    if (!read.ok()) return read.status();
    out.backgrounds.push_back(*std::move(read));
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
