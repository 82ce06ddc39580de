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
  const fuzz::Input in = fuzz::Split(data, size);
  v1::Spec spec;
  if (in.binary) {
    if (!spec.ParseFromArray(in.bytes.data(),
                             static_cast<int>(in.bytes.size()))) {
      return 0;  // gRPC refuses it before any of our code runs
    }
  } else {
    absl::StatusOr<v1::Spec> parsed = spec_files::ParseSpec(in.bytes, "fuzz");
    fuzz::CheckRejection(parsed.status(), "parse");
    if (!parsed.ok()) return 0;
    spec = *std::move(parsed);
  }
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
