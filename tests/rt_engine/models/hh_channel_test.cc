#include "rt_engine/models/hh_channel.h"

#include <cmath>

#include "gtest/gtest.h"
#include "rt_engine/models/channel_presets.h"

namespace dynclamp::rt {
namespace {

// One gate with constant tau and a sigmoid inf: at fixed V the exact
// solution is x(t) = inf + (x0 - inf) exp(-t/tau).
HhChannel::Params OneGate(Integrator integrator, double tau_ms) {
  HhChannel::Params p;
  p.g_max_ns = 10;
  p.e_rev_mv = 0;
  p.integrator = integrator;
  GateSpec g;
  g.name = "x";
  g.power = 1;
  InfTau it;
  it.inf_v_half_mv = -30;
  it.inf_slope_mv = 5;
  it.tau_ms = tau_ms;
  g.kinetics = it;
  p.gates = {g};
  return p;
}

struct Fixture {
  std::vector<std::shared_ptr<const RateTable>> tables;
  std::vector<HhChannel::GateRuntime> gates;
};

Fixture Build(const HhChannel::Params& p, double dt) {
  RateTableCache cache;
  Fixture f;
  f.tables = *HhChannel::BuildTables(p, dt, "c", cache);
  for (std::size_t i = 0; i < f.tables.size(); ++i)
    f.gates.push_back({f.tables[i].get(), p.gates[i].power});
  return f;
}

TEST(HhChannelTest, GateAtFixedVRelaxesExactlyAsExpEulerPredicts) {
  const double dt = 0.05, tau = 1.3, v = -25.0;  // a table node: exact inf
  auto p = OneGate(Integrator::kExpEuler, tau);
  Fixture f = Build(p, dt);
  const double inf = 1.0 / (1.0 + std::exp(-(v + 30) / 5));
  double x = 0.0;
  std::span<double> state(&x, 1);
  for (int n = 1; n <= 200; ++n) {
    HhChannel::StepGates(p.integrator, dt, f.gates, state, v);
    const double exact = inf + (0.0 - inf) * std::exp(-n * dt / tau);
    ASSERT_NEAR(x, exact, 1e-12) << "step " << n;
  }
}

TEST(HhChannelTest, ExpEulerIsExactForStepsOtherThanTheTables) {
  // A jittered clamp integrates over the measured step, not the nominal one.
  const double table_dt = 0.025, tau = 0.3, v = -25.0;
  auto p = OneGate(Integrator::kExpEuler, tau);
  Fixture f = Build(p, table_dt);
  const double inf = 1.0 / (1.0 + std::exp(-(v + 30) / 5));
  double x = 0.0, t = 0.0;
  std::span<double> state(&x, 1);
  for (double step : {0.025, 0.1, 0.031, 0.25, 0.0125}) {
    HhChannel::StepGates(p.integrator, step, f.gates, state, v);
    t += step;
    ASSERT_NEAR(x, inf * (1.0 - std::exp(-t / tau)), 1e-12) << "t " << t;
  }
}

TEST(HhChannelTest, Rk4AndForwardEulerFollowTheirAmplificationFactors) {
  const double dt = 0.1, tau = 0.4, v = -25.0;
  const double inf = 1.0 / (1.0 + std::exp(-(v + 30) / 5));
  const double z = -dt / tau;
  const double r_rk4 = 1 + z + z * z / 2 + z * z * z / 6 + z * z * z * z / 24;
  const double r_fe = 1 + z;
  for (auto [method, r] : {std::pair{Integrator::kRk4, r_rk4},
                           std::pair{Integrator::kForwardEuler, r_fe}}) {
    auto p = OneGate(method, tau);
    Fixture f = Build(p, dt);
    double x = 0.0;
    std::span<double> state(&x, 1);
    double expected = 0.0;
    for (int n = 0; n < 20; ++n) {
      HhChannel::StepGates(method, dt, f.gates, state, v);
      expected = inf + (expected - inf) * r;
      ASSERT_NEAR(x, expected, 1e-12)
          << IntegratorName(method) << " step " << n;
    }
  }
}

TEST(HhChannelTest, UnstableForwardEulerStaysWithinZeroAndOne) {
  const double dt = 0.25, tau = 0.02;  // dt/tau = 12.5
  auto p = OneGate(Integrator::kForwardEuler, tau);
  Fixture f = Build(p, dt);
  double x = 0.5;
  std::span<double> state(&x, 1);
  for (int n = 0; n < 50; ++n) {
    HhChannel::StepGates(p.integrator, dt, f.gates, state,
                         n % 2 ? -80.0 : 20.0);
    ASSERT_GE(x, 0.0);
    ASSERT_LE(x, 1.0);
  }
}

TEST(HhChannelTest, ProductOfPowers) {
  auto p = std::get<HhChannel::Params>(*MakePreset("hh_na"));
  Fixture f = Build(p, 0.01);
  double s[2];
  const double open = HhChannel::InitGates(f.gates, s, -65.0);
  EXPECT_NEAR(open, s[0] * s[0] * s[0] * s[1], 1e-15);
  // Resting HH: m ~ 0.0529, h ~ 0.596.
  EXPECT_NEAR(s[0], 0.0529, 5e-4);
  EXPECT_NEAR(s[1], 0.596, 1e-3);
}

TEST(HhChannelTest, ValidationNamesTheField) {
  HhChannel::Params p = OneGate(Integrator::kExpEuler, 1);
  p.g_max_ns = -1;
  auto s = HhChannel::Validate(p, "conductances[2] (kv)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("conductances[2] (kv).g_max_ns"),
            absl::string_view::npos)
      << s;
  p = OneGate(Integrator::kExpEuler, 1);
  p.gates.push_back(p.gates[0]);
  s = HhChannel::Validate(p, "c");
  EXPECT_NE(s.message().find("gates[1].name"), absl::string_view::npos) << s;
  p = OneGate(Integrator::kExpEuler, 1);
  p.gates[0].power = -1;
  EXPECT_NE(HhChannel::Validate(p, "c").message().find("gates[0].power"),
            absl::string_view::npos);
  p = OneGate(Integrator::kExpEuler, 1);
  p.gates.clear();
  EXPECT_FALSE(HhChannel::Validate(p, "c").ok());
}

}  // namespace
}  // namespace dynclamp::rt
