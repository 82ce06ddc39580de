#include "clients/cpp/local_daemon.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace dynclamp::client {

absl::StatusOr<std::unique_ptr<LocalDaemon>> LocalDaemon::Start(
    const std::string& binary, const std::vector<std::string>& args) {
  auto d = std::unique_ptr<LocalDaemon>(new LocalDaemon());
  std::string templ =
      (std::filesystem::temp_directory_path() / "dynclampd-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError("cannot create a temporary directory");
  }
  d->dir_ = templ;
  const std::string port_file = d->dir_ + "/port";
  std::vector<std::string> argv_s = {binary, "--listen=127.0.0.1:0",
                                     "--port_file=" + port_file,
                                     "--data_dir=" + d->dir_ + "/data",
                                     // Many daemons at once: any free port.
                                     "--metrics_listen=127.0.0.1:0"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  const std::string log = d->dir_ + "/daemon.log";
  d->pid_ = fork();
  if (d->pid_ < 0) return absl::InternalError("fork failed");
  if (d->pid_ == 0) {
    if (freopen(log.c_str(), "w", stderr) == nullptr) _exit(126);
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  for (int i = 0; i < 200 && d->port_ == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    int status = 0;
    if (waitpid(d->pid_, &status, WNOHANG) == d->pid_) {
      d->pid_ = 0;
      return absl::UnavailableError(
          absl::StrCat("dynclampd exited at start:\n", d->Log()));
    }
    std::ifstream in(port_file);
    in >> d->port_;
  }
  if (d->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("dynclampd did not start within 5 s:\n", d->Log()));
  }
  return d;
}

LocalDaemon::~LocalDaemon() {
  Terminate();
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

int LocalDaemon::Terminate() {
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

std::string LocalDaemon::target() const {
  return absl::StrCat("127.0.0.1:", port_);
}

std::string LocalDaemon::Log() const {
  std::ifstream in(dir_ + "/daemon.log");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace dynclamp::client
