#include "rt_engine/network/event_queue.h"

#include <algorithm>
#include <random>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

TEST(EventHeapTest, PopsInTimeOrderAndRefusesWhenFull) {
  EventHeap h(5);
  for (double t : {3.0, 1.0, 4.0, 1.5, 2.0}) ASSERT_TRUE(h.Push({t, 0}));
  EXPECT_FALSE(h.Push({0.5, 0})) << "full: refused, not grown";
  EXPECT_EQ(h.capacity(), 5u);
  std::vector<double> out;
  while (!h.empty()) out.push_back(h.Pop().t_ms);
  EXPECT_EQ(out, (std::vector<double>{1.0, 1.5, 2.0, 3.0, 4.0}));
}

TEST(EventHeapTest, RandomizedAgainstSort) {
  std::mt19937 gen(3);
  std::uniform_real_distribution<double> u(0, 100);
  EventHeap h(1000);
  std::vector<double> ref;
  for (int i = 0; i < 1000; ++i) {
    const double t = u(gen);
    h.Push({t, static_cast<uint32_t>(i)});
    ref.push_back(t);
  }
  std::sort(ref.begin(), ref.end());
  for (double t : ref) ASSERT_EQ(h.Pop().t_ms, t);
}

TEST(TimerHeapTest, SetMoveCancel) {
  TimerHeap h(4);
  EXPECT_EQ(h.next_time(), kNever);
  h.Set(0, 5);
  h.Set(1, 3);
  h.Set(2, 7);
  EXPECT_EQ(h.next_timer(), 1u);
  h.Set(1, 9);  // move later
  EXPECT_EQ(h.next_timer(), 0u);
  h.Set(2, 1);  // move earlier
  EXPECT_EQ(h.next_timer(), 2u);
  h.Cancel(2);
  EXPECT_EQ(h.next_timer(), 0u);
  h.Set(0, kNever);
  EXPECT_EQ(h.next_timer(), 1u);
  EXPECT_EQ(h.next_time(), 9.0);
  h.Cancel(3);  // not set: harmless
  h.Cancel(1);
  EXPECT_EQ(h.next_time(), kNever);
}

TEST(TimerHeapTest, RandomizedAgainstLinearScan) {
  std::mt19937 gen(5);
  TimerHeap h(64);
  std::vector<double> t(64, kNever);
  for (int step = 0; step < 20000; ++step) {
    const uint32_t k = gen() % 64;
    const double v = (gen() % 4 == 0) ? kNever : double(gen() % 1000);
    h.Set(k, v);
    t[k] = v;
    const double best = *std::min_element(t.begin(), t.end());
    ASSERT_EQ(h.next_time(), best);
  }
}

}  // namespace
}  // namespace dynclamp::rt
