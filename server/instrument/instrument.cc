#include "server/instrument/instrument.h"

#include <malloc.h>
#include <sys/statvfs.h>
#include <time.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "rt_engine/base/clock.h"
#include "rt_engine/base/names.h"
#include "server/instrument/session_metadata.h"
#include "server/lowering/protocol_lowering.h"
#include "server/lowering/spec_lowering.h"
#include "server/version.h"

namespace dynclamp::server {
namespace {

int64_t UnixNowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

v1::Quantiles ToQuantiles(const rt::HistogramSnapshot& s) {
  v1::Quantiles q;
  q.set_p50_us(s.Quantile(0.5) / 1e3);
  q.set_p99_us(s.Quantile(0.99) / 1e3);
  q.set_p999_us(s.Quantile(0.999) / 1e3);
  q.set_max_us(s.max_ns / 1e3);
  // The recorder's 64 sub-buckets per doubling merged 8 to a bin: enough
  // to draw, small enough to send with every GetRun.
  using Layout = rt::HistogramLayout;
  constexpr std::size_t kMerge = 8;
  v1::HistogramBin* bin = nullptr;
  std::size_t bin_key = 0;
  for (std::size_t b = 0; b < s.counts.size(); ++b) {
    if (s.counts[b] == 0) continue;
    const std::size_t key =
        b < Layout::kSubBuckets ? 0 : b - (b - Layout::kSubBuckets) % kMerge;
    if (bin == nullptr || key != bin_key) {
      bin = q.add_histogram();
      bin_key = key;
      const std::size_t last =
          key == 0 ? Layout::kSubBuckets - 1 : key + kMerge - 1;
      bin->set_lower_us(key == 0 ? 0.0 : Layout::LowerBound(key) / 1e3);
      bin->set_upper_us(Layout::UpperBound(last) / 1e3);
    }
    bin->set_count(bin->count() + s.counts[b]);
  }
  return q;
}

// A message as the user could have written it: JSON with the .proto's
// field names.
std::string ProtoJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

std::vector<std::string> SignalNames(const std::vector<rt::SignalInfo>& s) {
  std::vector<std::string> names;
  for (const auto& x : s) names.push_back(x.name);
  return names;
}

}  // namespace

Instrument::Instrument(InstrumentOptions options)
    : options_(std::move(options)), recordings_(options_.data_dir) {}

absl::StatusOr<std::unique_ptr<Instrument>> Instrument::Create(
    InstrumentOptions options) {
  auto inst = std::unique_ptr<Instrument>(new Instrument(std::move(options)));
  absl::StatusOr<std::unique_ptr<Core>> core =
      inst->BuildCore(inst->options_.daq);
  if (!core.ok()) return core.status();
  {
    absl::MutexLock lock(&inst->mu_);
    inst->core_ = *std::move(core);
    inst->last_run_id_ = inst->recordings_.LastRunId();
  }
  inst->monitor_ = std::thread(&Instrument::MonitorLoop, inst.get());
  inst->notifier_ = std::thread(&Instrument::NotifyLoop, inst.get());
  return inst;
}

Instrument::~Instrument() {
  Shutdown();
  if (monitor_.joinable()) monitor_.join();
  if (notifier_.joinable()) notifier_.join();
}

absl::StatusOr<std::unique_ptr<Instrument::Core>> Instrument::BuildCore(
    const rt::DaqConfig& daq) {
  auto core = std::make_unique<Core>();
  const DaqBackends& backends = options_.backends != nullptr
                                    ? *options_.backends
                                    : DaqBackends::Builtin();
  auto backend = backends.Get(options_.backend, "backend");
  if (!backend.ok()) return backend.status();
  auto rig = (*backend)->make(options_.rig_file, options_.sim);
  if (!rig.ok()) return rig.status();
  core->rig = *std::move(rig);
  if (absl::Status s = core->rig->Configure(daq); !s.ok()) return s;
  rt::ClampEngineConfig ec;
  ec.period_ns = options_.period_ns;
  ec.ring_capacity_frames = options_.ring_frames;
  ec.max_signals = options_.max_signals;
  ec.max_consecutive_overruns =
      options_.max_consecutive_overruns >= 0 ? options_.max_consecutive_overruns
      : core->rig->OnNominalTime()           ? 0
                                             : kDefaultMaxConsecutiveOverruns;
  absl::StatusOr<std::unique_ptr<rt::ClampEngine>> engine =
      rt::ClampEngine::Create(*core->rig, ec);
  if (!engine.ok()) return engine.status();
  core->engine = *std::move(engine);
  core->fanout = std::make_unique<SignalFanout>(*core->engine, options_.fanout);
  core->fanout->Start();
  return core;
}

// ---- rig -------------------------------------------------------------

v1::Rig Instrument::GetRig() const {
  absl::MutexLock lock(&mu_);
  v1::Rig rig;
  rig.set_backend(options_.backend);
  rig.set_description(core_->rig->Describe());
  const auto& channels = core_->rig->config().channels;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    v1::Channel* c = rig.add_channels();
    c->set_name(channels[i].name);
    c->set_input_gain_mv_per_v(channels[i].input_gain_mv_per_v);
    c->set_output_gain_pa_per_v(channels[i].output_gain_pa_per_v);
    c->set_current_limit_pa(channels[i].current_limit_pa);
    c->set_clipped_samples(core_->rig->clipped_on(i));
    c->set_holding_pa(core_->engine->holding_pa(i));
  }
  rig.set_period_ns(options_.period_ns);
  v1::RtSettings* rt = rig.mutable_rt_settings();
  rt->set_known(rt_settings_known_);
  rt->set_policy(rt_settings_.policy);
  rt->set_priority(rt_settings_.priority);
  rt->set_memory_locked(rt_settings_.memory_locked);
  rt->set_cpu(rt_settings_.cpu);
  for (const auto& n : rt_settings_.notes) rt->add_notes(n);
  rt->set_wake(rt_settings_.wake);
  rt->set_wake_reason(rt_settings_.wake_reason);
  rig.set_daemon_version(kVersion);
  *rig.mutable_file() = options_.rig_file;
  return rig;
}

