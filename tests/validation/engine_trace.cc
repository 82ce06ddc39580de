// engine_trace: runs one experiment through the clamp engine on the
// simulated rig (nominal clock, ideal converters) and prints "t_ms,v_mv" per
// cycle, for the validation scripts that compare it with NEURON.
//
//   engine_trace --cell=hh|ca1|passive|hh_passive [--block=na,...]
//                [--clamp=hh_na,hh_k,...] [--integrator=exp_euler|rk4|
//                forward_euler] [--synapse=G,E,RISE,DECAY,ONSET]
//                --i_pa=1000 --duration_ms=100 --period_us=10
//
// hh_passive is a passive cell with the HH leak, to which the clamp adds the
// HH channels.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "rt_engine/daq/sim/sim_rig.h"
#include "rt_engine/loop/clamp_engine.h"

ABSL_FLAG(std::string, cell, "hh",
          "simulated cell: hh, ca1, passive, hh_passive");
ABSL_FLAG(std::vector<std::string>, block, {},
          "channels removed from the cell");
ABSL_FLAG(std::vector<std::string>, clamp, {}, "presets the clamp adds");
ABSL_FLAG(std::string, integrator, "exp_euler",
          "exp_euler, rk4, forward_euler");
ABSL_FLAG(std::vector<std::string>, synapse, {},
          "a triggered ligand-gated conductance the clamp adds: g_max_ns,"
          "e_rev_mv,tau_rise_ms,tau_decay_ms,onset_ms");
ABSL_FLAG(double, i_pa, 1000.0, "steady injected current (pA)");
ABSL_FLAG(double, duration_ms, 100.0, "simulated time");
ABSL_FLAG(double, period_us, 10.0, "clamp period");

using namespace dynclamp::rt;

namespace {
int Fail(const absl::Status& s) {
  std::fprintf(stderr, "%s\n", s.ToString().c_str());
  return 1;
}
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  SimCellConfig cell;
  cell.bias_pa = absl::GetFlag(FLAGS_i_pa);
  cell.blocked = absl::GetFlag(FLAGS_block);
  const std::string kind = absl::GetFlag(FLAGS_cell);
  if (kind == "hh") {
    cell.model = SimCellConfig::Model::kHh;
  } else if (kind == "ca1") {
    cell.model = SimCellConfig::Model::kCa1;
  } else if (kind == "passive") {
    cell.model = SimCellConfig::Model::kPassive;
  } else if (kind == "hh_passive") {
    cell.leak_g_ns = 30.0;
    cell.leak_e_mv = -54.387;
  } else {
    return Fail(absl::InvalidArgumentError("--cell: unknown " + kind));
  }
  Integrator integrator = Integrator::kExpEuler;
  const std::string method = absl::GetFlag(FLAGS_integrator);
  if (method == "rk4")
    integrator = Integrator::kRk4;
  else if (method == "forward_euler")
    integrator = Integrator::kForwardEuler;
  else if (method != "exp_euler")
    return Fail(absl::InvalidArgumentError("--integrator: unknown " + method));
  ModelSetSpec spec;
  for (const std::string& preset : absl::GetFlag(FLAGS_clamp)) {
    auto c = PresetConductance(preset, preset, 0, integrator);
    if (!c.ok()) return Fail(c.status());
    spec.conductances.push_back(*c);
  }
  if (const auto syn = absl::GetFlag(FLAGS_synapse); !syn.empty()) {
    double x[5];
    if (syn.size() != 5) return Fail(absl::InvalidArgumentError("--synapse"));
    for (int k = 0; k < 5; ++k) {
      if (!absl::SimpleAtod(syn[k], &x[k]))
        return Fail(absl::InvalidArgumentError("--synapse: " + syn[k]));
    }
    LigandGated::Params p;
    p.g_max_ns = x[0];
    p.e_rev_mv = x[1];
    p.tau_rise_ms = x[2];
    p.tau_decay_ms = x[3];
    p.onset_ms = x[4];
    ConductanceSpec c;
    c.name = "syn";
    c.model = p;
    spec.conductances.push_back(c);
  }

  SimRigConfig sim;
  sim.cells = {cell};
  sim.adc_bits = sim.dac_bits = 0;
  sim.adc_range_v = sim.dac_range_v = 100;
  SimRig rig(sim);
  DaqConfig daq;
  daq.channels = {{"cell0", 100.0, 1e4, 1e6}};  // +-1 uA: never clips here
  const int64_t period_ns =
      static_cast<int64_t>(absl::GetFlag(FLAGS_period_us) * 1e3);
  if (auto s = rig.Configure(daq); !s.ok()) return Fail(s);
  if (auto s = rig.Prepare(period_ns); !s.ok()) return Fail(s);
  ClampEngineConfig ec;
  ec.period_ns = period_ns;
  auto engine = ClampEngine::Create(rig, ec);
  if (!engine.ok()) return Fail(engine.status());
  if (!spec.conductances.empty()) {
    if (auto g = (*engine)->LoadModelSet(spec); !g.ok())
      return Fail(g.status());
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
      // The cycle's V is sampled after the cells advanced one period.
      std::printf("%.6f,%.6f\n", (h.cycle + 1) * dt_ms, values[0]);
    }
  }
  return 0;
}
