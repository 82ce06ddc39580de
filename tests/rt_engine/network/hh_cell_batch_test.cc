#include "rt_engine/network/hh_cell_batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "rt_engine/models/channel_presets.h"
#include "rt_engine/models/hh_channel.h"

namespace dynclamp::rt {
namespace {

constexpr double kDt = 0.025;

// A channel of the batch and the same channel stepped on its own by
// HhChannel::StepGates, the reference.
struct Reference {
  uint32_t cell;
  std::vector<HhChannel::GateRuntime> gates;
  std::vector<double> state;
  double g_max, e_rev;
};

class HhCellBatchTest : public ::testing::TestWithParam<HhCellBatch::Kernel> {
 protected:
  void Add(uint32_t cell, const char* preset, double scale = 1.0) {
    HhChannel::Params p = std::get<HhChannel::Params>(*MakePreset(preset));
    const auto tables = *HhChannel::BuildTables(p, kDt, preset, cache_);
    HhCellBatch::ChannelSpec spec;
    spec.path = preset;
    spec.cell = cell;
    Reference ref{cell,
                  {},
                  std::vector<double>(p.gates.size()),
                  p.g_max_ns * scale,
                  p.e_rev_mv};
    for (std::size_t g = 0; g < p.gates.size(); ++g) {
      spec.tables.push_back(tables[g].get());
      spec.powers.push_back(p.gates[g].power);
      ref.gates.push_back({tables[g].get(), p.gates[g].power});
    }
    spec.g_max_ns = ref.g_max;
    spec.e_rev_mv = ref.e_rev;
    specs_.push_back(spec);
    refs_.push_back(ref);
  }

  // The reference's G and GE of every cell, with gates as they are.
  void ReferenceSums(std::vector<double>& g, std::vector<double>& ge) {
    std::fill(g.begin(), g.end(), 0.0);
    std::fill(ge.begin(), ge.end(), 0.0);
    for (const Reference& r : refs_) {
      double open = 1;
      for (std::size_t k = 0; k < r.gates.size(); ++k)
        open *= IntPow(r.state[k], r.gates[k].power);
      g[r.cell] += r.g_max * open;
      ge[r.cell] += r.g_max * open * r.e_rev;
    }
  }

