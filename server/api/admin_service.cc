#include "server/api/admin_service.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/api/grpc_services.h"

namespace dynclamp::server {

namespace {

v1::Role RoleToProto(Role role) { return static_cast<v1::Role>(role); }

}  // namespace

// Each handler asks for the interceptor's decision (DYNCLAMP_READ); the
// admin role is what the access table requires of these methods.

absl::Status AdminServiceImpl::TokensAvailable() const {
  if (tokens_ != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "authentication is off: start dynclampd with --token_file to use "
      "tokens");
}

grpc::Status AdminServiceImpl::CreateToken(grpc::ServerContext* ctx,
                                           const v1::CreateTokenRequest* req,
                                           v1::CreatedToken* out) {
  DYNCLAMP_READ(ctx)
  if (absl::Status s = TokensAvailable(); !s.ok()) return ToGrpcStatus(s);
  if (req->role() < v1::OBSERVER || req->role() > v1::ADMIN) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "role: OBSERVER, OPERATOR or ADMIN, got ROLE_UNSPECIFIED"));
  }
  const Role role = static_cast<Role>(req->role());
  absl::StatusOr<std::string> token =
      tokens_->Issue(req->name(), role, absl::ToUnixSeconds(absl::Now()));
  if (!token.ok()) return ToGrpcStatus(token.status());
  out->set_name(req->name());
  out->set_role(RoleToProto(role));
  out->set_token(*token);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeToken(grpc::ServerContext* ctx,
                                           const v1::RevokeTokenRequest* req,
                                           v1::RevokeTokenResponse*) {
  DYNCLAMP_READ(ctx)
  if (absl::Status s = TokensAvailable(); !s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(tokens_->Revoke(req->name()));
}

grpc::Status AdminServiceImpl::ListTokens(grpc::ServerContext* ctx,
                                          const v1::ListTokensRequest*,
                                          v1::ListTokensResponse* out) {
  DYNCLAMP_READ(ctx)
  if (absl::Status s = TokensAvailable(); !s.ok()) return ToGrpcStatus(s);
  for (const TokenEntry& e : tokens_->List()) {
    v1::TokenInfo* info = out->add_tokens();
    info->set_name(e.name);
    info->set_role(RoleToProto(e.role));
    info->set_created_unix_s(e.created_unix_s);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetConfig(grpc::ServerContext* ctx,
                                         const v1::GetConfigRequest*,
                                         v1::DaemonConfig* out) {
  DYNCLAMP_READ(ctx)
  *out = config_;
  *out->mutable_limits() = LimitsToProto(limits_.Get());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetLimits(grpc::ServerContext* ctx,
                                         const v1::Limits* req,
                                         v1::DaemonConfig* out) {
  DYNCLAMP_READ(ctx)
  if (absl::Status s = limits_.Set(LimitsFromProto(*req)); !s.ok())
    return ToGrpcStatus(s);
  *out = config_;
  *out->mutable_limits() = LimitsToProto(limits_.Get());
  return grpc::Status::OK;
}

}  // namespace dynclamp::server
