#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/cli/verbs.h"

namespace dynclamp::cli {
namespace {

int Stream(const Globals& g, std::vector<std::string> signals,
           uint32_t decimate, double duration_s, uint64_t max_samples,
           const std::string& format, const std::string& out_path) {
  if (format != "csv" && format != "table") {
    Die("stream", absl::InvalidArgumentError("--format: csv or table"));
  }
  auto client = ConnectOrDie(g, "stream");
  if (signals.empty()) {
    const auto rig = OrDie("stream", client->GetRig());
    for (const auto& c : rig.channels()) {
      signals.push_back(c.name() + ".v_mv");
      signals.push_back(c.name() + ".i_pa");
    }
  }
  std::ofstream file;
  if (!out_path.empty()) {
    file.open(out_path);
    if (!file)
      Die("stream",
          absl::NotFoundError(absl::StrCat("-o: cannot write ", out_path)));
  }
  std::ostream& out = out_path.empty() ? std::cout : file;
  // Samples flow only while a run is active: say so rather than sit silent.
  if (const v1::RunState state = OrDie("stream", client->GetRun()).state();
      state != v1::RUNNING && state != v1::FAULT) {
    std::fprintf(stderr,
                 "no run is active: waiting for the next one (dynclamp start, "
                 "run or queue start)%s\n",
                 duration_s > 0 ? "" : "; Ctrl-C to stop");
  }
  v1::SubscribeRequest request;
  for (const auto& s : signals) request.add_signals(s);
  request.set_decimation(decimate);
  int64_t period_ns = 0;
  uint64_t samples = 0, lost = 0, skipped = 0;
  const absl::Time wall_start = absl::Now();
  absl::Time last_progress = wall_start;
  // --duration is wall-clock time, whether or not samples arrive: a timer
  // ends the stream even when the loop is stopped.
  std::atomic<bool> timed_out{false};
  absl::Notification done;
  std::thread timer;
  if (duration_s > 0) {
    timer = std::thread([&] {
      if (!done.WaitForNotificationWithTimeout(absl::Seconds(duration_s))) {
        timed_out.store(true);
        client->Cancel();
      }
    });
  }
  absl::Status s = client->Subscribe(request, [&](const v1::Chunk& c) {
    if (c.signals_size() > 0) {  // header
      period_ns = c.sample_period_ns();
      if (format == "csv") {
        out << "t_s";
        for (int k = 0; k < c.signals_size(); ++k) out << "," << c.signals(k);
        out << "\n" << std::flush;
      } else {
        out << absl::StrFormat("%12s", "t_s");
        for (int k = 0; k < c.signals_size(); ++k)
          out << absl::StrFormat(" %14s", c.signals(k));
        out << "\n";
      }
      return true;
    }
    lost = c.samples_lost();
    skipped += static_cast<uint64_t>(c.skipped_samples_size());
    const int n = static_cast<int>(signals.size());
    const int64_t cycle_ns = decimate > 1 ? period_ns / decimate : period_ns;
    // Skipped cycles have no sample: their rows are left out, so t_s jumps.
    auto next_skip = c.skipped_samples().begin();
    uint32_t taken = 0;
    for (uint32_t k = 0; k < c.num_samples(); ++k) {
      if (next_skip != c.skipped_samples().end() && *next_skip == k) {
        ++next_skip;
        continue;
      }
      if (max_samples > 0 && samples + taken >= max_samples) break;
      ++taken;
      const double t =
          static_cast<double>(c.first_sample_index()) * cycle_ns * 1e-9 +
          static_cast<double>(k) * c.sample_period_ns() * 1e-9;
      if (format == "csv") {
        out << absl::StrFormat("%.6f", t);
        for (int j = 0; j < n; ++j)
          out << absl::StrFormat(",%.6g", c.values(k * n + j));
      } else {
        out << absl::StrFormat("%12.6f", t);
        for (int j = 0; j < n; ++j)
          out << absl::StrFormat(" %14.6g", c.values(k * n + j));
      }
      out << "\n";
    }
    samples += taken;
    if (max_samples > 0 && samples >= max_samples) return false;
    const absl::Time now = absl::Now();
    if (!out_path.empty() && now - last_progress > absl::Milliseconds(500)) {
      std::fprintf(stderr, "\r  %lu samples (%.1f s), lost %lu   ",
                   static_cast<unsigned long>(samples),
                   samples * static_cast<double>(c.sample_period_ns()) * 1e-9,
                   static_cast<unsigned long>(lost));
      last_progress = now;
    }
    return !(duration_s > 0 && now - wall_start >= absl::Seconds(duration_s));
  });
  done.Notify();
  if (timer.joinable()) timer.join();
  if (timed_out.load() && absl::IsCancelled(s)) s = absl::OkStatus();
  if (!out_path.empty()) std::fprintf(stderr, "\n");
  out.flush();
  if (s.ok()) {
    std::fprintf(stderr, "%lu samples, %lu lost",
                 static_cast<unsigned long>(samples),
                 static_cast<unsigned long>(lost));
    // Skipped cycles are gaps in the t_s column, not lost samples.
    if (skipped > 0)
      std::fprintf(stderr, ", %lu skipped by the loop (overruns)",
                   static_cast<unsigned long>(skipped));
    std::fprintf(stderr, "\n");
  }
  if (!s.ok()) Die("stream", s);
  return 0;
}

}  // namespace

void AddStreamVerb(CLI::App& app, Globals& g) {
  struct Args {
    std::vector<std::string> signals;
    uint32_t decimate = 1;
    double duration = 0;
    uint64_t samples = 0;
    std::string format = "csv", out;
  };
  auto a = std::make_shared<Args>();
  auto* stream =
      app.add_subcommand("stream",
                         "stream signals as CSV or a table (t_s: time in the "
                         "run; waits for a run if none is active)");
  stream
      ->add_option("--signals", a->signals,
                   "signal names (default: every cell's V and I)")
      ->delimiter(',');
  stream->add_option("--decimate", a->decimate, "keep every Nth sample");
  stream->add_option("--duration", a->duration,
                     "seconds (wall clock) to stream; 0 = until Ctrl-C");
  stream->add_option("--samples", a->samples,
                     "stop after this many samples (after decimation), e.g. "
                     "a run's duration x rate / decimation");
  stream->add_option("--format", a->format, "csv or table")
      ->capture_default_str();
  stream->add_option("-o,--output", a->out,
                     "write to FILE (progress on stderr)");
  OnVerb(stream, g, [&g, a] {
    return Stream(g, a->signals, a->decimate, a->duration, a->samples,
                  a->format, a->out);
  });
}

}  // namespace dynclamp::cli
