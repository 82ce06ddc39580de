// DAQ backends by name. A backend says once how a rig file's settings for
// it are checked (device, each channel's wiring) and how its Daq is made;
// rig files, the daemon's options and the Instrument look it up by name, so
// none of them branches on a backend. Built in: "sim" (the simulated rig)
// and "comedi" (a board through comedilib). Tests add their own.
//
// Threads: non-RT. A DaqBackends is filled before the daemon starts and
// only read after.
#ifndef DYNCLAMP_SERVER_LOWERING_DAQ_BACKENDS_H_
#define DYNCLAMP_SERVER_LOWERING_DAQ_BACKENDS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dynclamp/v1/rig.pb.h"
#include "rt_engine/daq/comedi/comedi_device.h"
#include "rt_engine/daq/daq.h"
#include "rt_engine/daq/sim/sim_rig.h"

namespace dynclamp::server {

struct DaqBackend {
  std::string name;
  // Its cells are simulated: the rig file may name them (sim_cells), and
  // recordings say that no animal was used.
  bool simulated = false;
  // What the rig file says for this backend beyond the channels' gains and
  // limits (which every backend shares): InvalidArgument naming the field.
  std::function<absl::Status(const v1::RigFile& file)> check;
  // The Daq, not yet configured, for a checked rig file; a simulated
  // backend takes its cells from `sim`.
  std::function<absl::StatusOr<std::unique_ptr<rt::Daq>>(
      const v1::RigFile& file, const rt::SimRigConfig& sim)>
      make;
};

class DaqBackends {
 public:
  // "sim" and "comedi" (on comedilib).
  static const DaqBackends& Builtin();

  // Adds a backend, replacing one of the same name.
  DaqBackends& Add(DaqBackend backend);
  // Null if no backend has that name.
  const DaqBackend* Find(absl::string_view name) const;
  // The backend, or InvalidArgument "<field>: 'sim' or 'comedi', got 'x'".
  absl::StatusOr<const DaqBackend*> Get(absl::string_view name,
                                        absl::string_view field) const;

 private:
  std::vector<DaqBackend> backends_;
};

// The comedi backend on a given device maker (tests pass a fake board).
DaqBackend ComediBackend(
    std::function<std::unique_ptr<rt::ComediDevice>()> device);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_LOWERING_DAQ_BACKENDS_H_
