// `dynclamp fidelity`: runs the daemon's fidelity lab (Bettencourt et al.
// 2008 on the simulated CA1 cell, or your spec), prints its tables, writes
// CSV files and draws the figures with scripts/plot_fidelity.py.
//
// Threads: the CLI's main thread.
#ifndef DYNCLAMP_CLIENTS_CLI_FIDELITY_VERB_H_
#define DYNCLAMP_CLIENTS_CLI_FIDELITY_VERB_H_

#include <string>
#include <vector>

#include "clients/cpp/client.h"

namespace dynclamp::cli {

struct FidelityArgs {
  std::vector<std::string> families = {"na", "k"};
  std::string spec_file;           // your conductances instead of presets
  std::vector<std::string> block;  // channels of the cell they replace
  std::vector<double> steps_us;    // custom conditions (empty: the paper's)
  std::vector<double> jitter_worst_us;
  double jitter_floor_us = 25;
  std::vector<double> latencies_us;
  double latency_step_us = 50;
  std::vector<double> fi_currents_pa;
  double fi_duration_s = 0;
  int trials = 0;
  uint64_t seed = 0;
  std::string out_dir = "fidelity";
  bool plot = true;
  double lab_timeout_s = 3600;
};

// Exit status: 0 done, 1 a call or a file failed (one line on stderr).
int RunFidelity(client::Client& client, const FidelityArgs& args);

}  // namespace dynclamp::cli

#endif  // DYNCLAMP_CLIENTS_CLI_FIDELITY_VERB_H_
