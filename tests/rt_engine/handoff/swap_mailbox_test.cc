#include "rt_engine/handoff/swap_mailbox.h"

#include <thread>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

struct Tracked {
  static inline std::atomic<int> alive{0};
  explicit Tracked(int v) : value(v) { ++alive; }
  ~Tracked() { --alive; }
  int value;
};

TEST(SwapMailboxTest, NewestPostWinsAndNothingLeaks) {
  {
    SwapMailbox<Tracked> box(4);
    box.Post(std::make_unique<Tracked>(1));
    box.Post(std::make_unique<Tracked>(2));  // replaces 1 before it was taken
    EXPECT_EQ(Tracked::alive.load(), 1);
    Tracked* active = box.SwapFromRT(nullptr);
    ASSERT_NE(active, nullptr);
    EXPECT_EQ(active->value, 2);
    EXPECT_EQ(box.SwapFromRT(active), active) << "nothing pending: keep";
    box.Post(std::make_unique<Tracked>(3));
    Tracked* next = box.SwapFromRT(active);
    EXPECT_EQ(next->value, 3);
    EXPECT_EQ(Tracked::alive.load(), 2) << "the RT side does not free";
    EXPECT_EQ(box.ReclaimRetired(), 1u);
    EXPECT_EQ(Tracked::alive.load(), 1);
    delete next;
  }
  EXPECT_EQ(Tracked::alive.load(), 0);
}

// The RT side swaps every "cycle" while the control side posts as fast as it
// can: every object is freed exactly once and the RT side always holds a
// valid one.
TEST(SwapMailboxTest, SwapUnderLoad) {
  {
    SwapMailbox<Tracked> box(8);
    std::atomic<bool> stop{false};
    std::thread rt([&] {
      Tracked* active = nullptr;
      int64_t checksum = 0;
      while (!stop.load()) {
        active = box.SwapFromRT(active);
        if (active) checksum += active->value;
      }
      active = box.SwapFromRT(active);
      delete active;  // test owns the last one
      (void)checksum;
    });
    for (int i = 0; i < 100000; ++i) box.Post(std::make_unique<Tracked>(i));
    stop.store(true);
    rt.join();
    box.ReclaimRetired();
  }
  EXPECT_EQ(Tracked::alive.load(), 0);
}

}  // namespace
}  // namespace dynclamp::rt
