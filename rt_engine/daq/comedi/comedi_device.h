// ComediDevice: the comedilib calls the comedi backend makes, behind an
// interface. The backend's logic (subdevice discovery, conversions,
// calibration choice, clipping, error handling) is then tested without
// hardware against a fake device with injectable faults; the real device
// (ComediLibDevice) is a thin pass-through to comedilib.
//
// Threads: Open/Close, the queries and the calibration lookups are non-RT.
// DoInsnList() is RT-safe (on the real device it is one ioctl).
#ifndef DYNCLAMP_RT_ENGINE_DAQ_COMEDI_COMEDI_DEVICE_H_
#define DYNCLAMP_RT_ENGINE_DAQ_COMEDI_COMEDI_DEVICE_H_

#include <comedilib.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace dynclamp::rt {

// A conversion polynomial, as comedilib's: y = sum_i c[i] (x - origin)^i.
struct ConversionPolynomial {
  double c[COMEDI_MAX_NUM_POLYNOMIAL_COEFFICIENTS] = {0, 0, 0, 0};
  double origin = 0;
  int order = 1;

  // RT-safe: no allocation, Horner's rule.
  double Eval(double x) const noexcept {
    const double d = x - origin;
    double y = c[order];
    for (int i = order - 1; i >= 0; --i) y = y * d + c[i];
    return y;
  }
  static ConversionPolynomial From(const comedi_polynomial_t& p);
  comedi_polynomial_t ToComedi() const;
};

struct ComediRange {
  double min = 0, max = 0;
  unsigned unit = UNIT_volt;
};

class ComediDevice {
 public:
  virtual ~ComediDevice() = default;
  // FailedPrecondition naming the path and why (missing, permissions).
  virtual absl::Status Open(const std::string& path) = 0;
  virtual void Close() = 0;
  virtual std::string BoardName() = 0;
  // The first subdevice of `type` (COMEDI_SUBD_AI, ...), or -1.
  virtual int FindSubdevice(int type) = 0;
  virtual int SubdeviceType(int subdevice) = 0;  // -1: no such subdevice
  virtual int NumChannels(int subdevice) = 0;
  virtual int NumRanges(int subdevice, int channel) = 0;
  virtual std::optional<ComediRange> Range(int subdevice, int channel,
                                           int range) = 0;
  virtual uint32_t MaxData(int subdevice, int channel) = 0;
  virtual int SubdeviceFlags(int subdevice) = 0;
  virtual std::string DefaultCalibrationPath() = 0;
  // A software calibration from `file` (NotFound: no such file or no
  // setting for this channel and range).
  virtual absl::StatusOr<ConversionPolynomial> SoftCalibration(
      const std::string& file, int subdevice, int channel, int range,
      bool to_physical) = 0;
  // The board's own (hardware) calibration; NotFound if it has none.
  virtual absl::StatusOr<ConversionPolynomial> HardCalibration(
      int subdevice, int channel, int range, bool to_physical) = 0;

  // RT. Runs the instructions; returns how many were done, or -1 with
  // `error` set (an errno value; ENODEV: the device is gone).
  virtual int DoInsnList(comedi_insnlist* list, int* error) noexcept = 0;
};

// The real thing, over comedilib.
std::unique_ptr<ComediDevice> MakeComediLibDevice();

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_DAQ_COMEDI_COMEDI_DEVICE_H_
