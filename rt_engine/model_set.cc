#include "rt_engine/model_set.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/names.h"

namespace dynclamp::rt {
namespace {

std::span<const ParamInfo> InfoFor(const ConductanceModel& m) {
  return std::visit(
      [](const auto& p) -> std::span<const ParamInfo> {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, ConstantConductance::Params>)
          return ConstantConductance::Info();
        else if constexpr (std::is_same_v<P, LigandGated::Params>)
          return LigandGated::Info();
        else
          return HhChannel::Info();
      },
      m);
}

}  // namespace

absl::StatusOr<ConductanceSpec> PresetConductance(absl::string_view name,
                                                  absl::string_view preset,
                                                  int cell,
                                                  Integrator integrator) {
  absl::StatusOr<PresetParams> params = MakePreset(preset);
  if (!params.ok()) return params.status();
  ConductanceSpec c;
  c.name = std::string(name);
  c.cell = cell;
  if (auto* hh = std::get_if<HhChannel::Params>(&*params)) {
    hh->integrator = integrator;
    c.model = std::move(*hh);
  } else {
    c.model = std::get<ConstantConductance::Params>(*params);
  }
  return c;
}

absl::StatusOr<std::unique_ptr<ModelSet>> ModelSet::Prepare(
    const ModelSetSpec& spec, const Config& config) {
  if (!(config.dt_ms > 0) || config.dt_ms > 10.0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dt_ms: the clamp step must be in (0, 10] ms, got %g", config.dt_ms));
  }
  if (config.cell_names.empty()) {
    return absl::InvalidArgumentError("cells: the rig has no recorded cell");
  }
  auto set = std::unique_ptr<ModelSet>(new ModelSet());
  set->config_ = config;
  set->spec_ = spec;

  // 1. Validate every conductance before building anything.
  std::set<std::string> names;
  std::size_t num_gates = 0;
  std::size_t num_signals = 0;
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const ConductanceSpec& c = spec.conductances[k];
    const std::string path = absl::StrCat("conductances[", k, "]");
    if (auto s = CheckName(c.name, path, "name"); !s.ok()) return s;
    const std::string named = absl::StrCat(path, " (", c.name, ")");
    if (!names.insert(c.name).second) {
      return FieldError(named, "name", "is used by another conductance");
    }
    if (c.cell < 0 ||
        static_cast<std::size_t>(c.cell) >= config.cell_names.size()) {
      return FieldError(
          named, "cell",
          absl::StrFormat("must be a cell index in [0, %d], got %d",
                          config.cell_names.size() - 1, c.cell));
    }
    absl::Status s = std::visit(
        [&](const auto& p) -> absl::Status {
          using P = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<P, ConstantConductance::Params>) {
            num_signals += 2;
            return ConstantConductance::Validate(p, named);
          } else if constexpr (std::is_same_v<P, LigandGated::Params>) {
            num_signals += 3;
            return LigandGated::Validate(p, named);
          } else {
            num_gates += p.gates.size();
            num_signals += 2 + p.gates.size();
            return HhChannel::Validate(p, named);
          }
        },
        c.model);
    if (!s.ok()) return s;
  }
  if (num_signals > config.max_signals) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "conductances: the spec publishes %d signals but frames hold at most "
        "%d; remove conductances or configure a larger frame",
        num_signals, config.max_signals));
  }

  // 2. Build: preallocate every vector to its final size first, so the
  //    signal pointers taken below stay valid for the set's life.
  set->slots_.reserve(spec.conductances.size());
  set->gates_.reserve(num_gates);
  set->gate_state_.assign(num_gates, 0.0);
  std::size_t n_const = 0, n_lig = 0, n_hh = 0;
  for (const auto& c : spec.conductances) {
    n_const += std::holds_alternative<ConstantConductance::Params>(c.model);
    n_lig += std::holds_alternative<LigandGated::Params>(c.model);
    n_hh += std::holds_alternative<HhChannel::Params>(c.model);
  }
  set->constants_.reserve(n_const);
  set->ligands_.reserve(n_lig);
  set->hh_.reserve(n_hh);

  RateTableCache cache;
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const ConductanceSpec& c = spec.conductances[k];
    const std::string named =
        absl::StrCat("conductances[", k, "] (", c.name, ")");
    Output out;
    out.cell = static_cast<uint32_t>(c.cell);
    if (const auto* p = std::get_if<ConstantConductance::Params>(&c.model)) {
      set->slots_.push_back(
          {Kind::kConstant, uint32_t(set->constants_.size())});
      set->constants_.push_back({out, *p});
    } else if (const auto* p = std::get_if<LigandGated::Params>(&c.model)) {
      set->slots_.push_back({Kind::kLigand, uint32_t(set->ligands_.size())});
      set->ligands_.push_back(
          {out, *p, LigandGated::Prepare(*p, config.dt_ms), {}});
    } else {
      const auto& hp = std::get<HhChannel::Params>(c.model);
      absl::StatusOr<std::vector<std::shared_ptr<const RateTable>>> tables =
          HhChannel::BuildTables(hp, config.dt_ms, named, cache);
      if (!tables.ok()) return tables.status();
      HhRuntime rt;
      rt.out = out;
      rt.live = {hp.g_max_ns, hp.e_rev_mv};
      rt.integrator = hp.integrator;
      rt.first_gate = static_cast<uint32_t>(set->gates_.size());
      rt.num_gates = static_cast<uint32_t>(hp.gates.size());
      for (std::size_t g = 0; g < hp.gates.size(); ++g) {
        set->gates_.push_back({(*tables)[g].get(), hp.gates[g].power});
        if (std::find(set->tables_.begin(), set->tables_.end(), (*tables)[g]) ==
            set->tables_.end()) {
          set->tables_.push_back((*tables)[g]);
        }
      }
      set->slots_.push_back({Kind::kHh, uint32_t(set->hh_.size())});
      set->hh_.push_back(rt);
    }
  }

  // 3. Signal table, in spec order.
  set->signals_.reserve(num_signals);
  set->signal_sources_.reserve(num_signals);
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const std::string& name = spec.conductances[k].name;
    const Slot slot = set->slots_[k];
    const Output* out = nullptr;
    switch (slot.kind) {
      case Kind::kConstant:
        out = &set->constants_[slot.index].out;
        break;
      case Kind::kLigand:
        out = &set->ligands_[slot.index].out;
        break;
      case Kind::kHh:
        out = &set->hh_[slot.index].out;
        break;
    }
    set->signals_.push_back({absl::StrCat(name, ".g_ns"), "nS"});
    set->signal_sources_.push_back(&out->g_ns);
    set->signals_.push_back({absl::StrCat(name, ".i_pa"), "pA"});
    set->signal_sources_.push_back(&out->i_pa);
    if (slot.kind == Kind::kLigand) {
      set->signals_.push_back({absl::StrCat(name, ".s"), "1"});
      set->signal_sources_.push_back(&set->ligands_[slot.index].state.s);
    } else if (slot.kind == Kind::kHh) {
      const auto& hp = std::get<HhChannel::Params>(spec.conductances[k].model);
      const HhRuntime& rt = set->hh_[slot.index];
      for (uint32_t g = 0; g < rt.num_gates; ++g) {
        set->signals_.push_back(
            {absl::StrCat(name, ".", hp.gates[g].name), "1"});
        set->signal_sources_.push_back(&set->gate_state_[rt.first_gate + g]);
      }
    }
  }
  return set;
}

