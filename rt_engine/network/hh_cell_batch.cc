#include "rt_engine/network/hh_cell_batch.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/base/cpu_features.h"
#include "rt_engine/models/hh_channel.h"

namespace dynclamp::rt {

absl::StatusOr<HhCellBatch> HhCellBatch::Build(
    const std::vector<ChannelSpec>& channels, Kernel kernel) {
  HhCellBatch batch;
  if (kernel == Kernel::kAuto)
    kernel = CpuHasAvx2Fma() ? Kernel::kAvx2 : Kernel::kScalar;
  batch.kernel_ = kernel;

  // Channels grouped by cell, cells in ascending order, Build order kept
  // within a cell.
  std::map<uint32_t, std::vector<uint32_t>> by_cell;
  for (uint32_t k = 0; k < channels.size(); ++k)
    by_cell[channels[k].cell].push_back(k);

  // Cells with the same gates, powers and split into channels share a
  // group; groups in the order of their first cell.
  struct Shape {
    std::vector<std::pair<const RateTable*, int>> gates;
    std::vector<uint32_t> channel_gates;
    auto operator<=>(const Shape&) const = default;
  };
  std::map<Shape, uint32_t> group_of;
  std::vector<Shape> shapes;
  std::vector<std::vector<uint32_t>> cells_of_group;
  std::vector<std::pair<uint32_t, uint32_t>> lane_of_cell;  // by_cell order
  // Within a cell, channels with gates first (the kernel's products), then
  // those without (a constant per cell).
  for (auto& [cell_index, members] : by_cell)
    std::stable_partition(members.begin(), members.end(), [&](uint32_t k) {
      return !channels[k].tables.empty();
    });
  for (const auto& [cell_index, members] : by_cell) {
    Shape shape;
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
        shape.gates.push_back({t, ch.powers[g]});
      }
      shape.channel_gates.push_back(static_cast<uint32_t>(ch.tables.size()));
    }
    auto [it, added] =
        group_of.emplace(shape, static_cast<uint32_t>(shapes.size()));
    if (added) {
      shapes.push_back(std::move(shape));
      cells_of_group.emplace_back();
    }
    lane_of_cell.push_back(
        {it->second, static_cast<uint32_t>(cells_of_group[it->second].size())});
    cells_of_group[it->second].push_back(cell_index);
  }

  std::size_t max_gates = 0;
  for (std::size_t gi = 0; gi < shapes.size(); ++gi) {
    const Shape& shape = shapes[gi];
    const std::vector<uint32_t>& cells = cells_of_group[gi];
    Group group;
    group.gates = static_cast<uint32_t>(shape.gates.size());
    group.channels = static_cast<uint32_t>(shape.channel_gates.size());
    group.gated = static_cast<uint32_t>(
        std::count_if(shape.channel_gates.begin(), shape.channel_gates.end(),
                      [](uint32_t gates) { return gates > 0; }));
    group.blocks = (group.gates + 3) / 4;  // 0 for constant channels only
    group.cells = static_cast<uint32_t>(cells.size());
    group.first_cell = cells.front();
    group.contiguous = cells.back() - cells.front() + 1 == cells.size();
    group.lanes = (group.cells + 3) / 4 * 4;
    group.first_lane = static_cast<uint32_t>(batch.cell_of_lane_.size());
    group.first_x = static_cast<uint32_t>(batch.x_.size());
    group.first_param = static_cast<uint32_t>(batch.g_max_.size());
    group.first_gate = static_cast<uint32_t>(batch.gate_power_.size());
    group.first_channel =
        static_cast<uint32_t>(batch.channel_first_gate_.size());
    max_gates = std::max<std::size_t>(max_gates, group.gates);

    // The merged table: row i holds every gate's (x_inf, coef) at point i.
    const RateTable* grid =
        shape.gates.empty() ? nullptr : shape.gates.front().first;
    const std::size_t n = grid ? grid->entries().size() : 2;
    group.v_min = grid ? grid->v_min_mv() : 0.0;
    group.inv_dv = grid ? grid->inv_dv() : 1.0;
    // The largest x with a valid right neighbour, as RateTable does.
    group.max_x = std::nextafter(static_cast<double>(n - 1), 0.0);
    group.rows.assign(n * 2 * group.blocks, Block{});
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t g = 0; g < shape.gates.size(); ++g) {
        const RateTable::Entry& e = shape.gates[g].first->entries()[i];
        Block* row = &group.rows[(i * group.blocks + g / 4) * 2];
        row[0].x[g % 4] = e.inf;
        row[1].x[g % 4] = e.coef;
      }
    }
    for (const auto& [table, power] : shape.gates)
      batch.gate_power_.push_back(static_cast<uint8_t>(power));
    uint32_t gate = 0;
    for (uint32_t count : shape.channel_gates) {
      batch.channel_first_gate_.push_back(gate);
      gate += count;
    }
    batch.channel_first_gate_.push_back(gate);

    // Lanes: the group's cells, then padding that repeats its first cell
    // with every g_max zero (it adds nothing and is never summed).
    for (uint32_t lane = 0; lane < group.lanes; ++lane)
      batch.cell_of_lane_.push_back(cells[lane < cells.size() ? lane : 0]);
    batch.padding_ += group.lanes - group.cells;
    batch.x_.resize(batch.x_.size() + std::size_t{group.gates} * group.lanes,
                    0.0);
    const std::size_t params = std::size_t{group.channels} * group.lanes;
    batch.g_max_.resize(batch.g_max_.size() + params, 0.0);
    batch.g_e_.resize(batch.g_e_.size() + params, 0.0);
    batch.groups_.push_back(std::move(group));
  }
  batch.channel_at_.assign(channels.size(), ChannelAt{});
  std::size_t cell_order = 0;
  for (const auto& [cell_index, members] : by_cell) {
    const auto [group_index, lane] = lane_of_cell[cell_order++];
    const Group& group = batch.groups_[group_index];
    for (uint32_t c = 0; c < members.size(); ++c) {
      const ChannelSpec& ch = channels[members[c]];
      batch.channel_at_[members[c]] = {group_index, c, lane};
      const std::size_t p = ParamIndex(group, c, lane);
      batch.g_max_[p] = ch.g_max_ns;
      batch.g_e_[p] = ch.g_max_ns * ch.e_rev_mv;
    }
  }
  const std::size_t lanes = batch.cell_of_lane_.size();
  batch.const_g_.assign(lanes, 0.0);
  batch.const_ge_.assign(lanes, 0.0);
  batch.scratch_.assign(max_gates, Block{});
  batch.row_.assign(lanes, 0);
  batch.frac_.assign(lanes, 0.0);
  for (const Group& g : batch.groups_)
    for (uint32_t lane = 0; lane < g.lanes; ++lane)
      batch.ConstantsOfLane(g, lane);
  return batch;
}

