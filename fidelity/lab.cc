#include "fidelity/lab.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <deque>
#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "rt_engine/base/random.h"
#include "rt_engine/models/param_info.h"

namespace dynclamp::fidelity {
namespace {

constexpr double kSpikeSubstepUs = 1.0;
constexpr double kFiSubstepUs = 5.0;
constexpr double kIdealStepUs = 1.0;
// A spike is counted when V rises through the alignment threshold after
// having been below it by this much (no double counts on a ragged peak).
constexpr double kRearmMv = 20.0;

// A current step applied by the "amplifier", independent of the clamp.
struct Drive {
  double start_ms = 0, end_ms = 0, amplitude_pa = 0;
  double At(double t) const {
    return t >= start_ms && t < end_ms ? amplitude_pa : 0.0;
  }
};

struct Trace {
  std::vector<double> t_ms, v_mv;  // empty unless recorded
  int spikes = 0;
};

// The clamp's models for one condition: the spec, with its integrator
// overridden, built for the condition's (shortest) step.
absl::StatusOr<std::unique_ptr<rt::ModelSet>> BuildClamp(
    const LabSetup& setup, const LabCondition& cond) {
  rt::ModelSetSpec spec = setup.spec;
  spec.published_signals = std::vector<std::string>{};
  if (cond.integrator.has_value()) {
    for (rt::ConductanceSpec& c : spec.conductances)
      if (auto* hh = std::get_if<rt::HhChannel::Params>(&c.model))
        hh->integrator = *cond.integrator;
  }
  rt::ModelSet::Config config;
  config.dt_ms = cond.step_us * 1e-3;
  config.cell_names = {"cell0"};
  return rt::ModelSet::Prepare(spec, config);
}

// Runs the cell for `duration_ms` under `drive`, with the clamp's models
// (`clamp` null: no clamp) stepped as `cond` says. Not through SimRig: the
// lab needs V at every substep for the spike comparison and sets its own
// sample times (phase, jitter), so it holds and delays the clamp's current
// itself, as SimRig's wires do.
absl::StatusOr<Trace> Run(const rt::SimCellConfig& cell_config,
                          rt::ModelSet* clamp, const LabCondition& cond,
                          const Drive& drive, double duration_ms,
                          double substep_us, double threshold_mv, uint64_t seed,
                          bool record, const LabStop& stop) {
  absl::StatusOr<rt::SimCell> cell = rt::SimCell::Create(cell_config, "cell");
  if (!cell.ok()) return cell.status();
  Trace trace;
  const double h = substep_us * 1e-3;
  if (record) {
    const auto n = static_cast<std::size_t>(duration_ms / h) + 16;
    trace.t_ms.reserve(n);
    trace.v_mv.reserve(n);
    trace.t_ms.push_back(0);
    trace.v_mv.push_back(cell->v_mv());
  }
  rt::Rng rng(seed);
  const double step_ms = cond.step_us * 1e-3;
  const double worst_ms = std::max(cond.worst_step_us * 1e-3, step_ms);
  const double latency_ms = cond.latency_us * 1e-3;
  struct Pending {
    double apply_ms, i_pa;
  };
  std::deque<Pending> pending;
  // The clamp's first sample falls at a random phase of its step, so no
  // condition is favoured by its samples' lining up with the stimulus.
  double applied_pa = 0, t = 0, last_sample = -1;
  double next_sample = rng.Uniform() * step_ms;
  bool armed = cell->v_mv() < threshold_mv;
  constexpr double kEps = 1e-9;
  double next_stop_check_ms = 0;
  while (t < duration_ms - kEps) {
    if (stop && t >= next_stop_check_ms) {
      if (stop()) return absl::CancelledError("the fidelity lab was stopped");
      next_stop_check_ms = t + 0.1;
    }
    if (clamp != nullptr && t >= next_sample - kEps) {
      double v = cell->v_mv(), i = 0;
      clamp->Step({&v, 1}, {&i, 1}, last_sample < 0 ? 0.0 : t - last_sample);
      pending.push_back({t + latency_ms, i});
      last_sample = t;
      next_sample = t + (worst_ms > step_ms
                             ? step_ms + rng.Uniform() * (worst_ms - step_ms)
                             : step_ms);
    }
    while (!pending.empty() && pending.front().apply_ms <= t + kEps) {
      applied_pa = pending.front().i_pa;
      pending.pop_front();
    }
    // Up to the next change of the injected current.
    double until = std::min(t + h, duration_ms);
    if (clamp != nullptr) until = std::min(until, next_sample);
    if (!pending.empty()) until = std::min(until, pending.front().apply_ms);
    for (double edge : {drive.start_ms, drive.end_ms})
      if (edge > t + kEps) until = std::min(until, edge);
    cell->Advance(until - t, 1, applied_pa + drive.At(t));
    t = until;
    const double v = cell->v_mv();
    if (!std::isfinite(v)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s: the cell's V is not finite at %.3f ms (the clamped current "
          "diverged)",
          cond.label, t));
    }
    if (armed && v >= threshold_mv) {
      ++trace.spikes;
      armed = false;
    } else if (!armed && v < threshold_mv - kRearmMv) {
      armed = true;
    }
    if (record) {
      trace.t_ms.push_back(t);
      trace.v_mv.push_back(v);
    }
  }
  return trace;
}

