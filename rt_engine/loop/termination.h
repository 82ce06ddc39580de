// TerminationWatcher: turns SIGTERM and SIGINT into an orderly stop.
//
// Install() blocks SIGTERM and SIGINT in the calling thread (call it first in
// main(), before other threads exist, so they inherit the mask) and starts a
// watcher thread that waits for them with sigwait() and then runs the
// callback on that ordinary thread: there it may stop the loop (which zeroes
// the outputs), flush files and log, none of which is safe in a signal
// handler.
//
// Threads: non-RT. The callback runs on the watcher thread, once.
#ifndef DYNCLAMP_RT_ENGINE_LOOP_TERMINATION_H_
#define DYNCLAMP_RT_ENGINE_LOOP_TERMINATION_H_

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"

namespace dynclamp::rt {

class TerminationWatcher {
 public:
  static absl::StatusOr<std::unique_ptr<TerminationWatcher>> Install(
      std::function<void(int signo)> on_signal);
  ~TerminationWatcher();  // stops watching (wakes the thread with SIGUSR2)
  TerminationWatcher(const TerminationWatcher&) = delete;
  TerminationWatcher& operator=(const TerminationWatcher&) = delete;

  // The signal received, or 0.
  int received() const noexcept { return received_.load(); }

 private:
  TerminationWatcher() = default;
  std::thread thread_;
  std::atomic<int> received_{0};
  std::atomic<bool> closing_{false};
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_LOOP_TERMINATION_H_
