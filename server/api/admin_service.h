// AdminService: tokens and limits, for callers with the admin role. The
// daemon's security settings are fixed at start and reported by GetConfig.
//
// Threads: gRPC handler threads (non-RT); thread-safe.
#ifndef DYNCLAMP_SERVER_API_ADMIN_SERVICE_H_
#define DYNCLAMP_SERVER_API_ADMIN_SERVICE_H_

#include "dynclamp/v1/admin.grpc.pb.h"
#include "server/api/auth/access.h"
#include "server/api/auth/token_store.h"
#include "server/lowering/limits.h"

namespace dynclamp::server {

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  // `tokens` null: authentication is off and token calls are refused.
  // `config`: the settings GetConfig reports (its limits are read live).
  AdminServiceImpl(TokenStore* tokens, LimitsStore& limits,
                   const AccessGate& gate, v1::DaemonConfig config)
      : tokens_(tokens), limits_(limits), gate_(gate), config_(config) {}

  grpc::Status CreateToken(grpc::ServerContext* ctx,
                           const v1::CreateTokenRequest* req,
                           v1::CreatedToken* out) override;
  grpc::Status RevokeToken(grpc::ServerContext* ctx,
                           const v1::RevokeTokenRequest* req,
                           v1::RevokeTokenResponse* out) override;
  grpc::Status ListTokens(grpc::ServerContext* ctx,
                          const v1::ListTokensRequest* req,
                          v1::ListTokensResponse* out) override;
  grpc::Status GetConfig(grpc::ServerContext* ctx,
                         const v1::GetConfigRequest* req,
                         v1::DaemonConfig* out) override;
  grpc::Status SetLimits(grpc::ServerContext* ctx, const v1::Limits* req,
                         v1::DaemonConfig* out) override;

 private:
  absl::Status TokensAvailable() const;

  TokenStore* tokens_;
  LimitsStore& limits_;
  const AccessGate& gate_;
  const v1::DaemonConfig config_;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_ADMIN_SERVICE_H_
