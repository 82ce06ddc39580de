#include "rt_engine/handoff/spsc_queue.h"

#include <thread>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

TEST(SpscQueueTest, FifoOrderAndFullness) {
  SpscQueue<int> q(4);
  EXPECT_EQ(q.capacity(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(q.TryPush(i));
  EXPECT_FALSE(q.TryPush(99)) << "a full queue refuses, it never grows";
  int v = -1;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(q.TryPop(v));
    EXPECT_EQ(v, i);
  }
  EXPECT_FALSE(q.TryPop(v));
}

TEST(SpscQueueTest, CapacityRoundsUpToPowerOfTwo) {
  SpscQueue<int> q(5);
  EXPECT_EQ(q.capacity(), 8u);
}

TEST(SpscQueueTest, TwoThreadsPassEveryValueInOrder) {
  SpscQueue<uint64_t> q(64);
  constexpr uint64_t kCount = 2'000'000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kCount;) {
      if (q.TryPush(i)) ++i;
    }
  });
  uint64_t expected = 0, v = 0;
  while (expected < kCount) {
    if (q.TryPop(v)) {
      ASSERT_EQ(v, expected);
      ++expected;
    }
  }
  producer.join();
}

}  // namespace
}  // namespace dynclamp::rt
