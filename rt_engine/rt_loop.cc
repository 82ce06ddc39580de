#include "rt_engine/rt_loop.h"

#include "rt_engine/clock.h"

namespace dynclamp::rt {

RtLoop::RtLoop(ClampEngine& engine, const RtLoopConfig& config)
    : engine_(engine), config_(config) {}

RtLoop::~RtLoop() { Stop(); }

absl::Status RtLoop::Start() {
  if (thread_.joinable()) {
    return absl::FailedPreconditionError("loop: already running");
  }
  if (config_.busy_wait_ns < 0 ||
      config_.busy_wait_ns > engine_.config().period_ns) {
    return absl::InvalidArgumentError("busy_wait_ns: must be in [0, period]");
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

void RtLoop::ThreadMain() {
  RtSettingsObtained got = ApplyRtSettingsToThisThread(config_.rt);
  PrefaultStack();
  {
    absl::MutexLock lock(&mu_);
    settings_ = std::move(got);
    settings_ready_ = true;
  }
  // ---- RT section: no allocation, locks, logging or blocking below ----
  engine_.ZeroOutputs();
  engine_.BeginSchedule();
  const int64_t period = engine_.config().period_ns;
  int64_t deadline = MonotonicNowNs() + period;
  int64_t previous_wake = -1;
  int64_t periods = 0;
  while (!stop_requested_.load(std::memory_order_acquire)) {
    // Behind schedule already (catching up): no sleep this time.
    const bool behind = config_.realtime && MonotonicNowNs() >= deadline;
    if (config_.realtime) WaitUntilNs(deadline, config_.busy_wait_ns);
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
    if (config_.stop_after_periods > 0 &&
        periods >= config_.stop_after_periods) {
      break;
    }
  }
  engine_.ZeroOutputs();
  running_.store(false, std::memory_order_release);
}

}  // namespace dynclamp::rt
