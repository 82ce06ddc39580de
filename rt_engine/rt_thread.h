// Real-time settings for the calling thread: SCHED_FIFO priority, locked
// memory, CPU pinning, a prefaulted stack. Each request is tried; what could
// not be had (no privilege, a container) is reported plainly instead of
// failing, so the loop still runs and says how it runs.
//
// Threads: ApplyRtSettingsToThisThread() is called by the RT thread itself
// before its first cycle (it may allocate); not RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_RT_THREAD_H_
#define DYNCLAMP_RT_ENGINE_RT_THREAD_H_

#include <string>
#include <vector>

namespace dynclamp::rt {

struct RtSettingsRequest {
  bool realtime_priority = true;  // ask for SCHED_FIFO
  int priority = 80;              // 1..99
  bool lock_memory = true;        // mlockall(MCL_CURRENT | MCL_FUTURE)
  int cpu = -1;                   // pin to this CPU; -1 = leave as is
};

struct RtSettingsObtained {
  std::string policy = "SCHED_OTHER";  // what the thread runs under
  int priority = 0;
  bool memory_locked = false;
  int cpu = -1;                    // pinned CPU, or -1
  std::vector<std::string> notes;  // one line per request not granted
  std::string Summary() const;
};

RtSettingsObtained ApplyRtSettingsToThisThread(
    const RtSettingsRequest& request);

// Touches `bytes` of stack so the RT loop never page-faults on it.
void PrefaultStack(std::size_t bytes = 256 * 1024);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_RT_THREAD_H_
