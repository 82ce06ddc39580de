#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "clients/cli/verbs.h"

namespace dynclamp::cli {
namespace {

// dynclamp token create NAME ROLE | revoke NAME | list
int TokenVerb(const Globals& g, const std::string& verb,
              const std::string& name, const std::string& role_text) {
  auto client = ConnectOrDie(g, "token");
  if (verb == "create") {
    v1::Role role = v1::ROLE_UNSPECIFIED;
    if (!v1::Role_Parse(absl::AsciiStrToUpper(role_text), &role) ||
        role == v1::ROLE_UNSPECIFIED) {
      Die("token",
          absl::InvalidArgumentError(absl::StrCat(
              "ROLE: observer, operator or admin, got '", role_text, "'")));
    }
    const v1::CreatedToken t = OrDie("token", client->CreateToken(name, role));
    std::fprintf(stderr,
                 "token '%s' (%s) created; it is shown once, keep it like a "
                 "password:\n",
                 t.name().c_str(),
                 absl::AsciiStrToLower(v1::Role_Name(t.role())).c_str());
    std::printf("%s\n", t.token().c_str());
    return 0;
  }
  if (verb == "revoke") {
    if (absl::Status s = client->RevokeToken(name); !s.ok()) Die("token", s);
    std::printf("token '%s' revoked\n", name.c_str());
    return 0;
  }
  const v1::ListTokensResponse list = OrDie("token", client->ListTokens());
  std::printf("%-24s %-9s %s\n", "NAME", "ROLE", "CREATED (UTC)");
  for (const v1::TokenInfo& t : list.tokens()) {
    std::printf("%-24s %-9s %s\n", t.name().c_str(),
                absl::AsciiStrToLower(v1::Role_Name(t.role())).c_str(),
                absl::FormatTime("%Y-%m-%d %H:%M:%S",
                                 absl::FromUnixSeconds(t.created_unix_s()),
                                 absl::UTCTimeZone())
                    .c_str());
  }
  return 0;
}

// dynclamp config [--set max_cells=500 ...]
int ConfigVerb(const Globals& g, const std::vector<std::string>& sets) {
  auto client = ConnectOrDie(g, "config");
  v1::DaemonConfig config = OrDie("config", client->GetConfig());
  if (!sets.empty()) {
    v1::Limits limits = config.limits();
    const auto* descriptor = limits.GetDescriptor();
    for (const std::string& set : sets) {
      std::pair<std::string, std::string> kv =
          absl::StrSplit(set, absl::MaxSplits('=', 1));
      const auto* field = descriptor->FindFieldByName(kv.first);
      uint64_t value = 0;
      if (field == nullptr || !absl::SimpleAtoi(kv.second, &value)) {
        Die("config", absl::InvalidArgumentError(absl::StrCat(
                          "--set: LIMIT=VALUE with a limit of 'dynclamp "
                          "config' and a whole number, got '",
                          set, "'")));
      }
      limits.GetReflection()->SetUInt64(&limits, field, value);
    }
    config = OrDie("config", client->SetLimits(limits));
  }
  std::printf("listen           %s (%s, %s)\n", config.listen().c_str(),
              config.tls() ? (config.client_certificates_required()
                                  ? "TLS, client certificates required"
                                  : "TLS")
                           : "plain",
              config.authentication() ? "tokens" : "no tokens");
  std::printf("metrics          %s%s\n", config.metrics_listen().c_str(),
              config.metrics_protected() ? " (basic auth)" : "");
  const v1::Limits& l = config.limits();
  const auto* d = l.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    std::printf("%-24s %lu\n", d->field(i)->name().c_str(),
                static_cast<unsigned long>(
                    l.GetReflection()->GetUInt64(l, d->field(i))));
  }
  return 0;
}

}  // namespace

void AddAdminVerbs(CLI::App& app, Globals& g) {
  struct Args {
    std::string verb, name, role;
    std::vector<std::string> sets;
  };
  auto a = std::make_shared<Args>();
  auto* token = app.add_subcommand(
      "token", "access tokens (admin): create NAME ROLE, revoke NAME, list");
  token->add_option("VERB", a->verb, "create, revoke or list")
      ->required()
      ->check(CLI::IsMember({"create", "revoke", "list"}));
  token->add_option("NAME", a->name, "the token's name");
  token->add_option("ROLE", a->role, "observer, operator or admin");
  OnVerb(token, g, [&g, a] { return TokenVerb(g, a->verb, a->name, a->role); });
  auto* config = app.add_subcommand(
      "config", "the daemon's security settings and limits (admin)");
  config->add_option("--set", a->sets,
                     "change a limit: max_cells=500 (repeatable)");
  OnVerb(config, g, [&g, a] { return ConfigVerb(g, a->sets); });
}

}  // namespace dynclamp::cli
