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
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

// The message in the input: binary as gRPC receives it, or text read by
// `parse_text(text) -> StatusOr<Message>` as a file is, whose refusal is
// checked. Empty when refused.
template <typename Message, typename ParseText>
std::optional<Message> ParseInput(const uint8_t* data, std::size_t size,
                                  ParseText parse_text) {
  const Input in = Split(data, size);
  if (in.binary) {
    Message m;
    // What does not parse, gRPC refuses before any of our code runs.
    if (!m.ParseFromArray(in.bytes.data(), static_cast<int>(in.bytes.size())))
      return std::nullopt;
    return m;
  }
  absl::StatusOr<Message> parsed = parse_text(in.bytes);
  CheckRejection(parsed.status(), "parse");
  if (!parsed.ok()) return std::nullopt;
  return *std::move(parsed);
}

}  // namespace dynclamp::fuzz

#endif  // DYNCLAMP_TESTS_FUZZ_FUZZ_CHECK_H_
