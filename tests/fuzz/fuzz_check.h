// Shared by the fuzz targets: what every rejection must look like, and the
// input split (first byte 0: binary protobuf as gRPC sends it; otherwise
// YAML/JSON text as the CLI reads it).
//
// Threads: one fuzz input at a time.
#ifndef DYNCLAMP_TESTS_FUZZ_FUZZ_CHECK_H_
#define DYNCLAMP_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dynclamp::fuzz {

// A rejection names where (a field path or the source, then ": ") and why,
// with a code that says it is the input's fault. Anything else aborts, so
// the fuzzer keeps the input.
inline void CheckRejection(const absl::Status& status, const char* stage) {
  if (status.ok()) return;
  const absl::string_view m = status.message();
  const bool input_code =
      status.code() == absl::StatusCode::kInvalidArgument ||
      status.code() == absl::StatusCode::kResourceExhausted ||
      status.code() == absl::StatusCode::kOutOfRange;
  const std::size_t colon = m.find(": ");
  if (!input_code || colon == absl::string_view::npos || colon == 0 ||
      colon + 2 >= m.size()) {
    std::fprintf(stderr, "%s: a rejection that names no field: %s\n", stage,
                 status.ToString().c_str());
    std::abort();
  }
}

struct Input {
  bool binary;
  absl::string_view bytes;
};

inline Input Split(const uint8_t* data, std::size_t size) {
  if (size > 0 && data[0] == 0) {
    return {true, absl::string_view(reinterpret_cast<const char*>(data) + 1,
                                    size - 1)};
  }
  return {false, absl::string_view(reinterpret_cast<const char*>(data), size)};
}

}  // namespace dynclamp::fuzz

#endif  // DYNCLAMP_TESTS_FUZZ_FUZZ_CHECK_H_
