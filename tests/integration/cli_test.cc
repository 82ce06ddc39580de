// The dynclamp CLI against the real daemon: exit codes, one-line errors,
// stream output.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/str_split.h"
#include "clients/cpp/local_daemon.h"
#include "gtest/gtest.h"

namespace dynclamp::testing {
namespace {

struct Result {
  int exit_code;
  std::string out;  // stdout and stderr together
};

Result Cli(const std::string& target, const std::string& args) {
  const std::string cmd = std::string(DYNCLAMP_CLI_PATH) + " --server " +
                          target + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Result r{-1, ""};
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d =
        client::LocalDaemon::Start(DYNCLAMPD_PATH, {"--sim_cells=passive"});
    ASSERT_TRUE(d.ok()) << d.status();
    daemon_ = *std::move(d);
  }
  std::string target() { return daemon_->target(); }
  std::unique_ptr<client::LocalDaemon> daemon_;
};

TEST_F(CliTest, LoadStartStreamStop) {
  const std::string spec = WriteFile("ok.yaml", R"(
conductances:
  - {name: g, cell: cell0, constant: {g_ns: 10, e_rev_mv: -80}}
)");
  Result r = Cli(target(), "load " + spec);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("generation 1"), std::string::npos) << r.out;
  r = Cli(target(), "start");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  const std::string csv = ::testing::TempDir() + "/out.csv";
  r = Cli(
      target(),
      "stream --signals cell0.v_mv,g.i_pa --decimate 100 --duration 0.5 -o " +
          csv);
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::ifstream in(csv);
  std::string header, line;
  std::getline(in, header);
  EXPECT_EQ(header, "t_s,cell0.v_mv,g.i_pa");
  int rows = 0;
  double v = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> cols = absl::StrSplit(line, ',');
    ASSERT_EQ(cols.size(), 3u) << line;
    v = std::stod(cols[1]);
    ++rows;
  }
  EXPECT_GT(rows, 20);
  EXPECT_NEAR(v, (10 * -65.0 + 10 * -80.0) / 20, 0.5) << "the conductance acts";
  r = Cli(target(), "status");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("RUNNING"), std::string::npos) << r.out;
  r = Cli(target(), "stop");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("STOPPED"), std::string::npos) << r.out;
}

TEST_F(CliTest, ErrorsAreOneLineAndExitNonZero) {
  const std::string bad = WriteFile("bad.yaml", R"(
conductances:
  - {name: g, cell: cell0, constant: {g_ns: 10}}
)");
  Result r = Cli(target(), "load " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            "dynclamp: load: INVALID_ARGUMENT: conductances[0] "
            "(g).constant.e_rev_mv: "
            "is required\n");
  r = Cli(target(), "stop");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "dynclamp: stop: FAILED_PRECONDITION: no run is active\n");
  r = Cli(target(), "set g.g_ns ten");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("'ten' is not a number"), std::string::npos);
  r = Cli("127.0.0.1:1 --timeout 0.5", "status");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("UNAVAILABLE: cannot reach dynclampd at 127.0.0.1:1"),
            std::string::npos)
      << r.out;
  r = Cli(target(), "frobnicate");
  EXPECT_EQ(r.exit_code, 2) << "usage errors";
}

}  // namespace
}  // namespace dynclamp::testing