absl::StatusOr<v1::Rig> Instrument::SetHolding(const std::string& cell,
                                               double current_pa) {
  {
    absl::MutexLock lock(&mu_);
    const auto& channels = core_->rig->config().channels;
    std::size_t index = 0;
    while (index < channels.size() && channels[index].name != cell) ++index;
    if (index == channels.size()) {
      std::vector<std::string> names;
      for (const auto& ch : channels) names.push_back(ch.name);
      return absl::InvalidArgumentError(
          absl::StrCat("cell: no cell named ", rt::Quoted(cell), " (",
                       absl::StrJoin(names, ", "), ")"));
    }
    const double limit = channels[index].current_limit_pa;
    if (!std::isfinite(current_pa) || std::abs(current_pa) > limit) {
      return absl::InvalidArgumentError(
          absl::StrCat("current_pa: ", current_pa, " pA is beyond ", cell,
                       "'s current limit of ", limit, " pA"));
    }
    core_->engine->SetHolding(index, current_pa);
  }
  return GetRig();
}

absl::StatusOr<v1::Rig> Instrument::ConfigureChannels(
    const v1::ConfigureChannelsRequest& request) {
  {
    absl::MutexLock lock(&mu_);
    if (RunActiveLocked()) {
      return absl::FailedPreconditionError(
          "channels: cannot reconfigure while a run is active; stop it first");
    }
    const auto& current = core_->rig->config().channels;
    if (static_cast<std::size_t>(request.channels_size()) != current.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "channels: the rig has ", current.size(), " channels; give all ",
          current.size(), " in order (got ", request.channels_size(), ")"));
    }
    rt::DaqConfig daq;
    for (const v1::Channel& c : request.channels()) {
      daq.channels.push_back({c.name(), c.input_gain_mv_per_v(),
                              c.output_gain_pa_per_v(), c.current_limit_pa()});
    }
    absl::StatusOr<std::unique_ptr<Core>> core = BuildCore(daq);
    if (!core.ok()) return core.status();
    // The loaded spec must still fit the renamed cells.
    if (loaded_.generation() > 0) {
      std::vector<std::string> cells;
      for (const auto& c : daq.channels) cells.push_back(c.name);
      absl::StatusOr<rt::ModelSetSpec> lowered =
          LowerSpec(loaded_.spec(), cells);
      if (!lowered.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("channels: the loaded spec would no longer fit: ",
                         lowered.status().message()));
      }
      absl::StatusOr<uint32_t> gen = (*core)->engine->LoadModelSet(*lowered);
      if (!gen.ok()) return gen.status();
      loaded_.set_generation(*gen);
      for (const auto& [parameter, value] : live_values_) {
        (void)(*core)->engine->SetParam(parameter, value);
      }
    }
    core_->fanout->Stop(absl::AbortedError("the rig was reconfigured"));
    core_ = *std::move(core);
    ++run_version_;
  }
  return GetRig();
}

// ---- models -------------------------------------------------------------

std::vector<std::string> Instrument::CellNamesLocked() const {
  std::vector<std::string> cells;
  for (const auto& c : core_->rig->config().channels) cells.push_back(c.name);
  return cells;
}

absl::StatusOr<v1::ValidateSpecResponse> Instrument::ValidateSpec(
    const v1::Spec& spec) {
  if (absl::Status s = CheckSpecLimits(spec, Limits()); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<rt::ModelSetSpec> lowered = LowerSpec(spec, CellNamesLocked());
  if (!lowered.ok()) return lowered.status();
  absl::StatusOr<std::vector<rt::SignalInfo>> signals =
      core_->engine->ValidateModelSet(*lowered);
  if (!signals.ok()) return signals.status();
  v1::ValidateSpecResponse r;
  for (const auto& n : SignalNames(*signals)) r.add_signals(n);
  return r;
}

absl::StatusOr<v1::LoadSpecResponse> Instrument::LoadSpec(
    const v1::Spec& spec, const std::string& source) {
  absl::MutexLock lock(&mu_);
  if (RunActiveLocked() && run_.timeline_id != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "spec: run ", run_.id, " is playing protocol '", run_.protocol_name,
        "'; load a new spec after it (or abort it)"));
  }
  return LoadSpecLocked(spec, source);
}

absl::StatusOr<v1::LoadSpecResponse> Instrument::LoadSpecLocked(
    const v1::Spec& spec, const std::string& source) {
  if (absl::Status s = CheckSpecLimits(spec, Limits()); !s.ok()) return s;
  absl::StatusOr<rt::ModelSetSpec> lowered = LowerSpec(spec, CellNamesLocked());
  if (!lowered.ok()) return lowered.status();
  absl::StatusOr<uint32_t> gen = core_->engine->LoadModelSet(*lowered);
  if (!gen.ok()) return gen.status();
  loaded_.Clear();
  live_values_.clear();
  loaded_.set_generation(*gen);
  *loaded_.mutable_spec() = spec;
  loaded_.set_spec_source(source.empty() ? ProtoJson(spec) : source);
  v1::LoadSpecResponse r;
  r.set_generation(*gen);
  absl::StatusOr<rt::FrameLayout> layout = core_->engine->LayoutFor(*gen);
  if (layout.ok()) {
    for (const auto& s : layout->values) r.add_signals(s.name);
  }
  ++run_version_;
  return r;
}

v1::LoadedSpec Instrument::GetLoadedSpec() const {
  absl::MutexLock lock(&mu_);
  return loaded_;
}

absl::Status Instrument::SetParameter(const std::string& name, double value) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = core_->engine->SetParam(name, value); !s.ok()) return s;
  live_values_[name] = value;
  v1::LiveChange* lc = loaded_.add_live_changes();
  lc->set_parameter(name);
  lc->set_value(value);
  const auto kept = static_cast<int>(Limits().max_live_changes);
  if (const int over = loaded_.live_changes_size() - kept; over > 0) {
    loaded_.mutable_live_changes()->DeleteSubrange(0, over);
    loaded_.set_live_changes_dropped(loaded_.live_changes_dropped() + over);
  }
  return absl::OkStatus();
}

