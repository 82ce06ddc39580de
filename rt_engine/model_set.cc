#include "rt_engine/model_set.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/names.h"

namespace dynclamp::rt {
namespace {

// "conductances[k] (name).ligand_gated": where an error in its model's
// parameters is, as the user wrote the spec.
std::string ConductancePath(std::size_t k, const ConductanceSpec& c) {
  std::string path = absl::StrCat("conductances[", k, "] (", c.name, ")");
  if (!c.model_field.empty()) absl::StrAppend(&path, ".", c.model_field);
  return path;
}

constexpr int kMaxEventsPerCycle = 1'000'000;

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

// Kinds whose live values are kept outside their spec struct at run time
// (in arrays the step reads) handle exactly these rows in Apply and Read.
static_assert(kModelCellParams.LiveAre({&ModelCellSpec::bias_pa}));
static_assert(kConnectionParams.LiveAre({&ConnectionSpec::weight}));

double Sigmoid(double v, double half, double slope) {
  return 1.0 / (1.0 + std::exp((half - v) / slope));
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

// ---------------------------------------------------------------------------
// Validation: everything is checked before anything is built.

absl::Status ModelSet::Validate(const ModelSetSpec& spec) {
  const double dt = config_.dt_ms;
  const int n_real = static_cast<int>(config_.cell_names.size());
  const int n_cells = n_real + static_cast<int>(spec.model_cells.size());
  std::set<std::string> names(config_.cell_names.begin(),
                              config_.cell_names.end());
  auto named = [](absl::string_view list, std::size_t k,
                  const std::string& name) {
    return absl::StrCat(list, "[", k, "] (", name, ")");
  };
  auto claim = [&](absl::string_view list, std::size_t k,
                   const std::string& name) -> absl::Status {
    const std::string path = absl::StrCat(list, "[", k, "]");
    if (auto s = CheckName(name, path, "name"); !s.ok()) return s;
    if (!names.insert(name).second) {
      return FieldError(named(list, k, name), "name",
                        "is used by another cell, conductance or object");
    }
    return absl::OkStatus();
  };
  auto cell_ok = [&](int cell, const std::string& path,
                     absl::string_view field) -> absl::Status {
    if (cell >= 0 && cell < n_cells) return absl::OkStatus();
    return FieldError(path, field,
                      absl::StrFormat("must be a cell index in [0, %d], got %d",
                                      n_cells - 1, cell));
  };

  if (spec.model_cells.size() > kMaxModelCells) {
    return absl::InvalidArgumentError(
        absl::StrFormat("model_cells: at most %d, got %d", kMaxModelCells,
                        spec.model_cells.size()));
  }
  for (std::size_t k = 0; k < spec.model_cells.size(); ++k) {
    const ModelCellSpec& m = spec.model_cells[k];
    if (auto s = claim("model_cells", k, m.name); !s.ok()) return s;
    const std::string path = named("model_cells", k, m.name);
    if (auto s = kModelCellParams.Check(m, path); !s.ok()) return s;
    if (const auto* z = std::get_if<IzhikevichParams>(&m.dynamics)) {
      if (auto s = kIzhikevichParams.Check(*z, path + ".izhikevich"); !s.ok())
        return s;
      if (!(z->c_mv < z->v_peak_mv))
        return FieldError(path + ".izhikevich", "c_mv",
                          "must be below v_peak_mv");
    } else if (const auto* a = std::get_if<AdexParams>(&m.dynamics)) {
      if (auto s = kAdexParams.Check(*a, path + ".adex"); !s.ok()) return s;
      if (!(a->v_reset_mv < a->v_peak_mv) || !(a->vt_mv < a->v_peak_mv))
        return FieldError(path + ".adex", "v_peak_mv",
                          "must be above v_reset_mv and vt_mv");
    }
  }

  std::size_t num_signals = 0;
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const ConductanceSpec& c = spec.conductances[k];
    if (auto s = claim("conductances", k, c.name); !s.ok()) return s;
    if (auto s = cell_ok(c.cell, named("conductances", k, c.name), "cell");
        !s.ok())
      return s;
    const std::string path = ConductancePath(k, c);
    absl::Status s = std::visit(
        [&](const auto& p) -> absl::Status {
          using P = std::decay_t<decltype(p)>;
          if constexpr (std::is_same_v<P, ConstantConductance::Params>) {
            num_signals += 2;
            return ConstantConductance::Validate(p, path);
          } else if constexpr (std::is_same_v<P, LigandGated::Params>) {
            num_signals += 3;
            return LigandGated::Validate(p, path);
          } else {
            num_signals += 2 + p.gates.size();
            return HhChannel::Validate(p, path);
          }
        },
        c.model);
    if (!s.ok()) return s;
  }
  for (std::size_t k = 0; k < spec.synapses.size(); ++k) {
    const EventSynapseSpec& sy = spec.synapses[k];
    if (auto s = claim("synapses", k, sy.name); !s.ok()) return s;
    const std::string path = named("synapses", k, sy.name);
    if (auto s = cell_ok(sy.cell, path, "cell"); !s.ok()) return s;
    if (auto s = ValidateEventSynapse(sy.params, path); !s.ok()) return s;
  }
  for (std::size_t k = 0; k < spec.artificial_cells.size(); ++k) {
    const ArtificialCellSpec& a = spec.artificial_cells[k];
    if (auto s = claim("artificial_cells", k, a.name); !s.ok()) return s;
    if (auto s =
            ValidateArtificial(a.params, named("artificial_cells", k, a.name));
        !s.ok())
      return s;
  }
  for (std::size_t k = 0; k < spec.graded_synapses.size(); ++k) {
    const GradedSynapseSpec& g = spec.graded_synapses[k];
    if (auto s = claim("graded_synapses", k, g.name); !s.ok()) return s;
    const std::string path = named("graded_synapses", k, g.name);
    if (auto s = cell_ok(g.pre, path, "pre"); !s.ok()) return s;
    if (auto s = cell_ok(g.post, path, "post"); !s.ok()) return s;
    if (auto s = kGradedSynapseParams.Check(g, path); !s.ok()) return s;
  }
  for (std::size_t k = 0; k < spec.gap_junctions.size(); ++k) {
    const GapJunctionSpec& g = spec.gap_junctions[k];
    if (auto s = claim("gap_junctions", k, g.name); !s.ok()) return s;
    const std::string path = named("gap_junctions", k, g.name);
    if (auto s = cell_ok(g.cell_a, path, "cell_a"); !s.ok()) return s;
    if (auto s = cell_ok(g.cell_b, path, "cell_b"); !s.ok()) return s;
    if (g.cell_a == g.cell_b)
      return FieldError(path, "cell_b", "must differ from cell_a");
    if (auto s = kGapJunctionParams.Check(g, path); !s.ok()) return s;
  }
  for (std::size_t k = 0; k < spec.backgrounds.size(); ++k) {
    const BackgroundSpec& b = spec.backgrounds[k];
    if (auto s = claim("backgrounds", k, b.name); !s.ok()) return s;
    const std::string path = named("backgrounds", k, b.name);
    if (auto s = cell_ok(b.cell, path, "cell"); !s.ok()) return s;
    if (auto s = kBackgroundParams.Check(b, path); !s.ok()) return s;
  }
  if (spec.connections.size() > kMaxConnections) {
    return absl::InvalidArgumentError(
        absl::StrFormat("connections: at most %d, got %d", kMaxConnections,
                        spec.connections.size()));
  }
  for (std::size_t k = 0; k < spec.connections.size(); ++k) {
    const ConnectionSpec& c = spec.connections[k];
    if (auto s = claim("connections", k, c.name); !s.ok()) return s;
    const std::string path = named("connections", k, c.name);
    if (auto s = kConnectionParams.Check(c, path); !s.ok()) return s;
    // A delay under one step could close a loop that never lets time
    // advance, and could not be honoured anyway.
    if (c.delay_ms < dt * (1.0 - 1e-9)) {
      return FieldError(
          path, "delay_ms",
          absl::StrFormat("must be at least one clamp step (%g ms), "
                          "got %g ms",
                          dt, c.delay_ms));
    }
    if (c.source.kind == SourceRef::Kind::kCell) {
      if (auto s = cell_ok(c.source.index, path, "source"); !s.ok()) return s;
    } else if (c.source.index < 0 ||
               c.source.index >=
                   static_cast<int>(spec.artificial_cells.size())) {
      return FieldError(path, "source", "no such artificial cell");
    }
    if (c.target.kind == TargetRef::Kind::kSynapse) {
      if (c.target.index < 0 ||
          c.target.index >= static_cast<int>(spec.synapses.size()))
        return FieldError(path, "target", "no such synapse");
    } else {
      if (c.target.index < 0 ||
          c.target.index >= static_cast<int>(spec.artificial_cells.size()))
        return FieldError(path, "target", "no such artificial cell");
      const ArtificialKind kind =
          spec.artificial_cells[c.target.index].params.kind;
      if (kind == ArtificialKind::kVecStim || kind == ArtificialKind::kNetStim)
        return FieldError(path, "target",
                          "a spike generator takes no input events");
    }
  }
  if (spec.max_events_in_flight < 1 ||
      spec.max_events_in_flight > kMaxEventsInFlightCap) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_events_in_flight: must be in [1, %d], got %d",
                        kMaxEventsInFlightCap, spec.max_events_in_flight));
  }

  for (const ModelCellSpec& m : spec.model_cells)
    num_signals += std::holds_alternative<std::monostate>(m.dynamics) ? 1 : 2;
  num_signals += 2 * spec.synapses.size() + 2 * spec.artificial_cells.size() +
                 2 * spec.graded_synapses.size() + spec.gap_junctions.size() +
                 3 * spec.backgrounds.size();
  if (!spec.published_signals.has_value() &&
      num_signals > config_.max_signals) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the spec has %d signals but frames hold at most %d; name the ones "
        "to stream and record in published_signals, or configure a larger "
        "frame",
        num_signals, config_.max_signals));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<ModelSet>> ModelSet::Prepare(
    const ModelSetSpec& spec, const Config& config) {
  if (!(config.dt_ms > 0) || config.dt_ms > 10.0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "dt_ms: the clamp step must be in (0, 10] ms, got %g", config.dt_ms));
  }
  if (config.cell_names.empty()) {
    return absl::InvalidArgumentError("cells: the rig has no recorded cell");
  }
  std::size_t timers = spec.artificial_cells.size();
  for (const ConnectionSpec& c : spec.connections) {
    if (c.target.kind == TargetRef::Kind::kSynapse && c.target.index >= 0 &&
        c.target.index < static_cast<int>(spec.synapses.size()) &&
        spec.synapses[c.target.index].params.kind == SynapseKind::kAmpa)
      ++timers;
  }
  const std::size_t max_events = std::clamp<std::size_t>(
      spec.max_events_in_flight, 1, kMaxEventsInFlightCap);
  auto set = std::unique_ptr<ModelSet>(new ModelSet(max_events, timers));
  set->config_ = config;
  set->spec_ = spec;
  if (auto s = set->Validate(spec); !s.ok()) return s;

  // Tables for every HH channel (this is where kinetics are checked).
  RateTableCache cache;
  std::vector<std::vector<std::shared_ptr<const RateTable>>> tables(
      spec.conductances.size());
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const ConductanceSpec& c = spec.conductances[k];
    if (const auto* hp = std::get_if<HhChannel::Params>(&c.model)) {
      absl::StatusOr<std::vector<std::shared_ptr<const RateTable>>> t =
          HhChannel::BuildTables(*hp, config.dt_ms, ConductancePath(k, c),
                                 cache);
      if (!t.ok()) return t.status();
      tables[k] = *std::move(t);
    }
  }
  if (auto s = set->Build(spec, cache, tables); !s.ok()) return s;
  if (auto s = set->BuildSignals(); !s.ok()) return s;
  return set;
}

