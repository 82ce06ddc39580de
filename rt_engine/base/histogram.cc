#include "rt_engine/base/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dynclamp::rt {

uint64_t HistogramSnapshot::Quantile(double q) const {
  if (count == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the sample at quantile q (1-based, nearest-rank definition).
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count))));
  uint64_t seen = 0;
  for (std::size_t b = 0; b < counts.size(); ++b) {
    seen += counts[b];
    if (seen >= rank) {
      return std::min(HistogramLayout::UpperBound(b) - 1, max_ns);
    }
  }
  return max_ns;
}

uint64_t HistogramSnapshot::CountAtOrAbove(uint64_t threshold_ns) const {
  uint64_t n = 0;
  for (std::size_t b = HistogramLayout::BucketOf(threshold_ns);
       b < counts.size(); ++b) {
    n += counts[b];
  }
  return n;
}

HistogramSnapshot HistogramSnapshot::Since(
    const HistogramSnapshot& earlier) const {
  HistogramSnapshot d = *this;
  if (earlier.counts.size() == counts.size()) {
    for (std::size_t b = 0; b < counts.size(); ++b) {
      d.counts[b] -= std::min(d.counts[b], earlier.counts[b]);
    }
  }
  d.count = count - std::min(count, earlier.count);
  d.sum_ns = sum_ns - std::min(sum_ns, earlier.sum_ns);
  // The extremes of this share alone: the lifetime ones if they fall in its
  // outermost buckets, else those buckets' edges (within 1.6 %), never a
  // value from before `earlier`.
  std::size_t lo = d.counts.size(), hi = 0;
  for (std::size_t b = 0; b < d.counts.size(); ++b) {
    if (d.counts[b] == 0) continue;
    lo = std::min(lo, b);
    hi = b;
  }
  if (d.count == 0 || lo == d.counts.size()) {
    d.min_ns = d.max_ns = 0;
    return d;
  }
  d.max_ns = std::min(max_ns, HistogramLayout::UpperBound(hi) - 1);
  d.min_ns = std::max(min_ns, HistogramLayout::LowerBound(lo));
  return d;
}

HistogramSnapshot LatencyHistogram::Snapshot() const {
  HistogramSnapshot s;
  s.counts.resize(counts_.size());
  for (std::size_t b = 0; b < counts_.size(); ++b) {
    s.counts[b] = counts_[b].load(std::memory_order_relaxed);
  }
  s.count = count_.load(std::memory_order_relaxed);
  s.sum_ns = sum_.load(std::memory_order_relaxed);
  s.max_ns = max_.load(std::memory_order_relaxed);
  const uint64_t mn = min_.load(std::memory_order_relaxed);
  s.min_ns = s.count == 0 ? 0 : mn;
  return s;
}

void LatencyHistogram::Reset() noexcept {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  count_.store(0, std::memory_order_relaxed);
  sum_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
  min_.store(std::numeric_limits<uint64_t>::max(), std::memory_order_relaxed);
}

}  // namespace dynclamp::rt
