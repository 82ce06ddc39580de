// DaemonProcess: a LocalDaemon (the real dynclampd on a free loopback port)
// plus a connected Client, for tests; failures to start are test failures.
#ifndef DYNCLAMP_TESTS_INTEGRATION_DAEMON_PROCESS_H_
#define DYNCLAMP_TESTS_INTEGRATION_DAEMON_PROCESS_H_

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "clients/cpp/client.h"
#include "clients/cpp/local_daemon.h"
#include "gtest/gtest.h"
#include "spec_files/spec_file.h"

namespace dynclamp::testing {

inline v1::Spec Yaml(const std::string& text) {
  auto spec = spec_files::ParseSpec(text, "test");
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

// A GABA conductance switched by hand (the live parameter `applied`).
inline constexpr char kGaba[] = R"(
conductances:
  - name: gaba
    cell: cell0
    ligand_gated: {mode: CONTINUOUS, g_max_ns: 20, e_rev_mv: -75,
                   tau_rise_ms: 5, tau_decay_ms: 5}
)";

class DaemonProcess {
 public:
  explicit DaemonProcess(std::vector<std::string> args = {}) {
    auto d = client::LocalDaemon::Start(DYNCLAMPD_PATH, args);
    if (!d.ok()) {
      ADD_FAILURE() << d.status();
      return;
    }
    daemon_ = *std::move(d);
    auto c = client::Client::Connect(daemon_->target());
    EXPECT_TRUE(c.ok()) << c.status();
    if (c.ok()) client_ = *std::move(c);
  }
  ~DaemonProcess() {
    if (daemon_ == nullptr) return;
    daemon_->Terminate();
    if (getenv("DYNCLAMP_TEST_SHOW_LOG")) fprintf(stderr, "%s", Log().c_str());
  }

  int Terminate() { return daemon_->Terminate(); }
  std::string target() const { return daemon_->target(); }
  client::Client& client() { return *client_; }
  bool ok() const { return client_ != nullptr; }
  std::string Log() const { return daemon_->Log(); }
  pid_t pid() const { return daemon_->pid(); }

 private:
  std::unique_ptr<client::LocalDaemon> daemon_;
  std::unique_ptr<client::Client> client_;
};

}  // namespace dynclamp::testing

#endif  // DYNCLAMP_TESTS_INTEGRATION_DAEMON_PROCESS_H_
