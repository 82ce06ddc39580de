// The circuit parts of ModelSet: background statistics, event overflow,
// no allocation while stepping.
#include <cmath>
#include <cstdio>
#include <numeric>
#include <optional>

#include "gtest/gtest.h"
#include "rt_engine/model_set.h"

namespace dynclamp::rt {
namespace {

ModelSet::Config OneCell(double dt_ms = 0.05) {
  ModelSet::Config c;
  c.dt_ms = dt_ms;
  c.cell_names = {"cell0"};
  c.max_signals = 4096;
  c.spike_log_capacity = 1 << 16;
  return c;
}

int SignalIndex(const ModelSet& set, const std::string& name) {
  for (std::size_t k = 0; k < set.signals().size(); ++k)
    if (set.signals()[k].name == name) return static_cast<int>(k);
  return -1;
}

// OU background: mean, SD and correlation time match theory within 5 %.
TEST(CircuitTest, BackgroundConductanceHasItsTheoreticalStatistics) {
  ModelSetSpec spec;
  spec.backgrounds = {{.name = "bg",
                       .ge0_ns = 12,
                       .sigma_e_ns = 3,
                       .tau_e_ms = 2.7,
                       .gi0_ns = 57,
                       .sigma_i_ns = 6.6,
                       .tau_i_ms = 10.5,
                       .seed = 11}};
  auto set = *ModelSet::Prepare(spec, OneCell());
  const int ge = SignalIndex(*set, "bg.ge_ns"),
            gi = SignalIndex(*set, "bg.gi_ns");
  ASSERT_GE(ge, 0);
  const std::size_t n = 4'000'000;  // 200 s at 50 us
  std::vector<double> xe(n), xi(n), sig(set->signals().size());
  double v = -65, i = 0;
  for (std::size_t k = 0; k < n; ++k) {
    set->Step({&v, 1}, {&i, 1});
    set->WriteSignals(sig);
    xe[k] = sig[ge];
    xi[k] = sig[gi];
  }
  auto check = [](const std::vector<double>& x, double mean, double sd,
                  double tau, double dt) {
    const double m = std::accumulate(x.begin(), x.end(), 0.0) / x.size();
    double var = 0;
    for (double y : x) var += (y - m) * (y - m);
    var /= x.size();
    const std::size_t lag = static_cast<std::size_t>(std::round(tau / dt));
    double cov = 0;
    for (std::size_t k = 0; k + lag < x.size(); ++k)
      cov += (x[k] - m) * (x[k + lag] - m);
    cov /= (x.size() - lag);
    const double tau_est = -static_cast<double>(lag) * dt / std::log(cov / var);
    EXPECT_NEAR(m, mean, 0.05 * mean);
    EXPECT_NEAR(std::sqrt(var), sd, 0.05 * sd);
    EXPECT_NEAR(tau_est, tau, 0.05 * tau);
  };
  check(xe, 12, 3, 2.7, 0.05);
  check(xi, 57, 6.6, 10.5, 0.05);
}

// A conductance is never negative: each OU process is rectified at 0, and
// what is delivered has the rectified Gaussian's mean and SD,
//   mean = mu Phi(a) + sigma phi(a),
//   E[g^2] = (mu^2 + sigma^2) Phi(a) + mu sigma phi(a),   a = mu / sigma,
// here for the worst case (means at 0) and the example's values.
// Setting means and SDs to 0 (live) switches the background off.
TEST(CircuitTest, BackgroundIsRectifiedWithTheRectifiedGaussianStatistics) {
  struct Case {
    double mu_e, sigma_e, mu_i, sigma_i;
  };
  for (const Case& c : {Case{0, 6, 0, 16}, Case{12, 6, 78, 16}}) {
    ModelSetSpec spec;
    BackgroundSpec b;
    b.name = "bg";
    b.ge0_ns = c.mu_e;
    b.sigma_e_ns = c.sigma_e;
    b.tau_e_ms = 2.7;
    b.gi0_ns = c.mu_i;
    b.sigma_i_ns = c.sigma_i;
    b.tau_i_ms = 10.5;
    b.seed = 5;
    spec.backgrounds = {b};
    auto set = *ModelSet::Prepare(spec, OneCell());
    const int ge = SignalIndex(*set, "bg.ge_ns"),
              gi = SignalIndex(*set, "bg.gi_ns");
    const std::size_t n = 4'000'000;  // 200 s at 50 us
    std::vector<double> sig(set->signals().size());
    double v = -65, i = 0;
    double sum[2] = {0, 0}, sum2[2] = {0, 0}, low[2] = {1e9, 1e9};
    for (std::size_t k = 0; k < n; ++k) {
      set->Step({&v, 1}, {&i, 1});
      set->WriteSignals(sig);
      for (int j = 0; j < 2; ++j) {
        const double g = sig[j == 0 ? ge : gi];
        sum[j] += g;
        sum2[j] += g * g;
        low[j] = std::min(low[j], g);
      }
    }
    const double params[2][3] = {{c.mu_e, c.sigma_e, 2.7},
                                 {c.mu_i, c.sigma_i, 10.5}};
    for (int j = 0; j < 2; ++j) {
      const double mu = params[j][0], sigma = params[j][1], tau = params[j][2];
      const double a = mu / sigma;
      const double phi = std::exp(-0.5 * a * a) / std::sqrt(2 * M_PI);
      const double cdf = 0.5 * std::erfc(-a / std::sqrt(2.0));
      const double mean = mu * cdf + sigma * phi;
      const double sd = std::sqrt((mu * mu + sigma * sigma) * cdf +
                                  mu * sigma * phi - mean * mean);
      const double m = sum[j] / n;
      const double s = std::sqrt(sum2[j] / n - m * m);
      // Correlated samples: about 200 s / (2 tau) independent ones; 5 SE.
      const double independent = 200'000.0 / (2 * tau);
      std::printf(
          "%s: mu %.0f sigma %.0f nS -> delivered mean %.3f nS (rectified "
          "Gaussian %.3f), SD %.3f nS (%.3f), min %.3g nS\n",
          j == 0 ? "ge" : "gi", mu, sigma, m, mean, s, sd, low[j]);
      EXPECT_GE(low[j], 0.0) << "never negative";
      EXPECT_NEAR(m, mean, 5 * sd / std::sqrt(independent));
      EXPECT_NEAR(s, sd, 5 * sd / std::sqrt(2 * independent));
    }
    // Off: means and SDs to 0, live.
    for (const char* p :
         {"bg.ge0_ns", "bg.sigma_e_ns", "bg.gi0_ns", "bg.sigma_i_ns"}) {
      const auto u = set->ResolveParam(p, 0);
      ASSERT_TRUE(u.ok()) << u.status();
      ASSERT_TRUE(set->Apply(*u));
      EXPECT_EQ(set->Read(*u), 0.0) << p;
    }
    for (int k = 0; k < 20'000; ++k) set->Step({&v, 1}, {&i, 1});  // 1 s
    set->WriteSignals(sig);
    EXPECT_LT(sig[ge], 1e-12);
    EXPECT_LT(sig[gi], 1e-12);
    EXPECT_LT(std::abs(i), 1e-9) << "no current";
  }
}

TEST(CircuitTest, BackgroundIsReproducibleFromItsSeed) {
  auto trace = [](uint64_t seed) {
    ModelSetSpec spec;
    BackgroundSpec b;
    b.name = "bg";
    b.seed = seed;
    spec.backgrounds = {b};
    auto set = *ModelSet::Prepare(spec, OneCell());
    std::vector<double> out, sig(set->signals().size());
    double v = -65, i = 0;
    for (int k = 0; k < 1000; ++k) {
      set->Step({&v, 1}, {&i, 1});
      set->WriteSignals(sig);
      out.push_back(sig[0]);
    }
    return out;
  };
  EXPECT_EQ(trace(3), trace(3));
  EXPECT_NE(trace(3), trace(4));
}

// A queue too small for the traffic: the overflow is counted, nothing is
// allocated, nothing crashes, and the events that fit are delivered.
TEST(CircuitTest, FullEventQueueCountsDropsInsteadOfGrowing) {
  ModelSetSpec spec;
  spec.artificial_cells = {
      {.name = "gen",
       .params = {.kind = ArtificialKind::kNetStim,
                  .interval_ms = 0.2,
                  .number = 1000,
                  .start_ms = 0}},
      {.name = "cell", .params = {.kind = ArtificialKind::kIntFire1}}};
  for (int k = 0; k < 8; ++k) {
    spec.connections.push_back({.name = "c" + std::to_string(k),
                                .source = {SourceRef::Kind::kArtificial, 0},
                                .target = {TargetRef::Kind::kArtificial, 1},
                                .delay_ms = 5,
                                .weight = 0.1});
  }
  spec.max_events_in_flight = 16;
  auto set = *ModelSet::Prepare(spec, OneCell());
  double v = -65, i = 0;
  uint64_t delivered = 0, dropped = 0;
  for (int k = 0; k < 4200; ++k) {  // past the last delivery (205 ms)
    const StepReport r = set->Step({&v, 1}, {&i, 1});
    delivered += r.events_delivered;
    dropped += r.events_dropped;
    ASSERT_LE(set->events_pending(), 16u);
  }
  // 1000 spikes x 8 connections; 25 spikes are in flight per 5 ms delay.
  EXPECT_GT(dropped, 0u);
  EXPECT_GT(delivered, 0u);
  EXPECT_EQ(delivered + dropped, 8000u);
}

// Artificial cells fire at exact times, seen through the spike log.
// Equal synapses on one cell share a state only when none of their own
// signals is published; the cell's V is the same either way.
TEST(CircuitTest, SharedSynapseStatesLeaveTheCellUnchanged) {
  auto make = [](std::optional<std::vector<std::string>> published) {
    ModelSetSpec spec;
    ModelCellSpec m;
    m.name = "m";
    spec.model_cells = {m};
    for (const char* p : {"hh_na", "hh_k", "hh_leak"})
      spec.conductances.push_back(*PresetConductance(std::string("m_") + p, p,
                                                     1, Integrator::kExpEuler));
    spec.artificial_cells = {{.name = "drive",
                              .params = {.kind = ArtificialKind::kNetStim,
                                         .interval_ms = 2,
                                         .number = 1e9,
                                         .noise = 1,
                                         .seed = 7}}};
    const SynapseKind kinds[] = {SynapseKind::kExp, SynapseKind::kExp2,
                                 SynapseKind::kAlpha, SynapseKind::kGsyn,
                                 SynapseKind::kAmpa};
    for (int s = 0; s < 20; ++s) {
      EventSynapseSpec sy;
      sy.name = "syn" + std::to_string(s);
      sy.cell = 1;
      sy.params.kind = kinds[s % 5];
      sy.params.e_rev_mv = s % 2 ? 0 : -80;
      spec.synapses.push_back(sy);
      ConnectionSpec c;
      c.name = "c" + std::to_string(s);
      c.source = {SourceRef::Kind::kArtificial, 0};
      c.target = {TargetRef::Kind::kSynapse, s};
      c.weight = 0.5 + 0.1 * s;
      c.delay_ms = 1 + 0.37 * s;
      spec.connections.push_back(c);
    }
    spec.published_signals = std::move(published);
    return *ModelSet::Prepare(spec, OneCell(0.025));
  };
  auto pooled = make(std::vector<std::string>{"m.v_mv", "syn3.g_ns"});
  auto separate = make(std::nullopt);
  // 5 kinds x 2 reversals = 10 classes of 2 synapses; syn3 keeps its own.
  EXPECT_EQ(pooled->num_synapse_pools(), 11u);
  EXPECT_EQ(separate->num_synapse_pools(), 20u);
  const int v_pooled = SignalIndex(*pooled, "m.v_mv");
  const int v_separate = SignalIndex(*separate, "m.v_mv");
  const int g3_pooled = SignalIndex(*pooled, "syn3.g_ns");
  const int g3_separate = SignalIndex(*separate, "syn3.g_ns");
  std::vector<double> a(pooled->signals().size()),
      b(separate->signals().size());
  double v = -65, i = 0;
  double max_g3 = 0;
  for (int k = 0; k < 8000; ++k) {  // 200 ms
    pooled->Step({&v, 1}, {&i, 1});
    separate->Step({&v, 1}, {&i, 1});
    pooled->WriteSignals(a);
    separate->WriteSignals(b);
    ASSERT_NEAR(a[v_pooled], b[v_separate], 1e-6) << "step " << k;
    ASSERT_NEAR(a[g3_pooled], b[g3_separate], 1e-9) << "step " << k;
    max_g3 = std::max(max_g3, b[g3_separate]);
  }
  EXPECT_GT(max_g3, 0.1);  // the synapse was driven
}

TEST(CircuitTest, VecStimDrivesIntFire1AtExactTimes) {
  ModelSetSpec spec;
  ArtificialCellSpec vs, cell;
  vs.name = "vs";
  vs.params.kind = ArtificialKind::kVecStim;
  vs.params.spike_times_ms = {1.013, 2.0, 3.0};
  cell.name = "cell";
  cell.params.kind = ArtificialKind::kIntFire1;
  cell.params.tau_ms = 10;
  spec.artificial_cells = {vs, cell};
  ConnectionSpec c;
  c.name = "c";
  c.source = {SourceRef::Kind::kArtificial, 0};
  c.target = {TargetRef::Kind::kArtificial, 1};
  c.weight = 0.6;
  c.delay_ms = 1.0;
  spec.connections = {c};
  auto set = *ModelSet::Prepare(spec, OneCell(0.025));
  double v = -65, i = 0;
  for (int k = 0; k < 400; ++k) set->Step({&v, 1}, {&i, 1});
  std::vector<std::pair<std::string, double>> log;
  for (const auto& s : set->spike_log())
    log.push_back({set->source_name(s.source), s.t_ms});
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], (std::pair<std::string, double>{"vs", 1.013}));
  // Events reach the cell at 2.013 and 3.0 ms: 0.6, then
  // 0.6 e^{-0.987/10} + 0.6 = 1.14 > 1, so it fires at exactly 3.0 ms
  // (logged after the generator's own spike at that time).
  EXPECT_EQ(log[2], (std::pair<std::string, double>{"vs", 3.0}));
  EXPECT_EQ(log[3].first, "cell");
  EXPECT_DOUBLE_EQ(log[3].second, 3.0);
}

TEST(CircuitTest, GapJunctionCurrentsAreEqualAndOpposite) {
  ModelSetSpec spec;
  spec.model_cells = {{.name = "m", .v_init_mv = -50}};
  spec.gap_junctions = {{.name = "gap", .cell_a = 0, .cell_b = 1, .g_ns = 5}};
  auto set = *ModelSet::Prepare(spec, OneCell());
  double v = -70, i = 0;
  set->Step({&v, 1}, {&i, 1});
  EXPECT_DOUBLE_EQ(i, 5 * (-50 - -70)) << "into the real cell";
  // The model cell (100 pF, nothing else) moves towards -70 by backward
  // Euler: (C/dt V + g Vb) / (C/dt + g).
  const double c_dt = 100 / 0.05;
  EXPECT_NEAR(set->cell_v_mv(1), (c_dt * -50 + 5 * -70) / (c_dt + 5), 1e-12);
}

// A constant conductance on a model cell is stepped with the cell's
// channels (a channel without gates): backward Euler as before, its signals
// published, a live change felt at the next step.
TEST(CircuitTest, ConstantConductanceOnAModelCellIsExactPublishedAndLive) {
  ModelSetSpec spec;
  spec.model_cells = {{.name = "m", .v_init_mv = -70}};
  spec.conductances = {{.name = "leak",
                        .cell = 1,
                        .model = ConstantConductance::Params{5, -50}}};
  auto set = *ModelSet::Prepare(spec, OneCell());
  const int g_sig = SignalIndex(*set, "leak.g_ns"),
            i_sig = SignalIndex(*set, "leak.i_pa");
  ASSERT_GE(i_sig, 0);
  std::vector<double> sig(set->signals().size());
  double v = -65, i = 0;
  set->Step({&v, 1}, {&i, 1});
  set->WriteSignals(sig);
  EXPECT_EQ(sig[g_sig], 5.0);
  EXPECT_DOUBLE_EQ(sig[i_sig], 5 * (-50 - -70.0));
  const double c_dt = 100 / 0.05;
  EXPECT_NEAR(set->cell_v_mv(1), (c_dt * -70 + 5 * -50) / (c_dt + 5), 1e-12);
  ASSERT_TRUE(set->Apply(*set->ResolveParam("leak.g_ns", 0)));
  const double held = set->cell_v_mv(1);
  set->Step({&v, 1}, {&i, 1});
  set->WriteSignals(sig);
  EXPECT_EQ(sig[g_sig], 0.0);
  EXPECT_EQ(sig[i_sig], 0.0);
  EXPECT_EQ(set->cell_v_mv(1), held) << "no conductance: V stays";
}

std::vector<double> ModelCellSpikes(const ModelSetSpec& spec, double ms) {
  auto set = *ModelSet::Prepare(spec, OneCell(0.025));
  double v = -65, i = 0;
  for (int k = 0; k < static_cast<int>(ms / 0.025); ++k)
    set->Step({&v, 1}, {&i, 1});
  std::vector<double> t;
  for (const auto& s : set->spike_log()) t.push_back(s.t_ms);
  return t;
}

// Izhikevich regular spiking: silent at rest, tonic firing with current;
// the reset is the spike (a source for connections).
TEST(CircuitTest, IzhikevichRegularSpikingFiresWithCurrent) {
  ModelSetSpec spec;
  ModelCellSpec m;
  m.name = "rs";
  m.dynamics = IzhikevichParams{};
  m.v_init_mv = -60;
  spec.model_cells = {m};
  EXPECT_TRUE(ModelCellSpikes(spec, 500).empty()) << "no drive, no spikes";
  spec.model_cells[0].bias_pa = 100;
  const auto t = ModelCellSpikes(spec, 1000);
  EXPECT_GT(t.size(), 3u);
  spec.model_cells[0].bias_pa = 300;
  EXPECT_GT(ModelCellSpikes(spec, 1000).size(), t.size())
      << "more current, more spikes";
}

// AdEx with spike-triggered adaptation: intervals lengthen during a step.
TEST(CircuitTest, AdexAdaptsItsFiring) {
  ModelSetSpec spec;
  ModelCellSpec m;
  m.name = "adex";
  AdexParams a;
  a.b_pa = 80;
  a.tau_w_ms = 150;
  m.dynamics = a;
  m.v_init_mv = -70;
  m.bias_pa = 500;
  spec.model_cells = {m};
  const auto t = ModelCellSpikes(spec, 500);
  ASSERT_GT(t.size(), 4u);
  EXPECT_GT(t[t.size() - 1] - t[t.size() - 2], 1.5 * (t[1] - t[0]))
      << "the last interval is longer than the first";
}

}  // namespace
}  // namespace dynclamp::rt
