#include "server/api/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace dynclamp::server {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(const std::string& name, const std::string& help,
                    MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

MetricFamily Counter(const std::string& name, const std::string& help,
                     double value) {
  MetricFamily f = Family(name, help, MetricType::Counter);
  ClientMetric m;
  m.counter.value = value;
  f.metric.push_back(m);
  return f;
}

MetricFamily Gauge(const std::string& name, const std::string& help,
                   double value) {
  MetricFamily f = Family(name, help, MetricType::Gauge);
  ClientMetric m;
  m.gauge.value = value;
  f.metric.push_back(m);
  return f;
}

MetricFamily Histogram(const std::string& name, const std::string& help,
                       const rt::HistogramSnapshot& h,
                       const std::vector<double>& bounds) {
  MetricFamily f = Family(name, help, MetricType::Histogram);
  ClientMetric m;
  m.histogram = ToPrometheus(h, bounds);
  f.metric.push_back(m);
  return f;
}

// One gauge per state, 1 for the current one (a Prometheus "state set").
template <typename Enum>
MetricFamily StateSet(const std::string& name, const std::string& help,
                      const std::vector<std::pair<Enum, std::string>>& states,
                      Enum now) {
  MetricFamily f = Family(name, help, MetricType::Gauge);
  for (const auto& [state, label] : states) {
    ClientMetric m;
    m.label = {{"state", label}};
    m.gauge.value = state == now ? 1.0 : 0.0;
    f.metric.push_back(m);
  }
  return f;
}

