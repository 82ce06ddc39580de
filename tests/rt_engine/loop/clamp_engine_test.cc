#include "rt_engine/loop/clamp_engine.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::rt {
namespace {

using testing::Bench;
using testing::IdealSim;
using testing::MakeBench;
using testing::Preset;

ConductanceSpec Constant(const std::string& name, double g, double e,
                         int cell = 0) {
  ConductanceSpec c;
  c.name = name;
  c.cell = cell;
  c.model = ConstantConductance::Params{g, e};
  return c;
}

TEST(ClampEngineTest, NoOutputBeforeAModelSetRuns) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  b.Run(10);
  for (double i : b.i) EXPECT_EQ(i, 0.0);
  EXPECT_EQ(b.rig->dac_output_pa(0), 0.0);
}

// Passive cell (10 nS at -65 mV) plus a clamp conductance: the cell settles
// where the currents balance, V = (gL EL + g E + I) / (gL + g).
TEST(ClampEngineTest, ConstantConductanceSettlesAtThePredictedPotential) {
  SimCellConfig cell;
  cell.bias_pa = 50;
  Bench b = MakeBench(IdealSim({cell}));
  ModelSetSpec spec;
  spec.conductances = {Constant("gaba", 5.0, -75.0)};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(8000);  // 200 ms; tau = 100 pF / 15 nS = 6.7 ms
  const double expected = (10 * -65.0 + 5 * -75.0 + 50) / 15.0;
  EXPECT_NEAR(b.v.back(), expected, 0.05);
  EXPECT_NEAR(b.i.back(), 5.0 * (-75.0 - b.v.back()), 0.1);
}

// Leak subtraction (Prinz Fig. 1c): a negative conductance cancels part of
// the leak, so the same current moves V further.
TEST(ClampEngineTest, NegativeConductanceSubtractsLeak) {
  SimCellConfig cell;
  cell.bias_pa = 50;
  Bench b = MakeBench(IdealSim({cell}));
  ModelSetSpec spec;
  spec.conductances = {Constant("leak_sub", -6.0, -65.0)};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(40000);  // tau = 100/4 = 25 ms; 1 s
  EXPECT_NEAR(b.v.back(), -65.0 + 50.0 / 4.0, 0.05);
}

// The HH squid channels, added through the clamp to a passive cell with the
// HH leak, make a Hodgkin-Huxley neuron: no repetitive firing at 2 uA/cm^2,
// steady firing at 10 and faster firing at 20 uA/cm^2 (100 pF cell: x100 pA).
TEST(ClampEngineTest, HhSquidPresetFiresWithTextbookThresholdAndRate) {
  auto rate_hz = [](double i_pa) {
    SimCellConfig cell;
    cell.leak_g_ns = 30.0;
    cell.leak_e_mv = -54.387;
    cell.v_init_mv = -65.0;
    cell.bias_pa = i_pa;
    Bench b = MakeBench(IdealSim({cell}), 10'000);
    ModelSetSpec spec;
    spec.conductances = {Preset("na", "hh_na"), Preset("k", "hh_k")};
    EXPECT_TRUE(b.engine->LoadModelSet(spec).ok());
    b.Run(100000);  // 1 s
    const auto spikes = b.SpikeTimesMs();
    int late = 0;  // spikes in the last 500 ms: steady firing only
    for (double t : spikes) late += t > 500;
    return late * 2.0;
  };
  EXPECT_EQ(rate_hz(200), 0.0);
  const double r10 = rate_hz(1000), r20 = rate_hz(2000);
  EXPECT_GT(r10, 50.0);
  EXPECT_LT(r10, 90.0);
  EXPECT_GT(r20, r10);
}

// Bettencourt's knock-out / knock-in on the simulated CA1 cell.
TEST(ClampEngineTest, Ca1NaRemovedAbolishesSpikesAndClampRestoresThem) {
  auto spikes = [](bool block_na, bool add_back) {
    SimCellConfig cell;
    cell.model = SimCellConfig::Model::kCa1;
    cell.bias_pa = 300;
    if (block_na) cell.blocked = {"na"};
    Bench b = MakeBench(IdealSim({cell}), 25'000);
    if (add_back) {
      ModelSetSpec spec;
      auto na = Preset("na", "ca1_na");
      std::get<HhChannel::Params>(na.model).integrator = Integrator::kRk4;
      spec.conductances = {na};
      EXPECT_TRUE(b.engine->LoadModelSet(spec).ok());
    }
    b.Run(20000);  // 500 ms
    return b.SpikeTimesMs().size();
  };
  const std::size_t control = spikes(false, false);
  EXPECT_GE(control, 3u);
  EXPECT_EQ(spikes(true, false), 0u);
  const std::size_t restored = spikes(true, true);
  EXPECT_GE(restored, 3u);
  EXPECT_LE(std::abs(double(restored) - double(control)), 0.1 * control + 1);
}

TEST(ClampEngineTest, InjectedReadErrorFaultsAndZeroesWithinOneCycle) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  ModelSetSpec spec;
  spec.conductances = {Constant("g", 20.0, 0.0)};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(10);
  ASSERT_GT(b.rig->dac_output_pa(0), 1000.0);
  b.rig->FailNextReads(1);
  b.Run(1);
  EXPECT_EQ(b.engine->state(), EngineState::kFault);
  EXPECT_EQ(b.engine->fault_reason(), FaultReason::kDaqRead);
  EXPECT_EQ(b.rig->dac_output_pa(0), 0.0);
  EXPECT_EQ(b.i.back(), 0.0);
  b.Run(50);
  EXPECT_EQ(b.engine->state(), EngineState::kFault) << "only non-RT clears it";
  EXPECT_EQ(b.rig->dac_output_pa(0), 0.0);
  EXPECT_EQ(b.v.size(), 61u) << "frames keep flowing in FAULT";
  b.engine->RequestClearFault();
  b.Run(2);
  EXPECT_EQ(b.engine->state(), EngineState::kRunning);
  EXPECT_GT(b.rig->dac_output_pa(0), 1000.0);
  EXPECT_EQ(b.engine->stats().faults.Get(), 1u);
}

TEST(ClampEngineTest, InjectedWriteErrorFaults) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  ModelSetSpec spec;
  spec.conductances = {Constant("g", 20.0, 0.0)};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(5);
  b.rig->FailNextWrites(1);
  b.Run(1);
  EXPECT_EQ(b.engine->fault_reason(), FaultReason::kDaqWrite);
  EXPECT_EQ(b.rig->dac_output_pa(0), 0.0);
  EXPECT_EQ(b.engine->stats().daq_write_errors.Get(), 1u);
}

