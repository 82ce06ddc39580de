// ConductanceBank: every conductance of a model set: constant, ligand-gated
// and Hodgkin-Huxley-type (rt_engine/models/), each on one cell. On a real
// cell an HH channel's gates see the V just read and the current follows
// from them; on a model cell its gates (and constant conductances) go to an
// HhCellBatch, which steps them after V (NEURON's staggered scheme) and
// carries the cell's sums to the next step.
//
// Signals: every conductance "<name>.g_ns" and "<name>.i_pa"; a
// ligand-gated one its open fraction "<name>.s"; an HH channel each gate
// "<name>.<gate>". Live parameters are rows of each model's kParams, plus
// the action "<ligand>.trigger".
//
// Threads: Validate, Build, AddSignals and Resolve are non-RT; Initialize,
// Step, Advance, Apply and Read are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_CONDUCTANCE_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_CONDUCTANCE_BANK_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "rt_engine/banks/bank.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"
#include "rt_engine/models/ligand_gated.h"
#include "rt_engine/models/rate_table.h"
#include "rt_engine/network/hh_cell_batch.h"

namespace dynclamp::rt {

using ConductanceModel = std::variant<ConstantConductance::Params,
                                      LigandGated::Params, HhChannel::Params>;

struct ConductanceSpec {
  std::string name;
  int cell = 0;  // index of the cell it acts on: rig channels, then model cells
  ConductanceModel model{};
  // The spec's field the model came from ("ligand_gated", "preset"), so
  // that an error names the field the user wrote; "" when built in code.
  std::string model_field{};
};

// Non-RT. A conductance named `name` on `cell` made from a channel preset
// (models/channel_presets.h); `integrator` applies to HH-type presets.
// NotFound if there is no such preset.
absl::StatusOr<ConductanceSpec> PresetConductance(
    absl::string_view name, absl::string_view preset, int cell = 0,
    Integrator integrator = Integrator::kExpEuler);

class ConductanceBank {
 public:
  using Spec = ConductanceSpec;
  static constexpr absl::string_view kList = "conductances";
  // Every conductance's; then a ligand-gated one's open fraction and an HH
  // channel's gates (named as its gates are, unit 1).
  static constexpr SignalDesc kSignals[] = {{"g_ns", "nS"}, {"i_pa", "pA"}};
  static constexpr SignalDesc kLigandSignal = {"s", "1"};

  static absl::Status Validate(const std::vector<Spec>& specs,
                               SpecContext& context);
  static std::size_t CountSignals(const std::vector<Spec>& specs);
  // Tabulates every HH channel's gates (where kinetics are checked) and
  // builds the rest; `publishes` says which signals frames carry (a batched
  // channel computes its own g and I only if they are). `sums`: the set's
  // cell arrays, which a live change to a batched channel writes at once.
  absl::Status Build(const std::vector<Spec>& specs, double dt_ms,
                     std::size_t num_real_cells, CellSums sums,
                     const std::function<bool(const std::string&)>& publishes);
  void AddSignals(const std::vector<Spec>& specs, SignalSink& sink) const;
  // Non-RT. "<conductance>.<param>" resolved, as FindLive (bank.h).
  static std::optional<absl::StatusOr<LiveRef>> Resolve(
      const std::vector<Spec>& specs, absl::string_view name,
      absl::string_view param, double value, absl::string_view path);

  // RT. Before the first step, with every cell's V set: gates to steady
  // state, the batched cells' sums written.
  void Initialize(CellSums cells) noexcept;
  // RT. Every conductance adds to its cell; cells outside the batch start
  // from zero. `elapsed_ms`: the time the real cells' gates integrate over.
  void Step(CellSums cells, bool first, double elapsed_ms,
            int64_t cycle) noexcept;
  // RT. The batch's gates follow the model cells' new V; their sums are
  // written for the next step.
  void Advance(CellSums cells) noexcept;
  bool Apply(uint32_t index, int param, double value) noexcept;
  double Read(uint32_t index, int param) const noexcept;

  std::size_t num_rate_tables() const { return tables_.size(); }

 private:
  enum class Kind : uint8_t { kConstant, kLigand, kHh };
  struct Slot {  // one per conductance, in spec order
    Kind kind;
    uint32_t index;  // into the kind's vector
  };
  struct ConstantRuntime {
    Output out;
    ConstantConductance::Params params;
    uint32_t batch = UINT32_MAX;  // channel in batch_ (on a model cell)
  };
  struct LigandRuntime {
    Output out;
    LigandGated::Params params;
    LigandGated::Coeffs coeffs;
    LigandGated::State state;
  };
  struct HhRuntime {
    Output out;
    HhChannel::Params params;  // its live rows change; gates are in tables
    uint32_t first_gate = 0;
    uint32_t num_gates = 0;
    uint32_t batch = UINT32_MAX;  // channel in batch_ (on a model cell)
  };
  const Output& OutputOf(Slot slot) const;
  void SyncBatch(uint32_t channel, double g_ns, double e_mv) noexcept;

  std::vector<Slot> slots_;
  std::vector<ConstantRuntime> constants_;
  std::vector<uint32_t> constants_clamped_;  // constants_ on real cells
  // constants_ in batch_ whose g or I is published
  std::vector<uint32_t> constants_batched_outputs_;
  std::vector<LigandRuntime> ligands_;
  std::vector<HhRuntime> hh_;
  std::vector<uint32_t> hh_clamped_;  // hh_ on real cells
  HhCellBatch batch_;                 // hh_ and constants_ on model cells
  std::vector<uint32_t> hh_batched_outputs_;  // ... whose g or I is published
  // Cells [first, second) that the batch does not cover: their sums start
  // each step from zero.
  std::vector<std::pair<std::size_t, std::size_t>> unbatched_cells_;
  std::vector<HhChannel::GateRuntime> gates_;  // of hh_clamped_
  std::vector<double> gate_state_;
  std::vector<std::shared_ptr<const RateTable>> tables_;
  CellSums sums_{};  // the set's cell arrays (live changes of the batch)
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_CONDUCTANCE_BANK_H_
