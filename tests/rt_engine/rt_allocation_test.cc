// Proves the RT step allocates nothing: this binary replaces malloc and
// friends with counting wrappers around glibc's own allocator.
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "rt_engine/daq/comedi/comedi_daq.h"
#include "rt_engine/loop/rt_loop.h"
#include "tests/rt_engine/daq/comedi/fake_comedi_device.h"
#include "tests/rt_engine/test_rig.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace {
std::atomic<uint64_t> g_total_allocs{0};
thread_local bool t_tracking = false;
thread_local uint64_t t_allocs = 0;
void Note() {
  g_total_allocs.fetch_add(1, std::memory_order_relaxed);
  if (t_tracking) ++t_allocs;
}
}  // namespace

extern "C" {
void* malloc(size_t n) {
  Note();
  return __libc_malloc(n);
}
void* calloc(size_t a, size_t b) {
  Note();
  return __libc_calloc(a, b);
}
void* realloc(void* p, size_t n) {
  Note();
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
  Note();
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  Note();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  Note();
  *out = __libc_memalign(a, n);
  return *out ? 0 : 12;
}
}

namespace dynclamp::rt {
namespace {

ModelSetSpec EverythingSpec() {
  ModelSetSpec spec;
  spec.conductances = {
      testing::Preset("na", "hh_na"), testing::Preset("k", "hh_k"),
      testing::Preset("leak", "hh_leak"), testing::Preset("ka", "ca1_ka")};
  std::get<HhChannel::Params>(spec.conductances[1].model).integrator =
      Integrator::kRk4;
  std::get<HhChannel::Params>(spec.conductances[3].model).integrator =
      Integrator::kForwardEuler;
  ConductanceSpec gaba;
  gaba.name = "gaba";
  LigandGated::Params lp{.g_max_ns = 5,
                         .tau_rise_ms = 1,
                         .tau_decay_ms = 5,
                         .onset_ms = 0.1,
                         .interval_ms = 2};
  gaba.model = lp;
  spec.conductances.push_back(gaba);
  return spec;
}

// Every circuit part at once: model cells of each kind, event synapses of
// each kind, artificial cells, threshold and artificial sources, graded
// synapses, gap junctions, background.
ModelSetSpec CircuitSpec() {
  ModelSetSpec spec = EverythingSpec();
  ModelCellSpec hh, izh, adex;
  hh.name = "hh";
  izh.name = "izh";
  izh.dynamics = IzhikevichParams{};
  izh.bias_pa = 200;
  adex.name = "adex";
  adex.dynamics = AdexParams{};
  adex.bias_pa = 500;
  spec.model_cells = {hh, izh, adex};  // cells 2, 3, 4
  for (const char* p : {"hh_na", "hh_k", "hh_leak"})
    spec.conductances.push_back(testing::Preset(std::string("hh_") + p, p, 2));
  spec.model_cells[0].bias_pa = 1000;
  const SynapseKind kinds[] = {SynapseKind::kExp, SynapseKind::kExp2,
                               SynapseKind::kAlpha, SynapseKind::kGsyn,
                               SynapseKind::kAmpa};
  int k = 0;
  for (SynapseKind kind : kinds) {
    EventSynapseSpec s;
    s.name = "syn" + std::to_string(k);
    s.cell = k % 5;
    s.params.kind = kind;
    s.params.tau1_ms = 0.5;
    s.params.tau2_ms = 5;
    spec.synapses.push_back(s);
    ++k;
  }
  spec.artificial_cells = {
      {.name = "if1", .params = {.kind = ArtificialKind::kIntFire1}},
      {.name = "if2", .params = {.kind = ArtificialKind::kIntFire2, .ib = 1.2}},
      {.name = "if4", .params = {.kind = ArtificialKind::kIntFire4}},
      {.name = "stim",
       .params = {.kind = ArtificialKind::kNetStim,
                  .interval_ms = 2,
                  .number = 1e6,
                  .start_ms = 0,
                  .noise = 0.5}}};
  int n = 0;
  auto connect = [&](SourceRef src, TargetRef dst, double w) {
    ConnectionSpec cs;
    cs.name = "c" + std::to_string(n++);
    cs.source = src;
    cs.target = dst;
    cs.weight = w;
    cs.delay_ms = 1;
    spec.connections.push_back(cs);
  };
  for (int s = 0; s < 5; ++s) {
    connect({SourceRef::Kind::kArtificial, 3}, {TargetRef::Kind::kSynapse, s},
            2);
    connect({SourceRef::Kind::kCell, 2 + s % 3}, {TargetRef::Kind::kSynapse, s},
            1);
  }
  for (int t = 0; t < 3; ++t)
    connect({SourceRef::Kind::kArtificial, 3},
            {TargetRef::Kind::kArtificial, t}, 0.7);
  connect({SourceRef::Kind::kArtificial, 1}, {TargetRef::Kind::kArtificial, 0},
          0.5);
  spec.graded_synapses = {
      {.name = "graded", .pre = 2, .post = 0, .g_max_ns = 5, .tau_ms = 5}};
  spec.gap_junctions = {{.name = "gap", .cell_a = 1, .cell_b = 3, .g_ns = 2}};
  spec.backgrounds = {{.name = "bg", .cell = 4}};
  spec.max_events_in_flight = 64;  // small: overflow paths run too
  return spec;
}

TEST(RtAllocationTest, CircuitStepAllocatesNothing) {
  auto b =
      testing::MakeBench(testing::IdealSim({SimCellConfig{}, SimCellConfig{}}),
                         25'000, 1e6, 1 << 14);
  ClampEngineConfig ec;
  ec.period_ns = 25'000;
  ec.max_signals = 512;
  auto engine = *ClampEngine::Create(*b.rig, ec);
  ASSERT_TRUE(engine->LoadModelSet(CircuitSpec()).ok());
  ASSERT_TRUE(engine->SetParam("c0.weight", 3).ok());
  ASSERT_TRUE(engine->SetParam("gap.g_ns", 4).ok());
  ASSERT_TRUE(engine->SetParam("bg.gi0_ns", 40).ok());
  int64_t t = 0;
  t_tracking = true;
  t_allocs = 0;
  for (int k = 0; k < 20000; ++k) {  // 0.5 s
    t += 25'000;
    engine->RunCycle(t, t, 25'000);
    engine->frames().Pop();  // one frame per cycle: keep the ring empty
  }
  t_tracking = false;
  EXPECT_EQ(t_allocs, 0u);
  EXPECT_GT(engine->stats().events_delivered.Get(), 1000u);
  EXPECT_GT(engine->stats().spikes.Get(), 100u);
}

TEST(RtAllocationTest, TheHookSeesAllocations) {
  t_tracking = true;
  t_allocs = 0;
  void* p = malloc(10);
  std::vector<int> v(100);
  // Keep the compiler from eliding the allocation.
  asm volatile("" : : "r"(p), "r"(v.data()) : "memory");
  t_tracking = false;
  free(p);
  EXPECT_EQ(t_allocs, 2u) << "if this fails the other test proves nothing";
}

TEST(RtAllocationTest, ClampCycleAllocatesNothing) {
  SimRigConfig sim = testing::IdealSim({SimCellConfig{}, SimCellConfig{}});
  sim.cells[0].bias_pa = 1500;  // fires: large currents, clipped at 200 pA
  sim.cells[1].model = SimCellConfig::Model::kCa1;
  sim.noise_sd_mv = 0.1;
  sim.jitter_us = 5;
  sim.latency_us = 30;
  auto b = testing::MakeBench(sim, 25'000, 200);  // low limit: clipping too
  ASSERT_TRUE(b.engine->LoadModelSet(EverythingSpec()).ok());
  // Queue a swap and live updates so the cycle exercises every path.
  ASSERT_TRUE(b.engine->SetParam("na.g_max_ns", 500).ok());
  ASSERT_TRUE(b.engine->SetParam("gaba.trigger", 1).ok());
  b.rig->FailNextReads(1);
  int64_t t = 0;
  t_tracking = true;
  t_allocs = 0;
  for (int k = 0; k < 4000; ++k) {
    t += 25'000;
    b.engine->RunCycle(t, t, 25'000);
    if (k == 10) b.engine->RequestClearFault();
    b.engine->NoteDeadline(k % 7 == 0, 1);
  }
  t_tracking = false;
  EXPECT_EQ(t_allocs, 0u);
  EXPECT_GT(b.engine->stats().clipped_outputs.Get(), 0u);
  EXPECT_EQ(b.engine->stats().faults.Get(), 1u);
}

// End to end: while the RT thread runs (and this thread only sleeps), the
// process allocates nothing.
// Playing a protocol (currents, a parameter ramp, pause, resume, abort)
// allocates nothing either: everything was compiled beforehand.
// The comedi backend's cycle (one input list, one output list, the
// conversions, the clipping) allocates nothing either: here over a fake
// board that does not allocate, including its failures.
TEST(RtAllocationTest, ComediCycleAllocatesNothing) {
  auto board = testing::FakeBoard::Typical();
  board->record_writes = false;
  board->raw[{0, 0}] = 30000;  // every key exists before tracking
  board->raw[{1, 0}] = 0;
  ComediConfig config;
  config.channels.resize(1);
  ComediDaq daq(config, std::make_unique<testing::FakeComediDevice>(board));
  DaqConfig d;
  DaqChannelConfig ch;
  ch.name = "cell0";
  d.channels = {ch};
  ASSERT_TRUE(daq.Configure(d).ok());
  ClampEngineConfig ec;
  ec.period_ns = 50'000;
  ec.ring_capacity_frames = 64;
  auto engine = *ClampEngine::Create(daq, ec);
  ASSERT_TRUE(engine->LoadModelSet(EverythingSpec()).ok());
  int64_t t = 0;
  t_tracking = true;
  t_allocs = 0;
  for (int k = 0; k < 2000; ++k) {
    if (k == 500) board->fail_reads = 1;
    if (k == 700) engine->RequestClearFault();
    if (k == 900) board->fail_writes = 1;
    t += 50'000;
    engine->RunCycle(t, t, 50'000);
  }
  t_tracking = false;
  EXPECT_EQ(t_allocs, 0u);
  EXPECT_EQ(engine->stats().faults.Get(), 2u);
}

TEST(RtAllocationTest, ProtocolPlaybackAllocatesNothing) {
  SimRigConfig sim = testing::IdealSim({SimCellConfig{}, SimCellConfig{}});
  auto b = testing::MakeBench(sim, 25'000, 2000);
  ASSERT_TRUE(b.engine->LoadModelSet(EverythingSpec()).ok());
  ProtocolSpec protocol;
  SweepSpec sweep;
  StimulusSpec current;
  current.cell = "cell0";
  EpochSpec sine;
  sine.shape = EpochSpec::Shape::kSine;
  sine.duration_ms = 5;
  sine.amplitude = 100;
  sine.frequency_hz = 200;
  EpochSpec noise;
  noise.shape = EpochSpec::Shape::kNoise;
  noise.duration_ms = 5;
  noise.amplitude = 20;
  noise.tau_ms = 1;
  current.epochs = {sine, noise};
  StimulusSpec ramp;
  ramp.parameter = "na.g_max_ns";
  EpochSpec up;
  up.shape = EpochSpec::Shape::kRamp;
  up.duration_ms = 10;
  up.level_end = 300;
  ramp.epochs = {up};
  sweep.stimuli = {current, ramp};
  protocol.sweeps = {sweep};
  protocol.repetitions = 5;
  protocol.interval_ms = 1;
  auto timeline = b.engine->CompileTimeline(protocol, {});
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  b.engine->PlayTimeline(*std::move(timeline));
  int64_t t = 0;
  t_tracking = true;
  t_allocs = 0;
  for (int k = 0; k < 4000; ++k) {
    t += 25'000;
    if (k == 300) b.engine->CommandPlayer(PlayerCommand::kPauseNow);
    if (k == 400) b.engine->CommandPlayer(PlayerCommand::kResume);
    if (k == 500) b.engine->CommandPlayer(PlayerCommand::kPauseAfterSweep);
    if (k == 1500) b.engine->CommandPlayer(PlayerCommand::kResume);
    if (k == 1700) b.engine->CommandPlayer(PlayerCommand::kAbort);
    b.engine->RunCycle(t, t, 25'000);
  }
  t_tracking = false;
  EXPECT_EQ(t_allocs, 0u);
  const PlayerStatus status = b.engine->player_status();
  EXPECT_EQ(status.state, PlayerState::kAborted);
  EXPECT_EQ(status.sweeps_completed, 1u);
  EXPECT_EQ(status.sweeps_started, 3u);
}

TEST(RtAllocationTest, RunningLoopAllocatesNothing) {
  auto b = testing::MakeBench(testing::IdealSim({SimCellConfig{}}), 50'000,
                              2000, 1 << 16);
  ASSERT_TRUE(b.engine->LoadModelSet(EverythingSpec()).ok());
  RtLoopConfig lc;
  lc.rt.lock_memory = false;
  RtLoop loop(*b.engine, lc);
  ASSERT_TRUE(loop.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // swap done
  const uint64_t before = g_total_allocs.load();
  const uint64_t cycles_before = b.engine->stats().cycles.Get();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const uint64_t after = g_total_allocs.load();
  const uint64_t cycles = b.engine->stats().cycles.Get() - cycles_before;
  loop.Stop();
  EXPECT_GT(cycles, 100u);
  EXPECT_EQ(after - before, 0u)
      << "allocations while " << cycles << " cycles ran";
}

}  // namespace
}  // namespace dynclamp::rt
