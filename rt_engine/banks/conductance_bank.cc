#include "rt_engine/banks/conductance_bank.h"

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "rt_engine/models/channel_presets.h"

namespace dynclamp::rt {
namespace {

// "conductances[k] (name).ligand_gated": where an error in its model's
// parameters is, as the user wrote the spec.
std::string ConductancePath(std::size_t k, const ConductanceSpec& c) {
  std::string path = absl::StrCat("conductances[", k, "] (", c.name, ")");
  if (!c.model_field.empty()) absl::StrAppend(&path, ".", c.model_field);
  return path;
}

std::span<const ParamInfo> InfoFor(const ConductanceModel& m) {
  return std::visit(
      [](const auto& p) -> std::span<const ParamInfo> {
        using P = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<P, ConstantConductance::Params>)
          return ConstantConductance::kParams.info();
        else if constexpr (std::is_same_v<P, LigandGated::Params>)
          return LigandGated::kParams.info();
        else
          return HhChannel::kParams.info();
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

absl::Status ConductanceBank::Validate(const std::vector<Spec>& specs,
                                       SpecContext& context) {
  return ValidateEach(
      specs, kList, context, [&](const Spec& c, const std::string& named) {
        if (auto s = context.CheckCell(c.cell, named, "cell"); !s.ok())
          return s;
        const std::string path =
            c.model_field.empty() ? named : named + "." + c.model_field;
        return std::visit(
            [&](const auto& p) -> absl::Status {
              using P = std::decay_t<decltype(p)>;
              if constexpr (std::is_same_v<P, ConstantConductance::Params>)
                return ConstantConductance::Validate(p, path);
              else if constexpr (std::is_same_v<P, LigandGated::Params>)
                return LigandGated::Validate(p, path);
              else
                return HhChannel::Validate(p, path);
            },
            c.model);
      });
}

std::size_t ConductanceBank::CountSignals(const std::vector<Spec>& specs) {
  std::size_t n = 0;
  for (const Spec& c : specs) {
    n += std::size(kSignals);
    if (std::holds_alternative<LigandGated::Params>(c.model)) ++n;
    if (const auto* hp = std::get_if<HhChannel::Params>(&c.model))
      n += hp->gates.size();
  }
  return n;
}

absl::Status ConductanceBank::Build(
    const std::vector<Spec>& specs, double dt_ms, std::size_t num_real_cells,
    CellSums sums, const std::function<bool(const std::string&)>& publishes) {
  sums_ = sums;
  const std::size_t num_cells = sums.v.size();
  // Tables for every HH channel (this is where kinetics are checked),
  // shared between identical gates.
  RateTableCache cache;
  std::vector<std::vector<std::shared_ptr<const RateTable>>> tables(
      specs.size());
  std::size_t n_gates = 0;  // of channels on real cells
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Spec& c = specs[k];
    if (const auto* hp = std::get_if<HhChannel::Params>(&c.model)) {
      absl::StatusOr<std::vector<std::shared_ptr<const RateTable>>> t =
          HhChannel::BuildTables(*hp, dt_ms, ConductancePath(k, c), cache);
      if (!t.ok()) return t.status();
      tables[k] = *std::move(t);
      if (c.cell < static_cast<int>(num_real_cells))
        n_gates += hp->gates.size();
    }
  }
  auto outputs_published = [&](const std::string& name) {
    return publishes(absl::StrCat(name, ".", kSignals[0].suffix)) ||
           publishes(absl::StrCat(name, ".", kSignals[1].suffix));
  };
  std::vector<HhCellBatch::ChannelSpec> batched;
  gates_.reserve(n_gates);
  gate_state_.assign(n_gates, 0.0);
  slots_.reserve(specs.size());
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Spec& c = specs[k];
    Output out;
    out.cell = static_cast<uint32_t>(c.cell);
    if (const auto* p = std::get_if<ConstantConductance::Params>(&c.model)) {
      ConstantRuntime rt{out, *p};
      if (out.cell >= num_real_cells) {
        // On a model cell: a channel without gates in the batch, so the
        // cell's sums need no visit of their own.
        HhCellBatch::ChannelSpec b;
        b.path = ConductancePath(k, c);
        b.cell = out.cell;
        b.g_max_ns = p->g_ns;
        b.e_rev_mv = p->e_rev_mv;
        rt.batch = static_cast<uint32_t>(batched.size());
        batched.push_back(std::move(b));
        if (outputs_published(c.name))
          constants_batched_outputs_.push_back(
              static_cast<uint32_t>(constants_.size()));
      } else {
        constants_clamped_.push_back(static_cast<uint32_t>(constants_.size()));
      }
      slots_.push_back({Kind::kConstant, uint32_t(constants_.size())});
      constants_.push_back(rt);
    } else if (const auto* p = std::get_if<LigandGated::Params>(&c.model)) {
      slots_.push_back({Kind::kLigand, uint32_t(ligands_.size())});
      ligands_.push_back({out, *p, LigandGated::Prepare(*p, dt_ms), {}});
    } else {
      const auto& hp = std::get<HhChannel::Params>(c.model);
      HhRuntime rt;
      rt.out = out;
      rt.params = hp;
      rt.num_gates = static_cast<uint32_t>(hp.gates.size());
      for (std::size_t g = 0; g < hp.gates.size(); ++g) {
        if (std::find(tables_.begin(), tables_.end(), tables[k][g]) ==
            tables_.end())
          tables_.push_back(tables[k][g]);
      }
      if (out.cell < num_real_cells) {
        rt.first_gate = static_cast<uint32_t>(gates_.size());
        for (std::size_t g = 0; g < hp.gates.size(); ++g)
          gates_.push_back({tables[k][g].get(), hp.gates[g].power});
        hh_clamped_.push_back(static_cast<uint32_t>(hh_.size()));
      } else {
        HhCellBatch::ChannelSpec b;
        b.path = ConductancePath(k, c);
        b.cell = out.cell;
        for (std::size_t g = 0; g < hp.gates.size(); ++g) {
          b.tables.push_back(tables[k][g].get());
          b.powers.push_back(hp.gates[g].power);
        }
        b.g_max_ns = hp.g_max_ns;
        b.e_rev_mv = hp.e_rev_mv;
        rt.batch = static_cast<uint32_t>(batched.size());
        batched.push_back(std::move(b));
        if (outputs_published(c.name))
          hh_batched_outputs_.push_back(static_cast<uint32_t>(hh_.size()));
      }
      slots_.push_back({Kind::kHh, uint32_t(hh_.size())});
      hh_.push_back(std::move(rt));
    }
  }
  absl::StatusOr<HhCellBatch> batch = HhCellBatch::Build(batched);
  if (!batch.ok()) return batch.status();
  batch_ = *std::move(batch);
  std::size_t next = 0;  // cells [next, c) are not in the batch
  for (uint32_t c : batch_.Cells()) {
    if (c > next) unbatched_cells_.push_back({next, c});
    next = c + 1;
  }
  if (num_cells > next) unbatched_cells_.push_back({next, num_cells});
  return absl::OkStatus();
}

const Output& ConductanceBank::OutputOf(Slot slot) const {
  switch (slot.kind) {
    case Kind::kConstant:
      return constants_[slot.index].out;
    case Kind::kLigand:
      return ligands_[slot.index].out;
    case Kind::kHh:
      break;
  }
  return hh_[slot.index].out;
}

void ConductanceBank::AddSignals(const std::vector<Spec>& specs,
                                 SignalSink& sink) const {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const std::string& name = specs[k].name;
    const Slot slot = slots_[k];
    const Output& out = OutputOf(slot);
    sink.Add(name, kSignals[0], &out.g_ns);
    sink.Add(name, kSignals[1], &out.i_pa);
    if (slot.kind == Kind::kLigand) {
      sink.Add(name, kLigandSignal, &ligands_[slot.index].state.s);
    } else if (slot.kind == Kind::kHh) {
      const HhRuntime& rt = hh_[slot.index];
      for (uint32_t g = 0; g < rt.num_gates; ++g)
        sink.Add(name, {rt.params.gates[g].name, "1"},
                 rt.batch == UINT32_MAX ? &gate_state_[rt.first_gate + g]
                                        : batch_.gate_value(rt.batch, g));
    }
  }
}

std::optional<absl::StatusOr<LiveRef>> ConductanceBank::Resolve(
    const std::vector<Spec>& specs, absl::string_view name,
    absl::string_view param, double value, absl::string_view path) {
  for (std::size_t k = 0; k < specs.size(); ++k) {
    const Spec& c = specs[k];
    if (c.name != name) continue;
    if (param == "trigger") {
      const auto* lp = std::get_if<LigandGated::Params>(&c.model);
      if (lp == nullptr || lp->mode != LigandGated::Mode::kTriggered) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, ": only a triggered ligand-gated conductance has a trigger"));
      }
      return LiveRef{static_cast<uint32_t>(k), LigandGated::kTriggerAction};
    }
    absl::StatusOr<int> row =
        LiveRow(InfoFor(c.model), name, param, value, path);
    if (!row.ok()) return row.status();
    return LiveRef{static_cast<uint32_t>(k), *row};
  }
  return std::nullopt;
}

