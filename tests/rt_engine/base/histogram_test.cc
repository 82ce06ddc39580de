#include "rt_engine/base/histogram.h"

#include <random>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

TEST(HistogramLayoutTest, BucketsAreContiguousAndTight) {
  for (std::size_t b = 1; b < HistogramLayout::kNumBuckets - 1; ++b) {
    EXPECT_EQ(HistogramLayout::UpperBound(b - 1),
              HistogramLayout::LowerBound(b));
  }
  for (uint64_t v : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 50'000ull,
                     1'234'567ull, 999'999'999ull}) {
    const std::size_t b = HistogramLayout::BucketOf(v);
    EXPECT_LE(HistogramLayout::LowerBound(b), v);
    EXPECT_GT(HistogramLayout::UpperBound(b), v);
    // Relative width at most 1/64.
    EXPECT_LE(
        double(HistogramLayout::UpperBound(b) - HistogramLayout::LowerBound(b)),
        std::max(1.0, double(v) / 64.0 + 1));
  }
}

TEST(HistogramTest, QuantilesMatchSortedSamples) {
  LatencyHistogram h;
  std::mt19937_64 gen(7);
  std::lognormal_distribution<double> dist(std::log(50'000.0), 0.3);
  std::vector<uint64_t> samples;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<uint64_t>(dist(gen));
    samples.push_back(v);
    h.Record(static_cast<int64_t>(v));
  }
  std::sort(samples.begin(), samples.end());
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, samples.size());
  EXPECT_EQ(s.max_ns, samples.back());
  EXPECT_EQ(s.min_ns, samples.front());
  for (double q : {0.5, 0.99, 0.999}) {
    const double exact =
        double(samples[std::size_t(std::ceil(q * samples.size())) - 1]);
    EXPECT_NEAR(double(s.Quantile(q)), exact, exact * 0.02) << "q=" << q;
  }
  EXPECT_EQ(s.Quantile(1.0), samples.back());
}

TEST(HistogramTest, SinceGivesTheShareOfAnInterval) {
  LatencyHistogram h;
  for (int i = 0; i < 10; ++i) h.Record(1000);
  const HistogramSnapshot before = h.Snapshot();
  for (int i = 0; i < 5; ++i) h.Record(90'000);
  const HistogramSnapshot d = h.Snapshot().Since(before);
  EXPECT_EQ(d.count, 5u);
  EXPECT_NEAR(double(d.Quantile(0.5)), 90'000.0, 90'000 * 0.02);
  EXPECT_EQ(d.CountAtOrAbove(50'000), 5u);
}

TEST(HistogramTest, NegativeAndHugeValuesAreClamped) {
  LatencyHistogram h;
  h.Record(-5);
  h.Record(int64_t{1} << 50);
  const HistogramSnapshot s = h.Snapshot();
  EXPECT_EQ(s.count, 2u);
  EXPECT_EQ(s.min_ns, 0u);
}

TEST(HistogramTest, ASharesExtremesAreItsOwn) {
  LatencyHistogram h;
  h.Record(291'000);  // an earlier run's worst step
  h.Record(40'000);
  const HistogramSnapshot before = h.Snapshot();
  h.Record(50'000);
  h.Record(194'800);  // this run's worst
  const HistogramSnapshot run = h.Snapshot().Since(before);
  EXPECT_EQ(run.count, 2u);
  EXPECT_GE(run.max_ns, 194'800u);
  EXPECT_LE(run.max_ns, 194'800u * 1.016);
  EXPECT_LE(run.min_ns, 50'000u);
  EXPECT_GE(run.min_ns, 50'000u / 1.016);
  // The lifetime worst in this share's top bucket is exact.
  h.Record(300'000);
  EXPECT_EQ(h.Snapshot().Since(before).max_ns, 300'000u);
  EXPECT_EQ(h.Snapshot().Since(h.Snapshot()).max_ns, 0u);
}

}  // namespace
}  // namespace dynclamp::rt
