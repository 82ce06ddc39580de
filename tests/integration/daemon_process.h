// DaemonProcess: starts the real dynclampd on a free loopback port for a
// test, connects a Client, and stops it with SIGTERM (SIGKILL if it hangs).
#ifndef DYNCLAMP_TESTS_INTEGRATION_DAEMON_PROCESS_H_
#define DYNCLAMP_TESTS_INTEGRATION_DAEMON_PROCESS_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "clients/cpp/client.h"
#include "gtest/gtest.h"

namespace dynclamp::testing {

class DaemonProcess {
 public:
  explicit DaemonProcess(std::vector<std::string> extra_args = {}) {
    dir_ = std::filesystem::temp_directory_path() /
           ("dynclampd-test-" + std::to_string(getpid()) + "-" +
            std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    const std::string port_file = (dir_ / "port").string();
    std::vector<std::string> args = {DYNCLAMPD_PATH, "--listen=127.0.0.1:0",
                                     "--port_file=" + port_file,
                                     "--data_dir=" + (dir_ / "data").string()};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = fork();
    if (pid_ == 0) {
      const std::string log = (dir_ / "daemon.log").string();
      freopen(log.c_str(), "w", stderr);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    for (int i = 0; i < 200 && port_ == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      std::ifstream in(port_file);
      in >> port_;
    }
    if (port_ == 0) {
      ADD_FAILURE() << "dynclampd did not start; log:\n" << Log();
      return;
    }
    auto c = client::Client::Connect(target());
    EXPECT_TRUE(c.ok()) << c.status();
    if (c.ok()) client_ = *std::move(c);
  }

  ~DaemonProcess() {
    Terminate();
    if (getenv("DYNCLAMP_TEST_SHOW_LOG")) fprintf(stderr, "%s", Log().c_str());
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Sends SIGTERM and waits; returns the exit status (or -1 if killed).
  int Terminate() {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        return exit_status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
    exit_status_ = -1;
    return exit_status_;
  }

  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  client::Client& client() { return *client_; }
  bool ok() const { return client_ != nullptr; }
  std::string Log() const {
    std::ifstream in(dir_ / "daemon.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
  std::unique_ptr<client::Client> client_;
};

}  // namespace dynclamp::testing

#endif  // DYNCLAMP_TESTS_INTEGRATION_DAEMON_PROCESS_H_
