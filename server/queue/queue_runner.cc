#include "server/queue/queue_runner.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace dynclamp::server {

namespace {
std::string StoreError(const absl::Status& s) {
  return absl::StrCat("the queue's database cannot be written (", s.message(),
                      ")");
}
}  // namespace
namespace {

bool Ended(v1::RunState s) {
  return s == v1::COMPLETED || s == v1::FAILED || s == v1::STOPPED ||
         s == v1::ABORTED;
}

}  // namespace

QueueRunner::QueueRunner(Instrument& instrument, QueueStore& store,
                         QueueOptions options)
    : instrument_(instrument), store_(store), options_(options) {
  if (options_.resume_on_start) state_ = v1::QueueStatus::RUNNING;
  thread_ = std::thread(&QueueRunner::Loop, this);
}

QueueRunner::~QueueRunner() { Shutdown(); }

void QueueRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
  }
  instrument_.Shutdown();  // ends a running item (recorded as interrupted)
  if (thread_.joinable()) thread_.join();
  RecordPending();  // a last try; else the next start calls it interrupted
}

void QueueRunner::Notify() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

v1::QueueStatus QueueRunner::StatusLocked() {
  v1::QueueStatus s;
  s.set_state(state_);
  s.set_current_item(current_item_);
  s.set_current_name(current_name_);
  if (current_item_ != 0) *s.mutable_run() = instrument_.GetRun();
  s.set_items_waiting(static_cast<uint32_t>(store_.size()));
  s.set_stop_on_failure(options_.stop_on_failure);
  s.set_error(store_error_);
  return s;
}

v1::QueueStatus QueueRunner::Status() {
  absl::MutexLock lock(&mu_);
  return StatusLocked();
}

absl::StatusOr<v1::QueueStatus> QueueRunner::Start() {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return absl::UnavailableError("shutting down");
  if (state_ == v1::QueueStatus::PAUSED) {
    return absl::FailedPreconditionError(
        "queue: the current item is paused; resume it");
  }
  state_ = v1::QueueStatus::RUNNING;
  wake_ = true;
  return StatusLocked();
}

absl::StatusOr<v1::QueueStatus> QueueRunner::Stop() {
  absl::MutexLock lock(&mu_);
  state_ =
      current_item_ != 0 ? v1::QueueStatus::STOPPING : v1::QueueStatus::STOPPED;
  return StatusLocked();
}

absl::StatusOr<v1::QueueStatus> QueueRunner::Pause(bool immediately) {
  absl::MutexLock lock(&mu_);
  if (current_item_ == 0)
    return absl::FailedPreconditionError("queue: no item is running");
  if (auto r = instrument_.PauseRun(immediately); !r.ok()) return r.status();
  state_ = v1::QueueStatus::PAUSED;
  return StatusLocked();
}

absl::StatusOr<v1::QueueStatus> QueueRunner::Resume() {
  absl::MutexLock lock(&mu_);
  if (state_ != v1::QueueStatus::PAUSED)
    return absl::FailedPreconditionError("queue: not paused");
  if (auto r = instrument_.ResumeRun(); !r.ok()) return r.status();
  state_ = v1::QueueStatus::RUNNING;
  return StatusLocked();
}

absl::StatusOr<v1::QueueStatus> QueueRunner::AbortCurrent() {
  absl::MutexLock lock(&mu_);
  if (current_item_ == 0)
    return absl::FailedPreconditionError("queue: no item is running");
  abort_requested_ = true;
  if (auto r = instrument_.AbortRun(); !r.ok()) return r.status();
  if (state_ == v1::QueueStatus::PAUSED) state_ = v1::QueueStatus::RUNNING;
  return StatusLocked();
}