void HhCellBatch::ConstantsOfLane(const Group& g, uint32_t lane) noexcept {
  const std::size_t l = g.first_lane + lane;
  const_g_[l] = const_ge_[l] = 0.0;
  for (uint32_t c = g.gated; c < g.channels; ++c) {
    const_g_[l] += g_max_[ParamIndex(g, c, lane)];
    const_ge_[l] += g_e_[ParamIndex(g, c, lane)];
  }
}

double HhCellBatch::OpenOf(const Group& g, uint32_t channel,
                           uint32_t lane) const noexcept {
  const uint32_t* first_gate = &channel_first_gate_[g.first_channel];
  const uint8_t* power = &gate_power_[g.first_gate];
  double open = 1;
  for (uint32_t q = first_gate[channel]; q < first_gate[channel + 1]; ++q)
    open *= IntPow(x_[g.first_x + std::size_t{q} * g.lanes + lane], power[q]);
  return open;
}

void HhCellBatch::SumsOfLane(const Group& g, uint32_t lane, Sums out) noexcept {
  if (lane >= g.cells) return;  // padding
  const std::size_t l = g.first_lane + lane;
  double g_sum = const_g_[l], ge_sum = const_ge_[l];
  for (uint32_t c = 0; c < g.gated; ++c) {
    const double open = OpenOf(g, c, lane);
    g_sum += open * g_max_[ParamIndex(g, c, lane)];
    ge_sum += open * g_e_[ParamIndex(g, c, lane)];
  }
  out.g[cell_of_lane_[l]] = g_sum;
  out.ge[cell_of_lane_[l]] = ge_sum;
}

