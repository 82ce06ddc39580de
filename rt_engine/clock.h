// Monotonic time in nanoseconds, and absolute-deadline sleeping, for the RT
// loop. clock_gettime(CLOCK_MONOTONIC) is served by the vDSO without a system
// call; clock_nanosleep is the one blocking call the RT thread makes.
//
// Threads: any; RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_CLOCK_H_
#define DYNCLAMP_RT_ENGINE_CLOCK_H_

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

// Sleeps until `deadline_ns - busy_wait_ns`, then spins until the deadline:
// the tail is spent awake so the wake-up does not depend on the scheduler.
inline void WaitUntilNs(int64_t deadline_ns, int64_t busy_wait_ns) noexcept {
  if (busy_wait_ns > 0) {
    const int64_t sleep_to = deadline_ns - busy_wait_ns;
    if (MonotonicNowNs() < sleep_to) SleepUntilNs(sleep_to);
    while (MonotonicNowNs() < deadline_ns) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  } else {
    SleepUntilNs(deadline_ns);
  }
}

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_CLOCK_H_
