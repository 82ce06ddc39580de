#include "rt_engine/model_set.h"

#include "gtest/gtest.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::rt {
namespace {

using testing::Preset;

ModelSet::Config TwoCells() {
  ModelSet::Config c;
  c.cell_names = {"cell0", "cell1"};
  c.dt_ms = 0.05;
  c.generation = 7;
  return c;
}

TEST(ModelSetTest, SignalsAreNamedInSpecOrder) {
  ModelSetSpec spec;
  spec.conductances = {Preset("leak", "hh_leak"), Preset("na", "hh_na", 1)};
  auto set = ModelSet::Prepare(spec, TwoCells());
  ASSERT_TRUE(set.ok()) << set.status();
  std::vector<std::string> names;
  for (const auto& s : (*set)->signals()) names.push_back(s.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"leak.g_ns", "leak.i_pa", "na.g_ns",
                                      "na.i_pa", "na.m", "na.h"}));
}

TEST(ModelSetTest, CurrentsSumPerCell) {
  ModelSetSpec spec;
  ConductanceSpec a, b;
  a.name = "a";
  a.model = ConstantConductance::Params{10, 0};
  b.name = "b";
  b.model = ConstantConductance::Params{-4, -80};
  spec.conductances = {a, b};
  auto set = *ModelSet::Prepare(spec, TwoCells());
  double v[2] = {-60, -60}, i[2] = {99, 99};
  set->Step(v, i);
  EXPECT_DOUBLE_EQ(i[0], 10 * (0 + 60) + -4 * (-80 + 60));
  EXPECT_DOUBLE_EQ(i[1], 0.0) << "no conductance on cell1";
}

TEST(ModelSetTest, ClampedGatesIntegrateOverTheElapsedTime) {
  // One late cycle (3 steps long) moves the gates as far as 3 steps do.
  ModelSetSpec spec;
  spec.conductances = {Preset("k", "hh_k")};
  auto late = *ModelSet::Prepare(spec, TwoCells());
  auto regular = *ModelSet::Prepare(spec, TwoCells());
  double v[2] = {-65, -65}, i_late[2], i_regular[2];
  late->Step(v, i_late);
  regular->Step(v, i_regular);
  v[0] = -20;  // a step in V: n relaxes towards its new steady state
  late->Step(v, i_late, 3 * 0.05);
  for (int k = 0; k < 3; ++k) regular->Step(v, i_regular);
  EXPECT_NEAR(i_late[0], i_regular[0], 1e-9 * std::fabs(i_regular[0]));
  // The nominal step would have moved them less.
  double i_nominal[2];
  auto nominal = *ModelSet::Prepare(spec, TwoCells());
  v[0] = -65;
  nominal->Step(v, i_nominal);
  v[0] = -20;
  nominal->Step(v, i_nominal);
  EXPECT_LT(std::fabs(i_nominal[0]), 0.9 * std::fabs(i_late[0]));
}

