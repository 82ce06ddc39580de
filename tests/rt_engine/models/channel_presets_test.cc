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
  auto tau = [](const NativeKinetics& k, double v) {
    return k.rates(v, 35).tau_ms;
  };
  auto inf = [](const NativeKinetics& k, double v) {
    return k.rates(v, 35).inf;
  };
  for (double v = -100; v <= 50; v += 0.5) {
    EXPECT_GE(tau(kCa1NaM, v), 0.02);
    EXPECT_GE(tau(kCa1NaH, v), 0.5);
    EXPECT_GE(tau(kCa1KdrN, v), 2.0);
    EXPECT_GE(tau(kCa1KaN, v), 0.1);
    EXPECT_GE(tau(kCa1KaL, v), 2.0);
  }
  // Activation rises and inactivation falls with depolarization.
  EXPECT_LT(inf(kCa1NaM, -70), inf(kCa1NaM, -20));
  EXPECT_GT(inf(kCa1NaH, -70), inf(kCa1NaH, -20));
  EXPECT_NEAR(inf(kCa1NaH, -50), 0.5, 1e-12);
  EXPECT_LT(inf(kCa1KdrN, -70), inf(kCa1KdrN, 0));
  EXPECT_GT(inf(kCa1KaL, -90), inf(kCa1KaL, -30));
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
