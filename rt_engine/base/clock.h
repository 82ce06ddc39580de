// Monotonic time in nanoseconds, and absolute-deadline sleeping, for the RT
// loop. clock_gettime(CLOCK_MONOTONIC) is served by the vDSO without a system
// call; clock_nanosleep is the one blocking call the RT thread makes.
//
// Threads: any; RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_BASE_CLOCK_H_
#define DYNCLAMP_RT_ENGINE_BASE_CLOCK_H_

#include <time.h>

#include <cerrno>
#include <cstdint>

namespace dynclamp::rt {

inline int64_t MonotonicNowNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Sleeps until the absolute CLOCK_MONOTONIC time `deadline_ns`; restarts
// after signals.
inline void SleepUntilNs(int64_t deadline_ns) noexcept {
  timespec ts;
  ts.tv_sec = deadline_ns / 1'000'000'000;
  ts.tv_nsec = deadline_ns % 1'000'000'000;
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) ==
         EINTR) {
  }
}

// Spins until `deadline_ns`: awake, so the wake-up does not wait for the
// scheduler.
inline void SpinUntilNs(int64_t deadline_ns) noexcept {
  while (MonotonicNowNs() < deadline_ns) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

// CPU time this thread has used. A system call (not the vDSO): for a
// sample now and then, not every cycle.
inline int64_t ThreadCpuNs() noexcept {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_CLOCK_H_
