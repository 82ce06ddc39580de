// TimingStats: the loop's timing health, kept in preallocated histograms and
// counters that the RT thread bumps and any thread reads (Prometheus
// collector, run summaries, tests).
//
// Threads: only the RT thread writes (single writer, relaxed stores); any
// thread reads. Reset() only while the loop is stopped.
#ifndef DYNCLAMP_RT_ENGINE_BASE_TIMING_STATS_H_
#define DYNCLAMP_RT_ENGINE_BASE_TIMING_STATS_H_

#include <atomic>
#include <cstdint>

#include "rt_engine/base/histogram.h"

namespace dynclamp::rt {

class Counter {
 public:
  void Add(uint64_t n = 1) noexcept {  // single writer
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void Set(uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
  uint64_t Get() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct TimingStats {
  LatencyHistogram period_ns;      // actual time between wake-ups
  LatencyHistogram lateness_ns;    // wake-up minus deadline
  LatencyHistogram compute_ns;     // model step time
  LatencyHistogram latency_ns;     // input read start to output write end
  LatencyHistogram timer_late_ns;  // the host timer: woke minus asked
  Counter cycles;
  Counter overruns;         // cycles that ended past the next deadline
  Counter skipped_cycles;   // deadlines skipped to catch up
  Counter clipped_outputs;  // output samples clipped to the limit
  Counter daq_read_errors;
  Counter daq_write_errors;
  Counter faults;  // entries into FAULT
  Counter model_swaps;
  Counter param_updates_applied;
  Counter param_updates_stale;  // resolved against a set no longer active
  Counter max_consecutive_overruns;
  Counter events_delivered;  // network events delivered to targets
  Counter events_dropped;    // network events lost: the queue was full
  Counter spikes;            // spikes emitted by network sources
  // The wake-up's cost and setting (rt_engine/loop/wake.h).
  Counter spin_ns;         // time spent spinning before deadlines
  Counter rt_cpu_ns;       // CPU time of the RT thread (every ~0.1 s)
  Counter wake_margin_ns;  // the margin in force (a gauge)

  void Reset() noexcept {
    period_ns.Reset();
    lateness_ns.Reset();
    compute_ns.Reset();
    latency_ns.Reset();
    timer_late_ns.Reset();
    for (Counter* c :
         {&cycles, &overruns, &skipped_cycles, &clipped_outputs,
          &daq_read_errors, &daq_write_errors, &faults, &model_swaps,
          &param_updates_applied, &param_updates_stale,
          &max_consecutive_overruns, &events_delivered, &events_dropped,
          &spikes, &spin_ns, &rt_cpu_ns, &wake_margin_ns}) {
      c->Set(0);
    }
  }
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_TIMING_STATS_H_
