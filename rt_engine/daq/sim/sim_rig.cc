#include "rt_engine/daq/sim/sim_rig.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rt_engine/base/clock.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::rt {
SimRig::SimRig(SimRigConfig config)
    : sim_config_(std::move(config)), rng_(sim_config_.seed) {}

SimRig::~SimRig() = default;

absl::Status SimRig::DoConfigure(const DaqConfig& config) {
  const SimRigConfig& s = sim_config_;
  if (s.cells.size() != config.channels.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "sim.cells: the simulated rig has %d cells but %d channels are "
        "configured; give one cell per channel",
        s.cells.size(), config.channels.size()));
  }
  if (!(s.substep_us > 0) || s.substep_us > 5.0) {
    return FieldError(
        "sim", "substep_us",
        absl::StrFormat("must be in (0, 5] us, got %g", s.substep_us));
  }
  for (auto [bits, field] :
       {std::pair{s.adc_bits, "adc_bits"}, std::pair{s.dac_bits, "dac_bits"}}) {
    if (bits < 0 || bits > 24)
      return FieldError(
          "sim", field,
          absl::StrFormat("must be in [0, 24] (0 = ideal), got %d", bits));
  }
  for (auto [v, field] : {std::pair{s.adc_range_v, "adc_range_v"},
                          std::pair{s.dac_range_v, "dac_range_v"}}) {
    if (!std::isfinite(v) || v <= 0 || v > 100)
      return FieldError("sim", field,
                        absl::StrFormat("must be in (0, 100] V, got %g", v));
  }
  for (auto [v, field] : {std::pair{s.noise_sd_mv, "noise_sd_mv"},
                          std::pair{s.latency_us, "latency_us"},
                          std::pair{s.jitter_us, "jitter_us"},
                          std::pair{s.io_jitter_us, "io_jitter_us"}}) {
    if (!std::isfinite(v) || v < 0 || v > 1e6)
      return FieldError("sim", field,
                        absl::StrFormat("must be in [0, 1e6], got %g", v));
  }
  std::vector<CellWire> wires;
  for (std::size_t i = 0; i < s.cells.size(); ++i) {
    absl::StatusOr<SimCell> cell =
        SimCell::Create(s.cells[i], absl::StrCat("sim.cells[", i, "]"));
    if (!cell.ok()) return cell.status();
    CellWire w;
    w.cell = std::make_unique<SimCell>(*std::move(cell));
    wires.push_back(std::move(w));
  }
  wires_ = std::move(wires);
  v_probe_ = std::make_unique<std::atomic<double>[]>(wires_.size());
  i_probe_ = std::make_unique<std::atomic<double>[]>(wires_.size());
  dac_probe_ = std::make_unique<std::atomic<double>[]>(wires_.size());
  for (std::size_t i = 0; i < wires_.size(); ++i) {
    v_probe_[i].store(wires_[i].cell->v_mv());
    i_probe_[i].store(0.0);
    dac_probe_[i].store(0.0);
  }
  rng_.Seed(s.seed);
  world_ms_ = 0;
  last_wake_ns_ = -1;
  return absl::OkStatus();
}

absl::Status SimRig::Prepare(int64_t period_ns) {
  if (period_ns <= 0) return absl::InvalidArgumentError("period must be > 0");
  period_ms_ = static_cast<double>(period_ns) * 1e-6;
  substep_ms_ = sim_config_.substep_us * 1e-3;
  // Outputs in flight: latency / shortest step, plus slack.
  const std::size_t in_flight =
      static_cast<std::size_t>(
          std::ceil(sim_config_.latency_us * 1e-3 / period_ms_)) +
      4;
  if (in_flight > 100000) {
    return FieldError("sim", "latency_us",
                      "is more than 100000 clamp periods; shorten it");
  }
  for (CellWire& w : wires_) {
    w.pending.assign(in_flight, PendingOutput{0, 0});
    w.head = w.size = 0;
  }
  last_wake_ns_ = -1;
  return absl::OkStatus();
}

std::string SimRig::Describe() const {
  std::vector<std::string> cells;
  for (const SimCellConfig& c : sim_config_.cells) {
    std::string d = SimCellConfig::kModelNames.Name(c.model);
    if (!c.blocked.empty())
      absl::StrAppend(&d, " [blocked: ", absl::StrJoin(c.blocked, ","), "]");
    cells.push_back(d);
  }
  return absl::StrFormat(
      "sim: %d cell(s) (%s); clock %s; ADC %d bit +-%gV, DAC %d bit +-%gV; "
      "noise %g mV; latency %g us; jitter %g us; seed %d",
      cells.size(), absl::StrJoin(cells, ", "),
      sim_config_.clock == SimRigConfig::Clock::kNominal ? "nominal" : "wall",
      sim_config_.adc_bits, sim_config_.adc_range_v, sim_config_.dac_bits,
      sim_config_.dac_range_v, sim_config_.noise_sd_mv, sim_config_.latency_us,
      sim_config_.jitter_us, sim_config_.seed);
}

void SimRig::AdvanceCell(CellWire& w, double to_ms) noexcept {
  double t = world_ms_;
  while (true) {
    // Outputs whose time has come take effect now.
    while (w.size > 0 && w.pending[w.head].apply_ms <= t + 1e-12) {
      w.applied_pa = w.pending[w.head].i_pa;
      w.head = (w.head + 1) % w.pending.size();
      --w.size;
    }
    if (t >= to_ms - 1e-12) break;
    const double next_change = w.size > 0 ? w.pending[w.head].apply_ms : to_ms;
    const double until = std::min(to_ms, std::max(next_change, t));
    const double span = until - t;
    if (span > 0) {
      const int n =
          std::max(1, static_cast<int>(std::ceil(span / substep_ms_ - 1e-9)));
      w.cell->Advance(span, n, w.applied_pa);
    }
    t = until;
  }
}

