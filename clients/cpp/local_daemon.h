// LocalDaemon: starts a dynclampd process on a free loopback port (tests,
// benchmarks, demos), and stops it with SIGTERM (SIGKILL if it hangs).
//
// Threads: non-RT; one owner.
#ifndef DYNCLAMP_CLIENTS_CPP_LOCAL_DAEMON_H_
#define DYNCLAMP_CLIENTS_CPP_LOCAL_DAEMON_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dynclamp::client {

class LocalDaemon {
 public:
  // Runs `binary` with --listen=127.0.0.1:0 and a private data dir and port
  // file, plus `args`; waits until it listens. Unavailable (with its log) if
  // it does not start within 5 s.
  static absl::StatusOr<std::unique_ptr<LocalDaemon>> Start(
      const std::string& binary, const std::vector<std::string>& args);
  ~LocalDaemon();  // Terminate(), then removes its directory
  LocalDaemon(const LocalDaemon&) = delete;
  LocalDaemon& operator=(const LocalDaemon&) = delete;

  // SIGTERM, wait up to 5 s (then SIGKILL). Returns the exit code, or -1 if
  // it had to be killed or died by a signal. Idempotent.
  int Terminate();
  std::string target() const;  // "127.0.0.1:PORT"
  std::string Log() const;     // what it wrote to stderr
  pid_t pid() const { return pid_; }

 private:
  LocalDaemon() = default;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
};

}  // namespace dynclamp::client

#endif  // DYNCLAMP_CLIENTS_CPP_LOCAL_DAEMON_H_