double HhCellBatch::OpenFraction(uint32_t channel) const noexcept {
  const ChannelAt& c = channel_at_[channel];
  return OpenOf(groups_[c.group], c.channel, c.lane);
}

void HhCellBatch::StepLane(const Group& g, uint32_t lane, double v, bool steady,
                           Sums out) noexcept {
  double x = (v - g.v_min) * g.inv_dv;
  if (!(x >= 0.0)) x = 0.0;  // also NaN
  if (x > g.max_x) x = g.max_x;
  const std::size_t i = static_cast<std::size_t>(x);
  const double f = x - static_cast<double>(i);
  const Block* a = g.rows.data() + i * 2 * g.blocks;
  const Block* b = a + 2 * g.blocks;
  for (uint32_t q = 0; q < g.gates; ++q) {
    const uint32_t blk = q / 4, l = q % 4;
    const double inf =
        a[2 * blk].x[l] + f * (b[2 * blk].x[l] - a[2 * blk].x[l]);
    const double coef =
        a[2 * blk + 1].x[l] + f * (b[2 * blk + 1].x[l] - a[2 * blk + 1].x[l]);
    double& state = x_[g.first_x + std::size_t{q} * g.lanes + lane];
    // A gate is a fraction (the table's x_inf already is).
    state = steady ? inf : std::clamp(inf + (state - inf) * coef, 0.0, 1.0);
  }
  SumsOfLane(g, lane, out);
}

void HhCellBatch::Init(std::span<const double> v_mv, Sums out) noexcept {
  for (const Group& g : groups_)
    for (uint32_t lane = 0; lane < g.lanes; ++lane)
      StepLane(g, lane, v_mv[cell_of_lane_[g.first_lane + lane]], true, out);
}

