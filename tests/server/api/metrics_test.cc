#include "server/api/metrics.h"

#include <gtest/gtest.h>

#include <regex>

#include "rt_engine/base/histogram.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::server {
namespace {

TEST(MetricsTest, EngineHistogramsBecomeCumulativePrometheusBuckets) {
  rt::LatencyHistogram h;
  for (int k = 0; k < 1000; ++k) h.Record(50'000);  // the period
  for (int k = 0; k < 10; ++k) h.Record(120'000);   // long steps
  h.Record(3'000'000);
  const std::vector<double> bounds = PeriodBuckets(50e-6);
  const auto p = ToPrometheus(h.Snapshot(), bounds);
  ASSERT_EQ(p.bucket.size(), bounds.size() + 1);
  EXPECT_EQ(p.sample_count, 1011u);
  EXPECT_NEAR(p.sample_sum, 1000 * 50e-6 + 10 * 120e-6 + 3e-3, 1e-9);
  uint64_t previous = 0;
  for (const auto& b : p.bucket) {
    EXPECT_GE(b.cumulative_count, previous);
    previous = b.cumulative_count;
  }
  EXPECT_EQ(p.bucket.back().cumulative_count, 1011u);
  EXPECT_TRUE(std::isinf(p.bucket.back().upper_bound));
  auto at = [&](double bound) {
    for (const auto& b : p.bucket)
      if (std::abs(b.upper_bound - bound) < 1e-12) return b.cumulative_count;
    ADD_FAILURE() << "no bucket at " << bound;
    return uint64_t{0};
  };
  EXPECT_EQ(at(49.5e-6), 0u);
  EXPECT_EQ(at(50e-6), 1000u);  // the median bucket is the period's
  EXPECT_EQ(at(100e-6), 1000u);
  EXPECT_EQ(at(150e-6), 1010u);
  EXPECT_EQ(at(5e-3), 1011u);
}

TEST(MetricsTest, NamesFollowPrometheusConventions) {
  rt::SimRigConfig sim = rt::testing::IdealSim({rt::SimCellConfig{}});
  InstrumentOptions options;
  options.sim = sim;
  options.daq = rt::testing::ChannelsFor(1);
  auto inst = *Instrument::Create(options);
  MetricsCollector collector(*inst, nullptr);
  const auto families = collector.Collect();
  ASSERT_GE(families.size(), 15u);
  const std::regex name("^dynclamp_[a-z0-9_]+$");
  for (const auto& f : families) {
    EXPECT_TRUE(std::regex_match(f.name, name)) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
    if (f.type == prometheus::MetricType::Counter) {
      EXPECT_TRUE(f.name.ends_with("_total")) << f.name;
    }
    if (f.type == prometheus::MetricType::Histogram) {
      EXPECT_TRUE(f.name.ends_with("_seconds")) << f.name;
    }
  }
  inst->Shutdown();
}

}  // namespace
}  // namespace dynclamp::server
