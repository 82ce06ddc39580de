#include "server/lowering/spec_lowering.h"

#include "gtest/gtest.h"
#include "rt_engine/model_set.h"
#include "spec_files/spec_file.h"

namespace dynclamp::server {
namespace {

const std::vector<std::string> kCells = {"cell0", "cell1"};

v1::Spec Yaml(const std::string& text) {
  auto spec = spec_files::ParseSpec(text, "test");
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

std::string ErrorOf(const std::string& yaml) {
  auto lowered = LowerSpec(Yaml(yaml), kCells);
  EXPECT_FALSE(lowered.ok());
  EXPECT_EQ(lowered.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(lowered.status().message());
}

TEST(SpecLoweringTest, EveryModelKindLowers) {
  auto lowered = LowerSpec(Yaml(R"y(
conductances:
  - {name: leak, cell: cell1, constant: {g_ns: -3, e_rev_mv: 0}}
  - name: gaba
    cell: cell0
    ligand_gated: {mode: CONTINUOUS, g_max_ns: 5, e_rev_mv: -75,
                   tau_rise_ms: 2, tau_decay_ms: 10, onset_ms: 5, applied: true}
  - {name: na, cell: cell0, preset: {preset: hh_na, g_max_ns: 100, integrator: RK4}}
  - {name: l2, cell: cell0, preset: {preset: hh_leak, g_max_ns: 7}}
  - name: k
    cell: cell0
    hh:
      g_max_ns: 36
      e_rev_mv: -77
      celsius: 16.3
      table: {dv_mv: 0.1}
      gates:
        - {name: n, power: 4, q10: 3, alpha_beta: {
             alpha: {form: LINOID, rate_per_ms: 0.1, v_half_mv: -55, slope_mv: 10},
             beta: {form: EXPONENTIAL, rate_per_ms: 0.125, v_half_mv: -65, slope_mv: -80}}}
        - {name: x, inf_tau: {inf_v_half_mv: -30, inf_slope_mv: 5, tau_ms: 3}}
        - {name: y, inf_tau: {inf_v_half_mv: -30, inf_slope_mv: 5,
                              tau_table: {v_mv: [-100, 50], tau_ms: [1, 2]}}}
        - {name: z, expressions: {inf: "1/(1+exp(-V/5))", tau: "2"}}
)y"),
                           kCells);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  ASSERT_EQ(lowered->conductances.size(), 5u);
  EXPECT_EQ(lowered->conductances[0].cell, 1);
  const auto& lig =
      std::get<rt::LigandGated::Params>(lowered->conductances[1].model);
  EXPECT_EQ(lig.mode, rt::LigandGated::Mode::kContinuous);
  EXPECT_EQ(lig.applied, 1.0);
  EXPECT_EQ(lig.onset_ms, 5.0);
  const auto& na =
      std::get<rt::HhChannel::Params>(lowered->conductances[2].model);
  EXPECT_EQ(na.g_max_ns, 100.0);
  EXPECT_EQ(na.integrator, rt::Integrator::kRk4);
  EXPECT_EQ(
      std::get<rt::ConstantConductance::Params>(lowered->conductances[3].model)
          .g_ns,
      7.0);
  const auto& k =
      std::get<rt::HhChannel::Params>(lowered->conductances[4].model);
  EXPECT_EQ(k.celsius, 16.3);
  EXPECT_EQ(k.table.dv_mv, 0.1);
  EXPECT_EQ(k.gates.size(), 4u);
  EXPECT_EQ(k.gates[0].power, 4);
  EXPECT_EQ(k.gates[1].power, 1) << "power defaults to 1";
  EXPECT_TRUE(std::holds_alternative<rt::ExpressionRates>(k.gates[3].kinetics));
}

TEST(SpecLoweringTest, ErrorsNameThePathAndTheReason) {
  EXPECT_EQ(
      ErrorOf(
          "conductances: [{cell: cell0, constant: {g_ns: 1, e_rev_mv: 0}}]"),
      "conductances[0].name: is required");
  EXPECT_EQ(ErrorOf("conductances: [{name: a, cell: cell9, constant: {g_ns: 1, "
                    "e_rev_mv: 0}}]"),
            "conductances[0] (a).cell: no cell named 'cell9' (the rig has "
            "cell0, cell1)");
  EXPECT_EQ(ErrorOf("conductances: [{name: a, cell: cell0}]"),
            "conductances[0] (a): one of constant, ligand_gated, hh or preset "
            "is required");
  EXPECT_EQ(
      ErrorOf("conductances: [{name: a, cell: cell0, constant: {g_ns: 1}}]"),
      "conductances[0] (a).constant.e_rev_mv: is required");
  EXPECT_EQ(ErrorOf("conductances: [{name: a, cell: cell0, ligand_gated: "
                    "{g_max_ns: 1, e_rev_mv: 0, tau_rise_ms: 1}}]"),
            "conductances[0] (a).ligand_gated.tau_decay_ms: is required");
  EXPECT_NE(
      ErrorOf("conductances: [{name: a, cell: cell0, preset: {preset: xx}}]")
          .find("conductances[0] (a).preset.preset: no preset named 'xx'"),
      std::string::npos);
  EXPECT_EQ(ErrorOf("conductances: [{name: a, cell: cell0, hh: {g_max_ns: 1, "
                    "e_rev_mv: 0}}]"),
            "conductances[0] (a).hh.gates: is required");
  EXPECT_EQ(
      ErrorOf(
          R"y(conductances: [{name: a, cell: cell0, hh: {g_max_ns: 1, e_rev_mv: 0,
                        gates: [{name: m, alpha_beta: {alpha: {form: LINOID, rate_per_ms: 1,
                        v_half_mv: 0}, beta: {form: SIGMOID, rate_per_ms: 1, v_half_mv: 0,
                        slope_mv: 1}}}]}}])y"),
      "conductances[0] (a).hh.gates[0] (m).alpha_beta.alpha.slope_mv: is "
      "required");
  EXPECT_EQ(
      ErrorOf(
          R"y(conductances: [{name: a, cell: cell0, hh: {g_max_ns: 1, e_rev_mv: 0,
                        gates: [{name: m}]}}])y"),
      "conductances[0] (a).hh.gates[0] (m).kinetics: one of alpha_beta, "
      "inf_tau or "
      "expressions is required");
  EXPECT_EQ(
      ErrorOf(
          R"y(conductances: [{name: a, cell: cell0, hh: {g_max_ns: 1, e_rev_mv: 0,
                        gates: [{name: m, expressions: {alpha: "1", inf: "0.5"}}]}}])y"),
      "conductances[0] (a).hh.gates[0] (m).expressions.alpha: give either "
      "alpha and "
      "beta, or inf and tau, not both");
}

