// Per-step cost of networks in the engine.
//
//   BM_HhNetwork/N/D        N HH model neurons (hh_na, hh_k, hh_leak), each
//                           with 10 ExpSyn synapses fed by connections from
//                           10 other neurons' threshold crossings. D=0: the
//                           synapses of a cell come in two kinds (E = 0 or
//                           -80 mV) and share two states; D=1: every synapse
//                           differs (its own tau) and keeps its own state.
//   BM_HhCellBatch/K        the gate kernel alone, K=1 scalar, K=2 AVX2.
//   BM_IntFire1Network      10 000 IntFire1 cells, 100 000 connections
//                           (10 per cell), each cell also driven by its own
//                           Poisson NetStim so the network fires at ~5 Hz.
// Counters: ns per step, events delivered per second of wall time, spikes
// per simulated second.
//
//   build/bin/bench_network --benchmark_repetitions=5
//   --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <random>

#include "rt_engine/model_set.h"
#include "rt_engine/models/channel_presets.h"
#include "rt_engine/network/hh_cell_batch.h"

namespace dynclamp::rt {
namespace {

constexpr double kDt = 0.025;

ModelSet::Config Cfg() {
  ModelSet::Config c;
  c.dt_ms = kDt;
  c.cell_names = {"cell0"};
  c.max_signals = 1 << 24;
  return c;
}

// distinct: every synapse of a cell has its own tau, so none can share a
// state with another (the worst case: one state per synapse).
ModelSetSpec HhNetwork(int n, int synapses_per_cell, bool distinct) {
  ModelSetSpec spec;
  std::mt19937 gen(1);
  for (int i = 0; i < n; ++i) {
    ModelCellSpec m;
    m.name = "n" + std::to_string(i);
    m.bias_pa = 600 + (i % 7) * 100;  // some fire on their own
    spec.model_cells.push_back(m);
    const int cell = 1 + i;
    for (const char* p : {"hh_na", "hh_k", "hh_leak"}) {
      spec.conductances.push_back(
          *PresetConductance(m.name + "_" + p, p, cell, Integrator::kExpEuler));
    }
    for (int s = 0; s < synapses_per_cell; ++s) {
      EventSynapseSpec sy;
      sy.name = m.name + "_syn" + std::to_string(s);
      sy.cell = cell;
      sy.params.kind = SynapseKind::kExp;
      sy.params.tau_ms = distinct ? 2 + 0.01 * s : 2;
      sy.params.e_rev_mv = s % 4 == 0 ? -80 : 0;
      spec.synapses.push_back(sy);
      ConnectionSpec c;
      c.name = sy.name + "_in";
      c.source = {SourceRef::Kind::kCell, 1 + static_cast<int>(gen() % n)};
      c.target = {TargetRef::Kind::kSynapse,
                  static_cast<int>(spec.synapses.size() - 1)};
      c.weight = 1.0;
      c.delay_ms = 1.0 + (gen() % 40) * kDt;
      spec.connections.push_back(c);
    }
  }
  spec.max_events_in_flight = 1 << 20;
  spec.published_signals = std::vector<std::string>{"n0.v_mv"};
  return spec;
}

ModelSetSpec IntFire1Network(int n, int fan_in) {
  ModelSetSpec spec;
  std::mt19937 gen(2);
  for (int i = 0; i < n; ++i) {
    ArtificialCellSpec c;
    c.name = "if" + std::to_string(i);
    c.params.kind = ArtificialKind::kIntFire1;
    c.params.tau_ms = 10;
    c.params.refrac_ms = 2;
    spec.artificial_cells.push_back(c);
  }
  for (int i = 0; i < n; ++i) {
    ArtificialCellSpec s;
    s.name = "drive" + std::to_string(i);
    s.params.kind = ArtificialKind::kNetStim;
    s.params.interval_ms = 400;  // 2.5 Hz Poisson drive (+ recurrent: ~5 Hz)
    s.params.number = 1e9;
    s.params.start_ms = 0;
    s.params.noise = 1;
    s.params.seed = 100 + i;
    spec.artificial_cells.push_back(s);
  }
  for (int i = 0; i < n; ++i) {
    ConnectionSpec d;
    d.name = "d" + std::to_string(i);
    d.source = {SourceRef::Kind::kArtificial, n + i};
    d.target = {TargetRef::Kind::kArtificial, i};
    d.weight = 1.5;  // each drive spike fires its cell
    d.delay_ms = 1;
    spec.connections.push_back(d);
    for (int k = 0; k < fan_in; ++k) {
      ConnectionSpec c;
      c.name = "c" + std::to_string(i) + "_" + std::to_string(k);
      c.source = {SourceRef::Kind::kArtificial, static_cast<int>(gen() % n)};
      c.target = {TargetRef::Kind::kArtificial, i};
      c.weight = 0.02;
      c.delay_ms = 1 + (gen() % 100) * 0.05;
      spec.connections.push_back(c);
    }
  }
  spec.max_events_in_flight = 1 << 20;
  spec.published_signals = std::vector<std::string>{"if0.*"};
  return spec;
}

void Run(benchmark::State& state, ModelSet& set) {
  double v = -65, i = 0;
  uint64_t delivered = 0, spikes = 0;
  int64_t steps = 0;
  for (auto _ : state) {
    const StepReport r = set.Step({&v, 1}, {&i, 1});
    delivered += r.events_delivered;
    spikes += r.spikes;
    ++steps;
  }
  state.counters["events_per_s"] = benchmark::Counter(
      static_cast<double>(delivered), benchmark::Counter::kIsRate);
  state.counters["spikes_per_sim_s"] =
      static_cast<double>(spikes) / (static_cast<double>(steps) * kDt * 1e-3);
}

void BM_HhNetwork(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  auto set = *ModelSet::Prepare(HhNetwork(n, 10, state.range(1) != 0), Cfg());
  double v = -65, i = 0;
  for (int k = 0; k < 2000; ++k) set->Step({&v, 1}, {&i, 1});  // settle
  Run(state, *set);
}
BENCHMARK(BM_HhNetwork)
    ->ArgNames({"neurons", "distinct"})
    ->Args({100, 0})
    ->Args({1000, 0})
    ->Args({1000, 1})
    ->Unit(benchmark::kMicrosecond);

// The gate kernel alone: 1000 cells with hh_na + hh_k at V spread over
// -80..+40 mV and moving every step, with each kernel.
void BM_HhCellBatch(benchmark::State& state) {
  const auto kernel = static_cast<HhCellBatch::Kernel>(state.range(0));
  RateTableCache cache;
  std::vector<HhCellBatch::ChannelSpec> channels;
  constexpr int kCells = 1000;
  for (int c = 0; c < kCells; ++c) {
    for (const char* name : {"hh_na", "hh_k"}) {
      const auto p = std::get<HhChannel::Params>(*MakePreset(name));
      HhCellBatch::ChannelSpec ch;
      ch.cell = c;
      // The cache keeps every table alive.
      const auto tables = *HhChannel::BuildTables(p, kDt, name, cache);
      for (const auto& t : tables) ch.tables.push_back(t.get());
      for (const auto& g : p.gates) ch.powers.push_back(g.power);
      ch.g_max_ns = p.g_max_ns;
      ch.e_rev_mv = p.e_rev_mv;
      channels.push_back(std::move(ch));
    }
  }
  HhCellBatch batch = *HhCellBatch::Build(channels, kernel);
  if (batch.kernel() != kernel) {
    state.SkipWithError("kernel not available on this CPU");
    return;
  }
  std::vector<double> v(kCells), g(kCells), ge(kCells);
  for (int c = 0; c < kCells; ++c) v[c] = -80 + 120.0 * c / kCells;
  batch.Init(v, {g, ge});
  int64_t step = 0;
  for (auto _ : state) {
    for (int c = 0; c < kCells; c += 97) v[c] = -80 + (step * 7 + c) % 120;
    batch.Step(v, {g, ge});
    ++step;
  }
  benchmark::DoNotOptimize(g.data());
}
BENCHMARK(BM_HhCellBatch)
    ->Arg(static_cast<int>(HhCellBatch::Kernel::kScalar))
    ->Arg(static_cast<int>(HhCellBatch::Kernel::kAvx2))
    ->Unit(benchmark::kMicrosecond);

void BM_IntFire1Network(benchmark::State& state) {
  auto set = *ModelSet::Prepare(IntFire1Network(10'000, 10), Cfg());
  double v = -65, i = 0;
  for (int k = 0; k < 20'000; ++k) set->Step({&v, 1}, {&i, 1});  // 0.5 s
  Run(state, *set);
}
BENCHMARK(BM_IntFire1Network)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace dynclamp::rt

BENCHMARK_MAIN();
