// SwapMailbox<T>: hands a whole prepared object (a model set) from the non-RT
// side to the RT thread, and takes the replaced object back for freeing.
//
// Threads: Post() and ReclaimRetired() are non-RT and must be called from one
// thread at a time (the control thread). SwapFromRT() is RT-safe and called
// only by the RT thread, between two cycles. The RT side never deletes
// anything: the object it replaces goes into a fixed-size retire queue that
// the non-RT side empties.
#ifndef DYNCLAMP_RT_ENGINE_HANDOFF_SWAP_MAILBOX_H_
#define DYNCLAMP_RT_ENGINE_HANDOFF_SWAP_MAILBOX_H_

#include <atomic>
#include <cstddef>
#include <memory>

#include "rt_engine/handoff/spsc_queue.h"

namespace dynclamp::rt {

template <typename T>
class SwapMailbox {
 public:
  explicit SwapMailbox(std::size_t retire_capacity = 8)
      : retired_(retire_capacity) {}
  SwapMailbox(const SwapMailbox&) = delete;
  SwapMailbox& operator=(const SwapMailbox&) = delete;
  ~SwapMailbox() {
    delete pending_.exchange(nullptr, std::memory_order_acq_rel);
    ReclaimRetired();
  }

  // Non-RT. Offers `next` to the RT thread. If an earlier object was posted
  // but not yet taken, it is replaced and freed here: only the newest counts.
  void Post(std::unique_ptr<T> next) {
    ReclaimRetired();
    T* replaced = pending_.exchange(next.release(), std::memory_order_acq_rel);
    delete replaced;
  }

  // Non-RT. Frees every object the RT thread has retired. Returns how many.
  std::size_t ReclaimRetired() {
    std::size_t n = 0;
    T* old = nullptr;
    while (retired_.TryPop(old)) {
      delete old;
      ++n;
    }
    return n;
  }

  // Non-RT. True while a posted object has not been taken yet.
  bool HasPending() const noexcept {
    return pending_.load(std::memory_order_acquire) != nullptr;
  }

  // RT. Returns the object to run from now on: the newly posted one if there
  // is one (and `current`, if any, is retired), else `current`. If the retire
  // queue is full the swap is deferred to a later cycle rather than leak or
  // free on the RT thread.
  T* SwapFromRT(T* current) noexcept {
    if (pending_.load(std::memory_order_relaxed) == nullptr) return current;
    if (current != nullptr && retired_.SizeApprox() >= retired_.capacity()) {
      deferred_swaps_.fetch_add(1, std::memory_order_relaxed);
      return current;
    }
    T* next = pending_.exchange(nullptr, std::memory_order_acq_rel);
    if (next == nullptr) return current;
    if (current != nullptr) retired_.TryPush(current);  // room checked above
    return next;
  }

  // Any thread. How often a swap had to wait for the retire queue.
  uint64_t deferred_swaps() const noexcept {
    return deferred_swaps_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<T*> pending_{nullptr};
  SpscQueue<T*> retired_;
  std::atomic<uint64_t> deferred_swaps_{0};
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_HANDOFF_SWAP_MAILBOX_H_