TEST(ClampEngineTest, ConsecutiveOverrunsFault) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  ModelSetSpec spec;
  spec.conductances = {Constant("g", 20.0, 0.0)};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(1);
  for (int k = 0; k < 9; ++k) b.engine->NoteDeadline(true, 1);
  b.engine->NoteDeadline(false, 0);
  EXPECT_EQ(b.engine->state(), EngineState::kRunning) << "not in a row";
  for (int k = 0; k < 10; ++k) b.engine->NoteDeadline(true, 2);
  EXPECT_EQ(b.engine->state(), EngineState::kFault);
  EXPECT_EQ(b.engine->fault_reason(), FaultReason::kOverruns);
  EXPECT_EQ(b.rig->dac_output_pa(0), 0.0);
  EXPECT_EQ(b.engine->stats().overruns.Get(), 19u);
  EXPECT_EQ(b.engine->stats().skipped_cycles.Get(), 29u);
}

TEST(ClampEngineTest, OutputsAreClippedAndCounted) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}), 25'000, /*limit_pa=*/500);
  ModelSetSpec spec;
  spec.conductances = {Constant("g", 100.0, 0.0)};  // 6.5 nA at rest
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(3);
  EXPECT_EQ(b.i.back(), 500.0) << "the frame records what was applied";
  EXPECT_EQ(b.rig->dac_output_pa(0), 500.0);
  EXPECT_GE(b.engine->stats().clipped_outputs.Get(), 3u);
}

TEST(ClampEngineTest, LiveParameterTakesEffectAtTheNextCycle) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  ModelSetSpec spec;
  spec.conductances = {Constant("g", 1.0, 0.0)};
  ASSERT_TRUE(b.engine->LoadModelSet(spec).ok());
  b.Run(2);
  const double before = b.i.back();
  ASSERT_TRUE(b.engine->SetParam("g.g_ns", 3.0).ok());
  b.Run(1);
  EXPECT_NEAR(b.i.back(), 3.0 * before, std::fabs(before) * 0.01);
  EXPECT_EQ(b.engine->stats().param_updates_applied.Get(), 1u);
  EXPECT_EQ(b.engine->SetParam("g.g_ns", NAN).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ClampEngineTest, BadSpecLeavesTheRunningSetUntouched) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  ModelSetSpec good;
  good.conductances = {Constant("g", 1.0, 0.0)};
  auto gen = b.engine->LoadModelSet(good);
  ASSERT_TRUE(gen.ok());
  b.Run(2);
  ModelSetSpec bad = good;
  std::get<ConstantConductance::Params>(bad.conductances[0].model).e_rev_mv =
      900;
  auto s = b.engine->LoadModelSet(bad);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("conductances[0] (g).e_rev_mv"),
            absl::string_view::npos)
      << s.status();
  b.Run(2);
  EXPECT_EQ(b.engine->active_generation(), *gen);
  EXPECT_EQ(b.engine->loaded_generation(), *gen);
}

TEST(ClampEngineTest, FramesCarryModelSignalsWithTheirLayout) {
  Bench b = MakeBench(IdealSim({SimCellConfig{}}));
  ModelSetSpec spec;
  spec.conductances = {Preset("k", "hh_k")};
  auto gen = *b.engine->LoadModelSet(spec);
  b.engine->RunCycle(1, 1, 0);
  FrameHeader h;
  std::vector<double> values(b.engine->frames().values_per_frame());
  ASSERT_TRUE(b.engine->frames().TryPop(h, values));
  EXPECT_EQ(h.model_generation, gen);
  EXPECT_TRUE(h.flags & kFrameModelSwapped);
  auto layout = b.engine->LayoutFor(gen);
  ASSERT_TRUE(layout.ok());
  ASSERT_EQ(h.num_values, layout->values.size());
  EXPECT_EQ(layout->values[0].name, "cell0.v_mv");
  EXPECT_EQ(layout->values[4].name, "k.n");
  // n at rest, g = g_max n^4, i = g (E - V).
  EXPECT_NEAR(values[2], 3600 * std::pow(values[4], 4), 1e-9);
  EXPECT_NEAR(values[3], values[2] * (-77.0 - values[0]), 1e-9);
  EXPECT_NEAR(values[1], values[3], 1e-9);
}

}  // namespace
}  // namespace dynclamp::rt
