#include "rt_engine/network/hh_cell_batch.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/models/hh_channel.h"

namespace dynclamp::rt {

absl::StatusOr<HhCellBatch> HhCellBatch::Build(
    const std::vector<ChannelSpec>& channels, Kernel kernel) {
  HhCellBatch batch;
  if (kernel == Kernel::kAuto) {
    __builtin_cpu_init();
    kernel = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                 ? Kernel::kAvx2
                 : Kernel::kScalar;
  }
  batch.kernel_ = kernel;

  // Channels grouped by cell, cells in ascending order, Build order kept
  // within a cell.
  std::map<uint32_t, std::vector<uint32_t>> by_cell;
  for (uint32_t k = 0; k < channels.size(); ++k)
    by_cell[channels[k].cell].push_back(k);

  // A merged table is shared by cells with the same gates and powers.
  std::map<std::vector<std::pair<const RateTable*, int>>, uint32_t> table_of;
  batch.channel_of_.assign(channels.size(), 0);
  uint32_t next_block = 0;
  for (const auto& [cell_index, members] : by_cell) {
    std::vector<std::pair<const RateTable*, int>> gates;
    const RateTable* grid = nullptr;
    for (uint32_t k : members) {
      const ChannelSpec& ch = channels[k];
      for (std::size_t g = 0; g < ch.tables.size(); ++g) {
        const RateTable* t = ch.tables[g];
        if (t->integrator() != Integrator::kExpEuler) {
          return absl::InvalidArgumentError(
              absl::StrCat(ch.path,
                           ".integrator: a model cell's gates advance by "
                           "exponential Euler (exp_euler), got ",
                           IntegratorName(t->integrator())));
        }
        if (grid == nullptr) grid = t;
        if (t->v_min_mv() != grid->v_min_mv() ||
            t->inv_dv() != grid->inv_dv() ||
            t->entries().size() != grid->entries().size()) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s.table: every channel on one model cell must use the same "
              "table range; this one starts at %g mV with %d points, another "
              "at %g mV with %d",
              ch.path, t->v_min_mv(), t->entries().size(), grid->v_min_mv(),
              grid->entries().size()));
        }
        gates.push_back({t, ch.powers[g]});
      }
    }
    Cell cell;
    cell.cell = cell_index;
    auto [it, added] =
        table_of.emplace(gates, static_cast<uint32_t>(batch.tables_.size()));
    if (added) {
      Table t;
      t.blocks = static_cast<uint32_t>((gates.size() + 3) / 4);
      t.v_min = grid->v_min_mv();
      t.inv_dv = grid->inv_dv();
      const std::size_t n = grid->entries().size();
      // The largest x with a valid right neighbour, as RateTable does.
      t.max_x = std::nextafter(static_cast<double>(n - 1), 0.0);
      t.rows.assign(n * 2 * t.blocks, Block{});
      t.power_bits.assign(t.blocks * 4, Mask{});
      for (std::size_t g = 0; g < gates.size(); ++g)
        for (int bit = 0; bit < 4; ++bit)
          if (gates[g].second & (1 << bit)) {
            t.power_bits[(g / 4) * 4 + bit].m[g % 4] = -1;
            t.power_levels = std::max(t.power_levels, bit + 1);
          }
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t g = 0; g < gates.size(); ++g) {
          const RateTable::Entry& e = gates[g].first->entries()[i];
          Block* row = &t.rows[(i * t.blocks + g / 4) * 2];
          row[0].x[g % 4] = e.inf;
          row[1].x[g % 4] = e.coef;
        }
      }
      batch.tables_.push_back(std::move(t));
    }
    cell.table = it->second;
    cell.first_block = next_block;
    next_block += batch.tables_[cell.table].blocks;
    cell.first_channel = static_cast<uint32_t>(batch.channels_.size());
    cell.num_channels = static_cast<uint32_t>(members.size());
    uint32_t lane = cell.first_block * 4;
    for (uint32_t k : members) {
      const ChannelSpec& ch = channels[k];
      Channel rt;
      rt.cell_slot = static_cast<uint32_t>(batch.cells_.size());
      rt.first_lane = lane;
      rt.num_gates = static_cast<uint32_t>(ch.tables.size());
      rt.g_max = ch.g_max_ns;
      rt.e_rev = ch.e_rev_mv;
      lane += rt.num_gates;
      batch.channel_of_[k] = static_cast<uint32_t>(batch.channels_.size());
      batch.channels_.push_back(rt);
    }
    batch.cells_.push_back(cell);
  }
  batch.state_.assign(next_block, Block{});
  batch.powered_.assign(next_block, Block{{1, 1, 1, 1}});
  batch.powers_.assign(next_block * 4, 0);
  for (uint32_t k = 0; k < channels.size(); ++k) {
    const Channel& rt = batch.channels_[batch.channel_of_[k]];
    for (uint32_t g = 0; g < rt.num_gates; ++g)
      batch.powers_[rt.first_lane + g] =
          static_cast<uint8_t>(channels[k].powers[g]);
  }
  batch.row_.assign(batch.cells_.size(), 0);
  batch.frac_.assign(batch.cells_.size(), 0.0);
  return batch;
}

