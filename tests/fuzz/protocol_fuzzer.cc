// Fuzzes what the daemon does with a protocol: parse (YAML or binary),
// lowering and compiling the timeline for two cells.
#include <cstddef>
#include <cstdint>

#include "rt_engine/protocol/timeline.h"
#include "server/lowering/protocol_lowering.h"
#include "spec_files/spec_file.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace dynclamp;
  const std::optional<v1::Protocol> protocol =
      fuzz::ParseInput<v1::Protocol>(data, size, [](absl::string_view text) {
        return spec_files::ParseProtocol(text, "fuzz");
      });
  if (!protocol) return 0;
  absl::StatusOr<rt::ProtocolSpec> lowered = server::LowerProtocol(*protocol);
  fuzz::CheckRejection(lowered.status(), "lower");
  if (!lowered.ok()) return 0;
  auto timeline =
      rt::Timeline::Compile(*lowered, {"cell0", "cell1"}, nullptr, 0.05);
  fuzz::CheckRejection(timeline.status(), "compile");
  return 0;
}
