// Protocol lowering: turns the wire's Protocol (proto) into the engine's
// plain ProtocolSpec, expanding the built-in families (F-I curve, titration,
// test pulse) into sweeps after the explicit ones and converting seconds to
// milliseconds. Errors are InvalidArgument naming the field path
// ("fi_curve.step_pa", "sweeps[2].stimuli[0].epochs[1].duration_s") and the
// reason. What needs the rig and the loaded spec (cells, parameters and their
// ranges, steps shorter than the clamp period, the memory cap) is checked
// by Timeline::Compile.
//
// Threads: non-RT; pure functions.
#ifndef DYNCLAMP_SERVER_LOWERING_PROTOCOL_LOWERING_H_
#define DYNCLAMP_SERVER_LOWERING_PROTOCOL_LOWERING_H_

#include "absl/status/statusor.h"
#include "dynclamp/v1/protocol.pb.h"
#include "rt_engine/protocol/timeline.h"

namespace dynclamp::server {

// At most this many sweeps from one family.
inline constexpr int kMaxFamilySweeps = 10'000;

absl::StatusOr<rt::ProtocolSpec> LowerProtocol(const v1::Protocol& protocol);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_LOWERING_PROTOCOL_LOWERING_H_