// V at time `when` (linear interpolation; the ends are held).
double At(const Trace& tr, double when) {
  const auto it = std::lower_bound(tr.t_ms.begin(), tr.t_ms.end(), when);
  if (it == tr.t_ms.begin()) return tr.v_mv.front();
  if (it == tr.t_ms.end()) return tr.v_mv.back();
  const auto i = static_cast<std::size_t>(it - tr.t_ms.begin());
  const double f = (when - tr.t_ms[i - 1]) / (tr.t_ms[i] - tr.t_ms[i - 1]);
  return tr.v_mv[i - 1] + f * (tr.v_mv[i] - tr.v_mv[i - 1]);
}

// The spike in `tr`: aligned on the first upward crossing of the threshold
// after the pulse starts (or on `fallback_ms` if there is none), sampled on
// the grid over the window.
SpikeMeasure MeasureSpike(const LabSetup& s, const Trace& tr,
                          double fallback_ms) {
  SpikeMeasure m;
  m.align_ms = fallback_ms;
  for (std::size_t i = 1; i < tr.v_mv.size(); ++i) {
    if (tr.t_ms[i] < s.pulse_start_ms) continue;
    if (tr.v_mv[i - 1] < s.align_mv && tr.v_mv[i] >= s.align_mv) {
      const double f =
          (s.align_mv - tr.v_mv[i - 1]) / (tr.v_mv[i] - tr.v_mv[i - 1]);
      m.align_ms = tr.t_ms[i - 1] + f * (tr.t_ms[i] - tr.t_ms[i - 1]);
      m.spiked = true;
      break;
    }
  }
  const double g = s.grid_us * 1e-3;
  const auto n = static_cast<std::size_t>(std::llround(
                     (s.window_before_ms + s.window_after_ms) / g)) +
                 1;
  m.v_mv.resize(n);
  std::size_t peak_at = 0;
  for (std::size_t k = 0; k < n; ++k) {
    m.v_mv[k] = At(tr, m.align_ms - s.window_before_ms + g * k);
    if (m.v_mv[k] > m.v_mv[peak_at]) peak_at = k;
  }
  m.peak_mv = m.v_mv[peak_at];
  m.trough_mv = *std::min_element(m.v_mv.begin() + peak_at, m.v_mv.end());
  return m;
}

void CompareToControl(const SpikeMeasure& control, SpikeMeasure& m) {
  double sum = 0;
  for (std::size_t k = 0; k < m.v_mv.size(); ++k) {
    const double d_v = (m.v_mv[k] - control.v_mv[k]) * 1e-3;
    sum += d_v * d_v;
  }
  m.error_v2 = sum;
  m.max_error_mv = 0;
  for (std::size_t k = 0; k < m.v_mv.size(); ++k)
    m.max_error_mv =
        std::max(m.max_error_mv, std::fabs(m.v_mv[k] - control.v_mv[k]));
  m.rms_error_mv = std::sqrt(sum / static_cast<double>(m.v_mv.size())) * 1e3;
}

LabCondition IdealClamp() {
  LabCondition c;
  c.label = "ideal clamp";
  c.step_us = kIdealStepUs;
  c.integrator = rt::Integrator::kExpEuler;
  return c;
}

