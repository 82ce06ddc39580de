// What the CPU this process runs on can do, for kernels that pick a vector
// or a scalar path once when they are built.
//
// Threads: any (reads CPUID; meant for non-RT setup).
#ifndef DYNCLAMP_RT_ENGINE_BASE_CPU_FEATURES_H_
#define DYNCLAMP_RT_ENGINE_BASE_CPU_FEATURES_H_

namespace dynclamp::rt {

// AVX2 and FMA: what the engine's vector kernels are built for.
inline bool CpuHasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_CPU_FEATURES_H_
