#include "server/instrument/signal_fanout.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::server {
namespace {

using rt::testing::Bench;

struct Fixture {
  Bench bench = rt::testing::MakeBench(
      rt::testing::IdealSim({rt::SimCellConfig{}}), 50'000, 1e6, 1 << 14);
  SignalFanout fanout{*bench.engine, SignalFanout::Options{}};
  int64_t t = 0;
  void Cycles(int n) {
    for (int k = 0; k < n; ++k) {
      t += 50'000;
      bench.engine->RunCycle(t, t, 50'000);
    }
    fanout.DrainOnce();
  }
  // A constant conductance on cell0: signals <name>.*.
  absl::Status LoadConstant(const char* name, double g_ns, double e_rev_mv) {
    rt::ModelSetSpec spec;
    spec.conductances = {
        {.name = name,
         .model = rt::ConstantConductance::Params{g_ns, e_rev_mv}}};
    return bench.engine->LoadModelSet(spec).status();
  }
  absl::Status LoadConductanceG() { return LoadConstant("g", 2.0, 0.0); }
  std::vector<ChunkData> Pop(Subscription& s) {
    std::vector<ChunkData> out;
    ChunkData c;
    while (s.Pop(c) == Subscription::PopResult::kChunk)
      out.push_back(std::move(c));
    return out;
  }
};

TEST(SignalFanoutTest, DeliversDecimatedContiguousChunks) {
  Fixture f;
  ASSERT_TRUE(f.LoadConductanceG().ok());
  auto sub = f.fanout.Subscribe({"cell0.v_mv", "g.i_pa"}, 4, 10);
  ASSERT_TRUE(sub.ok()) << sub.status();
  f.Cycles(400);
  const auto chunks = f.Pop(**sub);
  ASSERT_EQ(chunks.size(), 10u);  // 400 cycles / 4 = 100 samples / 10
  uint64_t expected = 0;
  for (const ChunkData& c : chunks) {
    EXPECT_EQ(c.first_index, expected);
    EXPECT_EQ(c.num_samples, 10u);
    EXPECT_EQ(c.sample_period_ns, 200'000);
    EXPECT_EQ(c.values.size(), 20u);
    for (uint32_t k = 0; k < c.num_samples; ++k) {
      const double v = c.values[2 * k], i = c.values[2 * k + 1];
      EXPECT_NEAR(i, 2.0 * (0.0 - v), 1e-9) << "values stay paired";
    }
    expected += 40;
  }
  EXPECT_EQ((*sub)->samples_lost(), 0u);
}

// Deadlines the loop skipped after an overrun are samples of no cycle: NaN,
// listed in their chunk, keeping its time base; not counted as lost.
TEST(SignalFanoutTest, SkippedCyclesAreMarkedNotLost) {
  Fixture f;
  auto sub = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10);
  ASSERT_TRUE(sub.ok()) << sub.status();
  f.Cycles(7);                            // slots 0..6
  f.bench.engine->NoteDeadline(true, 5);  // slots 7..11 skipped
  f.Cycles(13);                           // slots 12..24
  const auto chunks = f.Pop(**sub);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].first_index, 0u);
  EXPECT_EQ(chunks[0].num_samples, 10u);
  EXPECT_EQ(chunks[0].skipped_samples, (std::vector<uint32_t>{7, 8, 9}));
  EXPECT_EQ(chunks[0].cycles_skipped, 0u);
  EXPECT_EQ(chunks[1].first_index, 10u);
  EXPECT_EQ(chunks[1].skipped_samples, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(chunks[1].cycles_skipped, 5u);
  for (const ChunkData& c : chunks) {
    for (uint32_t k = 0; k < c.num_samples; ++k) {
      const bool skipped =
          std::count(c.skipped_samples.begin(), c.skipped_samples.end(), k) > 0;
      EXPECT_EQ(std::isnan(c.values[k]), skipped) << c.first_index + k;
    }
  }
  EXPECT_EQ((*sub)->samples_lost(), 0u);
}

// A cycle after an overrun, and a cycle that clipped an output, are listed
// by sample; with decimation, a flag of a cycle left out goes to the next
// sample sent, so no overrun or clip disappears from the trace.
TEST(SignalFanoutTest, OverrunAndClippedCyclesAreListedBySample) {
  Fixture f;
  auto every = f.fanout.Subscribe({"cell0.v_mv"}, 1, 20);
  auto fourth = f.fanout.Subscribe({"cell0.v_mv"}, 4, 5);
  ASSERT_TRUE(every.ok() && fourth.ok());
  f.Cycles(5);                             // slots 0..4
  f.bench.engine->NoteDeadline(true, 0);   // slot 5 comes late: no skip
  f.Cycles(1);                             // slot 5
  f.bench.engine->NoteDeadline(false, 0);  // on time again
  f.Cycles(14);                            // slots 6..19
  auto chunks = f.Pop(**every);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].overrun_samples, (std::vector<uint32_t>{5}));
  EXPECT_TRUE(chunks[0].skipped_samples.empty());
  EXPECT_TRUE(chunks[0].clipped_samples.empty());
  chunks = f.Pop(**fourth);  // samples at slots 0, 4, 8, 12, 16
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].overrun_samples, (std::vector<uint32_t>{2}));

  // 1e5 nS at +100 mV asks for ~1.7e7 pA: over the 1e6 pA limit.
  ASSERT_TRUE(f.LoadConstant("huge", 1e5, 100.0).ok());
  f.Cycles(40);
  chunks = f.Pop(**every);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_GE(chunks[1].clipped_samples.size(), 19u);
}

