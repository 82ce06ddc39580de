// What every verb of the `dynclamp` CLI shares: the connection options, the
// one-line error and exit, connecting, and how runs are printed. Each verb
// group (verbs.h) adds its subcommands to the app with a callback that
// sets the exit status.
//
// Threads: the CLI's main thread.
#ifndef DYNCLAMP_CLIENTS_CLI_CLI_COMMON_H_
#define DYNCLAMP_CLIENTS_CLI_CLI_COMMON_H_

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "clients/cpp/client.h"
#include "dynclamp/v1/runs.pb.h"

namespace dynclamp::cli {

namespace v1 = dynclamp::v1;
using client::Client;

// The options before the verb, and the verb's exit status.
struct Globals {
  std::string server = "127.0.0.1:50051";
  double timeout_s = 10;
  std::string operator_name;
  std::string token_file;  // default $DYNCLAMP_TOKEN_FILE
  bool tls = false;
  std::string tls_ca, tls_cert, tls_key, tls_server_name;
  int exit_code = 2;  // no verb ran
};

// --server, --timeout, --operator, --token-file and the TLS options.
void AddConnectionOptions(CLI::App& app, Globals& g);

// When `sub` is the verb given, runs `verb` and keeps its exit status.
void OnVerb(CLI::App* sub, Globals& g, std::function<int()> verb);

// "dynclamp: VERB: CODE: message" on stderr, then exit 1.
[[noreturn]] void Die(const std::string& verb, const absl::Status& status);

template <typename T>
T OrDie(const std::string& verb, absl::StatusOr<T> result) {
  if (!result.ok()) Die(verb, result.status());
  return *std::move(result);
}

std::unique_ptr<Client> ConnectOrDie(const Globals& g, const std::string& verb);

// Runs, sweeps and the fidelity replay, as the run verbs and status print
// them.
std::string StateName(v1::RunState s);
bool Terminal(v1::RunState s);
void PrintRun(const v1::Run& r);
void PrintSweeps(const v1::Run& r);
void PrintFidelity(const v1::Run& r);
// After a run with a spec loaded ends, the daemon replays its timing: the
// run once its fidelity is computed (a few seconds at most).
v1::Run WithFidelity(Client& client, v1::Run r, const char* verb);

// The protocol file, and the spec and session files if given, as a run
// request that carries each file as written.
v1::RunProtocolRequest ReadRunRequest(const std::string& verb,
                                      const std::string& protocol_path,
                                      const std::string& spec_path,
                                      const std::string& session_path);

// Local time "YYYY-MM-DD HH:MM:SS", or "-" for 0.
std::string Time(int64_t unix_ns);

}  // namespace dynclamp::cli

#endif  // DYNCLAMP_CLIENTS_CLI_CLI_COMMON_H_
