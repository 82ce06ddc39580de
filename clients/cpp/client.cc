#include "clients/cpp/client.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace dynclamp::client {

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(
    const std::string& target, ClientOptions options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  if (options.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = options.tls_ca_pem;
    ssl.pem_cert_chain = options.tls_cert_pem;
    ssl.pem_private_key = options.tls_key_pem;
    credentials = grpc::SslCredentials(ssl);
    if (!options.tls_server_name.empty())
      args.SetSslTargetNameOverride(options.tls_server_name);
  }
  auto channel = grpc::CreateCustomChannel(target, credentials, args);
  const auto deadline = std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(options.timeout);
  if (!channel->WaitForConnected(deadline)) {
    return absl::UnavailableError(
        absl::StrCat("cannot reach dynclampd at ", target, " within ",
                     absl::FormatDuration(options.timeout),
                     options.tls ? " over TLS (is it running? does it "
                                   "serve TLS with a certificate this CA "
                                   "signed, for this host name?)"
                                 : " (is it running? is the address right? "
                                   "does it want TLS?)"));
  }
  return std::unique_ptr<Client>(new Client(target, options, channel));
}

Client::Client(std::string target, ClientOptions options,
               std::shared_ptr<grpc::Channel> channel)
    : target_(std::move(target)),
      options_(options),
      channel_(std::move(channel)),
      rig_(v1::RigService::NewStub(channel_)),
      models_(v1::ModelService::NewStub(channel_)),
      runs_(v1::RunService::NewStub(channel_)),
      queue_(v1::QueueService::NewStub(channel_)),
      streams_(v1::StreamService::NewStub(channel_)),
      recordings_(v1::RecordingService::NewStub(channel_)),
      fidelity_(v1::FidelityService::NewStub(channel_)),
      admin_(v1::AdminService::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void Client::SetDeadline(grpc::ClientContext& ctx) const {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   absl::ToChronoMilliseconds(options_.timeout));
  AddIdentity(ctx);
}

void Client::AddIdentity(grpc::ClientContext& ctx) const {
  if (!options_.operator_name.empty())
    ctx.AddMetadata("dynclamp-operator", options_.operator_name);
  if (!options_.token.empty())
    ctx.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
}

template <typename Req, typename Resp>
absl::StatusOr<Resp> Client::Queue(
    grpc::Status (v1::QueueService::Stub::*method)(grpc::ClientContext*,
                                                   const Req&, Resp*),
    const Req& request, const char* name) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  Resp response;
  const grpc::Status status = (queue_.get()->*method)(&ctx, request, &response);
  if (!status.ok()) return ToStatus(status, name);
  return response;
}

