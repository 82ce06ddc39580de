// The parts of a model set beyond conductances: model cells, event-driven
// synapses, artificial cells, connections (NetCons), graded synapses, gap
// junctions and in-vivo-like background. Engine types: cells and targets
// are indices, resolved from names by the spec lowering.
//
// Cell indices: [0, number of rig channels) are the real cells, then the
// model cells in order. Every conductance-like object (conductances, event
// synapses, graded synapses, gap junctions, background) acts on any cell,
// real or model.
//
// Threads: plain data, non-RT.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_CIRCUIT_SPEC_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_CIRCUIT_SPEC_H_

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "rt_engine/models/param_info.h"
#include "rt_engine/network/artificial_cells.h"
#include "rt_engine/network/event_synapses.h"

namespace dynclamp::rt {

// Izhikevich (2007) in physical units:
//   C v' = k (v - vr)(v - vt) - u + I,  u' = a (b (v - vr) - u);
//   v >= v_peak: v = c, u += d  (a spike).
struct IzhikevichParams {
  double k_ns_per_mv = 0.7;
  double vr_mv = -60.0;
  double vt_mv = -40.0;
  double a_per_ms = 0.03;
  double b_ns = -2.0;
  double c_mv = -50.0;
  double d_pa = 100.0;
  double v_peak_mv = 35.0;
};

// Adaptive exponential integrate-and-fire (Brette & Gerstner 2005):
//   C V' = -gL (V - EL) + gL dT exp((V - VT)/dT) - w + I,
//   tau_w w' = a (V - EL) - w;  V >= V_peak: V = V_reset, w += b.
struct AdexParams {
  double gl_ns = 10.0;
  double el_mv = -70.0;
  double vt_mv = -50.0;
  double delta_t_mv = 2.0;
  double a_ns = 2.0;
  double tau_w_ms = 100.0;
  double b_pa = 60.0;
  double v_reset_mv = -58.0;
  double v_peak_mv = 0.0;
};

struct ModelCellSpec {
  std::string name;
  double capacitance_pf = 100.0;
  double v_init_mv = -65.0;
  double bias_pa = 0.0;  // live: "<cell>.bias_pa"
  // monostate: conductance-based (its channels and leak are conductances
  // on this cell, e.g. the hh_na, hh_k and hh_leak presets).
  std::variant<std::monostate, IzhikevichParams, AdexParams> dynamics;
};

struct EventSynapseSpec {
  std::string name;
  int cell = 0;
  EventSynapseParams params;
};

struct ArtificialCellSpec {
  std::string name;
  ArtificialParams params;
};

struct SourceRef {
  enum class Kind : uint8_t { kCell, kArtificial } kind = Kind::kCell;
  int index = 0;
};
struct TargetRef {
  enum class Kind : uint8_t { kSynapse, kArtificial } kind = Kind::kSynapse;
  int index = 0;
};

// A NetCon: source spikes reach the target `delay_ms` later with `weight`
// (nS for synapses, dimensionless for artificial cells). A cell source
// spikes when its V crosses `threshold_mv` upwards, and can spike again
// once V has fallen below threshold - hysteresis.
struct ConnectionSpec {
  std::string name;
  SourceRef source;
  TargetRef target;
  double delay_ms = 1.0;
  double weight = 0.0;  // live: "<connection>.weight"
  double threshold_mv = -20.0;
  double hysteresis_mv = 10.0;
};

// Graded transmission: release s_inf = 1 / (1 + exp((v_half - V_pre)/k))
// followed by first-order kinetics with tau (0: instantaneous);
// g = g_max s on the postsynaptic cell.
struct GradedSynapseSpec {
  std::string name;
  int pre = 0;
  int post = 0;
  double g_max_ns = 0.0;  // live
  double e_rev_mv = -80.0;
  double v_half_mv = -40.0;
  double slope_mv = 5.0;
  double tau_ms = 0.0;
};

// Ohmic coupling both ways: I_a = g (V_b - V_a), I_b = g (V_a - V_b).
struct GapJunctionSpec {
  std::string name;
  int cell_a = 0;
  int cell_b = 0;
  double g_ns = 0.0;  // live
};

// Point-conductance background (Destexhe et al. 2001): excitatory and
// inhibitory Ornstein-Uhlenbeck conductances, exact update for the step,
// each rectified at 0 (a conductance is never negative). The means and SDs
// are the OU processes'; what is delivered is their rectified Gaussian.
struct BackgroundSpec {
  std::string name;
  int cell = 0;
  double ge0_ns = 12.0;     // live
  double sigma_e_ns = 3.0;  // live
  double tau_e_ms = 2.7;
  double e_e_mv = 0.0;
  double gi0_ns = 57.0;     // live
  double sigma_i_ns = 6.6;  // live
  double tau_i_ms = 10.5;
  double e_i_mv = -75.0;
  uint64_t seed = 1;
};

// Caps that bound what a spec may preallocate.
inline constexpr std::size_t kMaxEventsInFlightCap = 10'000'000;
inline constexpr std::size_t kMaxModelCells = 100'000;
inline constexpr std::size_t kMaxConnections = 10'000'000;

std::span<const ParamInfo> ModelCellParamInfo();  // capacitance, v_init, bias
std::span<const ParamInfo> IzhikevichParamInfo();
std::span<const ParamInfo> AdexParamInfo();
std::span<const ParamInfo>
ConnectionParamInfo();  // delay, weight, threshold, hysteresis
std::span<const ParamInfo> GradedSynapseParamInfo();
std::span<const ParamInfo> GapJunctionParamInfo();
std::span<const ParamInfo> BackgroundParamInfo();

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_CIRCUIT_SPEC_H_