bool ModelSet::Publishes(const std::string& signal) const {
  const auto& wanted = spec_.published_signals;
  if (!wanted.has_value()) return true;
  return std::any_of(wanted->begin(), wanted->end(), [&](const std::string& w) {
    return MatchesSignalPattern(w, signal);
  });
}

absl::Status ModelSet::Build(
    const ModelSetSpec& spec, RateTableCache&,
    std::vector<std::vector<std::shared_ptr<const RateTable>>>& tables) {
  const double dt = config_.dt_ms;
  n_real_ = config_.cell_names.size();
  n_cells_ = n_real_ + spec.model_cells.size();
  v_.assign(n_cells_, 0.0);
  v_prev_.assign(n_cells_, 0.0);
  g_sum_.assign(n_cells_, 0.0);
  ge_sum_.assign(n_cells_, 0.0);

  // Conductances. HH channels on model cells go to the batch.
  std::size_t n_gates = 0;
  for (const auto& c : spec.conductances)
    if (const auto* hp = std::get_if<HhChannel::Params>(&c.model))
      if (c.cell < static_cast<int>(n_real_)) n_gates += hp->gates.size();
  std::vector<HhCellBatch::ChannelSpec> batched;
  gates_.reserve(n_gates);
  gate_state_.assign(n_gates, 0.0);
  slots_.reserve(spec.conductances.size());
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const ConductanceSpec& c = spec.conductances[k];
    Output out;
    out.cell = static_cast<uint32_t>(c.cell);
    if (const auto* p = std::get_if<ConstantConductance::Params>(&c.model)) {
      ConstantRuntime rt{out, *p};
      if (out.cell >= n_real_) {
        // On a model cell: a channel without gates in the batch, so the
        // cell's sums need no visit of their own.
        HhCellBatch::ChannelSpec b;
        b.path = ConductancePath(k, c);
        b.cell = out.cell;
        b.g_max_ns = p->g_ns;
        b.e_rev_mv = p->e_rev_mv;
        rt.batch = static_cast<uint32_t>(batched.size());
        batched.push_back(std::move(b));
        if (Publishes(absl::StrCat(c.name, ".g_ns")) ||
            Publishes(absl::StrCat(c.name, ".i_pa")))
          constants_batched_outputs_.push_back(
              static_cast<uint32_t>(constants_.size()));
      } else {
        constants_clamped_.push_back(static_cast<uint32_t>(constants_.size()));
      }
      slots_.push_back({Kind::kConstant, uint32_t(constants_.size())});
      constants_.push_back(rt);
    } else if (const auto* p = std::get_if<LigandGated::Params>(&c.model)) {
      slots_.push_back({Kind::kLigand, uint32_t(ligands_.size())});
      ligands_.push_back({out, *p, LigandGated::Prepare(*p, dt), {}});
    } else {
      const auto& hp = std::get<HhChannel::Params>(c.model);
      HhRuntime rt;
      rt.out = out;
      rt.params = hp;
      rt.integrator = hp.integrator;
      rt.num_gates = static_cast<uint32_t>(hp.gates.size());
      for (std::size_t g = 0; g < hp.gates.size(); ++g) {
        if (std::find(tables_.begin(), tables_.end(), tables[k][g]) ==
            tables_.end())
          tables_.push_back(tables[k][g]);
      }
      if (out.cell < n_real_) {
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
        if (Publishes(absl::StrCat(c.name, ".g_ns")) ||
            Publishes(absl::StrCat(c.name, ".i_pa")))
          hh_batched_outputs_.push_back(static_cast<uint32_t>(hh_.size()));
      }
      slots_.push_back({Kind::kHh, uint32_t(hh_.size())});
      hh_.push_back(rt);
    }
  }
  absl::StatusOr<HhCellBatch> batch = HhCellBatch::Build(batched);
  if (!batch.ok()) return batch.status();
  hh_batch_ = *std::move(batch);
  {
    const std::vector<uint32_t> batched_cells = hh_batch_.Cells();
    std::size_t next = 0;  // cells [next, c) are not in the batch
    for (uint32_t c : batched_cells) {
      if (c > next) unbatched_cells_.push_back({next, c});
      next = c + 1;
    }
    if (n_cells_ > next) unbatched_cells_.push_back({next, n_cells_});
  }

  // Sources: one per detector (cell, threshold, hysteresis), one per
  // artificial cell, one per Izhikevich/AdEx model cell.
  std::map<std::tuple<int, double, double>, uint32_t> detector_of;
  std::vector<SpikeDetectors::Spec> detector_specs;
  std::vector<uint32_t> source_of_conn(spec.connections.size());
  auto new_source = [this](std::string name) {
    sources_.push_back({});
    source_names_.push_back(std::move(name));
    return static_cast<uint32_t>(sources_.size() - 1);
  };
  spike_log_.assign(config_.spike_log_capacity, SpikeRecord{0, 0.0});
  model_cells_.reserve(spec.model_cells.size());
  for (const ModelCellSpec& m : spec_.model_cells) {
    ModelCellRuntime rt;
    rt.c_pf = m.capacitance_pf;
    rt.v_init = m.v_init_mv;
    bias_pa_.push_back(m.bias_pa);
    c_over_dt_.push_back(m.capacitance_pf / dt);
    if (const auto* z = std::get_if<IzhikevichParams>(&m.dynamics)) {
      rt.dynamics = ModelCellRuntime::Dynamics::kIzhikevich;
      rt.izh = z;
      rt.spike_source = new_source(m.name);
    } else if (const auto* a = std::get_if<AdexParams>(&m.dynamics)) {
      rt.dynamics = ModelCellRuntime::Dynamics::kAdex;
      rt.adex = a;
      rt.spike_source = new_source(m.name);
    }
    if (rt.dynamics != ModelCellRuntime::Dynamics::kConductance)
      spiking_cells_.push_back(static_cast<uint32_t>(model_cells_.size()));
    model_cells_.push_back(rt);
  }
  artificial_.reserve(spec.artificial_cells.size());
  artificial_spiked_.assign(spec.artificial_cells.size(), 0.0);
  spiked_cells_.reserve(spec.artificial_cells.size());
  for (const ArtificialCellSpec& a : spec.artificial_cells) {
    ArtificialRuntime rt;
    rt.params = a.params;
    rt.coeffs = PrepareArtificial(a.params);
    rt.source = new_source(a.name);
    artificial_.push_back(std::move(rt));
  }
  for (std::size_t k = 0; k < spec.connections.size(); ++k) {
    const ConnectionSpec& c = spec.connections[k];
    if (c.source.kind == SourceRef::Kind::kArtificial) {
      source_of_conn[k] = artificial_[c.source.index].source;
      continue;
    }
    const int cell = c.source.index;
    if (cell >= static_cast<int>(n_real_) &&
        model_cells_[cell - n_real_].spike_source != UINT32_MAX) {
      source_of_conn[k] = model_cells_[cell - n_real_].spike_source;
      continue;
    }
    const auto key = std::make_tuple(cell, c.threshold_mv, c.hysteresis_mv);
    auto it = detector_of.find(key);
    if (it == detector_of.end()) {
      const std::string cell_name = cell < static_cast<int>(n_real_)
                                        ? config_.cell_names[cell]
                                        : spec.model_cells[cell - n_real_].name;
      detector_specs.push_back(
          {static_cast<uint32_t>(cell), c.threshold_mv, c.hysteresis_mv,
           new_source(absl::StrCat(cell_name, "@", c.threshold_mv, "mV"))});
      it = detector_of.emplace(key, detector_specs.back().source).first;
    }
    source_of_conn[k] = it->second;
  }
  detectors_ = SpikeDetectors(std::move(detector_specs));
  // Connections; their order by source (CSR) with each one's delay.
  connections_.reserve(spec.connections.size());
  connection_state_.assign(spec.connections.size(), ConnectionState{});
  ampa_timer_.assign(spec.connections.size(), UINT32_MAX);
  uint32_t next_timer = static_cast<uint32_t>(spec.artificial_cells.size());
  for (std::size_t k = 0; k < spec.connections.size(); ++k) {
    const ConnectionSpec& c = spec.connections[k];
    ConnectionRuntime rt;
    rt.target = c.target;
    rt.weight = c.weight;
    if (c.target.kind == TargetRef::Kind::kSynapse &&
        spec.synapses[c.target.index].params.kind == SynapseKind::kAmpa) {
      ampa_timer_[k] = next_timer++;
      timer_connection_.push_back(static_cast<uint32_t>(k));
    }
    connections_.push_back(rt);
  }
  std::vector<uint32_t> counts(sources_.size(), 0);
  for (uint32_t s : source_of_conn) ++counts[s];
  uint32_t offset = 0;
  for (std::size_t s = 0; s < sources_.size(); ++s) {
    sources_[s].first = offset;
    offset += counts[s];
  }
  outgoing_.assign(spec.connections.size(), Outgoing{});
  std::vector<uint32_t> fill(sources_.size(), 0);
  for (std::size_t k = 0; k < spec.connections.size(); ++k) {
    const uint32_t s = source_of_conn[k];
    outgoing_[sources_[s].first + fill[s]++] = {static_cast<uint32_t>(k),
                                                spec.connections[k].delay_ms};
  }
  for (std::size_t s = 0; s < sources_.size(); ++s)
    sources_[s].count = counts[s];

  synapses_.reserve(spec.synapses.size());
  std::map<std::vector<double>, uint32_t> shared_pool;
  std::vector<SynapsePools::Pool> pools;
  for (const EventSynapseSpec& sy : spec.synapses) {
    SynapseRuntime rt;
    rt.out.cell = static_cast<uint32_t>(sy.cell);
    rt.params = sy.params;
    rt.coeffs = PrepareEventSynapse(sy.params, dt);
    const bool published = Publishes(absl::StrCat(sy.name, ".g_ns")) ||
                           Publishes(absl::StrCat(sy.name, ".i_pa"));
    const EventSynapseParams& p = sy.params;
    // Every parameter the kind reads (its table covers them all).
    const ParamSpan<EventSynapseParams> rows = EventSynapseParamTable(p.kind);
    std::vector<double> key = {double(sy.cell), double(p.kind)};
    for (std::size_t i = 0; i < rows.size(); ++i)
      key.push_back(rows.Get(p, static_cast<int>(i)));
    auto it = shared_pool.find(key);
    if (published || it == shared_pool.end()) {
      rt.pool = static_cast<uint32_t>(pools.size());
      pools.push_back({static_cast<uint32_t>(sy.cell), StepOf(p, rt.coeffs),
                       p.e_rev_mv, published});
      if (!published) shared_pool.emplace(key, rt.pool);
    } else {
      rt.pool = it->second;
    }
    if (published)
      synapse_outputs_.push_back(static_cast<uint32_t>(synapses_.size()));
    synapses_.push_back(rt);
  }
  // Pools grouped by cell (the step sums each cell's in one run).
  std::vector<uint32_t> order(pools.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return pools[a].cell < pools[b].cell;
  });
  std::vector<uint32_t> new_index(pools.size());
  std::vector<SynapsePools::Pool> sorted;
  sorted.reserve(pools.size());
  for (uint32_t k = 0; k < order.size(); ++k) {
    new_index[order[k]] = k;
    sorted.push_back(pools[order[k]]);
  }
  pools_ = SynapsePools(sorted);
  for (SynapseRuntime& sy : synapses_) sy.pool = new_index[sy.pool];
  for (ConnectionRuntime& c : connections_) {
    if (c.target.kind != TargetRef::Kind::kSynapse) continue;
    const SynapseRuntime& sy = synapses_[c.target.index];
    if (sy.params.kind == SynapseKind::kExp) c.lane = pools_.LaneOf(sy.pool);
    c.e_rev_mv = sy.params.e_rev_mv;
    c.tau_ms = sy.params.tau_ms;
  }
  graded_.reserve(spec.graded_synapses.size());
  for (const GradedSynapseSpec& g : spec.graded_synapses) {
    GradedRuntime rt;
    rt.out.cell = static_cast<uint32_t>(g.post);
    rt.p = g;
    rt.decay = g.tau_ms > 0 ? std::exp(-dt / g.tau_ms) : 0.0;
    graded_.push_back(rt);
  }
  gaps_.reserve(spec.gap_junctions.size());
  for (const GapJunctionSpec& g : spec.gap_junctions) {
    gaps_.push_back({g, 0.0});
  }
  backgrounds_.reserve(spec.backgrounds.size());
  for (const BackgroundSpec& b : spec.backgrounds) {
    BackgroundRuntime rt;
    rt.cell = static_cast<uint32_t>(b.cell);
    rt.p = b;
    rt.decay_e = std::exp(-dt / b.tau_e_ms);
    rt.decay_i = std::exp(-dt / b.tau_i_ms);
    rt.UpdateNoise();
    rt.rng.Seed(b.seed);
    backgrounds_.push_back(rt);
  }
  return absl::OkStatus();
}

