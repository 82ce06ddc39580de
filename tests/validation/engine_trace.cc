// engine_trace: runs one scenario through the clamp engine on the simulated
// rig (nominal clock, ideal converters) and prints "t_ms,v_mv" per cycle, for
// the validation scripts that compare it with NEURON.
//
//   engine_trace --scenario=sim_hh|clamp_hh|sim_passive|clamp_hh_rk4
//                --i_pa=1000 --duration_ms=100 --period_us=10
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "rt_engine/clamp_engine.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/sim_rig.h"

ABSL_FLAG(std::string, scenario, "sim_hh", "what to run");
ABSL_FLAG(double, i_pa, 1000.0, "steady injected current (pA)");
ABSL_FLAG(double, duration_ms, 100.0, "simulated time");
ABSL_FLAG(double, period_us, 10.0, "clamp period");

using namespace dynclamp::rt;

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string scenario = absl::GetFlag(FLAGS_scenario);
  SimCellConfig cell;
  cell.bias_pa = absl::GetFlag(FLAGS_i_pa);
  ModelSetSpec spec;
  auto add = [&](const char* name, const char* preset, Integrator integrator) {
    spec.conductances.push_back(
        *PresetConductance(name, preset, 0, integrator));
  };
  if (scenario == "sim_hh") {
    cell.model = SimCellConfig::Model::kHh;
  } else if (scenario == "sim_passive") {
    cell.model = SimCellConfig::Model::kPassive;
  } else if (scenario == "clamp_hh" || scenario == "clamp_hh_rk4") {
    // A passive cell with the HH leak; Na and K come from the clamp.
    cell.leak_g_ns = 30.0;
    cell.leak_e_mv = -54.387;
    cell.v_init_mv = -65.0;
    const Integrator integrator =
        scenario == "clamp_hh" ? Integrator::kExpEuler : Integrator::kRk4;
    add("na", "hh_na", integrator);
    add("k", "hh_k", integrator);
  } else {
    std::fprintf(stderr, "unknown scenario %s\n", scenario.c_str());
    return 2;
  }
  SimRigConfig sim;
  sim.cells = {cell};
  sim.adc_bits = sim.dac_bits = 0;
  sim.adc_range_v = sim.dac_range_v = 100;
  SimRig rig(sim);
  DaqConfig daq;
  daq.channels = {{"cell0", 100.0, 1e4, 1e6}};
  const int64_t period_ns =
      static_cast<int64_t>(absl::GetFlag(FLAGS_period_us) * 1e3);
  if (auto s = rig.Configure(daq); !s.ok())
    return std::fprintf(stderr, "%s\n", s.ToString().c_str()), 1;
  if (auto s = rig.Prepare(period_ns); !s.ok()) return 1;
  ClampEngineConfig ec;
  ec.period_ns = period_ns;
  auto engine = ClampEngine::Create(rig, ec);
  if (!engine.ok())
    return std::fprintf(stderr, "%s\n", engine.status().ToString().c_str()), 1;
  if (!spec.conductances.empty()) {
    if (auto g = (*engine)->LoadModelSet(spec); !g.ok()) return 1;
  }
  const int64_t cycles =
      static_cast<int64_t>(absl::GetFlag(FLAGS_duration_ms) * 1e6 / period_ns);
  FrameHeader h;
  std::vector<double> values((*engine)->frames().values_per_frame());
  const double dt_ms = period_ns * 1e-6;
  std::printf("t_ms,v_mv\n");
  for (int64_t k = 0; k < cycles; ++k) {
    (*engine)->RunCycle(k * period_ns, k * period_ns, period_ns);
    while ((*engine)->frames().TryPop(h, values)) {
      // The frame's V was sampled at the end of the cycle's step.
      std::printf("%.6f,%.6f\n", (h.cycle + 1) * dt_ms, values[0]);
    }
  }
  return 0;
}
