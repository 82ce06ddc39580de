#include "rt_engine/handoff/frame_ring.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

TEST(FrameRingTest, FullRingDropsAndCounts) {
  FrameRing ring(4, 3);
  for (int i = 0; i < 4; ++i) {
    FrameView f = ring.BeginPush();
    ASSERT_NE(f.header, nullptr);
    f.header->cycle = i;
    ring.CommitPush();
  }
  EXPECT_EQ(ring.BeginPush().header, nullptr);
  EXPECT_EQ(ring.BeginPush().header, nullptr);
  EXPECT_EQ(ring.dropped(), 2u);
  FrameHeader h;
  std::vector<double> v(3);
  ASSERT_TRUE(ring.TryPop(h, v));
  EXPECT_EQ(h.cycle, 0u);
  EXPECT_NE(ring.BeginPush().header, nullptr) << "room again after a pop";
}

// Producer and consumer on two threads: every frame that was not counted as
// dropped arrives intact and in order.
TEST(FrameRingTest, StressAcrossTwoThreads) {
  constexpr std::size_t kValues = 7;
  constexpr uint64_t kFrames = 1'000'000;
  FrameRing ring(256, kValues);
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (uint64_t i = 0; i < kFrames; ++i) {
      FrameView f = ring.BeginPush();
      if (f.header == nullptr) continue;  // dropped, counted by the ring
      f.header->cycle = i;
      for (std::size_t k = 0; k < kValues; ++k)
        f.values[k] = double(i * 10 + k);
      ring.CommitPush();
    }
    done.store(true);
  });
  uint64_t received = 0;
  int64_t last = -1;
  FrameHeader h;
  std::vector<double> v(kValues);
  while (!done.load() || ring.SizeApprox() > 0) {
    if (!ring.TryPop(h, v)) continue;
    ASSERT_GT(static_cast<int64_t>(h.cycle), last);
    last = static_cast<int64_t>(h.cycle);
    for (std::size_t k = 0; k < kValues; ++k) {
      ASSERT_EQ(v[k], double(h.cycle * 10 + k)) << "torn frame";
    }
    ++received;
  }
  producer.join();
  EXPECT_EQ(received + ring.dropped(), kFrames);
  EXPECT_GT(received, 0u);
}

}  // namespace
}  // namespace dynclamp::rt
