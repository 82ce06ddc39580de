#include "rt_engine/daq/sim/sim_rig.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::rt {
namespace {

using testing::ChannelsFor;

std::unique_ptr<SimRig> Configured(SimRigConfig cfg,
                                   int64_t period_ns = 50'000) {
  const std::size_t n = cfg.cells.size();
  auto rig = std::make_unique<SimRig>(std::move(cfg));
  EXPECT_TRUE(rig->Configure(ChannelsFor(n)).ok());
  EXPECT_TRUE(rig->Prepare(period_ns).ok());
  return rig;
}

TEST(SimRigTest, AdcQuantizesToItsLsb) {
  SimRigConfig cfg;
  cfg.cells = {SimCellConfig{}};
  cfg.adc_bits = 8;  // 20 V / 256 = 78 mV per LSB at the ADC = 7.8 mV of Vm
  cfg.adc_range_v = 10;
  auto rig = Configured(cfg);
  rig->BeginCycle(0);
  double v;
  ASSERT_EQ(rig->ReadInputs({&v, 1}), DaqError::kOk);
  const double lsb_mv = 20.0 / 256.0 * 100.0;
  EXPECT_NEAR(std::remainder(v + 1000.0, lsb_mv), 0.0, 1e-9);
  EXPECT_NEAR(v, -65.0, lsb_mv / 2 + 1e-9);
}

TEST(SimRigTest, NoiseIsSeededAndReproducible) {
  SimRigConfig cfg = testing::IdealSim({SimCellConfig{}});
  cfg.noise_sd_mv = 0.5;
  cfg.seed = 42;
  auto a = Configured(cfg), b = Configured(cfg);
  cfg.seed = 43;
  auto c = Configured(cfg);
  double sum_sq = 0;
  bool differs = false;
  for (int k = 0; k < 2000; ++k) {
    double va, vb, vc;
    for (auto* r : {a.get(), b.get(), c.get()}) r->BeginCycle(0);
    a->ReadInputs({&va, 1});
    b->ReadInputs({&vb, 1});
    c->ReadInputs({&vc, 1});
    ASSERT_EQ(va, vb);
    differs |= va != vc;
    sum_sq += (va + 65.0) * (va + 65.0);
  }
  EXPECT_TRUE(differs);
  EXPECT_NEAR(std::sqrt(sum_sq / 2000), 0.5, 0.05);
}

TEST(SimRigTest, OutputReachesTheCellAfterTheInjectedLatency) {
  SimRigConfig cfg = testing::IdealSim({SimCellConfig{}});
  cfg.latency_us = 120;  // 2.4 periods of 50 us
  auto rig = Configured(cfg);
  double i = 100.0;
  rig->BeginCycle(0);  // world t = 0.05 ms
  rig->WriteOutputs({&i, 1});
  EXPECT_DOUBLE_EQ(rig->dac_output_pa(0), 100.0);
  double zero = 0;
  std::vector<double> applied;
  for (int k = 0; k < 5; ++k) {
    rig->BeginCycle(0);
    applied.push_back(rig->applied_current_pa(0));
    rig->WriteOutputs({&zero, 1});
  }
  // Written at 0.05 ms, effective from 0.17 ms: seen at the 0.20 ms sample.
  EXPECT_EQ(applied, (std::vector<double>{0, 0, 100, 0, 0}));
}

TEST(SimRigTest, JitterLengthensStepsReproducibly) {
  SimRigConfig cfg = testing::IdealSim({SimCellConfig{}});
  cfg.jitter_us = 30;
  auto a = Configured(cfg, 25'000), b = Configured(cfg, 25'000);
  double last = 0, max_step = 0, min_step = 1e9;
  for (int k = 0; k < 1000; ++k) {
    a->BeginCycle(0);
    b->BeginCycle(0);
    const double step = a->world_time_ms() - last;
    last = a->world_time_ms();
    max_step = std::max(max_step, step);
    min_step = std::min(min_step, step);
    ASSERT_EQ(a->world_time_ms(), b->world_time_ms());
    // What the clamp's integrators are told: the step the world took.
    ASSERT_NEAR(a->SampleIntervalMs(25'000), step, 1e-12);
  }
  EXPECT_GE(min_step, 0.025 - 1e-12);
  EXPECT_LE(max_step, 0.055 + 1e-12);
  EXPECT_GT(max_step, 0.050);
}

TEST(SimRigTest, WallClockAdvancesByMeasuredTime) {
  SimRigConfig cfg = testing::IdealSim({SimCellConfig{}});
  cfg.clock = SimRigConfig::Clock::kWallClock;
  auto rig = Configured(cfg);
  rig->BeginCycle(1'000'000);
  const double t0 = rig->world_time_ms();
  rig->BeginCycle(1'000'000 + 730'000);
  EXPECT_NEAR(rig->world_time_ms() - t0, 0.73, 1e-12);
}

TEST(SimRigTest, CellCountMustMatchChannels) {
  SimRigConfig cfg;
  cfg.cells = {SimCellConfig{}};
  SimRig rig(cfg);
  auto s = rig.Configure(ChannelsFor(2));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  cfg.cells = {SimCellConfig{}, SimCellConfig{}};
  cfg.substep_us = 10;
  SimRig rig2(cfg);
  EXPECT_NE(rig2.Configure(ChannelsFor(2)).message().find("substep_us"),
            absl::string_view::npos);
}

TEST(SimRigTest, InjectedReadFailure) {
  auto rig = Configured(testing::IdealSim({SimCellConfig{}}));
  rig->FailNextReads(1);
  double v;
  EXPECT_EQ(rig->ReadInputs({&v, 1}), DaqError::kReadFailed);
  EXPECT_EQ(rig->ReadInputs({&v, 1}), DaqError::kOk);
}

}  // namespace
}  // namespace dynclamp::rt
