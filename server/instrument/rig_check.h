// Rig check: a self-test of the board the daemon drives (dynclampd
// --rig_check). It times the per-cycle input and output instruction lists
// over many cycles, and, with an output wired back to an input (a loopback
// cable instead of the amplifier), writes a series of voltages and fits the
// read-back: gain (should be 1) and offset (should be ~0 V).
//
// Threads: non-RT, on the calling thread, before any loop runs.
#ifndef DYNCLAMP_SERVER_INSTRUMENT_RIG_CHECK_H_
#define DYNCLAMP_SERVER_INSTRUMENT_RIG_CHECK_H_

#include <string>

#include "absl/status/statusor.h"
#include "rt_engine/daq/daq.h"

namespace dynclamp::server {

struct RigCheckReport {
  int cycles = 0;
  double read_p50_us = 0, read_p99_us = 0, read_max_us = 0;
  double write_p50_us = 0, write_p99_us = 0, write_max_us = 0;
  bool loopback = false;  // a loopback channel was tested
  double gain = 0, offset_mv = 0, worst_residual_mv = 0;
  std::string ToString() const;
};

// `loopback_channel` < 0: no loopback test. The loopback writes currents
// and reads membrane potentials through the channel's gains, so the fitted
// gain is (read V / written V) at the board.
absl::StatusOr<RigCheckReport> CheckRig(rt::Daq& daq, int cycles,
                                        int loopback_channel);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_RIG_CHECK_H_
