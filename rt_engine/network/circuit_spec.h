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

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "rt_engine/models/param_info.h"
#include "rt_engine/models/param_table.h"
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
  std::variant<std::monostate, IzhikevichParams, AdexParams> dynamics{};
};

struct EventSynapseSpec {
  std::string name;
  int cell = 0;
  EventSynapseParams params;
};

struct ArtificialCellSpec {
  std::string name;
  ArtificialParams params{};
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
  SourceRef source{};
  TargetRef target{};
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

// ---- each kind's parameters, declared once (models/param_table.h) --------
// Validation, live changes, ListMechanisms and the spec lowering's defaults
// all read these rows; a member added to a struct without a row here fails
// to compile.

inline constexpr ParamTable kModelCellParams{std::array<Param<ModelCellSpec>,
                                                        3>{{
    {{"capacitance_pf", "pF", 100.0, 0.0, 1e6, true, false,
      "membrane capacitance"},
     &ModelCellSpec::capacitance_pf},
    {{"v_init_mv", "mV", -65.0, -200.0, 200.0, false, false, "V at the start"},
     &ModelCellSpec::v_init_mv},
    {{"bias_pa", "pA", 0.0, -1e6, 1e6, false, true, "steady injected current"},
     &ModelCellSpec::bias_pa},
}}};
DYNCLAMP_PARAMS_COVER(ModelCellSpec, kModelCellParams, 2);  // name, dynamics

inline constexpr ParamTable kIzhikevichParams{std::array<
    Param<IzhikevichParams>, 8>{{
    {{"k_ns_per_mv", "nS/mV", 0.7, 0.0, 1e3, true, false, "quadratic gain"},
     &IzhikevichParams::k_ns_per_mv},
    {{"vr_mv", "mV", -60.0, -200.0, 200.0, false, false, "resting potential"},
     &IzhikevichParams::vr_mv},
    {{"vt_mv", "mV", -40.0, -200.0, 200.0, false, false, "threshold potential"},
     &IzhikevichParams::vt_mv},
    {{"a_per_ms", "1/ms", 0.03, 0.0, 1e3, true, false, "recovery rate"},
     &IzhikevichParams::a_per_ms},
    {{"b_ns", "nS", -2.0, -1e4, 1e4, false, false, "recovery sensitivity"},
     &IzhikevichParams::b_ns},
    {{"c_mv", "mV", -50.0, -200.0, 200.0, false, false, "reset potential"},
     &IzhikevichParams::c_mv},
    {{"d_pa", "pA", 100.0, -1e6, 1e6, false, false, "recovery jump per spike"},
     &IzhikevichParams::d_pa},
    {{"v_peak_mv", "mV", 35.0, -100.0, 200.0, false, false, "spike cut-off"},
     &IzhikevichParams::v_peak_mv},
}}};
DYNCLAMP_PARAMS_COVER(IzhikevichParams, kIzhikevichParams, 0);

inline constexpr ParamTable kAdexParams{std::array<Param<AdexParams>, 9>{{
    {{"gl_ns", "nS", 10.0, 0.0, 1e6, true, false, "leak conductance"},
     &AdexParams::gl_ns},
    {{"el_mv", "mV", -70.0, -200.0, 200.0, false, false, "leak reversal"},
     &AdexParams::el_mv},
    {{"vt_mv", "mV", -50.0, -200.0, 200.0, false, false, "threshold potential"},
     &AdexParams::vt_mv},
    {{"delta_t_mv", "mV", 2.0, 0.0, 100.0, true, false, "slope factor"},
     &AdexParams::delta_t_mv},
    {{"a_ns", "nS", 2.0, -1e4, 1e4, false, false, "subthreshold adaptation"},
     &AdexParams::a_ns},
    {{"tau_w_ms", "ms", 100.0, 0.0, 1e6, true, false,
      "adaptation time constant"},
     &AdexParams::tau_w_ms},
    {{"b_pa", "pA", 60.0, -1e6, 1e6, false, false,
      "spike-triggered adaptation"},
     &AdexParams::b_pa},
    {{"v_reset_mv", "mV", -58.0, -200.0, 200.0, false, false,
      "reset potential"},
     &AdexParams::v_reset_mv},
    {{"v_peak_mv", "mV", 0.0, -100.0, 200.0, false, false, "spike cut-off"},
     &AdexParams::v_peak_mv},
}}};
DYNCLAMP_PARAMS_COVER(AdexParams, kAdexParams, 0);

inline constexpr ParamTable kConnectionParams{
    std::array<Param<ConnectionSpec>, 4>{{
        {{"delay_ms", "ms", 1.0, 0.0, 1e6, false, false,
          "from the spike to its effect (>= one step)"},
         &ConnectionSpec::delay_ms},
        {{"weight", "nS or 1", 0.0, -1e6, 1e6, false, true,
          "nS onto synapses; unitless onto artificial cells"},
         &ConnectionSpec::weight},
        {{"threshold_mv", "mV", -20.0, -200.0, 200.0, false, false,
          "upward crossing of the source V"},
         &ConnectionSpec::threshold_mv},
        {{"hysteresis_mv", "mV", 10.0, 0.0, 200.0, false, false,
          "fall below threshold minus this to re-arm"},
         &ConnectionSpec::hysteresis_mv},
    }}};
// name, source, target
DYNCLAMP_PARAMS_COVER(ConnectionSpec, kConnectionParams, 3);

inline constexpr ParamTable kGradedSynapseParams{
    std::array<Param<GradedSynapseSpec>, 5>{{
        {{"g_max_ns", "nS", 0.0, 0.0, 1e6, false, true, "maximal conductance"},
         &GradedSynapseSpec::g_max_ns},
        {{"e_rev_mv", "mV", -80.0, -200.0, 200.0, false, false,
          "reversal potential"},
         &GradedSynapseSpec::e_rev_mv},
        {{"v_half_mv", "mV", -40.0, -200.0, 200.0, false, false,
          "presynaptic V of half release"},
         &GradedSynapseSpec::v_half_mv},
        {{"slope_mv", "mV", 5.0, 0.0, 100.0, true, false, "release slope"},
         &GradedSynapseSpec::slope_mv},
        {{"tau_ms", "ms", 0.0, 0.0, 1e5, false, false,
          "release kinetics; 0 = instantaneous"},
         &GradedSynapseSpec::tau_ms},
    }}};
DYNCLAMP_PARAMS_COVER(GradedSynapseSpec, kGradedSynapseParams,
                      3);  // name, pre, post

inline constexpr ParamTable kGapJunctionParams{
    std::array<Param<GapJunctionSpec>, 1>{{
        {{"g_ns", "nS", 0.0, 0.0, 1e6, false, true, "coupling conductance"},
         &GapJunctionSpec::g_ns},
    }}};
DYNCLAMP_PARAMS_COVER(GapJunctionSpec, kGapJunctionParams,
                      3);  // name, cell_a, cell_b

inline constexpr ParamTable kBackgroundParams{
    std::array<Param<BackgroundSpec>, 8>{{
        {{"ge0_ns", "nS", 12.0, 0.0, 1e6, false, true,
          "mean excitatory conductance"},
         &BackgroundSpec::ge0_ns},
        {{"sigma_e_ns", "nS", 3.0, 0.0, 1e6, false, true,
          "SD of the excitatory conductance"},
         &BackgroundSpec::sigma_e_ns},
        {{"tau_e_ms", "ms", 2.7, 0.0, 1e5, true, false,
          "excitatory correlation time"},
         &BackgroundSpec::tau_e_ms},
        {{"e_e_mv", "mV", 0.0, -200.0, 200.0, false, false,
          "excitatory reversal"},
         &BackgroundSpec::e_e_mv},
        {{"gi0_ns", "nS", 57.0, 0.0, 1e6, false, true,
          "mean inhibitory conductance"},
         &BackgroundSpec::gi0_ns},
        {{"sigma_i_ns", "nS", 6.6, 0.0, 1e6, false, true,
          "SD of the inhibitory conductance"},
         &BackgroundSpec::sigma_i_ns},
        {{"tau_i_ms", "ms", 10.5, 0.0, 1e5, true, false,
          "inhibitory correlation time"},
         &BackgroundSpec::tau_i_ms},
        {{"e_i_mv", "mV", -75.0, -200.0, 200.0, false, false,
          "inhibitory reversal"},
         &BackgroundSpec::e_i_mv},
    }}};
DYNCLAMP_PARAMS_COVER(BackgroundSpec, kBackgroundParams,
                      3);  // name, cell, seed

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_CIRCUIT_SPEC_H_
