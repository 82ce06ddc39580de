#include "server/lowering/protocol_lowering.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dynclamp::server {
namespace {

absl::Status Bad(const std::string& path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

// The longest epoch or rest: 11.6 days. Beyond it a value is a typo, and
// the engine's own bound (in samples) would name its internal field.
constexpr double kMaxSeconds = 1e6;

absl::Status PositiveSeconds(double s, const std::string& path) {
  if (std::isfinite(s) && s > 0 && s <= kMaxSeconds) return absl::OkStatus();
  return Bad(path, absl::StrFormat("must be > 0 s and at most %g s, got %g",
                                   kMaxSeconds, s));
}

// The protocol's timing QC: each bound finite and >= 0 (0: the daemon's).
absl::Status CheckQc(const v1::TimingQc& qc) {
  const struct {
    const char* field;
    double value;
  } bounds[] = {{"max_step_us", qc.max_step_us()},
                {"max_p999_step_us", qc.max_p999_step_us()},
                {"max_latency_fraction", qc.max_latency_fraction()}};
  for (const auto& b : bounds) {
    if (!std::isfinite(b.value) || b.value < 0) {
      return Bad(absl::StrCat("qc.", b.field),
                 absl::StrFormat("must be a finite number >= 0 (0: the "
                                 "daemon's default), got %g",
                                 b.value));
    }
  }
  return absl::OkStatus();
}

rt::EpochSpec HoldMs(double duration_s, double value) {
  rt::EpochSpec e;
  e.duration_ms = duration_s * 1e3;
  e.level = value;
  return e;
}

absl::StatusOr<rt::EpochSpec> LowerEpoch(const v1::Epoch& in,
                                         const std::string& path) {
  if (auto s = PositiveSeconds(in.duration_s(), path + ".duration_s"); !s.ok())
    return s;
  rt::EpochSpec e;
  e.duration_ms = in.duration_s() * 1e3;
  using Shape = rt::EpochSpec::Shape;
  switch (in.shape_case()) {
    case v1::Epoch::kHold:
      e.shape = Shape::kHold;
      e.level = in.hold().value();
      break;
    case v1::Epoch::kRamp:
      e.shape = Shape::kRamp;
      e.level = in.ramp().start();
      e.level_end = in.ramp().end();
      break;
    case v1::Epoch::kSine:
      e.shape = Shape::kSine;
      e.level = in.sine().offset();
      e.amplitude = in.sine().amplitude();
      e.frequency_hz = in.sine().frequency_hz();
      e.phase_deg = in.sine().phase_deg();
      break;
    case v1::Epoch::kNoise:
      e.shape = Shape::kNoise;
      e.level = in.noise().mean();
      e.amplitude = in.noise().sd();
      e.tau_ms = in.noise().tau_ms();
      e.seed = in.noise().seed() == 0 ? 1 : in.noise().seed();
      break;
    case v1::Epoch::kWait:
      e.shape = Shape::kWait;
      break;
    case v1::Epoch::SHAPE_NOT_SET:
      return Bad(path, "choose one shape: hold, ramp, sine, noise or wait");
  }
  return e;
}

absl::StatusOr<rt::SweepSpec> LowerSweep(const v1::Sweep& in,
                                         const std::string& path) {
  rt::SweepSpec sweep;
  sweep.name = in.name();
  for (int k = 0; k < in.stimuli_size(); ++k) {
    const v1::Stimulus& st = in.stimuli(k);
    const std::string spath = absl::StrCat(path, ".stimuli[", k, "]");
    rt::StimulusSpec out;
    switch (st.target_case()) {
      case v1::Stimulus::kCell:
        out.cell = st.cell();
        break;
      case v1::Stimulus::kParameter:
        out.parameter = st.parameter();
        break;
      case v1::Stimulus::TARGET_NOT_SET:
        return Bad(spath, "give a target: cell or parameter");
    }
    if (st.epochs_size() == 0) return Bad(spath + ".epochs", "none given");
    for (int e = 0; e < st.epochs_size(); ++e) {
      absl::StatusOr<rt::EpochSpec> epoch =
          LowerEpoch(st.epochs(e), absl::StrCat(spath, ".epochs[", e, "]"));
      if (!epoch.ok()) return epoch.status();
      out.epochs.push_back(*epoch);
    }
    sweep.stimuli.push_back(std::move(out));
  }
  if (sweep.stimuli.empty()) {
    return Bad(path + ".stimuli",
               "a sweep needs a stimulus (a wait epoch just records)");
  }
  return sweep;
}

absl::Status ExpandFiCurve(const v1::FiCurve& fi, rt::ProtocolSpec& out) {
  const std::string p = "fi_curve";
  if (fi.cell().empty()) return Bad(p + ".cell", "name the recorded cell");
  for (const auto& [value, field] : {std::pair{fi.start_pa(), "start_pa"},
                                     {fi.stop_pa(), "stop_pa"},
                                     {fi.step_pa(), "step_pa"},
                                     {fi.holding_pa(), "holding_pa"}}) {
    if (!std::isfinite(value)) return Bad(p + "." + field, "must be finite");
  }
  if (fi.step_pa() == 0) return Bad(p + ".step_pa", "must not be 0");
  const double span = fi.stop_pa() - fi.start_pa();
  if (span != 0 && (span > 0) != (fi.step_pa() > 0)) {
    return Bad(p + ".step_pa",
               absl::StrFormat("goes away from stop_pa (%g pA to %g pA by %g)",
                               fi.start_pa(), fi.stop_pa(), fi.step_pa()));
  }
  const double steps = std::floor(span / fi.step_pa() + 1e-9) + 1;
  if (steps > kMaxFamilySweeps) {
    return Bad(p + ".step_pa", absl::StrFormat("gives %g sweeps, more than %d",
                                               steps, kMaxFamilySweeps));
  }
  for (const auto& [value, field] : {std::pair{fi.pre_s(), "pre_s"},
                                     {fi.step_s(), "step_s"},
                                     {fi.post_s(), "post_s"}}) {
    if (auto s = PositiveSeconds(value, p + "." + field); !s.ok()) return s;
  }
  for (int k = 0; k < static_cast<int>(steps); ++k) {
    const double amplitude = fi.start_pa() + k * fi.step_pa();
    rt::StimulusSpec st;
    st.cell = fi.cell();
    st.epochs = {HoldMs(fi.pre_s(), fi.holding_pa()),
                 HoldMs(fi.step_s(), fi.holding_pa() + amplitude),
                 HoldMs(fi.post_s(), fi.holding_pa())};
    rt::SweepSpec sweep;
    sweep.name = absl::StrFormat("%g pA", amplitude);
    sweep.family = "fi_curve";
    sweep.stimuli = {st};
    out.sweeps.push_back(std::move(sweep));
  }
  return absl::OkStatus();
}

absl::Status ExpandTitration(const v1::Titration& t, rt::ProtocolSpec& out) {
  const std::string p = "titration";
  if (t.parameter().empty())
    return Bad(p + ".parameter", "name the parameter, e.g. gaba.g_max_ns");
  if (t.values_size() == 0) return Bad(p + ".values", "none given");
  if (t.values_size() > kMaxFamilySweeps)
    return Bad(p + ".values", absl::StrCat("more than ", kMaxFamilySweeps));
  if (!t.has_sweep()) return Bad(p + ".sweep", "give the sweep to repeat");
  absl::StatusOr<rt::SweepSpec> base = LowerSweep(t.sweep(), p + ".sweep");
  if (!base.ok()) return base.status();
  double duration_ms = 0;
  for (const rt::StimulusSpec& st : base->stimuli) {
    double d = 0;
    for (const rt::EpochSpec& e : st.epochs) d += e.duration_ms;
    duration_ms = std::max(duration_ms, d);
  }
  for (int k = 0; k < t.values_size(); ++k) {
    if (!std::isfinite(t.values(k)))
      return Bad(absl::StrCat(p, ".values[", k, "]"), "must be finite");
    rt::SweepSpec sweep = *base;
    sweep.name = absl::StrFormat("%s = %g", t.parameter(), t.values(k));
    sweep.family = "titration";
    sweep.titrated_parameter = t.parameter();
    sweep.titrated_value = t.values(k);
    rt::StimulusSpec held;
    held.parameter = t.parameter();
    rt::EpochSpec e;
    e.duration_ms = duration_ms;
    e.level = t.values(k);
    held.epochs = {e};
    sweep.stimuli.push_back(held);
    out.sweeps.push_back(std::move(sweep));
  }
  return absl::OkStatus();
}

absl::Status ExpandTestPulse(const v1::TestPulse& tp, rt::ProtocolSpec& out) {
  const std::string p = "test_pulse";
  if (tp.cell().empty()) return Bad(p + ".cell", "name the recorded cell");
  if (!std::isfinite(tp.amplitude_pa()))
    return Bad(p + ".amplitude_pa", "must be finite");
  if (auto s = PositiveSeconds(tp.pulse_s(), p + ".pulse_s"); !s.ok()) return s;
  if (auto s = PositiveSeconds(tp.baseline_s(), p + ".baseline_s"); !s.ok())
    return s;
  const uint32_t pulses = tp.count() == 0 ? 1 : tp.count();
  if (pulses > kMaxFamilySweeps)
    return Bad(p + ".count", absl::StrCat("more than ", kMaxFamilySweeps));
  for (uint32_t k = 0; k < pulses; ++k) {
    rt::StimulusSpec st;
    st.cell = tp.cell();
    st.epochs = {HoldMs(tp.baseline_s(), 0),
                 HoldMs(tp.pulse_s(), tp.amplitude_pa()),
                 HoldMs(tp.baseline_s(), 0)};
    rt::SweepSpec sweep;
    sweep.name = absl::StrCat("test pulse ", k + 1);
    sweep.family = "test_pulse";
    sweep.stimuli = {st};
    out.sweeps.push_back(std::move(sweep));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<rt::ProtocolSpec> LowerProtocol(const v1::Protocol& in) {
  rt::ProtocolSpec out;
  out.name = in.name().empty() ? "protocol" : in.name();
  out.repetitions =
      in.repetitions() == 0 ? 1 : static_cast<int>(in.repetitions());
  if (!std::isfinite(in.interval_s()) || in.interval_s() < 0 ||
      in.interval_s() > kMaxSeconds) {
    return Bad("interval_s",
               absl::StrFormat("must be >= 0 s and at most %g s, got %g",
                               kMaxSeconds, in.interval_s()));
  }
  if (absl::Status s = CheckQc(in.qc()); !s.ok()) return s;
  out.interval_ms = in.interval_s() * 1e3;
  for (int k = 0; k < in.sweeps_size(); ++k) {
    absl::StatusOr<rt::SweepSpec> sweep =
        LowerSweep(in.sweeps(k), absl::StrCat("sweeps[", k, "]"));
    if (!sweep.ok()) return sweep.status();
    out.sweeps.push_back(*std::move(sweep));
  }
  absl::Status family = absl::OkStatus();
  switch (in.family_case()) {
    case v1::Protocol::kFiCurve:
      family = ExpandFiCurve(in.fi_curve(), out);
      break;
    case v1::Protocol::kTitration:
      family = ExpandTitration(in.titration(), out);
      break;
    case v1::Protocol::kTestPulse:
      family = ExpandTestPulse(in.test_pulse(), out);
      break;
    case v1::Protocol::FAMILY_NOT_SET:
      break;
  }
  if (!family.ok()) return family;
  if (out.sweeps.empty()) {
    return Bad("sweeps",
               "a protocol needs sweeps or a family (fi_curve, "
               "titration, test_pulse)");
  }
  return out;
}

}  // namespace dynclamp::server
