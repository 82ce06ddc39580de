#include "fidelity/replay.h"

#include <gtest/gtest.h>

#include "tests/rt_engine/test_rig.h"

namespace dynclamp::fidelity {
namespace {

// A passive simulated cell made an HH neuron by the clamp (hh_na + hh_k):
// the conductances' fidelity depends entirely on the clamp's timing.
FidelityInput HhKnockIn(double worst_step_us, double latency_us) {
  FidelityInput in;
  rt::SimCellConfig cell;
  cell.model = rt::SimCellConfig::Model::kPassive;
  in.cells = rt::testing::IdealSim({cell});
  in.daq = rt::testing::ChannelsFor(1);
  for (const char* p : {"hh_na", "hh_k"})
    in.spec.conductances.push_back(*rt::PresetConductance(p, p, 0));
  in.period_ns = 25'000;
  in.worst_step_us = worst_step_us;
  in.worst_latency_us = latency_us;
  in.duration_s = 0.3;
  return in;
}

TEST(FidelityTest, IdealTimingReplaysExactly) {
  const auto r = EstimateFidelity(HhKnockIn(25, 0));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GE(r->spikes_ideal, 3);  // the drive makes it fire
  EXPECT_EQ(r->spikes_measured, r->spikes_ideal);
  EXPECT_LT(r->rms_error_mv, 1e-9);
  EXPECT_TRUE(r->warning.empty()) << r->warning;
}

TEST(FidelityTest, LongStepsAndLatencyAreReportedAsDistortion) {
  const auto small = EstimateFidelity(HhKnockIn(30, 5));
  const auto large = EstimateFidelity(HhKnockIn(250, 100));
  ASSERT_TRUE(small.ok() && large.ok());
  EXPECT_GT(large->rms_error_mv, small->rms_error_mv);
  EXPECT_GT(large->rms_error_mv, kFidelityRmsMv);
  EXPECT_NE(large->warning.find("distorted"), std::string::npos);
  EXPECT_NE(large->warning.find("worst step 250.0 us"), std::string::npos)
      << large->warning;
}

}  // namespace
}  // namespace dynclamp::fidelity
