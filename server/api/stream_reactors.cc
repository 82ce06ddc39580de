#include "server/api/stream_reactors.h"

#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/api/grpc_status.h"

namespace dynclamp::server {

namespace {

// One write in flight, finish exactly once. A subclass says what to send
// next (Produce) and lets go of what it holds when gRPC is done (Release);
// it calls PumpLocked whenever something may have become ready.
template <typename Message>
class OneWriteStream : public grpc::ServerWriteReactor<Message> {
 public:
  explicit OneWriteStream(std::unique_ptr<Instrument::StreamSlot> slot)
      : slot_(std::move(slot)) {}

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    if (!ok && !finish_) finish_ = grpc::Status::OK;  // the client went away
    PumpLocked();
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    if (!finish_) finish_ = grpc::Status::OK;
    PumpLocked();
  }
  void OnDone() override {
    Release();
    delete this;  // and with it the stream slot
  }

 protected:
  enum class Next { kWrite, kWait, kFinish };
  // With mu_ held and no write in flight: fills `out` (kWrite), or sets
  // `status` (kFinish), or has nothing yet (kWait).
  virtual Next Produce(Message& out, grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) = 0;
  virtual void Release() = 0;

  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || finished_) return;
    if (!finish_) {
      grpc::Status status;
      switch (Produce(out_, status)) {
        case Next::kWrite:
          writing_ = true;
          this->StartWrite(&out_);
          return;
        case Next::kWait:
          return;
        case Next::kFinish:
          finish_ = std::move(status);
          break;
      }
    }
    finished_ = true;
    this->Finish(*finish_);
  }

  absl::Mutex mu_;

 private:
  std::unique_ptr<Instrument::StreamSlot> slot_;
  Message out_ ABSL_GUARDED_BY(mu_);  // the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_ ABSL_GUARDED_BY(mu_);
};

class RunWatch final : public OneWriteStream<v1::Run>,
                       public Instrument::RunWatcher {
 public:
  RunWatch(Instrument& inst, std::unique_ptr<Instrument::StreamSlot> slot)
      : OneWriteStream(std::move(slot)), inst_(inst) {
    inst_.AddRunWatcher(this);
  }

  void OnRunChanged(const v1::Run& run, uint64_t version,
                    bool shutting_down) override {
    absl::MutexLock lock(&mu_);
    if (version > version_) {  // a write in flight: only the latest waits
      version_ = version;
      latest_ = run;
      have_latest_ = true;
    }
    last_ = last_ || shutting_down;
    PumpLocked();
  }

 private:
  Next Produce(v1::Run& out, grpc::Status& status) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (have_latest_) {
      out = std::move(latest_);
      have_latest_ = false;
      return Next::kWrite;
    }
    if (!last_) return Next::kWait;
    status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the daemon is shutting down");
    return Next::kFinish;
  }
  void Release() override { inst_.RemoveRunWatcher(this); }

  Instrument& inst_;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  v1::Run latest_ ABSL_GUARDED_BY(mu_);
  bool have_latest_ ABSL_GUARDED_BY(mu_) = false;
  bool last_ ABSL_GUARDED_BY(mu_) = false;
};

class ChunkStream final : public OneWriteStream<v1::Chunk> {
 public:
  ChunkStream(Instrument& inst, std::unique_ptr<Instrument::StreamSlot> slot,
              std::shared_ptr<Subscription> sub)
      : OneWriteStream(std::move(slot)), inst_(inst), sub_(std::move(sub)) {
    for (const auto& s : sub_->signals()) header_.add_signals(s);
    for (const auto& u : sub_->units()) header_.add_units(u);
    header_.set_sample_period_ns(inst_.GetRig().period_ns() *
                                 sub_->decimation());
    sub_->SetWaker([this] {
      absl::MutexLock lock(&mu_);
      PumpLocked();
    });
    // The header goes first (Produce), before any sample flows; what was
    // queued or closed before the waker was set is seen when it is done.
    absl::MutexLock lock(&mu_);
    PumpLocked();
  }

 private:
  Next Produce(v1::Chunk& out, grpc::Status& status) override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!header_sent_) {
      header_sent_ = true;
      out = header_;
      return Next::kWrite;
    }
    switch (sub_->Pop(chunk_)) {
      case Subscription::PopResult::kEmpty:
        return Next::kWait;
      case Subscription::PopResult::kClosed:
        status = ToGrpcStatus(sub_->close_status());
        return Next::kFinish;
      case Subscription::PopResult::kChunk:
        break;
    }
    out.Clear();
    out.set_first_sample_index(chunk_.first_index);
    out.set_sample_period_ns(chunk_.sample_period_ns);
    out.set_first_sample_monotonic_ns(chunk_.first_monotonic_ns);
    out.set_num_samples(chunk_.num_samples);
    out.mutable_values()->Assign(chunk_.values.begin(), chunk_.values.end());
    out.set_samples_lost(chunk_.samples_lost);
    out.set_cycles_skipped(chunk_.cycles_skipped);
    out.mutable_skipped_samples()->Assign(chunk_.skipped_samples.begin(),
                                          chunk_.skipped_samples.end());
    out.mutable_overrun_samples()->Assign(chunk_.overrun_samples.begin(),
                                          chunk_.overrun_samples.end());
    out.mutable_clipped_samples()->Assign(chunk_.clipped_samples.begin(),
                                          chunk_.clipped_samples.end());
    return Next::kWrite;
  }
  void Release() override {
    sub_->SetWaker(nullptr);  // waits for a wake in progress
    inst_.Unsubscribe(sub_);
  }

  Instrument& inst_;
  const std::shared_ptr<Subscription> sub_;
  v1::Chunk header_;
  bool header_sent_ ABSL_GUARDED_BY(mu_) = false;
  ChunkData chunk_ ABSL_GUARDED_BY(mu_);  // scratch
};

template <typename Message>
class Finished final : public grpc::ServerWriteReactor<Message> {
 public:
  explicit Finished(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

template <typename Message>
grpc::ServerWriteReactor<Message>* FinishedStream(grpc::Status status) {
  return new Finished<Message>(std::move(status));
}
template grpc::ServerWriteReactor<v1::Run>* FinishedStream<v1::Run>(
    grpc::Status);
template grpc::ServerWriteReactor<v1::Chunk>* FinishedStream<v1::Chunk>(
    grpc::Status);

grpc::ServerWriteReactor<v1::Run>* StartRunWatch(
    Instrument& inst, std::unique_ptr<Instrument::StreamSlot> slot) {
  return new RunWatch(inst, std::move(slot));
}

grpc::ServerWriteReactor<v1::Chunk>* StartSubscription(
    Instrument& inst, std::unique_ptr<Instrument::StreamSlot> slot,
    std::shared_ptr<Subscription> sub) {
  return new ChunkStream(inst, std::move(slot), std::move(sub));
}

}  // namespace dynclamp::server
