#include "rt_engine/network/synapse_pools.h"

#include <immintrin.h>

#include "rt_engine/cpu_features.h"

namespace dynclamp::rt {

SynapsePools::SynapsePools(const std::vector<Pool>& pools, bool vectorize) {
  avx2_ = vectorize && CpuHasAvx2Fma();
  auto add_run = [](std::vector<Run>& runs, uint32_t cell, uint32_t index) {
    if (runs.empty() || runs.back().cell != cell)
      runs.push_back({cell, index, 0});
    runs.back().end = index + 1;
  };
  where_.reserve(pools.size());
  for (const Pool& pool : pools) {
    const SynapseStep& s = pool.step;
    if (IsSingleExponential(s)) {
      const auto i = static_cast<uint32_t>(exp_a_.size());
      where_.push_back(kSingle | i);
      exp_a_.push_back(0.0);
      exp_d_.push_back(s.d1);
      exp_e_.push_back(pool.e_rev_mv);
      add_run(exp_runs_, pool.cell, i);
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
    add_run(runs_, pool.cell, i);
  }
  g_.assign(a_.size(), 0.0);
  ge_.assign(a_.size(), 0.0);
}

EventSynapseState SynapsePools::State(uint32_t p) const noexcept {
  const uint32_t i = where_[p] & ~kSingle;
  if (where_[p] & kSingle) return {exp_a_[i], 0.0, 0.0};
  return {a_[i], b_[i], synon_[i]};
}

void SynapsePools::SetState(uint32_t p, const EventSynapseState& s) noexcept {
  const uint32_t i = where_[p] & ~kSingle;
  if (where_[p] & kSingle) {
    exp_a_[i] = s.a;  // b and synon stay 0 for this kind
    return;
  }
  a_[i] = s.a;
  b_[i] = s.b;
  synon_[i] = s.synon;
}

double SynapsePools::Conductance(uint32_t p) const noexcept {
  const uint32_t i = where_[p] & ~kSingle;
  if (where_[p] & kSingle) return exp_a_[i];
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

void SynapsePools::AddAndStep(std::span<double> g_sum,
                              std::span<double> ge_sum) noexcept {
  // Single exponentials (most synapses): three numbers a pool, summed and
  // stepped in one pass.
  for (const Run& r : exp_runs_) {
    double g = 0, ge = 0;
    for (uint32_t i = r.first; i < r.end; ++i) {
      const double x = exp_a_[i];
      g += x;
      ge += x * exp_e_[i];
      exp_a_[i] = x * exp_d_[i];
    }
    g_sum[r.cell] += g;
    ge_sum[r.cell] += ge;
  }
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
