// ModelSet: everything the clamp computes for the recorded cells, prepared
// whole off the RT thread and then stepped by it.
//
// A ModelSetSpec lists named objects of every kind (conductances, model
// cells, event synapses, artificial cells, connections, graded synapses,
// gap junctions, backgrounds), each acting on cells by index: the rig's
// channels, then the model cells. Prepare() validates the whole spec (a bad
// spec is rejected with the object, the field and the reason, and nothing
// else changes), builds rate tables, computes the step's coefficients and
// allocates all state. After that the object never allocates: the RT
// thread calls Step(), WriteSignals() and Apply().
//
// Each kind lives in its bank (rt_engine/banks/), which validates, builds,
// names the signals of, steps, and changes live the objects of its kind;
// ModelSet owns the cells' arrays and fixes the order of the banks' steps.
// Live parameters are addressed "<object>.<param>".
//
// Threads: Prepare(), ResolveParam() and the accessors of immutable data are
// non-RT. Step(), WriteSignals() and Apply() are RT-safe and belong to the
// thread that owns the set (the RT loop once the set is swapped in).
#ifndef DYNCLAMP_RT_ENGINE_MODEL_SET_H_
#define DYNCLAMP_RT_ENGINE_MODEL_SET_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/banks/background_bank.h"
#include "rt_engine/banks/bank.h"
#include "rt_engine/banks/conductance_bank.h"
#include "rt_engine/banks/gap_junction_bank.h"
#include "rt_engine/banks/graded_synapse_bank.h"
#include "rt_engine/banks/model_cell_bank.h"
#include "rt_engine/banks/network_bank.h"
#include "rt_engine/network/circuit_spec.h"

namespace dynclamp::rt {

// Everything the clamp computes, loaded and swapped in as one.
struct ModelSetSpec {
  std::vector<ConductanceSpec> conductances;
  std::vector<ModelCellSpec> model_cells;
  std::vector<EventSynapseSpec> synapses;
  std::vector<ArtificialCellSpec> artificial_cells;
  std::vector<ConnectionSpec> connections;
  std::vector<GradedSynapseSpec> graded_synapses;
  std::vector<GapJunctionSpec> gap_junctions;
  std::vector<BackgroundSpec> backgrounds;
  std::size_t max_events_in_flight = 65536;
  // Signals carried in frames (streamed, recorded): absent = all of them;
  // otherwise these names, where a trailing '*' matches any suffix. Large
  // networks name what they need: unpublished signals cost nothing.
  std::optional<std::vector<std::string>> published_signals;
};

struct SignalInfo {
  std::string name;
  std::string unit;
};

// A live parameter change, resolved off the RT thread against one model set
// (its generation) and applied by the RT thread at a cycle boundary.
struct ParamUpdate {
  enum class Object : uint8_t {
    kConductance,
    kConnection,
    kGraded,
    kGap,
    kModelCell,
    kBackground,
  };
  uint32_t generation = 0;
  Object object = Object::kConductance;
  uint32_t index = 0;  // in the spec's list of that object
  int32_t param = 0;   // index in the object's ParamInfo (or an action)
  double value = 0;
};

class ModelSet {
 public:
  struct Config {
    double dt_ms = 0.05;
    std::vector<std::string> cell_names;  // one per DAQ channel
    std::size_t max_signals = 64;         // frame capacity for model signals
    uint32_t generation = 0;              // stamped into frames and updates
    std::size_t spike_log_capacity = 0;  // spikes kept with exact times; 0: off
  };

  static absl::StatusOr<std::unique_ptr<ModelSet>> Prepare(
      const ModelSetSpec& spec, const Config& config);

  ModelSet(const ModelSet&) = delete;
  ModelSet& operator=(const ModelSet&) = delete;

