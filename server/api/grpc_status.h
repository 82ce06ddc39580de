// The one place an absl::Status becomes what a gRPC client receives. The
// code is kept (absl and gRPC number them alike); the message is bounded
// (input a client sent is echoed in part, never whole: a default client
// refuses metadata over 8 KB, and the refusal can take other streams on the
// same connection with it); and an INVALID_ARGUMENT carries a
// google.rpc.BadRequest with the field the message names and the reason,
// for clients that want the path without parsing English.
//
// Messages name the field first, as everywhere in dynclamp: "<field>:
// <reason>" (e.g. "spec.conductances[0].g_max_ns: must be at least 0").
//
// Threads: non-RT, any thread.
#ifndef DYNCLAMP_SERVER_API_GRPC_STATUS_H_
#define DYNCLAMP_SERVER_API_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"

namespace dynclamp::server {

// The longest message a client receives, in bytes; longer ones are cut,
// saying how long they were.
inline constexpr std::size_t kMaxErrorMessageBytes = 1024;
// The longest field path reported.
inline constexpr std::size_t kMaxFieldPathBytes = 256;

// The field a message names before its first ": ", if that prefix looks
// like a path (letters, digits and _ . [ ] - only), without the labels
// messages add after an element ("conductances[0] (gaba).cell" ->
// "conductances[0].cell"); else "". `reason_at`: where the reason starts.
std::string FieldOfMessage(absl::string_view message,
                           std::size_t* reason_at = nullptr);

// `text` cut to at most `max_bytes` (at a UTF-8 boundary) plus a note of
// its full length, or `text` if it fits.
std::string ClipText(absl::string_view text, std::size_t max_bytes);

// The google.rpc.Status a client finds in the "grpc-status-details-bin"
// trailer: code, message and, for INVALID_ARGUMENT, a BadRequest.
google::rpc::Status RichStatus(const absl::Status& status);

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_GRPC_STATUS_H_