absl::Status ModelSet::BuildSignals() {
  const ModelSetSpec& spec = spec_;
  const auto& wanted = spec.published_signals;
  std::vector<std::string> all;
  auto add = [&](std::string name, const char* unit, const double* src) {
    all.push_back(name);
    if (!Publishes(name)) return false;
    signals_.push_back({std::move(name), unit});
    signal_sources_.push_back(src);
    return true;
  };
  for (std::size_t k = 0; k < spec.conductances.size(); ++k) {
    const std::string& name = spec.conductances[k].name;
    const Slot slot = slots_[k];
    const Output* out = slot.kind == Kind::kConstant
                            ? &constants_[slot.index].out
                        : slot.kind == Kind::kLigand ? &ligands_[slot.index].out
                                                     : &hh_[slot.index].out;
    add(absl::StrCat(name, ".g_ns"), "nS", &out->g_ns);
    add(absl::StrCat(name, ".i_pa"), "pA", &out->i_pa);
    if (slot.kind == Kind::kLigand) {
      add(absl::StrCat(name, ".s"), "1", &ligands_[slot.index].state.s);
    } else if (slot.kind == Kind::kHh) {
      const auto& hp = std::get<HhChannel::Params>(spec.conductances[k].model);
      const HhRuntime& rt = hh_[slot.index];
      for (uint32_t g = 0; g < rt.num_gates; ++g)
        add(absl::StrCat(name, ".", hp.gates[g].name), "1",
            rt.batch == UINT32_MAX ? &gate_state_[rt.first_gate + g]
                                   : hh_batch_.gate_value(rt.batch, g));
    }
  }
  for (std::size_t k = 0; k < spec.model_cells.size(); ++k) {
    const std::string& name = spec.model_cells[k].name;
    // The V this step used (as for real cells): v_prev_ after the step.
    add(absl::StrCat(name, ".v_mv"), "mV", &v_prev_[n_real_ + k]);
    if (model_cells_[k].dynamics == ModelCellRuntime::Dynamics::kIzhikevich)
      add(absl::StrCat(name, ".u_pa"), "pA", &model_cells_[k].recovery);
    else if (model_cells_[k].dynamics == ModelCellRuntime::Dynamics::kAdex)
      add(absl::StrCat(name, ".w_pa"), "pA", &model_cells_[k].recovery);
  }
  for (std::size_t k = 0; k < spec.synapses.size(); ++k) {
    add(absl::StrCat(spec.synapses[k].name, ".g_ns"), "nS",
        &synapses_[k].out.g_ns);
    add(absl::StrCat(spec.synapses[k].name, ".i_pa"), "pA",
        &synapses_[k].out.i_pa);
  }
  for (std::size_t k = 0; k < spec.artificial_cells.size(); ++k) {
    if (add(absl::StrCat(spec.artificial_cells[k].name, ".m"), "1",
            &artificial_[k].m_signal))
      m_published_.push_back(static_cast<uint32_t>(k));
    add(absl::StrCat(spec.artificial_cells[k].name, ".spikes"), "1",
        &artificial_spiked_[k]);
  }
  for (std::size_t k = 0; k < spec.graded_synapses.size(); ++k) {
    add(absl::StrCat(spec.graded_synapses[k].name, ".g_ns"), "nS",
        &graded_[k].out.g_ns);
    add(absl::StrCat(spec.graded_synapses[k].name, ".i_pa"), "pA",
        &graded_[k].out.i_pa);
  }
  for (std::size_t k = 0; k < spec.gap_junctions.size(); ++k)
    add(absl::StrCat(spec.gap_junctions[k].name, ".i_pa"), "pA", &gaps_[k].i_a);
  for (std::size_t k = 0; k < spec.backgrounds.size(); ++k) {
    add(absl::StrCat(spec.backgrounds[k].name, ".ge_ns"), "nS",
        &backgrounds_[k].ge);
    add(absl::StrCat(spec.backgrounds[k].name, ".gi_ns"), "nS",
        &backgrounds_[k].gi);
    add(absl::StrCat(spec.backgrounds[k].name, ".i_pa"), "pA",
        &backgrounds_[k].i_pa);
  }
  if (wanted.has_value()) {
    for (std::size_t k = 0; k < wanted->size(); ++k) {
      const std::string& w = (*wanted)[k];
      if (std::none_of(all.begin(), all.end(), [&](const std::string& n) {
            return MatchesSignalPattern(w, n);
          })) {
        return absl::InvalidArgumentError(
            absl::StrCat("published_signals[", k, "]: '", w,
                         "' matches no signal of the spec"));
      }
    }
    if (signals_.size() > config_.max_signals) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "published_signals: %d signals, but frames hold at most %d",
          signals_.size(), config_.max_signals));
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// RT.

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

