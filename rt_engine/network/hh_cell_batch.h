// HhCellBatch: the Hodgkin-Huxley channels of every model cell, stepped
// together so that a thousand model neurons fit in a few microseconds.
//
// A model cell's gates all advance by exponential Euler at the cell's new V
// (NEURON's staggered scheme). Cells with the same channels (same gate
// tables, powers and split into channels) form a group. A group merges its
// gates' rate tables into one table over their common V grid whose row holds
// every gate's x_inf and exp(-dt/tau) in blocks of four, so one index per
// cell finds all of them. Its state is laid out by gate across cells
// (structure of arrays), so the update, the powers, the channel products
// and the sums run four cells to a vector: AVX2 where the CPU has it
// (decided once at build; compiled for each gate count up to eight), scalar
// otherwise, same layout and results to rounding. Channels without gates
// (leaks) are a constant per cell, summed only when they change. Each step
// leaves every cell's channel sums G = sum g and GE = sum g E ready for the
// next step's current, written straight into the caller's per-cell sums,
// so the caller visits no channel.
//
// Threads: Build() and Cells() are non-RT. Init(), Step() and SetLive() are
// RT-safe and belong to the thread that owns the batch.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_HH_CELL_BATCH_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_HH_CELL_BATCH_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "rt_engine/models/rate_table.h"

namespace dynclamp::rt {

class HhCellBatch {
 public:
  struct ChannelSpec {
    std::string path;  // for errors, e.g. "conductances[3] (n0_na)"
    uint32_t cell = 0;
    // One per gate. Exponential-Euler tables; every channel of a cell must
    // use the same V grid.
    std::vector<const RateTable*> tables;
    std::vector<int> powers;
    double g_max_ns = 0, e_rev_mv = 0;
  };
  enum class Kernel : uint8_t { kAuto, kScalar, kAvx2 };

  // Non-RT. `channels` in any order; `cell_name` names a cell for errors.
  // InvalidArgument (naming the channel's path and table) if a cell's
  // channels use different V grids or a table is not exponential Euler.
  static absl::StatusOr<HhCellBatch> Build(
      const std::vector<ChannelSpec>& channels, Kernel kernel = Kernel::kAuto);

  HhCellBatch() = default;
  HhCellBatch(HhCellBatch&&) = default;
  HhCellBatch& operator=(HhCellBatch&&) = default;

  // Where the batch writes its cells' sums: g[cell] = G, ge[cell] = GE
  // (other cells are left alone).
  struct Sums {
    std::span<double> g, ge;
  };
  // RT. Every gate to its steady state at the cells' V (indexed by cell);
  // the sums written.
  void Init(std::span<const double> v_mv, Sums out) noexcept;
  // RT. Every gate one step at the cells' new V; the sums written.
  void Step(std::span<const double> v_mv, Sums out) noexcept;
  // RT. New g_max / E of channel `channel` (Build order); its cell's sums
  // are written at once.
  void SetLive(uint32_t channel, double g_max_ns, double e_rev_mv,
               Sums out) noexcept;
  // Non-RT. The batched cells, ascending.
  std::vector<uint32_t> Cells() const;

  // Any thread once built (addresses are stable): the value of gate `gate`
  // of `channel`. RT: its open fraction prod x^p now.
  const double* gate_value(uint32_t channel, uint32_t gate) const {
    const ChannelAt& c = channel_at_[channel];
    const Group& g = groups_[c.group];
    return &x_[g.first_x +
               (channel_first_gate_[g.first_channel + c.channel] + gate) *
                   g.lanes +
               c.lane];
  }
  double OpenFraction(uint32_t channel) const noexcept;
  std::size_t num_cells() const { return cell_of_lane_.size() - padding_; }
  std::size_t num_tables() const { return groups_.size(); }
  Kernel kernel() const { return kernel_; }

 private:
  struct alignas(32) Block {  // four gates' values
    double x[4];
  };
  // Cells with the same channels. Lanes (one per cell, padded to a
  // multiple of four) are contiguous from first_lane; gate g of lane l is
  // x_[first_x + g * lanes + l], channel c's g_max and g_max E are at
  // first_param + c * lanes + l. Channels with gates come first (`gated`),
  // then those without.
  struct Group {
    std::vector<Block> rows;  // per V point: blocks x (4 x_inf, 4 coef)
    double v_min = 0, inv_dv = 1, max_x = 0;
    uint32_t blocks = 1, gates = 0, channels = 0, gated = 0;
    uint32_t first_lane = 0, lanes = 0, cells = 0;
    uint32_t first_cell = 0;
    bool contiguous = false;  // cells first_cell, first_cell + 1, ...
    uint32_t first_x = 0, first_param = 0;
    uint32_t first_gate = 0;     // into gate_power_
    uint32_t first_channel = 0;  // into channel_first_gate_
  };
  struct ChannelAt {  // where channel k (Build order) lives
    uint32_t group = 0, channel = 0, lane = 0;
  };
  static std::size_t ParamIndex(const Group& g, uint32_t channel,
                                uint32_t lane) {
    return g.first_param + std::size_t{channel} * g.lanes + lane;
  }
  // One lane: gates stepped (or set to steady state) at v, then its sums.
  void StepLane(const Group& g, uint32_t lane, double v, bool steady,
                Sums out) noexcept;
  void ConstantsOfLane(const Group& g, uint32_t lane) noexcept;
  void SumsOfLane(const Group& g, uint32_t lane, Sums out) noexcept;
  // prod x^p of a group channel's gates in one lane.
  double OpenOf(const Group& g, uint32_t channel, uint32_t lane) const noexcept;
  // Rows and fractions of every lane of a group at the cells' V (AVX2).
  void IndexGroupAvx2(const Group& g, const double* v_mv) noexcept;

  Kernel kernel_ = Kernel::kScalar;
  std::vector<Group> groups_;
  std::vector<uint32_t> cell_of_lane_;  // padding lanes repeat a real cell
  std::size_t padding_ = 0;
  std::vector<uint8_t> gate_power_;           // per group gate
  std::vector<uint32_t> channel_first_gate_;  // per group channel, + end
  std::vector<ChannelAt> channel_at_;
  std::vector<double> x_;            // gate values
  std::vector<double> g_max_, g_e_;  // per channel and lane: g_max, g_max E
  std::vector<double> const_g_, const_ge_;  // per lane: gateless channels
  std::vector<uint32_t> row_;   // per lane, this step: table row (AVX2)
  std::vector<double> frac_;    // per lane, this step: fraction (AVX2)
  std::vector<Block> scratch_;  // per gate: x^p of four cells (AVX2, > 8)
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_HH_CELL_BATCH_H_
