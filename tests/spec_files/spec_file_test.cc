#include "spec_files/spec_file.h"

#include <cmath>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace dynclamp::spec_files {
namespace {

TEST(SpecFileTest, YamlAndJsonGiveTheSameMessage) {
  auto y = ParseSpec(R"(
# a comment
conductances:
  - name: gaba
    cell: cell0
    ligand_gated: {mode: TRIGGERED, g_max_ns: 10, e_rev_mv: -75,
                   tau_rise_ms: 5000, tau_decay_ms: 15000}
)",
                     "y");
  auto j = ParseSpec(R"({"conductances": [{"name": "gaba", "cell": "cell0",
      "ligandGated": {"mode": "TRIGGERED", "gMaxNs": 10, "eRevMv": -75,
      "tauRiseMs": 5000, "tauDecayMs": 15000}}]})",
                     "j");
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(y->SerializeAsString(), j->SerializeAsString());
  EXPECT_EQ(y->conductances(0).ligand_gated().e_rev_mv(), -75);
  EXPECT_TRUE(y->conductances(0).ligand_gated().has_g_max_ns());
}

TEST(SpecFileTest, QuotedScalarsStayStringsAndSpecialFloatsParse) {
  auto s = ParseSpec(R"(
conductances:
  - name: "123"
    cell: cell0
    constant: {g_ns: .nan, e_rev_mv: -1e1}
)",
                     "s");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->conductances(0).name(), "123");
  EXPECT_TRUE(std::isnan(s->conductances(0).constant().g_ns()));
  EXPECT_EQ(s->conductances(0).constant().e_rev_mv(), -10);
}

TEST(SpecFileTest, NotYamlNamesTheLine) {
  auto s = ParseSpec("conductances: [\n  {name: x\n", "bad.yaml");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("bad.yaml: not YAML or JSON: line"),
            absl::string_view::npos)
      << s.status();
  EXPECT_FALSE(ParseSpec("- just\n- a list\n", "list.yaml").ok());
}

TEST(SpecFileTest, UnknownOrMistypedFieldsAreNamed) {
  auto s = ParseSpec(
      "conductances: [{name: x, cell: cell0, constant: {g_nS: 1}}]", "f");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("g_nS"), absl::string_view::npos)
      << s.status();
  s = ParseSpec(
      "conductances: [{name: x, cell: cell0, constant: {g_ns: lots}}]", "f");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("g_ns"), absl::string_view::npos)
      << s.status();
}

// Each anchor nests the one before a little deeper: a 35 kB file that
// expands 16 000 levels deep (the fuzzer's stack overflow) is refused.
TEST(SpecFileTest, AliasesNestedWithoutBoundAreRefused) {
  std::string text;
  for (int i = 0; i < 80; ++i) {
    absl::StrAppend(&text, "a", i, ": &a", i, " ", std::string(200, '['),
                    i == 0 ? std::string("1") : absl::StrCat("*a", i - 1),
                    std::string(200, ']'), "\n");
  }
  const auto spec = ParseSpec(text, "deep.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("deep.yaml: line 1"),
            std::string::npos)
      << spec.status();
  EXPECT_NE(spec.status().message().find("nested more than 64 levels"),
            std::string::npos)
      << spec.status();
}

// A bad enum value names the field and lists the valid names.
TEST(SpecFileTest, BadEnumValuesListTheValidNames) {
  const auto spec = ParseSpec(
      "conductances:\n  - name: na\n    preset: {preset: hh_na, integrator: "
      "RK5}\n",
      "na.yaml");
  ASSERT_FALSE(spec.ok());
  EXPECT_EQ(spec.status().message(),
            "na.yaml: conductances[0].preset.integrator: 'RK5' is not one of "
            "EXP_EULER, RK4, FORWARD_EULER");
}

TEST(SpecFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadSpecFile("/nonexistent/spec.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SpecFileTest, ExamplesParse) {
  for (const char* name :
       {"gaba_step", "prinz2004_fig1b_gaba", "prinz2004_fig1c_leak_subtraction",
        "prinz2004_fig2_k_addback", "bettencourt2008_na_knockin",
        "custom_hh_channel"}) {
    auto s =
        ReadSpecFile(std::string(DYNCLAMP_EXAMPLES_DIR) + "/" + name + ".yaml");
    EXPECT_TRUE(s.ok()) << name << ": " << s.status();
    EXPECT_GT(s->conductances_size(), 0) << name;
  }
}

}  // namespace
}  // namespace dynclamp::spec_files
