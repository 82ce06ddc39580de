// The mechanism catalogue as the API lists it: the three model kinds with
// every parameter's unit, default and range (from the models' ParamInfo
// tables, the single place they are described), and every channel preset
// with its defaults and state variables.
//
// Threads: non-RT; pure.
#ifndef DYNCLAMP_SERVER_API_MECHANISMS_H_
#define DYNCLAMP_SERVER_API_MECHANISMS_H_

#include "dynclamp/v1/models.pb.h"

namespace dynclamp::server {

v1::ListMechanismsResponse ListMechanisms();

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_MECHANISMS_H_
