#include "rt_engine/network/hh_cell_batch.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rt_engine/cpu_features.h"
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
    batch.e_rev_.resize(batch.e_rev_.size() + params, 0.0);
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
      const std::size_t p = OpenIndex(group, c, lane);
      batch.g_max_[p] = ch.g_max_ns;
      batch.e_rev_[p] = ch.e_rev_mv;
    }
  }
  batch.open_.assign(batch.g_max_.size(), 0.0);
  batch.g_.assign(batch.cell_of_lane_.size(), 0.0);
  batch.ge_.assign(batch.cell_of_lane_.size(), 0.0);
  batch.scratch_.assign(max_gates, Block{});
  batch.row_.assign(batch.cell_of_lane_.size(), 0);
  batch.frac_.assign(batch.cell_of_lane_.size() / 4, Block{});
  return batch;
}

void HhCellBatch::SumsOfLane(const Group& g, uint32_t lane) noexcept {
  const uint32_t* first_gate = &channel_first_gate_[g.first_channel];
  const uint8_t* power = &gate_power_[g.first_gate];
  double g_sum = 0, ge_sum = 0;
  for (uint32_t c = 0; c < g.channels; ++c) {
    double open = 1;
    for (uint32_t q = first_gate[c]; q < first_gate[c + 1]; ++q)
      open *= IntPow(x_[g.first_x + std::size_t{q} * g.lanes + lane], power[q]);
    const std::size_t p = OpenIndex(g, c, lane);
    open_[p] = open;
    const double conductance = g_max_[p] * open;
    g_sum += conductance;
    ge_sum += conductance * e_rev_[p];
  }
  g_[g.first_lane + lane] = g_sum;
  ge_[g.first_lane + lane] = ge_sum;
}

void HhCellBatch::StepLane(const Group& g, uint32_t lane, double v,
                           bool steady) noexcept {
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
  SumsOfLane(g, lane);
}

void HhCellBatch::Init(std::span<const double> v_mv) noexcept {
  for (const Group& g : groups_)
    for (uint32_t lane = 0; lane < g.lanes; ++lane)
      StepLane(g, lane, v_mv[cell_of_lane_[g.first_lane + lane]], true);
}

void HhCellBatch::Step(std::span<const double> v_mv) noexcept {
  for (const Group& g : groups_) {
    if (kernel_ == Kernel::kAvx2) {
      StepGroupAvx2(g, v_mv.data());
    } else {
      for (uint32_t lane = 0; lane < g.lanes; ++lane)
        StepLane(g, lane, v_mv[cell_of_lane_[g.first_lane + lane]], false);
    }
  }
}