namespace {

// What the AVX2 kernel reads of a group, as plain pointers (no member of
// the batch is reloaded after each store).
struct GroupLanes {
  const double* rows;       // the group's merged table
  std::size_t row_doubles;  // 8 per block
  const uint32_t* row;      // per lane: this step's row
  const double* frac;       // per lane: this step's fraction
  double* x;                // gate q of lane l at x[q * lanes + l]
  std::size_t lanes;
  uint32_t gates, gated;
  const uint8_t* power;        // per gate
  const uint32_t* first_gate;  // per channel, + end
  const double* g_max;         // channel c of lane l at [c * lanes + l]
  const double* g_e;
  const double* const_g;  // per lane
  const double* const_ge;
  const uint32_t* cells;  // per lane: its cell
  uint32_t num_cells;     // lanes beyond are padding
  bool contiguous;        // cells[l] == cells[0] + l
  double* g;              // per cell: the sums
  double* ge;
  double* scratch;  // 4 per gate: kGates == 0 only
};

// x^power of four gates (powers are small whole numbers).
__attribute__((target("avx2,fma"), always_inline)) inline __m256d Power(
    __m256d x, int power) noexcept {
  switch (power) {
    case 1:
      return x;
    case 2:
      return _mm256_mul_pd(x, x);
    case 3:
      return _mm256_mul_pd(_mm256_mul_pd(x, x), x);
    case 4: {
      const __m256d x2 = _mm256_mul_pd(x, x);
      return _mm256_mul_pd(x2, x2);
    }
    default: {
      __m256d p = _mm256_set1_pd(1.0);
      for (int k = 0; k < power; ++k) p = _mm256_mul_pd(p, x);
      return p;
    }
  }
}

// Row block (x_inf, coef) of one cell, interpolated at fraction f.
__attribute__((target("avx2,fma"), always_inline)) inline void Interpolate(
    const double* lo, const double* hi, __m256d f, __m256d& inf,
    __m256d& coef) noexcept {
  const __m256d inf_a = _mm256_load_pd(lo);
  const __m256d coef_a = _mm256_load_pd(lo + 4);
  inf = _mm256_fmadd_pd(f, _mm256_sub_pd(_mm256_load_pd(hi), inf_a), inf_a);
  coef =
      _mm256_fmadd_pd(f, _mm256_sub_pd(_mm256_load_pd(hi + 4), coef_a), coef_a);
}

// 4x4 transpose: row k of the input is cell k; row q of the output, gate q.
__attribute__((target("avx2,fma"), always_inline)) inline void Transpose(
    __m256d& r0, __m256d& r1, __m256d& r2, __m256d& r3) noexcept {
  const __m256d l01 = _mm256_unpacklo_pd(r0, r1);
  const __m256d h01 = _mm256_unpackhi_pd(r0, r1);
  const __m256d l23 = _mm256_unpacklo_pd(r2, r3);
  const __m256d h23 = _mm256_unpackhi_pd(r2, r3);
  r0 = _mm256_permute2f128_pd(l01, l23, 0x20);
  r1 = _mm256_permute2f128_pd(h01, h23, 0x20);
  r2 = _mm256_permute2f128_pd(l01, l23, 0x31);
  r3 = _mm256_permute2f128_pd(h01, h23, 0x31);
}

// Four cells at a time. Each cell's row of the merged table is read as
// blocks of four gates (one vector per block and coefficient), interpolated,
// then transposed so that every vector holds one gate of four cells: from
// there on, update, powers, products and sums are all vertical. kGates: the
// group's gate count, or 0 for any (then read at run time).
template <int kGates>
__attribute__((target("avx2,fma"))) void StepGroupAvx2(
    const GroupLanes& k) noexcept {
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
  const uint32_t gates = kGates > 0 ? kGates : k.gates;
  const uint32_t blocks = (gates + 3) / 4;
  const std::size_t lanes = k.lanes, row_doubles = k.row_doubles;
  const double* __restrict rows = k.rows;
  const uint32_t* __restrict row = k.row;
  const double* __restrict frac = k.frac;
  double* __restrict x = k.x;
  const double* __restrict g_max = k.g_max;
  const double* __restrict g_e = k.g_e;
  const double* __restrict const_g = k.const_g;
  const double* __restrict const_ge = k.const_ge;
  double* __restrict g_out = k.g;
  double* __restrict ge_out = k.ge;
  const uint32_t* __restrict cells = k.cells;
  const std::size_t num_cells = k.num_cells;
  // The group's powers and channels, where the compiler can see that the
  // stores below leave them alone.
  constexpr uint32_t kLocal = kGates > 0 ? kGates : 1;
  int power[kLocal];
  uint32_t first_gate[kLocal + 1];
  const uint32_t gated = k.gated;
  if constexpr (kGates > 0) {
    for (uint32_t q = 0; q < kGates; ++q) power[q] = k.power[q];
    for (uint32_t c = 0; c <= gated; ++c) first_gate[c] = k.first_gate[c];
  }
  auto power_of = [&](uint32_t q) {
    return kGates > 0 ? power[q] : int{k.power[q]};
  };
  auto first_gate_of = [&](uint32_t c) {
    return kGates > 0 ? first_gate[c] : k.first_gate[c];
  };
  __m256d fixed[kLocal];  // x^p of this step's four cells
  double* powered = kGates > 0 ? reinterpret_cast<double*>(fixed) : k.scratch;
  for (std::size_t l0 = 0; l0 < lanes; l0 += 4) {
    const double* a[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) a[c] = rows + row[l0 + c] * row_doubles;
    const __m256d f0 = _mm256_broadcast_sd(frac + l0);
    const __m256d f1 = _mm256_broadcast_sd(frac + l0 + 1);
    const __m256d f2 = _mm256_broadcast_sd(frac + l0 + 2);
    const __m256d f3 = _mm256_broadcast_sd(frac + l0 + 3);
#pragma GCC unroll 2
    for (uint32_t blk = 0; blk < blocks; ++blk) {
      const std::size_t o = 8 * blk;
      __m256d inf[4], coef[4];
      Interpolate(a[0] + o, a[0] + o + row_doubles, f0, inf[0], coef[0]);
      Interpolate(a[1] + o, a[1] + o + row_doubles, f1, inf[1], coef[1]);
      Interpolate(a[2] + o, a[2] + o + row_doubles, f2, inf[2], coef[2]);
      Interpolate(a[3] + o, a[3] + o + row_doubles, f3, inf[3], coef[3]);
      Transpose(inf[0], inf[1], inf[2], inf[3]);
      Transpose(coef[0], coef[1], coef[2], coef[3]);
#pragma GCC unroll 4
      for (uint32_t j = 0; j < 4; ++j) {
        const uint32_t q = 4 * blk + j;
        if (q >= gates) break;
        double* state = x + q * lanes + l0;
        __m256d s = _mm256_loadu_pd(state);
        s = _mm256_fmadd_pd(_mm256_sub_pd(s, inf[j]), coef[j], inf[j]);
        s = _mm256_max_pd(_mm256_min_pd(s, one), zero);  // a fraction
        _mm256_storeu_pd(state, s);
        _mm256_store_pd(powered + 4 * q, Power(s, power_of(q)));
      }
    }
    __m256d g_sum = _mm256_loadu_pd(const_g + l0);
    __m256d ge_sum = _mm256_loadu_pd(const_ge + l0);
    for (uint32_t c = 0; c < gated; ++c) {
      const uint32_t begin = first_gate_of(c), end = first_gate_of(c + 1);
      __m256d open = _mm256_load_pd(powered + 4 * begin);
      for (uint32_t q = begin + 1; q < end; ++q)
        open = _mm256_mul_pd(open, _mm256_load_pd(powered + 4 * q));
      const std::size_t p = c * lanes + l0;
      g_sum = _mm256_fmadd_pd(open, _mm256_loadu_pd(g_max + p), g_sum);
      ge_sum = _mm256_fmadd_pd(open, _mm256_loadu_pd(g_e + p), ge_sum);
    }
    if (k.contiguous && l0 + 4 <= num_cells) {
      _mm256_storeu_pd(g_out + cells[0] + l0, g_sum);
      _mm256_storeu_pd(ge_out + cells[0] + l0, ge_sum);
      continue;
    }
    alignas(32) double g4[4], ge4[4];
    _mm256_store_pd(g4, g_sum);
    _mm256_store_pd(ge4, ge_sum);
    for (std::size_t j = 0; j < 4 && l0 + j < num_cells; ++j) {
      g_out[cells[l0 + j]] = g4[j];
      ge_out[cells[l0 + j]] = ge4[j];
    }
  }
}

}  // namespace

