#include "rt_engine/loop/clamp_engine.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/base/clock.h"

namespace dynclamp::rt {
namespace {
// Layouts of older generations are kept so frames still in flight can be
// interpreted; this many is plenty for a drain that runs every few ms.
constexpr std::size_t kLayoutsKept = 16;
}  // namespace

absl::StatusOr<std::unique_ptr<ClampEngine>> ClampEngine::Create(
    Daq& daq, const ClampEngineConfig& config) {
  if (daq.num_channels() == 0) {
    return absl::FailedPreconditionError("daq: configure the DAQ first");
  }
  if (config.period_ns < 5'000 || config.period_ns > 10'000'000) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "period_ns: must be in [5000, 10000000] ns (5 us to 10 ms), got %d",
        config.period_ns));
  }
  if (config.ring_capacity_frames < 2 ||
      config.ring_capacity_frames > (1u << 24)) {
    return absl::InvalidArgumentError(
        "ring_capacity_frames: must be in [2, 16777216]");
  }
  if (config.max_signals > 4096) {
    return absl::InvalidArgumentError("max_signals: must be <= 4096");
  }
  if (config.max_consecutive_overruns < 0) {
    return absl::InvalidArgumentError(
        "max_consecutive_overruns: must be >= 0 (0 disables)");
  }
  return std::unique_ptr<ClampEngine>(new ClampEngine(daq, config));
}

ClampEngine::ClampEngine(Daq& daq, const ClampEngineConfig& config)
    : daq_(daq),
      config_(config),
      num_cells_(daq.num_channels()),
      v_mv_(num_cells_, 0.0),
      i_pa_(num_cells_, 0.0),
      holding_pa_(new std::atomic<double>[num_cells_]),
      param_queue_(config.param_queue_capacity),
      ring_(config.ring_capacity_frames,
            2 * daq.num_channels() + config.max_signals) {
  for (std::size_t c = 0; c < num_cells_; ++c) holding_pa_[c].store(0.0);
  absl::MutexLock lock(&mu_);
  FrameLayout empty;
  empty.generation = 0;
  for (const auto& ch : daq_.config().channels)
    empty.values.push_back({absl::StrCat(ch.name, ".v_mv"), "mV"});
  for (const auto& ch : daq_.config().channels)
    empty.values.push_back({absl::StrCat(ch.name, ".i_pa"), "pA"});
  layouts_[0] = std::move(empty);
}

ClampEngine::~ClampEngine() {
  delete active_;
  delete posted_timeline_;
}

ModelSet::Config ClampEngine::ModelSetConfig() const {
  ModelSet::Config mc;
  mc.dt_ms = static_cast<double>(config_.period_ns) * 1e-6;
  for (const auto& ch : daq_.config().channels)
    mc.cell_names.push_back(ch.name);
  mc.max_signals = config_.max_signals;
  return mc;
}

absl::StatusOr<std::vector<SignalInfo>> ClampEngine::ValidateModelSet(
    const ModelSetSpec& spec) const {
  absl::StatusOr<std::unique_ptr<ModelSet>> set =
      ModelSet::Prepare(spec, ModelSetConfig());
  if (!set.ok()) return set.status();
  return (*set)->signals();
}

absl::StatusOr<uint32_t> ClampEngine::LoadModelSet(const ModelSetSpec& spec) {
  ModelSet::Config mc = ModelSetConfig();
  absl::MutexLock lock(&mu_);
  mc.generation = next_generation_;
  // Heavy work (validation, tables) happens here, off the RT thread.
  absl::StatusOr<std::unique_ptr<ModelSet>> set = ModelSet::Prepare(spec, mc);
  if (!set.ok()) return set.status();
  ++next_generation_;
  FrameLayout layout = layouts_[0];
  layout.generation = mc.generation;
  for (const SignalInfo& s : (*set)->signals()) layout.values.push_back(s);
  layouts_[mc.generation] = std::move(layout);
  while (layouts_.size() > kLayoutsKept + 1) {
    layouts_.erase(std::next(layouts_.begin()));  // keep generation 0
  }
  latest_ = set->get();
  mailbox_.Post(*std::move(set));
  return mc.generation;
}

absl::Status ClampEngine::SetParam(absl::string_view path, double value) {
  absl::MutexLock lock(&mu_);
  if (latest_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": no model set is loaded"));
  }
  absl::StatusOr<ParamUpdate> update = latest_->ResolveParam(path, value);
  if (!update.ok()) return update.status();
  if (!param_queue_.TryPush(*update)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path,
        ": too many parameter changes pending; the loop applies them "
        "once per cycle, retry shortly"));
  }
  return absl::OkStatus();
}

