// The banks' shared shape: names claimed once with the path errors use,
// cells checked, signals named from a kind's descriptor, live changes found
// by table row; and one small bank (gap junctions) driven through it.
#include "rt_engine/banks/bank.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "rt_engine/banks/background_bank.h"
#include "rt_engine/banks/gap_junction_bank.h"

namespace dynclamp::rt {
namespace {

TEST(SpecContextTest, ClaimsEachNameOnceAndNamesThePath) {
  SpecContext context(0.05, 3, {"cell0"});
  auto path = context.Claim("gap_junctions", 2, "gj");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, "gap_junctions[2] (gj)");
  const absl::Status again = context.Claim("backgrounds", 0, "gj").status();
  EXPECT_EQ(again.message(),
            "backgrounds[0] (gj).name: is used by another cell, conductance "
            "or object");
  EXPECT_FALSE(context.Claim("x", 0, "cell0").ok()) << "a rig cell's name";
  EXPECT_FALSE(context.Claim("x", 0, "1bad").ok());
}

TEST(SpecContextTest, CellIndicesMustExist) {
  const SpecContext context(0.05, 3, {});
  EXPECT_TRUE(context.CheckCell(2, "p", "cell").ok());
  EXPECT_EQ(context.CheckCell(3, "p", "cell_b").message(),
            "p.cell_b: must be a cell index in [0, 2], got 3");
  EXPECT_FALSE(context.CheckCell(-1, "p", "cell").ok());
}

TEST(SignalSinkTest, KeepsEveryNameAndThePublishedValues) {
  double a = 1, b = 2;
  SignalSink sink([](const std::string& n) { return n != "x.hidden"; });
  EXPECT_TRUE(sink.Add("x", {"i_pa", "pA"}, &a));
  EXPECT_FALSE(sink.Add("x", {"hidden", "1"}, &b));
  ASSERT_EQ(sink.all().size(), 2u);
  EXPECT_EQ(sink.all()[1], "x.hidden");
  ASSERT_EQ(sink.published().size(), 1u);
  EXPECT_EQ(sink.published()[0].name, "x.i_pa");
  EXPECT_EQ(sink.published()[0].unit, "pA");
  EXPECT_EQ(sink.published()[0].source, &a);
}

TEST(FindLiveTest, FindsTheObjectAndRefusesWhatCannotChange) {
  std::vector<BackgroundSpec> specs(2);
  specs[0].name = "bg0";
  specs[1].name = "bg1";
  const auto info = BackgroundBank::kParams.info();
  EXPECT_FALSE(FindLive(specs, "other", "gi0_ns", 1, info, "p").has_value());
  auto found = FindLive(specs, "bg1", "gi0_ns", 40, info, "bg1.gi0_ns");
  ASSERT_TRUE(found.has_value() && found->ok());
  EXPECT_EQ((*found)->index, 1u);
  EXPECT_EQ((*found)->param,
            BackgroundBank::kParams.IndexOf(&BackgroundSpec::gi0_ns));
  EXPECT_EQ(FindLive(specs, "bg1", "tau_i_ms", 5, info, "bg1.tau_i_ms")
                ->status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      FindLive(specs, "bg1", "nope", 5, info, "bg1.nope")->status().code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(
      FindLive(specs, "bg1", "gi0_ns", -1, info, "bg1.gi0_ns")->status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(GapJunctionBankTest, CouplesBothWaysAndChangesLive) {
  std::vector<GapJunctionSpec> specs = {{"gj", 0, 1, 2.0}};
  SpecContext context(0.05, 2, {});
  ASSERT_TRUE(GapJunctionBank::Validate(specs, context).ok());
  GapJunctionBank bank;
  bank.Build(specs, 0.05);
  SignalSink sink([](const std::string&) { return true; });
  bank.AddSignals(sink);
  ASSERT_EQ(sink.published().size(), 1u);
  EXPECT_EQ(sink.published()[0].name, "gj.i_pa");

  std::vector<double> v = {-70, -50}, g(2, 0), ge(2, 0);
  bank.Step({v, g, ge});
  // I into a = g (Vb - Va) = 40 pA; each cell's sums carry the other's V.
  EXPECT_DOUBLE_EQ(*sink.published()[0].source, 40.0);
  EXPECT_DOUBLE_EQ(ge[0] - g[0] * v[0], 40.0);
  EXPECT_DOUBLE_EQ(ge[1] - g[1] * v[1], -40.0);

  const int row = GapJunctionBank::kParams.IndexOf(&GapJunctionSpec::g_ns);
  EXPECT_TRUE(bank.Apply(0, row, 0.5));
  EXPECT_EQ(bank.Read(0, row), 0.5);
  EXPECT_FALSE(bank.Apply(1, row, 0.5)) << "no such junction";
  EXPECT_TRUE(std::isnan(bank.Read(1, row)));

  specs.push_back({"self", 1, 1, 1.0});
  SpecContext again(0.05, 2, {});
  EXPECT_EQ(GapJunctionBank::Validate(specs, again).message(),
            "gap_junctions[1] (self).cell_b: must differ from cell_a");
}

}  // namespace
}  // namespace dynclamp::rt
