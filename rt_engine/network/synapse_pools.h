// SynapsePools: the states of every event-synapse pool on every cell, stepped
// together. A pool is one synapse, or several equal unpublished synapses on
// one cell sharing a state (they are linear, so the cell sees their sum).
//
// Single exponentials (ExpSyn, the common case) live in lanes: one lane per
// cell and decay holds G = sum g and GE = sum g E of its pools, which decay
// alike, so a cell's excitatory and inhibitory ExpSyn of one tau cost one
// lane. A pool that is read on its own (`alone`: its signals are published)
// keeps a lane of its own. Lanes are stored slot by slot: slot k holds the
// k-th lane of every cell that has more than k, cells ordered by how many
// lanes they have, so each slot is one dense vertical loop.
//
// The other kinds step by the same linear map (SynapseStep), as arrays of
// each coefficient and state variable, four pools to a vector (AVX2 where
// the CPU has it, checked once when built; scalar otherwise, same results to
// rounding), then a sum per cell over its pools, kept next to each other.
//
// Threads: construction is non-RT; everything else is RT-safe and belongs to
// the thread that steps the network.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_SYNAPSE_POOLS_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_SYNAPSE_POOLS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "rt_engine/network/event_synapses.h"

namespace dynclamp::rt {

class SynapsePools {
 public:
  struct Pool {
    uint32_t cell = 0;
    SynapseStep step;
    double e_rev_mv = 0;
    bool alone = true;  // read on its own: never shares a lane
  };
  static constexpr uint32_t kNoLane = 0xFFFFFFFFu;

  SynapsePools() = default;
  // Non-RT. Pools keep their order (index = position in `pools`); the
  // general kinds step fastest when each cell's pools are next to each
  // other. `vectorize`: use AVX2 where the CPU has it (false: the scalar
  // loop, for tests that compare the two).
  explicit SynapsePools(const std::vector<Pool>& pools, bool vectorize = true);

  std::size_t size() const noexcept { return where_.size(); }
  std::size_t num_lanes() const noexcept { return lane_g_.size(); }

  // RT. The state of pool p, to hand to ReceiveEvent / AmpaOffset, and back.
  // A single exponential in a shared lane reads the lane's g; SetState adds
  // the change to the lane with p's E, which is exact for events (they add).
  EventSynapseState State(uint32_t p) const noexcept;
  void SetState(uint32_t p, const EventSynapseState& s) noexcept;
  // RT. Pool p's conductance now (nS); a shared lane's if p shares one.
  double Conductance(uint32_t p) const noexcept;

  // Any thread. Pool p's lane if it is a single exponential, else kNoLane;
  // RT: an event's jump g (nS) on that lane, of reversal e_rev_mv.
  uint32_t LaneOf(uint32_t p) const noexcept {
    return where_[p] & kSingle ? where_[p] & ~kSingle : kNoLane;
  }
  void AddToLane(uint32_t lane, double g, double e_rev_mv) noexcept {
    lane_g_[lane] += g;
    lane_ge_[lane] += g * e_rev_mv;
  }

  // RT. Adds every pool's g and g E now to its cell's sums, then advances
  // every state one step (events due then arrive before the next call).
  void AddAndStep(std::span<double> g_sum, std::span<double> ge_sum) noexcept;

 private:
  static bool IsSingleExponential(const SynapseStep& s) {
    return s.ca == 1 && s.cb == 0 && s.d2 == 0 && s.ka == 0 && s.kab == 0;
  }
  static constexpr uint32_t kSingle = 0x80000000u;  // in where_
  struct Run {  // pools [first, end) all on `cell`
    uint32_t cell = 0, first = 0, end = 0;
  };
  struct Slot {  // lanes [first, first + cells) of lane_cells_[0, cells)
    uint32_t first = 0, cells = 0;
  };
  void StepLanes(std::span<double> g_sum, std::span<double> ge_sum) noexcept;
  void StepScalar(std::size_t first) noexcept;
  void StepAvx2() noexcept;

  std::vector<uint32_t> where_;  // pool -> index; kSingle: a lane
  std::vector<double> pool_e_;   // per pool: E (a lane's pools differ)
  // Single exponentials: per lane G, GE and the decay; slots; the cells
  // with lanes in slot order, and (unless they are contiguous) their sums.
  std::vector<double> lane_g_, lane_ge_, lane_d_;
  std::vector<Slot> slots_;
  std::vector<double> lane_cell_g_, lane_cell_ge_;
  std::vector<uint32_t> lane_cells_;
  bool lane_cells_contiguous_ = false;  // lane_cells_[j] = lane_cells_[0] + j
  // The other kinds: the whole linear step.
  std::vector<double> a_, b_, synon_;                 // state
  std::vector<double> ca_, cb_, d1_, d2_, ka_, kab_;  // SynapseStep
  std::vector<double> e_rev_;
  std::vector<double> g_, ge_;  // this step's g and g E per pool
  std::vector<Run> runs_;
  bool avx2_ = false;  // the CPU has AVX2 and FMA (checked once, at build)
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_SYNAPSE_POOLS_H_
