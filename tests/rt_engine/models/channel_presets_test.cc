#include "rt_engine/models/channel_presets.h"

#include <cmath>

#include "gtest/gtest.h"
#include "rt_engine/model_set.h"

namespace dynclamp::rt {
namespace {

TEST(ChannelPresetsTest, EveryListedPresetBuildsAndTabulates) {
  for (const PresetInfo& info : ListPresets()) {
    auto preset = MakePreset(info.name);
    ASSERT_TRUE(preset.ok()) << info.name;
    ModelSetSpec spec;
    ConductanceSpec c;
    c.name = "x";
    std::visit([&](const auto& p) { c.model = p; }, *preset);
    spec.conductances.push_back(c);
    ModelSet::Config cfg;
    cfg.cell_names = {"cell0"};
    cfg.dt_ms = 0.025;
    auto set = ModelSet::Prepare(spec, cfg);
    EXPECT_TRUE(set.ok()) << info.name << ": " << set.status();
  }
  EXPECT_EQ(MakePreset("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(ChannelPresetsTest, Ca1KineticsHaveTheirMinimumTimeConstants) {
  for (double v = -100; v <= 50; v += 0.5) {
    EXPECT_GE(kCa1NaM.tau_ms(v, 35), 0.02);
    EXPECT_GE(kCa1NaH.tau_ms(v, 35), 0.5);
    EXPECT_GE(kCa1KdrN.tau_ms(v, 35), 2.0);
    EXPECT_GE(kCa1KaN.tau_ms(v, 35), 0.1);
    EXPECT_GE(kCa1KaL.tau_ms(v, 35), 2.0);
  }
  // Activation rises and inactivation falls with depolarization.
  EXPECT_LT(kCa1NaM.inf(-70, 35), kCa1NaM.inf(-20, 35));
  EXPECT_GT(kCa1NaH.inf(-70, 35), kCa1NaH.inf(-20, 35));
  EXPECT_NEAR(kCa1NaH.inf(-50, 35), 0.5, 1e-12);
  EXPECT_LT(kCa1KdrN.inf(-70, 35), kCa1KdrN.inf(0, 35));
  EXPECT_GT(kCa1KaL.inf(-90, 35), kCa1KaL.inf(-30, 35));
}

TEST(ChannelPresetsTest, IhBellMatchesItsTwoExponentialForm) {
  auto p = std::get<HhChannel::Params>(*MakePreset("ih"));
  const auto& it = std::get<InfTau>(p.gates[0].kinetics);
  for (double v = -120; v <= 0; v += 10) {
    const double ref =
        1.0 / (std::exp(-14.59 - 0.086 * v) + std::exp(-1.87 + 0.0701 * v));
    EXPECT_NEAR(it.bell(v), ref, ref * 1e-9) << v;
  }
}

}  // namespace
}  // namespace dynclamp::rt