void ModelSet::Step(std::span<const double> v_mv,
                    std::span<double> i_pa) noexcept {
  std::fill(i_pa.begin(), i_pa.end(), 0.0);
  const double dt = config_.dt_ms;

  for (ConstantRuntime& c : constants_) {
    const double v = v_mv[c.out.cell];
    c.out.g_ns = c.params.g_ns;
    c.out.i_pa = ConstantConductance::Current(c.params, v);
    i_pa[c.out.cell] += c.out.i_pa;
  }
  for (LigandRuntime& l : ligands_) {
    const double v = v_mv[l.out.cell];
    l.out.g_ns = LigandGated::Step(l.params, l.coeffs, l.state, cycle_);
    l.out.i_pa = l.out.g_ns * (l.params.e_rev_mv - v);
    i_pa[l.out.cell] += l.out.i_pa;
  }
  for (HhRuntime& h : hh_) {
    const double v = v_mv[h.out.cell];
    const std::span<const HhChannel::GateRuntime> gates(
        gates_.data() + h.first_gate, h.num_gates);
    const std::span<double> state(gate_state_.data() + h.first_gate,
                                  h.num_gates);
    // The first step starts every gate at steady state for the V it sees.
    const double open =
        gates_initialized_
            ? HhChannel::StepGates(h.integrator, dt, gates, state, v)
            : HhChannel::InitGates(gates, state, v);
    h.out.g_ns = h.live.g_max_ns * open;
    h.out.i_pa = h.out.g_ns * (h.live.e_rev_mv - v);
    i_pa[h.out.cell] += h.out.i_pa;
  }
  gates_initialized_ = true;
  ++cycle_;
}

