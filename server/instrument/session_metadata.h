// Session metadata for recordings: who recorded what from which animal
// (v1::Session). Three sources, each field of a more specific one replacing
// the same field of the one before: the daemon's defaults (--session_file,
// and on the simulated rig a subject that says it is no animal), the
// protocol's `session`, the run request's. The NWB Inspector with the DANDI
// archive's configuration refuses a file whose subject lacks an id, a
// species, an age or a sex in their standard forms; Check() refuses those
// forms when they are wrong, and Missing() names what is absent.
//
// Threads: any; pure functions.
#ifndef DYNCLAMP_SERVER_INSTRUMENT_SESSION_METADATA_H_
#define DYNCLAMP_SERVER_INSTRUMENT_SESSION_METADATA_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dynclamp/v1/protocol.pb.h"

namespace dynclamp::server {

// Every field set in `over` replaces the one in `base`; cells are matched by
// name, field by field.
void OverlaySession(const v1::Session& over, v1::Session& base);

// InvalidArgument naming "<path>.subject.sex" (and so on) and the form
// wanted: sex M, F, U or O; age an ISO 8601 duration ("P21D", "P8W", a
// range "P1D/P3D" or "P90D/"); species a Latin binomial or an NCBI taxonomy
// IRI; cells named once each.
absl::Status CheckSession(const v1::Session& session, const std::string& path);

// The fields the DANDI archive requires that `session` lacks
// ("subject.species", ...); empty when the file will be accepted.
std::vector<std::string> MissingForDandi(const v1::Session& session);

// The simulated rig's subject: no animal (NCBI's "synthetic construct"),
// its cells ("cell0: ca1", ...) named in the description.
v1::Subject SimulatedSubject(const std::vector<std::string>& cells);

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_INSTRUMENT_SESSION_METADATA_H_
