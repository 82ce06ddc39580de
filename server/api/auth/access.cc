#include "server/api/auth/access.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/api/grpc_status.h"

namespace dynclamp::server {

namespace {

struct MethodEntry {
  const char* method;
  std::optional<Role> role;
};

// Every method the daemon serves. Reading state and streaming: observer.
// Changing the rig, specs, runs, the queue or the lock, and the fidelity
// lab (it takes the daemon's spare cores): operator. Tokens and limits:
// admin. The health check is public so supervisors can probe it.
constexpr Role kObs = Role::kObserver;
constexpr Role kOp = Role::kOperator;
constexpr Role kAdm = Role::kAdmin;
const MethodEntry kMethods[] = {
    {"/dynclamp.v1.RigService/GetRig", kObs},
    {"/dynclamp.v1.RigService/ConfigureChannels", kOp},
    {"/dynclamp.v1.RigService/SetHolding", kOp},
    {"/dynclamp.v1.ModelService/ListMechanisms", kObs},
    {"/dynclamp.v1.ModelService/ValidateSpec", kObs},
    {"/dynclamp.v1.ModelService/LoadSpec", kOp},
    {"/dynclamp.v1.ModelService/GetLoadedSpec", kObs},
    {"/dynclamp.v1.ModelService/SetParameter", kOp},
    {"/dynclamp.v1.ModelService/ListSignals", kObs},
    {"/dynclamp.v1.RunService/StartRun", kOp},
    {"/dynclamp.v1.RunService/StopRun", kOp},
    {"/dynclamp.v1.RunService/GetRun", kObs},
    {"/dynclamp.v1.RunService/WatchRun", kObs},
    {"/dynclamp.v1.RunService/ClearFault", kOp},
    {"/dynclamp.v1.RunService/RunProtocol", kOp},
    {"/dynclamp.v1.RunService/ValidateProtocol", kObs},
    {"/dynclamp.v1.RunService/PauseRun", kOp},
    {"/dynclamp.v1.RunService/ResumeRun", kOp},
    {"/dynclamp.v1.StreamService/Subscribe", kObs},
    {"/dynclamp.v1.QueueService/AddItem", kOp},
    {"/dynclamp.v1.QueueService/ListItems", kObs},
    {"/dynclamp.v1.QueueService/GetItem", kObs},
    {"/dynclamp.v1.QueueService/UpdateItem", kOp},
    {"/dynclamp.v1.QueueService/MoveItem", kOp},
    {"/dynclamp.v1.QueueService/RemoveItem", kOp},
    {"/dynclamp.v1.QueueService/ClearQueue", kOp},
    {"/dynclamp.v1.QueueService/StartQueue", kOp},
    {"/dynclamp.v1.QueueService/StopQueue", kOp},
    {"/dynclamp.v1.QueueService/PauseQueue", kOp},
    {"/dynclamp.v1.QueueService/ResumeQueue", kOp},
    {"/dynclamp.v1.QueueService/AbortCurrent", kOp},
    {"/dynclamp.v1.QueueService/GetQueueStatus", kObs},
    {"/dynclamp.v1.QueueService/ListHistory", kObs},
    {"/dynclamp.v1.QueueService/AcquireLock", kOp},
    {"/dynclamp.v1.QueueService/ReleaseLock", kOp},
    {"/dynclamp.v1.QueueService/GetLock", kObs},
    {"/dynclamp.v1.FidelityService/RunLab", kOp},
    {"/dynclamp.v1.RecordingService/ListRecordings", kObs},
    {"/dynclamp.v1.RecordingService/DownloadRecording", kObs},
    {"/dynclamp.v1.AdminService/CreateToken", kAdm},
    {"/dynclamp.v1.AdminService/RevokeToken", kAdm},
    {"/dynclamp.v1.AdminService/ListTokens", kAdm},
    {"/dynclamp.v1.AdminService/GetConfig", kAdm},
    {"/dynclamp.v1.AdminService/SetLimits", kAdm},
    {"/grpc.health.v1.Health/Check", std::nullopt},
    {"/grpc.health.v1.Health/Watch", std::nullopt},
    {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", kObs},
};

std::string Metadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    absl::string_view key) {
  const auto it = metadata.find(grpc::string_ref(key.data(), key.size()));
  return it == metadata.end()
             ? std::string()
             : std::string(it->second.data(), it->second.size());
}

class AccessInterceptor final : public grpc::experimental::Interceptor {
 public:
  AccessInterceptor(AccessGate* gate, grpc::experimental::ServerRpcInfo* info)
      : gate_(gate), info_(info) {}
  ~AccessInterceptor() override { gate_->Forget(info_->server_context()); }

  void Intercept(grpc::experimental::InterceptorBatchMethods* batch) override {
    using grpc::experimental::InterceptionHookPoints;
    if (batch->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      decision_ =
          gate_->Authorize(info_->method(), *batch->GetRecvInitialMetadata());
      gate_->Record(info_->server_context(), decision_);
    }
    // Methods that are not ours (reflection) answer without asking the
    // gate: a refused call's messages are emptied before they leave (the
    // client learns nothing from them) and its refusal is put in place.
    if (batch->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_MESSAGE) &&
        !decision_.ok()) {
      if (grpc::ByteBuffer* out = batch->GetSerializedSendMessage();
          out != nullptr) {
        out->Clear();
      }
    }
    if (batch->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS) &&
        !decision_.ok()) {
      batch->ModifySendStatus(ToGrpcStatus(decision_.status()));
    }
    batch->Proceed();
  }