void QueueRunner::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shutting_down_ || wake_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200));
      wake_ = false;
      if (shutting_down_) return;
      if (state_ != v1::QueueStatus::RUNNING) continue;
    }
    // The last item's result first: nothing starts until it is kept.
    if (!RecordPending()) {
      absl::SleepFor(absl::Seconds(1));
      continue;
    }
    // The rig must be free (someone may be running a protocol by hand).
    const v1::RunState now = instrument_.GetRun().state();
    if (now == v1::RUNNING || now == v1::FAULT) continue;
    absl::StatusOr<std::optional<v1::QueueItem>> next =
        store_.TakeNext(absl::ToUnixNanos(absl::Now()));
    {
      absl::MutexLock lock(&mu_);
      store_error_ = next.ok() ? "" : StoreError(next.status());
    }
    if (!next.ok()) absl::SleepFor(absl::Seconds(1));
    if (!next.ok() || !next->has_value()) continue;
    RunItem(**next);
  }
}

void QueueRunner::RunItem(const v1::QueueItem& item) {
  {
    absl::MutexLock lock(&mu_);
    current_item_ = item.id();
    current_name_ = item.name();
    abort_requested_ = false;
  }
  v1::HistoryEntry entry;
  entry.set_item_id(item.id());
  entry.set_name(item.name());
  // Items queued before specs were fixed at add run with none, as every
  // item without a spec does.
  v1::RunProtocolRequest run = item.run();
  if (!run.has_spec()) run.mutable_spec();
  absl::StatusOr<v1::Run> started = instrument_.RunProtocol(run);
  if (!started.ok()) {
    entry.set_status(v1::FAILED_ITEM);
    entry.set_error(std::string(started.status().message()));
  } else {
    store_
        .NoteRun(started->run_id(), started->nwb_path(),
                 started->sweeps_total())
        .IgnoreError();
    uint64_t seen = 0;
    v1::Run run = *started;
    while (!(run.run_id() == started->run_id() && Ended(run.state()))) {
      std::tie(run, seen) =
          instrument_.WaitRunChange(seen, absl::Milliseconds(500));
      if (run.run_id() != started->run_id()) break;  // replaced: ended
    }
    entry.set_run_id(run.run_id());
    entry.set_nwb_path(run.nwb_path());
    entry.set_sweeps_completed(run.sweeps_completed());
    entry.set_sweeps_total(run.sweeps_total());
    entry.set_error(run.error());
    absl::MutexLock lock(&mu_);
    switch (run.state()) {
      case v1::COMPLETED:
        entry.set_status(v1::COMPLETED_ITEM);
        break;
      case v1::FAILED:
        entry.set_status(v1::FAILED_ITEM);
        break;
      case v1::STOPPED:
        entry.set_status(v1::STOPPED_ITEM);
        break;
      default:
        if (shutting_down_ && !abort_requested_) {
          entry.set_status(v1::INTERRUPTED_ITEM);
          entry.set_error("the daemon was shut down while the item ran");
        } else {
          entry.set_status(v1::ABORTED_ITEM);
        }
    }
  }
  entry.set_ended_unix_ns(absl::ToUnixNanos(absl::Now()));
  {
    absl::MutexLock lock(&mu_);
    unrecorded_ = entry;
  }
  RecordPending();
  absl::MutexLock lock(&mu_);
  current_item_ = 0;
  current_name_.clear();
  if (state_ == v1::QueueStatus::STOPPING || state_ == v1::QueueStatus::PAUSED)
    state_ = v1::QueueStatus::STOPPED;
  if (entry.status() == v1::FAILED_ITEM && options_.stop_on_failure)
    state_ = v1::QueueStatus::STOPPED;
}

bool QueueRunner::RecordPending() {
  absl::MutexLock lock(&mu_);
  if (!unrecorded_.has_value()) return true;
  // The store is only written from this thread and Shutdown(); holding mu_
  // for a write keeps the entry from being recorded twice.
  if (absl::StatusOr<v1::HistoryEntry> s = store_.Finish(*unrecorded_);
      !s.ok()) {
    store_error_ =
        absl::StrCat(StoreError(s.status()), "; item ", unrecorded_->item_id(),
                     "'s result is kept until it can be written");
    return false;
  }
  unrecorded_.reset();
  store_error_.clear();
  return true;
}

}  // namespace dynclamp::server
