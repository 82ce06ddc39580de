#include "rt_engine/loop/wake.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "rt_engine/loop/rt_thread.h"

namespace dynclamp::rt {
namespace {

constexpr int64_t kPeriod = 50'000;
constexpr double kBudget = 0.85;

TEST(WakeStrategyTest, NamesParseAndBadNamesSayWhatIsValid) {
  for (WakeStrategy s :
       {WakeStrategy::kAdaptive, WakeStrategy::kSleep, WakeStrategy::kSpin}) {
    EXPECT_EQ(*ParseWakeStrategy(WakeStrategyName(s)), s);
  }
  const auto bad = ParseWakeStrategy("busy");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "'busy'"));
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "adaptive, sleep"));
}

TEST(DecideWakeTest, AdaptiveSpinsOnlyOnACpuOfItsOwn) {
  const WakeRequest adaptive;
  WakeDecision d = DecideWake(adaptive, kPeriod, -1, {});
  EXPECT_EQ(d.strategy, WakeStrategy::kSleep);
  EXPECT_TRUE(absl::StrContains(d.reason, "not pinned")) << d.reason;

  d = DecideWake(adaptive, kPeriod, 1, {"thread 12 (grpc)", "thread 13 (x)"});
  EXPECT_EQ(d.strategy, WakeStrategy::kSleep);
  EXPECT_TRUE(absl::StrContains(d.reason, "CPU 1 is shared with thread 12"))
      << d.reason;

  d = DecideWake(adaptive, kPeriod, 1, {});
  EXPECT_EQ(d.strategy, WakeStrategy::kAdaptive);
  EXPECT_TRUE(absl::StrContains(d.reason, "CPU 1 (its own)")) << d.reason;
}

