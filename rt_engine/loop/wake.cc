#include "rt_engine/loop/wake.h"

#include <algorithm>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dynclamp::rt {
namespace {

constexpr int64_t kMinGuardNs = 2'000;
// Fewer sleeps than this in a window: the margin leaves (almost) no time to
// sleep, so the window says little; the margin probes downward instead.
constexpr int64_t kMinSamples = 20;

}  // namespace

absl::StatusOr<WakeStrategy> ParseWakeStrategy(absl::string_view name) {
  if (auto s = kWakeStrategyNames.Find(name)) return *s;
  return absl::InvalidArgumentError(
      absl::StrCat("'", name.substr(0, 40),
                   "' is not a wake strategy (adaptive, sleep or spin)"));
}

WakeDecision DecideWake(const WakeRequest& request, int64_t period_ns,
                        int pinned_cpu,
                        const std::vector<std::string>& sharers) {
  WakeDecision d;
  switch (request.strategy) {
    case WakeStrategy::kSleep:
      d.strategy = WakeStrategy::kSleep;
      d.reason = "sleep to each deadline (as asked)";
      return d;
    case WakeStrategy::kSpin: {
      d.strategy = WakeStrategy::kSpin;
      d.fixed_margin_ns = request.spin_ns <= 0
                              ? period_ns
                              : std::min(request.spin_ns, period_ns);
      d.reason = d.fixed_margin_ns >= period_ns
                     ? std::string("spin the whole period (as asked)")
                     : absl::StrCat("spin ", d.fixed_margin_ns / 1e3,
                                    " us before each deadline (as asked)");
      if (pinned_cpu < 0) {
        absl::StrAppend(&d.reason,
                        "; not pinned: the spin takes CPU time "
                        "from every thread");
      } else if (!sharers.empty()) {
        absl::StrAppend(&d.reason, "; CPU ", pinned_cpu, " is shared with ",
                        absl::StrJoin(sharers, ", "));
      }
      return d;
    }
    case WakeStrategy::kAdaptive:
      break;
  }
  if (pinned_cpu < 0) {
    d.strategy = WakeStrategy::kSleep;
    d.reason =
        "sleep to each deadline: the loop has no CPU of its own to spin on "
        "(not pinned)";
  } else if (!sharers.empty()) {
    d.strategy = WakeStrategy::kSleep;
    d.reason = absl::StrCat(
        "sleep to each deadline: CPU ", pinned_cpu, " is shared with ",
        absl::StrJoin(
            sharers.begin(),
            sharers.begin() + std::min<std::size_t>(sharers.size(), 3), ", "),
        sharers.size() > 3 ? absl::StrCat(" and ", sharers.size() - 3, " more")
                           : std::string());
  } else {
    d.strategy = WakeStrategy::kAdaptive;
    d.reason = absl::StrCat("adaptive on CPU ", pinned_cpu,
                            " (its own): sleeps to a measured margin before "
                            "each deadline and spins the rest");
  }
  return d;
}

double CpuBudget(int64_t rt_runtime_us, int64_t rt_period_us) {
  if (rt_runtime_us < 0) return 1.0;
  if (rt_period_us <= 0) return 0.9;
  return std::clamp(
      static_cast<double>(rt_runtime_us) / static_cast<double>(rt_period_us) -
          0.05,
      0.0, 1.0);
}

double CpuBudget() {
  auto read = [](const char* path, int64_t fallback) {
    std::ifstream in(path);
    int64_t v = fallback;
    return (in >> v) ? v : fallback;
  };
  // The kernel's defaults when /proc/sys is not readable.
  return CpuBudget(read("/proc/sys/kernel/sched_rt_runtime_us", 950'000),
                   read("/proc/sys/kernel/sched_rt_period_us", 1'000'000));
}

WakeMargin::WakeMargin(int64_t period_ns, double cpu_budget) noexcept
    : period_ns_(std::max<int64_t>(period_ns, 1)),
      cpu_budget_(cpu_budget),
      bin_ns_(std::max<int64_t>(1, (period_ns_ + kBins - 1) / kBins)),
      window_cycles_(
          std::max<int64_t>(kMinWindowCycles, 100'000'000 / period_ns_)),
      wanted_ns_(period_ns_),
      cap_ns_(period_ns_) {}

int64_t WakeMargin::Target(int64_t lateness_ns) const noexcept {
  const int64_t guard = std::max(kMinGuardNs, lateness_ns / 4);
  return std::min(period_ns_, lateness_ns + guard);
}

void WakeMargin::Calibrate(int64_t* late_ns, int n) noexcept {
  if (n <= 0) return;
  std::sort(late_ns, late_ns + n);
  const int k = std::min(n - 1, (n * 99 + 99) / 100 - 1);
  wanted_ns_ = Target(std::max<int64_t>(0, late_ns[k]));
}

void WakeMargin::Observe(int64_t late_ns) noexcept {
  const int64_t bin = late_ns < 0 ? 0 : late_ns / bin_ns_;
  ++bins_[static_cast<std::size_t>(std::min<int64_t>(bin, kBins))];
  ++samples_;
}

int64_t WakeMargin::WindowQuantile() const noexcept {
  if (samples_ == 0) return -1;
  const int64_t above_allowed = samples_ / 100;  // 99th percentile
  int64_t seen = 0;
  for (int b = kBins; b >= 0; --b) {
    seen += bins_[static_cast<std::size_t>(b)];
    if (seen > above_allowed) {
      return b == kBins ? period_ns_ : (b + 1) * bin_ns_;
    }
  }
  return 0;
}

void WakeMargin::CloseWindow(double cpu_share) noexcept {
  const int64_t q = WindowQuantile();
  const int64_t target = q < 0 ? 0 : Target(q);
  if (full_spin_windows_left_ > 0) {
    // Spinning the period because sleeping saved nothing; then probe.
    if (--full_spin_windows_left_ == 0) wanted_ns_ -= wanted_ns_ / 8;
  } else if (samples_ >= kMinSamples && cpu_share >= kSleepSavesNothing &&
             cpu_budget_ >= 1.0) {
    wanted_ns_ = period_ns_;
    full_spin_windows_left_ = kFullSpinWindows;
  } else if (target > wanted_ns_) {
    wanted_ns_ = target;  // lateness grew: cover it now
  } else if (samples_ < kMinSamples) {
    wanted_ns_ -= wanted_ns_ / 8;  // hardly slept: probe for room to sleep
  } else {
    wanted_ns_ -= (wanted_ns_ - target) / 4;  // fall back gradually
  }
  // Over budget: take the excess off the margin in force at once. Under
  // it with room to spare: give the cap back gradually.
  if (cpu_share > cpu_budget_) {
    const auto excess = static_cast<int64_t>((cpu_share - cpu_budget_) *
                                             static_cast<double>(period_ns_));
    cap_ns_ = std::max<int64_t>(0, margin_ns() - excess - bin_ns_);
  } else if (cpu_share < cpu_budget_ - 0.1) {
    cap_ns_ = std::min(period_ns_, cap_ns_ + period_ns_ / 16);
  }
  cycles_in_window_ = 0;
  samples_ = 0;
  bins_.fill(0);
}

}  // namespace dynclamp::rt
