// bench_loop: runs the real RT loop on the simulated rig for a set duration
// at each requested rate and prints the percentiles (p50, p99, p99.9, max) of
// the actual period, the wake-up lateness, the model step's compute time and
// the input-to-output latency, with the overrun count.
//
// The workload is Bettencourt's knock-in: a simulated CA1 cell with its Na+
// channels removed, and the CA1 Na+ conductance added back by the clamp
// (plus, with --channels, more HH channels to load the step).
//
// The loop waits as the daemon's does by default (--wake=adaptive on a CPU
// of its own, --cpu=auto); each rate also reports the strategy in force,
// the margin it ended with, the host timer's lateness and what the wait
// cost: the share of the wall time spent spinning and the RT thread's CPU.
//
//   build/bin/bench_loop [--duration_s=5] [--rates_khz=20,50,100]
//                        [--format=text|json] [--wake=adaptive|sleep|spin]
//                        [--busy_wait_us=0] [--cpu=auto|none|N]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rt_engine/base/clock.h"
#include "rt_engine/daq/sim/sim_rig.h"
#include "rt_engine/loop/rt_loop.h"
#include "rt_engine/loop/rt_thread.h"
#include "rt_engine/loop/wake.h"
#include "rt_engine/models/channel_presets.h"

ABSL_FLAG(double, duration_s, 5.0, "seconds to run at each rate");
ABSL_FLAG(std::vector<std::string>, rates_khz,
          (std::vector<std::string>{"20", "50", "100"}),
          "loop rates to measure, in kHz");
ABSL_FLAG(std::string, format, "text", "text or json");
ABSL_FLAG(std::string, wake, "adaptive", "adaptive, sleep or spin");
ABSL_FLAG(double, busy_wait_us, 0.0,
          "with --wake=spin: spin this long before each deadline (0: the "
          "whole period; capped at the period)");
ABSL_FLAG(std::string, cpu, "auto",
          "the RT thread's CPU: auto (the last, when there are two or "
          "more), none, or a number; this program's other threads keep off "
          "it");
ABSL_FLAG(int, channels, 0, "extra HH channels (alternating Na, K) to step");

