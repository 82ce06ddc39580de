#include "rt_engine/network/spike_detectors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace dynclamp::rt {
namespace {

constexpr double kDt = 0.1;

struct Fired {
  uint32_t source;
  double t_ms;
};

// Steps V through `trace` on every watched cell (cell c gets trace shifted
// by c steps) and returns what fired at each step.
std::vector<std::vector<Fired>> StepThrough(SpikeDetectors& d,
                                            const std::vector<uint32_t>& cells,
                                            const std::vector<double>& trace,
                                            std::size_t n_cells) {
  std::vector<double> v(n_cells, trace[0]), v_prev = v;
  d.Arm(v);
  std::vector<std::vector<Fired>> out;
  for (std::size_t k = 1; k < trace.size() + cells.size(); ++k) {
    v_prev = v;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t at = k >= i ? k - i : 0;
      v[cells[i]] = trace[std::min(at, trace.size() - 1)];
    }
    std::vector<Fired> step;
    for (const auto& c : d.Detect(v_prev, v, k * kDt, kDt))
      step.push_back({c.source, c.t_ms});
    out.push_back(step);
  }
  return out;
}

// Fires once per upward crossing, at the interpolated time; not again
// until V has fallen below threshold - hysteresis; NaN fires nothing.
// Consecutive cells (plain loads) and scattered ones (gathers) agree.
TEST(SpikeDetectorsTest, FiresOnUpwardCrossingsWithHysteresis) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  // Threshold -20, hysteresis 10: up through -20 (fires), wobbles that
  // stay above -30 (no second spike), down to -35 (re-arms), up again
  // (fires), NaN (nothing).
  const std::vector<double> trace = {-60, -30, -10, 0,   -25, -15, -28,
                                     -5,  -35, -40, -19, nan, -50, nan};
  for (const std::vector<uint32_t>& cells :
       {std::vector<uint32_t>{3, 4, 5}, std::vector<uint32_t>{7, 1, 4}}) {
    std::vector<SpikeDetectors::Spec> specs;
    for (std::size_t i = 0; i < cells.size(); ++i)
      specs.push_back({cells[i], -20.0, 10.0, static_cast<uint32_t>(10 + i)});
    SpikeDetectors detectors(specs);
    const auto fired = StepThrough(detectors, cells, trace, 8);
    for (std::size_t i = 0; i < cells.size(); ++i) {
      std::vector<double> times;
      for (const auto& step : fired)
        for (const Fired& f : step)
          if (f.source == 10 + i) times.push_back(f.t_ms);
      // Crossings: step 2 (-30 -> -10, halfway) and step 10 (-40 -> -19,
      // 20/21 of the way), shifted by i steps.
      ASSERT_EQ(times.size(), 2u) << "cell " << cells[i];
      EXPECT_NEAR(times[0], (1 + i) * kDt + 0.5 * kDt, 1e-12);
      EXPECT_NEAR(times[1], (9 + i) * kDt + 20.0 / 21.0 * kDt, 1e-12);
    }
    // In a step where several fire, they come in cell order.
    for (const auto& step : fired)
      for (std::size_t k = 1; k < step.size(); ++k)
        EXPECT_LT(specs[step[k - 1].source - 10].cell,
                  specs[step[k].source - 10].cell);
  }
}

// Armed from the V at start: a cell already above threshold fires only
// after it has fallen below threshold - hysteresis and risen again.
TEST(SpikeDetectorsTest, ArmsFromTheStartingV) {
  SpikeDetectors detectors({{0, -20.0, 10.0, 1}});
  std::vector<double> v = {0.0}, v_prev = v;
  detectors.Arm(v);
  const double path[] = {5, -25, -10, -31, -10};
  std::vector<double> fired_at;
  for (int k = 0; k < 5; ++k) {
    v_prev = v;
    v[0] = path[k];
    for (const auto& c : detectors.Detect(v_prev, v, (k + 1) * kDt, kDt))
      fired_at.push_back(c.t_ms);
  }
  ASSERT_EQ(fired_at.size(), 1u);
  EXPECT_GT(fired_at[0], 4 * kDt);
}

}  // namespace
}  // namespace dynclamp::rt
