#include "server/instrument/rig_check.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"
#include "rt_engine/base/clock.h"

namespace dynclamp::server {
namespace {

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(
      v.size() - 1, static_cast<std::size_t>(std::ceil(q * v.size())) - 1);
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

std::string RigCheckReport::ToString() const {
  std::string s = absl::StrFormat(
      "%d cycles: input list p50 %.1f us, p99 %.1f us, max %.1f us; output "
      "list p50 %.1f us, p99 %.1f us, max %.1f us",
      cycles, read_p50_us, read_p99_us, read_max_us, write_p50_us, write_p99_us,
      write_max_us);
  if (loopback) {
    absl::StrAppendFormat(&s,
                          "\nloopback: gain %.5f (ideal 1), offset %.3f mV "
                          "(ideal 0), worst residual %.3f mV",
                          gain, offset_mv, worst_residual_mv);
  }
  return s;
}

absl::StatusOr<RigCheckReport> CheckRig(rt::Daq& daq, int cycles,
                                        int loopback_channel) {
  const std::size_t n = daq.num_channels();
  if (loopback_channel >= static_cast<int>(n)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("--rig_check_loopback: channel %d, but the rig has %d",
                        loopback_channel, n));
  }
  RigCheckReport r;
  r.cycles = cycles;
  std::vector<double> v(n), i(n, 0.0), reads, writes;
  reads.reserve(cycles);
  writes.reserve(cycles);
  for (int k = 0; k < cycles; ++k) {
    int64_t t0 = rt::MonotonicNowNs();
    if (daq.ReadInputs(v) != rt::DaqError::kOk)
      return absl::UnavailableError("the input list failed");
    int64_t t1 = rt::MonotonicNowNs();
    std::fill(i.begin(), i.end(), 0.0);
    if (daq.WriteOutputs(i).error != rt::DaqError::kOk)
      return absl::UnavailableError("the output list failed");
    int64_t t2 = rt::MonotonicNowNs();
    reads.push_back((t1 - t0) * 1e-3);
    writes.push_back((t2 - t1) * 1e-3);
  }
  r.read_p50_us = Percentile(reads, 0.5);
  r.read_p99_us = Percentile(reads, 0.99);
  r.read_max_us = *std::max_element(reads.begin(), reads.end());
  r.write_p50_us = Percentile(writes, 0.5);
  r.write_p99_us = Percentile(writes, 0.99);
  r.write_max_us = *std::max_element(writes.begin(), writes.end());

  if (loopback_channel >= 0) {
    // Volts out against volts in, over 80 % of the current limit.
    const rt::DaqChannelConfig& c = daq.config().channels[loopback_channel];
    std::vector<double> out_v, in_v;
    for (int k = -10; k <= 10; ++k) {
      std::fill(i.begin(), i.end(), 0.0);
      i[loopback_channel] = 0.08 * k * c.current_limit_pa;
      const double volts_out = i[loopback_channel] / c.output_gain_pa_per_v;
      if (daq.WriteOutputs(i).error != rt::DaqError::kOk)
        return absl::UnavailableError("the output list failed");
      double sum = 0;
      for (int rep = 0; rep < 8; ++rep) {  // settle, then average
        if (daq.ReadInputs(v) != rt::DaqError::kOk)
          return absl::UnavailableError("the input list failed");
        if (rep >= 4) sum += v[loopback_channel] / c.input_gain_mv_per_v;
      }
      out_v.push_back(volts_out);
      in_v.push_back(sum / 4);
    }
    daq.WriteZero();
    // Least squares in = gain * out + offset.
    const double m = static_cast<double>(out_v.size());
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (std::size_t k = 0; k < out_v.size(); ++k) {
      sx += out_v[k];
      sy += in_v[k];
      sxx += out_v[k] * out_v[k];
      sxy += out_v[k] * in_v[k];
    }
    r.loopback = true;
    r.gain = (m * sxy - sx * sy) / (m * sxx - sx * sx);
    const double offset_v = (sy - r.gain * sx) / m;
    r.offset_mv = offset_v * 1e3;
    for (std::size_t k = 0; k < out_v.size(); ++k) {
      r.worst_residual_mv =
          std::max(r.worst_residual_mv,
                   std::abs(in_v[k] - (r.gain * out_v[k] + offset_v)) * 1e3);
    }
  }
  daq.WriteZero();
  return r;
}

}  // namespace dynclamp::server
