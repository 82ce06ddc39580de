#include "rt_engine/model_set.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/base/names.h"

namespace dynclamp::rt {
namespace {

// How many signals the objects of a bank's kind publish (all of them).
template <typename Bank>
std::size_t Signals(const std::vector<typename Bank::Spec>& specs) {
  return specs.size() * std::size(Bank::kSignals);
}

}  // namespace

// ---------------------------------------------------------------------------
// Validation: everything is checked before anything is built, list by list
// in the order names are claimed.

absl::Status ModelSet::Validate() const {
  const ModelSetSpec& spec = spec_;
  const int n_cells =
      static_cast<int>(config_.cell_names.size() + spec.model_cells.size());
  SpecContext context(config_.dt_ms, n_cells,
                      std::set<std::string>(config_.cell_names.begin(),
                                            config_.cell_names.end()));
  const NetworkBank::Specs network = NetworkSpecs();
  // In the order names are claimed; the first list in error stops it.
  absl::Status s = ModelCellBank::Validate(spec.model_cells, context);
  if (s.ok()) s = ConductanceBank::Validate(spec.conductances, context);
  if (s.ok()) s = NetworkBank::ValidateSynapses(spec.synapses, context);
  if (s.ok())
    s = NetworkBank::ValidateArtificialCells(spec.artificial_cells, context);
  if (s.ok()) s = GradedSynapseBank::Validate(spec.graded_synapses, context);
  if (s.ok()) s = GapJunctionBank::Validate(spec.gap_junctions, context);
  if (s.ok()) s = BackgroundBank::Validate(spec.backgrounds, context);
  if (s.ok()) s = NetworkBank::ValidateConnections(network, context);
  if (!s.ok()) return s;
  if (spec.max_events_in_flight < 1 ||
      spec.max_events_in_flight > kMaxEventsInFlightCap) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_events_in_flight: must be in [1, %d], got %d",
                        kMaxEventsInFlightCap, spec.max_events_in_flight));
  }
  const std::size_t num_signals =
      ConductanceBank::CountSignals(spec.conductances) +
      ModelCellBank::CountSignals(spec.model_cells) +
      NetworkBank::CountSignals(network) +
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
  const std::size_t max_events = std::clamp<std::size_t>(
      spec.max_events_in_flight, 1, kMaxEventsInFlightCap);
  auto set = std::unique_ptr<ModelSet>(new ModelSet(max_events, spec));
  set->config_ = config;
  if (auto s = set->Validate(); !s.ok()) return s;
  if (auto s = set->Build(); !s.ok()) return s;
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

absl::Status ModelSet::Build() {
  const ModelSetSpec& spec = spec_;
  const double dt = config_.dt_ms;
  n_real_ = config_.cell_names.size();
  n_cells_ = n_real_ + spec.model_cells.size();
  v_.assign(n_cells_, 0.0);
  v_prev_.assign(n_cells_, 0.0);
  g_sum_.assign(n_cells_, 0.0);
  ge_sum_.assign(n_cells_, 0.0);
  auto publishes = [this](const std::string& name) { return Publishes(name); };

  if (auto s = conductances_.Build(spec.conductances, dt, n_real_, Sums(),
                                   publishes);
      !s.ok())
    return s;
  // Spiking model cells are the network's first sources.
  model_cells_.Build(spec.model_cells, dt, network_);
  auto cell_name = [&](int cell) -> std::string {
    return cell < static_cast<int>(n_real_)
               ? config_.cell_names[cell]
               : spec.model_cells[cell - n_real_].name;
  };
  auto cell_source = [&](int cell) -> uint32_t {
    return cell < static_cast<int>(n_real_)
               ? UINT32_MAX
               : model_cells_.spike_source(cell - n_real_);
  };
  if (auto s = network_.Build(NetworkSpecs(), dt, cell_name, cell_source,
                              publishes, config_.spike_log_capacity);
      !s.ok())
    return s;
  graded_.Build(spec.graded_synapses, dt);
  gaps_.Build(spec.gap_junctions, dt);
  backgrounds_.Build(spec.backgrounds, dt);
  return absl::OkStatus();
}