void SimRig::BeginCycle(int64_t wake_time_ns) noexcept {
  double step_ms = period_ms_;
  if (sim_config_.clock == SimRigConfig::Clock::kWallClock) {
    step_ms = last_wake_ns_ < 0
                  ? period_ms_
                  : static_cast<double>(wake_time_ns - last_wake_ns_) * 1e-6;
    last_wake_ns_ = wake_time_ns;
  } else if (sim_config_.jitter_us > 0) {
    step_ms += rng_.Uniform() * sim_config_.jitter_us * 1e-3;
  }
  cycle_wake_ns_ = wake_time_ns;
  last_step_ms_ = step_ms;
  const double to_ms = world_ms_ + step_ms;
  for (CellWire& w : wires_) AdvanceCell(w, to_ms);
  world_ms_ = to_ms;
  world_ms_probe_.store(world_ms_, std::memory_order_relaxed);
  for (std::size_t i = 0; i < wires_.size(); ++i) {
    v_probe_[i].store(wires_[i].cell->v_mv(), std::memory_order_relaxed);
    i_probe_[i].store(wires_[i].applied_pa, std::memory_order_relaxed);
  }
}

double SimRig::Quantize(double volts, int bits, double range) noexcept {
  volts = std::clamp(volts, -range, range);
  if (bits <= 0) return volts;
  const double lsb = 2.0 * range / static_cast<double>(1u << bits);
  const double max_code = static_cast<double>((1u << bits) - 1);
  const double code =
      std::clamp(std::round((volts + range) / lsb), 0.0, max_code);
  return code * lsb - range;
}

DaqError SimRig::DoReadVolts(std::span<double> volts) noexcept {
  if (fail_reads_.load(std::memory_order_relaxed) > 0) {
    fail_reads_.fetch_sub(1, std::memory_order_relaxed);
    return DaqError::kReadFailed;
  }
  if (sim_config_.io_jitter_us > 0) {
    // A slow board: spin (no syscall, no sleep) for U(0, j).
    const int64_t until =
        MonotonicNowNs() +
        static_cast<int64_t>(rng_.Uniform() * sim_config_.io_jitter_us * 1e3);
    while (MonotonicNowNs() < until) {
    }
  }
  const auto& channels = config().channels;
  for (std::size_t i = 0; i < wires_.size() && i < volts.size(); ++i) {
    double v_mv = wires_[i].cell->v_mv();
    if (sim_config_.noise_sd_mv > 0)
      v_mv += sim_config_.noise_sd_mv * rng_.Normal();
    // The amplifier scales Vm into the ADC's input range.
    const double gain =
        i < channels.size() ? channels[i].input_gain_mv_per_v : 100.0;
    volts[i] =
        Quantize(v_mv / gain, sim_config_.adc_bits, sim_config_.adc_range_v);
  }
  return DaqError::kOk;
}

DaqError SimRig::DoWriteVolts(std::span<double> volts) noexcept {
  if (fail_writes_.load(std::memory_order_relaxed) > 0) {
    fail_writes_.fetch_sub(1, std::memory_order_relaxed);
    return DaqError::kWriteFailed;
  }
  const auto& channels = config().channels;
  // When the output reaches the cell: after the sample of this cycle plus
  // the injected latency (and, on the wall clock, the time already spent).
  double apply_ms = world_ms_ + sim_config_.latency_us * 1e-3;
  if (sim_config_.clock == SimRigConfig::Clock::kWallClock &&
      cycle_wake_ns_ > 0) {
    apply_ms += static_cast<double>(MonotonicNowNs() - cycle_wake_ns_) * 1e-6;
  }
  for (std::size_t i = 0; i < wires_.size() && i < volts.size(); ++i) {
    const double v =
        Quantize(volts[i], sim_config_.dac_bits, sim_config_.dac_range_v);
    volts[i] = v;
    const double gain =
        i < channels.size() ? channels[i].output_gain_pa_per_v : 400.0;
    CellWire& w = wires_[i];
    dac_probe_[i].store(v * gain, std::memory_order_relaxed);
    if (w.pending.empty()) {
      w.applied_pa = v * gain;  // not prepared yet (e.g. zeroing at configure)
      continue;
    }
    if (w.size == w.pending.size()) {  // cannot happen when sized right:
      w.head = (w.head + 1) % w.pending.size();  // drop the oldest
      --w.size;
    }
    w.pending[(w.head + w.size) % w.pending.size()] = {apply_ms, v * gain};
    ++w.size;
  }
  return DaqError::kOk;
}

double SimRig::true_v_mv(std::size_t cell) const noexcept {
  return cell < wires_.size() ? v_probe_[cell].load(std::memory_order_relaxed)
                              : 0.0;
}

double SimRig::dac_output_pa(std::size_t cell) const noexcept {
  return cell < wires_.size() ? dac_probe_[cell].load(std::memory_order_relaxed)
                              : 0.0;
}

double SimRig::applied_current_pa(std::size_t cell) const noexcept {
  return cell < wires_.size() ? i_probe_[cell].load(std::memory_order_relaxed)
                              : 0.0;
}

}  // namespace dynclamp::rt
