// NWB recording throughput: how much faster than real time the recorder
// writes 8 signals at 50 kHz (2 cells' V and I and 4 model signals), and the
// file size per minute of recording.
//
// The whole recorder pipeline is timed: frames handed to Recorder::OnFrame
// as fast as one thread can (the drain thread's part: copying and timing),
// the writer thread writing NWB and flushing twice a second of wall time,
// and Finish() closing the file. Each repetition records --seconds of data
// in sweeps of --sweep_s; the median over --reps is printed.
//
//   build/bin/bench_recorder [--seconds=60] [--reps=5] [--dir=/tmp]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rt_engine/handoff/frame.h"
#include "server/instrument/recorder/recorder.h"

ABSL_FLAG(double, seconds, 60, "seconds of data per repetition");
ABSL_FLAG(double, sweep_s, 10, "sweep length (s)");
ABSL_FLAG(int, reps, 5, "repetitions");
ABSL_FLAG(std::string, dir, "/tmp", "where the files go (deleted after)");

namespace {

constexpr double kRateHz = 50'000;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  using dynclamp::server::Recorder;
  using dynclamp::server::RecorderConfig;
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const int64_t samples = static_cast<int64_t>(seconds * kRateHz);
  const int64_t per_sweep =
      static_cast<int64_t>(absl::GetFlag(FLAGS_sweep_s) * kRateHz);
  std::vector<double> ratios, mb_per_min;
  for (int rep = 0; rep < absl::GetFlag(FLAGS_reps); ++rep) {
    RecorderConfig c;
    c.path = (std::filesystem::path(absl::GetFlag(FLAGS_dir)) /
              absl::StrCat("bench_recorder_", getpid(), "_", rep, ".nwb"))
                 .string();
    c.session.identifier = "bench";
    c.session.session_description = "recorder benchmark";
    c.session.start_time = absl::Now();
    c.session.protocol_name = "bench";
    c.session.version = "bench";
    c.session.cells = {"cell0", "cell1"};
    c.session.recording_gain_v_per_v = {10, 10};
    c.session.stimulus_gain_v_per_a = {2.5e9, 2.5e9};
    c.session.signals = {{"na.g_ns", "nS"},
                         {"na.i_pa", "pA"},
                         {"k.g_ns", "nS"},
                         {"k.i_pa", "pA"}};
    c.session.rate_hz = kRateHz;
    c.frame_index = {0, 1, 2, 3, 4, 5, 6, 7};
    auto recorder = Recorder::Start(c);
    if (!recorder.ok()) {
      std::fprintf(stderr, "%s\n", recorder.status().ToString().c_str());
      return 1;
    }
    std::vector<double> values(8);
    dynclamp::rt::FrameHeader h;
    h.period_ns = 20'000;
    h.latency_ns = 2'000;
    const absl::Time t0 = absl::Now();
    for (int64_t k = 0; k < samples; ++k) {
      const int64_t in_sweep = k % per_sweep;
      h.cycle = static_cast<uint64_t>(k);
      h.sweep = static_cast<uint32_t>(k / per_sweep + 1);
      h.sweep_sample = in_sweep;
      h.protocol_sweep = 0;
      h.flags = in_sweep == 0 ? uint32_t{dynclamp::rt::kFrameSweepStart} : 0u;
      if (in_sweep == per_sweep - 1) h.flags |= dynclamp::rt::kFrameSweepEnd;
      const double t = static_cast<double>(k) / kRateHz;
      for (int i = 0; i < 8; ++i) values[i] = -65 + 10 * std::sin(t * (i + 1));
      (*recorder)->OnFrame(h, values);
    }
    const absl::Status finished = (*recorder)->Finish();
    const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
    if (!finished.ok()) {
      std::fprintf(stderr, "%s\n", finished.ToString().c_str());
      return 1;
    }
    const double bytes =
        static_cast<double>(std::filesystem::file_size(c.path));
    std::filesystem::remove(c.path);
    ratios.push_back(seconds / wall);
    mb_per_min.push_back(bytes / 1e6 / (seconds / 60));
    std::printf(
        "rep %d: %.0f s of data in %.2f s: %.1fx real time, %.1f MB/min, "
        "%lu samples lost\n",
        rep, seconds, wall, seconds / wall, mb_per_min.back(),
        static_cast<unsigned long>((*recorder)->samples_dropped()));
  }
  std::printf(
      "median: %.1fx real time (8 signals at 50 kHz; target >= 20x), "
      "%.1f MB per minute of recording\n",
      Median(ratios), Median(mb_per_min));
  return 0;
}