class ModelSet::ArtificialCtx final : public ArtificialContext {
 public:
  ArtificialCtx(ModelSet& set, uint32_t cell, StepReport& report)
      : set_(set), cell_(cell), report_(report) {}
  void Fire(double t) noexcept override {
    if (set_.artificial_spiked_[cell_] == 0.0 &&
        set_.spiked_cells_.size() < set_.spiked_cells_.capacity())
      set_.spiked_cells_.push_back(cell_);  // within reserved capacity
    set_.artificial_spiked_[cell_] += 1.0;
    set_.FireSource(set_.artificial_[cell_].source, t, report_);
  }
  void SetTimer(double t) noexcept override { set_.timers_.Set(cell_, t); }
  double TimerTime() const noexcept override {
    return set_.timers_.time_of(cell_);
  }

 private:
  ModelSet& set_;
  uint32_t cell_;
  StepReport& report_;
};

void ModelSet::Initialize() noexcept {
  for (std::size_t m = 0; m < model_cells_.size(); ++m) {
    v_[n_real_ + m] = model_cells_[m].v_init;
    const auto& mc = model_cells_[m];
    if (mc.dynamics == ModelCellRuntime::Dynamics::kIzhikevich)
      model_cells_[m].recovery = mc.izh->b_ns * (mc.v_init - mc.izh->vr_mv);
    else if (mc.dynamics == ModelCellRuntime::Dynamics::kAdex)
      model_cells_[m].recovery = mc.adex->a_ns * (mc.v_init - mc.adex->el_mv);
  }
  hh_batch_.Init(v_, {g_sum_, ge_sum_});
  for (uint32_t k : hh_clamped_) {
    HhRuntime& h = hh_[k];
    HhChannel::InitGates({gates_.data() + h.first_gate, h.num_gates},
                         {gate_state_.data() + h.first_gate, h.num_gates},
                         v_[h.out.cell]);
  }
  StepReport ignored;
  for (uint32_t k = 0; k < artificial_.size(); ++k) {
    ArtificialCtx ctx(*this, k, ignored);
    InitArtificial(artificial_[k].params, artificial_[k].coeffs,
                   artificial_[k].state, ctx);
  }
  detectors_.Arm(v_);
  for (BackgroundRuntime& b : backgrounds_) {
    b.ge = b.xe = b.p.ge0_ns;
    b.gi = b.xi = b.p.gi0_ns;
  }
  for (std::size_t c = 0; c < n_cells_; ++c) v_prev_[c] = v_[c];
  initialized_ = true;
}

