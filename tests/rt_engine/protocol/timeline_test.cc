#include "rt_engine/protocol/timeline.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <map>
#include <numbers>

#include "rt_engine/handoff/frame.h"

namespace dynclamp::rt {
namespace {

constexpr double kDt = 0.05;  // ms

EpochSpec Hold(double ms, double level) {
  EpochSpec e;
  e.duration_ms = ms;
  e.level = level;
  return e;
}

StimulusSpec Current(const std::string& cell, std::vector<EpochSpec> epochs) {
  StimulusSpec s;
  s.cell = cell;
  s.epochs = std::move(epochs);
  return s;
}

StimulusSpec Param(const std::string& path, std::vector<EpochSpec> epochs) {
  StimulusSpec s;
  s.parameter = path;
  s.epochs = std::move(epochs);
  return s;
}

const std::vector<std::string> kCells = {"cell0", "cell1"};

// A model set with one constant conductance "leak" on cell0.
std::unique_ptr<ModelSet> LeakSet(double g_ns = 5) {
  ModelSetSpec spec;
  ConductanceSpec c;
  c.name = "leak";
  c.cell = 0;
  ConstantConductance::Params p;
  p.g_ns = g_ns;
  p.e_rev_mv = -70;
  c.model = p;
  spec.conductances = {c};
  ModelSet::Config config;
  config.dt_ms = kDt;
  config.cell_names = kCells;
  config.generation = 3;
  return *ModelSet::Prepare(spec, config);
}

struct Played {
  std::vector<double> current0;
  std::vector<TimelineTick> ticks;
};

// Plays `cycles` cycles (command at cycle k from `commands`).
Played Play(Timeline& t, int cycles, ModelSet* set = nullptr,
            std::map<int, PlayerCommand> commands = {}) {
  Played p;
  for (int k = 0; k < cycles; ++k) {
    const auto it = commands.find(k);
    p.ticks.push_back(
        t.Begin(set, it == commands.end() ? PlayerCommand::kNone : it->second));
    p.current0.push_back(t.stimulus()[0]);
  }
  return p;
}

TEST(TimelineTest, StepSweepsWithIntervalsPlaySampleExactly) {
  ProtocolSpec spec;
  SweepSpec sweep;
  sweep.stimuli = {
      Current("cell0", {Hold(0.5, 0), Hold(1.0, 100), Hold(0.5, -10)})};
  spec.sweeps = {sweep};
  spec.repetitions = 3;
  spec.interval_ms = 0.25;  // 5 samples
  auto t = *Timeline::Compile(spec, kCells, nullptr, kDt);
  EXPECT_EQ(t->sweeps_to_play(), 3u);
  EXPECT_EQ(t->sweep_samples(0), 40);
  EXPECT_EQ(t->total_samples(), 3 * 40 + 2 * 5);

  const Played p = Play(*t, 3 * 40 + 2 * 5 + 3);
  int recorded = 0;
  for (int sweep = 0; sweep < 3; ++sweep) {
    const int first = sweep * 45;
    EXPECT_EQ(p.ticks[first].flags, uint32_t{kFrameSweepStart});
    EXPECT_EQ(p.ticks[first + 39].flags, uint32_t{kFrameSweepEnd});
    for (int k = 0; k < 40; ++k) {
      const TimelineTick& tick = p.ticks[first + k];
      ASSERT_EQ(tick.sweep, static_cast<uint32_t>(sweep + 1));
      ASSERT_EQ(tick.sample, k);
      const double want = k < 10 ? 0 : k < 30 ? 100 : -10;
      ASSERT_EQ(p.current0[first + k], want) << "sweep " << sweep << " " << k;
      ++recorded;
    }
    if (sweep < 2) {
      for (int k = 40; k < 45; ++k) {
        EXPECT_EQ(p.ticks[first + k].sweep, 0u);  // resting: not in a sweep
        EXPECT_EQ(p.current0[first + k], 0.0);
      }
    }
  }
  EXPECT_EQ(recorded, 120);
  EXPECT_EQ(t->state(), PlayerState::kDone);
  EXPECT_EQ(t->sweeps_completed(), 3u);
  EXPECT_EQ(p.current0.back(), 0.0);
}

// Slots the loop skips after an overrun pass for the protocol too: every
// cycle that does run plays what the protocol holds at its slot, across
// epoch, sweep and rest boundaries, and a parameter change due in a skipped
// slot takes effect at the next cycle.
TEST(TimelineTest, SkippedSlotsKeepTheScheduleTime) {
  ProtocolSpec spec;
  SweepSpec sweep;
  sweep.stimuli = {
      Current("cell0", {Hold(0.5, 0), Hold(1.0, 100), Hold(0.5, -10)}),
      Param("leak.g_ns", {Hold(0.5, 1), Hold(1.5, 7)})};
  spec.sweeps = {sweep};
  spec.repetitions = 3;
  spec.interval_ms = 0.25;  // 5 samples
  auto ref_set = LeakSet(5.0);
  auto ref = *Timeline::Compile(spec, kCells, ref_set.get(), kDt);
  const ParamUpdate g = *ref_set->ResolveParam("leak.g_ns", 0);
  const int slots = 3 * 40 + 2 * 5 + 3;
  std::vector<TimelineTick> want_tick;
  std::vector<double> want_i, want_g;
  for (int k = 0; k < slots; ++k) {
    want_tick.push_back(ref->Begin(ref_set.get(), PlayerCommand::kNone));
    want_i.push_back(ref->stimulus()[0]);
    want_g.push_back(ref_set->Read(g));
  }

  auto set = LeakSet(5.0);
  auto t = *Timeline::Compile(spec, kCells, set.get(), kDt);
  // Skips: inside an epoch, over a change (sample 10), over a sweep's end
  // and the rest into the next sweep (slots 38..47), and over a whole rest
  // and a sweep's start.
  const std::map<int, int> skip_before = {{3, 4}, {8, 5}, {38, 10}, {84, 8}};
  int slot = 0, cycles = 0;
  while (slot < slots) {
    const auto it = skip_before.find(slot);
    const int skipped = it == skip_before.end() ? 0 : it->second;
    slot += skipped;
    if (slot >= slots) break;
    const TimelineTick tick =
        t->Begin(set.get(), PlayerCommand::kNone, cycles == 0 ? 0 : skipped);
    ++cycles;
    ASSERT_EQ(tick.sweep, want_tick[slot].sweep) << "slot " << slot;
    ASSERT_EQ(tick.sample, want_tick[slot].sample) << "slot " << slot;
    ASSERT_EQ(t->stimulus()[0], want_i[slot]) << "slot " << slot;
    ASSERT_EQ(set->Read(g), want_g[slot]) << "slot " << slot;
    ++slot;
  }
  EXPECT_EQ(cycles, slots - 4 - 5 - 10 - 8);
  EXPECT_EQ(t->state(), PlayerState::kDone);
  EXPECT_EQ(t->sweeps_completed(), 3u);
  EXPECT_EQ(set->Read(g), 5.0);  // restored at the end
}

TEST(TimelineTest, RampSineAndNoiseFollowTheirFormulas) {
  ProtocolSpec spec;
  EpochSpec ramp = Hold(1.0, -50);
  ramp.shape = EpochSpec::Shape::kRamp;
  ramp.level_end = 150;
  EpochSpec sine = Hold(2.0, 10);
  sine.shape = EpochSpec::Shape::kSine;
  sine.amplitude = 30;
  sine.frequency_hz = 1000;
  sine.phase_deg = 90;
  EpochSpec noise = Hold(500.0, 20);
  noise.shape = EpochSpec::Shape::kNoise;
  noise.amplitude = 15;
  noise.seed = 42;
  SweepSpec sweep;
  sweep.stimuli = {Current("cell0", {ramp, sine, noise})};
  spec.sweeps = {sweep};
  auto t = *Timeline::Compile(spec, kCells, nullptr, kDt);
  const Played p = Play(*t, 20 + 40 + 10000);
  for (int k = 0; k < 20; ++k)
    EXPECT_DOUBLE_EQ(p.current0[k], -50 + 200 * k / 20.0);
  for (int k = 0; k < 40; ++k) {
    const double t_s = k * kDt * 1e-3;
    EXPECT_NEAR(p.current0[20 + k],
                10 + 30 * std::sin(2 * std::numbers::pi * 1000 * t_s +
                                   std::numbers::pi / 2),
                1e-9);
  }
  double sum = 0, sum2 = 0;
  for (int k = 60; k < 10060; ++k) {
    sum += p.current0[k];
    sum2 += p.current0[k] * p.current0[k];
  }
  const double mean = sum / 10000, sd = std::sqrt(sum2 / 10000 - mean * mean);
  EXPECT_NEAR(mean, 20, 0.5);
  EXPECT_NEAR(sd, 15, 0.5);
  // Seeded: the same protocol gives the same noise.
  auto again = *Timeline::Compile(spec, kCells, nullptr, kDt);
  const Played q = Play(*again, 10060);
  EXPECT_EQ(p.current0, q.current0);
}

TEST(TimelineTest, ParameterRampIsAppliedAndRestoredAfterTheProtocol) {
  auto set = LeakSet(5.0);
  ProtocolSpec spec;
  EpochSpec ramp = Hold(1.0, 0);
  ramp.shape = EpochSpec::Shape::kRamp;
  ramp.level_end = 20;
  SweepSpec sweep;
  sweep.stimuli = {Param("leak.g_ns", {Hold(0.5, 0), ramp})};
  spec.sweeps = {sweep};
  auto t = *Timeline::Compile(spec, kCells, set.get(), kDt);
  const ParamUpdate g = *set->ResolveParam("leak.g_ns", 0);
  for (int k = 0; k < 30; ++k) {
    t->Begin(set.get(), PlayerCommand::kNone);
    const double want = k < 10 ? 0.0 : 20.0 * (k - 10) / 20.0;
    ASSERT_DOUBLE_EQ(set->Read(g), want) << k;
  }
  t->Begin(set.get(), PlayerCommand::kNone);
  EXPECT_EQ(t->state(), PlayerState::kDone);
  EXPECT_EQ(set->Read(g), 5.0);  // as before the protocol
}

TEST(TimelineTest, PauseNowCutsTheSweepAndResumePlaysItAgain) {
  auto set = LeakSet(5.0);
  ProtocolSpec spec;
  SweepSpec sweep;
  sweep.stimuli = {Current("cell0", {Hold(1.0, 50)}),
                   Param("leak.g_ns", {Hold(1.0, 12)})};
  spec.sweeps = {sweep, sweep};
  auto t = *Timeline::Compile(spec, kCells, set.get(), kDt);
  const ParamUpdate g = *set->ResolveParam("leak.g_ns", 0);
  const Played p = Play(*t, 80, set.get(),
                        {{5, PlayerCommand::kPauseNow},
                         {9, PlayerCommand::kResume},
                         {12, PlayerCommand::kPauseAfterSweep},
                         {40, PlayerCommand::kResume},
                         {45, PlayerCommand::kAbort}});
  EXPECT_EQ(p.ticks[5].flags, uint32_t{kFrameSweepCut});
  EXPECT_EQ(p.ticks[5].sweep, 1u);
  EXPECT_EQ(p.current0[5], 0.0);  // paused: nothing injected
  EXPECT_EQ(p.ticks[8].sweep, 0u);
  // Resumed: the first protocol sweep again, as recorded sweep 2.
  EXPECT_EQ(p.ticks[9].sweep, 2u);
  EXPECT_EQ(p.ticks[9].sample, 0);
  EXPECT_EQ(p.current0[9], 50.0);
  // Paused after that sweep (samples 9..28), nothing until resumed at 40.
  EXPECT_EQ(p.ticks[28].flags, uint32_t{kFrameSweepEnd});
  EXPECT_EQ(p.ticks[29].sweep, 0u);
  EXPECT_EQ(p.current0[35], 0.0);
  EXPECT_EQ(p.ticks[40].sweep, 3u);
  EXPECT_EQ(p.ticks[45].flags, uint32_t{kFrameSweepCut});
  EXPECT_EQ(t->state(), PlayerState::kAborted);
  EXPECT_EQ(t->sweeps_completed(), 1u);
  EXPECT_EQ(t->sweeps_started(), 3u);
  EXPECT_EQ(set->Read(g), 5.0);
  EXPECT_EQ(p.current0.back(), 0.0);
}

struct BadCase {
  const char* what;
  std::function<void(ProtocolSpec&)> edit;
  const char* expected;  // in the message
};

TEST(TimelineTest, BadProtocolsAreRefusedWithPathAndReason) {
  auto set = LeakSet();
  const std::vector<BadCase> cases = {
      {"unknown cell",
       [](ProtocolSpec& p) { p.sweeps[0].stimuli[0].cell = "cell9"; },
       "sweeps[0].stimuli[0].cell: 'cell9' is not a recorded cell"},
      {"unknown parameter",
       [](ProtocolSpec& p) {
         p.sweeps[0].stimuli.push_back(Param("nav.g_ns", {Hold(1, 1)}));
       },
       "sweeps[0].stimuli[1].parameter"},
      {"out of range",
       [](ProtocolSpec& p) {
         p.sweeps[0].stimuli.push_back(Param("leak.g_ns", {Hold(1, 2e6)}));
       },
       "sweeps[0].stimuli[1].parameter"},
      {"zero duration",
       [](ProtocolSpec& p) {
         p.sweeps[0].stimuli[0].epochs[0].duration_ms = 0;
       },
       "sweeps[0].stimuli[0].epochs[0].duration_ms: must be > 0"},
      {"shorter than a step",
       [](ProtocolSpec& p) {
         p.sweeps[0].stimuli[0].epochs[0].duration_ms = 0.01;
       },
       "shorter than one step"},
      {"twice the same parameter",
       [](ProtocolSpec& p) {
         p.sweeps[0].stimuli.push_back(Param("leak.g_ns", {Hold(1, 1)}));
         p.sweeps[0].stimuli.push_back(Param("leak.g_ns", {Hold(1, 2)}));
       },
       "already driven by stimuli[1]"},
      {"sine above Nyquist",
       [](ProtocolSpec& p) {
         EpochSpec& e = p.sweeps[0].stimuli[0].epochs[0];
         e.shape = EpochSpec::Shape::kSine;
         e.frequency_hz = 20000;
       },
       "frequency_hz: must be in (0, 10000) Hz"},
      {"no repetitions", [](ProtocolSpec& p) { p.repetitions = 0; },
       "repetitions: must be >= 1"},
      {"no target",
       [](ProtocolSpec& p) { p.sweeps[0].stimuli[0].cell.clear(); },
       "give exactly one target"},
      {"absurd current",
       [](ProtocolSpec& p) { p.sweeps[0].stimuli[0].epochs[0].level = 1e9; },
       "currents are limited"},
  };
  for (const BadCase& c : cases) {
    ProtocolSpec spec;
    SweepSpec sweep;
    sweep.stimuli = {Current("cell0", {Hold(1, 10)})};
    spec.sweeps = {sweep};
    c.edit(spec);
    const auto t = Timeline::Compile(spec, kCells, set.get(), kDt);
    ASSERT_FALSE(t.ok()) << c.what;
    EXPECT_NE(t.status().message().find(c.expected), std::string::npos)
        << c.what << ": " << t.status();
  }
}

TEST(TimelineTest, CompiledSizeIsCappedBeforeAllocating) {
  ProtocolSpec spec;
  EpochSpec noise = Hold(60'000, 0);  // a minute of per-sample noise
  noise.shape = EpochSpec::Shape::kNoise;
  noise.amplitude = 1;
  SweepSpec sweep;
  sweep.stimuli = {Current("cell0", {noise})};
  spec.sweeps = {sweep};
  TimelineLimits limits;
  limits.max_bytes = 1 << 20;
  const auto t = Timeline::Compile(spec, kCells, nullptr, kDt, limits);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(t.status().message().find("more than the cap of 1.0 MiB"),
            std::string::npos)
      << t.status();
}

}  // namespace
}  // namespace dynclamp::rt