  // RT. Reads V of every real cell (mV), writes the summed injected current
  // of every real cell (pA, positive depolarizes); both spans have
  // num_cells() values. Model cells, synapses, events and background advance
  // one step.
  // `elapsed_ms` is the measured time since the previous step's inputs (0:
  // the nominal step). The voltage-gated conductances on real cells
  // integrate over it, so a late cycle keeps them in step with the cell (as
  // Bettencourt et al. 2008 assume of a jittered clamp); everything else
  // advances by the nominal step.
  StepReport Step(std::span<const double> v_mv, std::span<double> i_pa,
                  double elapsed_ms = 0) noexcept;
  // RT. Copies the current value of every signal, in signals() order.
  void WriteSignals(std::span<double> out) const noexcept;
  // RT. Applies a resolved update; false if it was resolved against another
  // generation (the set was swapped in between) and so was ignored.
  bool Apply(const ParamUpdate& update) noexcept;
  // RT. The value the parameter `update` addresses has now (its value
  // field is ignored); NaN if it was resolved against another generation.
  double Read(const ParamUpdate& update) const noexcept;

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
  std::size_t num_model_cells() const { return spec_.model_cells.size(); }
  const std::vector<SignalInfo>& signals() const { return signals_; }
  const ModelSetSpec& spec() const { return spec_; }
  std::size_t num_rate_tables() const {
    return conductances_.num_rate_tables();
  }
  // Distinct synapse states stepped (equal unpublished synapses share one).
  std::size_t num_synapse_pools() const { return network_.num_synapse_pools(); }

  // Owner thread only: steps taken since the set was loaded; V of any cell
  // (real or model) as of the last step; events waiting.
  int64_t cycles() const { return cycle_; }
  double cell_v_mv(std::size_t cell) const { return v_[cell]; }
  // Spikes with their exact times, in the order they were emitted (up to
  // Config::spike_log_capacity; later ones are counted in spikes_not_logged).
  using SpikeRecord = NetworkBank::SpikeRecord;
  std::span<const SpikeRecord> spike_log() const {
    return network_.spike_log();
  }
  uint64_t spikes_not_logged() const { return network_.spikes_not_logged(); }
  // Name of a spike source: a cell, an artificial cell, or
  // "<cell>@<threshold>mV" for a threshold detector.
  const std::string& source_name(uint32_t source) const {
    return network_.source_name(source);
  }
  std::size_t events_pending() const { return network_.events_pending(); }

 private:
  ModelSet(std::size_t max_events, const ModelSetSpec& spec)
      : spec_(spec),
        network_(max_events,
                 {spec_.synapses, spec_.artificial_cells, spec_.connections}) {}
  NetworkBank::Specs NetworkSpecs() const {
    return {spec_.synapses, spec_.artificial_cells, spec_.connections};
  }
  absl::Status Validate() const;
  bool Publishes(const std::string& signal) const;
  absl::Status Build();
  absl::Status BuildSignals();
  void Initialize() noexcept;
  CellSums Sums() noexcept { return {v_, g_sum_, ge_sum_}; }
  // f(the bank that holds objects of `object`'s kind), for Apply and Read.
  template <typename Self, typename F>
  static auto WithBank(Self& self, ParamUpdate::Object object, F f);

  Config config_;
  const ModelSetSpec spec_;
  std::size_t n_real_ = 0;
  std::size_t n_cells_ = 0;  // real + model
  // V of every cell as the step uses it, V of the last step, and the sums
  // of g and g E that the banks add to.
  std::vector<double> v_, v_prev_, g_sum_, ge_sum_;
  // The banks, in the order they step.
  ConductanceBank conductances_;
  NetworkBank network_;  // event synapses, artificial cells, connections
  GradedSynapseBank graded_;
  GapJunctionBank gaps_;
  BackgroundBank backgrounds_;
  ModelCellBank model_cells_;
  std::vector<SignalInfo> signals_;
  std::vector<const double*> signal_sources_;
  int64_t cycle_ = 0;
  bool initialized_ = false;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODEL_SET_H_
