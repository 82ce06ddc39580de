#include "rt_engine/network/spike_detectors.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace dynclamp::rt {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Which detectors left their window: loops written to vectorize, built
// twice; the loader picks the AVX2 build where the CPU has it. NaN leaves
// no window.
__attribute__((target_clones("avx2", "default"))) void LeftConsecutive(
    std::size_t n, const double* __restrict v, const double* __restrict above,
    const double* __restrict below, uint8_t* __restrict left) noexcept {
  for (std::size_t d = 0; d < n; ++d)
    left[d] = (v[d] >= above[d]) | (v[d] < below[d]);
}

__attribute__((target_clones("avx2", "default"))) void LeftGathered(
    std::size_t n, const double* __restrict v, const uint32_t* __restrict cell,
    const double* __restrict above, const double* __restrict below,
    uint8_t* __restrict left) noexcept {
  for (std::size_t d = 0; d < n; ++d) {
    const double x = v[cell[d]];
    left[d] = (x >= above[d]) | (x < below[d]);
  }
}

}  // namespace

SpikeDetectors::SpikeDetectors(std::vector<Spec> specs)
    : specs_(std::move(specs)) {
  std::stable_sort(
      specs_.begin(), specs_.end(),
      [](const Spec& a, const Spec& b) { return a.cell < b.cell; });
  const std::size_t n = specs_.size();
  for (const Spec& s : specs_) cell_.push_back(s.cell);
  contiguous_ = true;
  for (std::size_t d = 0; d < n; ++d) contiguous_ &= cell_[d] == cell_[0] + d;
  above_.assign(n, kInf);
  below_.assign(n, -kInf);
  // Whole words: Detect reads the flags eight at a time.
  left_.assign((n + 7) / 8 * 8, 0);
  crossings_.resize(n);
  for (std::size_t d = 0; d < n; ++d) Watch(d, true);
}

void SpikeDetectors::Watch(std::size_t d, bool armed) noexcept {
  above_[d] = armed ? specs_[d].threshold_mv : kInf;
  below_[d] = armed ? -kInf : specs_[d].threshold_mv - specs_[d].hysteresis_mv;
}

void SpikeDetectors::Arm(std::span<const double> v_mv) noexcept {
  for (std::size_t d = 0; d < specs_.size(); ++d)
    Watch(d, v_mv[cell_[d]] < specs_[d].threshold_mv);
}

std::span<const SpikeDetectors::Crossing> SpikeDetectors::Detect(
    std::span<const double> v_prev, std::span<const double> v, double now_ms,
    double dt_ms) noexcept {
  const std::size_t n = specs_.size();
  if (n == 0) return {};
  if (contiguous_) {
    LeftConsecutive(n, &v[cell_[0]], above_.data(), below_.data(),
                    left_.data());
  } else {
    LeftGathered(n, v.data(), cell_.data(), above_.data(), below_.data(),
                 left_.data());
  }
  std::size_t count = 0;
  for (std::size_t w = 0; w < left_.size(); w += 8) {
    uint64_t word;
    std::memcpy(&word, &left_[w], 8);
    if (word == 0) continue;
    for (std::size_t d = w; d < std::min(w + 8, n); ++d) {
      if (!left_[d]) continue;
      const Spec& s = specs_[d];
      const double v0 = v_prev[s.cell], v1 = v[s.cell];
      if (v1 < s.threshold_mv) {  // fell below threshold - hysteresis
        Watch(d, true);
        continue;
      }
      // Crossing time within the step, by linear interpolation.
      const double f = v1 > v0 ? (s.threshold_mv - v0) / (v1 - v0) : 1.0;
      crossings_[count++] = {s.source,
                             now_ms - dt_ms + dt_ms * std::clamp(f, 0.0, 1.0)};
      Watch(d, false);
    }
  }
  return {crossings_.data(), count};
}

}  // namespace dynclamp::rt