absl::StatusOr<v1::QueueItem> Client::AddQueueItem(
    const v1::AddItemRequest& r) {
  return Queue(&v1::QueueService::Stub::AddItem, r, "AddItem");
}
absl::StatusOr<v1::ListItemsResponse> Client::ListQueue() {
  return Queue(&v1::QueueService::Stub::ListItems, v1::ListItemsRequest(),
               "ListItems");
}
absl::StatusOr<v1::QueueItem> Client::GetQueueItem(uint64_t id) {
  v1::GetItemRequest r;
  r.set_id(id);
  return Queue(&v1::QueueService::Stub::GetItem, r, "GetItem");
}
absl::StatusOr<v1::QueueItem> Client::MoveQueueItem(
    uint64_t id, const v1::Position& position) {
  v1::MoveItemRequest r;
  r.set_id(id);
  *r.mutable_position() = position;
  return Queue(&v1::QueueService::Stub::MoveItem, r, "MoveItem");
}
absl::StatusOr<v1::QueueItem> Client::RemoveQueueItem(uint64_t id) {
  v1::RemoveItemRequest r;
  r.set_id(id);
  return Queue(&v1::QueueService::Stub::RemoveItem, r, "RemoveItem");
}
absl::StatusOr<v1::QueueStatus> Client::ClearQueue() {
  return Queue(&v1::QueueService::Stub::ClearQueue, v1::ClearQueueRequest(),
               "ClearQueue");
}
absl::StatusOr<v1::QueueStatus> Client::StartQueue() {
  return Queue(&v1::QueueService::Stub::StartQueue, v1::StartQueueRequest(),
               "StartQueue");
}
absl::StatusOr<v1::QueueStatus> Client::StopQueue() {
  return Queue(&v1::QueueService::Stub::StopQueue, v1::StopQueueRequest(),
               "StopQueue");
}
absl::StatusOr<v1::QueueStatus> Client::PauseQueue(bool immediately) {
  v1::PauseQueueRequest r;
  r.set_immediately(immediately);
  return Queue(&v1::QueueService::Stub::PauseQueue, r, "PauseQueue");
}
absl::StatusOr<v1::QueueStatus> Client::ResumeQueue() {
  return Queue(&v1::QueueService::Stub::ResumeQueue, v1::ResumeQueueRequest(),
               "ResumeQueue");
}
absl::StatusOr<v1::QueueStatus> Client::AbortCurrent() {
  return Queue(&v1::QueueService::Stub::AbortCurrent, v1::AbortCurrentRequest(),
               "AbortCurrent");
}
absl::StatusOr<v1::QueueStatus> Client::GetQueueStatus() {
  return Queue(&v1::QueueService::Stub::GetQueueStatus,
               v1::GetQueueStatusRequest(), "GetQueueStatus");
}
absl::StatusOr<v1::ListHistoryResponse> Client::ListHistory(uint32_t limit) {
  v1::ListHistoryRequest r;
  r.set_limit(limit);
  return Queue(&v1::QueueService::Stub::ListHistory, r, "ListHistory");
}
absl::StatusOr<v1::LockStatus> Client::AcquireLock() {
  return Queue(&v1::QueueService::Stub::AcquireLock, v1::AcquireLockRequest(),
               "AcquireLock");
}
absl::StatusOr<v1::LockStatus> Client::ReleaseLock(bool force) {
  v1::ReleaseLockRequest req;
  req.set_force(force);
  return Queue(&v1::QueueService::Stub::ReleaseLock, req, "ReleaseLock");
}
absl::StatusOr<v1::LockStatus> Client::GetLock() {
  return Queue(&v1::QueueService::Stub::GetLock, v1::GetLockRequest(),
               "GetLock");
}

absl::Status Client::ToStatus(const grpc::Status& s, const char* call) const {
  if (s.ok()) return absl::OkStatus();
  std::string message = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
      s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    message = absl::StrCat(call, " (dynclampd at ", target_, "): ", message);
  }
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), message);
}

