// SignalFanout: the drain thread. It is the only consumer of the engine's
// frame ring; it fans frames out to subscribers, each with its own bounded
// queue of chunks, decimation and loss counter. A subscriber that does not
// keep up loses its own chunks (counted) and never slows the loop, the drain
// or the other subscribers. Other consumers of every frame (the recorder)
// attach as FrameSinks.
//
// Threads: Start()/Stop()/Subscribe()/Unsubscribe()/AddSink() are non-RT and
// thread-safe. The drain thread calls the sinks. A Subscription is read by
// one consumer at a time (a gRPC stream reactor), which its waker tells
// when there is something to read: nobody polls.
#ifndef DYNCLAMP_SERVER_INSTRUMENT_SIGNAL_FANOUT_H_
#define DYNCLAMP_SERVER_INSTRUMENT_SIGNAL_FANOUT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rt_engine/loop/clamp_engine.h"

namespace dynclamp::server {

// A run of consecutive (decimated) samples of a subscription's signals.
struct ChunkData {
  uint64_t first_index = 0;  // schedule slot (cycle) of the first sample
  int64_t first_monotonic_ns = 0;
  int64_t sample_period_ns = 0;
  uint32_t num_samples = 0;
  std::vector<double> values;  // sample-major
  uint64_t samples_lost = 0;   // this subscriber's total so far
  // Slots the loop skipped (overruns) since the subscription began, and
  // the samples of this chunk that are such slots (NaN): not lost.
  uint64_t cycles_skipped = 0;
  std::vector<uint32_t> skipped_samples;
  // Samples whose cycle (or a cycle decimation left out since the sample
  // before) came after an overrun, or clipped an output.
  std::vector<uint32_t> overrun_samples;
  std::vector<uint32_t> clipped_samples;
};

// What one subscription may take (ServiceLimits): at most `max_signals`
// distinct signals (duplicates collapse), chunks of at most kMaxChunkBytes,
// and chunks waiting to be sent of at most `queue_bytes` for it and
// `total_bytes` for every subscription together. Over the last two it
// loses samples, counted; nobody else notices.
struct StreamBudget {
  std::size_t max_signals = 1024;
  std::size_t queue_bytes = 32 << 20;
  std::size_t total_bytes = 256 << 20;
};
// A chunk's values stay well under gRPC's default 4 MB message limit.
inline constexpr std::size_t kMaxChunkBytes = 1 << 20;

class Subscription {
 public:
  enum class PopResult { kChunk, kEmpty, kClosed };

  uint64_t id() const { return id_; }  // unique within the daemon
  const std::vector<std::string>& signals() const { return signals_; }
  const std::vector<std::string>& units() const { return units_; }
  uint32_t decimation() const { return decimation_; }
  uint32_t samples_per_chunk() const { return samples_per_chunk_; }
  // Bytes of chunks waiting to be sent now.
  std::size_t queued_bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  ~Subscription();

  // Consumer: takes the next chunk if one waits; never blocks.
  PopResult Pop(ChunkData& out) ABSL_LOCKS_EXCLUDED(mu_);
  // `waker` is called after a chunk is queued and when the subscription
  // closes, on the thread that did it (the drain thread, or the one
  // closing), with no lock of this subscription held: it may Pop. It must
  // not block. Setting another (nullptr before its owner goes away) waits
  // for a call in progress to return.
  void SetWaker(std::function<void()> waker) ABSL_LOCKS_EXCLUDED(waker_mu_);
  // Why the subscription was closed (OK while open).
  absl::Status close_status() const ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t samples_lost() const {
    return lost_.load(std::memory_order_relaxed);
  }
  uint64_t samples_delivered() const {
    return delivered_.load(std::memory_order_relaxed);
  }