namespace dynclamp::rt {
namespace {

struct Result {
  double rate_khz = 0;
  uint64_t cycles = 0, overruns = 0, skipped = 0, dropped = 0, streak = 0;
  HistogramSnapshot period, lateness, compute, latency, timer_late;
  std::string rt, wake, wake_reason;
  double margin_us = 0, spin_fraction = 0, cpu_fraction = 0;
  std::size_t spikes = 0;
};

Result RunAt(double rate_khz, double duration_s, WakeStrategy wake, int cpu) {
  const int64_t period_ns = static_cast<int64_t>(1e6 / rate_khz);
  SimRigConfig sim;
  SimCellConfig cell;
  cell.model = SimCellConfig::Model::kCa1;
  cell.blocked = {"na"};
  cell.bias_pa = 300;
  sim.cells = {cell};
  SimRig rig(sim);
  DaqConfig daq;
  daq.channels = {{"cell0", 100.0, 20000.0, 200000.0}};
  if (auto s = rig.Configure(daq); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  ClampEngineConfig ec;
  ec.period_ns = period_ns;
  ec.max_consecutive_overruns = 0;  // measure, do not fault
  ec.max_signals = 4096;
  auto engine = *ClampEngine::Create(rig, ec);
  ModelSetSpec spec;
  spec.conductances.push_back(*PresetConductance("na", "ca1_na"));
  for (int k = 0; k < absl::GetFlag(FLAGS_channels); ++k) {
    ConductanceSpec c;
    c.name = absl::StrFormat("extra%d", k);
    auto p = std::get<HhChannel::Params>(*MakePreset(k % 2 ? "hh_k" : "hh_na"));
    p.g_max_ns = 0.0;  // loads the step without changing the cell
    c.model = p;
    spec.conductances.push_back(c);
  }
  if (auto g = engine->LoadModelSet(spec); !g.ok()) {
    std::fprintf(stderr, "%s\n", g.status().ToString().c_str());
    std::exit(1);
  }
  RtLoopConfig lc;
  lc.wake.strategy = wake;
  // The tail cannot be longer than the period: cap it at each rate.
  lc.wake.spin_ns = std::min<int64_t>(
      static_cast<int64_t>(absl::GetFlag(FLAGS_busy_wait_us) * 1e3), period_ns);
  lc.rt.cpu = cpu;
  RtLoop loop(*engine, lc);
  std::atomic<bool> done{false};
  std::size_t spikes = 0;
  std::thread drain([&] {
    FrameHeader h;
    std::vector<double> v(engine->frames().values_per_frame());
    double prev = -70;
    while (!done.load() || engine->frames().SizeApprox() > 0) {
      if (!engine->frames().TryPop(h, v)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      if (prev < 0 && v[0] >= 0) ++spikes;
      prev = v[0];
    }
  });
  if (auto s = loop.Start(); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  const int64_t started = MonotonicNowNs();
  std::this_thread::sleep_for(std::chrono::duration<double>(duration_s));
  loop.Stop();
  const double wall_ns = static_cast<double>(MonotonicNowNs() - started);
  done.store(true);
  drain.join();
  Result r;
  const TimingStats& st = engine->stats();
  r.rate_khz = rate_khz;
  r.cycles = st.cycles.Get();
  r.overruns = st.overruns.Get();
  r.skipped = st.skipped_cycles.Get();
  r.streak = st.max_consecutive_overruns.Get();
  r.dropped = engine->frames().dropped();
  r.period = st.period_ns.Snapshot();
  r.lateness = st.lateness_ns.Snapshot();
  r.compute = st.compute_ns.Snapshot();
  r.latency = st.latency_ns.Snapshot();
  r.timer_late = st.timer_late_ns.Snapshot();
  const RtSettingsObtained got = loop.rt_settings();
  r.rt = got.Summary();
  r.wake = got.wake;
  r.wake_reason = got.wake_reason;
  r.margin_us = static_cast<double>(st.wake_margin_ns.Get()) / 1e3;
  r.spin_fraction = static_cast<double>(st.spin_ns.Get()) / wall_ns;
  r.cpu_fraction = static_cast<double>(st.rt_cpu_ns.Get()) / wall_ns;
  r.spikes = spikes;
  return r;
}

std::string Quantiles(const HistogramSnapshot& s, bool json) {
  const double us[] = {s.Quantile(0.5) / 1e3, s.Quantile(0.99) / 1e3,
                       s.Quantile(0.999) / 1e3, s.max_ns / 1e3};
  if (json)
    return absl::StrFormat(
        "{\"p50_us\": %.3f, \"p99_us\": %.3f, \"p999_us\": %.3f, \"max_us\": "
        "%.3f}",
        us[0], us[1], us[2], us[3]);
  return absl::StrFormat("%8.2f %8.2f %8.2f %9.2f", us[0], us[1], us[2], us[3]);
}

}  // namespace
}  // namespace dynclamp::rt

int main(int argc, char** argv) {
  using namespace dynclamp::rt;
  absl::ParseCommandLine(argc, argv);
  const bool json = absl::GetFlag(FLAGS_format) == "json";
  const absl::StatusOr<WakeStrategy> wake =
      ParseWakeStrategy(absl::GetFlag(FLAGS_wake));
  // Before the drain thread exists, so it inherits the mask.
  const absl::StatusOr<CpuReservation> cpu =
      ReserveRtCpu(absl::GetFlag(FLAGS_cpu));
  for (const absl::Status& s : {wake.status(), cpu.status()}) {
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 2;
    }
  }
  std::vector<Result> results;
  for (const std::string& r : absl::GetFlag(FLAGS_rates_khz)) {
    results.push_back(
        RunAt(std::stod(r), absl::GetFlag(FLAGS_duration_s), *wake, cpu->cpu));
  }
  if (json) {
    std::vector<std::string> items;
    for (const Result& r : results) {
      items.push_back(absl::StrFormat(
          "{\"rate_khz\": %g, \"cycles\": %d, \"overruns\": %d, "
          "\"skipped_cycles\": %d, \"longest_overrun_streak\": %d, "
          "\"dropped_frames\": %d, \"spikes\": %d, "
          "\"period\": %s, \"lateness\": %s, \"compute\": %s, \"latency\": %s, "
          "\"timer_lateness\": %s, \"wake\": \"%s\", \"margin_us\": %.3f, "
          "\"spin_fraction\": %.4f, \"cpu_fraction\": %.4f, "
          "\"rt\": \"%s\"}",
          r.rate_khz, r.cycles, r.overruns, r.skipped, r.streak, r.dropped,
          r.spikes, Quantiles(r.period, true), Quantiles(r.lateness, true),
          Quantiles(r.compute, true), Quantiles(r.latency, true),
          Quantiles(r.timer_late, true), r.wake, r.margin_us, r.spin_fraction,
          r.cpu_fraction, r.rt));
    }
    std::printf("[%s]\n", absl::StrJoin(items, ",\n ").c_str());
    return 0;
  }
  std::printf("RT thread: %s\n", results.empty() ? "" : results[0].rt.c_str());
  std::printf("%-9s %-10s %-37s %s\n", "rate", "",
              "p50      p99      p99.9    max (us)", "");
  for (const Result& r : results) {
    std::printf("%5.0f kHz  period    %s\n", r.rate_khz,
                Quantiles(r.period, false).c_str());
    std::printf("           lateness  %s\n",
                Quantiles(r.lateness, false).c_str());
    std::printf("           compute   %s\n",
                Quantiles(r.compute, false).c_str());
    std::printf("           latency   %s\n",
                Quantiles(r.latency, false).c_str());
    std::printf("           timer     %s  (host timer: woke minus asked)\n",
                Quantiles(r.timer_late, false).c_str());
    std::printf(
        "           wake %s, margin %.1f us at the end; spinning %.1f %% of "
        "the time, RT thread CPU %.1f %% (%s)\n",
        r.wake.c_str(), r.margin_us, 100 * r.spin_fraction,
        100 * r.cpu_fraction, r.wake_reason.c_str());
    std::printf(
        "           cycles %lu  overruns %lu = %.3f %% (longest streak %lu)  "
        "skipped %lu  dropped frames %lu  spikes %zu\n",
        r.cycles, r.overruns,
        r.cycles ? 100.0 * static_cast<double>(r.overruns) /
                       static_cast<double>(r.cycles)
                 : 0.0,
        r.streak, r.skipped, r.dropped, r.spikes);
  }
  return 0;
}