void ConductanceBank::Initialize(CellSums cells) noexcept {
  batch_.Init(cells.v, {cells.g, cells.ge});
  for (uint32_t k : hh_clamped_) {
    HhRuntime& h = hh_[k];
    HhChannel::InitGates({gates_.data() + h.first_gate, h.num_gates},
                         {gate_state_.data() + h.first_gate, h.num_gates},
                         cells.v[h.out.cell]);
  }
}

void ConductanceBank::Step(CellSums cells, bool first, double elapsed_ms,
                           int64_t cycle) noexcept {
  // The batch's cells start from its sums (written with their gates at
  // the end of the last step, or by a live change since); every other cell
  // from zero.
  for (const auto& [begin, end] : unbatched_cells_) {
    std::fill(&cells.g[begin], &cells.g[end], 0.0);
    std::fill(&cells.ge[begin], &cells.ge[end], 0.0);
  }
  for (uint32_t k : constants_clamped_) {
    ConstantRuntime& c = constants_[k];
    cells.Deliver(c.out, c.params.g_ns, c.params.e_rev_mv);
  }
  for (LigandRuntime& l : ligands_) {
    cells.Deliver(l.out, LigandGated::Step(l.params, l.coeffs, l.state, cycle),
                  l.params.e_rev_mv);
  }
  for (uint32_t k : hh_clamped_) {
    // On a real cell the gates see the V just read, then the current
    // follows from them (first step: steady state).
    HhRuntime& h = hh_[k];
    const std::span<const HhChannel::GateRuntime> gates(
        gates_.data() + h.first_gate, h.num_gates);
    const std::span<double> state(gate_state_.data() + h.first_gate,
                                  h.num_gates);
    const double v = cells.v[h.out.cell];
    const double open = first
                            ? HhChannel::InitGates(gates, state, v)
                            : HhChannel::StepGates(h.params.integrator,
                                                   elapsed_ms, gates, state, v);
    cells.Deliver(h.out, h.params.g_max_ns * open, h.params.e_rev_mv);
  }
  // On a model cell the current uses the gates as they are; they advance
  // after V (Advance). The batch has already added them to the sums.
  for (uint32_t k : hh_batched_outputs_) {
    HhRuntime& h = hh_[k];
    h.out.g_ns = h.params.g_max_ns * batch_.OpenFraction(h.batch);
    h.out.i_pa = h.out.g_ns * (h.params.e_rev_mv - cells.v[h.out.cell]);
  }
  for (uint32_t k : constants_batched_outputs_) {
    ConstantRuntime& c = constants_[k];
    c.out.g_ns = c.params.g_ns;
    c.out.i_pa = c.out.g_ns * (c.params.e_rev_mv - cells.v[c.out.cell]);
  }
}