void ModelSet::WriteSignals(std::span<double> out) const noexcept {
  const std::size_t n = std::min(out.size(), signal_sources_.size());
  for (std::size_t k = 0; k < n; ++k) out[k] = *signal_sources_[k];
}

bool ModelSet::Apply(const ParamUpdate& u) noexcept {
  if (u.generation != config_.generation || u.conductance >= slots_.size()) {
    return false;
  }
  const Slot slot = slots_[u.conductance];
  switch (slot.kind) {
    case Kind::kConstant:
      ConstantConductance::SetLive(constants_[slot.index].params, u.param,
                                   u.value);
      break;
    case Kind::kLigand: {
      LigandRuntime& l = ligands_[slot.index];
      LigandGated::SetLive(l.params, l.state, u.param, u.value);
      break;
    }
    case Kind::kHh:
      HhChannel::SetLive(hh_[slot.index].live, u.param, u.value);
      break;
  }
  return true;
}

absl::StatusOr<ParamUpdate> ModelSet::ResolveParam(absl::string_view path,
                                                   double value) const {
  const std::size_t dot = path.rfind('.');
  if (dot == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "param: '", path, "' must have the form <conductance>.<parameter>"));
  }
  const absl::string_view name = path.substr(0, dot);
  const absl::string_view param = path.substr(dot + 1);
  for (std::size_t k = 0; k < spec_.conductances.size(); ++k) {
    const ConductanceSpec& c = spec_.conductances[k];
    if (c.name != name) continue;
    ParamUpdate u;
    u.generation = config_.generation;
    u.conductance = static_cast<uint32_t>(k);
    u.value = value;
    if (param == "trigger") {
      const auto* lp = std::get_if<LigandGated::Params>(&c.model);
      if (lp == nullptr || lp->mode != LigandGated::Mode::kTriggered) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, ": only a triggered ligand-gated conductance has a trigger"));
      }
      u.param = LigandGated::kTriggerAction;
      return u;
    }
    const std::span<const ParamInfo> info = InfoFor(c.model);
    const int index = FindParam(info, param);
    if (index < 0) {
      return absl::NotFoundError(absl::StrCat(
          path, ": conductance '", name, "' has no parameter '", param, "'"));
    }
    if (!info[index].live) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": cannot change while running; load a new spec instead"));
    }
    if (auto s = CheckParam(info[index], value, name); !s.ok()) return s;
    u.param = index;
    return u;
  }
  return absl::NotFoundError(
      absl::StrCat(path, ": no conductance named '", name, "'"));
}

}  // namespace dynclamp::rt
