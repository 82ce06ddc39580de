// Fuzzes what the daemon does with a rig file: parse (YAML or binary) and
// lowering to the backend, wiring and limits of each cell.
#include <cstddef>
#include <cstdint>

#include "server/lowering/rig_file.h"
#include "spec_files/spec_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace dynclamp;
  const std::optional<v1::RigFile> file = fuzz::ParseInput<v1::RigFile>(
      data, size, [](absl::string_view text) -> absl::StatusOr<v1::RigFile> {
        v1::RigFile f;
        if (absl::Status s = spec_files::ParseYamlMessage(text, "fuzz", f);
            !s.ok()) {
          return s;
        }
        return f;
      });
  if (!file) return 0;
  absl::StatusOr<server::RigSetup> rig = server::LowerRigFile(*file);
  fuzz::CheckRejection(rig.status(), "lower");
  return 0;
}