// Rows and fractions first, in a pass of their own: the table loads of the
// kernel then wait on memory written a pass ago, not on a chain from each V
// (the loop is bound by that chain's latency otherwise).
__attribute__((target("avx2,fma"))) void HhCellBatch::IndexGroupAvx2(
    const Group& g, const double* v_mv) noexcept {
  const __m256d zero = _mm256_setzero_pd();
  const __m256d all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
  const __m256d v_min = _mm256_set1_pd(g.v_min);
  const __m256d inv_dv = _mm256_set1_pd(g.inv_dv);
  const __m256d max_x = _mm256_set1_pd(g.max_x);
  const uint32_t* cells = &cell_of_lane_[g.first_lane];
  uint32_t* row = &row_[g.first_lane];
  double* frac = &frac_[g.first_lane];
  for (uint32_t l0 = 0; l0 < g.lanes; l0 += 4) {
    // Model cells are usually numbered in a row: a plain load then.
    const __m256d v =
        g.contiguous && l0 + 4 <= g.cells
            ? _mm256_loadu_pd(v_mv + g.first_cell + l0)
            : _mm256_mask_i32gather_pd(
                  zero, v_mv,
                  _mm_loadu_si128(reinterpret_cast<const __m128i*>(cells + l0)),
                  all, 8);
    __m256d x = _mm256_mul_pd(_mm256_sub_pd(v, v_min), inv_dv);
    x = _mm256_and_pd(x, _mm256_cmp_pd(x, zero, _CMP_GE_OQ));  // NaN -> 0
    x = _mm256_min_pd(x, max_x);
    const __m128i index = _mm256_cvttpd_epi32(x);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + l0), index);
    _mm256_storeu_pd(frac + l0, _mm256_sub_pd(x, _mm256_cvtepi32_pd(index)));
  }
}

