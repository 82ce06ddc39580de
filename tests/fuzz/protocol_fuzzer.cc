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
  const fuzz::Input in = fuzz::Split(data, size);
  v1::Protocol protocol;
  if (in.binary) {
    if (!protocol.ParseFromArray(in.bytes.data(),
                                 static_cast<int>(in.bytes.size()))) {
      return 0;
    }
  } else {
    absl::StatusOr<v1::Protocol> parsed =
        spec_files::ParseProtocol(in.bytes, "fuzz");
    fuzz::CheckRejection(parsed.status(), "parse");
    if (!parsed.ok()) return 0;
    protocol = *std::move(parsed);
  }
  absl::StatusOr<rt::ProtocolSpec> lowered = server::LowerProtocol(protocol);
  fuzz::CheckRejection(lowered.status(), "lower");
  if (!lowered.ok()) return 0;
  auto timeline =
      rt::Timeline::Compile(*lowered, {"cell0", "cell1"}, nullptr, 0.05);
  fuzz::CheckRejection(timeline.status(), "compile");
  return 0;
}
