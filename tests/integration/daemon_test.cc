// Integration tests: the real dynclampd on loopback, driven through the C++
// client library.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <numeric>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "daemon_process.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "spec_files/spec_file.h"

namespace dynclamp::testing {
namespace {

// Reads a stream on its own thread and keeps every sample.
class Reader {
 public:
  Reader(const std::string& target, std::vector<std::string> signals,
         uint32_t decimation) {
    client_ = *client::Client::Connect(target);
    v1::SubscribeRequest req;
    for (const auto& s : signals) req.add_signals(s);
    req.set_decimation(decimation);
    n_ = signals.size();
    thread_ = std::thread([this, req] {
      status_ = client_->Subscribe(req, [this](const v1::Chunk& c) {
        absl::MutexLock lock(&mu_);
        if (c.signals_size() > 0) {
          header_ = true;
          return true;
        }
        for (uint32_t k = 0; k < c.num_samples(); ++k) {
          index_.push_back(c.first_sample_index() +
                           k * (c.sample_period_ns() / period_ns_hint_));
          values_.insert(values_.end(), c.values().begin() + k * n_,
                         c.values().begin() + (k + 1) * n_);
        }
        lost_ = c.samples_lost();
        return true;
      });
      done_.store(true);
    });
    WaitFor([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return header_; });
  }
  ~Reader() { Stop(); }
  void Stop() {
    client_->Cancel();
    if (thread_.joinable()) thread_.join();
  }
  std::size_t Samples() {
    absl::MutexLock lock(&mu_);
    return index_.size();
  }
  // Waits for `n` more samples than now (or 10 s).
  void WaitMore(std::size_t n) {
    const std::size_t target = Samples() + n;
    WaitFor([this, target]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return index_.size() >= target;
    });
  }
  // Mean of signal `j` over the last `n` samples.
  double MeanLast(std::size_t j, std::size_t n) {
    absl::MutexLock lock(&mu_);
    const std::size_t total = index_.size();
    double sum = 0;
    for (std::size_t k = total - n; k < total; ++k) sum += values_[k * n_ + j];
    return sum / n;
  }
  uint64_t lost() {
    absl::MutexLock lock(&mu_);
    return lost_;
  }
  std::vector<uint64_t> indexes() {
    absl::MutexLock lock(&mu_);
    return index_;
  }
  std::vector<double> values() {
    absl::MutexLock lock(&mu_);
    return values_;
  }
  absl::Status status() { return status_; }
  bool done() const { return done_.load(); }
  static constexpr int64_t period_ns_hint_ = 50'000;

 private:
  template <typename F>
  void WaitFor(F cond) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&cond), absl::Seconds(10));
  }
  std::unique_ptr<client::Client> client_;
  std::size_t n_ = 1;
  std::thread thread_;
  std::atomic<bool> done_{false};
  absl::Status status_;
  absl::Mutex mu_;
  bool header_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<uint64_t> index_ ABSL_GUARDED_BY(mu_);
  std::vector<double> values_ ABSL_GUARDED_BY(mu_);
  uint64_t lost_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(DaemonTest, ReflectionListsTheServices) {
  DaemonProcess d;
  ASSERT_TRUE(d.ok());
  auto channel =
      grpc::CreateChannel(d.target(), grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  stream->WritesDone();
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  std::vector<std::string> services;
  for (const auto& s : resp.list_services_response().service())
    services.push_back(s.name());
  while (stream->Read(&resp)) {
  }
  EXPECT_TRUE(stream->Finish().ok());
  for (const char* name :
       {"dynclamp.v1.RigService", "dynclamp.v1.ModelService",
        "dynclamp.v1.RunService", "dynclamp.v1.StreamService",
        "grpc.health.v1.Health"}) {
    EXPECT_NE(std::find(services.begin(), services.end(), name), services.end())
        << name;
  }
}

TEST(DaemonTest, HealthCheckAnswersServing) {
  DaemonProcess d;
  ASSERT_TRUE(d.ok());
  auto h = d.client().CheckHealth();
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*h, grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(DaemonTest, GabaPullsTowardsItsReversalAndRemovingItRestoresRest) {
  DaemonProcess d({"--sim_cells=passive"});
  ASSERT_TRUE(d.ok());
  client::Client& c = d.client();
  ASSERT_TRUE(c.LoadSpec(Yaml(kGaba)).ok());
  ASSERT_TRUE(c.StartRun().ok());
  Reader r(d.target(), {"cell0.v_mv", "gaba.g_ns"}, 20);  // 1 kHz
  r.WaitMore(300);
  EXPECT_NEAR(r.MeanLast(0, 50), -65.0, 0.2) << "rest";
  EXPECT_NEAR(r.MeanLast(1, 50), 0.0, 1e-9);

  ASSERT_TRUE(c.SetParameter("gaba.applied", 1).ok());
  r.WaitMore(300);
  // Passive cell, 10 nS at -65 mV, plus 20 nS at -75 mV.
  EXPECT_NEAR(r.MeanLast(0, 50), (10 * -65.0 + 20 * -75.0) / 30, 0.2);
  EXPECT_NEAR(r.MeanLast(1, 50), 20.0, 0.05);

  ASSERT_TRUE(c.SetParameter("gaba.g_max_ns", 40).ok());
  r.WaitMore(300);
  EXPECT_NEAR(r.MeanLast(0, 50), (10 * -65.0 + 40 * -75.0) / 50, 0.2)
      << "a live g_max change takes effect";

  ASSERT_TRUE(c.SetParameter("gaba.applied", 0).ok());
  r.WaitMore(300);
  EXPECT_NEAR(r.MeanLast(0, 50), -65.0, 0.2) << "washout restores rest";
  EXPECT_EQ(r.lost(), 0u);

  auto loaded = c.GetLoadedSpec();
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->live_changes_size(), 3);
  EXPECT_EQ(loaded->live_changes(1).parameter(), "gaba.g_max_ns");
  EXPECT_EQ(loaded->spec().conductances(0).name(), "gaba");
  auto run = c.StopRun();
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->state(), v1::STOPPED);
  EXPECT_GT(run->timing().cycles(), 10000u);
}

