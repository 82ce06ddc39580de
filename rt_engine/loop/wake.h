// How the RT loop waits for each deadline.
//
// Sleeping to the deadline leaves the wake-up to the host's timer, which on
// a virtual machine can be tens of microseconds late; spinning until it is
// exact but burns the CPU. The adaptive strategy (the default) sleeps to a
// margin before the deadline and spins the rest, and WakeMargin sets that
// margin from the timer lateness it measures: at start (a short
// calibration) and continuously (every sleep, summarised in windows of
// about 100 ms). The margin covers the 99th percentile of recent lateness
// plus a guard; it rises at once when lateness grows and falls back
// gradually. It also keeps the thread within a CPU budget: a real-time
// thread that takes more than the kernel's real-time share of its CPU
// (sched_rt_runtime_us, 95 % by default) is throttled for tens of
// milliseconds at a time, which is far worse than a late wake-up.
//
// Spinning is only allowed on a CPU of the loop's own: DecideWake() turns
// the operator's request and what the RT thread found about its CPU into
// the strategy in force and a one-line reason for it.
//
// Threads: WakeMargin is used by the RT thread alone (RT-safe, no
// allocation). The parsing and DecideWake() are non-RT.
#ifndef DYNCLAMP_RT_ENGINE_LOOP_WAKE_H_
#define DYNCLAMP_RT_ENGINE_LOOP_WAKE_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/base/enum_names.h"

namespace dynclamp::rt {

enum class WakeStrategy : uint8_t {
  kAdaptive,  // sleep to an adaptive margin, spin the rest (own CPU only)
  kSleep,     // sleep to the deadline
  kSpin,      // spin a fixed tail before each deadline
};

inline constexpr EnumNames<WakeStrategy, WakeStrategy::kAdaptive,
                           WakeStrategy::kSpin>
    kWakeStrategyNames("adaptive", "sleep", "spin");
inline absl::string_view WakeStrategyName(WakeStrategy strategy) {
  return kWakeStrategyNames.Name(strategy);
}
// "adaptive", "sleep" or "spin".
absl::StatusOr<WakeStrategy> ParseWakeStrategy(absl::string_view name);

struct WakeRequest {
  WakeStrategy strategy = WakeStrategy::kAdaptive;
  // kSpin: spin this long before each deadline; 0 = the whole period.
  int64_t spin_ns = 0;
};

struct WakeDecision {
  WakeStrategy strategy = WakeStrategy::kSleep;
  int64_t fixed_margin_ns = 0;  // kSleep: 0; kSpin: the tail
  std::string reason;           // one line, for status and logs
};

// `pinned_cpu`: the CPU the RT thread is pinned to, or -1. `sharers`: the
// process's other threads that may also run there, described for the
// reason.
WakeDecision DecideWake(const WakeRequest& request, int64_t period_ns,
                        int pinned_cpu,
                        const std::vector<std::string>& sharers);

// The CPU share the adaptive loop allows itself: the kernel's real-time
// share (`rt_runtime_us` of every `rt_period_us`; -1: unlimited) less 5 %
// for the variation between windows. Reads /proc/sys/kernel when not given.
double CpuBudget(int64_t rt_runtime_us, int64_t rt_period_us);
double CpuBudget();

class WakeMargin {
 public:
  static constexpr int kBins = 256;
  // Windows of about 100 ms, at least this many cycles.
  static constexpr int64_t kMinWindowCycles = 1000;
  // A window whose sleeps left the thread this busy saved nothing by
  // sleeping (on a VM a sleep can cost 15-20 us of CPU): when the budget
  // allows the whole period, spin it, and try sleeping again only after
  // this many windows (about 6 s).
  static constexpr double kSleepSavesNothing = 0.97;
  static constexpr int kFullSpinWindows = 64;
  // `cpu_budget`: the share of its CPU the loop's thread may use, spin
  // included (CpuBudget()).
  WakeMargin(int64_t period_ns, double cpu_budget) noexcept;

  // The margin to stop sleeping before a deadline, in [0, period].
  int64_t margin_ns() const noexcept { return std::min(wanted_ns_, cap_ns_); }
  // What the CPU budget allows at most, in [0, period].
  int64_t cap_ns() const noexcept { return cap_ns_; }
  int64_t window_cycles() const noexcept { return window_cycles_; }
  // Sets the margin from a start-up calibration: the lateness of `n`
  // sleeps, `late_ns` (any order; reordered). The margin covers their
  // 99th percentile plus the guard.
  void Calibrate(int64_t* late_ns, int n) noexcept;
  // One sleep's timer lateness: when it woke minus when it asked to.
  void Observe(int64_t late_ns) noexcept;
  // Counts a cycle; true when a window is complete: call CloseWindow().
  bool EndCycle() noexcept { return ++cycles_in_window_ >= window_cycles_; }
  // Moves the margin to what the window's sleeps showed, within the CPU
  // budget; `cpu_share` is the thread's CPU time over the window's wall
  // time.
  void CloseWindow(double cpu_share) noexcept;

 private:
  int64_t Target(int64_t lateness_ns) const noexcept;
  int64_t WindowQuantile() const noexcept;  // 99th percentile, or -1

  const int64_t period_ns_;
  const double cpu_budget_;
  const int64_t bin_ns_;
  const int64_t window_cycles_;
  int64_t wanted_ns_;  // what the lateness asks for
  int64_t cap_ns_;     // what the CPU budget allows
  int64_t cycles_in_window_ = 0;
  int64_t samples_ = 0;
  int full_spin_windows_left_ = 0;  // > 0: spinning the period on purpose
  std::array<uint32_t, kBins + 1> bins_{};  // the last one: beyond the range
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_LOOP_WAKE_H_