v1::ListSignalsResponse Instrument::ListSignals() const {
  absl::MutexLock lock(&mu_);
  v1::ListSignalsResponse r;
  const uint32_t gen = core_->engine->loaded_generation();
  r.set_generation(gen);
  absl::StatusOr<rt::FrameLayout> layout = core_->engine->LayoutFor(gen);
  if (layout.ok()) {
    for (const auto& s : layout->values) {
      v1::Signal* out = r.add_signals();
      out->set_name(s.name);
      out->set_unit(s.unit);
    }
  }
  return r;
}

// ---- runs -----------------------------------------------------------------

Instrument::StatsMark Instrument::Mark(const Core& core) {
  const rt::TimingStats& st = core.engine->stats();
  StatsMark m;
  m.period = st.period_ns.Snapshot();
  m.lateness = st.lateness_ns.Snapshot();
  m.compute = st.compute_ns.Snapshot();
  m.latency = st.latency_ns.Snapshot();
  m.timer_late = st.timer_late_ns.Snapshot();
  m.spin_ns = st.spin_ns.Get();
  m.rt_cpu_ns = st.rt_cpu_ns.Get();
  m.wake_margin_ns = st.wake_margin_ns.Get();
  m.mono_ns = rt::MonotonicNowNs();
  m.cycles = st.cycles.Get();
  m.overruns = st.overruns.Get();
  m.skipped = st.skipped_cycles.Get();
  m.clipped = st.clipped_outputs.Get();
  m.dropped = core.engine->frames().dropped();
  m.daq_errors = st.daq_read_errors.Get() + st.daq_write_errors.Get();
  m.faults = st.faults.Get();
  m.max_consecutive_overruns = st.max_consecutive_overruns.Get();
  m.events_dropped = st.events_dropped.Get();
  return m;
}

absl::StatusOr<uint64_t> FreeBytes(const std::string& dir) {
  struct statvfs fs;
  if (statvfs(dir.c_str(), &fs) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("statvfs ", dir));
  }
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
}

Instrument::Health Instrument::GetHealth() const {
  absl::MutexLock lock(&mu_);
  Health h;
  h.stats = Mark(*core_);
  h.fault = core_->engine->state() == rt::EngineState::kFault;
  h.run_state = run_.state;
  h.period_ns = options_.period_ns;
  h.subscriber_losses = core_->fanout->SubscriberLosses();
  h.rt = rt_settings_;
  h.rt_known = rt_settings_known_;
  h.version = kVersion;
  h.backend = options_.backend;
  if (auto free = FreeBytes(options_.data_dir); free.ok()) {
    h.data_dir_free_bytes = static_cast<int64_t>(*free);
  }
  h.stream_queued_bytes = core_->fanout->queued_bytes();
  return h;
}

v1::TimingSummary Instrument::Summarize(const StatsMark& now,
                                        const StatsMark& start) {
  v1::TimingSummary t;
  t.set_cycles(now.cycles - start.cycles);
  t.set_overruns(now.overruns - start.overruns);
  t.set_skipped_cycles(now.skipped - start.skipped);
  t.set_clipped_outputs(now.clipped - start.clipped);
  t.set_dropped_frames(now.dropped - start.dropped);
  t.set_daq_errors(now.daq_errors - start.daq_errors);
  t.set_faults(now.faults - start.faults);
  *t.mutable_period() = ToQuantiles(now.period.Since(start.period));
  *t.mutable_lateness() = ToQuantiles(now.lateness.Since(start.lateness));
  *t.mutable_compute() = ToQuantiles(now.compute.Since(start.compute));
  *t.mutable_latency() = ToQuantiles(now.latency.Since(start.latency));
  t.set_max_consecutive_overruns(now.max_consecutive_overruns);
  v1::WakeCost* wake = t.mutable_wake();
  const double wall_ns = static_cast<double>(now.mono_ns - start.mono_ns);
  wake->set_margin_us(static_cast<double>(now.wake_margin_ns) / 1e3);
  if (wall_ns > 0) {
    wake->set_spin_fraction(static_cast<double>(now.spin_ns - start.spin_ns) /
                            wall_ns);
    wake->set_cpu_fraction(
        static_cast<double>(now.rt_cpu_ns - start.rt_cpu_ns) / wall_ns);
  }
  *wake->mutable_timer_lateness() =
      ToQuantiles(now.timer_late.Since(start.timer_late));
  return t;
}

v1::TimingSummary Instrument::RunTimingLocked() const {
  v1::TimingSummary t = Summarize(Mark(*core_), run_.at_start);
  t.mutable_wake()->set_strategy(rt_settings_.wake);
  return t;
}

bool Instrument::RunActiveLocked() const {
  return run_.state == v1::RUNNING || run_.state == v1::FAULT;
}

