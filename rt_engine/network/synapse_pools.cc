#include "rt_engine/network/synapse_pools.h"

#include <immintrin.h>

namespace dynclamp::rt {

SynapsePools::SynapsePools(const std::vector<Pool>& pools) {
  __builtin_cpu_init();
  avx2_ = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  const std::size_t n = pools.size();
  for (std::vector<double>* v : {&a_, &b_, &synon_, &ca_, &cb_, &d1_, &d2_,
                                 &ka_, &kab_, &e_rev_, &g_, &ge_})
    v->assign(n, 0.0);
  for (std::size_t p = 0; p < n; ++p) {
    const SynapseStep& s = pools[p].step;
    ca_[p] = s.ca;
    cb_[p] = s.cb;
    d1_[p] = s.d1;
    d2_[p] = s.d2;
    ka_[p] = s.ka;
    kab_[p] = s.kab;
    e_rev_[p] = pools[p].e_rev_mv;
    const uint32_t cell = pools[p].cell;
    if (runs_.empty() || runs_.back().cell != cell)
      runs_.push_back({cell, static_cast<uint32_t>(p), 0});
    runs_.back().end = static_cast<uint32_t>(p + 1);
  }
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