// One spike-shape run and, if asked, the F-I curve of one condition
// (`cond` null: the control).
struct Measured {
  SpikeMeasure spike;
  std::vector<double> fi_hz;
};

absl::StatusOr<Measured> Measure(const LabSetup& s, const LabCondition* cond,
                                 bool fi, uint64_t seed, const LabStop& stop) {
  rt::SimCellConfig cell = s.cell;
  std::unique_ptr<rt::ModelSet> clamp;
  LabCondition run_as = cond != nullptr ? *cond : IdealClamp();
  if (cond == nullptr && s.native_control) {
    cell.blocked.clear();
  }
  auto fresh_clamp = [&]() -> absl::Status {
    clamp.reset();
    if (cond == nullptr && s.native_control) return absl::OkStatus();
    auto built = BuildClamp(s, run_as);
    if (!built.ok()) return built.status();
    clamp = *std::move(built);
    return absl::OkStatus();
  };
  Measured out;
  if (auto st = fresh_clamp(); !st.ok()) return st;
  const Drive pulse{s.pulse_start_ms, s.pulse_start_ms + s.pulse_ms,
                    s.pulse_pa};
  absl::StatusOr<Trace> tr =
      Run(cell, clamp.get(), run_as, pulse, s.spike_run_ms, kSpikeSubstepUs,
          s.align_mv, seed, /*record=*/true, stop);
  if (!tr.ok()) return tr.status();
  out.spike = MeasureSpike(s, *tr, s.pulse_start_ms + s.pulse_ms);
  if (fi) {
    for (double i_pa : s.fi_currents_pa) {
      if (auto st = fresh_clamp(); !st.ok()) return st;
      const double duration_ms = s.fi_duration_s * 1e3;
      absl::StatusOr<Trace> f = Run(
          cell, clamp.get(), run_as, Drive{0, duration_ms, i_pa}, duration_ms,
          kFiSubstepUs, s.align_mv, seed, /*record=*/false, stop);
      if (!f.ok()) return f.status();
      out.fi_hz.push_back(f->spikes / s.fi_duration_s);
    }
  }
  return out;
}

absl::Status Positive(double v, double max, const std::string& path,
                      absl::string_view field, absl::string_view unit) {
  if (std::isfinite(v) && v > 0 && v <= max) return absl::OkStatus();
  return rt::FieldError(
      path, field,
      absl::StrFormat("must be in (0, %g] %s, got %g", max, unit, v));
}

}  // namespace

absl::StatusOr<LabSetup> PaperSetup(const std::string& family) {
  const std::string channel = family == "k" ? "kdr" : family;
  std::string preset;
  if (channel == "na") preset = "ca1_na";
  if (channel == "kdr") preset = "ca1_kdr";
  if (channel == "ka") preset = "ca1_ka";
  if (preset.empty()) {
    return rt::FieldError(
        "lab", "family",
        absl::StrCat("'", family,
                     "' is not a channel family of the CA1 cell (na, k or "
                     "kdr, ka)"));
  }
  LabSetup s;
  s.cell.model = rt::SimCellConfig::Model::kCa1;
  s.cell.blocked = {channel};
  absl::StatusOr<rt::ConductanceSpec> c =
      rt::PresetConductance(channel, preset, 0);
  if (!c.ok()) return c.status();
  s.spec.conductances = {*c};
  s.native_control = true;
  return s;
}

std::vector<LabCondition> PaperConditions() {
  std::vector<LabCondition> out;
  auto add = [&](std::string series, std::string label, double step,
                 double worst, double latency,
                 std::optional<rt::Integrator> integrator, bool fi) {
    LabCondition c;
    c.series = std::move(series);
    c.label = std::move(label);
    c.step_us = step;
    c.worst_step_us = worst;
    c.latency_us = latency;
    c.integrator = integrator;
    c.fi_curve = fi;
    out.push_back(c);
  };
  for (double step : {25, 50, 100, 200, 250})
    add("step", absl::StrFormat("step %g us", step), step, 0, 0, std::nullopt,
        true);
  for (double step : {25, 50}) {
    for (rt::Integrator m : {rt::Integrator::kForwardEuler,
                             rt::Integrator::kRk4, rt::Integrator::kExpEuler}) {
      add("integrator",
          absl::StrFormat("%s at %g us", rt::IntegratorName(m), step), step, 0,
          0, m, true);
    }
  }
  for (double worst : {50, 100, 200, 250})
    add("jitter", absl::StrFormat("jitter 25-%g us", worst), 25, worst, 0,
        std::nullopt, true);
  for (double latency : {0, 10, 20, 30, 40, 50})
    add("latency", absl::StrFormat("latency %g us at 50 us", latency), 50, 0,
        latency, std::nullopt, true);
  return out;
}