namespace {

// One gate of four cells: exponential Euler from the interpolated x_inf and
// coefficient, clamped to [0, 1] and stored; returns x^power.
__attribute__((target("avx2,fma"), always_inline)) inline __m256d StepGate4(
    double* state, __m256d inf, __m256d coef, int power) noexcept {
  __m256d s = _mm256_loadu_pd(state);
  s = _mm256_fmadd_pd(_mm256_sub_pd(s, inf), coef, inf);
  s = _mm256_max_pd(_mm256_min_pd(s, _mm256_set1_pd(1.0)), _mm256_setzero_pd());
  _mm256_storeu_pd(state, s);
  switch (power) {
    case 1:
      return s;
    case 2:
      return _mm256_mul_pd(s, s);
    case 3:
      return _mm256_mul_pd(_mm256_mul_pd(s, s), s);
    case 4: {
      const __m256d s2 = _mm256_mul_pd(s, s);
      return _mm256_mul_pd(s2, s2);
    }
    default: {
      __m256d p = _mm256_set1_pd(1.0);
      for (int k = 0; k < power; ++k) p = _mm256_mul_pd(p, s);
      return p;
    }
  }
}

// Row block (x_inf, coef) of one cell, interpolated at fraction *f.
__attribute__((target("avx2,fma"), always_inline)) inline void Interpolate(
    const double* lo, const double* hi, const double* f, __m256d& inf,
    __m256d& coef) noexcept {
  const __m256d fk = _mm256_broadcast_sd(f);
  const __m256d inf_a = _mm256_load_pd(lo);
  const __m256d coef_a = _mm256_load_pd(lo + 4);
  inf = _mm256_fmadd_pd(fk, _mm256_sub_pd(_mm256_load_pd(hi), inf_a), inf_a);
  coef = _mm256_fmadd_pd(fk, _mm256_sub_pd(_mm256_load_pd(hi + 4), coef_a),
                         coef_a);
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

}  // namespace

// Four cells at a time. Each cell's row of the merged table is read as
// blocks of four gates (one vector per block and coefficient), interpolated,
// then transposed so that every vector holds one gate of four cells: from
// there on, update, powers, products and sums are all vertical.
__attribute__((target("avx2,fma"))) void HhCellBatch::StepGroupAvx2(
    const Group& g, const double* v_mv) noexcept {
  const __m256d zero = _mm256_setzero_pd(), one = _mm256_set1_pd(1.0);
  const __m256d all = _mm256_castsi256_pd(_mm256_set1_epi64x(-1));
  const __m256d v_min = _mm256_set1_pd(g.v_min);
  const __m256d inv_dv = _mm256_set1_pd(g.inv_dv);
  const __m256d max_x = _mm256_set1_pd(g.max_x);
  const uint32_t* cells = &cell_of_lane_[g.first_lane];
  const uint8_t* power = &gate_power_[g.first_gate];
  const uint32_t* first_gate = &channel_first_gate_[g.first_channel];
  const std::size_t row_doubles = 8 * std::size_t{g.blocks};
  const double* rows = g.rows.data()->x;
  double* powered = scratch_.data()->x;
  // Rows and fractions first, in a pass of their own: the table loads below
  // then wait on memory written a pass ago, not on a chain from each V (the
  // loop is bound by that chain's latency otherwise).
  uint32_t* row = &row_[g.first_lane];
  double* frac = frac_.data()->x + g.first_lane;
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
    _mm256_store_pd(frac + l0, _mm256_sub_pd(x, _mm256_cvtepi32_pd(index)));
  }
  for (uint32_t l0 = 0; l0 < g.lanes; l0 += 4) {
    const double* f = frac + l0;
    const double* a0 = rows + row[l0] * row_doubles;
    const double* a1 = rows + row[l0 + 1] * row_doubles;
    const double* a2 = rows + row[l0 + 2] * row_doubles;
    const double* a3 = rows + row[l0 + 3] * row_doubles;
    double* state = &x_[g.first_x + l0];
    for (uint32_t blk = 0; blk < g.blocks; ++blk) {
      const std::size_t o = 8 * blk;
      __m256d i0, i1, i2, i3, c0, c1, c2, c3;
      Interpolate(a0 + o, a0 + o + row_doubles, f + 0, i0, c0);
      Interpolate(a1 + o, a1 + o + row_doubles, f + 1, i1, c1);
      Interpolate(a2 + o, a2 + o + row_doubles, f + 2, i2, c2);
      Interpolate(a3 + o, a3 + o + row_doubles, f + 3, i3, c3);
      Transpose(i0, i1, i2, i3);
      Transpose(c0, c1, c2, c3);
      const uint32_t q = 4 * blk, left = g.gates - q;
      double* s = state + std::size_t{q} * g.lanes;
      _mm256_store_pd(powered + 4 * q, StepGate4(s, i0, c0, power[q]));
      if (left > 1)
        _mm256_store_pd(powered + 4 * q + 4,
                        StepGate4(s + g.lanes, i1, c1, power[q + 1]));
      if (left > 2)
        _mm256_store_pd(powered + 4 * q + 8,
                        StepGate4(s + 2 * g.lanes, i2, c2, power[q + 2]));
      if (left > 3)
        _mm256_store_pd(powered + 4 * q + 12,
                        StepGate4(s + 3 * g.lanes, i3, c3, power[q + 3]));
    }
    __m256d g_sum = zero, ge_sum = zero;
    for (uint32_t c = 0; c < g.channels; ++c) {
      __m256d open = one;
      for (uint32_t q = first_gate[c]; q < first_gate[c + 1]; ++q)
        open = _mm256_mul_pd(open, _mm256_load_pd(powered + 4 * q));
      const std::size_t p = OpenIndex(g, c, l0);
      _mm256_storeu_pd(&open_[p], open);
      const __m256d conductance =
          _mm256_mul_pd(_mm256_loadu_pd(&g_max_[p]), open);
      g_sum = _mm256_add_pd(g_sum, conductance);
      ge_sum =
          _mm256_fmadd_pd(conductance, _mm256_loadu_pd(&e_rev_[p]), ge_sum);
    }
    _mm256_storeu_pd(&g_[g.first_lane + l0], g_sum);
    _mm256_storeu_pd(&ge_[g.first_lane + l0], ge_sum);
  }
}

void HhCellBatch::AddConductances(std::span<double> g_sum,
                                  std::span<double> ge_sum) const noexcept {
  for (const Group& g : groups_) {
    const double* g_lane = &g_[g.first_lane];
    const double* ge_lane = &ge_[g.first_lane];
    if (g.contiguous) {  // vectorizes
      double* g_cell = &g_sum[g.first_cell];
      double* ge_cell = &ge_sum[g.first_cell];
      for (uint32_t lane = 0; lane < g.cells; ++lane) {
        g_cell[lane] += g_lane[lane];
        ge_cell[lane] += ge_lane[lane];
      }
      continue;
    }
    const uint32_t* cell = &cell_of_lane_[g.first_lane];
    for (uint32_t lane = 0; lane < g.cells; ++lane) {
      g_sum[cell[lane]] += g_lane[lane];
      ge_sum[cell[lane]] += ge_lane[lane];
    }
  }
}

void HhCellBatch::SetLive(uint32_t channel, double g_max_ns,
                          double e_rev_mv) noexcept {
  const ChannelAt& c = channel_at_[channel];
  const Group& g = groups_[c.group];
  const std::size_t p = OpenIndex(g, c.channel, c.lane);
  g_max_[p] = g_max_ns;
  e_rev_[p] = e_rev_mv;
  SumsOfLane(g, c.lane);
}

}  // namespace dynclamp::rt
