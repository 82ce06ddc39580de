// ComediLibDevice: ComediDevice over comedilib (the only file that calls it).
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "rt_engine/daq/comedi/comedi_device.h"

namespace dynclamp::rt {

ConversionPolynomial ConversionPolynomial::From(const comedi_polynomial_t& p) {
  ConversionPolynomial out;
  for (int i = 0; i < COMEDI_MAX_NUM_POLYNOMIAL_COEFFICIENTS; ++i)
    out.c[i] = p.coefficients[i];
  out.origin = p.expansion_origin;
  out.order = static_cast<int>(p.order);
  return out;
}

comedi_polynomial_t ConversionPolynomial::ToComedi() const {
  comedi_polynomial_t p{};
  for (int i = 0; i < COMEDI_MAX_NUM_POLYNOMIAL_COEFFICIENTS; ++i)
    p.coefficients[i] = c[i];
  p.expansion_origin = origin;
  p.order = static_cast<unsigned>(order);
  return p;
}

namespace {

class ComediLibDevice final : public ComediDevice {
 public:
  ~ComediLibDevice() override { Close(); }

  absl::Status Open(const std::string& path) override {
    Close();
    dev_ = comedi_open(path.c_str());
    if (dev_ == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat("device '", path, "': ", comedi_strerror(comedi_errno()),
                       " (is the board's driver loaded, and may this user "
                       "open it? see docs/rig-setup.md)"));
    }
    return absl::OkStatus();
  }
  void Close() override {
    if (dev_ != nullptr) comedi_close(dev_);
    dev_ = nullptr;
  }
  std::string BoardName() override {
    const char* name = comedi_get_board_name(dev_);
    return name ? name : "";
  }
  int FindSubdevice(int type) override {
    return comedi_find_subdevice_by_type(dev_, type, 0);
  }
  int SubdeviceType(int subdevice) override {
    return comedi_get_subdevice_type(dev_, subdevice);
  }
  int NumChannels(int subdevice) override {
    return comedi_get_n_channels(dev_, subdevice);
  }
  int NumRanges(int subdevice, int channel) override {
    return comedi_get_n_ranges(dev_, subdevice, channel);
  }
  std::optional<ComediRange> Range(int subdevice, int channel,
                                   int range) override {
    const comedi_range* r = comedi_get_range(dev_, subdevice, channel, range);
    if (r == nullptr) return std::nullopt;
    return ComediRange{r->min, r->max, r->unit};
  }
  uint32_t MaxData(int subdevice, int channel) override {
    return comedi_get_maxdata(dev_, subdevice, channel);
  }
  int SubdeviceFlags(int subdevice) override {
    return comedi_get_subdevice_flags(dev_, subdevice);
  }
  std::string DefaultCalibrationPath() override {
    char* path = comedi_get_default_calibration_path(dev_);
    std::string out = path ? path : "";
    free(path);
    return out;
  }
  absl::StatusOr<ConversionPolynomial> SoftCalibration(
      const std::string& file, int subdevice, int channel, int range,
      bool to_physical) override {
    comedi_calibration_t* cal = comedi_parse_calibration_file(file.c_str());
    if (cal == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("calibration file '", file, "' cannot be read"));
    }
    comedi_polynomial_t p;
    const int rc = comedi_get_softcal_converter(
        subdevice, channel, range,
        to_physical ? COMEDI_TO_PHYSICAL : COMEDI_FROM_PHYSICAL, cal, &p);
    comedi_cleanup_calibration(cal);
    if (rc < 0) {
      return absl::NotFoundError(absl::StrCat(
          "calibration file '", file, "' has no setting for subdevice ",
          subdevice, " channel ", channel, " range ", range));
    }
    return ConversionPolynomial::From(p);
  }
  absl::StatusOr<ConversionPolynomial> HardCalibration(
      int subdevice, int channel, int range, bool to_physical) override {
    comedi_polynomial_t p;
    if (comedi_get_hardcal_converter(
            dev_, subdevice, channel, range,
            to_physical ? COMEDI_TO_PHYSICAL : COMEDI_FROM_PHYSICAL, &p) < 0) {
      return absl::NotFoundError("no hardware calibration converter");
    }
    return ConversionPolynomial::From(p);
  }
  int DoInsnList(comedi_insnlist* list, int* error) noexcept override {
    const int n = comedi_do_insnlist(dev_, list);
    if (n < 0) *error = errno;
    return n;
  }

 private:
  comedi_t* dev_ = nullptr;
};

}  // namespace

std::unique_ptr<ComediDevice> MakeComediLibDevice() {
  return std::make_unique<ComediLibDevice>();
}

}  // namespace dynclamp::rt
