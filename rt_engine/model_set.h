// ModelSet: everything the clamp computes for the recorded cells, prepared
// whole off the RT thread and then stepped by it.
//
// A ModelSetSpec lists named conductances, each attached to one cell (a DAQ
// channel). Prepare() validates the whole spec (every field of every
// conductance; a bad spec is rejected with the conductance, the field and the
// reason, and nothing else changes), builds rate tables, computes the step's
// coefficients and allocates all state. After that the object never
// allocates: the RT thread calls Step(), WriteSignals() and Apply().
//
// Signals: every conductance publishes "<name>.g_ns" and "<name>.i_pa"; an
// HH channel also each gate ("<name>.<gate>"), a ligand-gated conductance its
// open fraction ("<name>.s"). Live parameters are addressed "<name>.<param>".
//
// Threads: Prepare(), ResolveParam() and the accessors of immutable data are
// non-RT. Step(), WriteSignals() and Apply() are RT-safe and belong to the
// thread that owns the set (the RT loop once the set is swapped in).
#ifndef DYNCLAMP_RT_ENGINE_MODEL_SET_H_
#define DYNCLAMP_RT_ENGINE_MODEL_SET_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"
#include "rt_engine/models/ligand_gated.h"
#include "rt_engine/models/rate_table.h"

namespace dynclamp::rt {

using ConductanceModel = std::variant<ConstantConductance::Params,
                                      LigandGated::Params, HhChannel::Params>;

struct ConductanceSpec {
  std::string name;
  int cell = 0;  // index of the DAQ channel (recorded cell) it acts on
  ConductanceModel model;
};

struct ModelSetSpec {
  std::vector<ConductanceSpec> conductances;
};

// Non-RT. A conductance named `name` on `cell` made from a channel preset
// (models/channel_presets.h); `integrator` applies to HH-type presets.
// NotFound if there is no such preset.
absl::StatusOr<ConductanceSpec> PresetConductance(
    absl::string_view name, absl::string_view preset, int cell = 0,
    Integrator integrator = Integrator::kExpEuler);

struct SignalInfo {
  std::string name;
  std::string unit;
};

// A live parameter change, resolved off the RT thread against one model set
// (its generation) and applied by the RT thread at a cycle boundary.
struct ParamUpdate {
  uint32_t generation = 0;
  uint32_t conductance = 0;  // index in the spec's conductance list
  int32_t param = 0;         // the model's ParamIndex (or action)
  double value = 0;
};

class ModelSet {
 public:
  struct Config {
    double dt_ms = 0.05;
    std::vector<std::string> cell_names;  // one per DAQ channel
    std::size_t max_signals = 64;         // frame capacity for model signals
    uint32_t generation = 0;              // stamped into frames and updates
  };

  static absl::StatusOr<std::unique_ptr<ModelSet>> Prepare(
      const ModelSetSpec& spec, const Config& config);

  ModelSet(const ModelSet&) = delete;
  ModelSet& operator=(const ModelSet&) = delete;

  // RT. Reads V of every cell (mV), writes the summed injected current of
  // every cell (pA, positive depolarizes). Both spans have num_cells() values.
  void Step(std::span<const double> v_mv, std::span<double> i_pa) noexcept;
  // RT. Copies the current value of every signal, in signals() order.
  void WriteSignals(std::span<double> out) const noexcept;
  // RT. Applies a resolved update; false if it was resolved against another
  // generation (the set was swapped in between) and so was ignored.
  bool Apply(const ParamUpdate& update) noexcept;

  // Non-RT. Resolves "<conductance>.<param>" and checks the value against
  // the parameter's range. NotFound / InvalidArgument / FailedPrecondition
  // (parameter not live) otherwise. The special action "<ligand>.trigger"
  // starts one time course of a triggered ligand-gated conductance.
  absl::StatusOr<ParamUpdate> ResolveParam(absl::string_view path,
                                           double value) const;

  // Immutable after Prepare; any thread.
  uint32_t generation() const { return config_.generation; }
  double dt_ms() const { return config_.dt_ms; }
  std::size_t num_cells() const { return config_.cell_names.size(); }
  const std::vector<SignalInfo>& signals() const { return signals_; }
  const ModelSetSpec& spec() const { return spec_; }
  std::size_t num_rate_tables() const { return tables_.size(); }

  // Owner thread only: steps taken since the set was loaded.
  int64_t cycles() const { return cycle_; }

 private:
  ModelSet() = default;

  enum class Kind : uint8_t { kConstant, kLigand, kHh };
  struct Slot {  // one per conductance, in spec order
    Kind kind;
    uint32_t index;  // into the kind's vector
  };
  struct Output {
    uint32_t cell = 0;
    double g_ns = 0;
    double i_pa = 0;
  };
  struct ConstantRuntime {
    Output out;
    ConstantConductance::Params params;
  };
  struct LigandRuntime {
    Output out;
    LigandGated::Params params;
    LigandGated::Coeffs coeffs;
    LigandGated::State state;
  };
  struct HhRuntime {
    Output out;
    HhChannel::Live live;
    Integrator integrator = Integrator::kExpEuler;
    uint32_t first_gate = 0;
    uint32_t num_gates = 0;
  };

  Config config_;
  ModelSetSpec spec_;
  std::vector<Slot> slots_;
  std::vector<ConstantRuntime> constants_;
  std::vector<LigandRuntime> ligands_;
  std::vector<HhRuntime> hh_;
  std::vector<HhChannel::GateRuntime> gates_;
  std::vector<double> gate_state_;
  std::vector<std::shared_ptr<const RateTable>> tables_;
  std::vector<SignalInfo> signals_;
  std::vector<const double*> signal_sources_;
  int64_t cycle_ = 0;
  bool gates_initialized_ = false;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODEL_SET_H_