void HhCellBatch::PowersScalar(const Cell& cell) noexcept {
  const uint32_t blocks = tables_[cell.table].blocks;
  for (uint32_t blk = cell.first_block; blk < cell.first_block + blocks; ++blk)
    for (int l = 0; l < 4; ++l)
      powered_[blk].x[l] = IntPow(state_[blk].x[l], powers_[blk * 4 + l]);
}

void HhCellBatch::Sums(Cell& cell) noexcept {
  const double* xp = powered_.data()->x;
  double g_sum = 0, ge_sum = 0;
  for (uint32_t c = 0; c < cell.num_channels; ++c) {
    Channel& ch = channels_[cell.first_channel + c];
    double open = xp[ch.first_lane];
    for (uint32_t g = 1; g < ch.num_gates; ++g) open *= xp[ch.first_lane + g];
    ch.open = open;
    const double g = ch.g_max * open;
    g_sum += g;
    ge_sum += g * ch.e_rev;
  }
  cell.g = g_sum;
  cell.ge = ge_sum;
}

void HhCellBatch::Init(std::span<const double> v_mv) noexcept {
  for (std::size_t k = 0; k < cells_.size(); ++k) {
    Cell& cell = cells_[k];
    const Table& t = tables_[cell.table];
    double x = (v_mv[cell.cell] - t.v_min) * t.inv_dv;
    if (!(x >= 0.0)) x = 0.0;  // also NaN
    if (x > t.max_x) x = t.max_x;
    const std::size_t i = static_cast<std::size_t>(x);
    const double f = x - static_cast<double>(i);
    const Block* a = &t.rows[i * 2 * t.blocks];
    const Block* b = a + 2 * t.blocks;
    for (uint32_t blk = 0; blk < t.blocks; ++blk)
      for (int l = 0; l < 4; ++l)
        state_[cell.first_block + blk].x[l] =
            a[2 * blk].x[l] + f * (b[2 * blk].x[l] - a[2 * blk].x[l]);
    PowersScalar(cell);
    Sums(cell);
  }
}

void HhCellBatch::Step(std::span<const double> v_mv) noexcept {
  // Indices first, in their own pass: the table loads below then do not
  // wait on each cell's V (the loop is bound by load latency otherwise).
  for (std::size_t k = 0; k < cells_.size(); ++k) {
    const Table& t = tables_[cells_[k].table];
    double x = (v_mv[cells_[k].cell] - t.v_min) * t.inv_dv;
    if (!(x >= 0.0)) x = 0.0;
    if (x > t.max_x) x = t.max_x;
    const uint32_t i = static_cast<uint32_t>(x);
    row_[k] = i;
    frac_[k] = x - static_cast<double>(i);
  }
  if (kernel_ == Kernel::kAvx2) {
    UpdateAvx2();
  } else {
    UpdateScalar();
  }
  // A pass of its own: reading x^p right after the vector stores that
  // wrote it would stall on store forwarding.
  for (Cell& cell : cells_) Sums(cell);
}

