// Real-time settings for the calling thread: SCHED_FIFO priority, locked
// memory, CPU pinning, a prefaulted stack. Each request is tried; what could
// not be had (no privilege, a container) is reported plainly instead of
// failing, so the loop still runs and says how it runs.
//
// The loop's CPU is reserved by the process before it starts any thread
// (ReserveRtCpu), so no other thread of the process runs there. The RT
// thread does not pin itself where another process's real-time thread may
// run, and checks that none of its own process's may before it spins.
//
// Threads: ApplyRtSettingsToThisThread() is called by the RT thread itself
// before its first cycle (it may allocate); ReserveRtCpu() by main() before
// any other thread exists. None is RT-safe.
#ifndef DYNCLAMP_RT_ENGINE_LOOP_RT_THREAD_H_
#define DYNCLAMP_RT_ENGINE_LOOP_RT_THREAD_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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
  std::string wake;                // the wake strategy in force (wake.h)
  std::string wake_reason;         // why, in one line
  std::string Summary() const;
};

RtSettingsObtained ApplyRtSettingsToThisThread(
    const RtSettingsRequest& request);

struct CpuReservation {
  int cpu = -1;      // the RT thread's CPU, or -1: not pinned
  std::string note;  // why none was reserved, when that was asked or chosen
};
// `choice`: "auto" (the last CPU this process may run on, when it may run on
// two or more), "none", or a CPU number. Restricts the calling thread, and
// so every thread it creates afterwards, to the other CPUs. InvalidArgument
// names `flag` for a choice that is not a CPU this process may use.
absl::StatusOr<CpuReservation> ReserveRtCpu(absl::string_view choice,
                                            absl::string_view flag = "cpu");

// This process's threads, besides the calling one, that may be scheduled on
// `cpu`; one short description each ("thread 123 (grpc_global_tim)").
std::vector<std::string> OwnThreadsThatMayRunOn(int cpu);
// Other processes' real-time (FIFO, RR, DEADLINE) user threads that may be
// scheduled on `cpu`; kernel threads are not counted.
std::vector<std::string> OtherRealtimeThreadsOn(int cpu);

// Touches `bytes` of stack so the RT loop never page-faults on it.
void PrefaultStack(std::size_t bytes = 256 * 1024);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_LOOP_RT_THREAD_H_