#define DYNCLAMP_UNARY(stub, method, request, response_type)    \
  grpc::ClientContext ctx;                                      \
  SetDeadline(ctx);                                             \
  response_type response;                                       \
  grpc::Status status = stub->method(&ctx, request, &response); \
  if (!status.ok()) return ToStatus(status, #method);           \
  return response;

absl::StatusOr<v1::Rig> Client::GetRig(){
    DYNCLAMP_UNARY(rig_, GetRig, v1::GetRigRequest(),
                   v1::Rig)} absl::StatusOr<v1::Rig> Client::
    ConfigureChannels(const v1::ConfigureChannelsRequest& request){
        DYNCLAMP_UNARY(rig_, ConfigureChannels, request, v1::Rig)} absl::
        StatusOr<v1::ListMechanismsResponse> Client::ListMechanisms(){
            DYNCLAMP_UNARY(models_, ListMechanisms, v1::ListMechanismsRequest(),
                           v1::ListMechanismsResponse)} absl::
            StatusOr<v1::ValidateSpecResponse> Client::ValidateSpec(
                const v1::Spec& spec) {
  v1::ValidateSpecRequest request;
  *request.mutable_spec() = spec;
  DYNCLAMP_UNARY(models_, ValidateSpec, request, v1::ValidateSpecResponse)
}
absl::StatusOr<v1::Rig> Client::SetHolding(const std::string& cell,
                                           double current_pa) {
  v1::SetHoldingRequest request;
  request.set_cell(cell);
  request.set_current_pa(current_pa);
  DYNCLAMP_UNARY(rig_, SetHolding, request, v1::Rig);
}
absl::StatusOr<v1::LoadSpecResponse> Client::LoadSpec(
    const v1::Spec& spec, const std::string& source) {
  v1::LoadSpecRequest request;
  *request.mutable_spec() = spec;
  request.set_spec_source(source);
  DYNCLAMP_UNARY(models_, LoadSpec, request, v1::LoadSpecResponse)
}
absl::StatusOr<v1::LoadedSpec> Client::GetLoadedSpec(){DYNCLAMP_UNARY(
    models_, GetLoadedSpec, v1::GetLoadedSpecRequest(),
    v1::LoadedSpec)} absl::Status Client::SetParameter(const std::string& name,
                                                       double value) {
  v1::SetParameterRequest request;
  request.set_parameter(name);
  request.set_value(value);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::SetParameterResponse response;
  return ToStatus(models_->SetParameter(&ctx, request, &response),
                  "SetParameter");
}
absl::StatusOr<v1::ListSignalsResponse> Client::ListSignals(){
    DYNCLAMP_UNARY(models_, ListSignals, v1::ListSignalsRequest(),
                   v1::ListSignalsResponse)} absl::StatusOr<v1::Run> Client::
    StartRun(double duration_s) {
  v1::StartRunRequest request;
  request.set_duration_s(duration_s);
  DYNCLAMP_UNARY(runs_, StartRun, request, v1::Run)
}
absl::StatusOr<v1::Run> Client::StopRun(){
    DYNCLAMP_UNARY(runs_, StopRun, v1::StopRunRequest(),
                   v1::Run)} absl::StatusOr<v1::Run> Client::GetRun(){
    DYNCLAMP_UNARY(runs_, GetRun, v1::GetRunRequest(),
                   v1::Run)} absl::StatusOr<v1::Run> Client::ClearFault(){
    DYNCLAMP_UNARY(
        runs_, ClearFault, v1::ClearFaultRequest(),
        v1::Run)} absl::StatusOr<grpc::health::v1::HealthCheckResponse::
                                     ServingStatus> Client::CheckHealth() {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status =
      health_->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response);
  if (!status.ok()) return ToStatus(status, "Check");
  return response.status();
}

absl::StatusOr<v1::CreatedToken> Client::CreateToken(const std::string& name,
                                                     v1::Role role) {
  v1::CreateTokenRequest request;
  request.set_name(name);
  request.set_role(role);
  DYNCLAMP_UNARY(admin_, CreateToken, request, v1::CreatedToken)
}

absl::Status Client::RevokeToken(const std::string& name) {
  v1::RevokeTokenRequest request;
  request.set_name(name);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::RevokeTokenResponse response;
  return ToStatus(admin_->RevokeToken(&ctx, request, &response), "RevokeToken");
}

absl::StatusOr<v1::ListTokensResponse> Client::ListTokens(){
    DYNCLAMP_UNARY(admin_, ListTokens, v1::ListTokensRequest(),
                   v1::ListTokensResponse)}

absl::StatusOr<v1::DaemonConfig> Client::GetConfig(){
    DYNCLAMP_UNARY(admin_, GetConfig, v1::GetConfigRequest(), v1::DaemonConfig)}

absl::StatusOr<v1::DaemonConfig> Client::SetLimits(const v1::Limits& limits) {
  DYNCLAMP_UNARY(admin_, SetLimits, limits, v1::DaemonConfig)
}

#undef DYNCLAMP_UNARY

template <typename T>
absl::Status Client::ReadStream(grpc::ClientContext& ctx,
                                grpc::ClientReader<T>& reader,
                                const std::function<bool(const T&)>& on_item,
                                const char* call) {
  T item;
  bool stopped_by_caller = false;
  while (reader.Read(&item)) {
    if (!on_item(item)) {
      stopped_by_caller = true;
      ctx.TryCancel();
      break;
    }
  }
  if (stopped_by_caller) {
    while (reader.Read(&item)) {
    }
  }
  grpc::Status status = reader.Finish();
  {
    absl::MutexLock lock(&mu_);
    open_streams_.erase(
        std::remove(open_streams_.begin(), open_streams_.end(), &ctx),
        open_streams_.end());
  }
  if (stopped_by_caller) return absl::OkStatus();
  return ToStatus(status, call);
}