 private:
  AccessGate* gate_;
  grpc::experimental::ServerRpcInfo* info_;
  absl::StatusOr<Principal> decision_ = Principal{};
};

class AccessInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit AccessInterceptorFactory(AccessGate* gate) : gate_(gate) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new AccessInterceptor(gate_, info);
  }

 private:
  AccessGate* gate_;
};

}  // namespace

absl::StatusOr<std::optional<Role>> MethodRole(absl::string_view method) {
  for (const MethodEntry& e : kMethods) {
    if (method == e.method) return e.role;
  }
  return absl::NotFoundError(
      absl::StrCat(method, ": not in the daemon's access table"));
}

absl::StatusOr<Principal> AccessGate::Authorize(
    absl::string_view method,
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  if (tokens_ == nullptr) {
    return Principal{Metadata(metadata, "dynclamp-operator"), Role::kAdmin};
  }
  auto needed = MethodRole(method);
  if (!needed.ok())
    return absl::PermissionDeniedError(needed.status().message());
  const std::string header = Metadata(metadata, "authorization");
  absl::string_view token = header;
  if (!absl::ConsumePrefix(&token, "Bearer ") || token.empty()) {
    if (!needed->has_value()) return Principal{};  // public
    return absl::UnauthenticatedError(
        header.empty()
            ? "no token: this daemon needs 'authorization: Bearer TOKEN' "
              "(the CLI reads DYNCLAMP_TOKEN or --token-file)"
            : "the authorization header is not 'Bearer TOKEN'");
  }
  auto principal = tokens_->Authenticate(token);
  if (!principal.ok()) return principal.status();
  if (needed->has_value() && principal->role < **needed) {
    return absl::PermissionDeniedError(
        absl::StrCat(method, " needs the ", RoleName(**needed), " role; '",
                     principal->name, "' is ", RoleName(principal->role)));
  }
  return principal;
}

void AccessGate::Record(const grpc::ServerContextBase* ctx,
                        absl::StatusOr<Principal> decision) {
  absl::MutexLock lock(&mu_);
  decisions_.insert_or_assign(ctx, std::move(decision));
}

void AccessGate::Forget(const grpc::ServerContextBase* ctx) {
  absl::MutexLock lock(&mu_);
  decisions_.erase(ctx);
}

absl::StatusOr<Principal> AccessGate::Decision(
    const grpc::ServerContextBase* ctx) const {
  {
    absl::MutexLock lock(&mu_);
    const auto it = decisions_.find(ctx);
    if (it != decisions_.end()) return it->second;
  }
  if (tokens_ != nullptr) {
    // Fail closed: a call the interceptor did not see is not trusted.
    return absl::UnauthenticatedError("the call was not authenticated");
  }
  return Authorize("", ctx->client_metadata());
}

absl::Status AccessGate::Allow(const grpc::ServerContextBase* ctx) const {
  return Decision(ctx).status();
}

absl::Status AccessGate::Change(const grpc::ServerContextBase* ctx) const {
  absl::StatusOr<Principal> who = Decision(ctx);
  if (!who.ok()) return who.status();
  if (lock_ == nullptr) return absl::OkStatus();
  const v1::LockStatus lock = lock_->GetLock();
  if (!lock.held() || lock.owner() == who->name) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "the rig is locked by '", lock.owner(),
      "'; you can watch, but only they can change it (dynclamp lock release)"));
}

bool AccessGate::HoldsLock(const grpc::ServerContextBase* ctx) const {
  absl::StatusOr<Principal> who = Decision(ctx);
  if (!who.ok() || lock_ == nullptr) return false;
  const v1::LockStatus lock = lock_->GetLock();
  return lock.held() && lock.owner() == who->name;
}

std::string AccessGate::Caller(const grpc::ServerContextBase* ctx) const {
  absl::StatusOr<Principal> who = Decision(ctx);
  return who.ok() ? who->name : std::string();
}

bool AccessGate::IsAdmin(const grpc::ServerContextBase* ctx) const {
  absl::StatusOr<Principal> who = Decision(ctx);
  return who.ok() && who->role == Role::kAdmin;
}

std::string AccessGate::ClientKey(const grpc::ServerContextBase* ctx) const {
  if (authentication()) return absl::StrCat("token ", Caller(ctx));
  std::string peer = ctx->peer();  // "ipv4:127.0.0.1:5312", "ipv6:[::1]:53"
  if (const std::size_t colon = peer.rfind(':');
      colon != std::string::npos && !absl::StartsWith(peer, "unix:")) {
    peer.resize(colon);
  }
  return absl::StrCat("host ", peer);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
AccessGate::InterceptorFactory() {
  return std::make_unique<AccessInterceptorFactory>(this);
}

}  // namespace dynclamp::server
