// SpscQueue: a bounded, lock-free, single-producer single-consumer queue of
// trivially copyable values, allocated once at construction.
//
// Threads: exactly one producer thread calls TryPush(); exactly one consumer
// thread calls TryPop(). Both are RT-safe (no allocation, no lock, no system
// call). Construction and destruction are non-RT.
//
// Used for the small messages that cross the RT boundary: live parameter
// changes (non-RT -> RT) and retired model sets (RT -> non-RT).
#ifndef DYNCLAMP_RT_ENGINE_HANDOFF_SPSC_QUEUE_H_
#define DYNCLAMP_RT_ENGINE_HANDOFF_SPSC_QUEUE_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

namespace dynclamp::rt {

// Keeps producer and consumer indices on separate cache lines so the two
// threads do not invalidate each other's line on every operation.
inline constexpr std::size_t kCacheLine = 64;

inline std::size_t RoundUpToPowerOfTwo(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

template <typename T>
class SpscQueue {
  static_assert(std::is_trivially_copyable_v<T>,
                "SpscQueue holds trivially copyable values only");

 public:
  // Non-RT. Capacity is rounded up to a power of two (at least 2).
  explicit SpscQueue(std::size_t capacity)
      : capacity_(RoundUpToPowerOfTwo(capacity < 2 ? 2 : capacity)),
        mask_(capacity_ - 1),
        slots_(std::make_unique<T[]>(capacity_)) {}

  SpscQueue(const SpscQueue&) = delete;
  SpscQueue& operator=(const SpscQueue&) = delete;

  // Producer thread. Returns false (and stores nothing) when full.
  bool TryPush(const T& value) noexcept {
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ >= capacity_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ >= capacity_) return false;
    }
    slots_[head & mask_] = value;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Consumer thread. Returns false when empty.
  bool TryPop(T& out) noexcept {
    const std::size_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return false;
    }
    out = slots_[tail & mask_];
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Any thread; approximate while the other side is active.
  std::size_t SizeApprox() const noexcept {
    return head_.load(std::memory_order_acquire) -
           tail_.load(std::memory_order_acquire);
  }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  const std::size_t capacity_;
  const std::size_t mask_;
  std::unique_ptr<T[]> slots_;
  alignas(kCacheLine) std::atomic<std::size_t> head_{0};
  std::size_t tail_cache_ = 0;  // producer's view of tail_
  alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
  std::size_t head_cache_ = 0;  // consumer's view of head_
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_HANDOFF_SPSC_QUEUE_H_