void HhCellBatch::UpdateScalar() noexcept {
  for (std::size_t k = 0; k < cells_.size(); ++k) {
    Cell& cell = cells_[k];
    const Table& t = tables_[cell.table];
    const Block* a = &t.rows[std::size_t{row_[k]} * 2 * t.blocks];
    const Block* b = a + 2 * t.blocks;
    const double f = frac_[k];
    for (uint32_t blk = 0; blk < t.blocks; ++blk) {
      double* x = state_[cell.first_block + blk].x;
      for (int l = 0; l < 4; ++l) {
        const double inf =
            a[2 * blk].x[l] + f * (b[2 * blk].x[l] - a[2 * blk].x[l]);
        const double coef = a[2 * blk + 1].x[l] +
                            f * (b[2 * blk + 1].x[l] - a[2 * blk + 1].x[l]);
        // A gate is a fraction (the table's x_inf already is).
        x[l] = std::clamp(inf + (x[l] - inf) * coef, 0.0, 1.0);
      }
    }
    PowersScalar(cell);
  }
}

__attribute__((target("avx2,fma"))) void HhCellBatch::UpdateAvx2() noexcept {
  // Vector type local to this function (no lambdas or calls: they would
  // be built without AVX and change the ABI).
  typedef double Vec __attribute__((vector_size(32)));
  typedef int64_t Bits __attribute__((vector_size(32)));
  const Vec zero = {0, 0, 0, 0}, one = {1, 1, 1, 1};
  for (std::size_t k = 0; k < cells_.size(); ++k) {
    Cell& cell = cells_[k];
    const Table& t = tables_[cell.table];
    const Block* a = &t.rows[std::size_t{row_[k]} * 2 * t.blocks];
    const Block* b = a + 2 * t.blocks;
    const double f = frac_[k];
    const Mask* power_bits = t.power_bits.data();
    for (uint32_t blk = 0; blk < t.blocks; ++blk) {
      Vec inf_a, coef_a, inf_b, coef_b, x;
      std::memcpy(&inf_a, a[2 * blk].x, sizeof(Vec));
      std::memcpy(&coef_a, a[2 * blk + 1].x, sizeof(Vec));
      std::memcpy(&inf_b, b[2 * blk].x, sizeof(Vec));
      std::memcpy(&coef_b, b[2 * blk + 1].x, sizeof(Vec));
      double* state = state_[cell.first_block + blk].x;
      std::memcpy(&x, state, sizeof(Vec));
      const Vec inf = inf_a + f * (inf_b - inf_a);
      const Vec coef = coef_a + f * (coef_b - coef_a);
      x = inf + (x - inf) * coef;
      x = x < zero ? zero : x;
      x = x > one ? one : x;
      std::memcpy(state, &x, sizeof(Vec));
      // x^p by binary powers: p = sum of bits 1, 2, 4, 8.
      Vec power = one, square = x;
      for (int bit = 0; bit < t.power_levels; ++bit) {
        Bits has;
        std::memcpy(&has, power_bits[blk * 4 + bit].m, sizeof(Bits));
        power = has != 0 ? power * square : power;
        square = square * square;
      }
      std::memcpy(powered_[cell.first_block + blk].x, &power, sizeof(Vec));
    }
  }
}

void HhCellBatch::AddConductances(std::span<double> g_sum,
                                  std::span<double> ge_sum) const noexcept {
  for (const Cell& cell : cells_) {
    g_sum[cell.cell] += cell.g;
    ge_sum[cell.cell] += cell.ge;
  }
}

void HhCellBatch::SetLive(uint32_t channel, double g_max_ns,
                          double e_rev_mv) noexcept {
  Channel& ch = channels_[channel_of_[channel]];
  ch.g_max = g_max_ns;
  ch.e_rev = e_rev_mv;
  Sums(cells_[ch.cell_slot]);
}

}  // namespace dynclamp::rt