  RateTableCache cache_;
  std::vector<HhCellBatch::ChannelSpec> specs_;
  std::vector<Reference> refs_;
};

TEST_P(HhCellBatchTest, MatchesChannelsSteppedOneByOne) {
  // Cells with different channel sets: HH (3 gates, one block), CA1
  // (5 gates, two blocks), and channels in a different order.
  Add(0, "hh_na");
  Add(0, "hh_k");
  Add(1, "ca1_na");
  Add(1, "ca1_kdr");
  Add(1, "ca1_ka");
  Add(2, "hh_k", 0.5);
  Add(2, "hh_na", 2.0);
  Add(3, "hh_na");
  Add(3, "hh_k");
  // More than eight gates (11): the kernel built for any count.
  for (const char* preset :
       {"hh_na", "hh_k", "ca1_na", "ca1_kdr", "ca1_ka", "hh_na"})
    Add(4, preset, 0.5);
  absl::StatusOr<HhCellBatch> built = HhCellBatch::Build(specs_, GetParam());
  ASSERT_TRUE(built.ok()) << built.status();
  HhCellBatch& batch = *built;
  if (batch.kernel() != GetParam()) GTEST_SKIP() << "no AVX2 on this CPU";
  EXPECT_EQ(batch.num_cells(), 5u);
  EXPECT_EQ(batch.num_tables(), 4u);  // cells 0 and 3 share one

  std::vector<double> v = {-65, -70, -60, -65, -55};
  std::vector<double> g(5), ge(5), g_ref(5), ge_ref(5);
  batch.Init(v, {g, ge});
  for (Reference& r : refs_) HhChannel::InitGates(r.gates, r.state, v[r.cell]);
  for (int step = 0; step < 2000; ++step) {
    // V sweeps the physiological range and beyond the table's edges.
    for (int c = 0; c < 5; ++c)
      v[c] = -60 + 120 * std::sin(0.003 * step + c) - 20 * c;
    std::fill(g.begin(), g.end(), std::nan(""));  // every cell is written
    std::fill(ge.begin(), ge.end(), std::nan(""));
    batch.Step(v, {g, ge});
    for (Reference& r : refs_)
      HhChannel::StepGates(Integrator::kExpEuler, kDt, r.gates, r.state,
                           v[r.cell]);
    ReferenceSums(g_ref, ge_ref);
    for (int c = 0; c < 5; ++c) {
      ASSERT_NEAR(g[c], g_ref[c], 1e-9 * (1 + g_ref[c])) << "step " << step;
      ASSERT_NEAR(ge[c], ge_ref[c], 1e-9 * (1 + std::abs(ge_ref[c])));
    }
  }
  for (std::size_t k = 0; k < refs_.size(); ++k)
    for (std::size_t gate = 0; gate < refs_[k].state.size(); ++gate)
      EXPECT_NEAR(*batch.gate_value(k, gate), refs_[k].state[gate], 1e-12);
}

TEST_P(HhCellBatchTest, LiveChangesReachTheSumsAtOnce) {
  Add(5, "hh_na");
  Add(5, "hh_k");
  HhCellBatch batch = *HhCellBatch::Build(specs_, GetParam());
  std::vector<double> v(6, -30.0), g(6, 7.0), ge(6, 7.0);
  batch.Init(v, {g, ge});
  const double open_na = batch.OpenFraction(0);
  const double open_k = batch.OpenFraction(1);
  EXPECT_NEAR(g[5], refs_[0].g_max * open_na + refs_[1].g_max * open_k, 1e-9);
  batch.SetLive(0, 0.0, 50.0, {g, ge});  // Na off
  EXPECT_NEAR(g[5], refs_[1].g_max * open_k, 1e-9);
  EXPECT_NEAR(ge[5], refs_[1].g_max * open_k * refs_[1].e_rev, 1e-6);
  for (int c = 0; c < 5; ++c)
    EXPECT_EQ(g[c], 7.0) << "cells without channels are untouched";
}

// Constant conductances on model cells join the batch as channels without
// gates: open fraction 1, so G and GE are theirs exactly, also on a cell
// that has nothing else (a group with no gates at all).
TEST_P(HhCellBatchTest, GatelessChannelsAddTheirConductance) {
  Add(0, "hh_na");
  Add(0, "hh_k");
  HhCellBatch::ChannelSpec leak;
  leak.path = "leak";
  leak.g_max_ns = 3.0;
  leak.e_rev_mv = -54.0;
  for (uint32_t cell : {0u, 1u, 2u, 3u, 4u}) {
    leak.cell = cell;
    specs_.push_back(leak);
  }
  HhCellBatch batch = *HhCellBatch::Build(specs_, GetParam());
  if (batch.kernel() != GetParam()) GTEST_SKIP() << "no AVX2 on this CPU";
  EXPECT_EQ(batch.num_cells(), 5u);
  std::vector<double> v = {-65, -60, -55, -50, -45}, g(5), ge(5);
  std::vector<double> g_ref(5), ge_ref(5);
  batch.Init(v, {g, ge});
  for (Reference& r : refs_) HhChannel::InitGates(r.gates, r.state, v[r.cell]);
  for (int step = 0; step < 100; ++step) {
    v[0] = -65 + 80 * std::sin(0.05 * step);
    batch.Step(v, {g, ge});
    for (Reference& r : refs_)
      HhChannel::StepGates(Integrator::kExpEuler, kDt, r.gates, r.state,
                           v[r.cell]);
  }
  ReferenceSums(g_ref, ge_ref);
  EXPECT_NEAR(g[0], g_ref[0] + 3.0, 1e-9 * (1 + g_ref[0]));
  EXPECT_NEAR(ge[0], ge_ref[0] - 3.0 * 54.0, 1e-9 * (1 + std::abs(ge_ref[0])));
  for (int c = 1; c < 5; ++c) {
    EXPECT_DOUBLE_EQ(g[c], 3.0) << "cell " << c;
    EXPECT_DOUBLE_EQ(ge[c], -3.0 * 54.0) << "cell " << c;
  }
  EXPECT_EQ(batch.OpenFraction(2), 1.0);  // the first gateless channel
  batch.SetLive(3, 1.0, 0.0, {g, ge});    // cell 1's leak
  EXPECT_EQ(g[1], 1.0);
  EXPECT_EQ(ge[1], 0.0);
  EXPECT_EQ(g[2], 3.0);
}

INSTANTIATE_TEST_SUITE_P(Kernels, HhCellBatchTest,
                         ::testing::Values(HhCellBatch::Kernel::kScalar,
                                           HhCellBatch::Kernel::kAvx2),
                         [](const auto& info) {
                           return info.param == HhCellBatch::Kernel::kScalar
                                      ? std::string("Scalar")
                                      : std::string("Avx2");
                         });

TEST(HhCellBatchErrors, ChannelsOfOneCellMustShareTheGrid) {
  RateTableCache cache;
  auto channel = [&](const char* name, TableRange range) {
    HhChannel::Params p = std::get<HhChannel::Params>(*MakePreset("hh_k"));
    p.table = range;
    const auto tables = *HhChannel::BuildTables(p, kDt, name, cache);
    HhCellBatch::ChannelSpec spec;
    spec.path = name;
    spec.cell = 1;
    spec.tables = {tables[0].get()};
    spec.powers = {4};
    return spec;
  };
  TableRange coarse;
  coarse.dv_mv = 0.1;
  const absl::StatusOr<HhCellBatch> batch =
      HhCellBatch::Build({channel("conductances[0] (a)", {}),
                          channel("conductances[1] (b)", coarse)});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(batch.status().message().find("conductances[1] (b).table"),
            std::string::npos)
      << batch.status();
}

TEST(HhCellBatchErrors, GatesMustUseExponentialEuler) {
  RateTableCache cache;
  HhChannel::Params p = std::get<HhChannel::Params>(*MakePreset("hh_k"));
  p.integrator = Integrator::kRk4;
  const auto tables = *HhChannel::BuildTables(p, kDt, "k", cache);
  HhCellBatch::ChannelSpec spec;
  spec.path = "conductances[2] (k)";
  spec.tables = {tables[0].get()};
  spec.powers = {4};
  const absl::StatusOr<HhCellBatch> batch = HhCellBatch::Build({spec});
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("conductances[2] (k).integrator"),
            std::string::npos)
      << batch.status();
}

}  // namespace
}  // namespace dynclamp::rt
