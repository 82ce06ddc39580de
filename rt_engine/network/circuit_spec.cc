#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {
namespace {

constexpr ParamInfo kModelCellInfo[] = {
    {"capacitance_pf", "pF", 100.0, 0.0, 1e6, true, false,
     "membrane capacitance"},
    {"v_init_mv", "mV", -65.0, -200.0, 200.0, false, false, "V at the start"},
    {"bias_pa", "pA", 0.0, -1e6, 1e6, false, true, "steady injected current"},
};
constexpr ParamInfo kIzhikevichInfo[] = {
    {"k_ns_per_mv", "nS/mV", 0.7, 0.0, 1e3, true, false, "quadratic gain"},
    {"vr_mv", "mV", -60.0, -200.0, 200.0, false, false, "resting potential"},
    {"vt_mv", "mV", -40.0, -200.0, 200.0, false, false, "threshold potential"},
    {"a_per_ms", "1/ms", 0.03, 0.0, 1e3, true, false, "recovery rate"},
    {"b_ns", "nS", -2.0, -1e4, 1e4, false, false, "recovery sensitivity"},
    {"c_mv", "mV", -50.0, -200.0, 200.0, false, false, "reset potential"},
    {"d_pa", "pA", 100.0, -1e6, 1e6, false, false, "recovery jump per spike"},
    {"v_peak_mv", "mV", 35.0, -100.0, 200.0, false, false, "spike cut-off"},
};
constexpr ParamInfo kAdexInfo[] = {
    {"gl_ns", "nS", 10.0, 0.0, 1e6, true, false, "leak conductance"},
    {"el_mv", "mV", -70.0, -200.0, 200.0, false, false, "leak reversal"},
    {"vt_mv", "mV", -50.0, -200.0, 200.0, false, false, "threshold potential"},
    {"delta_t_mv", "mV", 2.0, 0.0, 100.0, true, false, "slope factor"},
    {"a_ns", "nS", 2.0, -1e4, 1e4, false, false, "subthreshold adaptation"},
    {"tau_w_ms", "ms", 100.0, 0.0, 1e6, true, false,
     "adaptation time constant"},
    {"b_pa", "pA", 60.0, -1e6, 1e6, false, false, "spike-triggered adaptation"},
    {"v_reset_mv", "mV", -58.0, -200.0, 200.0, false, false, "reset potential"},
    {"v_peak_mv", "mV", 0.0, -100.0, 200.0, false, false, "spike cut-off"},
};
constexpr ParamInfo kConnectionInfo[] = {
    {"delay_ms", "ms", 1.0, 0.0, 1e6, false, false,
     "from the spike to its effect (>= one step)"},
    {"weight", "nS or 1", 0.0, -1e6, 1e6, false, true,
     "nS onto synapses; unitless onto artificial cells"},
    {"threshold_mv", "mV", -20.0, -200.0, 200.0, false, false,
     "upward crossing of the source V"},
    {"hysteresis_mv", "mV", 10.0, 0.0, 200.0, false, false,
     "fall below threshold minus this to re-arm"},
};
constexpr ParamInfo kGradedInfo[] = {
    {"g_max_ns", "nS", 0.0, 0.0, 1e6, false, true, "maximal conductance"},
    {"e_rev_mv", "mV", -80.0, -200.0, 200.0, false, false,
     "reversal potential"},
    {"v_half_mv", "mV", -40.0, -200.0, 200.0, false, false,
     "presynaptic V of half release"},
    {"slope_mv", "mV", 5.0, 0.0, 100.0, true, false, "release slope"},
    {"tau_ms", "ms", 0.0, 0.0, 1e5, false, false,
     "release kinetics; 0 = instantaneous"},
};
constexpr ParamInfo kGapInfo[] = {
    {"g_ns", "nS", 0.0, 0.0, 1e6, false, true, "coupling conductance"},
};
constexpr ParamInfo kBackgroundInfo[] = {
    {"ge0_ns", "nS", 12.0, 0.0, 1e6, false, true,
     "mean excitatory conductance"},
    {"sigma_e_ns", "nS", 3.0, 0.0, 1e6, false, true,
     "SD of the excitatory conductance"},
    {"tau_e_ms", "ms", 2.7, 0.0, 1e5, true, false,
     "excitatory correlation time"},
    {"e_e_mv", "mV", 0.0, -200.0, 200.0, false, false, "excitatory reversal"},
    {"gi0_ns", "nS", 57.0, 0.0, 1e6, false, true,
     "mean inhibitory conductance"},
    {"sigma_i_ns", "nS", 6.6, 0.0, 1e6, false, true,
     "SD of the inhibitory conductance"},
    {"tau_i_ms", "ms", 10.5, 0.0, 1e5, true, false,
     "inhibitory correlation time"},
    {"e_i_mv", "mV", -75.0, -200.0, 200.0, false, false, "inhibitory reversal"},
};

}  // namespace

std::span<const ParamInfo> ModelCellParamInfo() { return kModelCellInfo; }
std::span<const ParamInfo> IzhikevichParamInfo() { return kIzhikevichInfo; }
std::span<const ParamInfo> AdexParamInfo() { return kAdexInfo; }
std::span<const ParamInfo> ConnectionParamInfo() { return kConnectionInfo; }
std::span<const ParamInfo> GradedSynapseParamInfo() { return kGradedInfo; }
std::span<const ParamInfo> GapJunctionParamInfo() { return kGapInfo; }
std::span<const ParamInfo> BackgroundParamInfo() { return kBackgroundInfo; }

}  // namespace dynclamp::rt