absl::StatusOr<v1::Run> Client::RunProtocol(
    const v1::RunProtocolRequest& request) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::Run response;
  const grpc::Status status = runs_->RunProtocol(&ctx, request, &response);
  if (!status.ok()) return ToStatus(status, "RunProtocol");
  return response;
}

absl::StatusOr<v1::ProtocolCheck> Client::ValidateProtocol(
    const v1::RunProtocolRequest& request) {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ProtocolCheck response;
  const grpc::Status status = runs_->ValidateProtocol(&ctx, request, &response);
  if (!status.ok()) return ToStatus(status, "ValidateProtocol");
  return response;
}

absl::StatusOr<v1::Run> Client::PauseRun(bool immediately) {
  v1::PauseRunRequest request;
  request.set_immediately(immediately);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::Run response;
  const grpc::Status status = runs_->PauseRun(&ctx, request, &response);
  if (!status.ok()) return ToStatus(status, "PauseRun");
  return response;
}

absl::StatusOr<v1::Run> Client::ResumeRun() {
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::Run response;
  const grpc::Status status =
      runs_->ResumeRun(&ctx, v1::ResumeRunRequest(), &response);
  if (!status.ok()) return ToStatus(status, "ResumeRun");
  return response;
}

template <typename Stub, typename Req, typename T>
absl::Status Client::ServerStream(
    Stub& stub,
    std::unique_ptr<grpc::ClientReader<T>> (Stub::*method)(grpc::ClientContext*,
                                                           const Req&),
    const Req& request, const std::function<bool(const T&)>& on_item,
    const char* call) {
  grpc::ClientContext ctx;
  {
    absl::MutexLock lock(&mu_);
    open_streams_.push_back(&ctx);  // for Cancel()
  }
  AddIdentity(ctx);
  auto reader = (stub.*method)(&ctx, request);
  return ReadStream<T>(ctx, *reader, on_item, call);
}

absl::Status Client::WatchRun(
    const std::function<bool(const v1::Run&)>& on_run) {
  return ServerStream(*runs_, &v1::RunService::Stub::WatchRun,
                      v1::WatchRunRequest(), on_run, "WatchRun");
}

absl::Status Client::Subscribe(
    const v1::SubscribeRequest& request,
    const std::function<bool(const v1::Chunk&)>& on_chunk) {
  return ServerStream(*streams_, &v1::StreamService::Stub::Subscribe, request,
                      on_chunk, "Subscribe");
}

absl::StatusOr<v1::ListRecordingsResponse> Client::ListRecordings(
    uint64_t run_id, uint32_t limit) {
  v1::ListRecordingsRequest request;
  request.set_run_id(run_id);
  request.set_limit(limit);
  grpc::ClientContext ctx;
  SetDeadline(ctx);
  v1::ListRecordingsResponse response;
  const grpc::Status status =
      recordings_->ListRecordings(&ctx, request, &response);
  if (!status.ok()) return ToStatus(status, "ListRecordings");
  return response;
}

absl::Status Client::DownloadRecording(
    const v1::DownloadRecordingRequest& request,
    const std::function<bool(const v1::RecordingChunk&)>& on_chunk) {
  return ServerStream(*recordings_,
                      &v1::RecordingService::Stub::DownloadRecording, request,
                      on_chunk, "DownloadRecording");
}

absl::StatusOr<v1::LabReport> Client::RunLab(const v1::RunLabRequest& request,
                                             double timeout_s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(
                       static_cast<int64_t>(std::max(timeout_s, 1.0) * 1e3)));
  AddIdentity(ctx);
  v1::LabReport report;
  const grpc::Status status = fidelity_->RunLab(&ctx, request, &report);
  if (!status.ok()) return ToStatus(status, "RunLab");
  return report;
}

void Client::Cancel() {
  absl::MutexLock lock(&mu_);
  for (grpc::ClientContext* ctx : open_streams_) ctx->TryCancel();
}

}  // namespace dynclamp::client