void ClampEngine::RequestClearFault() {
  clear_fault_requested_.store(true, std::memory_order_release);
}

absl::StatusOr<std::unique_ptr<Timeline>> ClampEngine::CompileTimeline(
    const ProtocolSpec& protocol, const TimelineLimits& limits) const {
  absl::MutexLock lock(&mu_);
  return Timeline::Compile(protocol, ModelSetConfig().cell_names, latest_,
                           static_cast<double>(config_.period_ns) * 1e-6,
                           limits);
}

absl::StatusOr<std::unique_ptr<Timeline>> ClampEngine::CompileTimelineFor(
    const ModelSetSpec& spec, const ProtocolSpec& protocol,
    const TimelineLimits& limits, std::vector<SignalInfo>* signals) const {
  ModelSet::Config mc = ModelSetConfig();
  {
    absl::MutexLock lock(&mu_);
    mc.generation = next_generation_;
  }
  absl::StatusOr<std::unique_ptr<ModelSet>> set = ModelSet::Prepare(spec, mc);
  if (!set.ok()) return set.status();
  if (signals != nullptr) *signals = (*set)->signals();
  return Timeline::Compile(protocol, mc.cell_names, set->get(),
                           static_cast<double>(config_.period_ns) * 1e-6,
                           limits);
}

uint64_t ClampEngine::PlayTimeline(std::unique_ptr<Timeline> timeline) {
  absl::MutexLock lock(&mu_);
  auto posted = std::make_unique<PostedTimeline>();
  posted->timeline = std::move(timeline);
  posted->id = next_timeline_id_++;
  const uint64_t id = posted->id;
  player_command_.store(0, std::memory_order_release);
  timeline_mailbox_.Post(std::move(posted));
  return id;
}

void ClampEngine::DropTimeline() {
  absl::MutexLock lock(&mu_);
  timeline_mailbox_.Post(nullptr);  // a posted one not yet taken
  if (posted_timeline_ != nullptr) {
    posted_timeline_->timeline->Begin(active_, PlayerCommand::kAbort);
    delete posted_timeline_;
    posted_timeline_ = nullptr;
  }
  player_command_.store(0, std::memory_order_release);
  player_word_.store(0, std::memory_order_release);
  player_counts_.store(0, std::memory_order_release);
}

void ClampEngine::CommandPlayer(PlayerCommand command) {
  player_command_.store(static_cast<uint8_t>(command),
                        std::memory_order_release);
}

PlayerStatus ClampEngine::player_status() const noexcept {
  const uint64_t word = player_word_.load(std::memory_order_acquire);
  const uint64_t counts = player_counts_.load(std::memory_order_acquire);
  PlayerStatus s;
  s.timeline_id = word >> 32;
  s.state = static_cast<PlayerState>((word >> 24) & 0xff);
  s.protocol_sweep = static_cast<int32_t>(word & 0xffffff) - 1;
  s.sweeps_completed = static_cast<uint32_t>(counts >> 32);
  s.sweeps_started = static_cast<uint32_t>(counts);
  return s;
}

void ClampEngine::ReclaimRetired() {
  absl::MutexLock lock(&mu_);
  mailbox_.ReclaimRetired();
  timeline_mailbox_.ReclaimRetired();
}

ModelSetSpec ClampEngine::loaded_spec() const {
  absl::MutexLock lock(&mu_);
  return latest_ ? latest_->spec() : ModelSetSpec{};
}

uint32_t ClampEngine::loaded_generation() const {
  absl::MutexLock lock(&mu_);
  return latest_ ? latest_->generation() : 0;
}

absl::StatusOr<FrameLayout> ClampEngine::LayoutFor(uint32_t generation) const {
  absl::MutexLock lock(&mu_);
  auto it = layouts_.find(generation);
  if (it == layouts_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no frame layout for model generation ", generation));
  }
  return it->second;
}

void ClampEngine::MarkFault(FaultReason reason) noexcept {
  if (state() != EngineState::kFault) stats_.faults.Add();
  fault_.store(static_cast<uint8_t>(reason), std::memory_order_release);
  state_.store(static_cast<uint8_t>(EngineState::kFault),
               std::memory_order_release);
}

void ClampEngine::EnterFault(FaultReason reason) noexcept {
  MarkFault(reason);
  ZeroOutputs();
}

