#include "server/grpc_services.h"

#include <string>
#include <vector>

#include "server/mechanisms.h"

namespace dynclamp::server {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      std::string(status.message()));
}

namespace {
template <typename T>
grpc::Status Assign(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}
}  // namespace

grpc::Status RigServiceImpl::GetRig(grpc::ServerContext*,
                                    const v1::GetRigRequest*, v1::Rig* out) {
  *out = inst_.GetRig();
  return grpc::Status::OK;
}

grpc::Status RigServiceImpl::ConfigureChannels(
    grpc::ServerContext*, const v1::ConfigureChannelsRequest* req,
    v1::Rig* out) {
  return Assign(inst_.ConfigureChannels(*req), out);
}

grpc::Status ModelServiceImpl::ListMechanisms(grpc::ServerContext*,
                                              const v1::ListMechanismsRequest*,
                                              v1::ListMechanismsResponse* out) {
  *out = server::ListMechanisms();
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::ValidateSpec(grpc::ServerContext*,
                                            const v1::ValidateSpecRequest* req,
                                            v1::ValidateSpecResponse* out) {
  return Assign(inst_.ValidateSpec(req->spec()), out);
}

grpc::Status ModelServiceImpl::LoadSpec(grpc::ServerContext*,
                                        const v1::LoadSpecRequest* req,
                                        v1::LoadSpecResponse* out) {
  return Assign(inst_.LoadSpec(req->spec()), out);
}

grpc::Status ModelServiceImpl::GetLoadedSpec(grpc::ServerContext*,
                                             const v1::GetLoadedSpecRequest*,
                                             v1::LoadedSpec* out) {
  *out = inst_.GetLoadedSpec();
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::SetParameter(grpc::ServerContext*,
                                            const v1::SetParameterRequest* req,
                                            v1::SetParameterResponse*) {
  return ToGrpcStatus(inst_.SetParameter(req->parameter(), req->value()));
}

grpc::Status ModelServiceImpl::ListSignals(grpc::ServerContext*,
                                           const v1::ListSignalsRequest*,
                                           v1::ListSignalsResponse* out) {
  *out = inst_.ListSignals();
  return grpc::Status::OK;
}

grpc::Status RunServiceImpl::StartRun(grpc::ServerContext*,
                                      const v1::StartRunRequest* req,
                                      v1::Run* out) {
  return Assign(inst_.StartRun(req->duration_s()), out);
}

grpc::Status RunServiceImpl::StopRun(grpc::ServerContext*,
                                     const v1::StopRunRequest*, v1::Run* out) {
  return Assign(inst_.StopRun(), out);
}

grpc::Status RunServiceImpl::GetRun(grpc::ServerContext*,
                                    const v1::GetRunRequest*, v1::Run* out) {
  *out = inst_.GetRun();
  return grpc::Status::OK;
}

grpc::Status RunServiceImpl::ClearFault(grpc::ServerContext*,
                                        const v1::ClearFaultRequest*,
                                        v1::Run* out) {
  return Assign(inst_.ClearFault(), out);
}

grpc::Status RunServiceImpl::RunProtocol(grpc::ServerContext*,
                                         const v1::RunProtocolRequest* req,
                                         v1::Run* out) {
  return Assign(inst_.RunProtocol(*req), out);
}

grpc::Status RunServiceImpl::PauseRun(grpc::ServerContext*,
                                      const v1::PauseRunRequest* req,
                                      v1::Run* out) {
  return Assign(inst_.PauseRun(req->immediately()), out);
}

grpc::Status RunServiceImpl::ResumeRun(grpc::ServerContext*,
                                       const v1::ResumeRunRequest*,
                                       v1::Run* out) {
  return Assign(inst_.ResumeRun(), out);
}

grpc::Status RunServiceImpl::WatchRun(grpc::ServerContext* ctx,
                                      const v1::WatchRunRequest*,
                                      grpc::ServerWriter<v1::Run>* writer) {
  uint64_t seen = 0;
  while (!ctx->IsCancelled()) {
    auto [run, version] = inst_.WaitRunChange(seen, absl::Milliseconds(200));
    if (version != seen) {
      if (!writer->Write(run)) return grpc::Status::OK;  // client left
      seen = version;
    }
    if (inst_.shutting_down()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                          "the daemon is shutting down");
    }
  }
  return grpc::Status::OK;
}

grpc::Status StreamServiceImpl::Subscribe(
    grpc::ServerContext* ctx, const v1::SubscribeRequest* req,
    grpc::ServerWriter<v1::Chunk>* writer) {
  std::vector<std::string> names(req->signals().begin(), req->signals().end());
  absl::StatusOr<std::shared_ptr<Subscription>> sub =
      inst_.Subscribe(names, req->decimation(), req->samples_per_chunk());
  if (!sub.ok()) return ToGrpcStatus(sub.status());
  ChunkData chunk;
  grpc::Status result = grpc::Status::OK;
  // Tell the client at once what it will get, before any sample flows.
  {
    v1::Chunk header;
    for (const auto& s : (*sub)->signals()) header.add_signals(s);
    for (const auto& u : (*sub)->units()) header.add_units(u);
    header.set_sample_period_ns(inst_.GetRig().period_ns() *
                                (*sub)->decimation());
    if (!writer->Write(header)) {
      inst_.Unsubscribe(*sub);
      return grpc::Status::OK;
    }
  }
  while (!ctx->IsCancelled()) {
    const Subscription::PopResult r =
        (*sub)->WaitPop(chunk, absl::Milliseconds(100));
    if (r == Subscription::PopResult::kClosed) {
      result = ToGrpcStatus((*sub)->close_status());
      break;
    }
    if (r == Subscription::PopResult::kTimeout) continue;
    v1::Chunk out;
    out.set_first_sample_index(chunk.first_index);
    out.set_sample_period_ns(chunk.sample_period_ns);
    out.set_first_sample_monotonic_ns(chunk.first_monotonic_ns);
    out.set_num_samples(chunk.num_samples);
    out.mutable_values()->Assign(chunk.values.begin(), chunk.values.end());
    out.set_samples_lost(chunk.samples_lost);
    if (!writer->Write(out)) break;  // the client went away
  }
  inst_.Unsubscribe(*sub);
  return result;
}

}  // namespace dynclamp::server