absl::Status ModelSet::BuildSignals() {
  const ModelSetSpec& spec = spec_;
  SignalSink sink([this](const std::string& name) { return Publishes(name); });
  conductances_.AddSignals(spec.conductances, sink);
  // The V the step used (as for real cells): v_prev_ after the step.
  model_cells_.AddSignals(spec.model_cells, v_prev_.data() + n_real_, sink);
  network_.AddSignals(NetworkSpecs(), sink);
  graded_.AddSignals(sink);
  gaps_.AddSignals(sink);
  backgrounds_.AddSignals(sink);
  for (const SignalSink::Published& p : sink.published()) {
    signals_.push_back({p.name, p.unit});
    signal_sources_.push_back(p.source);
  }
  if (const auto& wanted = spec.published_signals; wanted.has_value()) {
    const std::vector<std::string>& all = sink.all();
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

void ModelSet::Initialize() noexcept {
  model_cells_.Initialize(std::span<double>(v_).subspan(n_real_));
  conductances_.Initialize(Sums());
  network_.Initialize(v_);
  backgrounds_.Initialize();
  for (std::size_t c = 0; c < n_cells_; ++c) v_prev_[c] = v_[c];
  initialized_ = true;
}

StepReport ModelSet::Step(std::span<const double> v_mv, std::span<double> i_pa,
                          double elapsed_ms) noexcept {
  StepReport report;
  const double dt = config_.dt_ms;
  const double now = static_cast<double>(cycle_) * dt;
  for (std::size_t c = 0; c < n_real_; ++c) v_[c] = v_mv[c];
  const bool first = !initialized_;
  if (first) Initialize();

  // 1. Spikes from cells' V, then every event and self-event due by now.
  network_.Deliver(v_prev_, v_, now, dt, first, report);

  // 2. Every conductance-like object on every cell: sum g and g E per cell.
  const CellSums cells = Sums();
  conductances_.Step(cells, first, elapsed_ms > 0 ? elapsed_ms : dt, cycle_);
  network_.Step(cells);
  graded_.Step(cells, first);
  gaps_.Step(cells);
  backgrounds_.Step(cells);

  // 3. Real cells: the current to inject.
  for (std::size_t c = 0; c < n_real_ && c < i_pa.size(); ++c)
    i_pa[c] = ge_sum_[c] - g_sum_[c] * v_[c];
  for (std::size_t c = 0; c < n_real_; ++c) v_prev_[c] = v_[c];

  // 4. Model cells advance one step; their channels' gates follow the new V.
  model_cells_.Advance({std::span<double>(v_).subspan(n_real_),
                        std::span<double>(v_prev_).subspan(n_real_),
                        std::span<const double>(g_sum_).subspan(n_real_),
                        std::span<const double>(ge_sum_).subspan(n_real_)},
                       now, network_, report);
  conductances_.Advance(cells);

  // 5. Background and artificial cells' signals advance to the next step.
  backgrounds_.Advance();
  network_.Advance(now);
  ++cycle_;
  return report;
}

void ModelSet::WriteSignals(std::span<double> out) const noexcept {
  const std::size_t n = std::min(out.size(), signal_sources_.size());
  for (std::size_t k = 0; k < n; ++k) out[k] = *signal_sources_[k];
}

// ---------------------------------------------------------------------------
// Live parameters.

template <typename Self, typename F>
auto ModelSet::WithBank(Self& self, ParamUpdate::Object object, F f) {
  using Object = ParamUpdate::Object;
  switch (object) {
    case Object::kConductance:
      return f(self.conductances_);
    case Object::kConnection:
      return f(self.network_);
    case Object::kGraded:
      return f(self.graded_);
    case Object::kGap:
      return f(self.gaps_);
    case Object::kModelCell:
      return f(self.model_cells_);
    case Object::kBackground:
      break;
  }
  return f(self.backgrounds_);
}

bool ModelSet::Apply(const ParamUpdate& u) noexcept {
  if (u.generation != config_.generation) return false;
  return WithBank(*this, u.object, [&](auto& bank) {
    return bank.Apply(u.index, u.param, u.value);
  });
}

double ModelSet::Read(const ParamUpdate& u) const noexcept {
  if (u.generation != config_.generation)
    return std::numeric_limits<double>::quiet_NaN();
  return WithBank(*this, u.object, [&](const auto& bank) {
    return bank.Read(u.index, u.param);
  });
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
  in(Object::kConnection,
     FindLive(spec_.connections, name, param, value,
              NetworkBank::kConnectionParams.info(), path));
  in(Object::kGraded, FindLive(spec_.graded_synapses, name, param, value,
                               GradedSynapseBank::kParams.info(), path));
  in(Object::kGap, FindLive(spec_.gap_junctions, name, param, value,
                            GapJunctionBank::kParams.info(), path));
  in(Object::kModelCell, FindLive(spec_.model_cells, name, param, value,
                                  ModelCellBank::kParams.info(), path));
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
