// dynclampd's flags into DaemonOptions: the defaults a user starts with,
// each flag where it lands, and bad values refused naming the flag.
#include "server/daemon/daemon_options.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dynclamp::server {
namespace {

using ::testing::HasSubstr;

class DaemonOptionsTest : public ::testing::Test {
 protected:
  // Sets flags as the command line would (each restored after the test).
  using Flags = std::vector<std::pair<const char*, const char*>>;
  void Set(const Flags& flags) {
    for (const auto& [name, value] : flags) {
      absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
      ASSERT_NE(flag, nullptr) << name;
      std::string error;
      ASSERT_TRUE(flag->ParseFrom(value, &error)) << name << ": " << error;
    }
  }
  // The error of the options as set, which must fail.
  std::string Error() {
    absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
    EXPECT_FALSE(options.ok());
    return std::string(options.status().message());
  }
  absl::FlagSaver saved_;
};

TEST_F(DaemonOptionsTest, DefaultsAreTheSimulatedRigOnLoopback) {
  absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  const InstrumentOptions& instrument = options->instrument;
  EXPECT_EQ(instrument.backend, "sim");
  EXPECT_EQ(instrument.period_ns, 50'000);
  ASSERT_EQ(instrument.daq.channels.size(), 2u);
  EXPECT_EQ(instrument.daq.channels[1].name, "cell1");
  EXPECT_EQ(instrument.daq.channels[0].output_gain_pa_per_v, 20'000);
  EXPECT_EQ(instrument.daq.channels[0].current_limit_pa, 2000);
  ASSERT_EQ(instrument.sim.cells.size(), 2u);
  EXPECT_EQ(instrument.sim.cells[0].model, rt::SimCellConfig::Model::kCa1);
  EXPECT_EQ(instrument.sim.cells[1].model, rt::SimCellConfig::Model::kPassive);
  EXPECT_EQ(instrument.max_consecutive_overruns, -1) << "the rig's default";
  EXPECT_EQ(instrument.recorder_flush, absl::Milliseconds(200));
  EXPECT_EQ(instrument.recorder_fsync, absl::Seconds(1));
  EXPECT_EQ(instrument.session_defaults.subject().subject_id(),
            "simulated-rig");
  EXPECT_THAT(instrument.session_defaults.subject().description(),
              HasSubstr("cell0: ca1"));
  EXPECT_EQ(options->listen, "127.0.0.1:50051");
  EXPECT_EQ(options->metrics_listen, "127.0.0.1:9464");
  EXPECT_FALSE(options->metrics_auth);
  EXPECT_TRUE(options->warnings.empty());
  EXPECT_EQ(options->limits.max_streams_per_client,
            ServiceLimits{}.max_streams_per_client);
  EXPECT_FALSE(options->queue.stop_on_failure);
  EXPECT_GE(options->lab_threads, 1);
}

TEST_F(DaemonOptionsTest, FlagsLandWhereTheySay) {
  Set({{"period_us", "20"},
       {"sim_cells", "hh@800,passive-na"},
       {"current_limit_pa", "500"},
       {"sim_clock", "wall"},
       {"recorder_flush_ms", "100"},
       {"recorder_fsync_ms", "0"},
       {"qc_max_step_us", "30"},
       {"max_streams_per_client", "3"},
       {"queue_on_failure", "stop"},
       {"lab_threads", "5"},
       {"cpu", "none"},
       {"data_dir", "/tmp/somewhere"}});
  absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  const InstrumentOptions& instrument = options->instrument;
  EXPECT_EQ(instrument.period_ns, 20'000);
  ASSERT_EQ(instrument.sim.cells.size(), 2u);
  EXPECT_EQ(instrument.sim.cells[0].model, rt::SimCellConfig::Model::kHh);
  EXPECT_EQ(instrument.sim.cells[0].bias_pa, 800);
  EXPECT_EQ(instrument.sim.cells[1].blocked, std::vector<std::string>{"na"});
  EXPECT_EQ(instrument.daq.channels[1].current_limit_pa, 500);
  EXPECT_EQ(instrument.sim.clock, rt::SimRigConfig::Clock::kWallClock);
  EXPECT_EQ(instrument.recorder_flush, absl::Milliseconds(100));
  EXPECT_EQ(instrument.recorder_fsync, absl::ZeroDuration());
  EXPECT_DOUBLE_EQ(instrument.qc.max_step_s, 30e-6);
  EXPECT_EQ(instrument.data_dir, "/tmp/somewhere");
  EXPECT_EQ(options->limits.max_streams_per_client, 3u);
  EXPECT_TRUE(options->queue.stop_on_failure);
  EXPECT_EQ(options->lab_threads, 5);
  EXPECT_EQ(options->cpu, "none");
}

TEST_F(DaemonOptionsTest, ARigFileSetsBackendChannelsAndPeriod) {
  Set({{"rig_file", DYNCLAMP_EXAMPLES_DIR "/rigs/multiclamp_two_cells.yaml"},
       {"period_us", "20"}});
  absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  const InstrumentOptions& instrument = options->instrument;
  EXPECT_EQ(instrument.backend, "comedi");
  EXPECT_EQ(instrument.rig_file.device(), "/dev/comedi0");
  EXPECT_EQ(instrument.period_ns, 50'000) << "the file's period wins";
  ASSERT_EQ(instrument.daq.channels.size(), 2u);
  EXPECT_EQ(instrument.daq.channels[0].output_gain_pa_per_v, 400);
  EXPECT_FALSE(instrument.rig_file_text.empty());
  EXPECT_EQ(instrument.max_consecutive_overruns, -1) << "the board's default";
  EXPECT_FALSE(instrument.session_defaults.has_subject())
      << "no simulated subject on a real rig";
}

TEST_F(DaemonOptionsTest, RigFlagNamesABackendAndItsDevice) {
  Set({{"rig", "comedi:/dev/comedi3"}, {"current_limit_pa", "800"}});
  absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  const InstrumentOptions& instrument = options->instrument;
  EXPECT_EQ(instrument.backend, "comedi");
  EXPECT_EQ(instrument.rig_file.device(), "/dev/comedi3");
  ASSERT_EQ(instrument.daq.channels.size(), 1u) << "one cell on the board";
  EXPECT_EQ(instrument.daq.channels[0].name, "cell0");
  EXPECT_EQ(instrument.daq.channels[0].current_limit_pa, 800);
  EXPECT_EQ(instrument.daq.channels[0].output_gain_pa_per_v,
            rt::DaqChannelConfig{}.output_gain_pa_per_v);
  Set({{"rig", "comedi"}});
  EXPECT_THAT(Error(), HasSubstr("--rig: device: name the comedi device"));
}

TEST_F(DaemonOptionsTest, BadValuesAreRefusedNamingTheFlag) {
  const std::vector<std::pair<Flags, const char*>> cases = {
      {{{"period_us", "2"}}, "--period_us: must be in [5, 10000]"},
      {{{"rig", "daq"}}, "--rig: 'sim' or 'comedi:/dev/comediN'"},
      {{{"sim_cells", "ca1,squid"}}, "--sim_cells[1]: unknown cell model"},
      {{{"sim_cells", "hh@lots"}}, "--sim_cells[0]: 'lots' after '@'"},
      {{{"sim_clock", "fast"}}, "--sim_clock: 'wall' or 'nominal'"},
      {{{"wake", "nap"}}, "--wake: "},
      {{{"busy_wait_us", "10"}}, "--busy_wait_us: a fixed spin needs"},
      {{{"recorder_flush_ms", "10"}}, "--recorder_flush_ms: must be in"},
      {{{"max_consecutive_overruns", "-2"}},
       "--max_consecutive_overruns: must be >= 0"},
      {{{"max_cells", "0"}}, "--max_cells"},
      {{{"queue_on_failure", "retry"}},
       "--queue_on_failure: 'continue' or 'stop', got 'retry'"},
      {{{"tls_cert", "a.pem"}}, "--tls_cert and --tls_key: give both"},
      {{{"tls_client_ca", "ca.pem"}}, "--tls_client_ca: needs --tls_cert"},
      {{{"metrics_auth", "true"}}, "--metrics_auth: needs --token_file"},
      {{{"issue_token", "ann:operator"}}, "--issue_token: needs --token_file"},
      {{{"rig_file", "/nonexistent/rig.yaml"}}, "/nonexistent/rig.yaml"},
      {{{"session_file", "/nonexistent/session.yaml"}},
       "/nonexistent/session.yaml"},
  };
  for (const auto& [flags, error] : cases) {
    absl::FlagSaver each;
    Set(flags);
    EXPECT_THAT(Error(), HasSubstr(error)) << error;
  }
}

TEST_F(DaemonOptionsTest, BeyondLoopbackNeedsTlsAndTokensOrInsecure) {
  Set({{"listen", "0.0.0.0:50051"}});
  EXPECT_THAT(Error(), HasSubstr("--listen: 0.0.0.0:50051 is reachable from "
                                 "the network, and this daemon has no TLS "
                                 "and tokens"));
  Set({{"insecure", "true"}});
  absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  ASSERT_EQ(options->warnings.size(), 1u);
  EXPECT_THAT(options->warnings[0], HasSubstr("INSECURE: serving on "
                                              "0.0.0.0:50051 without TLS "
                                              "and tokens"));
  Set({{"insecure", "false"},
       {"listen", "127.0.0.1:1"},
       {"metrics_listen", "0.0.0.0:9464"}});
  EXPECT_THAT(Error(), HasSubstr("--metrics_listen: 0.0.0.0:9464 is "
                                 "reachable from the network"));
  Set({{"token_file", "/tmp/tokens"}});
  options = DaemonOptionsFromFlags();
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_TRUE(options->metrics_auth) << "with tokens, metrics need one";
  EXPECT_TRUE(IsLoopback("[::1]:5") && IsLoopback("unix:/run/d.sock") &&
              !IsLoopback("10.0.0.2:5"));
}

}  // namespace
}  // namespace dynclamp::server
