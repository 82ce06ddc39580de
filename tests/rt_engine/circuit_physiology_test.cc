// Physiology of circuits on the simulated rig: the clamp joins simulated
// "real" cells and model cells (Prinz 2004, Figs. 3-5).
#include <cmath>
#include <numeric>

#include "gtest/gtest.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::rt {
namespace {

using testing::Bench;
using testing::IdealSim;
using testing::MakeBench;
using testing::Preset;
using testing::SpikeTimes;

// Phase of each B spike within A's cycle: mean direction and concentration
// (R = 1: locked; R near 0: drifting).
std::pair<double, double> Phase(const std::vector<double>& a,
                                const std::vector<double>& b, double after_ms) {
  double c = 0, s = 0;
  int n = 0;
  for (double x : b) {
    if (x < after_ms) continue;
    for (std::size_t i = 0; i + 1 < a.size(); ++i) {
      if (a[i] <= x && x < a[i + 1]) {
        const double ph = (x - a[i]) / (a[i + 1] - a[i]);
        c += std::cos(2 * M_PI * ph);
        s += std::sin(2 * M_PI * ph);
        ++n;
      }
    }
  }
  if (n == 0) return {-1, 0};
  double mu = std::atan2(s, c) / (2 * M_PI);
  if (mu < 0) mu += 1;
  return {mu, std::hypot(c, s) / n};
}

struct TwoCells {
  std::vector<double> v0, v1;
};

TwoCells RunTwo(Bench& b, int64_t cycles) {
  TwoCells out;
  const int64_t period = b.engine->config().period_ns;
  FrameHeader h;
  std::vector<double> values(b.engine->frames().values_per_frame());
  for (int64_t k = 0; k < cycles; ++k) {
    b.t_ns += period;
    b.engine->RunCycle(b.t_ns, b.t_ns, period);
    while (b.engine->frames().TryPop(h, values)) {
      out.v0.push_back(values[0]);
      out.v1.push_back(values[1]);
    }
  }
  return out;
}

// Prinz Fig. 3: two cells joined by reciprocal graded inhibition through the
// dynamic clamp fire in antiphase; uncoupled they drift past each other.
TEST(CircuitPhysiologyTest, ReciprocalGradedInhibitionGivesAntiphase) {
  auto run = [](double g_ns) {
    SimCellConfig a, b;
    a.model = b.model = SimCellConfig::Model::kHh;
    a.bias_pa = 800;
    b.bias_pa = 820;
    Bench bench = MakeBench(IdealSim({a, b}), 50'000, 1e6, 1 << 16);
    ModelSetSpec spec;
    for (auto [name, pre, post] :
         {std::tuple{"ab", 0, 1}, std::tuple{"ba", 1, 0}}) {
      GradedSynapseSpec g;
      g.name = name;
      g.pre = pre;
      g.post = post;
      g.g_max_ns = g_ns;
      g.e_rev_mv = -80;
      g.v_half_mv = -50;
      g.slope_mv = 2;
      g.tau_ms = 10;
      spec.graded_synapses.push_back(g);
    }
    EXPECT_TRUE(bench.engine->LoadModelSet(spec).ok());
    const TwoCells v = RunTwo(bench, 60'000);  // 3 s
    return Phase(SpikeTimes(v.v0, 0.05), SpikeTimes(v.v1, 0.05), 1000);
  };
  const auto [mu_free, r_free] = run(0.0);
  const auto [mu, r] = run(8.0);
  EXPECT_LT(r_free, 0.5) << "uncoupled: phases drift";
  EXPECT_GT(r, 0.9) << "coupled: locked";
  EXPECT_NEAR(mu, 0.5, 0.1) << "in antiphase";
}

// A hybrid circuit: a simulated real cell and a model HH neuron exchange
// spikes through event synapses (threshold detection on the real V,
// ExpSyn onto the model cell; the model cell's spikes inhibit the real one).
TEST(CircuitPhysiologyTest, HybridRealAndModelCellsExchangeSpikes) {
  auto run = [](bool connect) {
    SimCellConfig real;
    real.model = SimCellConfig::Model::kHh;
    real.bias_pa = 1000;
    Bench bench = MakeBench(IdealSim({real}), 25'000, 1e6, 1 << 16);
    ModelSetSpec spec;
    ModelCellSpec m;
    m.name = "model";
    spec.model_cells = {m};
    for (const char* p : {"hh_na", "hh_k", "hh_leak"}) {
      auto c = Preset(std::string("m_") + p, p, /*cell=*/1);
      spec.conductances.push_back(c);
    }
    EventSynapseSpec exc, inh;
    exc.name = "exc";
    exc.cell = 1;
    exc.params.kind = SynapseKind::kExp;
    exc.params.tau_ms = 2;
    exc.params.e_rev_mv = 0;
    inh.name = "inh";
    inh.cell = 0;
    inh.params.kind = SynapseKind::kExp;
    inh.params.tau_ms = 10;
    inh.params.e_rev_mv = -80;
    spec.synapses = {exc, inh};
    if (connect) {
      ConnectionSpec up, down;
      up.name = "real_to_model";
      up.source = {SourceRef::Kind::kCell, 0};
      up.target = {TargetRef::Kind::kSynapse, 0};
      up.weight = 100;
      up.delay_ms = 2;
      down.name = "model_to_real";
      down.source = {SourceRef::Kind::kCell, 1};
      down.target = {TargetRef::Kind::kSynapse, 1};
      down.weight = 200;
      down.delay_ms = 2;
      spec.connections = {up, down};
    }
    EXPECT_TRUE(bench.engine->LoadModelSet(spec).ok());
    const int64_t cycles = 40'000;  // 1 s
    bench.Run(cycles);
    // The model cell's V is a signal: find it in the layout.
    return std::make_pair(SpikeTimes(bench.v, 0.025).size(),
                          bench.engine->stats().spikes.Get());
  };
  const auto [real_free, spikes_free] = run(false);
  const auto [real_coupled, spikes_coupled] = run(true);
  EXPECT_EQ(spikes_free, 0u) << "no connection, no detector, no spikes";
  EXPECT_GT(real_free, 40u);
  // Every real spike is detected and (one synaptic delay later) drives a
  // model spike, which is detected in turn: the event count doubles.
  EXPECT_GE(spikes_coupled, 2 * real_coupled - 2);
  EXPECT_LT(real_coupled, real_free)
      << "the model cell's inhibition slows the real one";
}

// Prinz Fig. 5c: in-vivo-like background conductance lowers the slope of the
// firing-rate-versus-current curve (divisive gain change) of a cortical-type
// (class I) cell, here the simulated CA1 cell. The background is balanced:
// no mean drive at rest, only conductance and fluctuations.
TEST(CircuitPhysiologyTest, BackgroundLowersTheSlopeOfTheFiCurve) {
  auto rate = [](double i_pa, bool background) {
    SimCellConfig cell;
    cell.model = SimCellConfig::Model::kCa1;
    cell.bias_pa = i_pa;
    Bench bench = MakeBench(IdealSim({cell}), 50'000, 1e6, 1 << 16);
    ModelSetSpec spec;
    if (background) {
      // Balanced at rest: ge0 (0 - (-65)) = gi0 (-65 - (-75)), so it adds
      // conductance and fluctuations but no mean drive.
      spec.backgrounds = {{.name = "bg",
                           .ge0_ns = 12,
                           .sigma_e_ns = 6,
                           .gi0_ns = 78,
                           .sigma_i_ns = 16,
                           .seed = 7}};
    }
    EXPECT_TRUE(bench.engine->LoadModelSet(spec).ok());
    bench.Run(40'000);  // 2 s
    std::size_t n = 0;
    for (double t : SpikeTimes(bench.v, 0.05)) n += t > 500;
    return n / 1.5;
  };
  auto slope = [&](bool bg, double lo, double hi) {
    return (rate(hi, bg) - rate(lo, bg)) / (hi - lo);
  };
  // Over the range where each fires steadily (the CA1 cell goes into
  // depolarization block above ~1.3 nA without background, ~1.8 nA with).
  const double s_free = slope(false, 250, 1000);
  const double s_bg = slope(true, 500, 1500);
  EXPECT_GT(s_free, 0);
  EXPECT_GT(s_bg, 0);
  EXPECT_LT(s_bg, 0.8 * s_free)
      << "free " << s_free << " Hz/pA, background " << s_bg << " Hz/pA";
}

}  // namespace
}  // namespace dynclamp::rt
