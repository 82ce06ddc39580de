// TokenStore: the daemon's access tokens, kept in a file readable only by
// the daemon's user. The file holds each token's name, role, SHA-256 and
// creation time, never the token: a copy of the file does not let anyone in.
// Tokens are 256 random bits; a call presents one as
// "authorization: Bearer <token>".
//
// File format, one token per line ('#' starts a comment):
//   NAME ROLE sha256:HEX CREATED_UNIX_S
//
// Threads: non-RT; every method is thread-safe.
#ifndef DYNCLAMP_SERVER_API_AUTH_TOKEN_STORE_H_
#define DYNCLAMP_SERVER_API_AUTH_TOKEN_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "rt_engine/base/enum_names.h"

namespace dynclamp::server {

// Ordered: each role may do everything the ones below it may.
enum class Role { kObserver = 1, kOperator = 2, kAdmin = 3 };

absl::StatusOr<Role> ParseRole(absl::string_view text);
inline constexpr rt::EnumNames<Role, Role::kObserver, Role::kAdmin> kRoleNames(
    "observer", "operator", "admin");
inline const char* RoleName(Role role) { return kRoleNames.Name(role); }

// Who made a call.
struct Principal {
  std::string name;
  Role role = Role::kObserver;
};

struct TokenEntry {
  std::string name;
  Role role = Role::kObserver;
  std::string sha256_hex;
  int64_t created_unix_s = 0;
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

class TokenStore {
 public:
  // Loads `path`. With `create`, a missing file is created empty (mode
  // 0600). Refuses a file that group or others may read or write (naming
  // its mode and the fix) and any malformed line (naming its number).
  static absl::StatusOr<std::unique_ptr<TokenStore>> Open(std::string path,
                                                          bool create);

  // The token's principal; Unauthenticated for an unknown token (the
  // message never repeats the token).
  absl::StatusOr<Principal> Authenticate(absl::string_view token) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // A new random token for `name` (unique; [A-Za-z0-9_.@-], 1..64). The
  // file is rewritten atomically before the token is returned.
  absl::StatusOr<std::string> Issue(absl::string_view name, Role role,
                                    int64_t now_unix_s)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Revoke(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<TokenEntry> List() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& path() const { return path_; }

 private:
  explicit TokenStore(std::string path) : path_(std::move(path)) {}
  absl::Status SaveLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  mutable absl::Mutex mu_;
  std::vector<TokenEntry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_AUTH_TOKEN_STORE_H_
