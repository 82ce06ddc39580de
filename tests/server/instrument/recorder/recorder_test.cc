// The recorder end to end without the daemon: a protocol played by the
// engine on the simulated rig, its frames recorded to NWB, the file checked
// with h5py (tests/validation/check_nwb.py through /usr/bin/python3).
#include "server/instrument/recorder/recorder.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <new>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rt_engine/loop/clamp_engine.h"
#include "server/instrument/recorder/hdf5.h"
#include "tests/rt_engine/test_rig.h"

// Counts operator new on threads that ask for it (the drain side below).
thread_local bool count_news = false;
thread_local int news = 0;

void* operator new(std::size_t n) {
  if (count_news) ++news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace dynclamp::server {
namespace {

using rt::EpochSpec;
using rt::PlayerCommand;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return (std::filesystem::path(dir ? dir : "/tmp") /
          absl::StrCat("dynclamp_", name, "_", getpid(), ".nwb"))
      .string();
}

// Runs check_nwb.py on `path` with `args`; returns its exit status and
// keeps its output for the failure message.
int CheckNwb(const std::string& path, const std::string& args,
             std::string* output) {
  const std::string out = path + ".json";
  const std::string cmd = absl::StrCat("/usr/bin/python3 ", DYNCLAMP_SOURCE_DIR,
                                       "/tests/validation/check_nwb.py ", path,
                                       " ", args, " > ", out, " 2>&1");
  const int rc = std::system(cmd.c_str());
  std::ifstream in(out);
  output->assign(std::istreambuf_iterator<char>(in), {});
  return rc;
}

class RecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rt::SimRigConfig sim =
        rt::testing::IdealSim({rt::SimCellConfig{}, rt::SimCellConfig{}});
    bench_ = rt::testing::MakeBench(sim, 50'000, 2000, 1 << 14);
    rt::ModelSetSpec spec;
    rt::ConductanceSpec leak;
    leak.name = "leak";
    leak.cell = 1;
    rt::ConstantConductance::Params p;
    p.g_ns = 2;
    p.e_rev_mv = -70;
    leak.model = p;
    spec.conductances = {leak};
    ASSERT_TRUE(bench_.engine->LoadModelSet(spec).ok());
  }

  // 3 sweeps of 30 ms: 5 ms rest, a 20 ms step on cell0 (a level per
  // sweep), 5 ms rest; the leak's g stepped on cell1.
  rt::ProtocolSpec ThreeSweeps() {
    rt::ProtocolSpec protocol;
    protocol.name = "three_steps";
    for (double level : {100.0, 200.0, 300.0}) {
      rt::SweepSpec sweep;
      rt::StimulusSpec step;
      step.cell = "cell0";
      EpochSpec rest, pulse;
      rest.duration_ms = 5;
      pulse.duration_ms = 20;
      pulse.level = level;
      step.epochs = {rest, pulse, rest};
      rt::StimulusSpec g;
      g.parameter = "leak.g_ns";
      EpochSpec high;
      high.duration_ms = 30;
      high.level = 8;
      g.epochs = {high};
      sweep.stimuli = {step, g};
      protocol.sweeps.push_back(sweep);
    }
    protocol.interval_ms = 10;
    return protocol;
  }

  std::unique_ptr<Recorder> StartRecorder(const std::string& path) {
    auto r = Recorder::Start(Config(path));
    EXPECT_TRUE(r.ok()) << r.status();
    return *std::move(r);
  }

  static RecorderConfig Config(const std::string& path) {
    RecorderConfig c;
    c.path = path;
    c.session.identifier = "test";
    c.session.session_description = "recorder test";
    c.session.start_time = absl::Now();
    c.session.protocol_name = "three_steps";
    c.session.protocol_text = "{\"name\": \"three_steps\"}";
    c.session.version = "test";
    c.session.rig_text = "simulated rig";
    c.session.cells = {"cell0", "cell1"};
    c.session.recording_gain_v_per_v = {10, 10};
    c.session.stimulus_gain_v_per_a = {2.5e9, 2.5e9};
    c.session.signals = {{"leak.g_ns", "nS"}, {"leak.i_pa", "pA"}};
    c.session.rate_hz = 20'000;
    // Frame: V0 V1 I0 I1 leak.g_ns leak.i_pa
    c.frame_index = {0, 1, 2, 3, 4, 5};
    return c;
  }

  // Runs `cycles` cycles, handing every frame to `recorder`.
  void Run(Recorder& recorder, int cycles,
           std::map<int, PlayerCommand> commands = {},
           std::set<int> drop = {}) {
    rt::FrameHeader h;
    std::vector<double> values(bench_.engine->frames().values_per_frame());
    for (int k = 0; k < cycles; ++k) {
      if (auto it = commands.find(k); it != commands.end())
        bench_.engine->CommandPlayer(it->second);
      t_ += 50'000;
      bench_.engine->RunCycle(t_, t_, 50'000);
      while (bench_.engine->frames().TryPop(h, values)) {
        if (drop.count(static_cast<int>(h.cycle))) continue;  // a lost frame
        recorder.OnFrame(h,
                         std::span<const double>(values.data(), h.num_values));
      }
    }
  }

  rt::testing::Bench bench_;
  int64_t t_ = 0;
};

TEST_F(RecorderTest, ThreeSweepsGiveAValidNwbFileWithExactSampleCounts) {
  auto timeline = bench_.engine->CompileTimeline(ThreeSweeps(), {});
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  const std::string path = TempPath("three");
  auto recorder = StartRecorder(path);
  bench_.engine->PlayTimeline(*std::move(timeline));
  Run(*recorder, 3 * 600 + 2 * 200 + 50);
  ASSERT_TRUE(recorder->Finish().ok());
  const std::vector<RecordedSweep> sweeps = recorder->sweeps();
  ASSERT_EQ(sweeps.size(), 3u);
  for (const RecordedSweep& s : sweeps) {
    EXPECT_EQ(s.samples, 600);
    EXPECT_TRUE(s.timing.complete);
    EXPECT_EQ(s.timing.cycles, 600u);
    EXPECT_EQ(s.timing.dropped_frames, 0u);
  }
  std::string out;
  EXPECT_EQ(CheckNwb(path,
                     "--sweeps 3 --samples 600 600 600 --cells cell0 cell1 "
                     "--signals leak.g_ns leak.i_pa",
                     &out),
            0)
      << out;
}

TEST_F(RecorderTest, LostFramesBecomeNanAndCutSweepsAreMarked) {
  auto timeline = bench_.engine->CompileTimeline(ThreeSweeps(), {});
  ASSERT_TRUE(timeline.ok());
  const std::string path = TempPath("cut");
  auto recorder = StartRecorder(path);
  bench_.engine->PlayTimeline(*std::move(timeline));
  // Frames 100..109 of the first sweep are lost; the second sweep is cut
  // at 300 of its 600 samples by an abort.
  std::set<int> drop;
  for (int c = 100; c < 110; ++c) drop.insert(c);
  Run(*recorder, 1110, {{1100, PlayerCommand::kAbort}}, drop);
  ASSERT_TRUE(recorder->Finish().ok());
  const std::vector<RecordedSweep> sweeps = recorder->sweeps();
  ASSERT_EQ(sweeps.size(), 2u);
  EXPECT_EQ(sweeps[0].samples, 600);
  EXPECT_EQ(sweeps[0].timing.dropped_frames, 10u);
  EXPECT_TRUE(sweeps[0].timing.complete);
  EXPECT_EQ(sweeps[1].samples, 300);
  EXPECT_FALSE(sweeps[1].timing.complete);
  std::string out;
  EXPECT_EQ(CheckNwb(path,
                     "--sweeps 2 --samples 600 300 --cells cell0 cell1 "
                     "--incomplete 2",
                     &out),
            0)
      << out;
}

// A long recording must not churn the heap: a block buffer every 0.1 s,
// grown sample by sample and freed by the writer thread, fragmented the
// daemon's heap until its memory crept up sweep after sweep. The drain side
// now reuses the writer's finished buffers and the sweep's timing store.
TEST_F(RecorderTest, LongSweepsReuseTheirBuffersInsteadOfAllocating) {
  const std::string path = TempPath("reuse");
  auto recorder = StartRecorder(path);  // 20 kHz, 6 values: 2000 per block
  constexpr int kSamples = 20'000;      // 10 blocks a sweep
  std::vector<double> values(6, 1.0);
  uint64_t cycle = 0;
  auto sweep = [&](uint32_t number) {
    for (int k = 0; k < kSamples; ++k) {
      rt::FrameHeader h;
      h.cycle = cycle++;
      h.sweep = number;
      h.sweep_sample = k;
      h.period_ns = 50'000 + k % 7;
      h.num_values = 6;
      if (k == kSamples - 1) h.flags = rt::kFrameSweepEnd;
      recorder->OnFrame(h, values);
    }
  };
  sweep(1);
  sweep(2);  // warm: the writer has buffers to hand back
  count_news = true;
  news = 0;
  sweep(3);
  sweep(4);
  count_news = false;
  const int blocks = 2 * kSamples / 2000;
  // Growing each block sample by sample took about 14 allocations a block
  // (and the timing store as many again each sweep); at most one new buffer
  // a block when the writer lags, plus the queue's own nodes.
  EXPECT_LT(news, 2 * blocks)
      << news << " allocations for " << blocks << " blocks";
  ASSERT_TRUE(recorder->Finish().ok());
  const std::vector<RecordedSweep> sweeps = recorder->sweeps();
  ASSERT_EQ(sweeps.size(), 4u);
  for (const RecordedSweep& s : sweeps) EXPECT_EQ(s.samples, kSamples);
  std::string out;
  EXPECT_EQ(CheckNwb(path,
                     "--sweeps 4 --samples 20000 20000 20000 20000 "
                     "--cells cell0 cell1",
                     &out),
            0)
      << out;
}

// Sweep after sweep the writer closes its datasets for good. Their metadata
// (object headers, chunk-index nodes) must leave HDF5's cache when they
// close, or a long recording's memory creeps up (about 0.75 MB a minute at
// 50 kHz before, the soak found): the cache must not grow with the number of
// sweeps written beyond the group's own links.
// A 2 s sweep of cell0: about 1 MB for the 6 recorded columns.
rt::ProtocolSpec TwoSeconds() {
  rt::ProtocolSpec protocol;
  protocol.name = "long";
  rt::SweepSpec sweep;
  rt::StimulusSpec step;
  step.cell = "cell0";
  EpochSpec hold;
  hold.duration_ms = 2000;
  step.epochs = {hold};
  sweep.stimuli = {step};
  protocol.sweeps = {sweep};
  return protocol;
}

// Limits the size of files this process writes (a stand-in for a disk
// that refuses writes: EFBIG where a full disk gives ENOSPC) while alive.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    std::signal(SIGXFSZ, SIG_IGN);  // EFBIG instead of death
    getrlimit(RLIMIT_FSIZE, &before_);
    rlimit small = before_;
    small.rlim_cur = bytes;
    ok_ = setrlimit(RLIMIT_FSIZE, &small) == 0;
  }
  ~FileSizeLimit() { setrlimit(RLIMIT_FSIZE, &before_); }
  bool ok() const { return ok_; }

 private:
  rlimit before_;
  bool ok_ = false;
};

