// Rig files: the wire's RigFile (proto, read from YAML or JSON) lowered into
// what the daemon builds the rig from: the backend, the Daq channels, the
// comedi wiring and the period. Errors are InvalidArgument naming the field
// ("channels[1].current_limit_pa: ...") and the reason; what only the board
// can tell (its subdevices, channels, ranges) is checked when the daemon
// opens it, with the same paths.
//
// Threads: non-RT; pure functions.
#ifndef DYNCLAMP_SERVER_RIG_FILE_H_
#define DYNCLAMP_SERVER_RIG_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "dynclamp/v1/rig.pb.h"
#include "rt_engine/comedi/comedi_daq.h"
#include "rt_engine/daq.h"

namespace dynclamp::server {

// Largest current limit accepted (pA): patch amplifiers inject nA.
inline constexpr double kMaxCurrentLimitPa = 100'000;

struct RigSetup {
  bool comedi = false;
  rt::DaqConfig daq;
  rt::ComediConfig comedi_config;      // comedi only
  std::vector<std::string> sim_cells;  // sim only
  double period_us = 0;                // 0: not set by the file
};

absl::StatusOr<RigSetup> LowerRigFile(const v1::RigFile& file);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_RIG_FILE_H_
