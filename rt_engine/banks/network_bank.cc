#include "rt_engine/banks/network_bank.h"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dynclamp::rt {
namespace {

constexpr int kMaxEventsPerCycle = 1'000'000;

// Timers: one per artificial cell, then one per connection onto an AMPA_S
// synapse (its stream's pulse).
std::size_t TimersFor(const NetworkBank::Specs& specs) {
  std::size_t timers = specs.artificial_cells.size();
  for (const ConnectionSpec& c : specs.connections) {
    if (c.target.kind == TargetRef::Kind::kSynapse && c.target.index >= 0 &&
        c.target.index < static_cast<int>(specs.synapses.size()) &&
        specs.synapses[c.target.index].params.kind == SynapseKind::kAmpa)
      ++timers;
  }
  return timers;
}

}  // namespace

// What an artificial cell's callbacks reach: its spikes and its timer.
class NetworkBank::ArtificialCtx final : public ArtificialContext {
 public:
  ArtificialCtx(NetworkBank& net, uint32_t cell, StepReport& report)
      : net_(net), cell_(cell), report_(report) {}
  void Fire(double t) noexcept override {
    if (net_.artificial_spiked_[cell_] == 0.0 &&
        net_.spiked_cells_.size() < net_.spiked_cells_.capacity())
      net_.spiked_cells_.push_back(cell_);  // within reserved capacity
    net_.artificial_spiked_[cell_] += 1.0;
    net_.Fire(net_.artificial_[cell_].source, t, report_);
  }
  void SetTimer(double t) noexcept override { net_.timers_.Set(cell_, t); }
  double TimerTime() const noexcept override {
    return net_.timers_.time_of(cell_);
  }

 private:
  NetworkBank& net_;
  uint32_t cell_;
  StepReport& report_;
};

NetworkBank::NetworkBank(std::size_t max_events, const Specs& specs)
    : events_(max_events), timers_(TimersFor(specs)) {}

absl::Status NetworkBank::ValidateSynapses(
    const std::vector<EventSynapseSpec>& specs, SpecContext& context) {
  return ValidateEach(specs, "synapses", context,
                      [&](const EventSynapseSpec& sy, const std::string& path) {
                        if (auto s = context.CheckCell(sy.cell, path, "cell");
                            !s.ok())
                          return s;
                        return ValidateEventSynapse(sy.params, path);
                      });
}

absl::Status NetworkBank::ValidateArtificialCells(
    const std::vector<ArtificialCellSpec>& specs, SpecContext& context) {
  return ValidateEach(specs, "artificial_cells", context,
                      [](const ArtificialCellSpec& a, const std::string& path) {
                        return ValidateArtificial(a.params, path);
                      });
}

absl::Status NetworkBank::ValidateConnections(const Specs& specs,
                                              SpecContext& context) {
  if (specs.connections.size() > kMaxConnections) {
    return absl::InvalidArgumentError(
        absl::StrFormat("connections: at most %d, got %d", kMaxConnections,
                        specs.connections.size()));
  }
  const double dt = context.dt_ms();
  const int n_artificial = static_cast<int>(specs.artificial_cells.size());
  for (std::size_t k = 0; k < specs.connections.size(); ++k) {
    const ConnectionSpec& c = specs.connections[k];
    absl::StatusOr<std::string> named = context.Claim("connections", k, c.name);
    if (!named.ok()) return named.status();
    const std::string& path = *named;
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
      if (auto s = context.CheckCell(c.source.index, path, "source"); !s.ok())
        return s;
    } else if (c.source.index < 0 || c.source.index >= n_artificial) {
      return FieldError(path, "source", "no such artificial cell");
    }
    if (c.target.kind == TargetRef::Kind::kSynapse) {
      if (c.target.index < 0 ||
          c.target.index >= static_cast<int>(specs.synapses.size()))
        return FieldError(path, "target", "no such synapse");
    } else {
      if (c.target.index < 0 || c.target.index >= n_artificial)
        return FieldError(path, "target", "no such artificial cell");
      const ArtificialKind kind =
          specs.artificial_cells[c.target.index].params.kind;
      if (kind == ArtificialKind::kVecStim || kind == ArtificialKind::kNetStim)
        return FieldError(path, "target",
                          "a spike generator takes no input events");
    }
  }
  return absl::OkStatus();
}

