// SimCell: a "biological" cell for the simulated rig, integrated accurately
// (classic RK4 on V and every gate together, fixed substeps chosen by the
// caller, typically <= 5 us) with the injected current held constant over
// each call (zero-order hold, as a DAC does).
//
// Models (membrane area follows from the capacitance at 1 uF/cm^2; channel
// densities are those of the presets in models/channel_presets.h):
//   kPassive  C dV/dt = g_L (E_L - V) + I
//   kHh       Hodgkin-Huxley squid axon: channels "na", "k", leak
//   kCa1      CA1 pyramidal soma of Migliore et al. 1999 as used by
//             Bettencourt et al. 2008: channels "na", "kdr", "ka", leak
// Any active channel can be blocked (as with TTX or TEA/4-AP) so the clamp
// can add it back.
//
// Threads: Create() is non-RT. Advance() and the accessors are RT-safe and
// belong to one thread.
#ifndef DYNCLAMP_RT_ENGINE_DAQ_SIM_SIM_CELL_H_
#define DYNCLAMP_RT_ENGINE_DAQ_SIM_SIM_CELL_H_

#include <array>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rt_engine/base/enum_names.h"
#include "rt_engine/models/gate_kinetics.h"

namespace dynclamp::rt {

struct SimCellConfig {
  enum class Model { kPassive, kHh, kCa1 };
  static constexpr EnumNames<Model, Model::kPassive, Model::kCa1> kModelNames{
      "passive", "hh", "ca1"};
  Model model = Model::kPassive;
  double capacitance_pf = 100.0;
  // Leak; NaN means the model's own value (passive: 10 nS at -65 mV).
  double leak_g_ns = NAN;
  double leak_e_mv = NAN;
  double bias_pa = 0.0;    // steady current, as an amplifier's holding
  double v_init_mv = NAN;  // NaN: the model's resting potential (-65 mV)
  double celsius = NAN;    // NaN: the model's own (HH 6.3, CA1 35)
  std::vector<std::string> blocked;  // e.g. {"na"}: removed channels
};

class SimCell {
 public:
  static constexpr int kMaxChannels = 4;
  static constexpr int kMaxGates = 3;

  static absl::StatusOr<SimCell> Create(const SimCellConfig& config,
                                        const std::string& path);

  // RT. Integrates for `duration_ms` in `substeps` equal RK4 steps with the
  // injected current `i_inj_pa` held.
  void Advance(double duration_ms, int substeps, double i_inj_pa) noexcept;

  double v_mv() const noexcept { return state_[0]; }
  double capacitance_pf() const noexcept { return c_pf_; }
  // Sum of the intrinsic ionic currents at the present state (pA, inward
  // positive like the injected current), for tests.
  double IntrinsicCurrentPa() const noexcept;
  // Names of the channels present (not blocked).
  std::vector<std::string> ChannelNames() const;

 private:
  struct Channel {
    std::string name;
    double g_ns = 0;
    double e_mv = 0;
    int num_gates = 0;
    std::array<FastGate, kMaxGates> gates{};
    std::array<int, kMaxGates> powers{};
    int first_state = 0;
  };
  static constexpr int kMaxState = 1 + kMaxChannels * kMaxGates;
  using State = std::array<double, kMaxState>;

  void Derivatives(const State& s, double i_total_pa, State& ds) const noexcept;
  double IonicCurrent(const State& s) const noexcept;

  double c_pf_ = 100;
  double leak_g_ns_ = 0;
  double leak_e_mv_ = 0;
  double bias_pa_ = 0;
  int num_channels_ = 0;
  int num_state_ = 1;
  std::array<Channel, kMaxChannels> channels_{};
  State state_{};
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_DAQ_SIM_SIM_CELL_H_
