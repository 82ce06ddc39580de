// The fidelity lab: the simulated experiments of Bettencourt et al. (2008)
// on the simulated rig's CA1 cell, or on any cell and conductance spec.
//
// A channel family is removed from the simulated cell (as TTX or TEA would)
// and added back through the clamp: the engine's own models (ModelSet, the
// same code and rate tables as on a rig) read V once per clamp step, and
// their current reaches the cell after a latency and is held until the next
// one (zero-order hold). The clamp step is fixed, or drawn uniformly between
// a shortest and a worst-case step (jitter); the conductances integrate over
// the step that really passed. The cell itself is integrated finely (RK4,
// 1 us substeps for spikes, 5 us for F-I curves), so the only errors are the
// clamp's.
//
// The control is the cell with every channel native (the paper's), or, for a
// spec that is not the cell's own channels, the spec clamped ideally (1 us
// step, exponential Euler, no latency).
//
// Measures, per condition:
//  - spike shape: a brief pulse evokes one spike; the trace is aligned on
//    its upward crossing of a threshold, and the squared difference from the
//    control's is summed over a window on a fixed grid (the paper's Riemann
//    sum, reported in V^2 as the paper does: sum of (dV in volts)^2 over the
//    grid's points, without the grid's dt);
//  - the firing rate versus current curve (spikes in 1 s steps).
//
// Threads: non-RT; every function is a pure function of its inputs and may
// run on any thread (RunLab uses worker threads of its own).
#ifndef DYNCLAMP_FIDELITY_LAB_H_
#define DYNCLAMP_FIDELITY_LAB_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rt_engine/daq/sim/sim_cell.h"
#include "rt_engine/model_set.h"
#include "rt_engine/models/gate_kinetics.h"

namespace dynclamp::fidelity {

// A condition distorts the spike when its largest |dV| from the control
// exceeds this fraction of the control spike's amplitude (15 mV of a 100 mV
// spike).
inline constexpr double kDistortedShape = 0.15;

// How the clamp runs in one simulated experiment.
struct LabCondition {
  std::string label;
  // The figure it belongs to: "step", "integrator", "jitter", "latency" (or
  // anything the caller likes).
  std::string series;
  double step_us = 25;       // fixed step, or the shortest one with jitter
  double worst_step_us = 0;  // > step_us: each step ~ U(step_us, worst)
  double latency_us = 0;     // from reading V to applying the current
  // Every voltage-gated conductance of the spec uses it; none: its own.
  std::optional<rt::Integrator> integrator;
  bool fi_curve = false;  // also measure its F-I curve
};

struct LabSetup {
  // The cell; `blocked` names the channels the clamp adds back.
  rt::SimCellConfig cell;
  // The virtual conductances, all on cell 0.
  rt::ModelSetSpec spec;
  // Control: the cell with nothing blocked (the spec is the cell's own
  // channels); otherwise the spec clamped ideally.
  bool native_control = true;

  // Spike-shape experiment.
  double pulse_start_ms = 2.0;
  double pulse_ms = 1.0;
  double pulse_pa = 1500.0;
  double align_mv = -20.0;  // upward crossing the traces are aligned on
  double window_before_ms = 2.0;
  double window_after_ms = 8.0;  // the window is 10 ms, as in the paper
  double grid_us = 10.0;         // comparison grid
  double spike_run_ms = 14.0;

  // F-I curves.
  std::vector<double> fi_currents_pa;
  double fi_duration_s = 1.0;

  // Each condition runs `trials` times (seeds seed, seed+1, ...): the
  // clamp's first sample falls at a random phase of its step, and jittered
  // steps are drawn anew.
  uint64_t seed = 1;
  int trials = 5;
};

// The paper's experiment on the CA1 cell: `family` ("na", "kdr" or "ka";
// "k" is the paper's K+, the delayed rectifier) blocked in the cell and its
// preset clamped back.
absl::StatusOr<LabSetup> PaperSetup(const std::string& family);

// The paper's conditions for one family, each with its F-I curve: fixed
// steps 25..250 us (the spec's integrator), the three integrators at 25 and
// 50 us, jitter from 25 us to worst cases 50..250 us, and latencies 0..50 us
// at a 50 us step.
std::vector<LabCondition> PaperConditions();

struct SpikeMeasure {
  bool spiked = false;
  double align_ms = 0;                // threshold crossing in the run
  double peak_mv = 0, trough_mv = 0;  // within the window, trough after peak
  std::vector<double> v_mv;           // on the grid over the window
  double error_v2 = 0;                // vs the control (0 for the control)
  double rms_error_mv = 0;
  double max_error_mv = 0;  // largest |dV| over the window
};

struct ConditionResult {
  LabCondition condition;
  SpikeMeasure spike;  // the first trial's
  // Each trial's error; their mean and largest.
  std::vector<double> trial_errors_v2;
  double mean_error_v2 = 0, max_error_v2 = 0;
  std::vector<double> fi_rates_hz;  // empty unless asked
  // Shape against rate: the spike's largest |dV| as a fraction of the
  // control spike's amplitude (peak - V at the window's start), averaged over
  // the trials; and the mean |rate - control's rate| over the currents as a
  // fraction of the control's largest rate.
  double fi_change = 0, shape_change = 0;
};

struct LabReport {
  std::string cell_description;
  SpikeMeasure control;
  double control_rest_mv = 0;
  std::vector<double> fi_currents_pa;
  std::vector<double> control_fi_hz;
  std::vector<ConditionResult> results;  // in the conditions' order
};

// Asked every 0.1 ms of simulated time by each worker; true
// stops the lab, which returns CANCELLED (a client that cancelled or went
// away, a deadline, the daemon's shutdown).
using LabStop = std::function<bool()>;

// Runs the control and every condition on up to `threads` threads of its
// own, 10 nice levels below the caller: a guest beside a running clamp.
absl::StatusOr<LabReport> RunLab(const LabSetup& setup,
                                 const std::vector<LabCondition>& conditions,
                                 int threads = 1, const LabStop& stop = {});

// The cell time a lab simulates, in seconds: the control's and every
// trial's spike run, and each F-I curve's steps. What the daemon bounds.
double LabSimulatedSeconds(const LabSetup& setup,
                           const std::vector<LabCondition>& conditions);

// Checks everything RunLab would refuse, naming the field.
absl::Status ValidateLab(const LabSetup& setup,
                         const std::vector<LabCondition>& conditions);

}  // namespace dynclamp::fidelity

#endif  // DYNCLAMP_FIDELITY_LAB_H_
