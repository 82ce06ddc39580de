#include "rt_engine/handoff/frame_ring.h"

#include <algorithm>
#include <cstring>

namespace dynclamp::rt {
namespace {
std::size_t StrideBytes(std::size_t values_per_frame) {
  const std::size_t raw =
      sizeof(FrameHeader) + values_per_frame * sizeof(double);
  return (raw + alignof(std::max_align_t) - 1) / alignof(std::max_align_t) *
         alignof(std::max_align_t);
}
}  // namespace

FrameRing::FrameRing(std::size_t capacity_frames, std::size_t values_per_frame)
    : capacity_(RoundUpToPowerOfTwo(capacity_frames < 2 ? 2 : capacity_frames)),
      mask_(capacity_ - 1),
      values_per_frame_(values_per_frame),
      stride_bytes_(StrideBytes(values_per_frame)),
      storage_(std::make_unique<std::byte[]>(capacity_ * stride_bytes_)) {
  // Touch every page now so the RT thread never takes a first-use fault.
  std::memset(storage_.get(), 0, capacity_ * stride_bytes_);
}

FrameView FrameRing::BeginPush() noexcept {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  if (head - tail_cache_ >= capacity_) {
    tail_cache_ = tail_.load(std::memory_order_acquire);
    if (head - tail_cache_ >= capacity_) {
      dropped_.store(dropped_.load(std::memory_order_relaxed) + 1,
                     std::memory_order_relaxed);
      return {};
    }
  }
  std::byte* slot = SlotAt(head);
  auto* header = reinterpret_cast<FrameHeader*>(slot);
  auto* values = reinterpret_cast<double*>(slot + sizeof(FrameHeader));
  return {header, {values, values_per_frame_}};
}

void FrameRing::CommitPush() noexcept {
  head_.store(head_.load(std::memory_order_relaxed) + 1,
              std::memory_order_release);
}

ConstFrameView FrameRing::Peek() noexcept {
  const uint64_t tail = tail_.load(std::memory_order_relaxed);
  if (tail == head_cache_) {
    head_cache_ = head_.load(std::memory_order_acquire);
    if (tail == head_cache_) return {};
  }
  const std::byte* slot = SlotAt(tail);
  return {reinterpret_cast<const FrameHeader*>(slot),
          {reinterpret_cast<const double*>(slot + sizeof(FrameHeader)),
           values_per_frame_}};
}

void FrameRing::Pop() noexcept {
  tail_.store(tail_.load(std::memory_order_relaxed) + 1,
              std::memory_order_release);
}

bool FrameRing::TryPop(FrameHeader& header, std::span<double> values) noexcept {
  ConstFrameView view = Peek();
  if (view.header == nullptr) return false;
  header = *view.header;
  const std::size_t n = std::min(values.size(), view.values.size());
  std::copy_n(view.values.data(), n, values.data());
  Pop();
  return true;
}

std::size_t FrameRing::SizeApprox() const noexcept {
  return static_cast<std::size_t>(head_.load(std::memory_order_acquire) -
                                  tail_.load(std::memory_order_acquire));
}

}  // namespace dynclamp::rt
