#include "rt_engine/models/ligand_gated.h"

#include <cmath>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

// Each step's conductance is the waveform at the step's midpoint.
TEST(LigandGatedTest, TriggeredTimeCourseIsNormalizedDoubleExponential) {
  LigandGated::Params p;
  p.g_max_ns = 20;
  p.tau_rise_ms = 5;
  p.tau_decay_ms = 15;
  p.onset_ms = 1.0;
  const double dt = 0.01;
  const auto c = LigandGated::Prepare(p, dt);
  LigandGated::State st;
  double peak = 0, t_peak = 0;
  for (int64_t k = 0; k < 10000; ++k) {
    const double g = LigandGated::Step(p, c, st, k);
    const double t = k * dt + dt / 2 - 1.0;  // since the trigger, mid-step
    if (t < 0) {
      ASSERT_EQ(g, 0.0);
      continue;
    }
    const double raw = std::exp(-t / 15) - std::exp(-t / 5);
    const double tp = 5 * 15 / (15.0 - 5.0) * std::log(15.0 / 5.0);
    const double norm = 1 / (std::exp(-tp / 15) - std::exp(-tp / 5));
    ASSERT_NEAR(g, 20 * norm * raw, 1e-9) << "t=" << t;
    if (g > peak) peak = g, t_peak = t;
  }
  EXPECT_NEAR(peak, 20.0, 1e-3);
  EXPECT_NEAR(t_peak, 5 * 15 / 10.0 * std::log(3.0), dt);
  // A coarse step still samples the waveform exactly at its midpoints.
  const auto coarse = LigandGated::Prepare(p, 0.5);
  LigandGated::State cs;
  for (int64_t k = 0; k < 2; ++k) LigandGated::Step(p, coarse, cs, k);
  const double g2 = LigandGated::Step(p, coarse, cs, 2);  // onset at k = 2
  const double tp = 5 * 15 / (15.0 - 5.0) * std::log(15.0 / 5.0);
  const double norm = 1 / (std::exp(-tp / 15) - std::exp(-tp / 5));
  EXPECT_NEAR(g2, 20 * norm * (std::exp(-0.25 / 15) - std::exp(-0.25 / 5)),
              1e-12)
      << "a trigger conducts in its own step";
}

TEST(LigandGatedTest, LiveTriggerStartsATimeCourse) {
  LigandGated::Params p;
  p.g_max_ns = 1;
  p.tau_rise_ms = 1;
  p.tau_decay_ms = 3;
  const auto c = LigandGated::Prepare(p, 0.1);
  LigandGated::State st;
  EXPECT_EQ(LigandGated::Step(p, c, st, 0), 0.0);
  LigandGated::SetLive(p, st, LigandGated::kTriggerAction, 1);
  LigandGated::Step(p, c, st, 1);
  EXPECT_GT(LigandGated::Step(p, c, st, 2), 0.0);
}

TEST(LigandGatedTest, ContinuousApplicationRisesAndFallsWithItsTaus) {
  LigandGated::Params p;
  p.mode = LigandGated::Mode::kContinuous;
  p.g_max_ns = 10;
  p.tau_rise_ms = 50;
  p.tau_decay_ms = 150;
  p.onset_ms = 0;
  p.duration_ms = 100;
  const double dt = 0.1;
  const auto c = LigandGated::Prepare(p, dt);
  LigandGated::State st;
  double g = 0;
  // Applied over [0, 100) ms; each step's g is the one mid-step.
  for (int64_t k = 0; k < 1000; ++k) g = LigandGated::Step(p, c, st, k);
  EXPECT_NEAR(g, 10 * (1 - std::exp(-99.95 / 50)), 1e-9);
  const double at_off = 10 * (1 - std::exp(-100.0 / 50));
  for (int64_t k = 1000; k < 2500; ++k) g = LigandGated::Step(p, c, st, k);
  EXPECT_NEAR(g, at_off * std::exp(-149.95 / 150), 1e-9);
}

TEST(LigandGatedTest, ValidationNamesFieldAndReason) {
  LigandGated::Params p;
  p.tau_rise_ms = 20;
  p.tau_decay_ms = 10;
  auto s = LigandGated::Validate(p, "conductances[0] (gaba)");
  EXPECT_NE(s.message().find("conductances[0] (gaba).tau_rise_ms"),
            absl::string_view::npos)
      << s;
  p = {};
  p.tau_decay_ms = 0;
  s = LigandGated::Validate(p, "x");
  EXPECT_NE(s.message().find("x.tau_decay_ms"), absl::string_view::npos) << s;
  p = {};
  p.g_max_ns = NAN;
  EXPECT_NE(LigandGated::Validate(p, "x").message().find("finite"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace dynclamp::rt
