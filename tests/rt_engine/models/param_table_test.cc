// ParamTable: one row per parameter, with its member; the checks, live
// access, equality and defaults derived from it; the member count that
// makes a forgotten member a compile error; and every kind's real table.
#include "rt_engine/models/param_table.h"

#include <string>
#include <variant>

#include "gtest/gtest.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"
#include "rt_engine/models/ligand_gated.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {
namespace {

struct Example {
  std::string name;
  int cell = 0;
  double g_ns = 1.0;
  double e_rev_mv = -75.0;
};

constexpr ParamTable kExample{std::array<Param<Example>, 2>{{
    {{"g_ns", "nS", 1.0, 0.0, 100.0, false, true, "conductance"},
     &Example::g_ns},
    {{"e_rev_mv", "mV", -75.0, -200.0, 200.0, false, false, "reversal"},
     &Example::e_rev_mv},
}}};
DYNCLAMP_PARAMS_COVER(Example, kExample, 2);  // name, cell

struct WithVariant {
  std::string name;
  std::variant<std::monostate, int> dynamics;
  double x = 0;
  unsigned long long seed = 1;
};
static_assert(kFieldCount<WithVariant> == 4);
// A member added without a row would make the count differ:
struct Forgotten {
  std::string name;
  int cell = 0;
  double g_ns = 1.0;
  double e_rev_mv = -75.0;
  double tau_ms = 2.0;  // no row in a two-row table
};
static_assert(kFieldCount<Forgotten> != kExample.size() + 2);

TEST(ParamTableTest, InfoIsTheRowsInOrder) {
  ASSERT_EQ(kExample.info().size(), 2u);
  EXPECT_EQ(kExample.info()[0].name, "g_ns");
  EXPECT_EQ(kExample.info()[1].unit, "mV");
  EXPECT_TRUE(kExample.info()[0].live);
}

TEST(ParamTableTest, CheckNamesTheFirstParameterOutOfRange) {
  Example e;
  EXPECT_TRUE(kExample.Check(e, "x").ok());
  e.e_rev_mv = 300;
  e.g_ns = -1;
  const absl::Status s = kExample.Check(e, "conductances[0] (gaba)");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message().substr(0, 28), "conductances[0] (gaba).g_ns:");
}

TEST(ParamTableTest, LiveAccessIsByIndexThroughTheMember) {
  Example e;
  kExample.Set(e, 0, 5.5);
  EXPECT_EQ(e.g_ns, 5.5);
  EXPECT_EQ(kExample.Get(e, 1), -75.0);
}

TEST(ParamTableTest, SameComparesEveryParameterAndNothingElse) {
  Example a, b;
  b.name = "other";
  b.cell = 3;
  EXPECT_TRUE(kExample.Same(a, b));
  b.e_rev_mv = -70;
  EXPECT_FALSE(kExample.Same(a, b));
}

TEST(ParamTableTest, DefaultsAreTheStructsOwn) {
  const Example d = kExample.Defaults();
  const Example s{};
  for (std::size_t i = 0; i < kExample.size(); ++i)
    EXPECT_EQ(d.*kExample.member(i), s.*kExample.member(i))
        << kExample.info()[i].name;
}

// Every kind's table against its struct's initializers: the struct is what
// code that builds a spec by hand starts from, so the two must not drift.
template <typename T>
void ExpectDefaultsMatch(ParamSpan<T> table, const T& value,
                         absl::string_view kind) {
  for (std::size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table.info()[i].default_value, value.*table.member(i))
        << kind << "." << table.info()[i].name;
  }
}

TEST(ParamTableTest, EveryKindsDefaultsAreItsStructsInitializers) {
  ExpectDefaultsMatch<ModelCellSpec>(kModelCellParams, {}, "model_cell");
  ExpectDefaultsMatch<IzhikevichParams>(kIzhikevichParams, {}, "izhikevich");
  ExpectDefaultsMatch<AdexParams>(kAdexParams, {}, "adex");
  ExpectDefaultsMatch<ConnectionSpec>(kConnectionParams, {}, "connection");
  ExpectDefaultsMatch<GradedSynapseSpec>(kGradedSynapseParams, {}, "graded");
  ExpectDefaultsMatch<GapJunctionSpec>(kGapJunctionParams, {}, "gap");
  ExpectDefaultsMatch<BackgroundSpec>(kBackgroundParams, {}, "background");
  ExpectDefaultsMatch<ConstantConductance::Params>(ConstantConductance::kParams,
                                                   {}, "constant");
  ExpectDefaultsMatch<LigandGated::Params>(LigandGated::kParams, {},
                                           "ligand_gated");
  ExpectDefaultsMatch<HhChannel::Params>(HhChannel::kParams, {}, "hh");
  // Sub-kinds sharing one record: each kind's defaults come from its table.
  for (SynapseKind k : kSynapseKinds) {
    ExpectDefaultsMatch(EventSynapseParamTable(k), EventSynapseDefaults(k),
                        SynapseKindName(k));
    EXPECT_EQ(EventSynapseDefaults(k).kind, k);
  }
  for (ArtificialKind k : kArtificialKinds) {
    ExpectDefaultsMatch(ArtificialParamTable(k), ArtificialDefaults(k),
                        ArtificialKindName(k));
  }
}

TEST(ParamTableTest, SubKindTablesTogetherNameEachMemberOnce) {
  // GSyn and Exp2Syn share tau1/tau2, every kind e_rev: counted once.
  EXPECT_EQ(DistinctMembers<EventSynapseParams>(event_synapse_tables::kByKind),
            10u);
  EXPECT_EQ(DistinctMembers<ArtificialParams>(artificial_tables::kByKind), 13u);
}

TEST(ParamTableTest, LiveAreNamesExactlyTheLiveRows) {
  static_assert(kGapJunctionParams.LiveAre({&GapJunctionSpec::g_ns}));
  static_assert(!kBackgroundParams.LiveAre({&BackgroundSpec::ge0_ns}));
  static_assert(kBackgroundParams.LiveAre(
      {&BackgroundSpec::ge0_ns, &BackgroundSpec::sigma_e_ns,
       &BackgroundSpec::gi0_ns, &BackgroundSpec::sigma_i_ns}));
  EXPECT_EQ(kBackgroundParams.IndexOf(&BackgroundSpec::gi0_ns), 4);
  EXPECT_EQ(kBackgroundParams.rows().Find("sigma_i_ns"), 5);
}

}  // namespace
}  // namespace dynclamp::rt