// Rounded to the nanosecond, so that bucket labels read cleanly.
std::vector<double> Sorted(std::vector<double> v) {
  for (double& x : v) x = std::round(x * 1e9) / 1e9;
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

std::vector<double> PeriodBuckets(double p) {
  std::vector<double> b;
  for (double k : {0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 1.0, 1.01, 1.02, 1.05, 1.1,
                   1.2, 1.5, 2.0, 3.0, 5.0, 10.0, 100.0})
    b.push_back(k * p);
  return Sorted(b);
}

std::vector<double> LatencyBuckets(double p) {
  std::vector<double> b = {1e-7, 5e-7, 1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5};
  for (double k : {0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0})
    b.push_back(k * p);
  return Sorted(b);
}

ClientMetric::Histogram ToPrometheus(const rt::HistogramSnapshot& h,
                                     const std::vector<double>& bounds_s) {
  ClientMetric::Histogram out;
  out.sample_count = h.count;
  out.sample_sum = static_cast<double>(h.sum_ns) * 1e-9;
  std::size_t bucket = 0;
  uint64_t cumulative = 0;
  for (double bound : bounds_s) {
    const double bound_ns = bound * 1e9;
    // Engine buckets are ~1.6 % wide: a bucket counts as <= bound when its
    // lower edge is.
    while (bucket < h.counts.size() &&
           static_cast<double>(rt::HistogramLayout::LowerBound(bucket)) <=
               bound_ns) {
      cumulative += h.counts[bucket++];
    }
    out.bucket.push_back({cumulative, bound});
  }
  out.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
  return out;
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  const Instrument::Health h = instrument_.GetHealth();
  const Instrument::StatsMark& s = h.stats;
  const double period_s = static_cast<double>(h.period_ns) * 1e-9;
  const std::vector<double> latency_buckets = LatencyBuckets(period_s);
  std::vector<MetricFamily> out;
  out.push_back(Histogram("dynclamp_loop_period_seconds",
                          "Actual time between two clamp cycles", s.period,
                          PeriodBuckets(period_s)));
  out.push_back(Histogram("dynclamp_loop_wakeup_lateness_seconds",
                          "Wake-up of a cycle minus its deadline", s.lateness,
                          latency_buckets));
  out.push_back(Histogram("dynclamp_loop_compute_seconds",
                          "Time spent stepping the models in a cycle",
                          s.compute, latency_buckets));
  out.push_back(Histogram(
      "dynclamp_loop_io_latency_seconds",
      "Start of the input read to the end of the output write in a cycle",
      s.latency, latency_buckets));
  out.push_back(Histogram(
      "dynclamp_loop_timer_lateness_seconds",
      "The host timer's lateness: when the loop woke minus when it asked to "
      "(what the wake margin must cover)",
      s.timer_late, latency_buckets));
  out.push_back(Counter("dynclamp_loop_spin_seconds_total",
                        "Time the loop spent spinning before deadlines",
                        static_cast<double>(s.spin_ns) * 1e-9));
  out.push_back(Counter("dynclamp_loop_cpu_seconds_total",
                        "CPU time used by the loop's thread",
                        static_cast<double>(s.rt_cpu_ns) * 1e-9));
  out.push_back(Gauge("dynclamp_loop_wake_margin_seconds",
                      "How long before each deadline the loop stops sleeping "
                      "and spins",
                      static_cast<double>(s.wake_margin_ns) * 1e-9));
  out.push_back(Counter("dynclamp_loop_cycles_total", "Clamp cycles run",
                        static_cast<double>(s.cycles)));
  out.push_back(Counter("dynclamp_loop_overruns_total",
                        "Cycles that ended past the next deadline",
                        s.overruns));
  out.push_back(Counter("dynclamp_loop_skipped_cycles_total",
                        "Deadlines skipped to catch up after overruns",
                        s.skipped));
  out.push_back(Counter("dynclamp_clipped_outputs_total",
                        "Output samples clipped to a channel's current limit",
                        s.clipped));
  out.push_back(Counter("dynclamp_dropped_frames_total",
                        "Frames the loop could not hand to the drain thread",
                        s.dropped));
  out.push_back(Counter("dynclamp_daq_errors_total",
                        "Failed DAQ reads and writes", s.daq_errors));
  out.push_back(
      Counter("dynclamp_faults_total", "Entries into FAULT", s.faults));
  out.push_back(Counter("dynclamp_network_events_dropped_total",
                        "Network events lost because the queue was full",
                        s.events_dropped));
  MetricFamily lost = Family("dynclamp_subscriber_samples_lost_total",
                             "Samples a stream subscriber lost (too slow)",
                             MetricType::Counter);
  for (const auto& [id, n] : h.subscriber_losses) {
    ClientMetric m;
    m.label = {{"subscriber", absl::StrCat(id)}};
    m.counter.value = static_cast<double>(n);
    lost.metric.push_back(m);
  }
  out.push_back(lost);
  out.push_back(Gauge("dynclamp_fault",
                      "1 while the clamp is in FAULT (outputs at 0)",
                      h.fault ? 1 : 0));
  out.push_back(StateSet<v1::RunState>(
      "dynclamp_run_state", "The run's state (1 for the current one)",
      {{v1::IDLE, "idle"},
       {v1::RUNNING, "running"},
       {v1::FAULT, "fault"},
       {v1::STOPPED, "stopped"},
       {v1::COMPLETED, "completed"},
       {v1::ABORTED, "aborted"},
       {v1::FAILED, "failed"}},
      h.run_state));
  out.push_back(Gauge("dynclamp_loop_period_target_seconds",
                      "The configured clamp period", period_s));
  if (h.data_dir_free_bytes >= 0) {
    out.push_back(Gauge("dynclamp_data_dir_free_bytes",
                        "Free space of the data directory (recordings, the "
                        "queue's database)",
                        static_cast<double>(h.data_dir_free_bytes)));
  }
  out.push_back(Gauge("dynclamp_stream_queued_bytes",
                      "Bytes of chunks waiting for stream subscribers",
                      static_cast<double>(h.stream_queued_bytes)));
  out.push_back(Gauge("dynclamp_subscribers", "Stream subscribers connected",
                      static_cast<double>(h.subscriber_losses.size())));
  if (queue_ != nullptr) {
    const v1::QueueStatus q = queue_->Status();
    out.push_back(Gauge("dynclamp_queue_items", "Queue items waiting",
                        q.items_waiting()));
    out.push_back(StateSet<v1::QueueStatus::State>(
        "dynclamp_queue_state", "The queue's state (1 for the current one)",
        {{v1::QueueStatus::STOPPED, "stopped"},
         {v1::QueueStatus::RUNNING, "running"},
         {v1::QueueStatus::STOPPING, "stopping"},
         {v1::QueueStatus::PAUSED, "paused"}},
        q.state()));
  }
  MetricFamily info =
      Family("dynclamp_info",
             "The daemon: version, backend and the real-time settings obtained",
             MetricType::Gauge);
  ClientMetric m;
  m.gauge.value = 1;
  m.label = {{"version", h.version},
             {"backend", h.backend},
             {"sched_policy", h.rt_known ? h.rt.policy : "unknown"},
             {"rt_priority", h.rt_known ? absl::StrCat(h.rt.priority) : ""},
             {"memory_locked",
              h.rt_known ? (h.rt.memory_locked ? "true" : "false") : ""},
             {"cpu", h.rt_known ? absl::StrCat(h.rt.cpu) : ""},
             {"wake", h.rt_known ? h.rt.wake : ""}};
  info.metric.push_back(m);
  out.push_back(info);
  return out;
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const std::string& listen, const Instrument& instrument, QueueRunner* queue,
    Authenticator auth) {
  auto server = std::make_unique<MetricsServer>();
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(listen, 1);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--metrics_listen: cannot listen on ", listen, ": ", e.what()));
  }
  if (auth) server->exposer_->RegisterAuth(std::move(auth), "dynclampd");
  server->collector_ = std::make_shared<MetricsCollector>(instrument, queue);
  server->exposer_->RegisterCollectable(server->collector_);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  server->port_ = ports.empty() ? 0 : ports.front();
  return server;
}

}  // namespace dynclamp::server
