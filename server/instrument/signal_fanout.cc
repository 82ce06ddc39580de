#include "server/instrument/signal_fanout.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rt_engine/base/clock.h"
#include "rt_engine/base/names.h"

namespace dynclamp::server {

namespace {
std::size_t ChunkBytes(const ChunkData& c) {
  return sizeof(ChunkData) + c.values.capacity() * sizeof(double) +
         (c.skipped_samples.capacity() + c.overrun_samples.capacity() +
          c.clipped_samples.capacity()) *
             sizeof(uint32_t);
}
}  // namespace

Subscription::PopResult Subscription::Pop(ChunkData& out) {
  absl::MutexLock lock(&mu_);
  if (queue_.empty()) return closed_ ? PopResult::kClosed : PopResult::kEmpty;
  out = std::move(queue_.front());
  queue_.pop_front();
  const std::size_t bytes = ChunkBytes(out);
  queued_bytes_ -= bytes;
  total_queued_->fetch_sub(bytes, std::memory_order_relaxed);
  return PopResult::kChunk;
}

void Subscription::SetWaker(std::function<void()> waker) {
  absl::MutexLock lock(&waker_mu_);
  waker_ = std::move(waker);
}

void Subscription::Wake() {
  absl::MutexLock lock(&waker_mu_);
  if (waker_) waker_();
}

absl::Status Subscription::close_status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

Subscription::~Subscription() {
  if (total_queued_ != nullptr) total_queued_->fetch_sub(queued_bytes_);
}

std::size_t Subscription::queued_bytes() const {
  absl::MutexLock lock(&mu_);
  return queued_bytes_;
}

void Subscription::Push(ChunkData&& chunk) {
  const uint32_t n = chunk.num_samples;
  const std::size_t bytes = ChunkBytes(chunk);
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    if (queue_.size() >= capacity_chunks_ ||
        queued_bytes_ + bytes > budget_.queue_bytes ||
        total_queued_->load(std::memory_order_relaxed) + bytes >
            budget_.total_bytes) {
      lost_.fetch_add(n, std::memory_order_relaxed);
      return;
    }
    queued_bytes_ += bytes;
    total_queued_->fetch_add(bytes, std::memory_order_relaxed);
    chunk.samples_lost = lost_.load(std::memory_order_relaxed);
    delivered_.fetch_add(n, std::memory_order_relaxed);
    queue_.push_back(std::move(chunk));
  }
  Wake();
}

void Subscription::Close(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    status_ = std::move(status);
    // What was never sent is let go now, not when the last reference goes.
    total_queued_->fetch_sub(queued_bytes_, std::memory_order_relaxed);
    queued_bytes_ = 0;
    std::deque<ChunkData>().swap(queue_);
  }
  Wake();
}

SignalFanout::SignalFanout(rt::ClampEngine& engine, Options options)
    : engine_(engine),
      options_(options),
      values_(engine.frames().values_per_frame()) {}

SignalFanout::~SignalFanout() {
  Stop(absl::UnavailableError("the daemon is shutting down"));
}

void SignalFanout::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  thread_ = std::thread(&SignalFanout::DrainLoop, this);
}

void SignalFanout::Stop(absl::Status reason) {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  absl::MutexLock lock(&mu_);
  for (auto& s : subs_) s->Close(reason);
  subs_.clear();
}