std::size_t NetworkBank::CountSignals(const Specs& specs) {
  return specs.synapses.size() * std::size(kSynapseSignals) +
         specs.artificial_cells.size() * std::size(kArtificialSignals);
}

uint32_t NetworkBank::AddSource(std::string name) {
  sources_.push_back({});
  source_names_.push_back(std::move(name));
  return static_cast<uint32_t>(sources_.size() - 1);
}

absl::Status NetworkBank::Build(
    const Specs& specs, double dt_ms,
    const std::function<std::string(int)>& cell_name,
    const std::function<uint32_t(int)>& cell_source,
    const std::function<bool(const std::string&)>& publishes,
    std::size_t spike_log_capacity) {
  spike_log_.assign(spike_log_capacity, SpikeRecord{0, 0.0});
  artificial_.reserve(specs.artificial_cells.size());
  artificial_spiked_.assign(specs.artificial_cells.size(), 0.0);
  spiked_cells_.reserve(specs.artificial_cells.size());
  for (const ArtificialCellSpec& a : specs.artificial_cells) {
    ArtificialRuntime rt;
    rt.params = a.params;
    rt.coeffs = PrepareArtificial(a.params);
    rt.source = AddSource(a.name);
    artificial_.push_back(std::move(rt));
  }
  // Each connection's source: an artificial cell, a spiking model cell, or
  // a detector on a cell's V (shared by equal thresholds).
  const std::vector<ConnectionSpec>& connections = specs.connections;
  std::map<std::tuple<int, double, double>, uint32_t> detector_of;
  std::vector<SpikeDetectors::Spec> detector_specs;
  std::vector<uint32_t> source_of_conn(connections.size());
  for (std::size_t k = 0; k < connections.size(); ++k) {
    const ConnectionSpec& c = connections[k];
    if (c.source.kind == SourceRef::Kind::kArtificial) {
      source_of_conn[k] = artificial_[c.source.index].source;
      continue;
    }
    const int cell = c.source.index;
    if (const uint32_t own = cell_source(cell); own != UINT32_MAX) {
      source_of_conn[k] = own;
      continue;
    }
    const auto key = std::make_tuple(cell, c.threshold_mv, c.hysteresis_mv);
    auto it = detector_of.find(key);
    if (it == detector_of.end()) {
      detector_specs.push_back({static_cast<uint32_t>(cell), c.threshold_mv,
                                c.hysteresis_mv,
                                AddSource(absl::StrCat(cell_name(cell), "@",
                                                       c.threshold_mv, "mV"))});
      it = detector_of.emplace(key, detector_specs.back().source).first;
    }
    source_of_conn[k] = it->second;
  }
  detectors_ = SpikeDetectors(std::move(detector_specs));
  // Connections; their order by source (CSR) with each one's delay.
  connections_.reserve(connections.size());
  connection_state_.assign(connections.size(), ConnectionState{});
  ampa_timer_.assign(connections.size(), UINT32_MAX);
  uint32_t next_timer = static_cast<uint32_t>(specs.artificial_cells.size());
  for (std::size_t k = 0; k < connections.size(); ++k) {
    const ConnectionSpec& c = connections[k];
    ConnectionRuntime rt;
    rt.target = c.target;
    rt.weight = c.weight;
    if (c.target.kind == TargetRef::Kind::kSynapse &&
        specs.synapses[c.target.index].params.kind == SynapseKind::kAmpa) {
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
  outgoing_.assign(connections.size(), Outgoing{});
  std::vector<uint32_t> fill(sources_.size(), 0);
  for (std::size_t k = 0; k < connections.size(); ++k) {
    const uint32_t s = source_of_conn[k];
    outgoing_[sources_[s].first + fill[s]++] = {static_cast<uint32_t>(k),
                                                connections[k].delay_ms};
  }
  for (std::size_t s = 0; s < sources_.size(); ++s)
    sources_[s].count = counts[s];
  BuildSynapses(specs, dt_ms, publishes);
  has_events_ = !connections_.empty() || !artificial_.empty();
  return absl::OkStatus();
}

void NetworkBank::BuildSynapses(
    const Specs& specs, double dt_ms,
    const std::function<bool(const std::string&)>& publishes) {
  synapses_.reserve(specs.synapses.size());
  std::map<std::vector<double>, uint32_t> shared_pool;
  std::vector<SynapsePools::Pool> pools;
  for (const EventSynapseSpec& sy : specs.synapses) {
    SynapseRuntime rt;
    rt.out.cell = static_cast<uint32_t>(sy.cell);
    rt.params = sy.params;
    rt.coeffs = PrepareEventSynapse(sy.params, dt_ms);
    const bool published =
        publishes(absl::StrCat(sy.name, ".", kSynapseSignals[0].suffix)) ||
        publishes(absl::StrCat(sy.name, ".", kSynapseSignals[1].suffix));
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
}

void NetworkBank::AddSignals(const Specs& specs, SignalSink& sink) {
  for (std::size_t k = 0; k < specs.synapses.size(); ++k) {
    sink.Add(specs.synapses[k].name, kSynapseSignals[0],
             &synapses_[k].out.g_ns);
    sink.Add(specs.synapses[k].name, kSynapseSignals[1],
             &synapses_[k].out.i_pa);
  }
  for (std::size_t k = 0; k < specs.artificial_cells.size(); ++k) {
    const std::string& name = specs.artificial_cells[k].name;
    if (sink.Add(name, kArtificialSignals[0], &artificial_[k].m_signal))
      m_published_.push_back(static_cast<uint32_t>(k));
    sink.Add(name, kArtificialSignals[1], &artificial_spiked_[k]);
  }
}

void NetworkBank::Initialize(std::span<const double> v) noexcept {
  StepReport ignored;
  for (uint32_t k = 0; k < artificial_.size(); ++k) {
    ArtificialCtx ctx(*this, k, ignored);
    InitArtificial(artificial_[k].params, artificial_[k].coeffs,
                   artificial_[k].state, ctx);
  }
  detectors_.Arm(v);
}

void NetworkBank::Fire(uint32_t source, double t, StepReport& report) noexcept {
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

void NetworkBank::DeliverDue(std::span<const double> v_prev,
                             std::span<const double> v, double now,
                             double dt_ms, bool first,
                             StepReport& report) noexcept {
  for (uint32_t k : spiked_cells_) artificial_spiked_[k] = 0.0;
  spiked_cells_.clear();
  if (!first) {
    for (const SpikeDetectors::Crossing& c :
         detectors_.Detect(v_prev, v, now, dt_ms))
      Fire(c.source, c.t_ms, report);
  }
  const double horizon = now + 1e-6 * dt_ms;
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

void NetworkBank::StepSynapses(CellSums cells) noexcept {
  for (uint32_t k : synapse_outputs_) {
    SynapseRuntime& s = synapses_[k];
    s.out.g_ns = pools_.Conductance(s.pool);
    s.out.i_pa = s.out.g_ns * (s.params.e_rev_mv - cells.v[s.out.cell]);
  }
  // Each pool's g now; its state then steps (events due next arrive in
  // Deliver).
  pools_.AddAndStep(cells.g, cells.ge);
}

void NetworkBank::AdvanceM(double now) noexcept {
  for (uint32_t k : m_published_) {
    ArtificialRuntime& a = artificial_[k];
    a.m_signal = ArtificialM(a.params, a.coeffs, a.state, now);
  }
}

bool NetworkBank::Apply(uint32_t index, int, double value) noexcept {
  if (index >= connections_.size()) return false;
  connections_[index].weight = value;  // the one live row (static_assert)
  return true;
}

double NetworkBank::Read(uint32_t index, int) const noexcept {
  return index < connections_.size() ? connections_[index].weight
                                     : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace dynclamp::rt
