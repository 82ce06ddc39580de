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

constexpr int kMaxEventsPerCycle = 1'000'000;

// Kinds whose live values are kept outside their spec struct at run time
// (in arrays the step reads) handle exactly these rows in Apply and Read.
static_assert(kModelCellParams.LiveAre({&ModelCellSpec::bias_pa}));
static_assert(kConnectionParams.LiveAre({&ConnectionSpec::weight}));

// How many signals the objects of a bank's kind publish (all of them).
template <typename Bank>
std::size_t Signals(const std::vector<typename Bank::Spec>& specs) {
  return specs.size() * std::size(Bank::kSignals);
}

}  // namespace

// ---------------------------------------------------------------------------
// Validation: everything is checked before anything is built.

absl::Status ModelSet::Validate(const ModelSetSpec& spec) {
  const double dt = config_.dt_ms;
  const int n_real = static_cast<int>(config_.cell_names.size());
  const int n_cells = n_real + static_cast<int>(spec.model_cells.size());
  SpecContext context(dt, n_cells,
                      std::set<std::string>(config_.cell_names.begin(),
                                            config_.cell_names.end()));
  auto claim = [&](absl::string_view list, std::size_t k,
                   const std::string& name) {
    return context.Claim(list, k, name).status();
  };
  auto named = [](absl::string_view list, std::size_t k,
                  const std::string& name) {
    return absl::StrCat(list, "[", k, "] (", name, ")");
  };
  auto cell_ok = [&](int cell, const std::string& path,
                     absl::string_view field) {
    return context.CheckCell(cell, path, field);
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
  if (auto s = ConductanceBank::Validate(spec.conductances, context); !s.ok())
    return s;
  num_signals += ConductanceBank::CountSignals(spec.conductances);
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
  if (auto s = GradedSynapseBank::Validate(spec.graded_synapses, context);
      !s.ok())
    return s;
  if (auto s = GapJunctionBank::Validate(spec.gap_junctions, context); !s.ok())
    return s;
  if (auto s = BackgroundBank::Validate(spec.backgrounds, context); !s.ok())
    return s;
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
                 Signals<GradedSynapseBank>(spec.graded_synapses) +
                 Signals<GapJunctionBank>(spec.gap_junctions) +
                 Signals<BackgroundBank>(spec.backgrounds);
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

  if (auto s = set->Build(spec); !s.ok()) return s;
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

absl::Status ModelSet::Build(const ModelSetSpec& spec) {
  const double dt = config_.dt_ms;
  n_real_ = config_.cell_names.size();
  n_cells_ = n_real_ + spec.model_cells.size();
  v_.assign(n_cells_, 0.0);
  v_prev_.assign(n_cells_, 0.0);
  g_sum_.assign(n_cells_, 0.0);
  ge_sum_.assign(n_cells_, 0.0);

  if (auto s = conductances_.Build(
          spec.conductances, dt, n_real_, n_cells_,
          [this](const std::string& name) { return Publishes(name); });
      !s.ok())
    return s;

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
  graded_.Build(spec.graded_synapses, dt);
  gaps_.Build(spec.gap_junctions, dt);
  backgrounds_.Build(spec.backgrounds, dt);
  return absl::OkStatus();
}

absl::Status ModelSet::BuildSignals() {
  const ModelSetSpec& spec = spec_;
  const auto& wanted = spec.published_signals;
  SignalSink sink([this](const std::string& name) { return Publishes(name); });
  auto add = [&](std::string name, const char* unit, const double* src) {
    return sink.Add(std::move(name), unit, src);
  };
  conductances_.AddSignals(spec.conductances, sink);
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
  graded_.AddSignals(sink);
  gaps_.AddSignals(sink);
  backgrounds_.AddSignals(sink);
  for (const SignalSink::Published& p : sink.published()) {
    signals_.push_back({p.name, p.unit});
    signal_sources_.push_back(p.source);
  }
  const std::vector<std::string>& all = sink.all();
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
  conductances_.Initialize({v_, g_sum_, ge_sum_});
  StepReport ignored;
  for (uint32_t k = 0; k < artificial_.size(); ++k) {
    ArtificialCtx ctx(*this, k, ignored);
    InitArtificial(artificial_[k].params, artificial_[k].coeffs,
                   artificial_[k].state, ctx);
  }
  detectors_.Arm(v_);
  backgrounds_.Initialize();
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

  // 2. Every conductance-like object on every cell: sum g and g E per cell.
  const CellSums cells{v_, g_sum_, ge_sum_};
  conductances_.Step(cells, first, clamped_dt, cycle_);
  for (uint32_t k : synapse_outputs_) {
    SynapseRuntime& s = synapses_[k];
    s.out.g_ns = pools_.Conductance(s.pool);
    s.out.i_pa = s.out.g_ns * (s.params.e_rev_mv - v_[s.out.cell]);
  }
  // Each pool's g now; its state then steps (events due next arrive in
  // ProcessDue).
  pools_.AddAndStep(g_sum_, ge_sum_);
  graded_.Step(cells, first);
  gaps_.Step(cells);
  backgrounds_.Step(cells);

  // 3. Real cells: the current to inject.
  for (std::size_t c = 0; c < n_real_ && c < i_pa.size(); ++c)
    i_pa[c] = ge_sum_[c] - g_sum_[c] * v_[c];
  for (std::size_t c = 0; c < n_real_; ++c) v_prev_[c] = v_[c];

  // 4. Model cells advance one step; their channels' gates follow the new V.
  AdvanceModelCells(now, report);
  conductances_.Advance(cells);

  // 5. Synapses and background advance to the next step.
  backgrounds_.Advance();
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
    case ParamUpdate::Object::kConductance:
      return conductances_.Apply(u.index, u.param, u.value,
                                 {v_, g_sum_, ge_sum_});
    case ParamUpdate::Object::kConnection:  // weight, its one live row
      if (u.index >= connections_.size()) return false;
      connections_[u.index].weight = u.value;
      return true;
    case ParamUpdate::Object::kGraded:
      return graded_.Apply(u.index, u.param, u.value);
    case ParamUpdate::Object::kGap:
      return gaps_.Apply(u.index, u.param, u.value);
    case ParamUpdate::Object::kModelCell:  // bias_pa, its one live row
      if (u.index >= model_cells_.size()) return false;
      bias_pa_[u.index] = u.value;
      return true;
    case ParamUpdate::Object::kBackground:
      return backgrounds_.Apply(u.index, u.param, u.value);
  }
  return false;
}

double ModelSet::Read(const ParamUpdate& u) const noexcept {
  constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  if (u.generation != config_.generation) return kNone;
  switch (u.object) {
    case ParamUpdate::Object::kConductance:
      return conductances_.Read(u.index, u.param);
    case ParamUpdate::Object::kConnection:
      return u.index < connections_.size() ? connections_[u.index].weight
                                           : kNone;
    case ParamUpdate::Object::kGraded:
      return graded_.Read(u.index, u.param);
    case ParamUpdate::Object::kGap:
      return gaps_.Read(u.index, u.param);
    case ParamUpdate::Object::kModelCell:
      return u.index < model_cells_.size() ? bias_pa_[u.index] : kNone;
    case ParamUpdate::Object::kBackground:
      return backgrounds_.Read(u.index, u.param);
  }
  return kNone;
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
  // The first list with an object of that name (names are unique).
  using Object = ParamUpdate::Object;
  std::optional<absl::StatusOr<LiveRef>> found;
  Object object = Object::kConductance;
  auto in = [&](Object o, std::optional<absl::StatusOr<LiveRef>> r) {
    if (found.has_value() || !r.has_value()) return;
    found = std::move(r);
    object = o;
  };
  in(Object::kConductance,
     ConductanceBank::Resolve(spec_.conductances, name, param, value, path));
  in(Object::kConnection, FindLive(spec_.connections, name, param, value,
                                   kConnectionParams.info(), path));
  in(Object::kGraded, FindLive(spec_.graded_synapses, name, param, value,
                               GradedSynapseBank::kParams.info(), path));
  in(Object::kGap, FindLive(spec_.gap_junctions, name, param, value,
                            GapJunctionBank::kParams.info(), path));
  in(Object::kModelCell, FindLive(spec_.model_cells, name, param, value,
                                  kModelCellParams.info(), path));
  in(Object::kBackground, FindLive(spec_.backgrounds, name, param, value,
                                   BackgroundBank::kParams.info(), path));
  if (!found.has_value()) {
    return absl::NotFoundError(
        absl::StrCat(path, ": no conductance or object named '", name, "'"));
  }
  if (!found->ok()) return found->status();
  ParamUpdate u;
  u.generation = config_.generation;
  u.object = object;
  u.index = (*found)->index;
  u.param = (*found)->param;
  u.value = value;
  return u;
}

}  // namespace dynclamp::rt
