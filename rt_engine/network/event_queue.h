// Event scheduling for the network, preallocated when a spec is loaded.
//
// EventHeap: events in flight from a source to a connection's target (a
// NetCon delivery): a binary min-heap on time with a fixed capacity. A push
// to a full heap is refused (the caller counts it); nothing is allocated.
//
// TimerHeap: self-events. A fixed set of timers (one per artificial cell, per
// saturating-synapse stream, per spike generator), each either off or set to
// a time; an indexed min-heap gives the earliest. Setting a timer again moves
// it (NEURON's net_move) instead of leaving a stale event behind.
//
// Threads: constructed non-RT; every other method is RT-safe and belongs to
// the thread that steps the network.
#ifndef DYNCLAMP_RT_ENGINE_NETWORK_EVENT_QUEUE_H_
#define DYNCLAMP_RT_ENGINE_NETWORK_EVENT_QUEUE_H_

#include <cstdint>
#include <limits>
#include <vector>

namespace dynclamp::rt {

inline constexpr double kNever = std::numeric_limits<double>::infinity();

struct Event {
  double t_ms;
  uint32_t connection;  // index of the connection that carries it
};

class EventHeap {
 public:
  explicit EventHeap(std::size_t capacity) { heap_.reserve(capacity); }
  std::size_t capacity() const noexcept { return heap_.capacity(); }
  std::size_t size() const noexcept { return heap_.size(); }
  bool empty() const noexcept { return heap_.empty(); }
  double next_time() const noexcept {
    return heap_.empty() ? kNever : heap_.front().t_ms;
  }

  // False (and nothing stored) when full.
  bool Push(const Event& e) noexcept {
    if (heap_.size() == heap_.capacity()) return false;
    heap_.push_back(e);  // within reserved capacity: no allocation
    std::size_t i = heap_.size() - 1;
    while (i > 0) {
      const std::size_t parent = (i - 1) / 2;
      if (!Earlier(heap_[i], heap_[parent])) break;
      std::swap(heap_[i], heap_[parent]);
      i = parent;
    }
    return true;
  }

  Event Pop() noexcept {
    Event top = heap_.front();
    heap_.front() = heap_.back();
    heap_.pop_back();
    std::size_t i = 0;
    const std::size_t n = heap_.size();
    while (true) {
      const std::size_t l = 2 * i + 1, r = l + 1;
      std::size_t m = i;
      if (l < n && Earlier(heap_[l], heap_[m])) m = l;
      if (r < n && Earlier(heap_[r], heap_[m])) m = r;
      if (m == i) break;
      std::swap(heap_[i], heap_[m]);
      i = m;
    }
    return top;
  }

  void Clear() noexcept { heap_.clear(); }

 private:
  // Ties go to the lower connection index, so equal-time deliveries have a
  // reproducible order.
  static bool Earlier(const Event& a, const Event& b) noexcept {
    return a.t_ms < b.t_ms || (a.t_ms == b.t_ms && a.connection < b.connection);
  }
  std::vector<Event> heap_;
};

class TimerHeap {
 public:
  explicit TimerHeap(std::size_t timers)
      : time_(timers, kNever), pos_(timers, kAbsent) {
    heap_.reserve(timers);
  }
  std::size_t size() const noexcept { return time_.size(); }
  double time_of(uint32_t timer) const noexcept { return time_[timer]; }
  double next_time() const noexcept {
    return heap_.empty() ? kNever : time_[heap_.front()];
  }
  uint32_t next_timer() const noexcept { return heap_.front(); }

  // Sets (or moves) `timer` to `t_ms`; kNever turns it off.
  void Set(uint32_t timer, double t_ms) noexcept {
    if (t_ms == kNever) {
      Cancel(timer);
      return;
    }
    const double old = time_[timer];
    time_[timer] = t_ms;
    if (pos_[timer] == kAbsent) {
      pos_[timer] = static_cast<uint32_t>(heap_.size());
      heap_.push_back(timer);  // within reserved capacity
      Up(pos_[timer]);
    } else if (t_ms < old) {
      Up(pos_[timer]);
    } else {
      Down(pos_[timer]);
    }
  }

  void Cancel(uint32_t timer) noexcept {
    const uint32_t p = pos_[timer];
    time_[timer] = kNever;
    if (p == kAbsent) return;
    const uint32_t last = heap_.back();
    heap_[p] = last;
    pos_[last] = p;
    heap_.pop_back();
    pos_[timer] = kAbsent;
    if (p < heap_.size()) {
      Up(p);
      Down(pos_[last]);
    }
  }

  void Clear() noexcept {
    for (uint32_t t : heap_) {
      pos_[t] = kAbsent;
      time_[t] = kNever;
    }
    heap_.clear();
  }

 private:
  static constexpr uint32_t kAbsent = 0xFFFFFFFFu;
  bool Earlier(uint32_t a, uint32_t b) const noexcept {
    return time_[a] < time_[b] || (time_[a] == time_[b] && a < b);
  }
  void Place(uint32_t i, uint32_t timer) noexcept {
    heap_[i] = timer;
    pos_[timer] = i;
  }
  void Up(uint32_t i) noexcept {
    const uint32_t timer = heap_[i];
    while (i > 0) {
      const uint32_t parent = (i - 1) / 2;
      if (!Earlier(timer, heap_[parent])) break;
      Place(i, heap_[parent]);
      i = parent;
    }
    Place(i, timer);
  }
  void Down(uint32_t i) noexcept {
    const uint32_t timer = heap_[i];
    const uint32_t n = static_cast<uint32_t>(heap_.size());
    while (true) {
      const uint32_t l = 2 * i + 1, r = l + 1;
      uint32_t m = i;
      uint32_t best = timer;
      if (l < n && Earlier(heap_[l], best)) m = l, best = heap_[l];
      if (r < n && Earlier(heap_[r], best)) m = r, best = heap_[r];
      if (m == i) break;
      Place(i, heap_[m]);
      i = m;
    }
    Place(i, timer);
  }

  std::vector<double> time_;
  std::vector<uint32_t> pos_;
  std::vector<uint32_t> heap_;
};

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_NETWORK_EVENT_QUEUE_H_