v1::Run Instrument::RunLocked() const {
  v1::Run r;
  r.set_run_id(run_.id);
  r.set_state(run_.state);
  r.set_fault_reason(run_.fault_reason);
  r.set_duration_s(run_.duration_s);
  r.set_started_unix_ns(run_.started_unix_ns);
  r.set_spec_generation(core_->engine->active_generation());
  if (run_.id == 0) return r;
  const bool active = RunActiveLocked();
  const int64_t end = active ? rt::MonotonicNowNs() : run_.ended_mono_ns;
  r.set_elapsed_s(static_cast<double>(end - run_.started_mono_ns) * 1e-9);
  *r.mutable_timing() = active ? RunTimingLocked() : run_.final_timing;
  if (run_.timeline_id != 0) {
    r.set_protocol_name(run_.protocol_name);
    r.set_nwb_path(run_.nwb_path);
    r.set_sweeps_total(run_.sweeps_total);
    r.set_sweeps_completed(run_.player.sweeps_completed);
    r.set_protocol_sweep(run_.player.protocol_sweep);
    r.set_paused(run_.player.state == rt::PlayerState::kPaused);
    const std::vector<RecordedSweep> sweeps =
        run_.recorder != nullptr ? run_.recorder->sweeps() : run_.sweeps;
    for (const RecordedSweep& rs : sweeps) {
      v1::SweepSummary* s = r.add_sweeps();
      s->set_sweep_number(rs.number);
      s->set_protocol_sweep(rs.protocol_sweep);
      s->set_samples(rs.samples);
      s->set_complete(rs.timing.complete);
      s->set_cycles(rs.timing.cycles);
      s->set_overruns(rs.timing.overruns);
      s->set_dropped_frames(rs.timing.dropped_frames);
      s->set_skipped_cycles(rs.timing.skipped_cycles);
      s->set_clipped_outputs(rs.timing.clipped_outputs);
      s->set_worst_period_us(rs.timing.worst_period_s * 1e6);
      s->set_p999_period_us(rs.timing.p999_period_s * 1e6);
      s->set_worst_latency_us(rs.timing.worst_latency_s * 1e6);
      s->set_qc_pass(rs.timing.qc_pass);
      s->set_qc_reason(rs.timing.qc_reason);
    }
  }
  r.set_error(run_.error);
  *r.mutable_fidelity() = run_.fidelity;
  if (run_.timeline_id != 0) {
    *r.mutable_session() = run_.session;
    for (const std::string& m : MissingForDandi(run_.session))
      r.add_session_missing(m);
  }
  return r;
}

absl::Status Instrument::CanStartLocked() const {
  if (shutting_down_.load()) {
    return absl::UnavailableError("the daemon is shutting down");
  }
  if (RunActiveLocked()) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_.id,
                     " is already running; stop it before starting another"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> Instrument::StartRun(double duration_s) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CanStartLocked(); !s.ok()) return s;
  if (!(duration_s >= 0) || duration_s > 7 * 24 * 3600.0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "duration_s: must be in [0, 604800] s (0 = until stopped), got ",
        duration_s));
  }
  run_ = RunRecord{};
  if (absl::Status s = StartLoopLocked(duration_s); !s.ok()) return s;
  return RunLocked();
}

absl::Status Instrument::StartLoopLocked(double duration_s) {
  rt::RtLoopConfig lc = options_.loop;
  lc.stop_after_periods = static_cast<int64_t>(
      std::llround(duration_s * 1e9 / static_cast<double>(options_.period_ns)));
  if (duration_s > 0 && lc.stop_after_periods == 0) lc.stop_after_periods = 1;
  lc.catch_up = core_->rig->OnNominalTime();
  // A new run starts from a clean slate: no FAULT carried over.
  core_->engine->RequestClearFault();
  auto loop = std::make_unique<rt::RtLoop>(*core_->engine, lc);
  run_.at_start = Mark(*core_);
  if (absl::Status s = loop->Start(); !s.ok()) return s;
  loop_ = std::move(loop);
  rt_settings_ = loop_->rt_settings();
  rt_settings_known_ = true;
  run_.id = ++last_run_id_;
  run_.state = v1::RUNNING;
  run_.duration_s = duration_s;
  run_.started_unix_ns = UnixNowNs();
  run_.started_mono_ns = rt::MonotonicNowNs();
  ++run_version_;
  return absl::OkStatus();
}

void Instrument::EndRunLocked(v1::RunState final_state) {
  // Finishing a recording lets go of mu_ for a moment: end only once.
  if (run_.ending) return;
  run_.ending = true;
  if (loop_) {
    loop_->Stop();  // the RT thread zeroes the outputs before it exits
    loop_.reset();
  }
  if (run_.timeline_id != 0) {
    // The player's last word (a stop can come between two monitor passes),
    // then no protocol left to play into the next run.
    const rt::PlayerStatus last = core_->engine->player_status();
    if (last.timeline_id == run_.timeline_id) run_.player = last;
    core_->engine->DropTimeline();
  }
  if (run_.recorder != nullptr) FinishRecordingLocked();
  if (final_state == v1::COMPLETED && !run_.error.empty())
    final_state = v1::FAILED;
  if (!run_.nwb_path.empty()) CloseRecordingLocked(final_state);
  run_.ended_mono_ns = rt::MonotonicNowNs();
  run_.final_timing = RunTimingLocked();
  // Only conductances can be distorted by the run's timing.
  if (loaded_.generation() > 0 && loaded_.spec().conductances_size() > 0 &&
      !shutting_down_.load()) {
    absl::StatusOr<rt::ModelSetSpec> spec =
        LowerSpec(loaded_.spec(), CellNamesLocked());
    if (spec.ok()) {
      fidelity::FidelityInput in;
      in.spec = *spec;
      in.cells = options_.sim;
      in.daq = core_->rig->config();
      in.period_ns = options_.period_ns;
      in.worst_step_us = run_.final_timing.period().max_us();
      in.worst_latency_us = run_.final_timing.latency().max_us();
      fidelity_pending_ = std::make_pair(run_.id, std::move(in));
      run_.fidelity.set_pending(true);
    }
  }
  run_.state = final_state;
  ++run_version_;
}

absl::StatusOr<v1::Run> Instrument::StopRun() {
  absl::MutexLock lock(&mu_);
  if (!RunActiveLocked()) {
    return absl::FailedPreconditionError("no run is active");
  }
  EndRunLocked(v1::STOPPED);
  return RunLocked();
}

absl::StatusOr<v1::Run> Instrument::ClearFault() {
  absl::MutexLock lock(&mu_);
  if (run_.state != v1::FAULT) {
    return absl::FailedPreconditionError("the clamp is not in FAULT");
  }
  core_->engine->RequestClearFault();
  return RunLocked();
}

v1::Run Instrument::GetRun() const {
  absl::MutexLock lock(&mu_);
  return RunLocked();
}