// Circuits: names resolve across cells, synapses and artificial cells; bad
// references and values name the object and the field; nothing is built.
std::string CircuitError(const std::string& yaml) {
  auto lowered = LowerSpec(Yaml(yaml), kCells);
  if (!lowered.ok()) return std::string(lowered.status().message());
  rt::ModelSet::Config cfg;
  cfg.dt_ms = 0.05;
  cfg.cell_names = kCells;
  cfg.max_signals = 1000;
  auto set = rt::ModelSet::Prepare(*lowered, cfg);
  EXPECT_FALSE(set.ok()) << yaml;
  return set.ok() ? "" : std::string(set.status().message());
}

constexpr char kNet[] = R"y(
model_cells:
  - {name: m, conductance_based: {}}
synapses:
  - {name: syn, cell: m, exp_syn: {tau_ms: 2}}
artificial_cells:
  - {name: gen, net_stim: {interval_ms: 5}}
  - {name: if1, int_fire1: {}}
)y";

TEST(SpecLoweringTest, CircuitsLowerWithNamesResolved) {
  auto lowered = LowerSpec(Yaml(std::string(kNet) + R"y(
conductances:
  - {name: na, cell: m, preset: {preset: hh_na}}
connections:
  - {name: a, source: gen, target: syn, weight: 1}
  - {name: b, source: cell1, target: if1, weight: 0.5, delay_ms: 2, threshold_mv: 0}
  - {name: c, source: m, target: syn, weight: 1}
graded_synapses:
  - {name: g, pre: cell0, post: m, g_max_ns: 3, e_rev_mv: -80}
gap_junctions:
  - {name: j, cell_a: cell1, cell_b: m, g_ns: 1}
backgrounds:
  - {name: bg, cell: m, seed: 5}
)y"),
                           kCells);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  EXPECT_EQ(lowered->conductances[0].cell, 2) << "model cells follow the rig's";
  EXPECT_EQ(lowered->connections[0].source.kind,
            rt::SourceRef::Kind::kArtificial);
  EXPECT_EQ(lowered->connections[1].source.index, 1);
  EXPECT_EQ(lowered->connections[1].target.kind,
            rt::TargetRef::Kind::kArtificial);
  EXPECT_EQ(lowered->connections[1].threshold_mv, 0);
  EXPECT_EQ(lowered->connections[2].source.index, 2);
  EXPECT_EQ(lowered->graded_synapses[0].post, 2);
  EXPECT_EQ(lowered->backgrounds[0].seed, 5u);
}

