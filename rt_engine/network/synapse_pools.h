// SynapsePools: the states of every event-synapse pool on every cell, stepped
// together. A pool is one synapse, or several equal unpublished synapses on
// one cell sharing a state (they are linear, so the cell sees their sum).
//
// Every kind steps by the same linear map (SynapseStep), so the pools live
// as arrays of each coefficient and state variable, and a step is one
// branch-free loop, four pools to a vector (AVX2 where the CPU has it,
// checked once when built; scalar otherwise, same results to rounding),
// then a sum per cell over its pools, which are kept next to each other.
// Single exponentials (ExpSyn, the common case) keep only g, its decay and
// E, and are summed and stepped in one pass.
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
  };

  SynapsePools() = default;
  // Non-RT. Pools keep their order (index = position in `pools`); a step
  // is fastest when each cell's pools are next to each other.
  // `vectorize`: use AVX2 where the CPU has it (false: the scalar loop,
  // for tests that compare the two).
  explicit SynapsePools(const std::vector<Pool>& pools, bool vectorize = true);

  std::size_t size() const noexcept { return where_.size(); }

  // RT. The state of pool p, to hand to ReceiveEvent / AmpaOffset, and back.
  EventSynapseState State(uint32_t p) const noexcept;
  void SetState(uint32_t p, const EventSynapseState& s) noexcept;
  // RT. Pool p's conductance now (nS).
  double Conductance(uint32_t p) const noexcept;

  // RT. Adds every pool's g and g E now to its cell's sums, then advances
  // every state one step (events due then arrive before the next call).
  void AddAndStep(std::span<double> g_sum, std::span<double> ge_sum) noexcept;

 private:
  // A step that is g = a, a' = d1 a (ExpSyn): such pools keep only a, d1
  // and E, a third of the memory a step streams through otherwise.
  static bool IsSingleExponential(const SynapseStep& s) {
    return s.ca == 1 && s.cb == 0 && s.d2 == 0 && s.ka == 0 && s.kab == 0;
  }
  static constexpr uint32_t kSingle = 0x80000000u;  // in where_
  struct Run {  // pools [first, end) all on `cell`
    uint32_t cell = 0, first = 0, end = 0;
  };
  void StepScalar(std::size_t first) noexcept;
  void StepAvx2() noexcept;

  std::vector<uint32_t> where_;  // pool -> index, kSingle: in exp_*
  std::vector<double> exp_a_, exp_d_, exp_e_;
  std::vector<Run> exp_runs_;
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
