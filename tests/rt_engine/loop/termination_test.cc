#include "rt_engine/loop/termination.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "gtest/gtest.h"
#include "rt_engine/loop/rt_loop.h"
#include "tests/rt_engine/test_rig.h"

namespace dynclamp::rt {
namespace {

// A child process runs the loop injecting current; the parent sends SIGTERM.
// The child's watcher stops the loop, and the child exits 0 only if the
// simulated amplifier's command is then exactly 0 pA.
TEST(TerminationTest, SigtermStopsTheLoopWithOutputsAtZero) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<bool> stopped{false};
    auto bench =
        testing::MakeBench(testing::IdealSim({SimCellConfig{}}), 100'000);
    RtLoopConfig lc;
    lc.rt.lock_memory = false;
    RtLoop loop(*bench.engine, lc);
    auto watcher = TerminationWatcher::Install([&](int) {
      loop.Stop();
      stopped.store(true);
    });
    if (!watcher.ok()) _exit(10);
    ModelSetSpec spec;
    ConductanceSpec g;
    g.name = "g";
    g.model = ConstantConductance::Params{20.0, 0.0};
    spec.conductances = {g};
    if (!bench.engine->LoadModelSet(spec).ok() || !loop.Start().ok()) _exit(11);
    while (bench.rig->dac_output_pa(0) == 0.0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(12);
    while (!stopped.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    _exit(bench.rig->dac_output_pa(0) == 0.0 &&
                  (*watcher)->received() == SIGTERM
              ? 0
              : 13);
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1) << "child never started injecting";
  ASSERT_EQ(kill(pid, SIGTERM), 0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status))
      << "child died by a signal: the watcher did not catch SIGTERM";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(TerminationTest, DestroyingAnUnusedWatcherReturns) {
  auto w = TerminationWatcher::Install([](int) {});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->received(), 0);
  w->reset();
}

}  // namespace
}  // namespace dynclamp::rt
