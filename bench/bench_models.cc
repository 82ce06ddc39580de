// ns per clamp step of the conductance library.
//
//   (a) Na + K + leak on one cell, each integrator, and the same channels
//       with their rates evaluated directly (exp() each step, no tables) as
//       the in-process reference the table design is measured against;
//   (b) 1, 8 and 64 cells, each with Na + K + leak;
//   (c) N HH channel instances (N up to 1000) to show the cost is linear.
//
// V follows a recorded HH action potential so table lookups move across the
// range as they do in a real spike train.
//
// Run: build/bin/bench_models --benchmark_repetitions=9
//        --benchmark_report_aggregates_only=true [--benchmark_format=json]
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include "rt_engine/daq/sim/sim_cell.h"
#include "rt_engine/model_set.h"
#include "rt_engine/models/channel_presets.h"

namespace dynclamp::rt {
namespace {

constexpr double kDtMs = 0.02;

ConductanceSpec Preset(const std::string& name, const char* preset, int cell,
                       Integrator integrator) {
  return *PresetConductance(name, preset, cell, integrator);
}

// One period of repetitive HH firing, sampled at kDtMs.
const std::vector<double>& SpikeTrace() {
  static const std::vector<double> trace = [] {
    SimCellConfig cfg;
    cfg.model = SimCellConfig::Model::kHh;
    cfg.bias_pa = 1000;
    SimCell cell = *SimCell::Create(cfg, "bench");
    std::vector<double> v;
    for (int k = 0; k < 1000; ++k) {  // 20 ms: a bit more than one ISI
      cell.Advance(kDtMs, 4, 0.0);
      v.push_back(cell.v_mv());
    }
    return v;
  }();
  return trace;
}

std::unique_ptr<ModelSet> Prepare(int cells, int channels_per_cell_group,
                                  Integrator integrator) {
  ModelSetSpec spec;
  for (int c = 0; c < cells; ++c) {
    for (int g = 0; g < channels_per_cell_group; ++g) {
      const std::string s = std::to_string(c) + "_" + std::to_string(g);
      spec.conductances.push_back(Preset("na" + s, "hh_na", c, integrator));
      spec.conductances.push_back(Preset("k" + s, "hh_k", c, integrator));
      spec.conductances.push_back(Preset("leak" + s, "hh_leak", c, integrator));
    }
  }
  ModelSet::Config cfg;
  cfg.dt_ms = kDtMs;
  for (int c = 0; c < cells; ++c)
    cfg.cell_names.push_back("cell" + std::to_string(c));
  cfg.max_signals = 4096;
  return *ModelSet::Prepare(spec, cfg);
}

void RunSteps(benchmark::State& state, ModelSet& set, int cells) {
  const auto& trace = SpikeTrace();
  std::vector<double> v(cells), i(cells);
  std::size_t k = 0;
  for (auto _ : state) {
    const double vm = trace[k];
    for (int c = 0; c < cells; ++c) v[c] = vm;
    set.Step(v, i);
    benchmark::DoNotOptimize(i.data());
    if (++k == trace.size()) k = 0;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_OneCellNaKLeak(benchmark::State& state) {
  const auto integrator = static_cast<Integrator>(state.range(0));
  auto set = Prepare(1, 1, integrator);
  state.SetLabel(std::string(IntegratorName(integrator)));
  RunSteps(state, *set, 1);
}
BENCHMARK(BM_OneCellNaKLeak)
    ->Arg(static_cast<int>(Integrator::kExpEuler))
    ->Arg(static_cast<int>(Integrator::kRk4))
    ->Arg(static_cast<int>(Integrator::kForwardEuler));

// Reference: the same three channels with exp-Euler, but rates evaluated
// from their formulas every step (what a clamp without tables does).
void BM_OneCellNaKLeakDirectRates(benchmark::State& state) {
  auto na = std::get<HhChannel::Params>(*MakePreset("hh_na"));
  auto k = std::get<HhChannel::Params>(*MakePreset("hh_k"));
  auto leak = std::get<ConstantConductance::Params>(*MakePreset("hh_leak"));
  const FastGate m = *MakeFastGate(na.gates[0], na.celsius);
  const FastGate h = *MakeFastGate(na.gates[1], na.celsius);
  const FastGate n = *MakeFastGate(k.gates[0], k.celsius);
  double xm = 0.05, xh = 0.6, xn = 0.32;
  const auto& trace = SpikeTrace();
  std::size_t idx = 0;
  for (auto _ : state) {
    const double v = trace[idx];
    auto step = [v](const FastGate& g, double& x) {
      const GateRates r = g.Eval(v);
      x = r.inf + (x - r.inf) * std::exp(-kDtMs / r.tau_ms);
    };
    step(m, xm);
    step(h, xh);
    step(n, xn);
    double i = na.g_max_ns * xm * xm * xm * xh * (na.e_rev_mv - v) +
               k.g_max_ns * xn * xn * xn * xn * (k.e_rev_mv - v) +
               leak.g_ns * (leak.e_rev_mv - v);
    benchmark::DoNotOptimize(i);
    if (++idx == trace.size()) idx = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OneCellNaKLeakDirectRates);

void BM_CellsNaKLeak(benchmark::State& state) {
  const int cells = static_cast<int>(state.range(0));
  auto set = Prepare(cells, 1, Integrator::kExpEuler);
  RunSteps(state, *set, cells);
  state.counters["ns_per_cell"] = benchmark::Counter(
      static_cast<double>(cells) * state.iterations(),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_CellsNaKLeak)->Arg(1)->Arg(8)->Arg(64);

// N HH channel instances (alternating Na and K) spread over 8 cells.
void BM_HhInstances(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  ModelSetSpec spec;
  for (int c = 0; c < n; ++c) {
    spec.conductances.push_back(Preset("ch" + std::to_string(c),
                                       c % 2 ? "hh_k" : "hh_na", c % 8,
                                       Integrator::kExpEuler));
  }
  ModelSet::Config cfg;
  cfg.dt_ms = kDtMs;
  for (int c = 0; c < 8; ++c)
    cfg.cell_names.push_back("cell" + std::to_string(c));
  cfg.max_signals = 8 * n;
  auto set = *ModelSet::Prepare(spec, cfg);
  RunSteps(state, *set, 8);
  state.counters["ns_per_instance"] = benchmark::Counter(
      static_cast<double>(n) * state.iterations(),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_HhInstances)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace dynclamp::rt

BENCHMARK_MAIN();