void ClampEngine::ZeroOutputs() noexcept {
  std::fill(i_pa_.begin(), i_pa_.end(), 0.0);
  daq_.WriteZero();
}

void ClampEngine::RunCycle(int64_t deadline_ns, int64_t wake_ns,
                           int64_t period_ns) noexcept {
  Cycle cycle;
  cycle.deadline_ns = deadline_ns;
  cycle.wake_ns = wake_ns;
  cycle.period_ns = period_ns;
  TakeChanges(cycle);
  Read(cycle);
  Step(cycle);
  Write(cycle);
  Publish(cycle);
}

// Changes take effect only here, between cycles: skipped slots, a new model
// set, live parameters, a new protocol, a cleared FAULT.
void ClampEngine::TakeChanges(Cycle& cycle) noexcept {
  cycle.flags = previous_overran_ ? uint32_t{kFrameAfterOverrun} : 0u;
  cycle.skipped = pending_skip_;
  pending_skip_ = 0;
  slot_ += cycle.skipped;
  slots_skipped_ += static_cast<uint32_t>(cycle.skipped);
  ModelSet* next = mailbox_.SwapFromRT(active_);
  if (next != active_) {
    active_ = next;
    active_generation_.store(active_->generation(), std::memory_order_release);
    stats_.model_swaps.Add();
    cycle.flags |= kFrameModelSwapped;
  }
  ParamUpdate update;
  while (param_queue_.TryPop(update)) {
    if (active_ != nullptr && active_->Apply(update)) {
      stats_.param_updates_applied.Add();
    } else {
      stats_.param_updates_stale.Add();
    }
  }
  posted_timeline_ = timeline_mailbox_.SwapFromRT(posted_timeline_);
  if (clear_fault_requested_.exchange(false, std::memory_order_acq_rel)) {
    fault_.store(static_cast<uint8_t>(FaultReason::kNone),
                 std::memory_order_release);
    state_.store(static_cast<uint8_t>(EngineState::kRunning),
                 std::memory_order_release);
    consecutive_overruns_ = 0;
  }
}

// Every input; a failed read enters FAULT (the write stage then writes 0).
void ClampEngine::Read(Cycle& cycle) noexcept {
  daq_.BeginCycle(cycle.wake_ns);
  cycle.read_start_ns = MonotonicNowNs();
  if (const DaqError read = daq_.ReadInputs(v_mv_); read != DaqError::kOk) {
    stats_.daq_read_errors.Add();
    cycle.flags |= kFrameDaqError;
    MarkFault(read == DaqError::kDeviceLost ? FaultReason::kDaqLost
                                            : FaultReason::kDaqRead);
  }
  cycle.running = state() == EngineState::kRunning;
}

// The models' currents, the holding currents and the protocol's: its
// parameter changes before the model step, its stimulus after. A FAULT
// cuts the protocol short (its data would be meaningless).
void ClampEngine::Step(Cycle& cycle) noexcept {
  cycle.timeline =
      posted_timeline_ != nullptr ? posted_timeline_->timeline.get() : nullptr;
  Timeline* timeline = cycle.timeline;
  if (timeline != nullptr) {
    auto command = static_cast<PlayerCommand>(
        player_command_.exchange(0, std::memory_order_acq_rel));
    if (!cycle.running) command = PlayerCommand::kAbort;
    cycle.tick =
        timeline->Begin(active_, command, static_cast<int64_t>(cycle.skipped));
    cycle.flags |= cycle.tick.flags;
  }
  if (cycle.running && active_ != nullptr) {
    const int64_t t0 = MonotonicNowNs();
    const StepReport report =
        active_->Step(v_mv_, i_pa_, daq_.SampleIntervalMs(cycle.period_ns));
    cycle.compute_ns = MonotonicNowNs() - t0;
    if (report.events_delivered)
      stats_.events_delivered.Add(report.events_delivered);
    if (report.events_dropped) stats_.events_dropped.Add(report.events_dropped);
    if (report.spikes) stats_.spikes.Add(report.spikes);
  } else {
    std::fill(i_pa_.begin(), i_pa_.end(), 0.0);
  }
  if (cycle.running) {
    for (std::size_t c = 0; c < num_cells_; ++c)
      i_pa_[c] += holding_pa_[c].load(std::memory_order_relaxed);
  }
  if (timeline != nullptr) {
    const std::span<const double> stimulus = timeline->stimulus();
    for (std::size_t c = 0; c < num_cells_; ++c) i_pa_[c] += stimulus[c];
    player_word_.store(
        (posted_timeline_->id << 32) |
            (uint64_t{static_cast<uint8_t>(timeline->state())} << 24) |
            static_cast<uint32_t>(timeline->protocol_sweep() + 1),
        std::memory_order_release);
    player_counts_.store((uint64_t{timeline->sweeps_completed()} << 32) |
                             timeline->sweeps_started(),
                         std::memory_order_release);
  }
}