TEST(DecideWakeTest, ForcedStrategiesAreKeptAndSaySo) {
  WakeDecision d = DecideWake({WakeStrategy::kSleep, 0}, kPeriod, 1, {});
  EXPECT_EQ(d.strategy, WakeStrategy::kSleep);
  EXPECT_EQ(d.fixed_margin_ns, 0);
  EXPECT_TRUE(absl::StrContains(d.reason, "as asked"));
  // Spin is the operator's call even on a shared CPU; the reason warns.
  d = DecideWake({WakeStrategy::kSpin, 20'000}, kPeriod, 1, {"thread 7 (a)"});
  EXPECT_EQ(d.strategy, WakeStrategy::kSpin);
  EXPECT_EQ(d.fixed_margin_ns, 20'000);
  EXPECT_TRUE(absl::StrContains(d.reason, "shared with thread 7")) << d.reason;
  d = DecideWake({WakeStrategy::kSpin, 0}, kPeriod, -1, {});
  EXPECT_EQ(d.fixed_margin_ns, kPeriod) << "0: the whole period";
  EXPECT_TRUE(absl::StrContains(d.reason, "not pinned")) << d.reason;
}

// Feeds one window of sleeps, `late_ns` each, and closes it with the
// thread having used `cpu_share` of its CPU.
void Window(WakeMargin& m, int64_t late_ns, int64_t sleeps = -1,
            double cpu_share = 0.5) {
  const int64_t n = sleeps < 0 ? m.window_cycles() : sleeps;
  for (int64_t k = 0; k < m.window_cycles(); ++k) {
    if (k < n) m.Observe(late_ns);
    if (m.EndCycle()) {
      EXPECT_EQ(k, m.window_cycles() - 1);
      m.CloseWindow(cpu_share);
    }
  }
}

TEST(WakeMarginTest, StartsAtThePeriodAndCalibratesToTheP99PlusAGuard) {
  WakeMargin m(kPeriod, kBudget);
  EXPECT_EQ(m.margin_ns(), kPeriod) << "before any measurement: spin it all";
  EXPECT_EQ(m.window_cycles(), 2000) << "100 ms at 20 kHz";
  std::vector<int64_t> late(100, 4'000);
  late[3] = 40'000;  // one outlier in 100 is beyond the 99th percentile
  late[50] = 12'000;
  m.Calibrate(late.data(), static_cast<int>(late.size()));
  EXPECT_EQ(m.margin_ns(), 15'000) << "12 us + a quarter";
  std::vector<int64_t> quiet(100, 1'000);
  m.Calibrate(quiet.data(), 100);
  EXPECT_EQ(m.margin_ns(), 3'000) << "1 us + the 2 us floor of the guard";
}

TEST(WakeMarginTest, RisesAtOnceAndFallsBackGradually) {
  WakeMargin m(kPeriod, kBudget);
  std::vector<int64_t> late(64, 4'000);
  m.Calibrate(late.data(), 64);
  ASSERT_EQ(m.margin_ns(), 6'000);
  Window(m, 20'000);
  // 20 us, within one bin (196 ns at this period) above, plus a quarter.
  EXPECT_GE(m.margin_ns(), 25'000);
  EXPECT_LE(m.margin_ns(), 25'300);
  const int64_t high = m.margin_ns();
  Window(m, 4'000);
  EXPECT_LT(m.margin_ns(), high);
  EXPECT_GT(m.margin_ns(), 18'000) << "a quarter of the way down, no more";
  for (int k = 0; k < 30; ++k) Window(m, 4'000);
  EXPECT_NEAR(m.margin_ns(), 6'200, 300) << "settles at 4 us + guard";
}

// Feeds a window of 2000 sleeps: `outliers` late by `late_ns`, the rest
// 2 us.
void WindowWithOutliers(WakeMargin& m, int outliers, int64_t late_ns) {
  for (int64_t k = 0; k < m.window_cycles(); ++k) {
    m.Observe(k < outliers ? late_ns : 2'000);
    if (m.EndCycle()) m.CloseWindow(0.5);
  }
}

TEST(WakeMarginTest, CoversThe99thPercentileNotEveryOutlier) {
  WakeMargin m(kPeriod, kBudget);
  std::vector<int64_t> late(64, 2'000);
  m.Calibrate(late.data(), 64);
  const int64_t base = m.margin_ns();
  // 20 outliers in 2000 sleeps: the 99th percentile is still 2 us.
  WindowWithOutliers(m, 20, 45'000);
  EXPECT_LE(m.margin_ns(), base + 300);
  // 30 in 2000 are beyond it: cover them.
  WindowWithOutliers(m, 30, 30'000);
  EXPECT_GE(m.margin_ns(), 37'500);
}

// A real-time thread over its CPU share is throttled by the kernel for
// tens of milliseconds: the margin gives way to the budget.
TEST(WakeMarginTest, StaysWithinTheCpuBudget) {
  WakeMargin m(kPeriod, kBudget);
  std::vector<int64_t> late(64, 30'000);
  m.Calibrate(late.data(), 64);
  Window(m, 30'000);  // wants 37.7 us
  const int64_t wanted = m.margin_ns();
  ASSERT_GE(wanted, 37'500);
  Window(m, 30'000, -1, 0.95);  // 10 % over the budget: 5 us less spin
  EXPECT_LE(m.margin_ns(), wanted - 5'000);
  EXPECT_GE(m.margin_ns(), wanted - 6'000);
  EXPECT_EQ(m.cap_ns(), m.margin_ns());
  Window(m, 30'000, -1, 0.80);  // within the budget: the cap holds
  EXPECT_EQ(m.margin_ns(), m.cap_ns());
  const int64_t capped = m.margin_ns();
  Window(m, 30'000, -1, 0.60);  // well within: it is given back gradually
  EXPECT_GT(m.margin_ns(), capped);
  for (int k = 0; k < 20; ++k) Window(m, 30'000, -1, 0.60);
  EXPECT_EQ(m.margin_ns(), wanted) << "back to what the lateness asks for";
  // A model step that alone takes the budget leaves no spin at all.
  for (int k = 0; k < 20; ++k) Window(m, 30'000, -1, 0.99);
  EXPECT_EQ(m.margin_ns(), 0);
}

TEST(WakeMarginTest, NeverBeyondThePeriodAndProbesDownWhenItCannotSleep) {
  WakeMargin m(kPeriod, kBudget);
  Window(m, 1'000'000);  // a host a millisecond late: spin the whole period
  EXPECT_EQ(m.margin_ns(), kPeriod);
  // The margin leaves no time to sleep (no samples): it probes down.
  Window(m, 0, 0);
  EXPECT_EQ(m.margin_ns(), kPeriod - kPeriod / 8);
  Window(m, 0, 0);
  EXPECT_LT(m.margin_ns(), kPeriod - kPeriod / 8);
}

// On a VM a sleep can cost as much CPU as spinning through it: with the
// real-time limit lifted, the loop then spins the period (it is late
// otherwise, for nothing) and tries sleeping again only seconds later.
TEST(WakeMarginTest, SpinsThePeriodWhenSleepingSavesNothingAndTheBudgetAllows) {
  WakeMargin unlimited(kPeriod, 1.0);
  Window(unlimited, 4'000, -1, 0.99);  // sleeping, yet 99 % busy
  EXPECT_EQ(unlimited.margin_ns(), kPeriod);
  for (int k = 1; k < WakeMargin::kFullSpinWindows; ++k) {
    Window(unlimited, 0, 0, 1.0);  // no sleeps: no probing meanwhile
    ASSERT_EQ(unlimited.margin_ns(), kPeriod) << "window " << k;
  }
  Window(unlimited, 0, 0, 1.0);
  EXPECT_EQ(unlimited.margin_ns(), kPeriod - kPeriod / 8) << "then probes";
  // Sleeping that does save CPU keeps the measured margin.
  WakeMargin saving(kPeriod, 1.0);
  std::vector<int64_t> late(64, 4'000);
  saving.Calibrate(late.data(), 64);
  Window(saving, 4'000, -1, 0.60);
  EXPECT_LT(saving.margin_ns(), 10'000);
  // Within the kernel's share the budget rules, as before.
  WakeMargin limited(kPeriod, kBudget);
  Window(limited, 4'000, -1, 0.99);
  EXPECT_LT(limited.margin_ns(), kPeriod);
}

TEST(CpuBudgetTest, TheKernelsRealtimeShareLessAMargin) {
  EXPECT_DOUBLE_EQ(CpuBudget(950'000, 1'000'000), 0.90);
  EXPECT_DOUBLE_EQ(CpuBudget(-1, 1'000'000), 1.0) << "no RT throttling";
  EXPECT_DOUBLE_EQ(CpuBudget(0, 1'000'000), 0.0);
  const double here = CpuBudget();
  EXPECT_GE(here, 0.0);
  EXPECT_LE(here, 1.0);
}

TEST(ReserveRtCpuTest, BadChoicesNameTheFlagAndNoneReservesNothing) {
  auto bad = ReserveRtCpu("seven", "cpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "--cpu: 'seven'"))
      << bad.status();
  bad = ReserveRtCpu("4096", "cpu");
  EXPECT_FALSE(bad.ok());
  const auto none = ReserveRtCpu("none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->cpu, -1);
}

std::vector<int> MyCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

TEST(ReserveRtCpuTest, AutoTakesTheLastCpuAndKeepsTheCallerOffIt) {
  const std::vector<int> cpus = MyCpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
  // In a thread of its own: the reservation restricts the calling thread.
  std::thread t([&] {
    const auto r = ReserveRtCpu("auto");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->cpu, cpus.back());
    const std::vector<int> left = MyCpus();
    EXPECT_EQ(left.size(), cpus.size() - 1);
    for (int c : left) EXPECT_NE(c, r->cpu);
  });
  t.join();
}

TEST(OwnThreadsThatMayRunOnTest, SeesThisProcessesOtherThreadsByTheirMask) {
  const std::vector<int> cpus = MyCpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const int cpu = cpus.back();
  std::atomic<pid_t> tid{0};
  std::atomic<bool> moved{false}, done{false};
  std::thread other([&] {
    tid = gettid();
    while (!moved.load()) std::this_thread::yield();
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus.front(), &set);
    sched_setaffinity(0, sizeof set, &set);
    tid = -gettid();  // moved off `cpu`
    while (!done.load()) std::this_thread::yield();
  });
  while (tid.load() == 0) std::this_thread::yield();
  const std::string name = "thread " + std::to_string(tid.load()) + " (";
  bool seen = false;
  for (const std::string& s : OwnThreadsThatMayRunOn(cpu))
    seen |= absl::StartsWith(s, name);
  EXPECT_TRUE(seen) << "the other thread may run on CPU " << cpu;
  moved = true;
  while (tid.load() > 0) std::this_thread::yield();
  for (const std::string& s : OwnThreadsThatMayRunOn(cpu))
    EXPECT_FALSE(absl::StartsWith(s, name)) << s;
  done = true;
  other.join();
}

// Another process's real-time thread where the loop would pin: it is seen,
// and the loop does not pin there (it would starve or be starved).
TEST(OtherRealtimeThreadsOnTest, AnotherProcesssFifoThreadKeepsTheLoopOff) {
  const std::vector<int> cpus = MyCpus();
  if (cpus.size() < 2) GTEST_SKIP() << "needs two CPUs";
  const int cpu = cpus.back();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    sched_param sp{};
    sp.sched_priority = 10;
    const char ok = sched_setscheduler(0, SCHED_FIFO, &sp) == 0 ? 'y' : 'n';
    (void)!write(ready[1], &ok, 1);
    pause();
    _exit(0);
  }
  char ok = 0;
  ASSERT_EQ(read(ready[0], &ok, 1), 1);
  std::vector<std::string> rivals = OtherRealtimeThreadsOn(cpu);
  RtSettingsRequest req;
  req.lock_memory = false;
  req.realtime_priority = false;
  req.cpu = cpu;
  RtSettingsObtained got;
  std::thread t([&] { got = ApplyRtSettingsToThisThread(req); });
  t.join();
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(ready[0]);
  close(ready[1]);
  if (ok != 'y') GTEST_SKIP() << "no privilege for SCHED_FIFO";
  const std::string name = "real-time thread " + std::to_string(child) + " (";
  bool seen = false;
  for (const std::string& s : rivals) seen |= absl::StartsWith(s, name);
  EXPECT_TRUE(seen) << "the child's FIFO thread may run on CPU " << cpu;
  EXPECT_EQ(got.cpu, -1);
  EXPECT_NE(got.Summary().find("not pinned to CPU"), std::string::npos)
      << got.Summary();
}

}  // namespace
}  // namespace dynclamp::rt
