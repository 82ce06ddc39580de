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
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rt_engine/banks/background_bank.h"
#include "rt_engine/banks/conductance_bank.h"
#include "rt_engine/banks/gap_junction_bank.h"
#include "rt_engine/banks/graded_synapse_bank.h"
#include "rt_engine/models/constant_conductance.h"
#include "rt_engine/models/hh_channel.h"
#include "rt_engine/models/ligand_gated.h"
#include "rt_engine/models/rate_table.h"
#include "rt_engine/network/circuit_spec.h"
#include "rt_engine/network/event_queue.h"
#include "rt_engine/network/hh_cell_batch.h"
#include "rt_engine/network/spike_detectors.h"
#include "rt_engine/network/synapse_pools.h"
#include "rt_engine/random.h"

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

// What one step did with events, for the loop's counters.
struct StepReport {
  uint32_t events_delivered = 0;
  uint32_t events_dropped = 0;  // the event queue was full
  uint32_t spikes = 0;
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
  std::size_t num_model_cells() const { return model_cells_.size(); }
  const std::vector<SignalInfo>& signals() const { return signals_; }
  const ModelSetSpec& spec() const { return spec_; }
  std::size_t num_rate_tables() const {
    return conductances_.num_rate_tables();
  }
  // Distinct synapse states stepped (equal unpublished synapses share one).
  std::size_t num_synapse_pools() const { return pools_.size(); }

  // Owner thread only: steps taken since the set was loaded; V of any cell
  // (real or model) as of the last step; events waiting.
  int64_t cycles() const { return cycle_; }
  double cell_v_mv(std::size_t cell) const { return v_[cell]; }
  // Spikes with their exact times, in the order they were emitted (up to
  // Config::spike_log_capacity; later ones are counted in spikes_not_logged).
  struct SpikeRecord {
    uint32_t source;
    double t_ms;
  };
  std::span<const SpikeRecord> spike_log() const {
    return {spike_log_.data(), spike_log_size_};
  }
  uint64_t spikes_not_logged() const { return spikes_not_logged_; }
  // Name of a spike source: a cell, an artificial cell, or
  // "<cell>@<threshold>mV" for a threshold detector.
  const std::string& source_name(uint32_t source) const {
    return source_names_[source];
  }
  std::size_t events_pending() const { return events_.size(); }

 private:
  ModelSet(std::size_t max_events, std::size_t timers)
      : events_(max_events), timers_(timers) {}
  absl::Status Validate(const ModelSetSpec& spec);
  bool Publishes(const std::string& signal) const;
  absl::Status Build(const ModelSetSpec& spec);
  absl::Status BuildSignals();
  void Initialize() noexcept;
  void DetectSpikes(double now, StepReport& report) noexcept;
  void ProcessDue(double now, StepReport& report) noexcept;
  void FireSource(uint32_t source, double t, StepReport& report) noexcept;
  void AdvanceModelCells(double now, StepReport& report) noexcept;

  struct ModelCellRuntime {
    enum class Dynamics : uint8_t { kConductance, kIzhikevich, kAdex };
    Dynamics dynamics = Dynamics::kConductance;
    double c_pf = 100, v_init = -65;
    // Into spec_ (immutable): kept out of line so that a step over a
    // thousand conductance-based cells reads only what it needs.
    const IzhikevichParams* izh = nullptr;
    const AdexParams* adex = nullptr;
    double recovery = 0;                 // Izhikevich u or AdEx w (pA)
    uint32_t spike_source = UINT32_MAX;  // Izhikevich/AdEx resets
  };
  struct SynapseRuntime {  // one per spec synapse; its state is its pool's
    Output out;
    EventSynapseParams params;
    EventSynapseCoeffs coeffs;
    uint32_t pool = 0;
  };
  struct ArtificialRuntime {
    ArtificialParams params;
    ArtificialCoeffs coeffs;
    ArtificialState state;
    uint32_t source = 0;
    double m_signal = 0;
  };
  // What delivering an event reads, kept to one small record: an ExpSyn
  // target (the common case) is delivered from it alone, into its lane.
  struct ConnectionRuntime {
    double weight = 0;
    double e_rev_mv = 0, tau_ms = 1;        // ExpSyn targets
    uint32_t lane = SynapsePools::kNoLane;  // ExpSyn targets: in pools_
    TargetRef target;
  };
  struct Outgoing {  // a source's connection, with what FireSource needs
    uint32_t connection = 0;
    double delay_ms = 1;
  };
  struct SourceRuntime {  // outgoing connections: outgoing_[first, +count)
    uint32_t first = 0, count = 0;
  };
  class ArtificialCtx;

  Config config_;
  ModelSetSpec spec_;
  std::size_t n_real_ = 0;
  std::size_t n_cells_ = 0;  // real + model
  ConductanceBank conductances_;
  std::vector<ModelCellRuntime> model_cells_;
  // Per model cell, as arrays so the V update vectorizes: C/dt (pF/ms) and
  // the bias current (pA, live).
  std::vector<double> c_over_dt_, bias_pa_;
  std::vector<uint32_t> spiking_cells_;  // Izhikevich and AdEx model cells
  std::vector<SynapseRuntime> synapses_;
  // Synapses of one kind with equal parameters on one cell, none of whose
  // own signals is published, share one pool: the cell sees exactly their
  // sum (the synapses are linear) and a step visits each pool once.
  SynapsePools pools_;
  std::vector<uint32_t> synapse_outputs_;  // synapses with published signals
  std::vector<ArtificialRuntime> artificial_;
  // Kept apart from artificial_ so a step touches only what changed: spike
  // counts since the previous step (signals), the cells that spiked, and
  // the cells whose m is published.
  std::vector<double> artificial_spiked_;
  std::vector<uint32_t> spiked_cells_;
  std::vector<uint32_t> m_published_;
  std::vector<ConnectionRuntime> connections_;
  // Per connection, read by GSyn and AMPA_S targets only: NET_RECEIVE's
  // per-NetCon state and the AMPA_S stream's timer.
  std::vector<ConnectionState> connection_state_;
  std::vector<uint32_t> ampa_timer_;
  std::vector<Outgoing> outgoing_;  // grouped by source
  // AMPA_S stream timers (after the artificial cells'): their connection.
  std::vector<uint32_t> timer_connection_;
  std::vector<SourceRuntime> sources_;
  SpikeDetectors detectors_;
  GradedSynapseBank graded_;
  GapJunctionBank gaps_;
  BackgroundBank backgrounds_;
  std::vector<double> v_, v_prev_, g_sum_, ge_sum_;
  EventHeap events_;
  TimerHeap timers_;
  std::vector<SignalInfo> signals_;
  std::vector<const double*> signal_sources_;
  std::vector<std::string> source_names_;
  std::vector<SpikeRecord> spike_log_;
  std::size_t spike_log_size_ = 0;
  uint64_t spikes_not_logged_ = 0;
  int64_t cycle_ = 0;
  bool initialized_ = false;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_MODEL_SET_H_