void ModelSet::FireSource(uint32_t source, double t,
                          StepReport& report) noexcept {
  ++report.spikes;
  if (spike_log_size_ < spike_log_.size()) {
    spike_log_[spike_log_size_++] = {source, t};
  } else if (!spike_log_.empty()) {
    ++spikes_not_logged_;
  }
  const SourceRuntime& s = sources_[source];
  for (uint32_t k = 0; k < s.count; ++k) {
    const Outgoing& out = outgoing_[s.first + k];
    if (!events_.Push({t + out.delay_ms, out.connection}))
      ++report.events_dropped;
  }
}

void ModelSet::DetectSpikes(double now, StepReport& report) noexcept {
  for (const SpikeDetectors::Crossing& c :
       detectors_.Detect(v_prev_, v_, now, config_.dt_ms))
    FireSource(c.source, c.t_ms, report);
}

void ModelSet::ProcessDue(double now, StepReport& report) noexcept {
  const double horizon = now + 1e-6 * config_.dt_ms;
  for (int guard = 0; guard < kMaxEventsPerCycle; ++guard) {
    const double te = events_.next_time(), tt = timers_.next_time();
    if (!(std::min(te, tt) <= horizon)) return;
    if (tt <= te) {
      const uint32_t k = timers_.next_timer();
      timers_.Cancel(k);
      if (k < artificial_.size()) {
        ArtificialCtx ctx(*this, k, report);
        ArtificialTimer(artificial_[k].params, artificial_[k].coeffs,
                        artificial_[k].state, ctx, tt);
      } else {
        // A saturating synapse's stream reaches the end of its pulse.
        const uint32_t conn = timer_connection_[k - artificial_.size()];
        const ConnectionRuntime& c = connections_[conn];
        SynapseRuntime& syn = synapses_[c.target.index];
        EventSynapseState state = pools_.State(syn.pool);
        AmpaOffset(syn.params, syn.coeffs, state, connection_state_[conn],
                   c.weight, tt, now);
        pools_.SetState(syn.pool, state);
      }
      continue;
    }
    const Event e = events_.Pop();
    ++report.events_delivered;
    const ConnectionRuntime& c = connections_[e.connection];
    if (c.lane != SynapsePools::kNoLane) {
      pools_.AddToLane(c.lane, ExpSynJump(c.weight, now - e.t_ms, c.tau_ms),
                       c.e_rev_mv);
    } else if (c.target.kind == TargetRef::Kind::kSynapse) {
      SynapseRuntime& s = synapses_[c.target.index];
      EventSynapseState state = pools_.State(s.pool);
      if (ReceiveEvent(s.params, s.coeffs, state,
                       connection_state_[e.connection], c.weight, e.t_ms, now))
        timers_.Set(ampa_timer_[e.connection], e.t_ms + s.params.cdur_ms);
      pools_.SetState(s.pool, state);
    } else {
      ArtificialRuntime& a = artificial_[c.target.index];
      ArtificialCtx ctx(*this, static_cast<uint32_t>(c.target.index), report);
      ArtificialReceive(a.params, a.coeffs, a.state, ctx, c.weight, e.t_ms);
    }
  }
}