void HhCellBatch::Step(std::span<const double> v_mv, Sums out) noexcept {
  for (const Group& g : groups_) {
    if (kernel_ != Kernel::kAvx2 || g.gates == 0) {
      for (uint32_t lane = 0; lane < g.lanes; ++lane)
        StepLane(g, lane, v_mv[cell_of_lane_[g.first_lane + lane]], false, out);
      continue;
    }
    IndexGroupAvx2(g, v_mv.data());
    const std::size_t params = g.first_param, l = g.first_lane;
    const GroupLanes k{g.rows.data()->x,
                       8 * std::size_t{g.blocks},
                       &row_[l],
                       &frac_[l],
                       &x_[g.first_x],
                       g.lanes,
                       g.gates,
                       g.gated,
                       &gate_power_[g.first_gate],
                       &channel_first_gate_[g.first_channel],
                       &g_max_[params],
                       &g_e_[params],
                       &const_g_[l],
                       &const_ge_[l],
                       &cell_of_lane_[l],
                       g.cells,
                       g.contiguous,
                       out.g.data(),
                       out.ge.data(),
                       scratch_.data()->x};
    // One build per gate count up to eight: the blocks, gates and powers'
    // storage are then fixed, and the loop body is straight-line code.
    static constexpr void (*kKernels[])(const GroupLanes&) noexcept = {
        StepGroupAvx2<0>, StepGroupAvx2<1>, StepGroupAvx2<2>,
        StepGroupAvx2<3>, StepGroupAvx2<4>, StepGroupAvx2<5>,
        StepGroupAvx2<6>, StepGroupAvx2<7>, StepGroupAvx2<8>};
    kKernels[g.gates < std::size(kKernels) ? g.gates : 0](k);
  }
}

std::vector<uint32_t> HhCellBatch::Cells() const {
  std::vector<uint32_t> cells;
  for (const Group& g : groups_)
    cells.insert(cells.end(), &cell_of_lane_[g.first_lane],
                 &cell_of_lane_[g.first_lane] + g.cells);
  std::sort(cells.begin(), cells.end());
  return cells;
}

void HhCellBatch::SetLive(uint32_t channel, double g_max_ns, double e_rev_mv,
                          Sums out) noexcept {
  const ChannelAt& c = channel_at_[channel];
  const Group& g = groups_[c.group];
  const std::size_t p = ParamIndex(g, c.channel, c.lane);
  g_max_[p] = g_max_ns;
  g_e_[p] = g_max_ns * e_rev_mv;
  ConstantsOfLane(g, c.lane);
  SumsOfLane(g, c.lane, out);
}

}  // namespace dynclamp::rt
