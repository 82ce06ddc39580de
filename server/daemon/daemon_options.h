// dynclampd's command line as plain values: the flags (defined in
// daemon_options.cc) read, checked together and lowered into what main
// builds the daemon from. Nothing here starts a thread or touches the rig;
// reading the rig, session and token files is all it does.
//
// Threads: non-RT; main, before the daemon starts (and tests).
#ifndef DYNCLAMP_SERVER_DAEMON_DAEMON_OPTIONS_H_
#define DYNCLAMP_SERVER_DAEMON_DAEMON_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/instrument/instrument.h"
#include "server/lowering/limits.h"
#include "server/queue/queue_runner.h"

namespace dynclamp::server {

// How long a client may stay silent before its connection is closed.
inline constexpr int kClientSilenceMs = 60'000;
// gRPC handler threads at most (each 2 MB of locked stack during a run).
inline constexpr int kMaxServerThreads = 256;

struct DaemonOptions {
  // The rig, the loop (but its CPU: main reserves `cpu` before any thread
  // starts), the recorder, QC and session defaults.
  InstrumentOptions instrument;
  std::string cpu = "auto";  // --cpu
  std::string data_dir;
  // --issue_token NAME:ROLE: add a token to token_file, print it, exit.
  std::string issue_token;
  std::string token_file;  // empty: no tokens
  // The gRPC API: where, and TLS (cert and key, both or neither; client_ca
  // asks clients for a certificate from it).
  std::string listen;
  std::string tls_cert, tls_key, tls_client_ca;
  std::string metrics_listen;  // empty: no metrics
  bool metrics_auth = false;   // metrics need a token (always with tokens)
  std::string port_file, metrics_port_file;
  ServiceLimits limits;
  QueueOptions queue;
  int lab_threads = 1;
  // --rig_check: test the rig and exit.
  bool rig_check = false;
  int rig_check_loopback = -1;
  // What main should log as it starts: --insecure's warnings, --cpu's notes.
  std::vector<std::string> warnings;
};

// The flags as parsed (absl::ParseCommandLine). InvalidArgument or
// FailedPrecondition naming the flag (as "--period_us: ...") and why.
absl::StatusOr<DaemonOptions> DaemonOptionsFromFlags();

// "127.0.0.1:N", "localhost:N", "[::1]:N" and unix sockets.
bool IsLoopback(const std::string& address);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_DAEMON_DAEMON_OPTIONS_H_