std::pair<v1::Run, uint64_t> Instrument::WaitRunChange(
    uint64_t seen, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return run_version_ != seen || shutting_down_.load();
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return {RunLocked(), run_version_};
}

void Instrument::AddRunWatcher(RunWatcher* watcher) {
  absl::MutexLock lock(&watchers_mu_);
  watchers_.push_back(watcher);
  const auto [run, version] = WaitRunChange(0, absl::ZeroDuration());
  watcher->OnRunChanged(run, version, shutting_down_.load());
}

void Instrument::RemoveRunWatcher(RunWatcher* watcher) {
  absl::MutexLock lock(&watchers_mu_);
  watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), watcher),
                  watchers_.end());
}

// Wakes on each change of run_version_ (no timeout: nothing to poll) and
// tells the watchers outside mu_, so that a change is seen once the
// operation that made it has finished, and no watcher holds up the rig.
void Instrument::NotifyLoop() {
  uint64_t seen = 0;
  for (;;) {
    const auto [run, version] = WaitRunChange(seen, absl::InfiniteDuration());
    seen = version;
    const bool last = shutting_down_.load();
    {
      absl::MutexLock lock(&watchers_mu_);
      for (RunWatcher* w : watchers_) w->OnRunChanged(run, version, last);
    }
    if (last) return;
  }
}

void Instrument::MonitorLoop() {
  while (!shutting_down_.load()) {
    {
      absl::MutexLock lock(&mu_);
      if (RunActiveLocked()) {
        if (run_.timeline_id != 0) WatchProtocolLocked();
        if (RunActiveLocked() && run_.recorder != nullptr &&
            run_.recorder->failed()) {
          // Nothing more can be kept: stop injecting now rather than run
          // an experiment nobody will see (the error: below).
          EndRunLocked(v1::FAILED);
        }
        if (!RunActiveLocked()) {
          // ended by its protocol
        } else if (loop_ && !loop_->running()) {
          EndRunLocked(v1::COMPLETED);
        } else {
          const bool fault = core_->engine->state() == rt::EngineState::kFault;
          const v1::RunState now = fault ? v1::FAULT : v1::RUNNING;
          if (now != run_.state) {
            run_.state = now;
            run_.fault_reason =
                fault ? rt::FaultReasonName(core_->engine->fault_reason()) : "";
            // A board says why (e.g. the errno of its failed list).
            if (const std::string why = core_->rig->LastErrorText();
                fault && !why.empty()) {
              absl::StrAppend(&run_.fault_reason, ": ", why);
            }
            ++run_version_;
          }
        }
      }
      core_->engine->ReclaimRetired();
    }
    EstimatePendingFidelity();
    recordings_.SealPending();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void Instrument::EstimatePendingFidelity() {
  std::optional<std::pair<uint64_t, fidelity::FidelityInput>> pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(fidelity_pending_);
  }
  if (!pending.has_value()) return;
  absl::StatusOr<fidelity::FidelityReport> report =
      fidelity::EstimateFidelity(pending->second);
  absl::MutexLock lock(&mu_);
  if (run_.id != pending->first) return;  // a new run started meanwhile
  v1::Fidelity& f = run_.fidelity;
  f.set_pending(false);
  f.set_computed(report.ok());
  if (!report.ok()) {
    f.set_warning(
        absl::StrCat("could not replay: ", report.status().message()));
  } else {
    f.set_worst_step_us(report->worst_step_us);
    f.set_worst_latency_us(report->worst_latency_us);
    f.set_rms_error_mv(report->rms_error_mv);
    f.set_max_error_mv(report->max_error_mv);
    f.set_spikes_ideal(report->spikes_ideal);
    f.set_spikes_measured(report->spikes_measured);
    f.set_mean_spike_shift_ms(report->mean_spike_shift_ms);
    f.set_warning(report->warning);
    f.set_drive_pa(report->drive_pa);
  }
  ++run_version_;
}

// ---- protocols -------------------------------------------------------------

// Everything a run of `request` needs that can be refused, without changing
// anything: the protocol lowered and compiled against the spec it will run
// with, the session checked and merged, what to record resolved.
absl::StatusOr<Instrument::PreparedRun> Instrument::PrepareRunLocked(
    const v1::RunProtocolRequest& request) const {
  PreparedRun run;
  absl::StatusOr<rt::ProtocolSpec> lowered = LowerProtocol(request.protocol());
  if (!lowered.ok()) return lowered.status();
  run.lowered = *std::move(lowered);
  for (const auto& [given, path] :
       {std::pair{&request.protocol().session(), "protocol.session"},
        {&request.session(), "session"}}) {
    if (absl::Status s = CheckSession(*given, path); !s.ok()) return s;
  }
  v1::Session& metadata = run.metadata;
  metadata = options_.session_defaults;
  if (!request.protocol().description().empty())
    metadata.set_experiment_description(request.protocol().description());
  OverlaySession(request.protocol().session(), metadata);
  OverlaySession(request.session(), metadata);
  // With a spec, compile against it and resolve what to record before
  // loading it: a bad protocol or record list leaves the loaded spec alone.
  run.cells = CellNamesLocked();
  const std::vector<std::string>& cells = run.cells;
  absl::StatusOr<std::unique_ptr<rt::Timeline>> timeline;
  std::vector<rt::SignalInfo> model_signals;
  if (request.has_spec()) {
    if (absl::Status s = CheckSpecLimits(request.spec(), Limits()); !s.ok())
      return s;
    absl::StatusOr<rt::ModelSetSpec> spec = LowerSpec(request.spec(), cells);
    if (!spec.ok()) return spec.status();
    timeline = core_->engine->CompileTimelineFor(
        *spec, run.lowered, options_.timeline, &model_signals);
    if (!timeline.ok()) return timeline.status();
  } else {
    timeline = core_->engine->CompileTimeline(run.lowered, options_.timeline);
    if (!timeline.ok()) return timeline.status();
    if (loaded_.generation() > 0) {
      absl::StatusOr<rt::FrameLayout> layout =
          core_->engine->LayoutFor(loaded_.generation());
      if (!layout.ok()) return layout.status();
      model_signals.assign(layout->values.begin() + 2 * cells.size(),
                           layout->values.end());
    }
  }

  // What is recorded: V and I of every cell, then the chosen signals.
  RecorderConfig& rc = run.recorder;
  for (std::size_t c = 0; c < cells.size(); ++c)
    rc.frame_index.push_back(static_cast<int>(c));
  for (std::size_t c = 0; c < cells.size(); ++c)
    rc.frame_index.push_back(static_cast<int>(cells.size() + c));
  for (int k = 0; k < request.protocol().record_size(); ++k) {
    const std::string& want = request.protocol().record(k);
    if (std::none_of(model_signals.begin(), model_signals.end(),
                     [&](const rt::SignalInfo& s) {
                       return rt::MatchesSignalPattern(want, s.name);
                     })) {
      return absl::InvalidArgumentError(
          absl::StrCat("record[", k, "]: ", rt::Quoted(want),
                       " matches no signal of the loaded spec"));
    }
  }
  for (std::size_t k = 0; k < model_signals.size(); ++k) {
    const rt::SignalInfo& s = model_signals[k];
    const bool wanted =
        request.protocol().record_size() == 0 ||
        std::any_of(request.protocol().record().begin(),
                    request.protocol().record().end(),
                    [&](const std::string& w) {
                      return rt::MatchesSignalPattern(w, s.name);
                    });
    if (!wanted) continue;
    rc.session.signals.push_back({s.name, s.unit});
    rc.frame_index.push_back(static_cast<int>(2 * cells.size() + k));
  }
  if (const uint64_t limit = Limits().max_recorded_signals;
      rc.session.signals.size() > limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "protocol.record: ", rc.session.signals.size(),
        " model signals to record, over the daemon's limit of ", limit,
        " (--max_recorded_signals); name fewer in 'record'"));
  }
  run.timeline = *std::move(timeline);
  return run;
}

