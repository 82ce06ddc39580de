// The daemon's version, reported by the rig API and written into data.
#ifndef DYNCLAMP_SERVER_VERSION_H_
#define DYNCLAMP_SERVER_VERSION_H_

namespace dynclamp {
inline constexpr char kVersion[] = "0.2.0";
}  // namespace dynclamp

#endif  // DYNCLAMP_SERVER_VERSION_H_
