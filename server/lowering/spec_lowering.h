// Spec lowering: turns the wire's Spec (proto) into the engine's plain
// ModelSetSpec, once, off the RT thread. It checks what the engine's own
// validation cannot see: required fields present, one model chosen, cells
// and presets that exist, enums known. Errors are InvalidArgument naming the
// field path ("conductances[1] (na).hh.gates[0] (m).alpha_beta.alpha.slope_mv")
// and the reason. Numeric ranges are then checked by ModelSet::Prepare.
//
// Threads: non-RT; pure functions.
#ifndef DYNCLAMP_SERVER_LOWERING_SPEC_LOWERING_H_
#define DYNCLAMP_SERVER_LOWERING_SPEC_LOWERING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dynclamp/v1/spec.pb.h"
#include "rt_engine/model_set.h"

namespace dynclamp::server {

// INVALID_ARGUMENT naming path.integrator for a value it does not know.
absl::StatusOr<rt::Integrator> LowerIntegrator(v1::Integrator integrator,
                                               const std::string& path);

absl::StatusOr<rt::ModelSetSpec> LowerSpec(
    const v1::Spec& spec, const std::vector<std::string>& cell_names);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_LOWERING_SPEC_LOWERING_H_