TEST(SignalFanoutTest, SlowSubscriberLosesOnlyItsOwnSamples) {
  Fixture f;
  SignalFanout::Options small;
  small.queue_chunks = 4;
  SignalFanout fanout(*f.bench.engine, small);
  auto fast = fanout.Subscribe({"cell0.v_mv"}, 1, 10);
  auto slow = fanout.Subscribe({"cell0.v_mv"}, 1, 10);
  ASSERT_TRUE(fast.ok() && slow.ok());
  std::size_t fast_chunks = 0;
  for (int round = 0; round < 20; ++round) {
    for (int k = 0; k < 20; ++k) {
      f.t += 50'000;
      f.bench.engine->RunCycle(f.t, f.t, 50'000);
    }
    fanout.DrainOnce();
    fast_chunks += f.Pop(**fast).size();  // the fast one keeps up
  }
  EXPECT_EQ(fast_chunks, 40u);
  EXPECT_EQ((*fast)->samples_lost(), 0u);
  EXPECT_EQ((*slow)->samples_lost(), 400u - 4 * 10);
  const auto kept = f.Pop(**slow);
  ASSERT_EQ(kept.size(), 4u) << "it keeps the oldest chunks its queue holds";
  EXPECT_EQ(f.bench.engine->frames().dropped(), 0u);
}

// The memory attack of issue 19: one stream naming a signal thousands of
// times and never reading. Duplicates collapse, the signal count has a
// limit, and what waits for a subscriber is bounded in bytes, its own and
// everyone's; the others lose nothing; closing lets the bytes go.
TEST(SignalFanoutTest, DuplicatesCollapseAndTheSignalCountIsLimited) {
  Fixture f;
  StreamBudget budget;
  budget.max_signals = 2;
  auto sub = f.fanout.Subscribe(std::vector<std::string>(10'000, "cell0.v_mv"),
                                1, 10, budget);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ((*sub)->signals(), std::vector<std::string>{"cell0.v_mv"});
  ASSERT_TRUE(f.LoadConductanceG().ok());
  auto three =
      f.fanout.Subscribe({"cell0.v_mv", "cell0.i_pa", "g.i_pa"}, 1, 10, budget);
  ASSERT_FALSE(three.ok());
  EXPECT_EQ(three.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(three.status().message().find("--max_stream_signals"),
            absl::string_view::npos)
      << three.status();
}

TEST(SignalFanoutTest, ChunksLargerThanAMessageAllowsAreRefused) {
  Fixture f;
  auto sub = f.fanout.Subscribe({"cell0.v_mv"}, 1, 100'000);
  ASSERT_TRUE(sub.ok()) << "800 kB chunks fit";
  auto big = f.fanout.Subscribe({"cell0.v_mv", "cell0.i_pa"}, 1, 100'000);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("samples_per_chunk: 100000 samples of "
                                        "2 signals"),
            absl::string_view::npos)
      << big.status();
}

TEST(SignalFanoutTest, QueuedBytesAreBoundedPerSubscriberAndInTotal) {
  Fixture f;
  StreamBudget budget;
  budget.queue_bytes = 3 * 1024;  // a few chunks of 10 samples
  budget.total_bytes = 1 << 20;
  auto slow = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10, budget);
  auto canary = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10, budget);
  ASSERT_TRUE(slow.ok() && canary.ok());
  std::size_t canary_samples = 0;
  for (int round = 0; round < 50; ++round) {
    f.Cycles(20);
    for (const ChunkData& c : f.Pop(**canary)) canary_samples += c.num_samples;
  }
  EXPECT_EQ(canary_samples, 1000u);
  EXPECT_EQ((*canary)->samples_lost(), 0u);
  EXPECT_LE((*slow)->queued_bytes(), budget.queue_bytes);
  EXPECT_GT((*slow)->queued_bytes(), 0u);
  EXPECT_EQ((*slow)->samples_lost() + (*slow)->samples_delivered(), 1000u);
  EXPECT_GT((*slow)->samples_lost(), 800u) << "it kept a few chunks, no more";
  EXPECT_EQ(f.fanout.queued_bytes(), (*slow)->queued_bytes());
  f.fanout.Unsubscribe(*slow);
  f.fanout.Unsubscribe(*canary);
  EXPECT_EQ(f.fanout.queued_bytes(), 0u) << "closing lets its chunks go";

  // All subscribers together: the second slow one finds the total spent.
  StreamBudget shared;
  shared.queue_bytes = 1 << 20;
  shared.total_bytes = 4 * 1024;
  auto first = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10, shared);
  auto second = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10, shared);
  ASSERT_TRUE(first.ok() && second.ok());
  f.Cycles(1000);
  EXPECT_LE(f.fanout.queued_bytes(), shared.total_bytes);
  EXPECT_GT((*first)->samples_lost() + (*second)->samples_lost(), 900u);
}