TEST(SpecLoweringTest, CircuitBadInputNamesTheObjectAndField) {
  EXPECT_EQ(
      CircuitError(
          std::string(kNet) +
          "connections: [{name: a, source: gen, target: syn, weight: 1, "
          "delay_ms: 0.01}]"),
      "connections[0] (a).delay_ms: must be at least one clamp step (0.05 ms), "
      "got 0.01 ms");
  EXPECT_NE(
      CircuitError(
          std::string(kNet) +
          "connections: [{name: a, source: nowhere, target: syn, weight: 1}]")
          .find("connections[0] (a).source: no cell or artificial cell named "
                "'nowhere'"),
      std::string::npos);
  EXPECT_NE(CircuitError(
                std::string(kNet) +
                "connections: [{name: a, source: gen, target: m, weight: 1}]")
                .find("connections[0] (a).target: no synapse or artificial "
                      "cell named 'm'"),
            std::string::npos);
  EXPECT_EQ(CircuitError(std::string(kNet) +
                         "connections: [{name: a, source: gen, target: syn}]"),
            "connections[0] (a).weight: is required");
  EXPECT_NE(
      CircuitError(
          std::string(kNet) +
          "connections: [{name: a, source: gen, target: syn, weight: .nan}]")
          .find("connections[0] (a).weight: must be a finite number"),
      std::string::npos);
  EXPECT_NE(CircuitError(
                std::string(kNet) +
                "connections: [{name: a, source: if1, target: gen, weight: 1}]")
                .find("a spike generator takes no input events"),
            std::string::npos);
  EXPECT_NE(CircuitError(std::string(kNet) + "max_events_in_flight: 20000000")
                .find("max_events_in_flight: must be in [1, 10000000]"),
            std::string::npos);
  EXPECT_NE(
      CircuitError(std::string(kNet) +
                   "gap_junctions: [{name: j, cell_a: m, cell_b: m, g_ns: 1}]")
          .find("gap_junctions[0] (j).cell_b: must differ from cell_a"),
      std::string::npos);
  EXPECT_NE(CircuitError(
                std::string(kNet) +
                "graded_synapses: [{name: g, pre: cell5, post: m, g_max_ns: 1, "
                "e_rev_mv: -80}]")
                .find("graded_synapses[0] (g).pre: no cell named 'cell5'"),
            std::string::npos);
  EXPECT_NE(CircuitError(R"y(
artificial_cells:
  - {name: x, int_fire2: {taum_ms: 30, taus_ms: 20}}
)y")
                .find("artificial_cells[0] (x).taum_ms: must be < taus_ms"),
            std::string::npos);
  EXPECT_NE(CircuitError(R"y(
artificial_cells:
  - {name: x, vec_stim: {spike_times_ms: [5, 3]}}
)y")
                .find("artificial_cells[0] (x).spike_times_ms[1]"),
            std::string::npos);
  EXPECT_NE(CircuitError(R"y(
model_cells:
  - {name: cell0, conductance_based: {}}
)y")
                .find("is used by another cell"),
            std::string::npos);
  EXPECT_NE(CircuitError(R"y(
synapses:
  - {name: s, cell: cell0, exp2_syn: {tau1_ms: 5, tau2_ms: 2}}
)y")
                .find("synapses[0] (s).tau1_ms: must be < tau2_ms"),
            std::string::npos);
}

}  // namespace
}  // namespace dynclamp::server
