// Daq: the data-acquisition board as the clamp loop sees it. A fixed set of
// channels, one per recorded cell: an analog input carrying the amplifier's
// membrane-potential output and an analog output driving its command input.
//
// Configure() once (non-RT): channel names, the amplifier's gains in physical
// units and each channel's output current limit. After that, per cycle (RT):
//   BeginCycle()   lets a backend do its per-cycle bookkeeping (the
//                  simulated rig advances its cells here);
//   ReadInputs()   membrane potentials in mV;
//   WriteOutputs() command currents in pA, each clipped to its channel's
//                  limit first (every clip counted), then converted to volts;
//                  the currents come back as delivered (the converter's
//                  own step), so what is recorded is what the cell got.
// Conversions between volts and physical units and clipping live here, so
// every backend behaves the same; a backend moves volts only. A channel's
// limit must lie within what its converter can put out (range x gain):
// beyond it the converter would saturate unseen, so Configure refuses it.
//
// Threads: Configure()/Prepare()/Describe() are non-RT. After the loop starts,
// only the RT thread calls the per-cycle methods. Counters are readable from
// any thread. Non-copyable; single owner.
#ifndef DYNCLAMP_RT_ENGINE_DAQ_DAQ_H_
#define DYNCLAMP_RT_ENGINE_DAQ_DAQ_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "rt_engine/base/enum_names.h"

namespace dynclamp::rt {

struct DaqChannelConfig {
  std::string name;                     // the cell's name, e.g. "cell0"
  double input_gain_mv_per_v = 100.0;   // mV of membrane potential per V in
  double output_gain_pa_per_v = 400.0;  // pA injected per V out
  double current_limit_pa = 2000.0;     // |I| never exceeds this
};

struct DaqConfig {
  std::vector<DaqChannelConfig> channels;
};

// Small error codes for the RT path; the non-RT side turns them into text.
enum class DaqError : uint8_t {
  kOk = 0,
  kReadFailed,
  kWriteFailed,
  kDeviceLost
};
inline constexpr EnumNames<DaqError, DaqError::kOk, DaqError::kDeviceLost>
    kDaqErrorNames("ok", "analog input read failed",
                   "analog output write failed", "device lost");
inline const char* DaqErrorName(DaqError error) {
  return kDaqErrorNames.Name(error);
}

// The volts an analog output can put out.
struct VoltRange {
  double min = -10.0;
  double max = 10.0;
};

struct DaqWriteResult {
  DaqError error = DaqError::kOk;
  uint32_t clipped = 0;  // channels clipped this cycle
};

inline constexpr std::size_t kMaxDaqChannels = 64;

class Daq {
 public:
  virtual ~Daq();
  Daq(const Daq&) = delete;
  Daq& operator=(const Daq&) = delete;

  // Non-RT. Validates (InvalidArgument naming channels[i].field), sizes the
  // buffers, hands the config to the backend and drives all outputs to 0.
  absl::Status Configure(const DaqConfig& config);
  // Non-RT. Called by the loop before it starts, with its period.
  virtual absl::Status Prepare(int64_t period_ns) { return absl::OkStatus(); }
  // Non-RT. One line describing the backend and its channels.
  virtual std::string Describe() const = 0;
  // Non-RT. Why the last read or write failed, as the backend knows it
  // (e.g. the errno of a board's instruction list); empty if it cannot say.
  virtual std::string LastErrorText() const { return {}; }
  // Whether the cells behind it live on the loop's nominal time (a
  // simulated rig advances them one period per cycle): then a late cycle
  // is run late rather than skipped, or they would lose the time.
  virtual bool OnNominalTime() const { return false; }

  const DaqConfig& config() const { return config_; }
  std::size_t num_channels() const { return config_.channels.size(); }

  // RT.
  virtual void BeginCycle(int64_t wake_time_ns) noexcept {}
  // RT, after BeginCycle. The time (ms) between the previous cycle's inputs
  // and this cycle's, given the time between the loop's wake-ups (0 on the
  // first cycle). A board samples when the loop wakes, so by default the two
  // are the same; the virtual conductances integrate over this interval.
  virtual double SampleIntervalMs(int64_t wake_interval_ns) const noexcept {
    return static_cast<double>(wake_interval_ns) * 1e-6;
  }
  DaqError ReadInputs(std::span<double> v_mv) noexcept;
  // Clips `i_pa` in place to each channel's limit, writes it, and leaves in
  // `i_pa` the current the converter delivers.
  DaqWriteResult WriteOutputs(std::span<double> i_pa) noexcept;
  // Drives every output to 0 A. Safe to call at any time after Configure
  // from the thread that owns the Daq (RT thread while running).
  DaqError WriteZero() noexcept;

  // Any thread.
  uint64_t clipped_total() const noexcept {
    return clipped_total_.load(std::memory_order_relaxed);
  }
  uint64_t clipped_on(std::size_t channel) const noexcept {
    return channel < kMaxDaqChannels
               ? clipped_per_channel_[channel].load(std::memory_order_relaxed)
               : 0;
  }

 protected:
  Daq() = default;
  virtual absl::Status DoConfigure(const DaqConfig& config) = 0;
  // Non-RT, after DoConfigure: what output `channel`'s converter spans.
  virtual VoltRange OutputRange(std::size_t channel) const { return {}; }
  // RT. Volts at each input. Volts to put on each output, replaced by what
  // the converter puts out (its nearest code).
  virtual DaqError DoReadVolts(std::span<double> volts) noexcept = 0;
  virtual DaqError DoWriteVolts(std::span<double> volts) noexcept = 0;

 private:
  DaqConfig config_;
  std::vector<double> volts_in_;
  std::vector<double> volts_out_;
  std::atomic<uint64_t> clipped_total_{0};
  std::atomic<uint64_t> clipped_per_channel_[kMaxDaqChannels] = {};
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_DAQ_DAQ_H_
