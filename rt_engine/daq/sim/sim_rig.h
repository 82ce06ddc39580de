// SimRig: the default DAQ backend. Each channel is wired to a simulated
// "biological" cell (SimCell) that is integrated with fine substeps between
// clamp cycles, with the clamp's output held constant (zero-order hold).
//
// Realism knobs, all seeded and reproducible:
//  - ADC and DAC quantization (bits over +-range volts, clipped at range);
//  - additive Gaussian recording noise on the measured V;
//  - a bias current per cell (SimCellConfig::bias_pa);
//  - extra input-to-output latency: an output written in the cycle that
//    sampled at time t reaches the cell at t + latency;
//  - jitter: each cycle's actual step is period + U(0, jitter);
//  - a slow board: each input read takes U(0, io_jitter) of real time (a
//    busy wait), so the loop's measured latency and periods really suffer
//    (the timing QC's and the metrics' drill).
//
// Clocks: kNominal advances the cells by exactly period (+ injected jitter)
// per cycle, whatever the host does: runs are deterministic and may go faster
// than real time. kWallClock advances them by the measured time between
// cycles, so the host's own jitter and latency reach the "biology", as on a
// real rig.
//
// Fault injection (for tests and drills): FailNextReads/Writes make the next
// n reads or writes fail.
//
// Threads: Configure()/Prepare()/Describe()/Fail*() are non-RT. The Daq
// per-cycle methods run on the RT thread. The probes (true V, applied
// current, world time) are atomics readable from any thread.
#ifndef DYNCLAMP_RT_ENGINE_DAQ_SIM_SIM_RIG_H_
#define DYNCLAMP_RT_ENGINE_DAQ_SIM_SIM_RIG_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rt_engine/base/random.h"
#include "rt_engine/daq/daq.h"
#include "rt_engine/daq/sim/sim_cell.h"

namespace dynclamp::rt {

struct SimRigConfig {
  enum class Clock { kNominal, kWallClock };
  std::vector<SimCellConfig> cells;  // one per DAQ channel, same order
  Clock clock = Clock::kNominal;
  double substep_us = 5.0;  // largest integration substep, <= 5 us
  int adc_bits = 16;        // 0: no quantization
  double adc_range_v = 10.0;
  int dac_bits = 20;  // fine steps (0.38 pA at 20 nA/V): the gain is high
  double dac_range_v = 10.0;
  double noise_sd_mv = 0.0;   // recording noise on the measured V
  double latency_us = 0.0;    // extra input-to-output latency
  double jitter_us = 0.0;     // nominal clock: step = period + U(0, j)
  double io_jitter_us = 0.0;  // real time each read takes: U(0, j)
  uint64_t seed = 1;
};

class SimRig final : public Daq {
 public:
  explicit SimRig(SimRigConfig config);
  ~SimRig() override;

  absl::Status Prepare(int64_t period_ns) override;
  std::string Describe() const override;
  bool OnNominalTime() const override {
    return sim_config_.clock == SimRigConfig::Clock::kNominal;
  }
  void BeginCycle(int64_t wake_time_ns) noexcept override;
  // The simulated world's step this cycle (with the injected jitter, or the
  // measured wake-up interval on the wall clock).
  double SampleIntervalMs(int64_t) const noexcept override {
    return last_step_ms_;
  }

  // Non-RT: the next n reads (writes) report failure.
  void FailNextReads(int n) { fail_reads_.store(n); }
  void FailNextWrites(int n) { fail_writes_.store(n); }

  // Any thread. Probes of the simulated world.
  double true_v_mv(std::size_t cell) const noexcept;
  double applied_current_pa(std::size_t cell) const noexcept;
  // The current the DAC is commanding now (before any injected latency).
  double dac_output_pa(std::size_t cell) const noexcept;
  double world_time_ms() const noexcept {
    return world_ms_probe_.load(std::memory_order_relaxed);
  }
  const SimRigConfig& sim_config() const { return sim_config_; }

 protected:
  absl::Status DoConfigure(const DaqConfig& config) override;
  DaqError DoReadVolts(std::span<double> volts) noexcept override;
  DaqError DoWriteVolts(std::span<double> volts) noexcept override;
  VoltRange OutputRange(std::size_t) const override {
    return {-sim_config_.dac_range_v, sim_config_.dac_range_v};
  }

 private:
  struct PendingOutput {
    double apply_ms;
    double i_pa;
  };
  // Fixed ring of outputs waiting for their latency to pass, per cell.
  struct CellWire {
    std::unique_ptr<SimCell> cell;
    std::vector<PendingOutput> pending;  // capacity fixed at Prepare
    std::size_t head = 0, size = 0;
    double applied_pa = 0;  // current the cell sees now (ZOH)
  };
  void AdvanceCell(CellWire& w, double to_ms) noexcept;
  static double Quantize(double volts, int bits, double range) noexcept;

  SimRigConfig sim_config_;
  std::vector<CellWire> wires_;
  Rng rng_;
  double world_ms_ = 0;  // simulated time of the latest sample
  double last_step_ms_ = 0;
  double period_ms_ = 0.05;
  double substep_ms_ = 0.005;
  int64_t last_wake_ns_ = -1;
  int64_t cycle_wake_ns_ = 0;
  std::atomic<int> fail_reads_{0};
  std::atomic<int> fail_writes_{0};
  std::atomic<double> world_ms_probe_{0};
  std::unique_ptr<std::atomic<double>[]> v_probe_;
  std::unique_ptr<std::atomic<double>[]> i_probe_;
  std::unique_ptr<std::atomic<double>[]> dac_probe_;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_DAQ_SIM_SIM_RIG_H_