TEST(SignalFanoutTest, UnknownSignalsAreRefusedByName) {
  Fixture f;
  auto sub = f.fanout.Subscribe({"cell0.v_mv", "na.m"}, 1, 0);
  ASSERT_FALSE(sub.ok());
  EXPECT_EQ(sub.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sub.status().message().find("signals[1]: no signal named 'na.m'"),
            absl::string_view::npos)
      << sub.status();
  EXPECT_FALSE(f.fanout.Subscribe({}, 1, 0).ok());
}

TEST(SignalFanoutTest, SignalsMissingFromANewSpecBecomeNaN) {
  Fixture f;
  ASSERT_TRUE(f.LoadConstant("g", 1.0, 0.0).ok());
  auto sub = f.fanout.Subscribe({"g.g_ns"}, 1, 5);
  ASSERT_TRUE(sub.ok());
  f.Cycles(5);
  ASSERT_TRUE(f.bench.engine->LoadModelSet(rt::ModelSetSpec{}).ok());
  f.Cycles(5);
  const auto chunks = f.Pop(**sub);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].values[4], 1.0);
  EXPECT_TRUE(std::isnan(chunks[1].values[0]));
}

TEST(SignalFanoutTest, StopClosesSubscriptionsWithTheReason) {
  Fixture f;
  auto sub = f.fanout.Subscribe({"cell0.v_mv"}, 1, 5);
  ASSERT_TRUE(sub.ok());
  f.fanout.Stop(absl::UnavailableError("bye"));
  ChunkData c;
  EXPECT_EQ((*sub)->Pop(c), Subscription::PopResult::kClosed);
  EXPECT_EQ((*sub)->close_status().code(), absl::StatusCode::kUnavailable);
}

// The waker is how a stream learns there is something to send: once per
// chunk queued and once at close; after it is replaced, never again.
TEST(SignalFanoutTest, TheWakerIsCalledForEachChunkAndAtClose) {
  Fixture f;
  auto sub = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10);
  ASSERT_TRUE(sub.ok());
  int wakes = 0;
  std::size_t popped = 0;
  (*sub)->SetWaker([&] {
    ++wakes;
    ChunkData c;
    // The waker may read: no lock of the subscription is held.
    while ((*sub)->Pop(c) == Subscription::PopResult::kChunk) ++popped;
  });
  f.Cycles(50);
  EXPECT_EQ(wakes, 5) << "50 samples in chunks of 10";
  EXPECT_EQ(popped, 5u);
  f.fanout.Unsubscribe(*sub);
  EXPECT_EQ(wakes, 6) << "closing wakes too";
  ChunkData c;
  EXPECT_EQ((*sub)->Pop(c), Subscription::PopResult::kClosed);

  auto other = f.fanout.Subscribe({"cell0.v_mv"}, 1, 10);
  ASSERT_TRUE(other.ok());
  int other_wakes = 0;
  (*other)->SetWaker([&] { ++other_wakes; });
  (*other)->SetWaker(nullptr);
  f.Cycles(50);
  EXPECT_EQ(other_wakes, 0);
  EXPECT_EQ(f.Pop(**other).size(), 5u) << "the chunks wait to be read";
}

}  // namespace
}  // namespace dynclamp::server
