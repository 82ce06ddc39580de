#include "server/lowering/rig_file.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dynclamp::server {
namespace {

absl::Status Bad(const std::string& path, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", reason));
}

}  // namespace

absl::StatusOr<RigSetup> LowerRigFile(const v1::RigFile& file,
                                      const DaqBackends& backends) {
  RigSetup setup;
  auto backend = backends.Get(file.backend(), "backend");
  if (!backend.ok()) return backend.status();
  setup.backend = (*backend)->name;
  if (file.period_us() != 0) {
    if (!std::isfinite(file.period_us()) || file.period_us() < 5 ||
        file.period_us() > 10000) {
      return Bad("period_us",
                 absl::StrFormat("must be in [5, 10000] us, got %g",
                                 file.period_us()));
    }
    setup.period_us = file.period_us();
  }
  if (file.channels_size() == 0)
    return Bad("channels", "the rig needs at least one channel");
  for (int i = 0; i < file.channels_size(); ++i) {
    const v1::ChannelWiring& w = file.channels(i);
    const std::string path = absl::StrCat("channels[", i, "]");
    rt::DaqChannelConfig c;
    c.name = w.name().empty() ? absl::StrCat("cell", i) : w.name();
    for (const auto& [value, field] :
         {std::pair{w.input_gain_mv_per_v(), "input_gain_mv_per_v"},
          std::pair{w.output_gain_pa_per_v(), "output_gain_pa_per_v"}}) {
      if (!std::isfinite(value) || value <= 0)
        return Bad(path + "." + field,
                   absl::StrFormat("must be > 0, got %g (set it as on the "
                                   "amplifier)",
                                   value));
    }
    if (!std::isfinite(w.current_limit_pa()) || w.current_limit_pa() <= 0 ||
        w.current_limit_pa() > kMaxCurrentLimitPa) {
      return Bad(path + ".current_limit_pa",
                 absl::StrFormat("must be in (0, %g] pA, got %g",
                                 kMaxCurrentLimitPa, w.current_limit_pa()));
    }
    c.input_gain_mv_per_v = w.input_gain_mv_per_v();
    c.output_gain_pa_per_v = w.output_gain_pa_per_v();
    c.current_limit_pa = w.current_limit_pa();
    setup.daq.channels.push_back(c);
  }
  if (absl::Status s = (*backend)->check(file); !s.ok()) return s;
  if ((*backend)->simulated) {
    setup.sim_cells.assign(file.sim_cells().begin(), file.sim_cells().end());
  }
  return setup;
}

}  // namespace dynclamp::server
