#include "rt_engine/daq/comedi/comedi_daq.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace dynclamp::rt {
namespace {

absl::Status Bad(const std::string& path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

// The plain range conversion: raw 0..max_data spans min..max volts.
ConversionPolynomial RangePolynomial(const ComediRange& r, uint32_t max_data,
                                     bool to_physical) {
  ConversionPolynomial p;
  p.order = 1;
  const double span = r.max - r.min;
  if (to_physical) {
    p.c[0] = r.min;
    p.c[1] = span / max_data;
  } else {
    p.c[0] = -r.min * max_data / span;
    p.c[1] = max_data / span;
  }
  return p;
}

// One sample of `where`, into or out of `data`, for an instruction list.
comedi_insn OneSampleInsn(unsigned int kind, const ComediEndpoint& where,
                          lsampl_t* data) {
  comedi_insn insn{};
  insn.insn = kind;
  insn.n = 1;
  insn.data = data;
  insn.subdev = where.subdevice;
  insn.chanspec = CR_PACK(where.channel, where.range, where.aref);
  return insn;
}

}  // namespace

ComediDaq::ComediDaq(ComediConfig config, std::unique_ptr<ComediDevice> device)
    : config_(std::move(config)), device_(std::move(device)) {}

ComediDaq::~ComediDaq() {
  if (open_) {
    WriteZero();  // nothing stays injected after the daemon
    device_->Close();
  }
}

absl::Status ComediDaq::Resolve(std::size_t index, bool output,
                                const std::string& path,
                                const std::string& calibration_file,
                                Endpoint& e) {
  const char* kind = output ? "output" : "input";
  const int type = output ? COMEDI_SUBD_AO : COMEDI_SUBD_AI;
  if (e.where.subdevice < 0) {
    e.where.subdevice = device_->FindSubdevice(type);
    if (e.where.subdevice < 0) {
      return Bad(path + ".subdevice",
                 absl::StrCat("the board '", board_, "' has no analog ", kind,
                              " subdevice"));
    }
  } else if (device_->SubdeviceType(e.where.subdevice) != type) {
    return Bad(path + ".subdevice",
               absl::StrCat(e.where.subdevice, " is not an analog ", kind,
                            " subdevice of '", board_, "'"));
  }
  const int n = device_->NumChannels(e.where.subdevice);
  if (e.where.channel < 0 || e.where.channel >= n) {
    return Bad(path + ".channel",
               absl::StrFormat("%d is beyond the board's %d analog %ss "
                               "(0..%d)",
                               e.where.channel, n, kind, n - 1));
  }
  const int ranges = device_->NumRanges(e.where.subdevice, e.where.channel);
  if (e.where.range < 0 || e.where.range >= ranges) {
    return Bad(path + ".range",
               absl::StrFormat("%d, but the board has %d ranges (0..%d) for "
                               "this channel",
                               e.where.range, ranges, ranges - 1));
  }
  std::optional<ComediRange> r =
      device_->Range(e.where.subdevice, e.where.channel, e.where.range);
  if (!r.has_value() || r->unit != UNIT_volt || !(r->max > r->min)) {
    return Bad(path + ".range",
               absl::StrCat(e.where.range, " is not a range in volts"));
  }
  if (e.where.aref != AREF_GROUND && e.where.aref != AREF_COMMON &&
      e.where.aref != AREF_DIFF) {
    return Bad(path + ".reference", "ground, common or differential");
  }
  e.range = *r;
  e.max_data = device_->MaxData(e.where.subdevice, e.where.channel);
  if (e.max_data == 0) return Bad(path, "the board reports no resolution");
  // The conversion: soft calibration, hardware calibration, or the range.
  const bool to_physical = !output;
  e.calibration = Calibration::kRange;
  e.polynomial = RangePolynomial(e.range, e.max_data, to_physical);
  if (device_->SubdeviceFlags(e.where.subdevice) & SDF_SOFT_CALIBRATED) {
    absl::StatusOr<ConversionPolynomial> p =
        device_->SoftCalibration(calibration_file, e.where.subdevice,
                                 e.where.channel, e.where.range, to_physical);
    if (p.ok()) {
      e.polynomial = *p;
      e.calibration = Calibration::kSoft;
    }
  } else {
    absl::StatusOr<ConversionPolynomial> p = device_->HardCalibration(
        e.where.subdevice, e.where.channel, e.where.range, to_physical);
    if (p.ok()) {
      e.polynomial = *p;
      e.calibration = Calibration::kHard;
    }
  }
  (void)index;
  return absl::OkStatus();
}

absl::Status ComediDaq::DoConfigure(const DaqConfig& daq) {
  if (config_.channels.size() != daq.channels.size()) {
    return Bad("comedi.channels",
               absl::StrCat(config_.channels.size(), " given for ",
                            daq.channels.size(), " cells"));
  }
  if (!open_) {
    if (absl::Status s = device_->Open(config_.device); !s.ok()) return s;
    open_ = true;
  }
  board_ = device_->BoardName();
  const std::string calibration_file = config_.calibration_file.empty()
                                           ? device_->DefaultCalibrationPath()
                                           : config_.calibration_file;
  std::vector<Endpoint> in(daq.channels.size()), out(daq.channels.size());
  for (std::size_t i = 0; i < daq.channels.size(); ++i) {
    const std::string path = absl::StrCat("channels[", i, "]");
    in[i].where = config_.channels[i].input;
    out[i].where = config_.channels[i].output;
    if (auto s = Resolve(i, false, path + ".input", calibration_file, in[i]);
        !s.ok())
      return s;
    if (auto s = Resolve(i, true, path + ".output", calibration_file, out[i]);
        !s.ok())
      return s;
    for (std::size_t j = 0; j < i; ++j) {
      if (out[j].where.subdevice == out[i].where.subdevice &&
          out[j].where.channel == out[i].where.channel) {
        return Bad(path + ".output.channel",
                   absl::StrCat(out[i].where.channel,
                                " is already the output "
                                "of channels[",
                                j, "]"));
      }
    }
  }
  in_ = std::move(in);
  out_ = std::move(out);
  const std::size_t n = in_.size();
  read_insns_.assign(n, comedi_insn{});
  write_insns_.assign(n, comedi_insn{});
  read_data_.assign(n, 0);
  write_data_.assign(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    read_insns_[i] = OneSampleInsn(INSN_READ, in_[i].where, &read_data_[i]);
    write_insns_[i] = OneSampleInsn(INSN_WRITE, out_[i].where, &write_data_[i]);
  }
  read_list_.n_insns = static_cast<unsigned>(n);
  read_list_.insns = read_insns_.data();
  write_list_.n_insns = static_cast<unsigned>(n);
  write_list_.insns = write_insns_.data();
  return absl::OkStatus();
}

DaqError ComediDaq::DoReadVolts(std::span<double> volts) noexcept {
  int error = 0;
  const int done = device_->DoInsnList(&read_list_, &error);
  if (done != static_cast<int>(read_list_.n_insns)) {
    last_error_.store(error == 0 ? EIO : error);
    return error == ENODEV ? DaqError::kDeviceLost : DaqError::kReadFailed;
  }
  for (std::size_t i = 0; i < in_.size() && i < volts.size(); ++i)
    volts[i] = in_[i].polynomial.Eval(static_cast<double>(read_data_[i]));
  return DaqError::kOk;
}

VoltRange ComediDaq::OutputRange(std::size_t channel) const {
  if (channel >= out_.size()) return {0, 0};
  return {out_[channel].range.min, out_[channel].range.max};
}

DaqError ComediDaq::DoWriteVolts(std::span<double> volts) noexcept {
  for (std::size_t i = 0; i < out_.size(); ++i) {
    // The board's range bounds what it puts out (the limit lies within it,
    // so this only shaves a code's width at the edge).
    const double v = i < volts.size() ? std::clamp(volts[i], out_[i].range.min,
                                                   out_[i].range.max)
                                      : 0.0;
    if (i < volts.size()) volts[i] = v;
    double raw = std::round(out_[i].polynomial.Eval(v));
    // The board's range bounds the raw value (and NaN becomes 0 V's code
    // in the base class before it gets here).
    raw = std::clamp(raw, 0.0, static_cast<double>(out_[i].max_data));
    write_data_[i] = static_cast<lsampl_t>(raw);
  }
  int error = 0;
  const int done = device_->DoInsnList(&write_list_, &error);
  if (done != static_cast<int>(write_list_.n_insns)) {
    last_error_.store(error == 0 ? EIO : error);
    return error == ENODEV ? DaqError::kDeviceLost : DaqError::kWriteFailed;
  }
  return DaqError::kOk;
}

std::string ComediDaq::LastErrorText() const {
  const int error = last_error();
  return error == 0 ? std::string() : std::strerror(error);
}

std::string ComediDaq::Describe() const {
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < in_.size(); ++i) {
    parts.push_back(absl::StrFormat(
        "%s: in %d/%d [%g, %g] V (%s), out %d/%d [%g, %g] V (%s)",
        config().channels[i].name, in_[i].where.subdevice, in_[i].where.channel,
        in_[i].range.min, in_[i].range.max, CalibrationName(in_[i].calibration),
        out_[i].where.subdevice, out_[i].where.channel, out_[i].range.min,
        out_[i].range.max, CalibrationName(out_[i].calibration)));
  }
  return absl::StrCat("comedi ", config_.device, " (", board_,
                      "): ", absl::StrJoin(parts, "; "));
}

}  // namespace dynclamp::rt
