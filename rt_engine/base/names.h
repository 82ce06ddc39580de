// Naming rules shared by every named object (cells, conductances, gates):
// names become parts of signal and parameter paths ("na.m", "cell0.v_mv"),
// so they are identifiers: a letter or '_' then letters, digits or '_',
// at most 64 characters.
//
// Threads: non-RT.
#ifndef DYNCLAMP_RT_ENGINE_BASE_NAMES_H_
#define DYNCLAMP_RT_ENGINE_BASE_NAMES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace dynclamp::rt {

bool IsValidName(absl::string_view name);

// `text` for an error message, cut after 64 characters with its length
// said: what a client sent is echoed, never without bound. Quoted() puts
// it in single quotes.
std::string Clipped(absl::string_view text);
// The longest prefix of `text` of at most `max_bytes` that does not split a
// UTF-8 sequence.
absl::string_view Utf8Prefix(absl::string_view text, std::size_t max_bytes);
std::string Quoted(absl::string_view text);

// Whether a signal pattern (published_signals, a protocol's record) names
// `signal`: the same name, or a prefix ending in '*' ("net_*", "na.*").
bool MatchesSignalPattern(absl::string_view pattern, absl::string_view signal);

// InvalidArgument "<path>.<field>: ..." unless IsValidName(name).
absl::Status CheckName(absl::string_view name, absl::string_view path,
                       absl::string_view field);

}  // namespace dynclamp::rt

#endif  // DYNCLAMP_RT_ENGINE_BASE_NAMES_H_
