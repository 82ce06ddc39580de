#include "rt_engine/loop/rt_loop.h"

#include <sched.h>

#include <thread>

#include "gtest/gtest.h"
#include "rt_engine/base/clock.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::rt {
namespace {

using testing::IdealSim;
using testing::MakeBench;

RtLoopConfig Unprivileged() {
  RtLoopConfig c;
  c.rt.lock_memory = false;  // tests must not pin the whole test binary
  return c;
}

TEST(RtLoopTest, RunsAtItsPeriodAndZeroesOutputsOnStop) {
  auto b = MakeBench(IdealSim({SimCellConfig{}}), 100'000, 20000, 1 << 14);
  ModelSetSpec spec;
  ConductanceSpec g;
  g.name = "g";
  g.model = ConstantConductance::Params{20.0, 0.0};
  spec.conductances = {g};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  RtLoop loop(*b.engine, Unprivileged());
  ASSERT_TRUE(loop.Start().ok());
  EXPECT_FALSE(loop.Start().ok()) << "a second start is refused";
  const RtSettingsObtained got = loop.rt_settings();
  EXPECT_FALSE(got.policy.empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  // 20 nS at 0 mV on a 10 nS, -65 mV cell: V settles at -21.7 mV, 433 pA.
  EXPECT_NEAR(b.rig->dac_output_pa(0), 433.3, 5.0)
      << "the model set is injecting";
  loop.Stop();
  EXPECT_FALSE(loop.running());
  EXPECT_EQ(b.rig->dac_output_pa(0), 0.0);
  const auto& st = b.engine->stats();
  // 300 ms at 100 us: about 3000 cycles, fewer if the machine is busy.
  EXPECT_GT(st.cycles.Get(), 500u);
  EXPECT_LT(st.cycles.Get(), 3600u);
  const HistogramSnapshot period = st.period_ns.Snapshot();
  // Deadlines are absolute, so the median period stays at the period even
  // when every wake-up is late by a similar amount.
  EXPECT_GT(period.Quantile(0.5), 80'000u);
  EXPECT_LT(period.Quantile(0.5), 150'000u);
}

TEST(RtLoopTest, RefusedRtSettingsAreReportedNotFatal) {
  auto b = MakeBench(IdealSim({SimCellConfig{}}), 100'000);
  RtLoopConfig lc = Unprivileged();
  lc.rt.cpu = 4000;  // no such CPU
  RtLoop loop(*b.engine, lc);
  ASSERT_TRUE(loop.Start().ok()) << "the loop runs anyway";
  const RtSettingsObtained got = loop.rt_settings();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  loop.Stop();
  EXPECT_EQ(got.cpu, -1);
  ASSERT_FALSE(got.notes.empty());
  EXPECT_NE(got.Summary().find("could not pin to CPU 4000"), std::string::npos)
      << got.Summary();
  EXPECT_GT(b.engine->stats().cycles.Get(), 0u);
}

// The loop's wake-up, on a host whose timer wakes `timer_late_ns` late.
struct WakeRun {
  RtSettingsObtained got;
  HistogramSnapshot lateness, timer_late;
  uint64_t margin_ns = 0, spin_ns = 0, cpu_ns = 0, cycles = 0;
};
WakeRun RunWake(WakeStrategy strategy, int cpu, int64_t timer_late_ns) {
  auto b = MakeBench(IdealSim({SimCellConfig{}}), 100'000);
  RtLoopConfig lc = Unprivileged();
  lc.wake.strategy = strategy;
  lc.rt.cpu = cpu;
  lc.timer_late_ns = timer_late_ns;
  lc.stop_after_periods = 5000;  // 0.5 s: several windows of 1000 cycles
  RtLoop loop(*b.engine, lc);
  EXPECT_TRUE(loop.Start().ok());
  loop.Wait();
  const TimingStats& st = b.engine->stats();
  return {loop.rt_settings(),
          st.lateness_ns.Snapshot(),
          st.timer_late_ns.Snapshot(),
          st.wake_margin_ns.Get(),
          st.spin_ns.Get(),
          st.rt_cpu_ns.Get(),
          st.cycles.Get()};
}

int LastCpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  sched_getaffinity(0, sizeof set, &set);
  if (CPU_COUNT(&set) < 2) return -1;
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) last = c;
  return last;
}

// Keeps the calling (test) thread off `cpu` while it lives, as the daemon
// keeps its threads off the loop's CPU.
class OffCpu {
 public:
  explicit OffCpu(int cpu) {
    sched_getaffinity(0, sizeof saved_, &saved_);
    cpu_set_t set = saved_;
    CPU_CLR(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
  }
  ~OffCpu() { sched_setaffinity(0, sizeof saved_, &saved_); }

 private:
  cpu_set_t saved_;
};

TEST(RtLoopWakeTest, AdaptiveDoesNotSpinOnACpuItShares) {
  // Unpinned: no CPU of its own.
  WakeRun r = RunWake(WakeStrategy::kAdaptive, -1, 0);
  EXPECT_EQ(r.got.wake, "sleep") << r.got.wake_reason;
  EXPECT_EQ(r.spin_ns, 0u);
  EXPECT_EQ(r.margin_ns, 0u);
  EXPECT_GT(r.timer_late.count, 4000u) << "it measures the timer anyway";
  const int cpu = LastCpu();
  if (cpu < 0) GTEST_SKIP() << "needs two CPUs";
  // Pinned, but this test's own thread may run there too.
  r = RunWake(WakeStrategy::kAdaptive, cpu, 0);
  EXPECT_EQ(r.got.wake, "sleep") << r.got.wake_reason;
  EXPECT_EQ(r.spin_ns, 0u);
  if (r.got.cpu < 0) GTEST_SKIP() << r.got.Summary();  // another RT process
  EXPECT_NE(r.got.wake_reason.find("is shared with thread"), std::string::npos)
      << r.got.wake_reason;
}

// A host whose timer wakes 40 us late: sleeping to the deadline is 40 us
// late every cycle; the adaptive loop measures it, widens its margin past
// it and wakes on time by spinning the rest.
TEST(RtLoopWakeTest, AdaptiveMarginCoversALateTimerOnItsOwnCpu) {
  constexpr int64_t kLate = 40'000;
  const WakeRun slept = RunWake(WakeStrategy::kSleep, -1, kLate);
  EXPECT_EQ(slept.got.wake, "sleep");
  EXPECT_GE(slept.lateness.Quantile(0.5), uint64_t{kLate});
  const int cpu = LastCpu();
  if (cpu < 0) GTEST_SKIP() << "needs two CPUs";
  OffCpu off(cpu);
  const WakeRun r = RunWake(WakeStrategy::kAdaptive, cpu, kLate);
  // Only when another process (outside this serial test) runs a real-time
  // thread that may use the CPU.
  if (r.got.cpu < 0) GTEST_SKIP() << r.got.Summary();
  ASSERT_EQ(r.got.wake, "adaptive") << r.got.wake_reason;
  EXPECT_GE(r.margin_ns, uint64_t{kLate}) << "the margin covers the timer";
  EXPECT_LE(r.margin_ns, 100'000u) << "and never passes the period";
  EXPECT_GE(r.timer_late.Quantile(0.5), uint64_t{kLate});
  // Margin: 10 us for a loaded machine; the timer alone is 40 us late.
  EXPECT_LT(r.lateness.Quantile(0.5), 10'000u);
  EXPECT_GT(r.spin_ns, 0u);
  EXPECT_GT(r.cpu_ns, r.spin_ns / 2) << "the CPU time is measured";
}

// A backend that stalls on chosen cycles, to force overruns.
class StallingDaq : public Daq {
 public:
  std::string Describe() const override { return "stalling"; }
  std::atomic<int> stall_every{0};
  int64_t stall_ns = 0;
  std::atomic<double> last_out{-1};

 protected:
  absl::Status DoConfigure(const DaqConfig&) override {
    return absl::OkStatus();
  }
  DaqError DoReadVolts(std::span<double> v) noexcept override {
    ++reads_;
    const int every = stall_every.load();
    if (every > 0 && reads_ % every == 0) {
      const int64_t until = MonotonicNowNs() + stall_ns;
      while (MonotonicNowNs() < until) {
      }
    }
    for (double& x : v) x = -0.65;
    return DaqError::kOk;
  }
  DaqError DoWriteVolts(std::span<double> v) noexcept override {
    last_out.store(v[0] * 400.0);
    return DaqError::kOk;
  }

 private:
  int64_t reads_ = 0;
};

// Every frame in the ring, in order.
std::vector<FrameHeader> DrainHeaders(ClampEngine& engine) {
  std::vector<FrameHeader> out;
  FrameHeader h;
  std::vector<double> v(engine.frames().values_per_frame());
  while (engine.frames().TryPop(h, v)) out.push_back(h);
  return out;
}

TEST(RtLoopTest, OverrunsAreCountedAndTheScheduleSkipsAhead) {
  StallingDaq daq;
  ASSERT_TRUE(daq.Configure(testing::ChannelsFor(1)).ok());
  daq.stall_every = 20;
  daq.stall_ns = 1'000'000;  // 1 ms stall at a 200 us period
  ClampEngineConfig ec;
  ec.period_ns = 200'000;
  ec.max_consecutive_overruns = 0;
  ec.ring_capacity_frames = 1 << 13;
  auto engine = *ClampEngine::Create(daq, ec);
  RtLoop loop(*engine, Unprivileged());
  ASSERT_TRUE(loop.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  loop.Stop();
  const auto& st = engine->stats();
  const uint64_t cycles = st.cycles.Get();
  EXPECT_GE(st.overruns.Get(), cycles / 20 / 2) << "each stall overruns";
  EXPECT_GE(st.skipped_cycles.Get(), 4 * st.overruns.Get() / 2)
      << "a 1 ms stall skips about 5 deadlines";
  // Skipping ahead: never more cycles than the deadlines that passed.
  EXPECT_LE(cycles, 400'000'000 / 200'000 + 50);
  EXPECT_EQ(engine->state(), EngineState::kRunning);
  // The frames keep the schedule's time: each skip moves the slot on by as
  // many as were skipped, and says so.
  const std::vector<FrameHeader> frames = DrainHeaders(*engine);
  ASSERT_EQ(frames.size(), cycles);
  for (std::size_t k = 1; k < frames.size(); ++k) {
    ASSERT_EQ(frames[k].cycle - frames[k - 1].cycle,
              1 + frames[k].slots_skipped - frames[k - 1].slots_skipped)
        << k;
  }
  EXPECT_EQ(frames.back().cycle + 1, cycles + frames.back().slots_skipped);
  // Only the last cycle's overrun can skip slots that no frame follows
  // (a 1 ms stall: about 5).
  EXPECT_LE(frames.back().slots_skipped, st.skipped_cycles.Get());
  EXPECT_LE(st.skipped_cycles.Get() - frames.back().slots_skipped, 10u);
}

// The nominal clock's way: every deadline gets its cycle, late ones back to
// back, so a run of N periods is N cycles. One stall is one overrun, not one
// for each cycle of the catch-up after it (which would also fault here).
TEST(RtLoopTest, CatchingUpRunsEveryPeriodAndCountsOneOverrunPerStall) {
  StallingDaq daq;
  ASSERT_TRUE(daq.Configure(testing::ChannelsFor(1)).ok());
  daq.stall_every = 20;
  daq.stall_ns = 1'000'000;  // 1 ms: 5 periods behind, caught up in ~15
  ClampEngineConfig ec;
  ec.period_ns = 200'000;
  ec.max_consecutive_overruns = 3;
  ec.ring_capacity_frames = 1 << 12;
  auto engine = *ClampEngine::Create(daq, ec);
  RtLoopConfig lc = Unprivileged();
  lc.catch_up = true;
  lc.stop_after_periods = 2000;
  RtLoop loop(*engine, lc);
  ASSERT_TRUE(loop.Start().ok());
  loop.Wait();
  const auto& st = engine->stats();
  EXPECT_EQ(st.cycles.Get(), 2000u);
  EXPECT_EQ(st.skipped_cycles.Get(), 0u);
  // 100 stalls; a busy machine adds some overruns of its own, but counting
  // the catch-up cycles would give about 500.
  EXPECT_GE(st.overruns.Get(), 50u);
  EXPECT_LE(st.overruns.Get(), 250u);
  EXPECT_EQ(engine->state(), EngineState::kRunning);
  const std::vector<FrameHeader> frames = DrainHeaders(*engine);
  ASSERT_EQ(frames.size(), 2000u);
  for (std::size_t k = 0; k < frames.size(); ++k) {
    ASSERT_EQ(frames[k].cycle, k);
    ASSERT_EQ(frames[k].slots_skipped, 0u);
  }
}

TEST(RtLoopTest, OverrunsInARowEnterFaultAndZeroOutputs) {
  StallingDaq daq;
  ASSERT_TRUE(daq.Configure(testing::ChannelsFor(1)).ok());
  daq.stall_every = 1;
  daq.stall_ns = 300'000;
  ClampEngineConfig ec;
  ec.period_ns = 100'000;
  ec.max_consecutive_overruns = 5;
  auto engine = *ClampEngine::Create(daq, ec);
  ModelSetSpec spec;
  ConductanceSpec g;
  g.name = "g";
  g.model = ConstantConductance::Params{20.0, 0.0};
  spec.conductances = {g};
  ASSERT_TRUE(engine->LoadModelSet(spec).ok());
  RtLoop loop(*engine, Unprivileged());
  ASSERT_TRUE(loop.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(engine->state(), EngineState::kFault);
  EXPECT_EQ(engine->fault_reason(), FaultReason::kOverruns);
  EXPECT_EQ(daq.last_out.load(), 0.0);
  loop.Stop();
}

// The control thread loads new model sets as fast as it can while the loop
// runs and a drain thread reads frames: no frame is lost or out of order,
// and generations only move forward.
TEST(RtLoopTest, MailboxSwapUnderLoadLosesNoFrame) {
  auto b = MakeBench(IdealSim({SimCellConfig{}}), 20'000, 20000, 1 << 16);
  RtLoop loop(*b.engine, Unprivileged());
  std::atomic<bool> stop{false};
  uint64_t frames = 0, last_cycle = 0;
  uint32_t last_gen = 0, last_skipped = 0;
  bool ordered = true, gen_monotonic = true;
  std::thread drain([&] {
    FrameHeader h;
    std::vector<double> v(b.engine->frames().values_per_frame());
    while (!stop.load() || b.engine->frames().SizeApprox() > 0) {
      if (!b.engine->frames().TryPop(h, v)) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      // Slots the loop skipped (overruns on a busy machine) are not losses.
      if (frames > 0 &&
          h.cycle != last_cycle + 1 + (h.slots_skipped - last_skipped))
        ordered = false;
      if (h.model_generation < last_gen) gen_monotonic = false;
      last_cycle = h.cycle;
      last_skipped = h.slots_skipped;
      last_gen = h.model_generation;
      ++frames;
    }
  });
  ASSERT_TRUE(loop.Start().ok());
  int loads = 0;
  // At least half a second and a dozen swaps (a loaded machine builds the
  // tables slowly), within 30 s.
  const int64_t start = MonotonicNowNs();
  while ((MonotonicNowNs() < start + 500'000'000 || loads <= 10) &&
         MonotonicNowNs() < start + 30'000'000'000) {
    ModelSetSpec spec;
    spec.conductances = {testing::Preset("na", "hh_na"),
                         testing::Preset("k", "hh_k")};
    std::get<HhChannel::Params>(spec.conductances[0].model).g_max_ns =
        100 + loads;
    ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
    b.engine->ReclaimRetired();
    ++loads;
  }
  loop.Stop();
  stop.store(true);
  drain.join();
  EXPECT_GT(loads, 10);
  EXPECT_TRUE(ordered);
  EXPECT_TRUE(gen_monotonic);
  EXPECT_EQ(b.engine->frames().dropped(), 0u);
  EXPECT_EQ(frames, b.engine->stats().cycles.Get());
  EXPECT_GT(b.engine->stats().model_swaps.Get(), 1u);
}

}  // namespace
}  // namespace dynclamp::rt
