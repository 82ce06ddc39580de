// Metrics: the daemon's Prometheus exposition (prometheus-cpp), by default
// on 127.0.0.1:9464 at /metrics.
//
// Nothing here runs on the RT thread and the RT thread never touches
// prometheus-cpp: the loop only bumps its preallocated atomics and
// histograms (rt::TimingStats); this collector reads them when Prometheus
// scrapes, and turns them into families named by Prometheus conventions
// (dynclamp_ prefix, base units, _total counters). Histogram buckets are
// dense around the configured period (period) or in the microsecond range
// that matters for a clamp step (lateness, compute, latency); their counts
// come from the engine's fine log-linear histograms at the bucket edges.
//
// Threads: non-RT. Collect() runs on the exposer's threads.
#ifndef DYNCLAMP_SERVER_API_METRICS_H_
#define DYNCLAMP_SERVER_API_METRICS_H_

#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/instrument/instrument.h"
#include "server/queue/queue_runner.h"

namespace dynclamp::server {

// Bucket upper bounds (seconds) for the period histogram: dense around
// `period_s`.
std::vector<double> PeriodBuckets(double period_s);
// Bucket upper bounds (seconds) for lateness, compute time and latency.
std::vector<double> LatencyBuckets(double period_s);
// Cumulative Prometheus buckets (plus +Inf) from an engine histogram.
prometheus::ClientMetric::Histogram ToPrometheus(
    const rt::HistogramSnapshot& h, const std::vector<double>& bounds_s);

class MetricsCollector final : public prometheus::Collectable {
 public:
  // `queue` may be null (no queue).
  MetricsCollector(const Instrument& instrument, QueueRunner* queue)
      : instrument_(instrument), queue_(queue) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Instrument& instrument_;
  QueueRunner* queue_;
};

class MetricsServer {
 public:
  // Checks HTTP basic credentials (user, password) of a scrape.
  using Authenticator =
      std::function<bool(const std::string&, const std::string&)>;
  // Listens on `listen` ("host:port"); FailedPrecondition if it cannot.
  // With `auth`, a scrape without valid credentials gets 401.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const std::string& listen, const Instrument& instrument,
      QueueRunner* queue, Authenticator auth = nullptr);
  int port() const { return port_; }

 private:
  std::shared_ptr<MetricsCollector> collector_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_METRICS_H_