void ModelSet::AdvanceModelCells(double now, StepReport& report) noexcept {
  // Every model cell by backward Euler with the conductances of this step,
  // as NEURON's fixed step does: C (V' - V)/dt = GE - G V' + I. One plain
  // loop over the arrays (it vectorizes); Izhikevich and AdEx cells are
  // then stepped again from V below.
  double* v = v_.data() + n_real_;
  double* v_prev = v_prev_.data() + n_real_;
  const double* g = g_sum_.data() + n_real_;
  const double* ge = ge_sum_.data() + n_real_;
  BackwardEuler(model_cells_.size(), c_over_dt_.data(), bias_pa_.data(), g, ge,
                v, v_prev);
  const double dt = config_.dt_ms;
  for (uint32_t m : spiking_cells_) {
    ModelCellRuntime& mc = model_cells_[m];
    const double G = g[m], GE = ge[m], bias = bias_pa_[m];
    // Izhikevich / AdEx: explicit substeps of at most 5 us with the
    // conductance input held; a spike is a reset inside the step.
    const int steps =
        std::max(1, static_cast<int>(std::ceil(dt / 0.005 - 1e-9)));
    const double h = dt / steps;
    double x = v_prev[m], u = mc.recovery;
    for (int k = 0; k < steps; ++k) {
      const double i_in = GE - G * x + bias;
      if (mc.dynamics == ModelCellRuntime::Dynamics::kIzhikevich) {
        const IzhikevichParams& z = *mc.izh;
        const double dv =
            (z.k_ns_per_mv * (x - z.vr_mv) * (x - z.vt_mv) - u + i_in) /
            mc.c_pf;
        const double du = z.a_per_ms * (z.b_ns * (x - z.vr_mv) - u);
        x += h * dv;
        u += h * du;
        if (x >= z.v_peak_mv) {
          x = z.c_mv;
          u += z.d_pa;
          FireSource(mc.spike_source, now + (k + 1) * h, report);
        }
      } else {
        const AdexParams& a = *mc.adex;
        const double ex =
            a.gl_ns * a.delta_t_mv *
            std::exp(std::min((x - a.vt_mv) / a.delta_t_mv, 50.0));
        const double dv = (-a.gl_ns * (x - a.el_mv) + ex - u + i_in) / mc.c_pf;
        const double dw = (a.a_ns * (x - a.el_mv) - u) / a.tau_w_ms;
        x += h * dv;
        u += h * dw;
        if (x >= a.v_peak_mv) {
          x = a.v_reset_mv;
          u += a.b_pa;
          FireSource(mc.spike_source, now + (k + 1) * h, report);
        }
      }
    }
    v[m] = x;
    mc.recovery = u;
  }
}

