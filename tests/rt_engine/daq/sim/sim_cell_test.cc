#include "rt_engine/daq/sim/sim_cell.h"

#include <cmath>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

int CountSpikes(SimCell& cell, double ms, double i_pa, double dt = 0.025) {
  int spikes = 0;
  double prev = cell.v_mv();
  for (int k = 0; k < int(ms / dt); ++k) {
    cell.Advance(dt, 5, i_pa);
    if (prev < 0 && cell.v_mv() >= 0) ++spikes;
    prev = cell.v_mv();
  }
  return spikes;
}

TEST(SimCellTest, PassiveCellFollowsTheAnalyticCharge) {
  SimCellConfig cfg;  // 100 pF, 10 nS, -65 mV
  auto cell = SimCell::Create(cfg, "c");
  ASSERT_TRUE(cell.ok()) << cell.status();
  const double i = 100.0;  // pA
  const double tau = 100.0 / 10.0, v_inf = -65.0 + i / 10.0;
  for (int k = 1; k <= 400; ++k) {
    cell->Advance(0.05, 10, i);
    const double t = k * 0.05;
    ASSERT_NEAR(cell->v_mv(), v_inf + (-65.0 - v_inf) * std::exp(-t / tau),
                1e-9);
  }
}

TEST(SimCellTest, HhFiresRepetitivelyAboveRheobaseOnly) {
  SimCellConfig cfg;
  cfg.model = SimCellConfig::Model::kHh;
  auto quiet = *SimCell::Create(cfg, "c");
  EXPECT_LE(CountSpikes(quiet, 200, 200.0), 1)
      << "2 uA/cm^2: no repetitive firing";
  auto firing = *SimCell::Create(cfg, "c");
  const int n = CountSpikes(firing, 500, 1000.0);  // 10 uA/cm^2
  EXPECT_GE(n, 25);
  EXPECT_LE(n, 50);
}

TEST(SimCellTest, Ca1FiresAndTtxAbolishesSpikes) {
  SimCellConfig cfg;
  cfg.model = SimCellConfig::Model::kCa1;
  auto control = *SimCell::Create(cfg, "c");
  EXPECT_GE(CountSpikes(control, 300, 300.0), 3);
  cfg.blocked = {"na"};
  auto ttx = *SimCell::Create(cfg, "c");
  EXPECT_EQ(CountSpikes(ttx, 300, 300.0), 0);
  EXPECT_EQ(ttx.ChannelNames(), (std::vector<std::string>{"kdr", "ka"}));
}

TEST(SimCellTest, BadConfigIsNamed) {
  SimCellConfig cfg;
  cfg.model = SimCellConfig::Model::kHh;
  cfg.blocked = {"kdr"};
  auto s = SimCell::Create(cfg, "sim.cells[1]").status();
  EXPECT_NE(s.message().find("sim.cells[1].blocked"), absl::string_view::npos)
      << s;
  cfg = {};
  cfg.capacitance_pf = 0;
  EXPECT_FALSE(SimCell::Create(cfg, "c").ok());
}

}  // namespace
}  // namespace dynclamp::rt
