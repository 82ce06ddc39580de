// FrameRing: the lock-free single-producer ring that carries one Frame per
// cycle from the RT loop to the drain thread.
//
// Threads: the RT thread is the only producer (BeginPush/CommitPush or
// TryPush); one non-RT drain thread is the only consumer (TryPop/Peek+Pop).
// Producer calls are RT-safe. A full ring never blocks the producer: the frame
// is dropped and counted. Capacity and frame size are fixed at construction.
#ifndef DYNCLAMP_RT_ENGINE_HANDOFF_FRAME_RING_H_
#define DYNCLAMP_RT_ENGINE_HANDOFF_FRAME_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "rt_engine/handoff/frame.h"
#include "rt_engine/handoff/spsc_queue.h"

namespace dynclamp::rt {

// A view of one frame inside the ring (or inside a caller's buffer).
struct FrameView {
  FrameHeader* header = nullptr;
  std::span<double> values;
};
struct ConstFrameView {
  const FrameHeader* header = nullptr;
  std::span<const double> values;
};

class FrameRing {
 public:
  // Non-RT. `capacity_frames` is rounded up to a power of two.
  FrameRing(std::size_t capacity_frames, std::size_t values_per_frame);
  FrameRing(const FrameRing&) = delete;
  FrameRing& operator=(const FrameRing&) = delete;

  // Producer (RT). Returns a writable slot, or an empty view if the ring is
  // full (the drop is counted). The slot is published by CommitPush().
  FrameView BeginPush() noexcept;
  void CommitPush() noexcept;

  // Consumer (non-RT). Peek returns the oldest frame without removing it, or
  // an empty view. Pop releases it.
  ConstFrameView Peek() noexcept;
  void Pop() noexcept;

  // Consumer convenience: copies the oldest frame out.
  bool TryPop(FrameHeader& header, std::span<double> values) noexcept;

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t values_per_frame() const noexcept { return values_per_frame_; }
  std::size_t SizeApprox() const noexcept;
  // Frames the producer could not store because the ring was full.
  uint64_t dropped() const noexcept {
    return dropped_.load(std::memory_order_relaxed);
  }
  uint64_t pushed() const noexcept {
    return head_.load(std::memory_order_relaxed);
  }

 private:
  std::byte* SlotAt(std::size_t index) const noexcept {
    return storage_.get() + (index & mask_) * stride_bytes_;
  }

  const std::size_t capacity_;
  const std::size_t mask_;
  const std::size_t values_per_frame_;
  const std::size_t stride_bytes_;
  std::unique_ptr<std::byte[]> storage_;
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  uint64_t tail_cache_ = 0;
  std::atomic<uint64_t> dropped_{0};
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};
  uint64_t head_cache_ = 0;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_HANDOFF_FRAME_RING_H_