void Instrument::DescribeRecordingLocked(const v1::RunProtocolRequest& request,
                                         PreparedRun& prepared, uint64_t id,
                                         absl::Time now) const {
  const rt::ProtocolSpec& lowered = prepared.lowered;
  const std::vector<std::string>& cells = prepared.cells;
  RecorderConfig& rc = prepared.recorder;
  rc.path = (std::filesystem::path(options_.data_dir) /
             RecordingFileName(now, id, lowered.name))
                .string();
  rc.flush_interval = options_.recorder_flush;
  rc.fsync_interval = options_.recorder_fsync;
  rc.qc = options_.qc;
  const v1::TimingQc& qc = request.protocol().qc();
  if (qc.max_step_us() > 0) rc.qc.max_step_s = qc.max_step_us() * 1e-6;
  if (qc.max_p999_step_us() > 0)
    rc.qc.max_p999_step_s = qc.max_p999_step_us() * 1e-6;
  if (qc.max_latency_fraction() > 0)
    rc.qc.max_latency_fraction = qc.max_latency_fraction();
  NwbSession& session = rc.session;
  session.identifier =
      absl::StrCat("dynclamp-run", id, "-", absl::ToUnixNanos(now));
  session.session_description =
      request.protocol().description().empty()
          ? absl::StrCat("dynamic clamp protocol ", lowered.name)
          : request.protocol().description();
  session.start_time = now;
  session.protocol_name = lowered.name;
  session.protocol_text = request.protocol_source().empty()
                              ? ProtoJson(request.protocol())
                              : request.protocol_source();
  if (loaded_.generation() > 0) session.spec_text = loaded_.spec_source();
  session.rig_text = options_.rig_file_text.empty()
                         ? core_->rig->Describe()
                         : absl::StrCat(core_->rig->Describe(), "\nrig file:\n",
                                        options_.rig_file_text);
  session.version = kVersion;
  session.cells = cells;
  session.metadata = prepared.metadata;
  for (const rt::DaqChannelConfig& ch : core_->rig->config().channels) {
    // The ADC sees 1 V per input_gain mV of membrane potential; the DAC's
    // 1 V injects output_gain pA.
    session.recording_gain_v_per_v.push_back(1e3 / ch.input_gain_mv_per_v);
    session.stimulus_gain_v_per_a.push_back(1e12 / ch.output_gain_pa_per_v);
  }
  for (std::size_t k = 0; k < lowered.sweeps.size(); ++k) {
    const rt::SweepSpec& sweep = lowered.sweeps[k];
    NwbSession::SweepInfo info;
    info.samples = prepared.timeline->sweep_samples(k);
    info.name = sweep.name;
    info.family = sweep.family;
    info.titrated_parameter = sweep.titrated_parameter;
    info.titrated_value = sweep.titrated_value;
    info.amplitude_pa.assign(cells.size(), 0.0);
    for (const rt::StimulusSpec& st : sweep.stimuli) {
      const auto cell = std::find(cells.begin(), cells.end(), st.cell);
      if (cell == cells.end()) continue;
      double& amplitude = info.amplitude_pa[cell - cells.begin()];
      for (const double level : rt::EpochLevels(st)) {
        if (std::abs(level) > std::abs(amplitude)) amplitude = level;
      }
    }
    session.sweeps.push_back(std::move(info));
  }
  session.rate_hz = 1e9 / static_cast<double>(options_.period_ns);
}

