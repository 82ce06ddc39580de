// Ready-made channels that users ask for by name, and the reference cell
// their default conductances are sized for.
//
//   hh_na, hh_k, hh_leak   Hodgkin & Huxley (1952) squid axon, q10 = 3 from
//                          6.3 degC; leak is a constant conductance.
//   ca1_na, ca1_kdr,       CA1 pyramidal soma of Migliore et al. (1999), the
//   ca1_ka, ca1_leak       model Bettencourt et al. (2008) knock in and out;
//                          kinetics with their minimum time constants.
//   ih                     hyperpolarization-activated cation current
//                          (Huguenard & McCormick 1992 kinetics).
//   km                     M-type (muscarinic) K+ current (Yamada et al.
//                          1989 kinetics as commonly used in cortex models).
//
// Default g values are for the reference cell: membrane area 1e-4 cm^2 at
// 1 uF/cm^2, i.e. 100 pF. Scale g_max_ns to your cell.
//
// Threads: any (pure functions returning values; natives are RT-safe).
#ifndef DYNCLAMP_RT_ENGINE_MODELS_CHANNEL_PRESETS_H_
#define DYNCLAMP_RT_ENGINE_MODELS_CHANNEL_PRESETS_H_

#include <span>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"

namespace dynclamp::rt {

inline constexpr double kReferenceAreaCm2 = 1e-4;
inline constexpr double kReferenceCapacitancePf = 100.0;

// Conductance in nS of a density in S/cm^2 over the reference area.
constexpr double ReferenceNs(double s_per_cm2) {
  return s_per_cm2 * kReferenceAreaCm2 * 1e9;
}

struct PresetInfo {
  absl::string_view name;
  absl::string_view description;
};
std::span<const PresetInfo> ListPresets();

using PresetParams =
    std::variant<ConstantConductance::Params, HhChannel::Params>;

// NotFound naming the preset if there is none by that name.
absl::StatusOr<PresetParams> MakePreset(absl::string_view name);

// The native kinetics of the CA1 presets, exposed for tests.
extern const NativeKinetics kCa1NaM, kCa1NaH, kCa1KdrN, kCa1KaN, kCa1KaL;

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODELS_CHANNEL_PRESETS_H_
