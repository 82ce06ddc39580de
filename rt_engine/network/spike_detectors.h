// SpikeDetectors: the event sources that watch a cell's V (real or model)
// for an upward threshold crossing, with hysteresis: once fired, a detector
// fires again only after V has fallen below threshold - hysteresis.
//
// Each detector watches one window: armed, it waits for V >= threshold;
// fired, for V < threshold - hysteresis. A step checks every detector's
// window four to a vector (most steps nothing happens) and handles the few
// that leave it. Detectors are kept in cell order, so when they watch
// consecutive cells (model cells usually are) V is read without gathers.
//
// Threads: construction is non-RT; Arm() and Detect() are RT-safe and
// belong to the thread that steps the network.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_SPIKE_DETECTORS_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_SPIKE_DETECTORS_H_

#include <cstdint>
#include <span>
#include <vector>

namespace dynclamp::rt {

class SpikeDetectors {
 public:
  struct Spec {
    uint32_t cell = 0;
    double threshold_mv = -20, hysteresis_mv = 10;
    uint32_t source = 0;  // what a crossing fires
  };
  struct Crossing {
    uint32_t source = 0;
    double t_ms = 0;  // within the step, by linear interpolation
  };

  SpikeDetectors() = default;
  explicit SpikeDetectors(std::vector<Spec> specs);

  std::size_t size() const noexcept { return specs_.size(); }

  // RT. Every detector armed if its cell's V is below threshold.
  void Arm(std::span<const double> v_mv) noexcept;
  // RT. The crossings of the step that ended at now_ms (V went from v_prev
  // to v over dt_ms), in cell order; windows move on.
  std::span<const Crossing> Detect(std::span<const double> v_prev,
                                   std::span<const double> v, double now_ms,
                                   double dt_ms) noexcept;

 private:
  void Watch(std::size_t d, bool armed) noexcept;

  std::vector<Spec> specs_;  // by cell
  std::vector<uint32_t> cell_;
  // The window: V >= above_ or V < below_ leaves it (the other is +-inf).
  std::vector<double> above_, below_;
  std::vector<uint8_t> left_;  // per detector, this step: left its window
  std::vector<Crossing> crossings_;
  bool contiguous_ = false;  // cell_[d] == cell_[0] + d
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_SPIKE_DETECTORS_H_