absl::Status Instrument::ReserveRecording(RecorderConfig& rc,
                                          const rt::Timeline& timeline) const {
  // Refuse now, with both numbers, rather than fail mid-run; then the
  // recorder reserves that much. An upper bound: every sample of the
  // timeline, rests included, as float32, each series' last chunk, and
  // the file's metadata.
  const uint64_t columns = rc.frame_index.size();
  rc.reserve_bytes =
      static_cast<uint64_t>(timeline.total_samples()) * columns * 4 +
      static_cast<uint64_t>(timeline.sweeps_to_play()) * columns * (64 << 10) +
      (8 << 20);
  if (auto free = FreeBytes(options_.data_dir);
      free.ok() && *free < rc.reserve_bytes + kDiskReserveBytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "data_dir: %s has %.1f MB free; this protocol's recording needs up "
        "to %.1f MB (%d columns of %d samples), and %d MiB are kept free "
        "besides; free some space or record fewer signals",
        options_.data_dir, static_cast<double>(*free) / 1e6,
        static_cast<double>(rc.reserve_bytes) / 1e6, columns,
        timeline.total_samples(), kDiskReserveBytes >> 20));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Run> Instrument::RunProtocol(
    const v1::RunProtocolRequest& request) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = CanStartLocked(); !s.ok()) return s;
  absl::StatusOr<PreparedRun> prepared = PrepareRunLocked(request);
  if (!prepared.ok()) return prepared.status();
  if (request.has_spec()) {
    if (auto r = LoadSpecLocked(request.spec(), request.spec_source()); !r.ok())
      return r.status();
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.data_dir, ec);
  DescribeRecordingLocked(request, *prepared, last_run_id_ + 1, absl::Now());
  if (absl::Status s =
          ReserveRecording(prepared->recorder, *prepared->timeline);
      !s.ok())
    return s;
  absl::StatusOr<std::unique_ptr<Recorder>> recorder =
      Recorder::Start(std::move(prepared->recorder));
  if (!recorder.ok()) {
    if (absl::IsResourceExhausted(recorder.status())) return recorder.status();
    return absl::FailedPreconditionError(
        absl::StrCat("recording: ", recorder.status().message()));
  }

  run_ = RunRecord{};
  run_.protocol_name = prepared->lowered.name;
  run_.session = std::move(prepared->metadata);
  run_.nwb_path = (*recorder)->path();
  recordings_.Opened(run_.nwb_path);
  run_.sweeps_total =
      static_cast<uint32_t>(prepared->timeline->sweeps_to_play());
  run_.recorder = *std::move(recorder);
  core_->fanout->AddSink(run_.recorder.get());
  // Posted before the loop starts: its first cycle plays it.
  const uint64_t timeline_id =
      core_->engine->PlayTimeline(std::move(prepared->timeline));
  if (absl::Status s = StartLoopLocked(0); !s.ok()) {
    AbandonRunLocked(s);
    return s;
  }
  run_.timeline_id = timeline_id;
  return RunLocked();
}

void Instrument::AbandonRunLocked(const absl::Status& why) {
  core_->engine->DropTimeline();
  core_->fanout->RemoveSink(run_.recorder.get());
  run_.recorder->Finish().IgnoreError();
  v1::Recording never_ran;
  never_ran.set_path(run_.nwb_path);
  never_ran.set_run_id(last_run_id_ + 1);
  never_ran.set_protocol_name(run_.protocol_name);
  never_ran.set_state(v1::FAILED);
  never_ran.set_error(absl::StrCat("the loop did not start: ", why.message()));
  never_ran.set_sweeps_total(run_.sweeps_total);
  recordings_.Closed(std::move(never_ran));
  run_ = RunRecord{};
}

absl::StatusOr<v1::ProtocolCheck> Instrument::ValidateProtocol(
    const v1::RunProtocolRequest& request) const {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<PreparedRun> run = PrepareRunLocked(request);
  if (!run.ok()) return run.status();
  v1::ProtocolCheck check;
  check.set_name(run->lowered.name);
  check.set_sweeps(static_cast<uint32_t>(run->timeline->sweeps_to_play()));
  check.set_duration_s(static_cast<double>(run->timeline->total_samples()) *
                       static_cast<double>(options_.period_ns) * 1e-9);
  for (const auto& s : run->recorder.session.signals)
    check.add_recorded_signals(s.name);
  for (const std::string& m : MissingForDandi(run->metadata))
    check.add_session_missing(m);
  *check.mutable_session() = std::move(run->metadata);
  return check;
}

absl::StatusOr<v1::RunProtocolRequest> Instrument::FixQueuedRun(
    v1::RunProtocolRequest run, bool keep_loaded_spec) {
  absl::MutexLock lock(&mu_);
  if (keep_loaded_spec) {
    if (run.has_spec()) {
      return absl::InvalidArgumentError(
          "keep_loaded_spec: the item brings its own spec; give one or the "
          "other");
    }
    if (loaded_.generation() == 0) {
      return absl::FailedPreconditionError(
          "keep_loaded_spec: no spec is loaded; load one, or give the item "
          "its own");
    }
    *run.mutable_spec() = loaded_.spec();
    run.set_spec_source(loaded_.spec_source());
  } else if (!run.has_spec()) {
    run.mutable_spec();  // none, explicitly
    run.clear_spec_source();
  }
  if (absl::StatusOr<PreparedRun> p = PrepareRunLocked(run); !p.ok())
    return p.status();
  return run;
}

void Instrument::FinishRecordingLocked() {
  // The loop has stopped: wait (briefly) until the drain thread has handed
  // every frame still in the ring to the recorder.
  std::unique_ptr<Recorder> recorder = std::move(run_.recorder);
  rt::ClampEngine& engine = *core_->engine;
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (core_->fanout->frames_drained() < engine.frames().pushed() &&
         absl::Now() < deadline) {
    mu_.Unlock();
    absl::SleepFor(absl::Milliseconds(1));
    mu_.Lock();
  }
  core_->fanout->RemoveSink(recorder.get());
  const bool stopped_early = recorder->failed();
  if (absl::Status s = recorder->Finish(); !s.ok() && run_.error.empty()) {
    run_.error =
        stopped_early
            ? absl::StrCat("recording to ", recorder->path(), " failed (",
                           s.message(),
                           "); the run was stopped at once, with the outputs "
                           "at 0")
            : absl::StrCat("recording: ", s.message());
  }
  run_.sweeps = recorder->sweeps();
}

