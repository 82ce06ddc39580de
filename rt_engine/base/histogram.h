// LatencyHistogram: a preallocated log-linear histogram of non-negative
// durations in nanoseconds (about 1.6 % relative resolution from 64 ns up,
// exact below), plus count, sum, min and max.
//
// Threads: Record() is RT-safe and must be called from one thread only (the
// RT loop): it updates relaxed atomics without read-modify-write
// instructions. Snapshot() may be called from any thread at any time; a
// snapshot taken while recording is consistent to within the in-flight
// sample. HistogramSnapshot is plain non-RT data.
#ifndef DYNCLAMP_RT_ENGINE_BASE_HISTOGRAM_H_
#define DYNCLAMP_RT_ENGINE_BASE_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

namespace dynclamp::rt {

class HistogramLayout {
 public:
  static constexpr int kSubBucketBits = 6;
  static constexpr uint64_t kSubBuckets = 1u << kSubBucketBits;  // 64
  static constexpr int kMaxExponent = 40;  // values up to ~2^40 ns (18 min)
  static constexpr std::size_t kNumBuckets =
      (kMaxExponent - kSubBucketBits + 1) * kSubBuckets + kSubBuckets;

  static constexpr std::size_t BucketOf(uint64_t v) noexcept {
    if (v < kSubBuckets) return static_cast<std::size_t>(v);
    const int e = 63 - __builtin_clzll(v);
    if (e > kMaxExponent) return kNumBuckets - 1;
    const uint64_t sub = (v >> (e - kSubBucketBits)) & (kSubBuckets - 1);
    return static_cast<std::size_t>((e - kSubBucketBits + 1) * kSubBuckets +
                                    sub);
  }
  // Smallest value that falls in `bucket`.
  static constexpr uint64_t LowerBound(std::size_t bucket) noexcept {
    if (bucket < kSubBuckets) return bucket;
    const int e = static_cast<int>(bucket / kSubBuckets) - 1 + kSubBucketBits;
    const uint64_t sub = bucket % kSubBuckets;
    return (kSubBuckets + sub) << (e - kSubBucketBits);
  }
  // One past the largest value that falls in `bucket`.
  static constexpr uint64_t UpperBound(std::size_t bucket) noexcept {
    if (bucket < kSubBuckets) return bucket + 1;
    const int e = static_cast<int>(bucket / kSubBuckets) - 1 + kSubBucketBits;
    return LowerBound(bucket) + (uint64_t{1} << (e - kSubBucketBits));
  }
};

struct HistogramSnapshot {
  std::vector<uint64_t> counts;  // HistogramLayout::kNumBuckets entries
  uint64_t count = 0;
  uint64_t sum_ns = 0;
  uint64_t min_ns = 0;
  uint64_t max_ns = 0;

  // The value at quantile q in [0, 1]: the upper edge of the bucket that
  // holds the q-th sample, never more than the largest sample seen.
  // Returns 0 for an empty snapshot.
  uint64_t Quantile(double q) const;
  double MeanNs() const { return count ? double(sum_ns) / double(count) : 0; }
  // Samples >= threshold_ns (counted by bucket, so exact only at bucket
  // edges; conservative: a bucket straddling the threshold counts).
  uint64_t CountAtOrAbove(uint64_t threshold_ns) const;
  // This snapshot minus an earlier one of the same histogram (a run's
  // share). min/max are the share's own: exact when the lifetime extreme
  // lies in the share's outermost bucket, else that bucket's edge.
  HistogramSnapshot Since(const HistogramSnapshot& earlier) const;
};

class LatencyHistogram {
 public:
  LatencyHistogram() { Reset(); }
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // RT, single writer.
  void Record(int64_t value_ns) noexcept {
    const uint64_t v = value_ns < 0 ? 0 : static_cast<uint64_t>(value_ns);
    Bump(counts_[HistogramLayout::BucketOf(v)], 1);
    Bump(count_, 1);
    Bump(sum_, v);
    if (v > max_.load(std::memory_order_relaxed))
      max_.store(v, std::memory_order_relaxed);
    if (v < min_.load(std::memory_order_relaxed))
      min_.store(v, std::memory_order_relaxed);
  }

  // Any thread.
  HistogramSnapshot Snapshot() const;
  uint64_t count() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }
  uint64_t max_ns() const noexcept {
    return max_.load(std::memory_order_relaxed);
  }

  // Only while no thread is recording.
  void Reset() noexcept;

 private:
  static void Bump(std::atomic<uint64_t>& a, uint64_t by) noexcept {
    a.store(a.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  std::array<std::atomic<uint64_t>, HistogramLayout::kNumBuckets> counts_;
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
  std::atomic<uint64_t> min_{0};
  std::atomic<uint64_t> max_{0};
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_HISTOGRAM_H_
