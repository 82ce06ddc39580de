// Fixture for rt_boundary.forbidden_include_is_caught: the include scan must
// reject this file. It is never compiled.
#include <grpcpp/grpcpp.h>