// The space a recording needs is reserved when it starts: a disk that
// cannot hold it refuses the recording then, not halfway through.
TEST_F(RecorderTest, TheReservationRefusesARecordingTheDiskCannotHold) {
  const std::string path = TempPath("reserve");
  RecorderConfig c = Config(path);
  c.reserve_bytes = uint64_t{1} << 50;  // a petabyte: no disk here has it
  auto r = Recorder::Start(std::move(c));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("cannot reserve 1125899906.8 MB"),
            std::string::npos)
      << r.status();
  EXPECT_FALSE(std::filesystem::exists(path)) << "nothing left behind";
  // A reservation the disk can hold is taken, and what is unused is given
  // back when the recording ends.
  const std::string held = TempPath("held");
  RecorderConfig ok = Config(held);
  ok.reserve_bytes = 64 << 20;
  auto recorder = Recorder::Start(std::move(ok));
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  struct stat st;
  ASSERT_EQ(stat(held.c_str(), &st), 0);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, 64u << 20);
  ASSERT_TRUE((*recorder)->Finish().ok());
  ASSERT_EQ(stat(held.c_str(), &st), 0);
  EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, 4u << 20);
}

// A recording that would outgrow its reservation (the estimate wrong)
// stops cleanly: a complete, readable file with what was recorded.
TEST_F(RecorderTest, ARecordingStopsCleanlyAtTheEndOfItsReservation) {
  auto timeline = bench_.engine->CompileTimeline(TwoSeconds(), {});
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  const std::string path = TempPath("guard");
  RecorderConfig c = Config(path);
  c.reserve_bytes = (1 << 20) + (300 << 10);  // the guard keeps 1 MB
  auto recorder = Recorder::Start(std::move(c));
  ASSERT_TRUE(recorder.ok()) << recorder.status();
  bench_.engine->PlayTimeline(*std::move(timeline));
  for (int k = 0; k < 40 && !(*recorder)->failed(); ++k) {
    Run(**recorder, 1000);
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE((*recorder)->failed());
  const absl::Status finished = (*recorder)->Finish();
  EXPECT_NE(finished.message().find("reserved for it"), std::string::npos)
      << finished;
  std::string out;
  EXPECT_EQ(
      CheckNwb(path, "--sweeps 1 --cells cell0 cell1 --incomplete 1", &out), 0)
      << out;
}

// A write the system refuses mid-recording (a failing disk; here the file
// size limit with no reservation) stops the writer at once and says why,
// and the file is let go: nothing more is written to it and its lock is
// released for readers.
TEST_F(RecorderTest, AFailedWriteStopsTheWriterAndLetsTheFileGo) {
  auto timeline = bench_.engine->CompileTimeline(TwoSeconds(), {});
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  const std::string path = TempPath("efbig");
  absl::Status finished;
  {
    FileSizeLimit limit(400 << 10);
    ASSERT_TRUE(limit.ok());
    auto recorder = Recorder::Start(Config(path));
    ASSERT_TRUE(recorder.ok()) << recorder.status();
    bench_.engine->PlayTimeline(*std::move(timeline));
    for (int k = 0; k < 40 && !(*recorder)->failed(); ++k) {
      Run(**recorder, 1000);
      absl::SleepFor(absl::Milliseconds(20));
    }
    ASSERT_TRUE((*recorder)->failed()) << "the refused write went unnoticed";
    finished = (*recorder)->Finish();
    EXPECT_NE(finished.message().find("File too large"), std::string::npos)
        << finished;
    // The recorder lives on (the run's record keeps it) but holds no lock.
    const int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0) << "the file is still locked";
    close(fd);
  }
  EXPECT_LE(std::filesystem::file_size(path), 400u << 10);
}