TEST(ModelSetTest, BadSpecIsRejectedWholeWithPathFieldAndReason) {
  ModelSetSpec spec;
  spec.conductances = {Preset("leak", "hh_leak"), Preset("na", "hh_na")};
  auto& na = std::get<HhChannel::Params>(spec.conductances[1].model);
  na.gates[1].kinetics =
      ExpressionRates{false, "1/(1+exp((V+60)/7))", "log(V+80)"};
  auto set = ModelSet::Prepare(spec, TwoCells());
  ASSERT_FALSE(set.ok());
  EXPECT_EQ(set.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string msg(set.status().message());
  EXPECT_NE(msg.find("conductances[1] (na).gates[1] (h).tau"),
            std::string::npos)
      << msg;

  spec.conductances[1] = Preset("leak", "hh_k");
  set = ModelSet::Prepare(spec, TwoCells());
  EXPECT_NE(set.status().message().find("conductances[1] (leak).name"),
            absl::string_view::npos)
      << set.status();

  spec.conductances[1] = Preset("k", "hh_k", 5);
  set = ModelSet::Prepare(spec, TwoCells());
  EXPECT_NE(set.status().message().find("conductances[1] (k).cell"),
            absl::string_view::npos)
      << set.status();

  spec.conductances[1] = Preset("bad name", "hh_k");
  EXPECT_FALSE(ModelSet::Prepare(spec, TwoCells()).ok());
}

TEST(ModelSetTest, TooManySignalsForTheFrameIsResourceExhausted) {
  ModelSetSpec spec;
  for (int k = 0; k < 20; ++k)
    spec.conductances.push_back(Preset("na" + std::to_string(k), "hh_na"));
  auto cfg = TwoCells();
  cfg.max_signals = 64;
  EXPECT_EQ(ModelSet::Prepare(spec, cfg).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ModelSetTest, ThousandChannelsShareTables) {
  ModelSetSpec spec;
  for (int k = 0; k < 1000; ++k)
    spec.conductances.push_back(Preset("k" + std::to_string(k), "hh_k"));
  auto cfg = TwoCells();
  cfg.max_signals = 3000;
  auto set = ModelSet::Prepare(spec, cfg);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ((*set)->num_rate_tables(), 1u);
}

TEST(ModelSetTest, ResolveParamChecksNameLivenessAndRange) {
  ModelSetSpec spec;
  spec.conductances = {Preset("na", "hh_na")};
  auto set = *ModelSet::Prepare(spec, TwoCells());
  auto u = set->ResolveParam("na.g_max_ns", 500);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->generation, 7u);
  EXPECT_EQ(set->ResolveParam("kv.g_max_ns", 1).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(set->ResolveParam("na.bogus", 1).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(set->ResolveParam("na.celsius", 20).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto bad = set->ResolveParam("na.g_max_ns", -3);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("na.g_max_ns"), absl::string_view::npos)
      << bad.status();
  EXPECT_EQ(set->ResolveParam("na.trigger", 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ModelSetTest, ApplyChangesTheCurrentAndRejectsOtherGenerations) {
  ModelSetSpec spec;
  ConductanceSpec c;
  c.name = "g";
  c.model = ConstantConductance::Params{1, 0};
  spec.conductances = {c};
  auto set = *ModelSet::Prepare(spec, TwoCells());
  double v[2] = {-50, 0}, i[2];
  set->Step(v, i);
  EXPECT_DOUBLE_EQ(i[0], 50);
  auto u = *set->ResolveParam("g.g_ns", -2);
  EXPECT_TRUE(set->Apply(u));
  set->Step(v, i);
  EXPECT_DOUBLE_EQ(i[0], -100);
  u.generation = 3;
  EXPECT_FALSE(set->Apply(u));
}

TEST(ModelSetTest, LiveChangesReachHhAndLigandModels) {
  ModelSetSpec spec;
  spec.conductances = {Preset("k", "hh_k")};
  spec.conductances.push_back(
      {.name = "gaba",
       .model = LigandGated::Params{
           .g_max_ns = 2, .tau_rise_ms = 0.5, .tau_decay_ms = 2}});
  auto set = *ModelSet::Prepare(spec, TwoCells());
  double v[2] = {-40, 0}, i[2];
  set->Step(v, i);
  std::vector<double> sig(set->signals().size());
  set->WriteSignals(sig);
  const double g_k = sig[0];
  EXPECT_EQ(sig[3], 0.0) << "gaba silent before a trigger";
  ASSERT_TRUE(set->Apply(*set->ResolveParam("k.g_max_ns", 7200)));
  ASSERT_TRUE(set->Apply(*set->ResolveParam("gaba.trigger", 1)));
  set->Step(v, i);
  set->Step(v, i);
  set->WriteSignals(sig);
  EXPECT_GT(sig[0], 1.9 * g_k) << "g_max doubled (n moves a little)";
  EXPECT_GT(sig[3], 0.0) << "the trigger started a time course";
}

}  // namespace
}  // namespace dynclamp::rt
