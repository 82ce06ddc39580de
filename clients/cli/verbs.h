// The `dynclamp` CLI's verbs, one group per file: each adds its
// subcommands (with their options and help) to the app, and runs the one
// given (cli_common.h, OnVerb).
//
// Threads: the CLI's main thread.
#ifndef DYNCLAMP_CLIENTS_CLI_VERBS_H_
#define DYNCLAMP_CLIENTS_CLI_VERBS_H_

#include <CLI/CLI.hpp>

#include "clients/cli/cli_common.h"

namespace dynclamp::cli {

// status, mechanisms, signals, hold, health (rig_verbs.cc).
void AddRigVerbs(CLI::App& app, Globals& g);
// validate, load, spec, unload, set (spec_verbs.cc).
void AddSpecVerbs(CLI::App& app, Globals& g);
// start, stop, clear-fault, watch, run, check, pause, resume (run_verbs.cc).
void AddRunVerbs(CLI::App& app, Globals& g);
// stream (stream_verb.cc).
void AddStreamVerb(CLI::App& app, Globals& g);
// queue ..., history, lock (queue_verbs.cc).
void AddQueueVerbs(CLI::App& app, Globals& g);
// fidelity (fidelity_verb.cc).
void AddFidelityVerb(CLI::App& app, Globals& g);
// recordings list|get (recordings_verb.cc).
void AddRecordingsVerb(CLI::App& app, Globals& g);
// token, config (admin_verbs.cc).
void AddAdminVerbs(CLI::App& app, Globals& g);

}  // namespace dynclamp::cli

#endif  // DYNCLAMP_CLIENTS_CLI_VERBS_H_
