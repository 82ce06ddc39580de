// dynclamp: the command-line client of dynclampd.
//
//   dynclamp [--server HOST:PORT] [--timeout S] VERB ...
//
// Errors print one line (the verb, the status code, what failed and why)
// and exit 1; usage errors exit 2. The verbs, by group: verbs.h.
#include <CLI/CLI.hpp>

#include "clients/cli/cli_common.h"
#include "clients/cli/verbs.h"

int main(int argc, char** argv) {
  using namespace dynclamp::cli;  // NOLINT: main only wires the groups
  CLI::App app{"dynclamp: drive a dynclampd dynamic-clamp daemon"};
  app.require_subcommand(1);
  Globals g;
  AddConnectionOptions(app, g);
  AddRigVerbs(app, g);
  AddSpecVerbs(app, g);
  AddRunVerbs(app, g);
  AddStreamVerb(app, g);
  AddQueueVerbs(app, g);
  AddFidelityVerb(app, g);
  AddRecordingsVerb(app, g);
  AddAdminVerbs(app, g);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return g.exit_code;
}