void ConductanceBank::Advance(CellSums cells) noexcept {
  batch_.Step(cells.v, {cells.g, cells.ge});  // the next step's sums
}

void ConductanceBank::SyncBatch(uint32_t channel, double g_ns,
                                double e_mv) noexcept {
  // A batched channel's cell carries its sums between steps: they follow
  // the change at once.
  if (channel != UINT32_MAX)
    batch_.SetLive(channel, g_ns, e_mv, {sums_.g, sums_.ge});
}

bool ConductanceBank::Apply(uint32_t index, int param, double value) noexcept {
  if (index >= slots_.size()) return false;
  const Slot slot = slots_[index];
  switch (slot.kind) {
    case Kind::kConstant: {
      ConstantRuntime& c = constants_[slot.index];
      ConstantConductance::kParams.Set(c.params, param, value);
      SyncBatch(c.batch, c.params.g_ns, c.params.e_rev_mv);
      return true;
    }
    case Kind::kLigand: {
      LigandRuntime& l = ligands_[slot.index];
      LigandGated::SetLive(l.params, l.state, param, value);
      return true;
    }
    case Kind::kHh: {
      HhRuntime& h = hh_[slot.index];
      HhChannel::kParams.Set(h.params, param, value);
      SyncBatch(h.batch, h.params.g_max_ns, h.params.e_rev_mv);
      return true;
    }
  }
  return false;
}

double ConductanceBank::Read(uint32_t index, int param) const noexcept {
  constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  if (index >= slots_.size()) return kNone;
  const Slot slot = slots_[index];
  switch (slot.kind) {
    case Kind::kConstant:
      return ConstantConductance::kParams.Get(constants_[slot.index].params,
                                              param);
    case Kind::kLigand:
      if (param == LigandGated::kTriggerAction) return kNone;
      return LigandGated::kParams.Get(ligands_[slot.index].params, param);
    case Kind::kHh:
      return HhChannel::kParams.Get(hh_[slot.index].params, param);
  }
  return kNone;
}

}  // namespace dynclamp::rt
