// NetworkBank: the event-driven part of a model set (NEURON's NetCon
// world, circuit_spec.h): event synapses, artificial cells, the connections
// between spike sources and targets, and the events in flight.
//
// Spike sources are numbered in the order they are added: spiking model
// cells (AddSource, by the model cells' bank), then artificial cells, then
// one threshold detector per (cell, threshold, hysteresis) that a
// connection needs. Synapses of one kind with equal parameters on one cell,
// none of whose own signals is published, share one pool: the cell sees
// exactly their sum (the synapses are linear) and a step visits each pool
// once.
//
// Threads: Validate*, CountSignals, AddSource, Build and AddSignals are
// non-RT; everything else is RT-safe and belongs to the set's owner.
#ifndef DYNCLAMP_RT_ENGINE_BANKS_NETWORK_BANK_H_
#define DYNCLAMP_RT_ENGINE_BANKS_NETWORK_BANK_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "rt_engine/banks/bank.h"
#include "rt_engine/network/artificial_cells.h"
#include "rt_engine/network/circuit_spec.h"
#include "rt_engine/network/event_queue.h"
#include "rt_engine/network/event_synapses.h"
#include "rt_engine/network/spike_detectors.h"
#include "rt_engine/network/synapse_pools.h"

namespace dynclamp::rt {

class NetworkBank {
 public:
  static constexpr SignalDesc kSynapseSignals[] = {{"g_ns", "nS"},
                                                   {"i_pa", "pA"}};
  // Spikes counts the cell's spikes in the step (a spike generator has no
  // m to publish, but the descriptor is the same for every kind).
  static constexpr SignalDesc kArtificialSignals[] = {{"m", "1"},
                                                      {"spikes", "1"}};
  static constexpr const auto& kConnectionParams = rt::kConnectionParams;
  // The one live row, kept in the record event delivery reads.
  static_assert(kConnectionParams.LiveAre({&ConnectionSpec::weight}));

  struct Specs {
    const std::vector<EventSynapseSpec>& synapses;
    const std::vector<ArtificialCellSpec>& artificial_cells;
    const std::vector<ConnectionSpec>& connections;
  };

  // Room for `max_events` in flight and the timers `specs` need.
  NetworkBank(std::size_t max_events, const Specs& specs);

  static absl::Status ValidateSynapses(
      const std::vector<EventSynapseSpec>& specs, SpecContext& context);
  static absl::Status ValidateArtificialCells(
      const std::vector<ArtificialCellSpec>& specs, SpecContext& context);
  static absl::Status ValidateConnections(const Specs& specs,
                                          SpecContext& context);
  static std::size_t CountSignals(const Specs& specs);

  // Non-RT, before Build: a spike source named `name` (a spiking model
  // cell), fired with Fire().
  uint32_t AddSource(std::string name);
  // `cell_name(c)` names cell c (for its detectors); `cell_source(c)` is
  // the source a spiking model cell already has (UINT32_MAX: none, a
  // detector watches its V).
  absl::Status Build(const Specs& specs, double dt_ms,
                     const std::function<std::string(int)>& cell_name,
                     const std::function<uint32_t(int)>& cell_source,
                     const std::function<bool(const std::string&)>& publishes,
                     std::size_t spike_log_capacity);
  void AddSignals(const Specs& specs, SignalSink& sink);

  // RT. Before the first step, with every cell's V set.
  void Initialize(std::span<const double> v) noexcept;
  // RT. The start of a step: spikes from cells' V (not on the first step),
  // then every event and timer due by `now`.
  // (The RT calls are guarded inline: a set without a network pays for
  // none of it.)
  void Deliver(std::span<const double> v_prev, std::span<const double> v,
               double now, double dt_ms, bool first,
               StepReport& report) noexcept {
    if (has_events_) DeliverDue(v_prev, v, now, dt_ms, first, report);
  }
  // RT. Every synapse's g now adds to its cell; its state then steps.
  void Step(CellSums cells) noexcept {
    if (!synapses_.empty()) StepSynapses(cells);
  }
  // RT. The end of a step: artificial cells' published m at `now`.
  void Advance(double now) noexcept {
    if (!m_published_.empty()) AdvanceM(now);
  }
  // RT. Source `source` spiked at `t_ms`: its connections' events queued.
  void Fire(uint32_t source, double t_ms, StepReport& report) noexcept;

  // RT. A connection's live row (its weight).
  bool Apply(uint32_t index, int param, double value) noexcept;
  double Read(uint32_t index, int param) const noexcept;

  // Owner thread.
  struct SpikeRecord {
    uint32_t source;
    double t_ms;
  };
  std::span<const SpikeRecord> spike_log() const {
    return {spike_log_.data(), spike_log_size_};
  }
  uint64_t spikes_not_logged() const { return spikes_not_logged_; }
  const std::string& source_name(uint32_t source) const {
    return source_names_[source];
  }
  std::size_t events_pending() const { return events_.size(); }
  std::size_t num_synapse_pools() const { return pools_.size(); }

 private:
  class ArtificialCtx;
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
  struct Outgoing {  // a source's connection, with what Fire needs
    uint32_t connection = 0;
    double delay_ms = 1;
  };
  struct SourceRuntime {  // outgoing connections: outgoing_[first, +count)
    uint32_t first = 0, count = 0;
  };
  void DeliverDue(std::span<const double> v_prev, std::span<const double> v,
                  double now, double dt_ms, bool first,
                  StepReport& report) noexcept;
  void StepSynapses(CellSums cells) noexcept;
  void AdvanceM(double now) noexcept;
  void BuildSynapses(const Specs& specs, double dt_ms,
                     const std::function<bool(const std::string&)>& publishes);

  // Whether events or timers can ever be due: connections or artificial
  // cells exist.
  bool has_events_ = false;
  std::vector<SynapseRuntime> synapses_;
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
  std::vector<std::string> source_names_;
  SpikeDetectors detectors_;
  EventHeap events_;
  TimerHeap timers_;
  std::vector<SpikeRecord> spike_log_;
  std::size_t spike_log_size_ = 0;
  uint64_t spikes_not_logged_ = 0;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BANKS_NETWORK_BANK_H_
