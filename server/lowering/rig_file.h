// Rig files: the wire's RigFile (proto, read from YAML or JSON) lowered into
// what the daemon builds the rig from: the backend, the Daq channels, the
// simulated cells and the period (the backend itself reads the rest of the
// file, e.g. a board's wiring: server/lowering/daq_backends.h). Errors are
// InvalidArgument naming the field
// ("channels[1].current_limit_pa: ...") and the reason; what only the board
// can tell (its subdevices, channels, ranges) is checked when the daemon
// opens it, with the same paths.
//
// Threads: non-RT; pure functions.
#ifndef DYNCLAMP_SERVER_LOWERING_RIG_FILE_H_
#define DYNCLAMP_SERVER_LOWERING_RIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "dynclamp/v1/rig.pb.h"
#include "rt_engine/daq/daq.h"
#include "server/lowering/daq_backends.h"

namespace dynclamp::server {

// Largest current limit accepted (pA): patch amplifiers inject nA.
inline constexpr double kMaxCurrentLimitPa = 100'000;

struct RigSetup {
  std::string backend;  // a name in DaqBackends
  rt::DaqConfig daq;
  std::vector<std::string> sim_cells;  // a simulated backend's, if named
  double period_us = 0;                // 0: not set by the file
};

absl::StatusOr<RigSetup> LowerRigFile(
    const v1::RigFile& file,
    const DaqBackends& backends = DaqBackends::Builtin());

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_LOWERING_RIG_FILE_H_
