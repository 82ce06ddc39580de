// QueueRunner: plays the queue's items one after another on the instrument
// (each a protocol run, recorded), and writes each one's outcome to the
// history: COMPLETED, FAILED (with its error), STOPPED, ABORTED, or
// INTERRUPTED (the daemon went down while it ran).
//
// States: STOPPED (waiting for Start), RUNNING (takes the next item whenever
// the rig is free; an empty queue waits for items), STOPPING (stops after
// the current item), PAUSED (the current item is paused). A failed item
// stops the queue if stop_on_failure, otherwise the queue goes on. After a
// restart the queue waits for Start unless resume_on_start.
//
// Threads: non-RT; public methods thread-safe; one thread of its own.
#ifndef DYNCLAMP_SERVER_QUEUE_QUEUE_RUNNER_H_
#define DYNCLAMP_SERVER_QUEUE_QUEUE_RUNNER_H_

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dynclamp/v1/queue.pb.h"
#include "server/instrument/instrument.h"
#include "server/queue/queue_store.h"

namespace dynclamp::server {

struct QueueOptions {
  bool stop_on_failure = false;
  bool resume_on_start = false;
};

class QueueRunner {
 public:
  QueueRunner(Instrument& instrument, QueueStore& store, QueueOptions options);
  ~QueueRunner();  // Shutdown()

  absl::StatusOr<v1::QueueStatus> Start() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueStatus> Stop() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueStatus> Pause(bool immediately)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueStatus> Resume() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::QueueStatus> AbortCurrent() ABSL_LOCKS_EXCLUDED(mu_);
  v1::QueueStatus Status() ABSL_LOCKS_EXCLUDED(mu_);
  // Wakes the runner (an item was added).
  void Notify() ABSL_LOCKS_EXCLUDED(mu_);
  // Ends the current item as INTERRUPTED by shutting the instrument down,
  // and joins the thread. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Loop();
  void RunItem(const v1::QueueItem& item) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes unrecorded_ if there is one; false while the store refuses.
  bool RecordPending() ABSL_LOCKS_EXCLUDED(mu_);
  v1::QueueStatus StatusLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Instrument& instrument_;
  QueueStore& store_;
  const QueueOptions options_;

  absl::Mutex mu_;
  v1::QueueStatus::State state_ ABSL_GUARDED_BY(mu_) = v1::QueueStatus::STOPPED;
  uint64_t current_item_ ABSL_GUARDED_BY(mu_) = 0;
  std::string current_name_ ABSL_GUARDED_BY(mu_);
  bool abort_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  // A finished item whose history entry could not be written yet, and why
  // the store refused (QueueStatus.error).
  std::optional<v1::HistoryEntry> unrecorded_ ABSL_GUARDED_BY(mu_);
  std::string store_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_QUEUE_QUEUE_RUNNER_H_
