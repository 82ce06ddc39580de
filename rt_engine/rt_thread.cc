#include "rt_engine/rt_thread.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace dynclamp::rt {

std::string RtSettingsObtained::Summary() const {
  std::string s =
      absl::StrCat("policy=", policy, " priority=", priority,
                   " memory_locked=", memory_locked ? "yes" : "no",
                   " cpu=", cpu < 0 ? std::string("any") : absl::StrCat(cpu));
  if (!notes.empty())
    absl::StrAppend(&s, " (", absl::StrJoin(notes, "; "), ")");
  return s;
}

RtSettingsObtained ApplyRtSettingsToThisThread(const RtSettingsRequest& req) {
  RtSettingsObtained got;
  if (req.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(req.cpu, &set);
    const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (rc == 0) {
      got.cpu = req.cpu;
    } else {
      got.notes.push_back(absl::StrCat("could not pin to CPU ", req.cpu, ": ",
                                       std::strerror(rc)));
    }
  }
  if (req.lock_memory) {
    if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0) {
      got.memory_locked = true;
    } else {
      got.notes.push_back(
          absl::StrCat("memory not locked: ", std::strerror(errno),
                       " (raise LimitMEMLOCK or run with CAP_IPC_LOCK)"));
    }
  }
  if (req.realtime_priority) {
    sched_param sp{};
    sp.sched_priority = req.priority;
    const int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
    if (rc != 0) {
      got.notes.push_back(absl::StrCat(
          "SCHED_FIFO ", req.priority, " refused: ", std::strerror(rc),
          " (raise LimitRTPRIO or run with CAP_SYS_NICE)"));
    }
  }
  // Without SCHED_FIFO the kernel may defer wake-ups by the timer slack
  // (50 us by default); ask for none. (Real-time threads have none anyway.)
  if (prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0) != 0) {
    got.notes.push_back(
        absl::StrCat("timer slack unchanged: ", std::strerror(errno)));
  }
  int policy = 0;
  sched_param sp{};
  if (pthread_getschedparam(pthread_self(), &policy, &sp) == 0) {
    got.policy = policy == SCHED_FIFO    ? "SCHED_FIFO"
                 : policy == SCHED_RR    ? "SCHED_RR"
                 : policy == SCHED_OTHER ? "SCHED_OTHER"
                                         : absl::StrCat("policy ", policy);
    got.priority = sp.sched_priority;
  }
  return got;
}

void PrefaultStack(std::size_t bytes) {
  // volatile keeps the compiler from eliding the writes.
  volatile unsigned char* buf =
      static_cast<volatile unsigned char*>(alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 4096) buf[i] = 0;
}

}  // namespace dynclamp::rt