TEST(DaemonTest, TwoSubscribersReceiveTheSameSamples) {
  DaemonProcess d({"--sim_cells=passive", "--sim_noise_mv=0.5"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.client().StartRun().ok());
  Reader a(d.target(), {"cell0.v_mv"}, 1);
  Reader b(d.target(), {"cell0.v_mv"}, 1);
  a.WaitMore(20000);
  b.WaitMore(20000);
  a.Stop();
  b.Stop();
  const auto ia = a.indexes(), ib = b.indexes();
  const auto va = a.values(), vb = b.values();
  std::size_t common = 0;
  for (std::size_t i = 0, j = 0; i < ia.size() && j < ib.size();) {
    if (ia[i] < ib[j])
      ++i;
    else if (ib[j] < ia[i])
      ++j;
    else {
      ASSERT_EQ(va[i], vb[j]) << "cycle " << ia[i];
      ++common, ++i, ++j;
    }
  }
  EXPECT_GT(common, 15000u);
  for (std::size_t i = 1; i < ia.size(); ++i) ASSERT_EQ(ia[i], ia[i - 1] + 1);
  EXPECT_EQ(a.lost(), 0u);
  EXPECT_EQ(b.lost(), 0u);
}

TEST(DaemonTest, SlowSubscriberLosesItsOwnSamplesOnly) {
  DaemonProcess d({"--sim_cells=passive,passive"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.client()
                  .LoadSpec(Yaml(R"(
conductances:
  - {name: gaba, cell: cell0, ligand_gated: {mode: CONTINUOUS, g_max_ns: 5,
     e_rev_mv: -75, tau_rise_ms: 5, tau_decay_ms: 5, applied: true}}
  - {name: leak, cell: cell1, constant: {g_ns: 2, e_rev_mv: -60}}
)"))
                  .ok());
  ASSERT_TRUE(d.client().StartRun().ok());
  const std::vector<std::string> eight = {
      "cell0.v_mv", "cell0.i_pa", "cell1.v_mv", "cell1.i_pa",
      "gaba.g_ns",  "gaba.i_pa",  "gaba.s",     "leak.i_pa"};
  Reader fast(d.target(), eight, 1);
  // The slow one: a raw stream that reads its header, then nothing for 8 s,
  // longer than its queue (~1.3 s) and gRPC's buffers together hold.
  auto channel =
      grpc::CreateChannel(d.target(), grpc::InsecureChannelCredentials());
  auto stub = v1::StreamService::NewStub(channel);
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  for (const auto& s : eight) req.add_signals(s);
  auto slow = stub->Subscribe(&ctx, req);
  v1::Chunk chunk;
  ASSERT_TRUE(slow->Read(&chunk));
  std::this_thread::sleep_for(std::chrono::seconds(8));
  uint64_t slow_lost = 0;
  for (int i = 0; i < 2000 && slow->Read(&chunk); ++i)
    slow_lost = chunk.samples_lost();
  ctx.TryCancel();
  fast.WaitMore(1000);
  EXPECT_GT(slow_lost, 0u) << "the slow subscriber's queue overflowed";
  EXPECT_EQ(fast.lost(), 0u) << "the other subscriber lost nothing";
  const auto idx = fast.indexes();
  for (std::size_t i = 1; i < idx.size(); ++i)
    ASSERT_EQ(idx[i], idx[i - 1] + 1);
  auto run = d.client().GetRun();
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->timing().dropped_frames(), 0u)
      << "the loop's ring never backed up: the drain never waited for anyone";
  EXPECT_EQ(run->state(), v1::RUNNING);
}

TEST(DaemonTest, RunWithADurationCompletesAndWatchSeesIt) {
  DaemonProcess d({"--sim_cells=passive"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.client().StartRun(0.3).ok());
  std::vector<v1::RunState> seen;
  auto s = d.client().WatchRun([&](const v1::Run& r) {
    seen.push_back(r.state());
    return r.state() != v1::COMPLETED;
  });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back(), v1::COMPLETED);
  auto run = d.client().GetRun();
  EXPECT_NEAR(run->elapsed_s(), 0.3, 0.1);
}

TEST(DaemonTest, StateErrorsHaveTheirCodes) {
  DaemonProcess d({"--sim_cells=passive"});
  ASSERT_TRUE(d.ok());
  client::Client& c = d.client();
  EXPECT_EQ(c.StopRun().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.ClearFault().status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.SetParameter("gaba.g_max_ns", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(c.StartRun().ok());
  auto again = c.StartRun();
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find("already running"),
            absl::string_view::npos);
  EXPECT_EQ(c.StartRun(-1).status().code(),
            absl::StatusCode::kFailedPrecondition)
      << "still running";
  v1::ConfigureChannelsRequest rc;
  *rc.add_channels() = c.GetRig()->channels(0);
  EXPECT_EQ(c.ConfigureChannels(rc).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(c.StopRun().ok());
  EXPECT_EQ(c.StartRun(-1).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(DaemonTest, BadInputIsRefusedWithFieldAndReasonAndChangesNothing) {
  DaemonProcess d({"--sim_cells=passive"});
  ASSERT_TRUE(d.ok());
  client::Client& c = d.client();
  ASSERT_TRUE(c.LoadSpec(Yaml(kGaba)).ok());
  ASSERT_TRUE(c.SetParameter("gaba.applied", 1).ok());
  ASSERT_TRUE(c.StartRun().ok());
  Reader r(d.target(), {"cell0.v_mv"}, 20);
  r.WaitMore(200);
  const double v_before = r.MeanLast(0, 50);
  const uint32_t generation = c.GetLoadedSpec()->generation();

  struct Case {
    const char* yaml;
    const char* expect;
  };
  const Case cases[] = {
      {"conductances: [{name: x, cell: cell0, preset: {preset: nav9}}]",
       "conductances[0] (x).preset.preset: no preset named 'nav9'"},
      {"conductances: [{name: x, cell: cell0, constant: {g_ns: 1}}]",
       "conductances[0] (x).constant.e_rev_mv: is required"},
      {"conductances: [{name: x, cell: cell0, constant: {g_ns: .nan, e_rev_mv: "
       "0}}]",
       "conductances[0] (x).constant.g_ns: must be a finite number"},
      {"conductances: [{name: x, cell: cell0, constant: {g_ns: 1, e_rev_mv: "
       "500}}]",
       "conductances[0] (x).constant.e_rev_mv: must be in [-200, 200] mV, got "
       "500"},
      {"conductances: [{name: x, cell: cell3, constant: {g_ns: 1, e_rev_mv: "
       "0}}]",
       "conductances[0] (x).cell: no cell named 'cell3'"},
      {"conductances: [{name: x, cell: cell0, hh: {g_max_ns: 1, e_rev_mv: 0, "
       "gates: "
       "[{name: m, power: 12, inf_tau: {inf_v_half_mv: 0, inf_slope_mv: 5, "
       "tau_ms: 1}}]}}]",
       "conductances[0] (x).hh.gates[0].power: must be an integer in [0, 8], "
       "got "
       "12"},
      {"conductances: [{name: x, cell: cell0, hh: {g_max_ns: 1, e_rev_mv: 0, "
       "gates: "
       "[{name: m, expressions: {inf: \"0.5\", tau: \"1/(V+30)\"}}]}}]",
       "conductances[0] (x).hh.gates[0] (m).tau"},
  };
  for (const Case& k : cases) {
    for (bool load : {false, true}) {
      const v1::Spec spec = Yaml(k.yaml);
      absl::Status s =
          load ? c.LoadSpec(spec).status() : c.ValidateSpec(spec).status();
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << k.yaml;
      EXPECT_NE(s.message().find(k.expect), absl::string_view::npos)
          << "got: " << s.message() << "\nwanted: " << k.expect;
    }
  }
  // Not YAML at all: refused before it reaches the daemon.
  EXPECT_EQ(spec_files::ParseSpec("{{{", "x").status().code(),
            absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(c.SetParameter("gaba.nope", 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(c.SetParameter("nav.g_max_ns", 1).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(c.SetParameter("gaba.tau_rise_ms", 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(c.SetParameter("gaba.g_max_ns", -5).code(),
            absl::StatusCode::kInvalidArgument);

  v1::SubscribeRequest bad;
  bad.add_signals("cell0.v_mv");
  bad.add_signals("gaba.x");
  auto sub = c.Subscribe(bad, [](const v1::Chunk&) { return true; });
  EXPECT_EQ(sub.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(sub.message().find("signals[1]: no signal named 'gaba.x'"),
            absl::string_view::npos);

  // Oversized: a 5 MB expression is refused by the transport.
  v1::Spec huge = Yaml(kGaba);
  auto* g = huge.add_conductances();
  g->set_name("big");
  g->set_cell("cell0");
  g->mutable_hh()->add_gates()->mutable_expressions()->set_inf(
      std::string(5 << 20, '1'));
  EXPECT_EQ(c.LoadSpec(huge).status().code(),
            absl::StatusCode::kResourceExhausted);

  // The experiment carried on untouched.
  r.WaitMore(200);
  EXPECT_NEAR(r.MeanLast(0, 50), v_before, 0.2);
  EXPECT_EQ(c.GetLoadedSpec()->generation(), generation);
  EXPECT_EQ(c.GetRun()->state(), v1::RUNNING);
}

TEST(DaemonTest, SigtermWhileStreamingZeroesAndFinishesStreams) {
  DaemonProcess d({"--sim_cells=passive"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.client().LoadSpec(Yaml(kGaba)).ok());
  ASSERT_TRUE(d.client().StartRun().ok());
  Reader r(d.target(), {"cell0.v_mv"}, 10);
  auto watcher = *client::Client::Connect(d.target());
  std::vector<v1::RunState> states;
  absl::Status watch_status;
  std::thread watch([&] {
    watch_status = watcher->WatchRun([&](const v1::Run& run) {
      states.push_back(run.state());
      return true;
    });
  });
  r.WaitMore(100);
  EXPECT_EQ(d.Terminate(), 0) << d.Log();
  watch.join();
  r.Stop();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(watch_status.code(), absl::StatusCode::kUnavailable)
      << watch_status;
  ASSERT_FALSE(states.empty());
  EXPECT_EQ(states.back(), v1::ABORTED) << "the run was stopped: outputs to 0";
  EXPECT_NE(d.Log().find("outputs to 0"), std::string::npos);
}

// Threads the process has now.
int ThreadCount(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (absl::StartsWith(line, "Threads:")) return std::stoi(line.substr(8));
  }
  return -1;
}

// Streams are callback reactors: one that waits for data holds no thread
// (a synchronous handler held one each, blocked until its next chunk).
TEST(DaemonTest, OpenStreamsHoldNoThreadEach) {
  constexpr int kEach = 12;
  DaemonProcess d({"--sim_cells=passive", "--max_streams_per_client=40",
                   "--max_subscribers=40"});
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d.client().StartRun().ok());
  Reader warm(d.target(), {"cell0.v_mv"}, 100);  // gRPC's pools started
  warm.WaitMore(10);
  const int before = ThreadCount(d.pid());
  std::vector<std::unique_ptr<Reader>> readers;
  std::vector<std::unique_ptr<client::Client>> watchers;
  std::vector<std::thread> watching;
  std::vector<std::atomic<bool>> seen(kEach);
  auto watched = [&] {
    return std::count_if(seen.begin(), seen.end(),
                         [](const std::atomic<bool>& b) { return b.load(); });
  };
  for (int i = 0; i < kEach; ++i) {
    readers.push_back(std::make_unique<Reader>(
        d.target(), std::vector<std::string>{"cell0.v_mv"}, 100));
    watchers.push_back(*client::Client::Connect(d.target()));
    watching.emplace_back([&, i, w = watchers.back().get()] {
      (void)w->WatchRun([&](const v1::Run&) {
        seen[i].store(true);
        return true;
      });
    });
  }
  for (int i = 0; i < 500 && watched() < kEach; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(watched(), kEach) << "every watcher saw the run";
  for (auto& r : readers) r->WaitMore(10);  // every stream delivers
  const int during = ThreadCount(d.pid());
  // 24 streams; gRPC's callback pool may add a few threads under load.
  EXPECT_LT(during - before, kEach / 2)
      << before << " threads before the streams, " << during << " with them";
  for (auto& w : watchers) w->Cancel();
  for (auto& t : watching) t.join();
}

TEST(DaemonTest, RigDescribesItselfAndChannelsCanBeReconfigured) {
  DaemonProcess d({"--sim_cells=passive,hh", "--period_us=40"});
  ASSERT_TRUE(d.ok());
  client::Client& c = d.client();
  auto rig = c.GetRig();
  ASSERT_TRUE(rig.ok());
  EXPECT_EQ(rig->backend(), "sim");
  EXPECT_EQ(rig->period_ns(), 40'000);
  ASSERT_EQ(rig->channels_size(), 2);
  EXPECT_EQ(rig->channels(1).name(), "cell1");
  EXPECT_FALSE(rig->rt_settings().known());
  ASSERT_TRUE(c.StartRun(0.05).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_TRUE(c.GetRig()->rt_settings().known());

  ASSERT_TRUE(c.LoadSpec(Yaml(kGaba)).ok());
  v1::ConfigureChannelsRequest req;
  for (const auto& ch : rig->channels()) *req.add_channels() = ch;
  req.mutable_channels(0)->set_name("pyramidal");
  auto refused = c.ConfigureChannels(req);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("no cell named 'cell0'"),
            absl::string_view::npos)
      << refused.status();
  req.mutable_channels(0)->set_name("cell0");
  req.mutable_channels(0)->set_current_limit_pa(500);
  auto changed = c.ConfigureChannels(req);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(changed->channels(0).current_limit_pa(), 500);
  req.mutable_channels(0)->set_current_limit_pa(-1);
  EXPECT_EQ(c.ConfigureChannels(req).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.GetLoadedSpec()->spec().conductances(0).name(), "gaba")
      << "the loaded spec survived the reconfiguration";
}

TEST(DaemonTest, MechanismsListParametersWithUnitsDefaultsAndRanges) {
  DaemonProcess d({"--sim_cells=passive"});
  ASSERT_TRUE(d.ok());
  auto m = d.client().ListMechanisms();
  ASSERT_TRUE(m.ok());
  bool found = false;
  for (const auto& mech : m->mechanisms()) {
    if (mech.name() != "ca1_na") continue;
    found = true;
    EXPECT_EQ(mech.kind(), "preset");
    EXPECT_EQ(mech.parameters(0).name(), "g_max_ns");
    EXPECT_EQ(mech.parameters(0).unit(), "nS");
    EXPECT_NEAR(mech.parameters(0).default_value(), 3200, 1e-9);
    EXPECT_TRUE(mech.parameters(0).live());
    EXPECT_EQ(mech.states_size(), 2);
  }
  EXPECT_TRUE(found);
  auto signals = d.client().ListSignals();
  ASSERT_TRUE(signals.ok());
  EXPECT_EQ(signals->signals(0).name(), "cell0.v_mv");
  EXPECT_EQ(signals->signals(0).unit(), "mV");
}

TEST(DaemonTest, EveryExampleValidatesOnTheRigItNames) {
  struct Example {
    const char* file;
    const char* cells;
  };
  for (const Example& e :
       {Example{"gaba_step", "passive"},
        Example{"prinz2004_fig1b_gaba", "passive"},
        Example{"prinz2004_fig1c_leak_subtraction", "passive"},
        Example{"prinz2004_fig2_k_addback", "ca1-kdr-ka"},
        Example{"bettencourt2008_na_knockin", "ca1-na"},
        Example{"custom_hh_channel", "passive"}}) {
    DaemonProcess d({std::string("--sim_cells=") + e.cells});
    ASSERT_TRUE(d.ok());
    auto spec = spec_files::ReadSpecFile(std::string(DYNCLAMP_EXAMPLES_DIR) +
                                         "/" + e.file + ".yaml");
    ASSERT_TRUE(spec.ok()) << spec.status();
    auto v = d.client().ValidateSpec(*spec);
    EXPECT_TRUE(v.ok()) << e.file << ": " << v.status();
  }
}

}  // namespace
}  // namespace dynclamp::testing
