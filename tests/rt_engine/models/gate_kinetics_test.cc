#include "rt_engine/models/gate_kinetics.h"

#include <cmath>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

TEST(RateFunctionTest, StandardForms) {
  const RateFunction e{RateForm::kExponential, 4.0, -65.0, -18.0};
  EXPECT_DOUBLE_EQ(e(-65.0), 4.0);
  EXPECT_DOUBLE_EQ(e(-47.0), 4.0 * std::exp(-1.0));
  const RateFunction s{RateForm::kSigmoid, 1.0, -35.0, 10.0};
  EXPECT_DOUBLE_EQ(s(-35.0), 0.5);
  const RateFunction l{RateForm::kLinoid, 1.0, -40.0, 10.0};
  // HH alpha_m = 0.1 (V + 40) / (1 - exp(-(V + 40)/10)).
  for (double v : {-80.0, -40.0000001, -40.0, -39.9999, 0.0, 30.0}) {
    const double x = v + 40.0;
    const double hh =
        std::fabs(x) < 1e-9 ? 1.0 : 0.1 * x / (1.0 - std::exp(-x / 10.0));
    EXPECT_NEAR(l(v), hh, 1e-9) << v;
  }
}

TEST(GateEvaluatorTest, AlphaBetaGivesInfAndTauWithQ10) {
  GateSpec g;
  g.name = "n";
  g.kinetics = AlphaBeta{{RateForm::kExponential, 0.2, 0, 10},
                         {RateForm::kExponential, 0.3, 0, -10}};
  g.q10 = 3.0;
  g.q10_ref_celsius = 6.3;
  auto ev = GateEvaluator::Create(g, 16.3, "g");
  ASSERT_TRUE(ev.ok()) << ev.status();
  auto r = ev->Evaluate(0.0);
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->inf, 0.4, 1e-12);
  EXPECT_NEAR(r->tau_ms, 1.0 / 0.5 / 3.0, 1e-12);
}

TEST(GateEvaluatorTest, TauFloorApplies) {
  GateSpec g;
  g.name = "m";
  InfTau it;
  it.tau_ms = 0.01;
  g.kinetics = it;
  g.tau_min_ms = 0.05;
  auto ev = GateEvaluator::Create(g, 6.3, "g");
  ASSERT_TRUE(ev.ok());
  EXPECT_DOUBLE_EQ(ev->Evaluate(-20)->tau_ms, 0.05);
}

TEST(GateEvaluatorTest, ExpressionsMatchTheSameParametricGate) {
  GateSpec e;
  e.name = "m";
  e.kinetics = ExpressionRates{true, "0.1*(V+40)/(1-exp(-(V+40)/10))",
                               "4*exp(-(V+65)/18)"};
  GateSpec p = e;
  p.kinetics = AlphaBeta{{RateForm::kLinoid, 1.0, -40, 10},
                         {RateForm::kExponential, 4.0, -65, -18}};
  auto ee = GateEvaluator::Create(e, 6.3, "e");
  auto pe = GateEvaluator::Create(p, 6.3, "p");
  ASSERT_TRUE(ee.ok()) << ee.status();
  ASSERT_TRUE(pe.ok());
  for (double v = -100; v <= 50; v += 7.3) {
    EXPECT_NEAR(ee->Evaluate(v)->inf, pe->Evaluate(v)->inf, 1e-12);
    EXPECT_NEAR(ee->Evaluate(v)->tau_ms, pe->Evaluate(v)->tau_ms, 1e-12);
  }
}

TEST(GateEvaluatorTest, BadExpressionIsNamed) {
  GateSpec g;
  g.name = "m";
  g.kinetics = ExpressionRates{false, "1/(1+exp(-(V+40)/5)", "1"};
  auto ev = GateEvaluator::Create(g, 6.3, "conductances[0] (na).gates[0]");
  ASSERT_FALSE(ev.ok());
  EXPECT_EQ(ev.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(
      ev.status().message().find("conductances[0] (na).gates[0].inf_expr"),
      absl::string_view::npos)
      << ev.status();
}

TEST(GateEvaluatorTest, NonFiniteOrOutOfRangeValuesAreReportedWithV) {
  GateSpec g;
  g.name = "m";
  g.kinetics = ExpressionRates{false, "1/(1+exp(-(V+40)/5))", "1/(V+20)"};
  auto ev = GateEvaluator::Create(g, 6.3, "x");
  ASSERT_TRUE(ev.ok());
  auto r = ev->Evaluate(-20.0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("tau_expr"), absl::string_view::npos)
      << r.status();
  EXPECT_NE(r.status().message().find("V = -20"), absl::string_view::npos)
      << r.status();
  g.kinetics = ExpressionRates{false, "2", "1"};
  ev = GateEvaluator::Create(g, 6.3, "x");
  ASSERT_TRUE(ev.ok());
  EXPECT_FALSE(ev->Evaluate(0).ok()) << "inf = 2 is not a fraction";
}

TEST(GateEvaluatorTest, ScalarFieldsChecked) {
  GateSpec g;
  g.name = "m";
  g.kinetics = AlphaBeta{{RateForm::kExponential, 1, 0, 0}, {}};
  auto ev = GateEvaluator::Create(g, 6.3, "p");
  ASSERT_FALSE(ev.ok());
  EXPECT_NE(ev.status().message().find("p.alpha.slope_mv"),
            absl::string_view::npos)
      << ev.status();
  g.kinetics = AlphaBeta{};
  g.power = 12;
  EXPECT_FALSE(GateEvaluator::Create(g, 6.3, "p").ok());
  g.power = 1;
  g.tau_min_ms = -1;
  EXPECT_FALSE(GateEvaluator::Create(g, 6.3, "p").ok());
}

TEST(GateEvaluatorTest, TabulatedTauInterpolatesAndValidates) {
  GateSpec g;
  g.name = "h";
  InfTau it;
  it.tau_form = TauForm::kTable;
  it.table_v_mv = {-100, 0, 50};
  it.table_tau_ms = {10, 2, 1};
  g.kinetics = it;
  auto ev = GateEvaluator::Create(g, 6.3, "t");
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_DOUBLE_EQ(ev->Evaluate(-50)->tau_ms, 6.0);
  EXPECT_DOUBLE_EQ(ev->Evaluate(-150)->tau_ms, 10.0);
  it.table_v_mv = {-100, -100, 50};
  g.kinetics = it;
  EXPECT_FALSE(GateEvaluator::Create(g, 6.3, "t").ok());
}

TEST(FastGateTest, MatchesEvaluator) {
  GateSpec g;
  g.name = "m";
  InfTau it;
  it.inf_v_half_mv = -40;
  it.inf_slope_mv = 6;
  it.tau_form = TauForm::kBell;
  it.bell = {0.1, 3.0, -50, 12, 15};
  g.kinetics = it;
  g.q10 = 2;
  g.q10_ref_celsius = 22;
  auto fast = MakeFastGate(g, 32);
  auto ev = GateEvaluator::Create(g, 32, "x");
  ASSERT_TRUE(fast.ok() && ev.ok());
  for (double v = -100; v <= 50; v += 3.7) {
    EXPECT_NEAR(fast->Eval(v).inf, ev->Evaluate(v)->inf, 1e-12);
    EXPECT_NEAR(fast->Eval(v).tau_ms, ev->Evaluate(v)->tau_ms, 1e-12);
  }
}

}  // namespace
}  // namespace dynclamp::rt
