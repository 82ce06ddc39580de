// bench_streaming: streaming over loopback. Starts dynclampd on the
// simulated rig (or uses --server), runs the loop at --rate_khz, and streams
// 8 signals to --subscribers clients for --duration_s. Reports, per
// subscriber and in all, the samples received and lost, and the delay from
// each sample's cycle (its wake time on the daemon's CLOCK_MONOTONIC; same
// host only) to its arrival in the client: p50, p99, p99.9, max.
//
//   build/bin/bench_streaming [--duration_s=30] [--rate_khz=50]
//                             [--subscribers=4] [--format=text|json]
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "clients/cpp/client.h"
#include "clients/cpp/local_daemon.h"
#include "rt_engine/base/clock.h"
#include "rt_engine/base/histogram.h"
#include "spec_files/spec_file.h"

ABSL_FLAG(double, duration_s, 30.0, "how long to stream");
ABSL_FLAG(double, rate_khz, 50.0, "loop rate");
ABSL_FLAG(int, subscribers, 4, "concurrent subscribers");
ABSL_FLAG(std::string, server, "", "use this daemon instead of starting one");
ABSL_FLAG(std::string, format, "text", "text or json");
ABSL_FLAG(std::string, wake, "adaptive",
          "the wake strategy of the daemon it starts (adaptive, sleep, spin)");

namespace {

using dynclamp::client::Client;
namespace v1 = dynclamp::v1;
namespace rt = dynclamp::rt;

const std::vector<std::string> kSignals = {
    "cell0.v_mv", "cell0.i_pa", "cell1.v_mv", "cell1.i_pa",
    "gaba.g_ns",  "gaba.i_pa",  "gaba.s",     "leak.i_pa"};

constexpr char kSpec[] = R"(
conductances:
  - {name: gaba, cell: cell0, ligand_gated: {mode: TRIGGERED, g_max_ns: 5,
     e_rev_mv: -75, tau_rise_ms: 1, tau_decay_ms: 5, onset_ms: 0,
     interval_ms: 20}}
  - {name: leak, cell: cell1, constant: {g_ns: 2, e_rev_mv: -60}}
)";

struct SubscriberResult {
  uint64_t samples = 0;
  uint64_t lost = 0;  // reported by the daemon
  uint64_t gaps = 0;  // samples missing between chunks
  rt::HistogramSnapshot delay;
  std::string status;
};

