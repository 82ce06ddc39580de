// Fidelity: how much the clamp's measured timing distorts what the loaded
// conductances do, estimated by replaying them on the simulated rig
// (Bettencourt et al. 2008): the same simulated cells run twice with the
// same spec, once with the ideal step, once with each step drawn uniformly
// between the period and the measured worst step and the measured worst
// input-to-output latency added; the membrane potentials are compared at the
// same simulated times (RMS and worst difference) and their spikes matched.
//
// Runs entirely off the RT thread, on its own engine and simulated rig,
// faster than real time (nominal clock).
//
// Threads: non-RT; a pure function of its inputs.
#ifndef DYNCLAMP_FIDELITY_REPLAY_H_
#define DYNCLAMP_FIDELITY_REPLAY_H_

#include <string>

#include "absl/status/statusor.h"
#include "rt_engine/daq/daq.h"
#include "rt_engine/daq/sim/sim_rig.h"
#include "rt_engine/model_set.h"

namespace dynclamp::fidelity {

struct FidelityInput {
  rt::ModelSetSpec spec;   // the conductances loaded
  rt::SimRigConfig cells;  // the simulated cells to replay them on
  rt::DaqConfig daq;       // one channel per cell
  int64_t period_ns = 50'000;
  double worst_step_us = 50;
  double worst_latency_us = 0;
  double duration_s = 1.0;
};
// The replay drives every cell with the smallest current of a ladder from 0
// to 1600 pA that makes the ideal replay fire at least 3 spikes (timing
// errors matter most around spikes); drive_pa reports it.

struct FidelityReport {
  double worst_step_us = 0, worst_latency_us = 0;
  double drive_pa = 0;
  double rms_error_mv = 0;  // over all cells and the whole replay
  double max_error_mv = 0;
  int spikes_ideal = 0, spikes_measured = 0;
  double mean_spike_shift_ms = 0;  // matched spikes, |t_measured - t_ideal|
  std::string warning;             // empty: within tolerance
};

// Tolerances for the warning: RMS V error, spike count, mean spike shift.
inline constexpr double kFidelityRmsMv = 1.0;
inline constexpr double kFidelitySpikeShiftMs = 0.5;

absl::StatusOr<FidelityReport> EstimateFidelity(const FidelityInput& in);

}  // namespace dynclamp::fidelity

#endif  // DYNCLAMP_FIDELITY_REPLAY_H_
