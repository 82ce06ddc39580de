// ComediDaq: the Daq backend for real boards, through comedi.
//
// Configure() opens the device, finds (or checks) the analog input and
// output subdevices, checks every channel, range and reference against the
// board, and chooses each channel's conversion between raw counts and volts:
// the calibration file for soft-calibrated boards (the configured file or
// comedi's default path), the hardware calibration converter for
// hard-calibrated ones, and the plain range conversion otherwise. Anything
// wrong is refused with the field and the reason, and nothing runs.
//
// Each cycle: all input reads in one comedi_do_insnlist call, all output
// writes in one, nothing else; conversions are polynomials evaluated without
// allocation; raw output values are clipped to the board's range. Outputs
// are driven to 0 V when the device is configured, by the engine when the
// loop stops or enters FAULT, and by the destructor before the device is
// closed. A failed list is reported as a read or write failure, or as a lost
// device (ENODEV); the engine turns each into FAULT.
//
// Threads: the constructor, Configure(), Describe() and the accessors are
// non-RT; the Daq's per-cycle calls are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_DAQ_COMEDI_COMEDI_DAQ_H_
#define DYNCLAMP_RT_ENGINE_DAQ_COMEDI_COMEDI_DAQ_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "rt_engine/base/enum_names.h"
#include "rt_engine/daq/comedi/comedi_device.h"
#include "rt_engine/daq/daq.h"

namespace dynclamp::rt {

struct ComediEndpoint {
  int subdevice = -1;  // -1: the board's first analog input (or output)
  int channel = 0;
  int range = 0;
  int aref = AREF_GROUND;  // AREF_GROUND, AREF_COMMON, AREF_DIFF
};

struct ComediChannelConfig {
  ComediEndpoint input;   // the amplifier's membrane potential output
  ComediEndpoint output;  // the amplifier's command input
};

struct ComediConfig {
  std::string device = "/dev/comedi0";
  std::string calibration_file;               // empty: comedi's default path
  std::vector<ComediChannelConfig> channels;  // one per Daq channel
};

class ComediDaq final : public Daq {
 public:
  enum class Calibration { kSoft, kHard, kRange };

  ComediDaq(ComediConfig config, std::unique_ptr<ComediDevice> device);
  ~ComediDaq() override;  // outputs to 0 V, then the device is closed

  std::string Describe() const override;
  // Non-RT, after Configure.
  Calibration input_calibration(std::size_t channel) const {
    return in_[channel].calibration;
  }
  Calibration output_calibration(std::size_t channel) const {
    return out_[channel].calibration;
  }
  // The errno of the last failed instruction list (0: none yet).
  int last_error() const { return last_error_.load(); }
  std::string LastErrorText() const override;

 protected:
  absl::Status DoConfigure(const DaqConfig& config) override;
  DaqError DoReadVolts(std::span<double> volts) noexcept override;
  DaqError DoWriteVolts(std::span<double> volts) noexcept override;
  VoltRange OutputRange(std::size_t channel) const override;

 private:
  struct Endpoint {
    ComediEndpoint where;
    uint32_t max_data = 0;
    ComediRange range;
    ConversionPolynomial polynomial;  // raw -> V (inputs), V -> raw (outputs)
    Calibration calibration = Calibration::kRange;
  };
  absl::Status Resolve(std::size_t index, bool output, const std::string& path,
                       const std::string& calibration_file, Endpoint& e);

  const ComediConfig config_;
  std::unique_ptr<ComediDevice> device_;
  bool open_ = false;
  std::string board_;
  std::vector<Endpoint> in_, out_;
  std::vector<comedi_insn> read_insns_, write_insns_;
  std::vector<lsampl_t> read_data_, write_data_;
  comedi_insnlist read_list_{}, write_list_{};
  std::atomic<int> last_error_{0};
};

inline constexpr EnumNames<ComediDaq::Calibration,
                           ComediDaq::Calibration::kSoft,
                           ComediDaq::Calibration::kRange>
    kCalibrationNames("soft calibration", "hardware calibration",
                      "range (uncalibrated)");
inline const char* CalibrationName(ComediDaq::Calibration c) {
  return kCalibrationNames.Name(c);
}

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_DAQ_COMEDI_COMEDI_DAQ_H_
