#include "rt_engine/models/ligand_gated.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace dynclamp::rt {

absl::Status LigandGated::Validate(const Params& p, absl::string_view path) {
  if (auto s = kParams.Check(p, path); !s.ok()) return s;
  if (p.mode == Mode::kTriggered && !(p.tau_rise_ms < p.tau_decay_ms)) {
    return FieldError(
        path, "tau_rise_ms",
        absl::StrFormat("must be < tau_decay_ms (%g ms) for a triggered time "
                        "course, got %g ms",
                        p.tau_decay_ms, p.tau_rise_ms));
  }
  if (p.mode == Mode::kContinuous && p.interval_ms > 0 &&
      p.duration_ms > p.interval_ms) {
    return FieldError(path, "duration_ms",
                      absl::StrFormat("must not exceed interval_ms (%g ms), "
                                      "got %g ms",
                                      p.interval_ms, p.duration_ms));
  }
  return absl::OkStatus();
}

LigandGated::Coeffs LigandGated::Prepare(const Params& p, double dt_ms) {
  Coeffs c;
  c.rise_decay = std::exp(-dt_ms / p.tau_rise_ms);
  c.decay_decay = std::exp(-dt_ms / p.tau_decay_ms);
  c.rise_half = std::exp(-0.5 * dt_ms / p.tau_rise_ms);
  c.decay_half = std::exp(-0.5 * dt_ms / p.tau_decay_ms);
  if (p.mode == Mode::kTriggered) {
    const double tr = p.tau_rise_ms, td = p.tau_decay_ms;
    const double t_peak = tr * td / (td - tr) * std::log(td / tr);
    c.peak_norm = 1.0 / (std::exp(-t_peak / td) - std::exp(-t_peak / tr));
  }
  auto cycles = [dt_ms](double ms) {
    return static_cast<int64_t>(std::llround(ms / dt_ms));
  };
  c.onset_cycle = p.onset_ms < 0 ? -1 : cycles(p.onset_ms);
  c.interval_cycles =
      p.interval_ms > 0 ? std::max<int64_t>(1, cycles(p.interval_ms)) : 0;
  c.duration_cycles = cycles(p.duration_ms);
  return c;
}

double LigandGated::Step(const Params& p, const Coeffs& c, State& st,
                         int64_t cycle) noexcept {
  // Where the schedule is at this cycle: cycles since the latest scheduled
  // start, or -1 before the first one.
  int64_t since_start = -1;
  if (c.onset_cycle >= 0 && cycle >= c.onset_cycle) {
    since_start = cycle - c.onset_cycle;
    if (c.interval_cycles > 0)
      since_start %= c.interval_cycles;
    else if (cycle != c.onset_cycle && p.mode == Mode::kTriggered)
      since_start = -1;  // single trigger already delivered
  }
  if (p.mode == Mode::kTriggered) {
    if (since_start == 0 || st.trigger_pending) {
      st.a += 1.0;
      st.b += 1.0;
      st.trigger_pending = false;
    }
    const double g =
        p.g_max_ns * c.peak_norm * (st.b * c.decay_half - st.a * c.rise_half);
    st.a *= c.rise_decay;
    st.b *= c.decay_decay;
    return g;
  }
  const bool scheduled = since_start >= 0 && (c.duration_cycles == 0 ||
                                              since_start < c.duration_cycles);
  const bool applied = scheduled || p.applied > 0.5;
  // s relaxes towards 1 while applied, towards 0 after.
  const double target = applied ? 1.0 : 0.0;
  const double g =
      p.g_max_ns *
      (target + (st.s - target) * (applied ? c.rise_half : c.decay_half));
  st.s = target + (st.s - target) * (applied ? c.rise_decay : c.decay_decay);
  st.trigger_pending = false;
  return g;
}

}  // namespace dynclamp::rt