 private:
  friend class SignalFanout;
  void Push(ChunkData&& chunk) ABSL_LOCKS_EXCLUDED(mu_);
  void Close(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  void Wake() ABSL_LOCKS_EXCLUDED(waker_mu_);

  uint64_t id_ = 0;
  std::vector<std::string> signals_;
  std::vector<std::string> units_;
  uint32_t decimation_ = 1;
  uint32_t samples_per_chunk_ = 1;
  std::size_t capacity_chunks_ = 64;
  StreamBudget budget_;
  // Every subscription's queued bytes, shared (the fanout's).
  std::shared_ptr<std::atomic<std::size_t>> total_queued_;

  mutable absl::Mutex mu_;
  std::deque<ChunkData> queue_ ABSL_GUARDED_BY(mu_);
  std::size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> lost_{0};
  std::atomic<uint64_t> delivered_{0};
  absl::Mutex waker_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::function<void()> waker_ ABSL_GUARDED_BY(waker_mu_);

  // Drain-thread state.
  uint32_t mapped_generation_ = UINT32_MAX;
  std::vector<int> index_in_frame_;  // per signal; -1 = absent
  uint64_t next_cycle_ = 0;          // expected cycle of the next sample
  bool have_next_ = false;
  bool seen_frame_ = false;
  uint32_t last_slots_skipped_ = 0;  // the engine's count at the last frame
  uint64_t cycles_skipped_ = 0;
  uint64_t skipped_since_sample_ = 0;
  uint32_t flags_since_sample_ = 0;  // rt::FrameFlags of cycles not sent
  int64_t building_since_ns_ = 0;
  ChunkData building_;
};

// Receives every frame, in order, on the drain thread. Must not block for
// long: the ring keeps filling while it runs.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void OnFrame(const rt::FrameHeader& header,
                       std::span<const double> values) = 0;
};

class SignalFanout {
 public:
  struct Options {
    // Per subscriber: 256 chunks of ~5 ms ride out a client pause of ~1.3 s
    // (a busy workstation, a garbage collector) without loss.
    std::size_t queue_chunks = 256;
    std::size_t max_subscribers = 32;
    absl::Duration chunk_duration = absl::Milliseconds(5);  // default size
  };

  SignalFanout(rt::ClampEngine& engine, Options options);
  ~SignalFanout();
  SignalFanout(const SignalFanout&) = delete;
  SignalFanout& operator=(const SignalFanout&) = delete;

  void Start();
  // Stops draining and closes every subscription with `reason`.
  void Stop(absl::Status reason);

  // InvalidArgument naming an unknown signal or a chunk too large;
  // ResourceExhausted past max_subscribers or the budget's signals.
  absl::StatusOr<std::shared_ptr<Subscription>> Subscribe(
      const std::vector<std::string>& signals, uint32_t decimation,
      uint32_t samples_per_chunk, const StreamBudget& budget = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  // Bytes of chunks waiting for every subscriber together.
  std::size_t queued_bytes() const { return total_queued_->load(); }
  void Unsubscribe(const std::shared_ptr<Subscription>& sub)
      ABSL_LOCKS_EXCLUDED(mu_);
  void AddSink(FrameSink* sink) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveSink(FrameSink* sink) ABSL_LOCKS_EXCLUDED(mu_);

  std::size_t num_subscribers() const ABSL_LOCKS_EXCLUDED(mu_);
  // Each subscriber's id and samples lost so far.
  std::vector<std::pair<uint64_t, uint64_t>> SubscriberLosses() const
      ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t frames_drained() const {
    return frames_.load(std::memory_order_relaxed);
  }
  // Drains whatever is in the ring now, on the calling thread (tests and
  // inline runs; not while the drain thread runs).
  void DrainOnce();

 private:
  void DrainLoop();
  std::size_t DrainBatch(std::size_t max_frames);
  void Feed(Subscription& s, const rt::FrameHeader& h,
            std::span<const double> values);
  void Remap(Subscription& s, uint32_t generation);
  void Flush(Subscription& s);
  // Adds the sample of `slot` to the chunk being built: the frame's values,
  // or NaN for a slot the loop skipped (`h` null).
  void Append(Subscription& s, uint64_t slot, int64_t mono_ns,
              const rt::FrameHeader* h, std::span<const double> values);

  rt::ClampEngine& engine_;
  const Options options_;
  std::vector<double> values_;  // drain-thread scratch

  mutable absl::Mutex mu_;
  std::vector<std::shared_ptr<Subscription>> subs_ ABSL_GUARDED_BY(mu_);
  std::vector<FrameSink*> sinks_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> frames_{0};
  std::atomic<uint64_t> next_id_{1};
  std::shared_ptr<std::atomic<std::size_t>> total_queued_ =
      std::make_shared<std::atomic<std::size_t>>(0);
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_SIGNAL_FANOUT_H_
