#include "rt_engine/network/synapse_pools.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace dynclamp::rt {
namespace {

constexpr double kDt = 0.025;

EventSynapseParams Params(SynapseKind kind) {
  EventSynapseParams p;
  p.kind = kind;
  p.e_rev_mv = kind == SynapseKind::kAlpha ? -80 : 0;
  p.tau_ms = 3;
  p.tau1_ms = 0.5;
  p.tau2_ms = 4;
  return p;
}

// One step of each kind as its own equations say it (event_synapses.h),
// written out per kind: the reference for the shared linear step.
struct Direct {
  double g, a, b;
};
Direct DirectStep(const EventSynapseParams& p, const EventSynapseCoeffs& c,
                  const EventSynapseState& s) {
  switch (p.kind) {
    case SynapseKind::kExp:
      return {s.a, s.a * c.d1, 0};
    case SynapseKind::kAlpha:
      return {s.b, s.a * c.d1, (s.b + s.a * kDt / p.tau_ms) * c.d1};
    case SynapseKind::kExp2:
    case SynapseKind::kGsyn:
      return {s.b - s.a, s.a * c.d1, s.b * c.d2};
    case SynapseKind::kAmpa: {
      const double target = s.synon * c.rinf;
      return {s.a + s.b, target + (s.a - target) * c.ron_decay,
              s.b * c.roff_decay};
    }
  }
  return {};
}

// Pools of every kind on three cells, with random states: the pools' sums
// and next states match each kind's own step, with the vector kernel and
// with the scalar one.
TEST(SynapsePoolsTest, EveryKindStepsAsItsOwnEquationsSay) {
  const SynapseKind kinds[] = {SynapseKind::kExp, SynapseKind::kExp2,
                               SynapseKind::kAlpha, SynapseKind::kGsyn,
                               SynapseKind::kAmpa};
  std::vector<SynapsePools::Pool> specs;
  std::vector<EventSynapseParams> params;
  std::vector<EventSynapseCoeffs> coeffs;
  for (uint32_t cell = 0; cell < 3; ++cell) {
    for (int copy = 0; copy < 3; ++copy) {  // vector body and tail
      for (SynapseKind kind : kinds) {
        params.push_back(Params(kind));
        coeffs.push_back(PrepareEventSynapse(params.back(), kDt));
        specs.push_back({cell, StepOf(params.back(), coeffs.back()),
                         params.back().e_rev_mv});
      }
    }
  }
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(0.0, 5.0);
  std::vector<EventSynapseState> states;
  for (std::size_t k = 0; k < specs.size(); ++k)
    states.push_back(
        {u(gen), u(gen), params[k].kind == SynapseKind::kAmpa ? u(gen) : 0.0});
  for (bool vectorize : {true, false}) {
    SCOPED_TRACE(vectorize ? "vector kernel" : "scalar kernel");
    SynapsePools pools(specs, vectorize);
    for (uint32_t k = 0; k < specs.size(); ++k) {
      EventSynapseState s = states[k];
      if (params[k].kind != SynapseKind::kExp &&
          params[k].kind != SynapseKind::kAmpa)
        s.synon = 0;
      if (params[k].kind == SynapseKind::kExp) s.b = s.synon = 0;
      states[k] = s;
      pools.SetState(k, s);
    }
    std::vector<double> g(3, 0.0), ge(3, 0.0), g_ref(3, 0.0), ge_ref(3, 0.0);
    for (uint32_t k = 0; k < specs.size(); ++k) {
      const Direct d = DirectStep(params[k], coeffs[k], states[k]);
      EXPECT_NEAR(pools.Conductance(k), d.g, 1e-12) << "pool " << k;
      g_ref[specs[k].cell] += d.g;
      ge_ref[specs[k].cell] += d.g * specs[k].e_rev_mv;
    }
    pools.AddAndStep(g, ge);
    for (int c = 0; c < 3; ++c) {
      EXPECT_NEAR(g[c], g_ref[c], 1e-12 * (1 + g_ref[c])) << "cell " << c;
      EXPECT_NEAR(ge[c], ge_ref[c], 1e-12 * (1 + std::abs(ge_ref[c])));
    }
    for (uint32_t k = 0; k < specs.size(); ++k) {
      const Direct d = DirectStep(params[k], coeffs[k], states[k]);
      const EventSynapseState next = pools.State(k);
      EXPECT_NEAR(next.a, d.a, 1e-12) << "pool " << k;
      EXPECT_NEAR(next.b, d.b, 1e-12) << "pool " << k;
      EXPECT_EQ(next.synon, states[k].synon) << "events change synon only";
    }
  }
}

// ExpSyn pools of one decay on one cell share a lane whatever their E; a
// pool that is alone, another decay or another cell gets its own. Events
// (State, add, SetState) on shared pools reach the cell with each pool's E,
// whether the cells with lanes are contiguous or not.
TEST(SynapsePoolsTest, SingleExponentialsOfOneDecayShareALanePerCell) {
  auto exp_pool = [](uint32_t cell, double tau, double e, bool alone) {
    EventSynapseParams p = Params(SynapseKind::kExp);
    p.tau_ms = tau;
    return SynapsePools::Pool{cell, StepOf(p, PrepareEventSynapse(p, kDt)), e,
                              alone};
  };
  for (const uint32_t other_cell : {1u, 2u}) {  // contiguous, then not
    SCOPED_TRACE(testing::Message() << "other cell " << other_cell);
    const std::vector<SynapsePools::Pool> specs = {
        exp_pool(0, 2, 0, false),           // 0: lane A
        exp_pool(0, 2, -80, false),         // 1: lane A
        exp_pool(0, 3, 0, false),           // 2: lane B (another decay)
        exp_pool(0, 2, 0, true),            // 3: lane C (alone)
        exp_pool(other_cell, 2, 0, false),  // 4: lane D (another cell)
    };
    SynapsePools pools(specs);
    EXPECT_EQ(pools.num_lanes(), 4u);
    EXPECT_EQ(pools.LaneOf(0), pools.LaneOf(1));
    EXPECT_NE(pools.LaneOf(0), pools.LaneOf(2));
    EXPECT_NE(pools.LaneOf(0), pools.LaneOf(3));
    EXPECT_NE(pools.LaneOf(0), pools.LaneOf(4));
    const double jump[] = {1.5, 2.0, 0.5, 0.25, 3.0};
    for (uint32_t k = 0; k < specs.size(); ++k) {
      EventSynapseState s = pools.State(k);
      s.a += jump[k];
      pools.SetState(k, s);
    }
    EXPECT_DOUBLE_EQ(pools.Conductance(3), 0.25) << "alone: its own g";
    const double d2 = specs[0].step.d1, d3 = specs[2].step.d1;
    for (int step = 0; step < 3; ++step) {
      std::vector<double> g(3, 0.0), ge(3, 0.0);
      pools.AddAndStep(g, ge);
      const double k2 = std::pow(d2, step), k3 = std::pow(d3, step);
      EXPECT_NEAR(g[0], (1.5 + 2.0 + 0.25) * k2 + 0.5 * k3, 1e-12);
      EXPECT_NEAR(ge[0], 2.0 * -80 * k2, 1e-10);
      EXPECT_NEAR(g[other_cell], 3.0 * k2, 1e-12);
      EXPECT_EQ(g[3 - other_cell], 0.0);
    }
  }
}

}  // namespace
}  // namespace dynclamp::rt
