#include "server/lowering/daq_backends.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rt_engine/daq/comedi/comedi_daq.h"

namespace dynclamp::server {
namespace {

rt::ComediEndpoint Lower(const v1::Endpoint& e) {
  rt::ComediEndpoint out;
  out.subdevice = e.has_subdevice() ? e.subdevice() : -1;
  out.channel = static_cast<int>(e.channel());
  out.range = static_cast<int>(e.range());
  out.aref = e.reference() == v1::Endpoint::COMMON         ? AREF_COMMON
             : e.reference() == v1::Endpoint::DIFFERENTIAL ? AREF_DIFF
                                                           : AREF_GROUND;
  return out;
}

DaqBackend SimBackend() {
  DaqBackend sim;
  sim.name = "sim";
  sim.simulated = true;
  sim.check = [](const v1::RigFile& file) {
    if (file.sim_cells_size() != 0 &&
        file.sim_cells_size() != file.channels_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sim_cells: ", file.sim_cells_size(), " given for ",
                       file.channels_size(), " channels"));
    }
    return absl::OkStatus();
  };
  sim.make = [](const v1::RigFile&, const rt::SimRigConfig& cells)
      -> absl::StatusOr<std::unique_ptr<rt::Daq>> {
    return std::make_unique<rt::SimRig>(cells);
  };
  return sim;
}

}  // namespace

DaqBackend ComediBackend(
    std::function<std::unique_ptr<rt::ComediDevice>()> device) {
  DaqBackend comedi;
  comedi.name = "comedi";
  comedi.check = [](const v1::RigFile& file) {
    if (file.device().empty()) {
      return absl::InvalidArgumentError(
          "device: name the comedi device, e.g. /dev/comedi0");
    }
    return absl::OkStatus();
  };
  // What only the board can tell (its subdevices, channels, ranges) is
  // checked when ComediDaq::Configure opens it, with the same paths.
  comedi.make =
      [device = std::move(device)](
          const v1::RigFile& file,
          const rt::SimRigConfig&) -> absl::StatusOr<std::unique_ptr<rt::Daq>> {
    rt::ComediConfig config;
    config.device = file.device();
    config.calibration_file = file.calibration_file();
    for (const v1::ChannelWiring& w : file.channels()) {
      config.channels.push_back({Lower(w.input()), Lower(w.output())});
    }
    return std::make_unique<rt::ComediDaq>(std::move(config), device());
  };
  return comedi;
}

const DaqBackends& DaqBackends::Builtin() {
  static const DaqBackends* const builtin = [] {
    auto* b = new DaqBackends;
    b->Add(SimBackend()).Add(ComediBackend(rt::MakeComediLibDevice));
    return b;
  }();
  return *builtin;
}

DaqBackends& DaqBackends::Add(DaqBackend backend) {
  for (DaqBackend& b : backends_) {
    if (b.name == backend.name) {
      b = std::move(backend);
      return *this;
    }
  }
  backends_.push_back(std::move(backend));
  return *this;
}

const DaqBackend* DaqBackends::Find(absl::string_view name) const {
  for (const DaqBackend& b : backends_) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

absl::StatusOr<const DaqBackend*> DaqBackends::Get(
    absl::string_view name, absl::string_view field) const {
  if (const DaqBackend* b = Find(name)) return b;
  std::vector<std::string> names;
  for (const DaqBackend& b : backends_) names.push_back("'" + b.name + "'");
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", absl::StrJoin(names, " or "), ", got '", name, "'"));
}

}  // namespace dynclamp::server
