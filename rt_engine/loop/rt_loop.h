// RtLoop: the dedicated thread that runs a ClampEngine at a fixed period.
//
// On start the thread asks for SCHED_FIFO, locked memory and a CPU (and
// reports what it got), decides how to wait for deadlines (wake.h: spin only
// on a CPU of its own), measures the host timer's lateness, prefaults its
// stack, zeroes the outputs, then loops: sleep to the absolute deadline
// minus the wake margin (clock_nanosleep, TIMER_ABSTIME, CLOCK_MONOTONIC)
// and spin the rest; run one cycle; advance the deadline by one period. A
// cycle that ends past the next deadline is an
// overrun. What follows one depends on whose clock the cell lives by:
//  - skip (a real cell, or the simulated rig's wall clock): the schedule
//    skips the deadlines already missed rather than running late cycles back
//    to back; the engine is told how many, so frames and the protocol keep
//    the schedule's time and mark the slots that have no sample;
//  - catch up (the simulated rig's nominal clock, whose cells advance one
//    period per cycle): every deadline gets its cycle, late ones back to
//    back, so a run of T seconds gives its cells exactly T seconds. A cycle
//    that starts already behind counts as an overrun only if it itself took
//    longer than a period: one late wake-up is one overrun, not one per
//    cycle of the catch-up.
// On stop the outputs are zeroed by the RT thread before it exits.
//
// With `realtime = false` the loop does not sleep: cycles run back to back
// (offline runs on the simulated rig's nominal clock).
//
// Threads: Start()/Stop()/Wait() are non-RT and called by one control thread.
// Observers are safe from any thread.
#ifndef DYNCLAMP_RT_ENGINE_LOOP_RT_LOOP_H_
#define DYNCLAMP_RT_ENGINE_LOOP_RT_LOOP_H_

#include <atomic>
#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "rt_engine/loop/clamp_engine.h"
#include "rt_engine/loop/rt_thread.h"
#include "rt_engine/loop/wake.h"

namespace dynclamp::rt {

struct RtLoopConfig {
  WakeRequest wake;       // how to wait for each deadline
  RtSettingsRequest rt;   // priority, memory lock, CPU
  bool realtime = true;   // false: no sleeping (offline)
  bool catch_up = false;  // run missed deadlines late instead of skipping
  // Stop by itself once this many periods of the schedule have passed
  // (cycles run plus deadlines skipped); 0 = never.
  int64_t stop_after_periods = 0;
  // Tests: the host timer wakes this much later than asked (a slow host).
  int64_t timer_late_ns = 0;
};

class RtLoop {
 public:
  RtLoop(ClampEngine& engine, const RtLoopConfig& config);
  ~RtLoop();  // stops
  RtLoop(const RtLoop&) = delete;
  RtLoop& operator=(const RtLoop&) = delete;

  // Starts the RT thread. FailedPrecondition if already running;
  // InvalidArgument for a bad config.
  absl::Status Start();
  // Stops the thread (outputs zeroed) and waits for it. Idempotent.
  void Stop();
  // Waits until the loop ends by itself (stop_after_periods) or is stopped.
  void Wait();

  bool running() const noexcept {
    return running_.load(std::memory_order_acquire);
  }
  // What the RT thread obtained; valid once Start() returned.
  RtSettingsObtained rt_settings() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void ThreadMain();
  // Sleeps to `deadline - margin`, then spins to the deadline; records the
  // timer's lateness and the spin. RT-safe.
  void WaitFor(int64_t deadline, int64_t margin, WakeMargin& adaptive,
               TimingStats& stats) const noexcept;
  // Measures the timer's lateness over a few short sleeps (before the RT
  // section) and sets `adaptive` from it.
  void Calibrate(WakeMargin& adaptive) const noexcept;

  ClampEngine& engine_;
  const RtLoopConfig config_;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> running_{false};
  mutable absl::Mutex mu_;
  RtSettingsObtained settings_ ABSL_GUARDED_BY(mu_);
  bool settings_ready_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_LOOP_RT_LOOP_H_