// Every output, clipped to its limit (counted); 0 in FAULT, every cycle.
void ClampEngine::Write(Cycle& cycle) noexcept {
  if (cycle.running) {
    const DaqWriteResult wr = daq_.WriteOutputs(i_pa_);
    if (wr.clipped) {
      stats_.clipped_outputs.Add(wr.clipped);
      cycle.flags |= kFrameClipped;
    }
    if (wr.error != DaqError::kOk) {
      stats_.daq_write_errors.Add();
      cycle.flags |= kFrameDaqError;
      EnterFault(wr.error == DaqError::kDeviceLost ? FaultReason::kDaqLost
                                                   : FaultReason::kDaqWrite);
    }
  } else {
    daq_.WriteZero();
  }
  cycle.write_end_ns = MonotonicNowNs();
  if (state() == EngineState::kFault) cycle.flags |= kFrameFault;
}

// One frame (V and I of each cell, every model signal) and the timing
// figures.
void ClampEngine::Publish(const Cycle& cycle) noexcept {
  const int64_t latency_ns = cycle.write_end_ns - cycle.read_start_ns;
  const int64_t lateness_ns =
      std::max<int64_t>(0, cycle.wake_ns - cycle.deadline_ns);
  FrameView frame = ring_.BeginPush();
  if (frame.header != nullptr) {
    FrameHeader& h = *frame.header;
    h.cycle = slot_;
    h.slots_skipped = slots_skipped_;
    h.wake_time_ns = cycle.wake_ns;
    h.flags = cycle.flags;
    h.model_generation = active_ ? active_->generation() : 0;
    h.period_ns = static_cast<uint32_t>(
        std::clamp<int64_t>(cycle.period_ns, 0, UINT32_MAX));
    h.lateness_ns =
        static_cast<uint32_t>(std::min<int64_t>(lateness_ns, UINT32_MAX));
    h.compute_ns =
        static_cast<uint32_t>(std::min<int64_t>(cycle.compute_ns, UINT32_MAX));
    h.latency_ns =
        static_cast<uint32_t>(std::min<int64_t>(latency_ns, UINT32_MAX));
    double* out = frame.values.data();
    for (std::size_t c = 0; c < num_cells_; ++c) *out++ = v_mv_[c];
    for (std::size_t c = 0; c < num_cells_; ++c) *out++ = i_pa_[c];
    std::size_t n = 2 * num_cells_;
    if (active_ != nullptr) {
      const std::size_t m =
          std::min(active_->signals().size(), config_.max_signals);
      active_->WriteSignals(frame.values.subspan(n, m));
      n += m;
    }
    h.num_values = static_cast<uint32_t>(n);
    h.sweep = cycle.tick.sweep;
    h.sweep_sample = cycle.tick.sample;
    h.protocol_sweep = cycle.tick.protocol_sweep;
    ring_.CommitPush();
  }
  stats_.cycles.Add();
  ++slot_;
  if (cycle.period_ns > 0) stats_.period_ns.Record(cycle.period_ns);
  stats_.lateness_ns.Record(lateness_ns);
  stats_.compute_ns.Record(cycle.compute_ns);
  stats_.latency_ns.Record(latency_ns);
}

void ClampEngine::NoteDeadline(bool overran, int64_t missed) noexcept {
  previous_overran_ = overran;
  if (!overran) {
    consecutive_overruns_ = 0;
    return;
  }
  stats_.overruns.Add();
  if (missed > 0) {
    stats_.skipped_cycles.Add(static_cast<uint64_t>(missed));
    pending_skip_ += static_cast<uint64_t>(missed);
  }
  ++consecutive_overruns_;
  if (static_cast<uint64_t>(consecutive_overruns_) >
      stats_.max_consecutive_overruns.Get())
    stats_.max_consecutive_overruns.Set(consecutive_overruns_);
  if (config_.max_consecutive_overruns > 0 &&
      consecutive_overruns_ >= config_.max_consecutive_overruns &&
      state() != EngineState::kFault) {
    EnterFault(FaultReason::kOverruns);
  }
}

}  // namespace dynclamp::rt
