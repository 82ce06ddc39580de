// Param fields: every engine parameter table has its proto fields (so
// lowering reads each parameter by the name the engine declares), and
// reading takes what a message sets and the table's default otherwise.
#include "server/lowering/param_fields.h"

#include "dynclamp/v1/spec.pb.h"
#include "gtest/gtest.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"
#include "rt_engine/models/ligand_gated.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::server {
namespace {

TEST(ParamFieldsTest, EveryTableRowHasItsField) {
  struct Pair {
    const google::protobuf::Descriptor* message;
    std::span<const rt::ParamInfo> info;
  };
  std::vector<Pair> pairs = {
      {v1::ConstantConductance::descriptor(),
       rt::ConstantConductance::kParams.info()},
      {v1::LigandGatedConductance::descriptor(),
       rt::LigandGated::kParams.info()},
      {v1::HhChannel::descriptor(), rt::HhChannel::kParams.info()},
      {v1::ModelCell::descriptor(), rt::kModelCellParams.info()},
      {v1::Izhikevich::descriptor(), rt::kIzhikevichParams.info()},
      {v1::Adex::descriptor(), rt::kAdexParams.info()},
      {v1::Connection::descriptor(), rt::kConnectionParams.info()},
      {v1::GradedSynapse::descriptor(), rt::kGradedSynapseParams.info()},
      {v1::GapJunction::descriptor(), rt::kGapJunctionParams.info()},
      {v1::Background::descriptor(), rt::kBackgroundParams.info()},
  };
  // Each sub-kind's message is the oneof field named as the kind.
  for (rt::SynapseKind k : rt::kSynapseKinds) {
    pairs.push_back({v1::EventSynapse::descriptor()
                         ->FindFieldByName(std::string(rt::SynapseKindName(k)))
                         ->message_type(),
                     rt::EventSynapseParamTable(k).info()});
  }
  for (rt::ArtificialKind k : rt::kArtificialKinds) {
    pairs.push_back(
        {v1::ArtificialCell::descriptor()
             ->FindFieldByName(std::string(rt::ArtificialKindName(k)))
             ->message_type(),
         rt::ArtificialParamTable(k).info()});
  }
  for (const Pair& p : pairs) {
    EXPECT_TRUE(CheckParamFields(*p.message, p.info).ok())
        << CheckParamFields(*p.message, p.info);
  }
}

TEST(ParamFieldsTest, AMessageMissingARowIsAnInternalError) {
  // GapJunction has no "tau_e_ms": a table that disagrees with its message
  // is the project's error, not the user's.
  const absl::Status s = CheckParamFields(*v1::GapJunction::descriptor(),
                                          rt::kBackgroundParams.info());
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("ge0_ns"), std::string::npos) << s;
}

TEST(ParamFieldsTest, ReadsWhatIsSetAndDefaultsTheRest) {
  v1::Background b;
  b.set_gi0_ns(40);
  b.set_e_e_mv(0);  // set to the value that is also the default
  rt::BackgroundSpec in;
  in.name = "bg";
  in.ge0_ns = 999;  // not set in the message: the table's default wins
  auto out = ReadParams(b, rt::kBackgroundParams.rows(), in);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->name, "bg") << "other members are kept";
  EXPECT_EQ(out->gi0_ns, 40);
  EXPECT_EQ(out->ge0_ns, 12.0);
  EXPECT_EQ(out->tau_i_ms, 10.5);
}

TEST(ParamFieldsTest, ABoolFieldIsZeroOrOne) {
  v1::LigandGatedConductance l;
  l.set_applied(true);
  auto out = ReadParams(l, rt::LigandGated::kParams.rows(), {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->applied, 1.0);
  EXPECT_EQ(out->onset_ms, -1.0) << "the table's default: no schedule";
}

TEST(ParamFieldsTest, RequireFieldsNamesTheFirstMissing) {
  v1::GradedSynapse g;
  g.set_g_max_ns(1);
  const absl::Status s =
      RequireFields(g, "graded_synapses[0] (g)", {"g_max_ns", "e_rev_mv"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "graded_synapses[0] (g).e_rev_mv: is required");
}

}  // namespace
}  // namespace dynclamp::server