absl::StatusOr<std::shared_ptr<Subscription>> SignalFanout::Subscribe(
    const std::vector<std::string>& signals, uint32_t decimation,
    uint32_t samples_per_chunk, const StreamBudget& budget) {
  if (signals.empty()) {
    return absl::InvalidArgumentError("signals: name at least one signal");
  }
  if (decimation > 1'000'000) {
    return absl::InvalidArgumentError("decimation: must be at most 1000000");
  }
  if (samples_per_chunk > 100'000) {
    return absl::InvalidArgumentError(
        "samples_per_chunk: must be at most 100000");
  }
  absl::StatusOr<rt::FrameLayout> layout =
      engine_.LayoutFor(engine_.loaded_generation());
  if (!layout.ok()) return layout.status();
  auto sub = std::shared_ptr<Subscription>(new Subscription());
  sub->id_ = next_id_.fetch_add(1);
  absl::flat_hash_set<absl::string_view> seen;
  for (std::size_t i = 0; i < signals.size(); ++i) {
    if (!seen.insert(signals[i]).second) continue;  // named twice: once
    if (seen.size() > budget.max_signals) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "signals: more than ", budget.max_signals,
          " distinct signals, the daemon's limit (--max_stream_signals)"));
    }
    auto it = std::find_if(
        layout->values.begin(), layout->values.end(),
        [&](const rt::SignalInfo& s) { return s.name == signals[i]; });
    if (it == layout->values.end()) {
      std::vector<absl::string_view> known;
      for (const auto& s : layout->values) {
        if (known.size() == 20) break;
        known.push_back(s.name);
      }
      const std::size_t more = layout->values.size() - known.size();
      return absl::InvalidArgumentError(absl::StrCat(
          "signals[", i, "]: no signal named ", rt::Quoted(signals[i]),
          " (known now: ", absl::StrJoin(known, ", "),
          more > 0 ? absl::StrCat(" and ", more, " more") : "", ")"));
    }
    sub->signals_.push_back(it->name);
    sub->units_.push_back(it->unit);
  }
  sub->decimation_ = std::max<uint32_t>(1, decimation);
  const double sample_ns =
      static_cast<double>(engine_.config().period_ns) * sub->decimation_;
  const std::size_t sample_bytes = sub->signals_.size() * sizeof(double);
  const auto most_samples = static_cast<uint32_t>(
      std::max<std::size_t>(1, kMaxChunkBytes / sample_bytes));
  if (samples_per_chunk > most_samples) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples_per_chunk: ", samples_per_chunk, " samples of ",
                     sub->signals_.size(), " signals would make chunks over ",
                     kMaxChunkBytes >> 20, " MB; at most ", most_samples));
  }
  sub->samples_per_chunk_ =
      samples_per_chunk > 0
          ? samples_per_chunk
          : static_cast<uint32_t>(std::clamp(
                std::round(absl::ToDoubleNanoseconds(options_.chunk_duration) /
                           sample_ns),
                1.0, static_cast<double>(most_samples)));
  sub->capacity_chunks_ = options_.queue_chunks;
  sub->budget_ = budget;
  sub->total_queued_ = total_queued_;
  absl::MutexLock lock(&mu_);
  if (subs_.size() >= options_.max_subscribers) {
    return absl::ResourceExhaustedError(
        absl::StrCat("subscribers: at most ", options_.max_subscribers,
                     " streams at once; close one first"));
  }
  subs_.push_back(sub);
  return sub;
}

void SignalFanout::Unsubscribe(const std::shared_ptr<Subscription>& sub) {
  absl::MutexLock lock(&mu_);
  subs_.erase(std::remove(subs_.begin(), subs_.end(), sub), subs_.end());
  sub->Close(absl::CancelledError("unsubscribed"));
}

void SignalFanout::AddSink(FrameSink* sink) {
  absl::MutexLock lock(&mu_);
  sinks_.push_back(sink);
}

void SignalFanout::RemoveSink(FrameSink* sink) {
  absl::MutexLock lock(&mu_);
  sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
}

std::size_t SignalFanout::num_subscribers() const {
  absl::MutexLock lock(&mu_);
  return subs_.size();
}

void SignalFanout::Remap(Subscription& s, uint32_t generation) {
  s.mapped_generation_ = generation;
  absl::StatusOr<rt::FrameLayout> layout = engine_.LayoutFor(generation);
  s.index_in_frame_.assign(s.signals_.size(), -1);
  if (!layout.ok()) return;
  for (std::size_t i = 0; i < s.signals_.size(); ++i) {
    for (std::size_t k = 0; k < layout->values.size(); ++k) {
      if (layout->values[k].name == s.signals_[i]) {
        s.index_in_frame_[i] = static_cast<int>(k);
        break;
      }
    }
  }
}

void SignalFanout::Flush(Subscription& s) {
  if (s.building_.num_samples == 0) return;
  s.Push(std::move(s.building_));
  s.building_ = ChunkData{};
}

void SignalFanout::Append(Subscription& s, uint64_t slot, int64_t mono_ns,
                          const rt::FrameHeader* h,
                          std::span<const double> values) {
  ChunkData& c = s.building_;
  if (c.num_samples == 0) {
    c.first_index = slot;
    c.cycles_skipped = s.cycles_skipped_;
    c.first_monotonic_ns = mono_ns;
    c.sample_period_ns = engine_.config().period_ns * s.decimation_;
    c.values.reserve(static_cast<std::size_t>(s.samples_per_chunk_) *
                     s.signals_.size());
    s.building_since_ns_ = rt::MonotonicNowNs();
  }
  if (h == nullptr) {
    c.skipped_samples.push_back(c.num_samples);
  } else {
    const uint32_t flags = h->flags | s.flags_since_sample_;
    s.flags_since_sample_ = 0;
    if (flags & rt::kFrameAfterOverrun)
      c.overrun_samples.push_back(c.num_samples);
    if (flags & rt::kFrameClipped) c.clipped_samples.push_back(c.num_samples);
  }
  for (int idx : s.index_in_frame_) {
    c.values.push_back(h != nullptr && idx >= 0 &&
                               static_cast<uint32_t>(idx) < h->num_values
                           ? values[idx]
                           : std::numeric_limits<double>::quiet_NaN());
  }
  ++c.num_samples;
  s.next_cycle_ = slot + s.decimation_;
  s.have_next_ = true;
  if (c.num_samples >= s.samples_per_chunk_) Flush(s);
}

