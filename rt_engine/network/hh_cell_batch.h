// HhCellBatch: the Hodgkin-Huxley channels of every model cell, stepped
// together so that a thousand model neurons fit in a few microseconds.
//
// A model cell's gates all advance by exponential Euler at the cell's new V
// (NEURON's staggered scheme). The batch merges the rate tables of all gates
// on a cell into one table over their common V grid whose row holds every
// gate's x_inf and exp(-dt/tau) in blocks of four: one index per cell, then
// one vector update per block (AVX2 where the CPU has it, decided once at
// build; scalar otherwise, same layout). Cells with the same gate list share
// the merged table. Each step leaves every cell's channel sums G = sum g and
// GE = sum g E ready for the next step's current, so the caller adds two
// numbers per cell instead of visiting each channel.
//
// Threads: Build() is non-RT. Init(), Step(), AddConductances() and SetLive()
// are RT-safe and belong to the thread that owns the batch.
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

  // RT. Every gate to its steady state at the cells' V (indexed by cell).
  void Init(std::span<const double> v_mv) noexcept;
  // RT. Every gate one step at the cells' new V; channel sums refreshed.
  void Step(std::span<const double> v_mv) noexcept;
  // RT. g_sum[cell] += G, ge_sum[cell] += GE for every batched cell.
  void AddConductances(std::span<double> g_sum,
                       std::span<double> ge_sum) const noexcept;
  // RT. New g_max / E of channel `channel` (Build order); its cell's sums
  // follow at once.
  void SetLive(uint32_t channel, double g_max_ns, double e_rev_mv) noexcept;

  // Any thread once built (addresses are stable): the value of gate `gate`
  // of `channel`, and its open fraction prod x^p.
  const double* gate_value(uint32_t channel, uint32_t gate) const {
    return &lanes()[channels_[channel_of_[channel]].first_lane + gate];
  }
  const double* open_fraction(uint32_t channel) const {
    return &channels_[channel_of_[channel]].open;
  }
  std::size_t num_cells() const { return cells_.size(); }
  std::size_t num_tables() const { return tables_.size(); }
  Kernel kernel() const { return kernel_; }

 private:
  struct alignas(32) Block {  // four gates' values
    double x[4];
  };
  struct alignas(32) Mask {  // per lane: all ones where a power has a bit
    int64_t m[4];
  };
  struct Table {  // rows of `blocks` x (4 x_inf, 4 coef) blocks
    std::vector<Block> rows;
    std::vector<Mask> power_bits;  // per block, bits 1, 2, 4, 8
    int power_levels = 0;          // bits the largest power needs
    double v_min = 0, inv_dv = 1, max_x = 0;
    uint32_t blocks = 1;
  };
  struct Cell {
    uint32_t cell = 0, table = 0, first_block = 0;
    uint32_t first_channel = 0, num_channels = 0;
    double g = 0, ge = 0;  // channel sums for the next current
  };
  struct Channel {
    uint32_t cell_slot = 0;   // into cells_
    uint32_t first_lane = 0;  // into lanes()
    uint32_t num_gates = 0;
    double g_max = 0, e_rev = 0, open = 0;
  };

  double* lanes() { return state_.data()->x; }
  const double* lanes() const { return state_.data()->x; }
  void PowersScalar(const Cell& cell) noexcept;
  void Sums(Cell& cell) noexcept;
  void UpdateScalar() noexcept;
  void UpdateAvx2() noexcept;

  Kernel kernel_ = Kernel::kScalar;
  std::vector<Table> tables_;
  std::vector<Cell> cells_;
  std::vector<Channel> channels_;     // grouped by cell
  std::vector<uint32_t> channel_of_;  // Build order -> channels_
  std::vector<uint8_t> powers_;       // per lane
  std::vector<Block> state_;          // per cell: its table's blocks of gates
  std::vector<Block> powered_;        // the same lanes, x^p (1 in padding)
  std::vector<uint32_t> row_;         // per cell, this step
  std::vector<double> frac_;          // per cell, this step
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_HH_CELL_BATCH_H_
