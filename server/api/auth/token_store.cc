#include "server/api/auth/token_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace dynclamp::server {

absl::StatusOr<Role> ParseRole(absl::string_view text) {
  if (auto role = kRoleNames.Find(absl::AsciiStrToLower(text))) return *role;
  return absl::InvalidArgumentError(absl::StrCat(
      "role: 'observer', 'operator' or 'admin', got '", text, "'"));
}

std::string Sha256Hex(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_sha256(), nullptr);
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), length));
}

namespace {

constexpr absl::string_view kTokenPrefix = "dct_";  // dynclamp token
constexpr absl::string_view kHashPrefix = "sha256:";

absl::Status CheckName(absl::string_view name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: 1 to 64 characters, got ", name.size()));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_' && c != '.' && c != '@' &&
        c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("name: only letters, digits and _ . @ -, got '",
                       absl::CHexEscape(name), "'"));
    }
  }
  return absl::OkStatus();
}

// Only the daemon's user may read or write the file.
absl::Status CheckPrivate(const std::string& path, const struct stat& st) {
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "token file %s: mode %04o lets group or others read it; run "
        "'chmod 600 %s'",
        path, st.st_mode & 07777, path));
  }
  if (st.st_uid != geteuid()) {
    return absl::PermissionDeniedError(
        absl::StrCat("token file ", path, ": owned by uid ", st.st_uid,
                     ", not by the daemon's user (uid ", geteuid(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(std::string path,
                                                             bool create) {
  std::unique_ptr<TokenStore> store(new TokenStore(path));
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT || !create) {
      return absl::NotFoundError(
          absl::StrCat("token file ", path, ": ", std::strerror(errno)));
    }
    absl::MutexLock lock(&store->mu_);
    if (absl::Status s = store->SaveLocked(); !s.ok()) return s;
    return store;
  }
  if (absl::Status s = CheckPrivate(path, st); !s.ok()) return s;
  std::ifstream in(path);
  if (!in) {
    return absl::PermissionDeniedError(
        absl::StrCat("token file ", path, ": cannot read it"));
  }
  std::string line;
  int number = 0;
  absl::MutexLock lock(&store->mu_);
  while (std::getline(in, line)) {
    ++number;
    absl::string_view text = absl::StripAsciiWhitespace(line);
    if (text.empty() || text[0] == '#') continue;
    const std::vector<absl::string_view> fields =
        absl::StrSplit(text, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat("token file ", path, ":", number);
    if (fields.size() != 4) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected 'NAME ROLE sha256:HEX CREATED_UNIX_S', got ",
          fields.size(), " fields"));
    }
    TokenEntry entry;
    entry.name = std::string(fields[0]);
    if (absl::Status s = CheckName(entry.name); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
    auto role = ParseRole(fields[1]);
    if (!role.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", role.status().message()));
    }
    entry.role = *role;
    absl::string_view hash = fields[2];
    if (!absl::ConsumePrefix(&hash, kHashPrefix) || hash.size() != 64 ||
        !std::all_of(hash.begin(), hash.end(), [](char c) {
          return absl::ascii_isxdigit(c) && !absl::ascii_isupper(c);
        })) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": hash: expected sha256: and 64 lowercase hex digits"));
    }
    entry.sha256_hex = std::string(hash);
    if (!absl::SimpleAtoi(fields[3], &entry.created_unix_s)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": created: not an integer"));
    }
    for (const TokenEntry& e : store->entries_) {
      if (e.name == entry.name) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": name '", entry.name, "' appears twice"));
      }
    }
    store->entries_.push_back(std::move(entry));
  }
  return store;
}

absl::StatusOr<Principal> TokenStore::Authenticate(
    absl::string_view token) const {
  const std::string hash = Sha256Hex(token);
  absl::MutexLock lock(&mu_);
  const TokenEntry* found = nullptr;
  // Compare with every entry in constant time: how long a refusal takes
  // says nothing about how close a guess was.
  for (const TokenEntry& e : entries_) {
    if (e.sha256_hex.size() == hash.size() &&
        CRYPTO_memcmp(e.sha256_hex.data(), hash.data(), hash.size()) == 0) {
      found = &e;
    }
  }
  if (found == nullptr) {
    return absl::UnauthenticatedError(
        "the token is not valid (revoked, "
        "mistyped, or from another daemon)");
  }
  return Principal{found->name, found->role};
}

absl::StatusOr<std::string> TokenStore::Issue(absl::string_view name, Role role,
                                              int64_t now_unix_s) {
  if (absl::Status s = CheckName(name); !s.ok()) return s;
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) {
    return absl::InternalError("no random bytes for a token");
  }
  const std::string token = absl::StrCat(
      kTokenPrefix, absl::BytesToHexString(absl::string_view(
                        reinterpret_cast<const char*>(random), sizeof random)));
  absl::MutexLock lock(&mu_);
  for (const TokenEntry& e : entries_) {
    if (e.name == name) {
      return absl::AlreadyExistsError(
          absl::StrCat("name: a token named '", name,
                       "' exists; revoke it first to replace it"));
    }
  }
  entries_.push_back(
      TokenEntry{std::string(name), role, Sha256Hex(token), now_unix_s});
  if (absl::Status s = SaveLocked(); !s.ok()) {
    entries_.pop_back();
    return s;
  }
  return token;
}

absl::Status TokenStore::Revoke(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->name != name) continue;
    TokenEntry removed = *it;
    entries_.erase(it);
    if (absl::Status s = SaveLocked(); !s.ok()) {
      entries_.push_back(std::move(removed));
      return s;
    }
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("name: no token named '", name, "'"));
}

std::vector<TokenEntry> TokenStore::List() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}

absl::Status TokenStore::SaveLocked() const {
  std::ostringstream text;
  text << "# dynclampd access tokens: NAME ROLE sha256:HEX CREATED_UNIX_S\n"
          "# Only hashes are kept; issue tokens with 'dynclampd "
          "--issue_token' or 'dynclamp token create'.\n";
  for (const TokenEntry& e : entries_) {
    text << e.name << ' ' << RoleName(e.role) << ' ' << kHashPrefix
         << e.sha256_hex << ' ' << e.created_unix_s << '\n';
  }
  const std::string body = text.str();
  // Written beside the file with mode 0600 from the start, then renamed
  // over it: a crash leaves the old file or the new one, never half.
  const std::string tmp = path_ + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("token file ", tmp, ": ", std::strerror(errno)));
  }
  bool ok = ::fchmod(fd, 0600) == 0 &&
            ::write(fd, body.data(), body.size()) ==
                static_cast<ssize_t>(body.size()) &&
            ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("token file ", path_, ": cannot write it"));
  }
  return absl::OkStatus();
}

}  // namespace dynclamp::server
