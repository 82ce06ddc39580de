#include "rt_engine/daq/daq.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/base/names.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {

Daq::~Daq() = default;

absl::Status Daq::Configure(const DaqConfig& config) {
  if (config.channels.empty()) {
    return absl::InvalidArgumentError(
        "channels: at least one channel is needed");
  }
  if (config.channels.size() > kMaxDaqChannels) {
    return absl::InvalidArgumentError(
        absl::StrFormat("channels: at most %d channels, got %d",
                        kMaxDaqChannels, config.channels.size()));
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < config.channels.size(); ++i) {
    const DaqChannelConfig& c = config.channels[i];
    const std::string path = absl::StrCat("channels[", i, "]");
    if (auto s = CheckName(c.name, path, "name"); !s.ok()) return s;
    if (!names.insert(c.name).second)
      return FieldError(path, "name",
                        absl::StrCat("'", c.name, "' is used twice"));
    auto positive = [&](double v, const char* field) -> absl::Status {
      if (std::isfinite(v) && v > 0 && v < 1e9) return absl::OkStatus();
      return FieldError(path, field,
                        absl::StrFormat("must be finite and > 0, got %g", v));
    };
    if (auto s = positive(c.input_gain_mv_per_v, "input_gain_mv_per_v");
        !s.ok())
      return s;
    if (auto s = positive(c.output_gain_pa_per_v, "output_gain_pa_per_v");
        !s.ok())
      return s;
    if (auto s = positive(c.current_limit_pa, "current_limit_pa"); !s.ok())
      return s;
  }
  if (auto s = DoConfigure(config); !s.ok()) return s;
  for (std::size_t i = 0; i < config.channels.size(); ++i) {
    const DaqChannelConfig& c = config.channels[i];
    const VoltRange range = OutputRange(i);
    // Both polarities: a clamp injects and withdraws current.
    const double reach_pa =
        std::max(0.0, std::min(-range.min, range.max)) * c.output_gain_pa_per_v;
    if (c.current_limit_pa > reach_pa * (1 + 1e-9)) {
      return FieldError(
          absl::StrCat("channels[", i, "]"), "current_limit_pa",
          absl::StrFormat(
              "%g pA is beyond what the output can deliver: its converter "
              "spans [%g, %g] V at %g pA/V, so at most %g pA; lower the "
              "limit or raise the amplifier's command gain",
              c.current_limit_pa, range.min, range.max, c.output_gain_pa_per_v,
              reach_pa));
    }
  }
  config_ = config;
  volts_in_.assign(config.channels.size(), 0.0);
  volts_out_.assign(config.channels.size(), 0.0);
  WriteZero();
  return absl::OkStatus();
}

DaqError Daq::ReadInputs(std::span<double> v_mv) noexcept {
  const DaqError err = DoReadVolts(volts_in_);
  if (err != DaqError::kOk) return err;
  for (std::size_t c = 0; c < volts_in_.size() && c < v_mv.size(); ++c) {
    v_mv[c] = volts_in_[c] * config_.channels[c].input_gain_mv_per_v;
  }
  return DaqError::kOk;
}

DaqWriteResult Daq::WriteOutputs(std::span<double> i_pa) noexcept {
  DaqWriteResult result;
  for (std::size_t c = 0; c < volts_out_.size(); ++c) {
    const DaqChannelConfig& ch = config_.channels[c];
    double i = c < i_pa.size() ? i_pa[c] : 0.0;
    if (!std::isfinite(i)) i = 0.0;  // never drive NaN into a cell
    if (i > ch.current_limit_pa || i < -ch.current_limit_pa) {
      i = i > 0 ? ch.current_limit_pa : -ch.current_limit_pa;
      ++result.clipped;
      clipped_per_channel_[c].store(
          clipped_per_channel_[c].load(std::memory_order_relaxed) + 1,
          std::memory_order_relaxed);
    }
    volts_out_[c] = i / ch.output_gain_pa_per_v;
  }
  if (result.clipped) {
    clipped_total_.store(
        clipped_total_.load(std::memory_order_relaxed) + result.clipped,
        std::memory_order_relaxed);
  }
  result.error = DoWriteVolts(volts_out_);
  // What the converter put out is what the cell gets, and what is recorded.
  for (std::size_t c = 0; c < volts_out_.size() && c < i_pa.size(); ++c)
    i_pa[c] = volts_out_[c] * config_.channels[c].output_gain_pa_per_v;
  return result;
}

DaqError Daq::WriteZero() noexcept {
  for (double& v : volts_out_) v = 0.0;
  return DoWriteVolts(volts_out_);
}

}  // namespace dynclamp::rt