absl::Status ValidateLab(const LabSetup& s,
                         const std::vector<LabCondition>& conditions) {
  if (conditions.empty())
    return rt::FieldError("lab", "conditions", "must list at least one");
  if (conditions.size() > 200)
    return rt::FieldError("lab", "conditions", "at most 200");
  if (s.spec.conductances.empty())
    return rt::FieldError("lab", "spec",
                          "has no conductance for the clamp to add back");
  if (auto st = rt::SimCell::Create(s.cell, "lab.cell"); !st.ok())
    return st.status();
  if (!std::isfinite(s.pulse_pa) || std::fabs(s.pulse_pa) > 1e5)
    return rt::FieldError("lab", "pulse_pa", "must be within +-1e5 pA");
  if (auto st = Positive(s.pulse_ms, 100, "lab", "pulse_ms", "ms"); !st.ok())
    return st;
  if (auto st = Positive(s.grid_us, 1000, "lab", "grid_us", "us"); !st.ok())
    return st;
  if (auto st =
          Positive(s.window_after_ms, 100, "lab", "window_after_ms", "ms");
      !st.ok())
    return st;
  if (!(s.window_before_ms >= 0) || s.window_before_ms > s.pulse_start_ms + 50)
    return rt::FieldError("lab", "window_before_ms",
                          "must be >= 0 and not reach far before the run");
  if (s.fi_currents_pa.size() > 100)
    return rt::FieldError("lab", "fi_currents_pa", "at most 100 currents");
  for (double i : s.fi_currents_pa)
    if (!std::isfinite(i) || std::fabs(i) > 1e5)
      return rt::FieldError("lab", "fi_currents_pa",
                            "every current must be within +-1e5 pA");
  if (auto st = Positive(s.fi_duration_s, 10, "lab", "fi_duration_s", "s");
      !st.ok())
    return st;
  if (s.trials < 1 || s.trials > 100)
    return rt::FieldError("lab", "trials", "must be in [1, 100]");
  for (std::size_t k = 0; k < conditions.size(); ++k) {
    const LabCondition& c = conditions[k];
    const std::string path = absl::StrCat("conditions[", k, "]");
    if (!std::isfinite(c.step_us) || c.step_us < 1 || c.step_us > 10'000)
      return rt::FieldError(
          path, "step_us",
          absl::StrFormat("must be in [1, 10000] us, got %g", c.step_us));
    if (!std::isfinite(c.worst_step_us) || c.worst_step_us < 0 ||
        c.worst_step_us > 10'000 ||
        (c.worst_step_us > 0 && c.worst_step_us < c.step_us))
      return rt::FieldError(
          path, "worst_step_us",
          absl::StrFormat("must be 0 (no jitter) or in [step_us, 10000] us, "
                          "got %g",
                          c.worst_step_us));
    if (!std::isfinite(c.latency_us) || c.latency_us < 0 ||
        c.latency_us > 10'000)
      return rt::FieldError(
          path, "latency_us",
          absl::StrFormat("must be in [0, 10000] us, got %g", c.latency_us));
    if (auto built = BuildClamp(s, c); !built.ok()) {
      return absl::Status(built.status().code(),
                          absl::StrCat("spec: ", built.status().message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// Jobs: the control, then each condition's trials.
struct Job {
  const LabCondition* cond;
  bool fi;
  uint64_t seed;
  std::size_t result;  // index into `results` (control: SIZE_MAX)
};

std::vector<Job> Jobs(const LabSetup& s,
                      const std::vector<LabCondition>& conditions) {
  bool any_fi = false;
  for (const LabCondition& c : conditions) any_fi |= c.fi_curve;
  any_fi &= !s.fi_currents_pa.empty();
  std::vector<Job> jobs;
  jobs.push_back({nullptr, any_fi, s.seed, SIZE_MAX});
  for (std::size_t k = 0; k < conditions.size(); ++k) {
    const LabCondition& c = conditions[k];
    for (int t = 0; t < s.trials; ++t)
      jobs.push_back({&c, t == 0 && c.fi_curve && any_fi, s.seed + t, k});
  }
  return jobs;
}

}  // namespace

double LabSimulatedSeconds(const LabSetup& s,
                           const std::vector<LabCondition>& conditions) {
  double seconds = 0;
  for (const Job& j : Jobs(s, conditions)) {
    seconds += s.spike_run_ms * 1e-3;
    if (j.fi) {
      seconds += static_cast<double>(s.fi_currents_pa.size()) * s.fi_duration_s;
    }
  }
  return seconds;
}

absl::StatusOr<LabReport> RunLab(const LabSetup& s,
                                 const std::vector<LabCondition>& conditions,
                                 int threads, const LabStop& stop) {
  if (auto st = ValidateLab(s, conditions); !st.ok()) return st;
  const std::vector<Job> jobs = Jobs(s, conditions);
  const bool any_fi = jobs.front().fi;
  std::vector<absl::StatusOr<Measured>> done(jobs.size(),
                                             absl::UnknownError("not run"));
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    // A guest: below the daemon's own threads (the RT thread is real-time
    // and on a CPU of its own anyway).
    const auto self = static_cast<id_t>(gettid());
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, self);
    if (errno == 0) setpriority(PRIO_PROCESS, self, std::min(nice + 10, 19));
    for (std::size_t j; (j = next.fetch_add(1)) < jobs.size();) {
      if (stop && stop()) return;  // the jobs left are not even started
      done[j] = Measure(s, jobs[j].cond, jobs[j].fi, jobs[j].seed, stop);
    }
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < std::clamp(threads, 1, 16); ++k)
    pool.emplace_back(worker);
  for (std::thread& t : pool) t.join();
  if (stop && stop())
    return absl::CancelledError("the fidelity lab was stopped");
  for (const auto& d : done)
    if (!d.ok()) return d.status();

  LabReport report;
  report.cell_description = absl::StrCat(
      s.cell.model == rt::SimCellConfig::Model::kCa1
          ? "CA1 pyramidal soma (Migliore 1999)"
      : s.cell.model == rt::SimCellConfig::Model::kHh ? "Hodgkin-Huxley"
                                                      : "passive",
      s.cell.blocked.empty() ? "" : " with ",
      absl::StrJoin(s.cell.blocked, ", "),
      s.cell.blocked.empty() ? "" : " blocked and clamped back");
  report.control = done[0]->spike;
  report.fi_currents_pa = any_fi ? s.fi_currents_pa : std::vector<double>{};
  report.control_fi_hz = done[0]->fi_hz;
  // V at the window's start: the spike's amplitude is measured from it.
  report.control_rest_mv = report.control.v_mv.front();
  const double amplitude =
      std::max(report.control.peak_mv - report.control_rest_mv, 1e-9);
  double max_rate = 0;
  for (double r : report.control_fi_hz) max_rate = std::max(max_rate, r);

  report.results.resize(conditions.size());
  for (std::size_t j = 1; j < jobs.size(); ++j) {
    ConditionResult& r = report.results[jobs[j].result];
    Measured& m = *done[j];
    CompareToControl(report.control, m.spike);
    if (r.trial_errors_v2.empty()) {
      r.condition = *jobs[j].cond;
      r.spike = m.spike;
      r.fi_rates_hz = std::move(m.fi_hz);
    }
    r.trial_errors_v2.push_back(m.spike.error_v2);
    r.shape_change += m.spike.max_error_mv / amplitude / s.trials;
  }
  for (ConditionResult& r : report.results) {
    double sum = 0;
    for (double e : r.trial_errors_v2) {
      sum += e;
      r.max_error_v2 = std::max(r.max_error_v2, e);
    }
    r.mean_error_v2 = sum / static_cast<double>(r.trial_errors_v2.size());
    if (!r.fi_rates_hz.empty() && max_rate > 0) {
      double diff = 0;
      for (std::size_t k = 0; k < r.fi_rates_hz.size(); ++k)
        diff += std::fabs(r.fi_rates_hz[k] - report.control_fi_hz[k]);
      r.fi_change = diff / static_cast<double>(r.fi_rates_hz.size()) / max_rate;
    }
  }
  return report;
}

}  // namespace dynclamp::fidelity
