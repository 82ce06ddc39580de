// Helpers for tests: a configured simulated rig, an engine on it, and a way
// to run cycles on the test thread while collecting every frame.
#ifndef DYNCLAMP_TESTS_RT_ENGINE_TEST_RIG_H_
#define DYNCLAMP_TESTS_RT_ENGINE_TEST_RIG_H_

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "rt_engine/daq/sim/sim_rig.h"
#include "rt_engine/loop/clamp_engine.h"
#include "rt_engine/models/channel_presets.h"

namespace dynclamp::rt::testing {

// The default limit, 100 nA, is what a +-10 V converter reaches at 10 nA/V.
inline DaqConfig ChannelsFor(std::size_t n, double limit_pa = 1e5) {
  DaqConfig d;
  for (std::size_t i = 0; i < n; ++i) {
    DaqChannelConfig c;
    c.name = "cell" + std::to_string(i);
    c.current_limit_pa = limit_pa;
    // 10 nA/V: the ideal rig's +-100 V DAC reaches +-1 uA, enough for a
    // full-density Na+ knock-in on a 100 pF cell (peaks near 80 nA).
    c.output_gain_pa_per_v = 1e4;
    d.channels.push_back(c);
  }
  return d;
}

// An ideal rig (no quantization, no noise) unless the caller changes it.
inline SimRigConfig IdealSim(std::vector<SimCellConfig> cells) {
  SimRigConfig s;
  s.cells = std::move(cells);
  s.adc_bits = 0;
  s.dac_bits = 0;
  s.adc_range_v = 100;
  s.dac_range_v = 100;
  return s;
}

// Upward crossings of `threshold_mv` in a trace sampled every dt_ms (the
// time of the first sample at or above it).
inline std::vector<double> SpikeTimes(const std::vector<double>& v,
                                      double dt_ms, double threshold_mv = 0.0) {
  std::vector<double> t;
  for (std::size_t k = 1; k < v.size(); ++k)
    if (v[k - 1] < threshold_mv && v[k] >= threshold_mv) t.push_back(k * dt_ms);
  return t;
}

struct Bench {
  std::unique_ptr<SimRig> rig;
  std::unique_ptr<ClampEngine> engine;
  int64_t t_ns = 0;
  // V and I of cell 0 for every cycle run through Run().
  std::vector<double> v, i;

  void Run(int64_t cycles) {
    const int64_t period = engine->config().period_ns;
    FrameHeader h;
    std::vector<double> values(engine->frames().values_per_frame());
    for (int64_t k = 0; k < cycles; ++k) {
      t_ns += period;
      engine->RunCycle(t_ns, t_ns, period);
      while (engine->frames().TryPop(h, values)) {
        v.push_back(values[0]);
        i.push_back(values[engine->num_cells()]);
      }
    }
  }
  // Spike times (ms) of cell 0: upward crossings of `threshold_mv`.
  std::vector<double> SpikeTimesMs(double threshold_mv = 0.0) const {
    return SpikeTimes(v, engine->config().period_ns * 1e-6, threshold_mv);
  }
};

inline Bench MakeBench(SimRigConfig sim, int64_t period_ns = 25'000,
                       double limit_pa = 1e6, std::size_t ring = 1 << 12) {
  Bench b;
  const std::size_t n = sim.cells.size();
  b.rig = std::make_unique<SimRig>(std::move(sim));
  EXPECT_TRUE(b.rig->Configure(ChannelsFor(n, limit_pa)).ok());
  EXPECT_TRUE(b.rig->Prepare(period_ns).ok());
  ClampEngineConfig ec;
  ec.period_ns = period_ns;
  ec.ring_capacity_frames = ring;
  auto engine = ClampEngine::Create(*b.rig, ec);
  EXPECT_TRUE(engine.ok()) << engine.status();
  b.engine = *std::move(engine);
  return b;
}

inline ConductanceSpec Preset(const std::string& name,
                              const std::string& preset, int cell = 0) {
  auto c = PresetConductance(name, preset, cell);
  EXPECT_TRUE(c.ok()) << c.status();
  return *c;
}

}  // namespace dynclamp::rt::testing

#endif  // DYNCLAMP_TESTS_RT_ENGINE_TEST_RIG_H_