TEST(Hdf5FileTest, ClosedSweepsLeaveTheMetadataCache) {
  const std::string path = TempPath("evict");
  absl::StatusOr<h5::File> file = h5::File::Create(path);
  ASSERT_TRUE(file.ok()) << file.status();
  std::vector<float> samples(50'000, 1.0f);
  auto write_sweeps = [&](int first, int count) {
    for (int k = first; k < first + count; ++k) {
      for (const char* name : {"/acquisition/v_", "/acquisition/i_"}) {
        absl::StatusOr<h5::Appendable> data = h5::Appendable::Create(
            *file, absl::StrCat(name, k), h5::Appendable::Kind::kFloat32, 4096);
        ASSERT_TRUE(data.ok()) << data.status();
        for (int block = 0; block < 4; ++block)
          ASSERT_TRUE(data->Append(samples.data(), samples.size()).ok());
      }  // closed here, as at the end of a sweep
    }
    ASSERT_TRUE(file->Flush().ok());
  };
  auto cache_entries = [&] {
    size_t max_size = 0, min_clean = 0, size = 0;
    int entries = 0;
    EXPECT_GE(
        H5Fget_mdc_size(file->id(), &max_size, &min_clean, &size, &entries), 0);
    return entries;
  };
  ASSERT_TRUE(file->CreateGroup("/acquisition").ok());
  write_sweeps(0, 5);
  const int after_5 = cache_entries();
  write_sweeps(5, 45);
  const int after_50 = cache_entries();
  // The group's own link storage grows a little (about 20 entries over 45
  // sweeps here); keeping closed datasets' metadata added about 200.
  EXPECT_LE(after_50, after_5 + 30)
      << "metadata cache entries " << after_5 << " after 5 sweeps, " << after_50
      << " after 50";
  file->Close();
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace dynclamp::server
