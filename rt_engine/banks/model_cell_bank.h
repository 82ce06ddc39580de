// ModelCellBank: the neurons the engine simulates (circuit_spec.h). Every
// model cell's V advances by backward Euler with the conductances of the
// step, as NEURON's fixed step does: C (V' - V)/dt = GE - G V' + I; a
// conductance-based cell's channels are conductances on it (in the
// conductance bank). Izhikevich and AdEx cells are then stepped again from
// V by explicit substeps, a spike being a reset inside the step that fires
// the cell's source in the network.
//
// Signals: "<cell>.v_mv" (the V the step used, as for real cells), and
// "<cell>.u_pa" (Izhikevich) or "<cell>.w_pa" (AdEx). Live: "<cell>.bias_pa".
//
// Threads: Validate, CountSignals, Build and AddSignals are non-RT;
// Initialize, Advance, Apply and Read are RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_MODEL_CELL_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_MODEL_CELL_BANK_H_

#include <cstdint>
#include <span>
#include <vector>

#include "rt_engine/banks/bank.h"
#include "rt_engine/banks/network_bank.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {

class ModelCellBank {
 public:
  using Spec = ModelCellSpec;
  static constexpr absl::string_view kList = "model_cells";
  static constexpr SignalDesc kSignals[] = {{"v_mv", "mV"}};
  static constexpr SignalDesc kIzhikevichSignal = {"u_pa", "pA"};
  static constexpr SignalDesc kAdexSignal = {"w_pa", "pA"};
  static constexpr const auto& kParams = kModelCellParams;
  // The one live row, kept in an array the V update reads.
  static_assert(kParams.LiveAre({&ModelCellSpec::bias_pa}));

  static absl::Status Validate(const std::vector<Spec>& specs,
                               SpecContext& context);
  static std::size_t CountSignals(const std::vector<Spec>& specs);
  // `specs` must outlive the bank (the spiking cells' parameters are read
  // in place); spiking cells get a source in `network`.
  void Build(const std::vector<Spec>& specs, double dt_ms,
             NetworkBank& network);
  // `v_prev`: the model cells' part of the set's V of the last step.
  void AddSignals(const std::vector<Spec>& specs, const double* v_prev,
                  SignalSink& sink) const;
  // The source cell k fires on its resets (UINT32_MAX: none).
  uint32_t spike_source(std::size_t k) const { return cells_[k].spike_source; }

  // The model cells' parts of the set's cell arrays.
  struct Cells {
    std::span<double> v, v_prev;
    std::span<const double> g, ge;
  };
  // RT. Before the first step: V and recovery at their initial values.
  void Initialize(std::span<double> v) noexcept;
  // RT. One step from the sums of this step; spikes fire in `network`.
  void Advance(Cells cells, double now, NetworkBank& network,
               StepReport& report) noexcept {
    if (!cells_.empty()) AdvanceAll(cells, now, network, report);
  }
  bool Apply(uint32_t index, int param, double value) noexcept;
  double Read(uint32_t index, int param) const noexcept;

 private:
  void AdvanceAll(Cells cells, double now, NetworkBank& network,
                  StepReport& report) noexcept;
  struct Runtime {
    enum class Dynamics : uint8_t { kConductance, kIzhikevich, kAdex };
    Dynamics dynamics = Dynamics::kConductance;
    double c_pf = 100, v_init = -65;
    // Into the spec (immutable): kept out of line so that a step over a
    // thousand conductance-based cells reads only what it needs.
    const IzhikevichParams* izh = nullptr;
    const AdexParams* adex = nullptr;
    double recovery = 0;                 // Izhikevich u or AdEx w (pA)
    uint32_t spike_source = UINT32_MAX;  // Izhikevich/AdEx resets
  };
  double dt_ms_ = 0.05;
  std::vector<Runtime> cells_;
  // As arrays so the V update vectorizes: C/dt (pF/ms) and the bias
  // current (pA, live).
  std::vector<double> c_over_dt_, bias_pa_;
  std::vector<uint32_t> spiking_cells_;  // Izhikevich and AdEx cells
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_MODEL_CELL_BANK_H_
