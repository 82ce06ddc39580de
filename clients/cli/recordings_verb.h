// `dynclamp recordings list|get`: the recordings in the daemon's data
// directory, listed, and one downloaded to this machine with a progress
// bar. A download goes to FILE.part first, resumes from it after a cut, and
// becomes FILE only when its SHA-256 matches the daemon's.
//
// Threads: the CLI's main thread.
#ifndef DYNCLAMP_CLIENTS_CLI_RECORDINGS_VERB_H_
#define DYNCLAMP_CLIENTS_CLI_RECORDINGS_VERB_H_

#include <cstdint>
#include <string>

#include "clients/cpp/client.h"

namespace dynclamp::cli {

struct RecordingsArgs {
  std::string verb;     // "list" or "get"
  uint64_t run_id = 0;  // list: only this run's
  uint32_t limit = 0;   // list: how many (0: the daemon's default, 100)
  std::string which;    // get: a run id or a recording's name
  std::string output;   // get: the file (default: the recording's name)
  bool progress = true;
};

// Exit status: 0 done, 1 a call, a file or the checksum failed (one line on
// stderr).
int RunRecordings(client::Client& client, const RecordingsArgs& args);

}  // namespace dynclamp::cli

#endif  // DYNCLAMP_CLIENTS_CLI_RECORDINGS_VERB_H_
