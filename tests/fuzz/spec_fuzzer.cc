// Fuzzes what the daemon does with a spec: parse (YAML or binary), the
// limits, lowering and the engine's full preparation of the model set.
#include <cstddef>
#include <cstdint>

#include "rt_engine/model_set.h"
#include "server/lowering/limits.h"
#include "server/lowering/spec_lowering.h"
#include "spec_files/spec_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace dynclamp;
  const std::optional<v1::Spec> parsed =
      fuzz::ParseInput<v1::Spec>(data, size, [](absl::string_view text) {
        return spec_files::ParseSpec(text, "fuzz");
      });
  if (!parsed) return 0;
  const v1::Spec& spec = *parsed;
  server::ServiceLimits limits;
  absl::Status s = server::CheckSpecLimits(spec, limits);
  fuzz::CheckRejection(s, "limits");
  if (!s.ok()) return 0;
  absl::StatusOr<rt::ModelSetSpec> lowered =
      server::LowerSpec(spec, {"cell0", "cell1"});
  fuzz::CheckRejection(lowered.status(), "lower");
  if (!lowered.ok()) return 0;
  rt::ModelSet::Config config;
  config.cell_names = {"cell0", "cell1"};
  config.max_signals = 128;
  auto set = rt::ModelSet::Prepare(*lowered, config);
  fuzz::CheckRejection(set.status(), "prepare");
  return 0;
}