StepReport ModelSet::Step(std::span<const double> v_mv, std::span<double> i_pa,
                          double elapsed_ms) noexcept {
  StepReport report;
  const double dt = config_.dt_ms;
  const double clamped_dt = elapsed_ms > 0 ? elapsed_ms : dt;
  const double now = static_cast<double>(cycle_) * dt;
  for (std::size_t c = 0; c < n_real_; ++c) v_[c] = v_mv[c];
  const bool first = !initialized_;
  if (first) Initialize();
  for (uint32_t k : spiked_cells_) artificial_spiked_[k] = 0.0;
  spiked_cells_.clear();

  // 1. Spikes from cells' V, then every event and self-event due by now.
  if (!first) DetectSpikes(now, report);
  ProcessDue(now, report);

  // 2. Every conductance on every cell: sum g and g E per cell.
  // The batch's cells start from its sums (written with their gates at
  // the end of the last step, or by a live change since); every other cell
  // from zero.
  for (const auto& [begin, end] : unbatched_cells_) {
    std::fill(&g_sum_[begin], &g_sum_[end], 0.0);
    std::fill(&ge_sum_[begin], &ge_sum_[end], 0.0);
  }
  auto add = [this](Output& out, double g, double e) {
    out.g_ns = g;
    out.i_pa = g * (e - v_[out.cell]);
    g_sum_[out.cell] += g;
    ge_sum_[out.cell] += g * e;
  };
  for (uint32_t k : constants_clamped_) {
    ConstantRuntime& c = constants_[k];
    add(c.out, c.params.g_ns, c.params.e_rev_mv);
  }
  for (LigandRuntime& l : ligands_) {
    add(l.out, LigandGated::Step(l.params, l.coeffs, l.state, cycle_),
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
    const double open =
        first ? HhChannel::InitGates(gates, state, v_[h.out.cell])
              : HhChannel::StepGates(h.integrator, clamped_dt, gates, state,
                                     v_[h.out.cell]);
    add(h.out, h.params.g_max_ns * open, h.params.e_rev_mv);
  }
  // On a model cell the current uses the gates as they are (written
  // above); they advance after V (NEURON's staggered scheme), below.
  for (uint32_t k : hh_batched_outputs_) {
    HhRuntime& h = hh_[k];
    h.out.g_ns = h.params.g_max_ns * hh_batch_.OpenFraction(h.batch);
    h.out.i_pa = h.out.g_ns * (h.params.e_rev_mv - v_[h.out.cell]);
  }
  for (uint32_t k : constants_batched_outputs_) {
    ConstantRuntime& c = constants_[k];
    c.out.g_ns = c.params.g_ns;
    c.out.i_pa = c.out.g_ns * (c.params.e_rev_mv - v_[c.out.cell]);
  }
  for (uint32_t k : synapse_outputs_) {
    SynapseRuntime& s = synapses_[k];
    s.out.g_ns = pools_.Conductance(s.pool);
    s.out.i_pa = s.out.g_ns * (s.params.e_rev_mv - v_[s.out.cell]);
  }
  // Each pool's g now; its state then steps (events due next arrive in
  // ProcessDue).
  pools_.AddAndStep(g_sum_, ge_sum_);
  for (GradedRuntime& g : graded_) {
    const double s_inf = Sigmoid(v_[g.p.pre], g.p.v_half_mv, g.p.slope_mv);
    if (g.decay == 0.0 || first) g.s = s_inf;
    add(g.out, g.p.g_max_ns * g.s, g.p.e_rev_mv);
    if (g.decay > 0.0)
      g.s = s_inf + (g.s - s_inf) * g.decay;  // for the next step
  }
  for (GapRuntime& j : gaps_) {
    const int a = j.p.cell_a, b = j.p.cell_b;
    const double g = j.p.g_ns, va = v_[a], vb = v_[b];
    j.i_a = g * (vb - va);
    g_sum_[a] += g;
    ge_sum_[a] += g * vb;
    g_sum_[b] += g;
    ge_sum_[b] += g * va;
  }
  for (BackgroundRuntime& b : backgrounds_) {
    const double v = v_[b.cell];
    b.i_pa = b.ge * (b.p.e_e_mv - v) + b.gi * (b.p.e_i_mv - v);
    g_sum_[b.cell] += b.ge + b.gi;
    ge_sum_[b.cell] += b.ge * b.p.e_e_mv + b.gi * b.p.e_i_mv;
  }

  // 3. Real cells: the current to inject.
  for (std::size_t c = 0; c < n_real_ && c < i_pa.size(); ++c)
    i_pa[c] = ge_sum_[c] - g_sum_[c] * v_[c];
  for (std::size_t c = 0; c < n_real_; ++c) v_prev_[c] = v_[c];

  // 4. Model cells advance one step; their channels' gates follow the new V.
  AdvanceModelCells(now, report);
  hh_batch_.Step(v_, {g_sum_, ge_sum_});  // the next step's sums

  // 5. Synapses and background advance to the next step.
  for (BackgroundRuntime& b : backgrounds_) {
    b.xe = b.p.ge0_ns + (b.xe - b.p.ge0_ns) * b.decay_e +
           b.noise_e * b.rng.Normal();
    b.xi = b.p.gi0_ns + (b.xi - b.p.gi0_ns) * b.decay_i +
           b.noise_i * b.rng.Normal();
    b.ge = std::max(0.0, b.xe);
    b.gi = std::max(0.0, b.xi);
  }
  for (uint32_t k : m_published_) {
    ArtificialRuntime& a = artificial_[k];
    a.m_signal = ArtificialM(a.params, a.coeffs, a.state, now);
  }
  ++cycle_;
  return report;
}

void ModelSet::WriteSignals(std::span<double> out) const noexcept {
  const std::size_t n = std::min(out.size(), signal_sources_.size());
  for (std::size_t k = 0; k < n; ++k) out[k] = *signal_sources_[k];
}

// ---------------------------------------------------------------------------
// Live parameters.

bool ModelSet::Apply(const ParamUpdate& u) noexcept {
  if (u.generation != config_.generation) return false;
  switch (u.object) {
    case ParamUpdate::Object::kConductance: {
      if (u.index >= slots_.size()) return false;
      const Slot slot = slots_[u.index];
      switch (slot.kind) {
        case Kind::kConstant: {
          ConstantRuntime& c = constants_[slot.index];
          ConstantConductance::kParams.Set(c.params, u.param, u.value);
          if (c.batch != UINT32_MAX)
            hh_batch_.SetLive(c.batch, c.params.g_ns, c.params.e_rev_mv,
                              {g_sum_, ge_sum_});
          break;
        }
        case Kind::kLigand: {
          LigandRuntime& l = ligands_[slot.index];
          LigandGated::SetLive(l.params, l.state, u.param, u.value);
          break;
        }
        case Kind::kHh: {
          HhRuntime& h = hh_[slot.index];
          HhChannel::kParams.Set(h.params, u.param, u.value);
          if (h.batch != UINT32_MAX)
            hh_batch_.SetLive(h.batch, h.params.g_max_ns, h.params.e_rev_mv,
                              {g_sum_, ge_sum_});
          break;
        }
      }
      return true;
    }
    case ParamUpdate::Object::kConnection:  // weight, its one live row
      if (u.index >= connections_.size()) return false;
      connections_[u.index].weight = u.value;
      return true;
    case ParamUpdate::Object::kGraded:
      if (u.index >= graded_.size()) return false;
      kGradedSynapseParams.Set(graded_[u.index].p, u.param, u.value);
      return true;
    case ParamUpdate::Object::kGap:
      if (u.index >= gaps_.size()) return false;
      kGapJunctionParams.Set(gaps_[u.index].p, u.param, u.value);
      return true;
    case ParamUpdate::Object::kModelCell:  // bias_pa, its one live row
      if (u.index >= model_cells_.size()) return false;
      bias_pa_[u.index] = u.value;
      return true;
    case ParamUpdate::Object::kBackground: {
      if (u.index >= backgrounds_.size()) return false;
      BackgroundRuntime& b = backgrounds_[u.index];
      kBackgroundParams.Set(b.p, u.param, u.value);
      b.UpdateNoise();
      return true;
    }
  }
  return false;
}

double ModelSet::Read(const ParamUpdate& u) const noexcept {
  constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  if (u.generation != config_.generation) return kNone;
  switch (u.object) {
    case ParamUpdate::Object::kConductance: {
      if (u.index >= slots_.size()) return kNone;
      const Slot slot = slots_[u.index];
      switch (slot.kind) {
        case Kind::kConstant:
          return ConstantConductance::kParams.Get(constants_[slot.index].params,
                                                  u.param);
        case Kind::kLigand:
          if (u.param == LigandGated::kTriggerAction) return kNone;
          return LigandGated::kParams.Get(ligands_[slot.index].params, u.param);
        case Kind::kHh:
          return HhChannel::kParams.Get(hh_[slot.index].params, u.param);
      }
      return kNone;
    }
    case ParamUpdate::Object::kConnection:
      return u.index < connections_.size() ? connections_[u.index].weight
                                           : kNone;
    case ParamUpdate::Object::kGraded:
      return u.index < graded_.size()
                 ? kGradedSynapseParams.Get(graded_[u.index].p, u.param)
                 : kNone;
    case ParamUpdate::Object::kGap:
      return u.index < gaps_.size()
                 ? kGapJunctionParams.Get(gaps_[u.index].p, u.param)
                 : kNone;
    case ParamUpdate::Object::kModelCell:
      return u.index < model_cells_.size() ? bias_pa_[u.index] : kNone;
    case ParamUpdate::Object::kBackground:
      return u.index < backgrounds_.size()
                 ? kBackgroundParams.Get(backgrounds_[u.index].p, u.param)
                 : kNone;
  }
  return kNone;
}

void ModelSet::BackgroundRuntime::UpdateNoise() noexcept {
  // Exact OU update: x <- x0 + (x - x0) e^{-dt/tau} + sigma
  // sqrt(1 - e^{-2dt/tau}) N.
  noise_e = p.sigma_e_ns * std::sqrt(1.0 - decay_e * decay_e);
  noise_i = p.sigma_i_ns * std::sqrt(1.0 - decay_i * decay_i);
}

absl::StatusOr<ParamUpdate> ModelSet::ResolveParam(absl::string_view path,
                                                   double value) const {
  const std::size_t dot = path.rfind('.');
  if (dot == absl::string_view::npos) {
    return absl::NotFoundError(
        absl::StrCat("parameter: ", Quoted(path),
                     " is not a parameter of the loaded spec (parameters are "
                     "named <object>.<parameter>)"));
  }
  if (path.size() > 2 * 64 + 1) {  // two names of at most 64 characters
    return absl::NotFoundError(absl::StrCat(
        "parameter: ", Quoted(path), " is not a parameter of the loaded spec"));
  }
  const absl::string_view name = path.substr(0, dot);
  const absl::string_view param = path.substr(dot + 1);
  ParamUpdate u;
  u.generation = config_.generation;
  u.value = value;
  // Finds `param` in `info`, checks liveness and range.
  auto resolve = [&](std::span<const ParamInfo> info) -> absl::Status {
    const int index = FindParam(info, param);
    if (index < 0) {
      return absl::NotFoundError(
          absl::StrCat(path, ": '", name, "' has no parameter '", param, "'"));
    }
    if (!info[index].live) {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": cannot change while running; load a new spec instead"));
    }
    if (auto s = CheckParam(info[index], value, name); !s.ok()) return s;
    u.param = index;
    return absl::OkStatus();
  };
  for (std::size_t k = 0; k < spec_.conductances.size(); ++k) {
    const ConductanceSpec& c = spec_.conductances[k];
    if (c.name != name) continue;
    u.object = ParamUpdate::Object::kConductance;
    u.index = static_cast<uint32_t>(k);
    if (param == "trigger") {
      const auto* lp = std::get_if<LigandGated::Params>(&c.model);
      if (lp == nullptr || lp->mode != LigandGated::Mode::kTriggered) {
        return absl::FailedPreconditionError(absl::StrCat(
            path, ": only a triggered ligand-gated conductance has a trigger"));
      }
      u.param = LigandGated::kTriggerAction;
      return u;
    }
    if (auto s = resolve(InfoFor(c.model)); !s.ok()) return s;
    return u;
  }
  auto find = [&](const auto& list, ParamUpdate::Object object,
                  std::span<const ParamInfo> info)
      -> std::optional<absl::StatusOr<ParamUpdate>> {
    for (std::size_t k = 0; k < list.size(); ++k) {
      if (list[k].name != name) continue;
      u.object = object;
      u.index = static_cast<uint32_t>(k);
      if (auto s = resolve(info); !s.ok())
        return absl::StatusOr<ParamUpdate>(s);
      return absl::StatusOr<ParamUpdate>(u);
    }
    return std::nullopt;
  };
  if (auto r = find(spec_.connections, ParamUpdate::Object::kConnection,
                    kConnectionParams.info()))
    return *r;
  if (auto r = find(spec_.graded_synapses, ParamUpdate::Object::kGraded,
                    kGradedSynapseParams.info()))
    return *r;
  if (auto r = find(spec_.gap_junctions, ParamUpdate::Object::kGap,
                    kGapJunctionParams.info()))
    return *r;
  if (auto r = find(spec_.model_cells, ParamUpdate::Object::kModelCell,
                    kModelCellParams.info()))
    return *r;
  if (auto r = find(spec_.backgrounds, ParamUpdate::Object::kBackground,
                    kBackgroundParams.info()))
    return *r;
  return absl::NotFoundError(
      absl::StrCat(path, ": no conductance or object named '", name, "'"));
}

}  // namespace dynclamp::rt
