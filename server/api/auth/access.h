// Access control at the gRPC edge. A server interceptor authenticates every
// call (its bearer token against the TokenStore) and decides it against the
// role its method needs (MethodRole). The handlers then ask the AccessGate
// for that decision before they read or change anything, and calls that
// change the rig also pass the rig lock. A refused call changes nothing:
// UNAUTHENTICATED without a valid token, PERMISSION_DENIED without the role
// or the lock.
//
// Without a token store (no --token_file, loopback only) every caller is an
// admin named by its "dynclamp-operator" metadata, as before.
//
// Threads: gRPC's handler threads; every method is thread-safe.
#ifndef DYNCLAMP_SERVER_API_AUTH_ACCESS_H_
#define DYNCLAMP_SERVER_API_AUTH_ACCESS_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/api/auth/token_store.h"
#include "server/queue/queue_store.h"

namespace dynclamp::server {

// The role a method ("/dynclamp.v1.RunService/StartRun") needs; nullopt for
// the public ones (the health check). NotFound for a method not in the
// table: it is refused, so a new method must be classified before use.
absl::StatusOr<std::optional<Role>> MethodRole(absl::string_view method);

class AccessGate {
 public:
  // `tokens` null: authentication off. `lock` null: no rig lock.
  AccessGate(const TokenStore* tokens, QueueStore* lock)
      : tokens_(tokens), lock_(lock) {}

  bool authentication() const { return tokens_ != nullptr; }

  // The interceptor's decision for a call of `method` with this metadata.
  absl::StatusOr<Principal> Authorize(
      absl::string_view method,
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

  // Handlers: the decision for this call (read-only methods) ...
  absl::Status Allow(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // ... and for calls that change the rig, also the rig lock.
  absl::Status Change(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the caller holds the rig lock (false if nobody does).
  bool HoldsLock(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Who is calling: the token's name, or without authentication the
  // "dynclamp-operator" metadata ("" if none).
  std::string Caller(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the caller has the admin role (every caller does without
  // authentication).
  bool IsAdmin(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whose budget a call counts against: "token NAME" with authentication,
  // else "host ADDRESS" (the peer without its port).
  std::string ClientKey(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // For ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();

  // The interceptor's bookkeeping (public for it; tests use them too).
  void Record(const grpc::ServerContextBase* ctx,
              absl::StatusOr<Principal> decision) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(const grpc::ServerContextBase* ctx) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::StatusOr<Principal> Decision(const grpc::ServerContextBase* ctx) const
      ABSL_LOCKS_EXCLUDED(mu_);

  const TokenStore* tokens_;
  QueueStore* lock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const grpc::ServerContextBase*, absl::StatusOr<Principal>>
      decisions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_AUTH_ACCESS_H_