void SignalFanout::Feed(Subscription& s, const rt::FrameHeader& h,
                        std::span<const double> values) {
  // Slots the loop skipped since the frame before (the wrapping difference
  // of the engine's count) are gaps in time, not losses.
  const uint32_t skipped =
      s.seen_frame_ ? h.slots_skipped - s.last_slots_skipped_ : 0;
  s.seen_frame_ = true;
  s.last_slots_skipped_ = h.slots_skipped;
  s.cycles_skipped_ += skipped;
  s.skipped_since_sample_ += skipped;
  if (h.cycle % s.decimation_ != 0) {
    s.flags_since_sample_ |= h.flags;
    return;
  }
  if (s.have_next_ && h.cycle > s.next_cycle_) {
    const uint64_t gap = h.cycle - s.next_cycle_;
    if (gap <= s.skipped_since_sample_) {
      // The loop skipped these slots: NaN samples, listed in the chunk,
      // keep its time base (skips can come every few cycles on a slow
      // rig; a chunk for each would overflow the queue).
      const int64_t period = engine_.config().period_ns;
      for (uint64_t slot = s.next_cycle_; slot < h.cycle;
           slot += s.decimation_) {
        Append(s, slot,
               h.wake_time_ns - static_cast<int64_t>(h.cycle - slot) * period,
               nullptr, values);
      }
    } else {
      // Frames the ring dropped: the chunk must stay contiguous in time,
      // and the subscriber is told what it lost.
      Flush(s);
      s.lost_.fetch_add((gap - s.skipped_since_sample_) / s.decimation_,
                        std::memory_order_relaxed);
    }
  } else if (s.have_next_ && h.cycle != s.next_cycle_) {
    Flush(s);
  }
  s.skipped_since_sample_ = 0;
  if (h.model_generation != s.mapped_generation_) Remap(s, h.model_generation);
  Append(s, h.cycle, h.wake_time_ns, &h, values);
}

std::size_t SignalFanout::DrainBatch(std::size_t max_frames) {
  std::vector<std::shared_ptr<Subscription>> subs;
  std::vector<FrameSink*> sinks;
  {
    absl::MutexLock lock(&mu_);
    subs = subs_;
    sinks = sinks_;
  }
  rt::FrameHeader h;
  std::size_t n = 0;
  while (n < max_frames && engine_.frames().TryPop(h, values_)) {
    const std::span<const double> values(values_.data(), values_.size());
    for (FrameSink* sink : sinks) sink->OnFrame(h, values);
    for (auto& s : subs) Feed(*s, h, values);
    ++n;
  }
  frames_.fetch_add(n, std::memory_order_relaxed);
  // A partly filled chunk is sent once it is as old as a full one would be,
  // so a stopped loop or a large chunk never holds samples back for long.
  const int64_t now = rt::MonotonicNowNs();
  for (auto& s : subs) {
    const int64_t age = now - s->building_since_ns_;
    const int64_t full = s->samples_per_chunk_ * engine_.config().period_ns *
                         static_cast<int64_t>(s->decimation_);
    if (s->building_.num_samples > 0 &&
        age >= std::max<int64_t>(full, 1'000'000)) {
      Flush(*s);
    }
  }
  return n;
}

void SignalFanout::DrainOnce() {
  DrainBatch(std::numeric_limits<std::size_t>::max());
}

void SignalFanout::DrainLoop() {
  while (!stop_.load(std::memory_order_acquire)) {
    if (DrainBatch(8192) == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  }
  DrainBatch(std::numeric_limits<std::size_t>::max());
}

std::vector<std::pair<uint64_t, uint64_t>> SignalFanout::SubscriberLosses()
    const {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& s : subs_) out.push_back({s->id(), s->samples_lost()});
  return out;
}

}  // namespace dynclamp::server
