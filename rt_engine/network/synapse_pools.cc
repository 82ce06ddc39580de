#include "rt_engine/network/synapse_pools.h"

#include <immintrin.h>

#include <algorithm>
#include <map>
#include <utility>

#include "rt_engine/base/cpu_features.h"

namespace dynclamp::rt {

namespace {

// One slot: its lanes' g and g E added to their cells' sums, then the
// lanes decay. Written to vectorize; built twice, the loader picks the AVX2
// build where the CPU has it.
__attribute__((target_clones("avx2", "default"))) void AddSlot(
    std::size_t n, double* __restrict g, double* __restrict ge,
    const double* __restrict d, double* __restrict sum_g,
    double* __restrict sum_ge) noexcept {
  for (std::size_t j = 0; j < n; ++j) {
    sum_g[j] += g[j];
    sum_ge[j] += ge[j];
    g[j] *= d[j];
    ge[j] *= d[j];
  }
}

}  // namespace

SynapsePools::SynapsePools(const std::vector<Pool>& pools, bool vectorize) {
  avx2_ = vectorize && CpuHasAvx2Fma();
  // Single exponentials: a provisional lane per (cell, decay), or per pool
  // if it is alone; the general kinds: their arrays, cell runs as given.
  std::map<std::pair<uint32_t, double>, uint32_t> shared_lane;
  std::map<uint32_t, std::vector<uint32_t>> lanes_of_cell;
  std::vector<double> decay_of_lane;
  where_.reserve(pools.size());
  for (const Pool& pool : pools) {
    const SynapseStep& s = pool.step;
    pool_e_.push_back(pool.e_rev_mv);
    if (IsSingleExponential(s)) {
      auto it = shared_lane.find({pool.cell, s.d1});
      if (pool.alone || it == shared_lane.end()) {
        const auto lane = static_cast<uint32_t>(decay_of_lane.size());
        decay_of_lane.push_back(s.d1);
        lanes_of_cell[pool.cell].push_back(lane);
        if (!pool.alone)
          it = shared_lane.emplace(std::pair{pool.cell, s.d1}, lane).first;
        where_.push_back(kSingle | lane);
      } else {
        where_.push_back(kSingle | it->second);
      }
      continue;
    }
    const auto i = static_cast<uint32_t>(a_.size());
    where_.push_back(i);
    a_.push_back(0.0);
    b_.push_back(0.0);
    synon_.push_back(0.0);
    ca_.push_back(s.ca);
    cb_.push_back(s.cb);
    d1_.push_back(s.d1);
    d2_.push_back(s.d2);
    ka_.push_back(s.ka);
    kab_.push_back(s.kab);
    e_rev_.push_back(pool.e_rev_mv);
    if (runs_.empty() || runs_.back().cell != pool.cell)
      runs_.push_back({pool.cell, i, 0});
    runs_.back().end = i + 1;
  }
  g_.assign(a_.size(), 0.0);
  ge_.assign(a_.size(), 0.0);

  // Cells by lane count, most first (then by index), so that the cells
  // with a k-th lane are a prefix: slot k is lanes_of_cell's k-th entries.
  for (const auto& [cell, lanes] : lanes_of_cell) lane_cells_.push_back(cell);
  std::stable_sort(lane_cells_.begin(), lane_cells_.end(),
                   [&](uint32_t a, uint32_t b) {
                     return lanes_of_cell[a].size() > lanes_of_cell[b].size();
                   });
  lane_cells_contiguous_ = true;
  for (std::size_t j = 0; j < lane_cells_.size(); ++j)
    lane_cells_contiguous_ &= lane_cells_[j] == lane_cells_[0] + j;
  std::vector<uint32_t> final_lane(decay_of_lane.size());
  lane_d_.resize(decay_of_lane.size());
  uint32_t placed = 0;
  for (uint32_t k = 0;; ++k) {
    Slot slot{placed, 0};
    while (slot.cells < lane_cells_.size() &&
           lanes_of_cell[lane_cells_[slot.cells]].size() > k) {
      const uint32_t lane = lanes_of_cell[lane_cells_[slot.cells]][k];
      final_lane[lane] = slot.first + slot.cells;
      lane_d_[slot.first + slot.cells] = decay_of_lane[lane];
      ++slot.cells;
    }
    if (slot.cells == 0) break;
    slots_.push_back(slot);
    placed += slot.cells;
  }
  for (uint32_t& w : where_)
    if (w & kSingle) w = kSingle | final_lane[w & ~kSingle];
  lane_g_.assign(lane_d_.size(), 0.0);
  lane_ge_.assign(lane_d_.size(), 0.0);
  lane_cell_g_.assign(lane_cells_.size(), 0.0);
  lane_cell_ge_.assign(lane_cells_.size(), 0.0);
}

EventSynapseState SynapsePools::State(uint32_t p) const noexcept {
  const uint32_t i = where_[p] & ~kSingle;
  if (where_[p] & kSingle) return {lane_g_[i], 0.0, 0.0};
  return {a_[i], b_[i], synon_[i]};
}

void SynapsePools::SetState(uint32_t p, const EventSynapseState& s) noexcept {
  const uint32_t i = where_[p] & ~kSingle;
  if (where_[p] & kSingle) {  // b and synon stay 0 for this kind
    AddToLane(i, s.a - lane_g_[i], pool_e_[p]);
    return;
  }
  a_[i] = s.a;
  b_[i] = s.b;
  synon_[i] = s.synon;
}

double SynapsePools::Conductance(uint32_t p) const noexcept {
  const uint32_t i = where_[p] & ~kSingle;
  if (where_[p] & kSingle) return lane_g_[i];
  return ca_[i] * a_[i] + cb_[i] * b_[i];
}

// Pools [first, n): g, g E and the next state, one pool at a time.
void SynapsePools::StepScalar(std::size_t first) noexcept {
  for (std::size_t p = first; p < a_.size(); ++p) {
    const double x = a_[p], y = b_[p];
    const double gp = ca_[p] * x + cb_[p] * y;
    g_[p] = gp;
    ge_[p] = gp * e_rev_[p];
    a_[p] = d1_[p] * x + ka_[p] * synon_[p];
    b_[p] = d2_[p] * (y + kab_[p] * x);
  }
}

// Four pools to a vector; the rest (fewer than four) by StepScalar.
__attribute__((target("avx2,fma"))) void SynapsePools::StepAvx2() noexcept {
  const std::size_t n = a_.size() / 4 * 4;
  for (std::size_t p = 0; p < n; p += 4) {
    const __m256d x = _mm256_loadu_pd(&a_[p]), y = _mm256_loadu_pd(&b_[p]);
    const __m256d gp =
        _mm256_fmadd_pd(_mm256_loadu_pd(&ca_[p]), x,
                        _mm256_mul_pd(_mm256_loadu_pd(&cb_[p]), y));
    _mm256_storeu_pd(&g_[p], gp);
    _mm256_storeu_pd(&ge_[p], _mm256_mul_pd(gp, _mm256_loadu_pd(&e_rev_[p])));
    _mm256_storeu_pd(
        &a_[p], _mm256_fmadd_pd(_mm256_loadu_pd(&d1_[p]), x,
                                _mm256_mul_pd(_mm256_loadu_pd(&ka_[p]),
                                              _mm256_loadu_pd(&synon_[p]))));
    _mm256_storeu_pd(
        &b_[p],
        _mm256_mul_pd(_mm256_loadu_pd(&d2_[p]),
                      _mm256_fmadd_pd(_mm256_loadu_pd(&kab_[p]), x, y)));
  }
  StepScalar(n);
}

void SynapsePools::StepLanes(std::span<double> g_sum,
                             std::span<double> ge_sum) noexcept {
  if (slots_.empty()) return;
  if (lane_cells_contiguous_) {  // each slot adds straight into the cells
    double* g = &g_sum[lane_cells_[0]];
    double* ge = &ge_sum[lane_cells_[0]];
    for (const Slot& s : slots_)
      AddSlot(s.cells, &lane_g_[s.first], &lane_ge_[s.first], &lane_d_[s.first],
              g, ge);
    return;
  }
  std::fill(lane_cell_g_.begin(), lane_cell_g_.end(), 0.0);
  std::fill(lane_cell_ge_.begin(), lane_cell_ge_.end(), 0.0);
  for (const Slot& s : slots_)
    AddSlot(s.cells, &lane_g_[s.first], &lane_ge_[s.first], &lane_d_[s.first],
            lane_cell_g_.data(), lane_cell_ge_.data());
  for (std::size_t j = 0; j < lane_cells_.size(); ++j) {
    g_sum[lane_cells_[j]] += lane_cell_g_[j];
    ge_sum[lane_cells_[j]] += lane_cell_ge_[j];
  }
}

void SynapsePools::AddAndStep(std::span<double> g_sum,
                              std::span<double> ge_sum) noexcept {
  StepLanes(g_sum, ge_sum);
  if (avx2_) {
    StepAvx2();
  } else {
    StepScalar(0);
  }
  for (const Run& r : runs_) {
    double g = 0, ge = 0;
    for (uint32_t p = r.first; p < r.end; ++p) {
      g += g_[p];
      ge += ge_[p];
    }
    g_sum[r.cell] += g;
    ge_sum[r.cell] += ge;
  }
}

}  // namespace dynclamp::rt