void Instrument::CloseRecordingLocked(v1::RunState final_state) {
  v1::Recording r;
  r.set_path(run_.nwb_path);
  r.set_run_id(run_.id);
  r.set_protocol_name(run_.protocol_name);
  r.set_started_unix_ns(run_.started_unix_ns);
  r.set_ended_unix_ns(UnixNowNs());
  r.set_state(final_state);
  r.set_error(run_.error);
  r.set_sweeps_total(run_.sweeps_total);
  uint32_t recorded = 0, passed = 0;
  for (const RecordedSweep& s : run_.sweeps) {
    if (!s.timing.complete) continue;
    ++recorded;
    if (s.timing.qc_pass) ++passed;
  }
  r.set_sweeps_recorded(recorded);
  r.set_sweeps_qc_passed(passed);
  r.set_qc_pass(final_state == v1::COMPLETED && passed == run_.sweeps_total);
  recordings_.Closed(std::move(r));
}

void Instrument::WatchProtocolLocked() {
  const rt::PlayerStatus status = core_->engine->player_status();
  if (status.timeline_id != run_.timeline_id) return;  // not started yet
  if (status.sweeps_completed != run_.player.sweeps_completed ||
      status.state != run_.player.state ||
      status.protocol_sweep != run_.player.protocol_sweep)
    ++run_version_;
  run_.player = status;
  if (status.state == rt::PlayerState::kDone) {
    EndRunLocked(v1::COMPLETED);
  } else if (status.state == rt::PlayerState::kAborted) {
    if (core_->engine->state() == rt::EngineState::kFault) {
      run_.error = absl::StrCat(
          "FAULT: ", rt::FaultReasonName(core_->engine->fault_reason()));
      EndRunLocked(v1::FAILED);
    } else {
      EndRunLocked(v1::ABORTED);
    }
  }
}

absl::StatusOr<v1::Run> Instrument::PauseRun(bool immediately) {
  absl::MutexLock lock(&mu_);
  if (!RunActiveLocked() || run_.timeline_id == 0)
    return absl::FailedPreconditionError("no protocol is running");
  core_->engine->CommandPlayer(immediately
                                   ? rt::PlayerCommand::kPauseNow
                                   : rt::PlayerCommand::kPauseAfterSweep);
  return RunLocked();
}

absl::StatusOr<v1::Run> Instrument::ResumeRun() {
  absl::MutexLock lock(&mu_);
  if (!RunActiveLocked() || run_.timeline_id == 0)
    return absl::FailedPreconditionError("no protocol is running");
  core_->engine->CommandPlayer(rt::PlayerCommand::kResume);
  return RunLocked();
}

absl::StatusOr<v1::Run> Instrument::AbortRun() {
  absl::MutexLock lock(&mu_);
  if (!RunActiveLocked() || run_.timeline_id == 0)
    return absl::FailedPreconditionError("no protocol is running");
  core_->engine->CommandPlayer(rt::PlayerCommand::kAbort);
  return RunLocked();
}

ServiceLimits Instrument::Limits() const {
  return options_.limits != nullptr ? options_.limits->Get() : ServiceLimits{};
}

// ---- streaming -------------------------------------------------------------

absl::StatusOr<std::shared_ptr<Subscription>> Instrument::Subscribe(
    const std::vector<std::string>& signals, uint32_t decimation,
    uint32_t samples_per_chunk) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_.load()) {
    return absl::UnavailableError("the daemon is shutting down");
  }
  if (const uint64_t limit = Limits().max_subscribers;
      core_->fanout->num_subscribers() >= limit) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "subscribe: ", limit,
        " streams are open, the daemon's limit (--max_subscribers); close "
        "one first"));
  }
  const ServiceLimits limits = Limits();
  StreamBudget budget;
  budget.max_signals = limits.max_stream_signals;
  budget.queue_bytes = limits.max_stream_queue_bytes;
  budget.total_bytes = limits.max_stream_bytes_total;
  return core_->fanout->Subscribe(signals, decimation, samples_per_chunk,
                                  budget);
}

void Instrument::Unsubscribe(const std::shared_ptr<Subscription>& sub) {
  {
    absl::MutexLock lock(&mu_);
    core_->fanout->Unsubscribe(sub);
  }
  // Its chunks are freed; give the memory back to the system, not only
  // to malloc's free lists (a large stream can have held hundreds of MB).
  malloc_trim(0);
}

absl::StatusOr<std::unique_ptr<Instrument::StreamSlot>> Instrument::OpenStream(
    const std::string& client) {
  const uint64_t limit = Limits().max_streams_per_client;
  absl::MutexLock lock(&streams_mu_);
  uint64_t& open = streams_by_client_[client];
  if (open >= limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("streams: ", client, " has ", open,
                     " streams open, the daemon's limit per client "
                     "(--max_streams_per_client); close one first"));
  }
  ++open;
  return std::make_unique<StreamSlot>(this, client);
}

bool Instrument::WaitStreamsClosed(absl::Duration timeout) {
  absl::MutexLock lock(&streams_mu_);
  auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(streams_mu_) {
    return streams_by_client_.empty();
  };
  return streams_mu_.AwaitWithTimeout(absl::Condition(&none), timeout);
}

Instrument::StreamSlot::~StreamSlot() {
  absl::MutexLock lock(&inst_->streams_mu_);
  const auto it = inst_->streams_by_client_.find(client_);
  if (it != inst_->streams_by_client_.end() && --it->second == 0) {
    inst_->streams_by_client_.erase(it);
  }
}

void Instrument::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_.exchange(true)) return;
    if (core_ == nullptr) return;  // Create() failed before the rig existed
    if (RunActiveLocked()) EndRunLocked(v1::ABORTED);
    core_->engine->ZeroOutputs();  // the loop is stopped: this thread owns it
    core_->fanout->Stop(absl::UnavailableError("the daemon is shutting down"));
    ++run_version_;
  }
  recordings_.SealPending();
}

rt::ClampEngine& Instrument::engine() {
  absl::MutexLock lock(&mu_);
  return *core_->engine;
}

}  // namespace dynclamp::server
