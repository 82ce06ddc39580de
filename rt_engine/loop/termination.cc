#include "rt_engine/loop/termination.h"

#include <pthread.h>
#include <signal.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace dynclamp::rt {

absl::StatusOr<std::unique_ptr<TerminationWatcher>> TerminationWatcher::Install(
    std::function<void(int)> on_signal) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR2);  // used only to wake the watcher on destruction
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot block termination signals: ", std::strerror(rc)));
  }
  auto watcher = std::unique_ptr<TerminationWatcher>(new TerminationWatcher());
  TerminationWatcher* self = watcher.get();
  watcher->thread_ = std::thread([self, set, on_signal = std::move(on_signal)] {
    int signo = 0;
    while (true) {
      if (sigwait(&set, &signo) != 0) continue;
      if (signo == SIGUSR2) {
        if (self->closing_.load()) return;
        continue;
      }
      break;
    }
    self->received_.store(signo);
    if (on_signal) on_signal(signo);
  });
  return watcher;
}

TerminationWatcher::~TerminationWatcher() {
  closing_.store(true);
  if (thread_.joinable()) {
    if (received_.load() == 0) pthread_kill(thread_.native_handle(), SIGUSR2);
    thread_.join();
  }
}

}  // namespace dynclamp::rt