std::string SelfDir() {
  return std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const double duration = absl::GetFlag(FLAGS_duration_s);
  const double rate = absl::GetFlag(FLAGS_rate_khz);
  std::unique_ptr<dynclamp::client::LocalDaemon> daemon;
  std::string target = absl::GetFlag(FLAGS_server);
  if (target.empty()) {
    auto d = dynclamp::client::LocalDaemon::Start(
        SelfDir() + "/dynclampd",
        {"--sim_cells=passive,passive",
         absl::StrCat("--period_us=", 1e3 / rate),
         absl::StrCat("--wake=", absl::GetFlag(FLAGS_wake))});
    if (!d.ok()) {
      std::fprintf(stderr, "%s\n", d.status().ToString().c_str());
      return 1;
    }
    daemon = *std::move(d);
    target = daemon->target();
  }
  auto control = Client::Connect(target);
  if (!control.ok()) {
    std::fprintf(stderr, "%s\n", control.status().ToString().c_str());
    return 1;
  }
  auto spec = dynclamp::spec_files::ParseSpec(kSpec, "bench");
  if (auto s = (*control)->LoadSpec(*spec); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
    return 1;
  }
  const int n_subs = absl::GetFlag(FLAGS_subscribers);
  std::vector<SubscriberResult> results(n_subs);
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < n_subs; ++i) {
    clients.push_back(*Client::Connect(target));
    threads.emplace_back([&, i] {
      v1::SubscribeRequest req;
      for (const auto& s : kSignals) req.add_signals(s);
      rt::LatencyHistogram delay;
      SubscriberResult& r = results[i];
      uint64_t next_index = 0;
      bool first = true;
      int64_t cycle_ns = 0;
      const absl::Status s =
          clients[i]->Subscribe(req, [&](const v1::Chunk& c) {
            const int64_t now = rt::MonotonicNowNs();
            if (c.signals_size() > 0) {
              cycle_ns = c.sample_period_ns();
              ready.fetch_add(1);
              return true;
            }
            if (!first && c.first_sample_index() > next_index)
              r.gaps += c.first_sample_index() - next_index;
            first = false;
            next_index = c.first_sample_index() + c.num_samples();
            for (uint32_t k = 0; k < c.num_samples(); ++k) {
              delay.Record(now -
                           (c.first_sample_monotonic_ns() + k * cycle_ns));
            }
            r.samples += c.num_samples();
            r.lost = c.samples_lost();
            return true;
          });
      r.delay = delay.Snapshot();
      r.status = s.ok() || absl::IsCancelled(s) ? "ok" : s.ToString();
    });
  }
  while (ready.load() < n_subs)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto run = (*control)->StartRun(duration);
  if (!run.ok()) {
    std::fprintf(stderr, "%s\n", run.status().ToString().c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(duration + 0.5));
  for (auto& c : clients) c->Cancel();
  for (auto& t : threads) t.join();
  const v1::Run final_run = *(*control)->GetRun();

  rt::HistogramSnapshot all;
  uint64_t samples = 0, lost = 0, gaps = 0;
  for (const auto& r : results) {
    if (all.counts.empty())
      all = r.delay;
    else {
      for (std::size_t b = 0; b < all.counts.size(); ++b)
        all.counts[b] += r.delay.counts[b];
      all.count += r.delay.count;
      all.sum_ns += r.delay.sum_ns;
      all.max_ns = std::max(all.max_ns, r.delay.max_ns);
    }
    samples += r.samples;
    lost += r.lost;
    gaps += r.gaps;
  }
  auto ms = [](uint64_t ns) { return ns / 1e6; };
  if (absl::GetFlag(FLAGS_format) == "json") {
    std::printf(
        "{\"rate_khz\": %g, \"signals\": %zu, \"subscribers\": %d, "
        "\"duration_s\": %g, "
        "\"samples_received\": %lu, \"samples_lost\": %lu, \"gap_samples\": "
        "%lu, "
        "\"delay_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"max\": "
        "%.3f}, "
        "\"loop_cycles\": %lu, \"loop_overruns\": %lu, \"dropped_frames\": "
        "%lu}\n",
        rate, kSignals.size(), n_subs, duration, samples, lost, gaps,
        ms(all.Quantile(0.5)), ms(all.Quantile(0.99)), ms(all.Quantile(0.999)),
        ms(all.max_ns), final_run.timing().cycles(),
        final_run.timing().overruns(), final_run.timing().dropped_frames());
  } else {
    std::printf(
        "%zu signals at %g kHz to %d subscribers for %g s over loopback\n",
        kSignals.size(), rate, n_subs, duration);
    for (int i = 0; i < n_subs; ++i) {
      const auto& r = results[i];
      std::printf(
          "  subscriber %d: %lu samples, lost %lu, gaps %lu, delay p50 %.2f "
          "p99 %.2f max %.2f ms (%s)\n",
          i, r.samples, r.lost, r.gaps, ms(r.delay.Quantile(0.5)),
          ms(r.delay.Quantile(0.99)), ms(r.delay.max_ns), r.status.c_str());
    }
    std::printf(
        "all: %lu samples, lost %lu, gaps %lu; delay p50 %.2f  p99 %.2f  "
        "p99.9 %.2f  max %.2f ms\n",
        samples, lost, gaps, ms(all.Quantile(0.5)), ms(all.Quantile(0.99)),
        ms(all.Quantile(0.999)), ms(all.max_ns));
    std::printf("loop: %lu cycles, %lu overruns, %lu dropped frames\n",
                final_run.timing().cycles(), final_run.timing().overruns(),
                final_run.timing().dropped_frames());
  }
  return 0;
}
