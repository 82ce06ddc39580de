#include "server/lowering/protocol_lowering.h"

#include <gtest/gtest.h>

#include "spec_files/spec_file.h"

namespace dynclamp::server {
namespace {

v1::Protocol Parse(const std::string& yaml) {
  absl::StatusOr<v1::Protocol> p = spec_files::ParseProtocol(yaml, "test.yaml");
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : v1::Protocol();
}

TEST(ProtocolLoweringTest, FiCurveExpandsIntoOneSweepPerStep) {
  const auto p = LowerProtocol(Parse(R"(
name: fi
fi_curve: {cell: cell0, start_pa: -100, stop_pa: 200, step_pa: 100,
           pre_s: 0.1, step_s: 1, post_s: 0.2, holding_pa: 10}
repetitions: 2
interval_s: 0.5
)"));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->name, "fi");
  EXPECT_EQ(p->repetitions, 2);
  EXPECT_DOUBLE_EQ(p->interval_ms, 500);
  ASSERT_EQ(p->sweeps.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    const rt::StimulusSpec& st = p->sweeps[k].stimuli.at(0);
    EXPECT_EQ(st.cell, "cell0");
    ASSERT_EQ(st.epochs.size(), 3u);
    EXPECT_DOUBLE_EQ(st.epochs[0].duration_ms, 100);
    EXPECT_DOUBLE_EQ(st.epochs[0].level, 10);
    EXPECT_DOUBLE_EQ(st.epochs[1].duration_ms, 1000);
    EXPECT_DOUBLE_EQ(st.epochs[1].level, 10 - 100 + 100 * k);
    EXPECT_DOUBLE_EQ(st.epochs[2].duration_ms, 200);
  }
}

TEST(ProtocolLoweringTest, TitrationHoldsTheParameterForTheWholeSweep) {
  const auto p = LowerProtocol(Parse(R"(
titration:
  parameter: gaba.g_ns
  values: [0, 5, 20]
  sweep:
    stimuli:
      - cell: cell0
        epochs:
          - {duration_s: 0.1, hold: {value: 0}}
          - {duration_s: 0.3, ramp: {start: 0, end: 100}}
)"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->sweeps.size(), 3u);
  const double values[] = {0, 5, 20};
  for (int k = 0; k < 3; ++k) {
    ASSERT_EQ(p->sweeps[k].stimuli.size(), 2u);
    const rt::StimulusSpec& held = p->sweeps[k].stimuli[1];
    EXPECT_EQ(held.parameter, "gaba.g_ns");
    ASSERT_EQ(held.epochs.size(), 1u);
    EXPECT_NEAR(held.epochs[0].duration_ms, 400, 1e-9);
    EXPECT_EQ(held.epochs[0].level, values[k]);
    EXPECT_EQ(p->sweeps[k].stimuli[0].epochs[1].shape,
              rt::EpochSpec::Shape::kRamp);
  }
}

TEST(ProtocolLoweringTest, TestPulseAndEveryShapeLower) {
  const auto p = LowerProtocol(Parse(R"(
test_pulse: {cell: cell1, amplitude_pa: -50, pulse_s: 0.01, baseline_s: 0.02, count: 3}
sweeps:
  - stimuli:
      - cell: cell0
        epochs:
          - {duration_s: 0.1, sine: {offset: 5, amplitude: 20, frequency_hz: 10, phase_deg: 90}}
          - {duration_s: 0.1, noise: {mean: 1, sd: 2, tau_ms: 3, seed: 9}}
          - {duration_s: 0.1, wait: {}}
)"));
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_EQ(p->sweeps.size(), 4u);  // the explicit sweep, then the family
  const auto& e = p->sweeps[0].stimuli[0].epochs;
  EXPECT_EQ(e[0].shape, rt::EpochSpec::Shape::kSine);
  EXPECT_EQ(e[0].frequency_hz, 10);
  EXPECT_EQ(e[0].phase_deg, 90);
  EXPECT_EQ(e[1].shape, rt::EpochSpec::Shape::kNoise);
  EXPECT_EQ(e[1].seed, 9u);
  EXPECT_EQ(e[1].tau_ms, 3);
  EXPECT_EQ(e[2].shape, rt::EpochSpec::Shape::kWait);
  EXPECT_EQ(p->sweeps[2].stimuli[0].cell, "cell1");
  EXPECT_EQ(p->sweeps[2].stimuli[0].epochs[1].level, -50);
}

TEST(ProtocolLoweringTest, BadProtocolsNameTheField) {
  const std::pair<const char*, const char*> cases[] = {
      {"name: empty", "sweeps: a protocol needs sweeps or a family"},
      {"fi_curve: {cell: c, start_pa: 0, stop_pa: 100, step_pa: 0, pre_s: 1, "
       "step_s: 1, post_s: 1}",
       "fi_curve.step_pa: must not be 0"},
      {"fi_curve: {cell: c, start_pa: 0, stop_pa: 100, step_pa: -10, pre_s: "
       "1, step_s: 1, post_s: 1}",
       "fi_curve.step_pa: goes away from stop_pa"},
      {"fi_curve: {cell: c, start_pa: 0, stop_pa: 100, step_pa: 10, pre_s: "
       "1, step_s: 0, post_s: 1}",
       "fi_curve.step_s: must be > 0 s"},
      {"sweeps: [{stimuli: [{cell: c, epochs: [{duration_s: -1, hold: "
       "{value: 1}}]}]}]",
       "sweeps[0].stimuli[0].epochs[0].duration_s: must be > 0 s"},
      {"sweeps: [{stimuli: [{cell: c, epochs: [{duration_s: 1}]}]}]",
       "sweeps[0].stimuli[0].epochs[0]: choose one shape"},
      {"sweeps: [{stimuli: [{epochs: [{duration_s: 1, wait: {}}]}]}]",
       "sweeps[0].stimuli[0]: give a target"},
      {"sweeps: [{stimuli: []}]", "sweeps[0].stimuli: a sweep needs"},
      {"titration: {parameter: g.g_ns, values: []}", "titration.values"},
      {"interval_s: -1\nsweeps: [{stimuli: [{cell: c, epochs: [{duration_s: "
       "1, wait: {}}]}]}]",
       "interval_s: must be >= 0 s"},
      // Once accepted, or refused naming an engine field.
      {"sweeps: [{stimuli: [{cell: c, epochs: [{duration_s: 1, wait: {}}, "
       "{duration_s: 1e300, wait: {}}]}]}]",
       "sweeps[0].stimuli[0].epochs[1].duration_s: must be > 0 s and at "
       "most 1e+06 s, got 1e+300"},
      {"qc: {max_step_us: .nan}\nsweeps: [{stimuli: [{cell: c, epochs: "
       "[{duration_s: 1, wait: {}}]}]}]",
       "qc.max_step_us: must be a finite number >= 0"},
      {"qc: {max_latency_fraction: .inf}\nsweeps: [{stimuli: [{cell: c, "
       "epochs: [{duration_s: 1, wait: {}}]}]}]",
       "qc.max_latency_fraction: must be a finite number >= 0"},
  };
  for (const auto& [yaml, expected] : cases) {
    const auto p = LowerProtocol(Parse(yaml));
    ASSERT_FALSE(p.ok()) << yaml;
    EXPECT_NE(p.status().message().find(expected), std::string::npos)
        << yaml << "\n  -> " << p.status();
  }
}

}  // namespace
}  // namespace dynclamp::server
