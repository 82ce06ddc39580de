#include "rt_engine/loop/rt_thread.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace dynclamp::rt {

std::string RtSettingsObtained::Summary() const {
  std::string s =
      absl::StrCat("policy=", policy, " priority=", priority,
                   " memory_locked=", memory_locked ? "yes" : "no",
                   " cpu=", cpu < 0 ? std::string("any") : absl::StrCat(cpu),
                   wake.empty() ? "" : " wake=", wake);
  if (!notes.empty())
    absl::StrAppend(&s, " (", absl::StrJoin(notes, "; "), ")");
  return s;
}

RtSettingsObtained ApplyRtSettingsToThisThread(const RtSettingsRequest& req) {
  RtSettingsObtained got;
  // Another process's real-time thread on that CPU (another clamp loop,
  // say) would starve this one or be starved by it: leave the scheduler
  // free to place the loop instead.
  const std::vector<std::string> rivals = OtherRealtimeThreadsOn(req.cpu);
  if (req.cpu >= 0 && !rivals.empty()) {
    got.notes.push_back(
        absl::StrCat("not pinned to CPU ", req.cpu, ": ", rivals.front(),
                     rivals.size() > 1 ? " and others" : "", " may run there"));
    cpu_set_t any;
    CPU_ZERO(&any);
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    for (long c = 0; c < online && c < CPU_SETSIZE; ++c) CPU_SET(c, &any);
    pthread_setaffinity_np(pthread_self(), sizeof any, &any);
  } else if (req.cpu >= 0) {
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

namespace {

std::vector<int> NumericEntries(const std::string& dir) {
  std::vector<int> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int n = 0;
    if (absl::SimpleAtoi(e->d_name, &n)) out.push_back(n);
  }
  closedir(d);
  return out;
}

bool AllowedOn(pid_t tid, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(tid, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

struct TaskStat {
  std::string comm;
  bool kernel = false;
  bool realtime = false;
};

// /proc/PID/task/TID/stat: "tid (comm) state ... flags(9) ... policy(41)";
// comm may hold spaces and parentheses, so fields count from the last ')'.
bool ReadTaskStat(int pid, int tid, TaskStat& out) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/task/", tid, "/stat"));
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const std::size_t open = s.find('('), close = s.rfind(')');
  if (open == std::string::npos || close == std::string::npos) return false;
  out.comm = s.substr(open + 1, close - open - 1);
  const std::vector<std::string> f =
      absl::StrSplit(s.substr(close + 1), ' ', absl::SkipEmpty());
  // f[0] is field 3 (state): field n is f[n - 3].
  unsigned long flags = 0;
  int policy = 0;
  if (f.size() < 39 || !absl::SimpleAtoi(f[6], &flags) ||
      !absl::SimpleAtoi(f[38], &policy)) {
    return false;
  }
  constexpr unsigned long kPfKthread = 0x00200000;
  out.kernel = (flags & kPfKthread) != 0;
  out.realtime = policy == SCHED_FIFO || policy == SCHED_RR || policy == 6;
  return true;
}

}  // namespace

absl::StatusOr<CpuReservation> ReserveRtCpu(absl::string_view choice,
                                            absl::string_view flag) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
    return absl::InternalError(absl::StrCat(
        "--", flag,
        ": cannot read this process's CPUs: ", std::strerror(errno)));
  }
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  }
  CpuReservation r;
  if (choice == "none") return r;
  if (choice == "auto") {
    if (cpus.size() < 2) {
      r.note = "one CPU only: the loop shares it and does not spin";
      return r;
    }
    r.cpu = cpus.back();
  } else {
    // A CPU outside this process's mask is still the loop's to take (the
    // mask is inherited, e.g. from taskset); it must exist.
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (!absl::SimpleAtoi(choice, &r.cpu) || r.cpu < 0 || r.cpu >= online ||
        r.cpu >= CPU_SETSIZE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--", flag, ": '", choice.substr(0, 40),
          "' is not auto, none or a CPU number (0 to ", online - 1, ")"));
    }
    if (!CPU_ISSET(r.cpu, &allowed)) return r;  // the others are off it
  }
  if (cpus.size() < 2) {
    r.note = absl::StrCat("CPU ", r.cpu,
                          " is the only one: the other threads share it");
    return r;
  }
  CPU_CLR(r.cpu, &allowed);
  if (sched_setaffinity(0, sizeof allowed, &allowed) != 0) {
    return absl::InternalError(
        absl::StrCat("--", flag, ": cannot keep the other threads off CPU ",
                     r.cpu, ": ", std::strerror(errno)));
  }
  return r;
}

std::vector<std::string> OwnThreadsThatMayRunOn(int cpu) {
  std::vector<std::string> out;
  if (cpu < 0 || cpu >= CPU_SETSIZE) return out;
  const pid_t self_pid = getpid();
  const pid_t self_tid = gettid();
  for (int tid : NumericEntries(absl::StrCat("/proc/", self_pid, "/task"))) {
    if (tid == self_tid || !AllowedOn(tid, cpu)) continue;
    TaskStat st;
    ReadTaskStat(self_pid, tid, st);
    out.push_back(absl::StrCat("thread ", tid, " (", st.comm, ")"));
  }
  return out;
}

std::vector<std::string> OtherRealtimeThreadsOn(int cpu) {
  std::vector<std::string> out;
  if (cpu < 0 || cpu >= CPU_SETSIZE) return out;
  const pid_t self_pid = getpid();
  for (int pid : NumericEntries("/proc")) {
    if (pid == self_pid) continue;
    for (int tid : NumericEntries(absl::StrCat("/proc/", pid, "/task"))) {
      TaskStat st;
      if (!ReadTaskStat(pid, tid, st) || st.kernel || !st.realtime) continue;
      if (!AllowedOn(tid, cpu)) continue;
      out.push_back(absl::StrCat("real-time thread ", tid, " (", st.comm,
                                 ") of process ", pid));
    }
  }
  return out;
}

void PrefaultStack(std::size_t bytes) {
  // volatile keeps the compiler from eliding the writes.
  volatile unsigned char* buf =
      static_cast<volatile unsigned char*>(alloca(bytes));
  for (std::size_t i = 0; i < bytes; i += 4096) buf[i] = 0;
}

}  // namespace dynclamp::rt
