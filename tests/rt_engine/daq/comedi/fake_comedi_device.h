// FakeComediDevice: a board in memory for the comedi backend's tests, with
// injectable faults. Its state (what was written, what reads return) lives
// in a FakeBoard the test keeps, so it can be inspected after the backend
// that owns the device is gone.
#ifndef DYNCLAMP_TESTS_RT_ENGINE_DAQ_COMEDI_FAKE_COMEDI_DEVICE_H_
#define DYNCLAMP_TESTS_RT_ENGINE_DAQ_COMEDI_FAKE_COMEDI_DEVICE_H_

#include <cerrno>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "rt_engine/daq/comedi/comedi_device.h"

namespace dynclamp::rt::testing {

struct FakeBoard {
  struct Subdevice {
    int type = COMEDI_SUBD_AI;
    int channels = 16;
    std::vector<ComediRange> ranges = {{-10, 10, UNIT_volt},
                                       {-5, 5, UNIT_volt}};
    uint32_t max_data = 65535;
    int flags = 0;
  };
  std::string board = "fake-6xxx";
  std::vector<Subdevice> subdevices;
  std::string missing_path;  // Open() of this path fails
  std::string default_calibration = "/var/lib/comedi/calibrations/fake";
  // (subdevice, channel, range, to_physical) -> polynomial
  using Key = std::tuple<int, int, int, bool>;
  std::map<Key, ConversionPolynomial> soft, hard;
  std::string soft_file;  // SoftCalibration() reads only this path

  // Raw values: what reads return and what writes left, per (sub, chan).
  std::map<std::pair<int, int>, uint32_t> raw;
  std::vector<std::vector<uint32_t>> writes;  // every write list, in order
  bool record_writes = true;  // false: no allocation (the RT-safety test)
  int fail_reads = 0, fail_writes = 0;
  bool gone = false;      // the device disappeared (ENODEV)
  bool loopback = false;  // AO 0 wired to AI 0 (same range and resolution)
  bool open = false, closed = false;
  bool written_before_close = false;

  // A typical board: AI on subdevice 0 (16 channels), AO on 1 (2).
  static std::shared_ptr<FakeBoard> Typical() {
    auto b = std::make_shared<FakeBoard>();
    Subdevice ai;
    Subdevice ao;
    ao.type = COMEDI_SUBD_AO;
    ao.channels = 2;
    ao.ranges = {{-10, 10, UNIT_volt}};
    Subdevice dio;
    dio.type = COMEDI_SUBD_DIO;
    b->subdevices = {ai, ao, dio};
    return b;
  }
};

class FakeComediDevice final : public ComediDevice {
 public:
  explicit FakeComediDevice(std::shared_ptr<FakeBoard> b) : b_(std::move(b)) {}
  absl::Status Open(const std::string& path) override {
    if (path == b_->missing_path)
      return absl::FailedPreconditionError("device '" + path +
                                           "': No such file or directory");
    b_->open = true;
    return absl::OkStatus();
  }
  void Close() override {
    b_->closed = true;
    b_->written_before_close = !b_->writes.empty();
  }
  std::string BoardName() override { return b_->board; }
  int FindSubdevice(int type) override {
    for (std::size_t s = 0; s < b_->subdevices.size(); ++s)
      if (b_->subdevices[s].type == type) return static_cast<int>(s);
    return -1;
  }
  int SubdeviceType(int s) override {
    return Valid(s) ? b_->subdevices[s].type : -1;
  }
  int NumChannels(int s) override {
    return Valid(s) ? b_->subdevices[s].channels : -1;
  }
  int NumRanges(int s, int) override {
    return Valid(s) ? static_cast<int>(b_->subdevices[s].ranges.size()) : -1;
  }
  std::optional<ComediRange> Range(int s, int, int r) override {
    if (!Valid(s) || r < 0 ||
        r >= static_cast<int>(b_->subdevices[s].ranges.size()))
      return std::nullopt;
    return b_->subdevices[s].ranges[r];
  }
  uint32_t MaxData(int s, int) override {
    return Valid(s) ? b_->subdevices[s].max_data : 0;
  }
  int SubdeviceFlags(int s) override {
    return Valid(s) ? b_->subdevices[s].flags : 0;
  }
  std::string DefaultCalibrationPath() override {
    return b_->default_calibration;
  }
  absl::StatusOr<ConversionPolynomial> SoftCalibration(const std::string& file,
                                                       int s, int c, int r,
                                                       bool to_phys) override {
    if (file != b_->soft_file) return absl::NotFoundError("no such file");
    auto it = b_->soft.find({s, c, r, to_phys});
    if (it == b_->soft.end()) return absl::NotFoundError("no setting");
    return it->second;
  }
  absl::StatusOr<ConversionPolynomial> HardCalibration(int s, int c, int r,
                                                       bool to_phys) override {
    auto it = b_->hard.find({s, c, r, to_phys});
    if (it == b_->hard.end()) return absl::NotFoundError("none");
    return it->second;
  }
  int DoInsnList(comedi_insnlist* list, int* error) noexcept override {
    if (b_->gone) {
      *error = ENODEV;
      return -1;
    }
    const bool is_write =
        list->n_insns > 0 && list->insns[0].insn == INSN_WRITE;
    if (is_write && b_->fail_writes > 0) {
      --b_->fail_writes;
      *error = EIO;
      return -1;
    }
    if (!is_write && b_->fail_reads > 0) {
      --b_->fail_reads;
      *error = EIO;
      return -1;
    }
    std::vector<uint32_t> written;
    if (b_->record_writes) written.reserve(list->n_insns);
    for (unsigned k = 0; k < list->n_insns; ++k) {
      comedi_insn& insn = list->insns[k];
      const auto key = std::make_pair(static_cast<int>(insn.subdev),
                                      static_cast<int>(CR_CHAN(insn.chanspec)));
      if (insn.insn == INSN_READ) {
        insn.data[0] = b_->raw[key];
      } else {
        b_->raw[key] = insn.data[0];
        if (b_->record_writes) written.push_back(insn.data[0]);
        if (b_->loopback && key == std::make_pair(1, 0))
          b_->raw[std::make_pair(0, 0)] = insn.data[0];
      }
    }
    // (Tests only: a real device does not allocate; this fake may.)
    if (is_write && b_->record_writes) b_->writes.push_back(written);
    return static_cast<int>(list->n_insns);
  }

 private:
  bool Valid(int s) const {
    return s >= 0 && s < static_cast<int>(b_->subdevices.size());
  }
  std::shared_ptr<FakeBoard> b_;
};

}  // namespace dynclamp::rt::testing

#endif  // DYNCLAMP_TESTS_RT_ENGINE_DAQ_COMEDI_FAKE_COMEDI_DEVICE_H_
