// Fuzzes what the daemon does with a rig file: parse (YAML or binary) and
// lowering to the backend, wiring and limits of each cell.
#include <cstddef>
#include <cstdint>

#include "server/lowering/rig_file.h"
#include "spec_files/spec_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace dynclamp;
  const fuzz::Input in = fuzz::Split(data, size);
  v1::RigFile file;
  if (in.binary) {
    if (!file.ParseFromArray(in.bytes.data(),
                             static_cast<int>(in.bytes.size()))) {
      return 0;
    }
  } else {
    absl::Status parsed = spec_files::ParseYamlMessage(in.bytes, "fuzz", file);
    fuzz::CheckRejection(parsed, "parse");
    if (!parsed.ok()) return 0;
  }
  absl::StatusOr<server::RigSetup> rig = server::LowerRigFile(file);
  fuzz::CheckRejection(rig.status(), "lower");
  return 0;
}
