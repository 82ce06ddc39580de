// LigandGated: a voltage-independent conductance with a time course, as the
// GABA conductance of Prinz 2004 Fig. 1b (rise tau 5 s, decay tau 15 s).
//
// Two modes:
//  - kTriggered: every trigger starts a double-exponential time course
//      g(t) = g_max * norm * (exp(-t/tau_decay) - exp(-t/tau_rise)),
//    normalized so a single trigger peaks at g_max; triggers superpose.
//    Triggers come from the schedule (onset_ms, then every interval_ms if
//    > 0) and from the live action "trigger".
//  - kContinuous: the ligand is applied or not; the open fraction s relaxes
//    towards 1 with tau_rise while applied and towards 0 with tau_decay
//    after; g = g_max * s. Applied during the scheduled window (onset_ms,
//    for duration_ms, 0 = for ever; repeated every interval_ms if > 0) or
//    while the live parameter `applied` is 1.
// Both updates are exact for the step. The conductance a step returns is
// the one at the step's midpoint, t + dt/2, as NEURON's fixed step
// evaluates a conductance given as a function of time: the current held
// over the step is then second-order accurate instead of first, and a
// trigger at t already conducts during its own step.
//
// Threads: Validate()/Prepare() are non-RT; Step() and the live setters are
// RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_MODELS_LIGAND_GATED_H_
#define DYNCLAMP_RT_ENGINE_MODELS_LIGAND_GATED_H_

#include <array>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/param_info.h"
#include "rt_engine/models/param_table.h"

namespace dynclamp::rt {

struct LigandGated {
  enum class Mode : uint8_t { kTriggered, kContinuous };

  struct Params {
    Mode mode = Mode::kTriggered;
    double g_max_ns = 0.0;
    double e_rev_mv = -75.0;
    double tau_rise_ms = 5000.0;
    double tau_decay_ms = 15000.0;
    double onset_ms = -1.0;  // < 0: no scheduled trigger/application
    double interval_ms = 0.0;
    double duration_ms = 0.0;
    double applied = 0.0;  // continuous mode: 1 = applied from the start
  };
  static constexpr ParamTable<Params, 8> kParams{std::array<Param<Params>, 8>{{
      {{"g_max_ns", "nS", 0.0, 0.0, 1e6, false, true, "peak conductance"},
       &Params::g_max_ns},
      {{"e_rev_mv", "mV", -75.0, -200.0, 200.0, false, true,
        "reversal potential"},
       &Params::e_rev_mv},
      {{"tau_rise_ms", "ms", 5000.0, 0.0, 1e7, true, false,
        "rise time constant"},
       &Params::tau_rise_ms},
      {{"tau_decay_ms", "ms", 15000.0, 0.0, 1e7, true, false,
        "decay time constant"},
       &Params::tau_decay_ms},
      {{"onset_ms", "ms", -1.0, -1.0, 1e9, false, false,
        "first scheduled trigger or application after load; -1 = none"},
       &Params::onset_ms},
      {{"interval_ms", "ms", 0.0, 0.0, 1e9, false, false,
        "repeat the schedule every interval; 0 = once"},
       &Params::interval_ms},
      {{"duration_ms", "ms", 0.0, 0.0, 1e9, false, false,
        "continuous mode: length of each application; 0 = for ever"},
       &Params::duration_ms},
      {{"applied", "1", 0.0, 0.0, 1.0, false, true,
        "continuous mode: ligand applied by hand (0 or 1)"},
       &Params::applied},
  }}};
  // Live action (not a stored parameter): start one time course now.
  static constexpr int kTriggerAction = 100;

  static absl::Status Validate(const Params& p, absl::string_view path);

  struct Coeffs {
    double rise_decay = 0;   // exp(-dt / tau_rise)
    double decay_decay = 0;  // exp(-dt / tau_decay)
    double rise_half = 0;    // exp(-dt / (2 tau_rise)): to the midpoint
    double decay_half = 0;   // exp(-dt / (2 tau_decay))
    double peak_norm = 1;    // triggered: 1 / peak of the raw waveform
    int64_t onset_cycle = -1;
    int64_t interval_cycles = 0;
    int64_t duration_cycles = 0;
  };
  static Coeffs Prepare(const Params& p, double dt_ms);

  // At the start of the step about to be taken.
  struct State {
    double a = 0;  // triggered: rising component
    double b = 0;  // triggered: decaying component
    double s = 0;  // continuous: open fraction
    bool trigger_pending = false;
  };

  // RT. `cycle` counts steps since the model set was loaded. Returns the
  // conductance (nS) at the midpoint of this step, and advances the state
  // to the next; the caller forms the current.
  static double Step(const Params& p, const Coeffs& c, State& st,
                     int64_t cycle) noexcept;

  // RT. Sets parameter `param` (a row of kParams, range-checked when
  // resolved) or performs kTriggerAction.
  static void SetLive(Params& p, State& st, int param, double value) noexcept {
    if (param == kTriggerAction)
      st.trigger_pending = true;
    else
      kParams.Set(p, param, value);
  }
};
DYNCLAMP_PARAMS_COVER(LigandGated::Params, LigandGated::kParams, 1);  // mode

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_LIGAND_GATED_H_
