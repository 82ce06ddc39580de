#include "rt_engine/loop/rt_loop.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rt_engine/base/clock.h"

namespace dynclamp::rt {

RtLoop::RtLoop(ClampEngine& engine, const RtLoopConfig& config)
    : engine_(engine), config_(config) {}

RtLoop::~RtLoop() { Stop(); }

absl::Status RtLoop::Start() {
  if (thread_.joinable()) {
    return absl::FailedPreconditionError("loop: already running");
  }
  if (config_.wake.spin_ns < 0 ||
      config_.wake.spin_ns > engine_.config().period_ns) {
    return absl::InvalidArgumentError(
        "wake.spin_ns: must be in [0, period] (0 = the whole period)");
  }
  if (config_.rt.priority < 1 || config_.rt.priority > 99) {
    return absl::InvalidArgumentError("rt.priority: must be in [1, 99]");
  }
  if (absl::Status s = engine_.daq().Prepare(engine_.config().period_ns);
      !s.ok()) {
    return s;
  }
  {
    absl::MutexLock lock(&mu_);
    settings_ready_ = false;
  }
  stop_requested_.store(false);
  running_.store(true, std::memory_order_release);
  thread_ = std::thread(&RtLoop::ThreadMain, this);
  // Start() returns once the thread has applied (or failed to get) its
  // settings, so callers can report them.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&settings_ready_));
  return absl::OkStatus();
}

void RtLoop::Stop() {
  stop_requested_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

void RtLoop::Wait() {
  if (thread_.joinable()) thread_.join();
}

RtSettingsObtained RtLoop::rt_settings() const {
  absl::MutexLock lock(&mu_);
  return settings_;
}

void RtLoop::WaitFor(int64_t deadline, int64_t margin, WakeMargin& adaptive,
                     TimingStats& stats) const noexcept {
  int64_t now = MonotonicNowNs();
  const int64_t sleep_to = deadline - margin;
  if (now < sleep_to) {
    SleepUntilNs(sleep_to + config_.timer_late_ns);
    now = MonotonicNowNs();
    stats.timer_late_ns.Record(now - sleep_to);
    adaptive.Observe(now - sleep_to);
  }
  if (now < deadline) {
    SpinUntilNs(deadline);
    stats.spin_ns.Add(static_cast<uint64_t>(MonotonicNowNs() - now));
  }
}

void RtLoop::Calibrate(WakeMargin& adaptive) const noexcept {
  constexpr int kMaxSamples = 256;
  constexpr int64_t kBudgetNs = 50'000'000;
  const int64_t sleep_ns =
      std::min<int64_t>(engine_.config().period_ns, 200'000);
  const int n = static_cast<int>(
      std::clamp<int64_t>(kBudgetNs / (sleep_ns + 1), 16, kMaxSamples));
  int64_t late[kMaxSamples];
  for (int k = 0; k < n; ++k) {
    const int64_t target = MonotonicNowNs() + sleep_ns;
    SleepUntilNs(target + config_.timer_late_ns);
    late[k] = MonotonicNowNs() - target;
  }
  adaptive.Calibrate(late, n);
}

void RtLoop::ThreadMain() {
  const int64_t period = engine_.config().period_ns;
  RtSettingsObtained got = ApplyRtSettingsToThisThread(config_.rt);
  const WakeDecision decision = DecideWake(config_.wake, period, got.cpu,
                                           OwnThreadsThatMayRunOn(got.cpu));
  const double budget = CpuBudget();
  got.wake = std::string(WakeStrategyName(decision.strategy));
  got.wake_reason = decision.reason;
  if (decision.strategy == WakeStrategy::kAdaptive) {
    if (budget >= 1.0) {
      absl::StrAppend(&got.wake_reason,
                      ", with no real-time CPU limit from the kernel (it "
                      "spins the whole period when sleeping saves nothing)");
    } else {
      absl::StrAppend(&got.wake_reason, ", within ", std::lround(100 * budget),
                      " % of its CPU (the kernel's real-time share less 5 %)");
    }
  }
  PrefaultStack();
  WakeMargin adaptive(period, budget);
  if (config_.realtime) Calibrate(adaptive);
  {
    absl::MutexLock lock(&mu_);
    settings_ = std::move(got);
    settings_ready_ = true;
  }
  // ---- RT section: no allocation, locks, logging or blocking below ----
  TimingStats& stats = engine_.mutable_stats();
  const bool adapt = decision.strategy == WakeStrategy::kAdaptive;
  int64_t cpu_mark = ThreadCpuNs();
  int64_t window_start = MonotonicNowNs();
  engine_.ZeroOutputs();
  engine_.BeginSchedule();
  int64_t deadline = MonotonicNowNs() + period;
  int64_t previous_wake = -1;
  int64_t periods = 0;
  while (!stop_requested_.load(std::memory_order_acquire)) {
    // Behind schedule already (catching up): no sleep this time.
    const bool behind = config_.realtime && MonotonicNowNs() >= deadline;
    if (config_.realtime) {
      const int64_t margin =
          adapt ? adaptive.margin_ns() : decision.fixed_margin_ns;
      stats.wake_margin_ns.Set(static_cast<uint64_t>(margin));
      WaitFor(deadline, margin, adaptive, stats);
    }
    const int64_t wake = MonotonicNowNs();
    const int64_t due = config_.realtime ? deadline : wake;
    engine_.RunCycle(due, wake, previous_wake < 0 ? 0 : wake - previous_wake);
    previous_wake = wake;
    deadline += period;
    ++periods;
    if (config_.realtime) {
      const int64_t end = MonotonicNowNs();
      if (end <= deadline) {
        engine_.NoteDeadline(false, 0);
      } else if (config_.catch_up) {
        engine_.NoteDeadline(!behind || end - wake > period, 0);
      } else {
        // Overran: skip every deadline already in the past.
        const int64_t missed = (end - deadline) / period + 1;
        deadline += missed * period;
        periods += missed;
        engine_.NoteDeadline(true, missed);
      }
    }
    if (adaptive.EndCycle()) {
      // About every 100 ms: the CPU this thread used, for the budget and
      // the stats (a system call, so not every cycle).
      const int64_t cpu = ThreadCpuNs();
      const int64_t now = MonotonicNowNs();
      adaptive.CloseWindow(
          static_cast<double>(cpu - cpu_mark) /
          static_cast<double>(std::max<int64_t>(1, now - window_start)));
      stats.rt_cpu_ns.Add(static_cast<uint64_t>(cpu - cpu_mark));
      cpu_mark = cpu;
      window_start = now;
    }
    if (config_.stop_after_periods > 0 &&
        periods >= config_.stop_after_periods) {
      break;
    }
  }
  engine_.ZeroOutputs();
  stats.rt_cpu_ns.Add(static_cast<uint64_t>(ThreadCpuNs() - cpu_mark));
  running_.store(false, std::memory_order_release);
}

}  // namespace dynclamp::rt
