#include "server/api/grpc_services.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/api/mechanisms.h"
#include "server/api/stream_reactors.h"

namespace dynclamp::server {

namespace {
template <typename T>
grpc::Status Assign(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}
}  // namespace

grpc::Status RigServiceImpl::GetRig(grpc::ServerContext* ctx,
                                    const v1::GetRigRequest*, v1::Rig* out) {
  DYNCLAMP_READ(ctx)
  *out = inst_.GetRig();
  return grpc::Status::OK;
}

grpc::Status RigServiceImpl::ConfigureChannels(
    grpc::ServerContext* ctx, const v1::ConfigureChannelsRequest* req,
    v1::Rig* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.ConfigureChannels(*req), out);
}

grpc::Status RigServiceImpl::SetHolding(grpc::ServerContext* ctx,
                                        const v1::SetHoldingRequest* req,
                                        v1::Rig* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.SetHolding(req->cell(), req->current_pa()), out);
}

grpc::Status ModelServiceImpl::ListMechanisms(grpc::ServerContext* ctx,
                                              const v1::ListMechanismsRequest*,
                                              v1::ListMechanismsResponse* out) {
  DYNCLAMP_READ(ctx)
  *out = server::ListMechanisms();
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::ValidateSpec(grpc::ServerContext* ctx,
                                            const v1::ValidateSpecRequest* req,
                                            v1::ValidateSpecResponse* out) {
  DYNCLAMP_READ(ctx)
  return Assign(inst_.ValidateSpec(req->spec()), out);
}

grpc::Status ModelServiceImpl::LoadSpec(grpc::ServerContext* ctx,
                                        const v1::LoadSpecRequest* req,
                                        v1::LoadSpecResponse* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.LoadSpec(req->spec(), req->spec_source()), out);
}

grpc::Status ModelServiceImpl::GetLoadedSpec(grpc::ServerContext* ctx,
                                             const v1::GetLoadedSpecRequest*,
                                             v1::LoadedSpec* out) {
  DYNCLAMP_READ(ctx)
  *out = inst_.GetLoadedSpec();
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::SetParameter(grpc::ServerContext* ctx,
                                            const v1::SetParameterRequest* req,
                                            v1::SetParameterResponse*) {
  DYNCLAMP_CHANGE(ctx)
  return ToGrpcStatus(inst_.SetParameter(req->parameter(), req->value()));
}

grpc::Status ModelServiceImpl::ListSignals(grpc::ServerContext* ctx,
                                           const v1::ListSignalsRequest*,
                                           v1::ListSignalsResponse* out) {
  DYNCLAMP_READ(ctx)
  *out = inst_.ListSignals();
  return grpc::Status::OK;
}

grpc::Status RunServiceImpl::StartRun(grpc::ServerContext* ctx,
                                      const v1::StartRunRequest* req,
                                      v1::Run* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.StartRun(req->duration_s()), out);
}

grpc::Status RunServiceImpl::StopRun(grpc::ServerContext* ctx,
                                     const v1::StopRunRequest*, v1::Run* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.StopRun(), out);
}

grpc::Status RunServiceImpl::GetRun(grpc::ServerContext* ctx,
                                    const v1::GetRunRequest*, v1::Run* out) {
  DYNCLAMP_READ(ctx)
  *out = inst_.GetRun();
  return grpc::Status::OK;
}

grpc::Status RunServiceImpl::ClearFault(grpc::ServerContext* ctx,
                                        const v1::ClearFaultRequest*,
                                        v1::Run* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.ClearFault(), out);
}

grpc::Status RunServiceImpl::RunProtocol(grpc::ServerContext* ctx,
                                         const v1::RunProtocolRequest* req,
                                         v1::Run* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.RunProtocol(*req), out);
}

grpc::Status RunServiceImpl::ValidateProtocol(grpc::ServerContext* ctx,
                                              const v1::RunProtocolRequest* req,
                                              v1::ProtocolCheck* out) {
  DYNCLAMP_READ(ctx)
  return Assign(inst_.ValidateProtocol(*req), out);
}

grpc::Status RunServiceImpl::PauseRun(grpc::ServerContext* ctx,
                                      const v1::PauseRunRequest* req,
                                      v1::Run* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.PauseRun(req->immediately()), out);
}

grpc::Status RunServiceImpl::ResumeRun(grpc::ServerContext* ctx,
                                       const v1::ResumeRunRequest*,
                                       v1::Run* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(inst_.ResumeRun(), out);
}

grpc::ServerWriteReactor<v1::Run>* RunServiceImpl::WatchRun(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest*) {
  if (absl::Status gate = gate_.Allow(ctx); !gate.ok()) {
    return FinishedStream<v1::Run>(ToGrpcStatus(gate));
  }
  auto slot = inst_.OpenStream(gate_.ClientKey(ctx));
  if (!slot.ok()) return FinishedStream<v1::Run>(ToGrpcStatus(slot.status()));
  return StartRunWatch(inst_, *std::move(slot));
}

grpc::ServerWriteReactor<v1::Chunk>* StreamServiceImpl::Subscribe(
    grpc::CallbackServerContext* ctx, const v1::SubscribeRequest* req) {
  if (absl::Status gate = gate_.Allow(ctx); !gate.ok()) {
    return FinishedStream<v1::Chunk>(ToGrpcStatus(gate));
  }
  auto slot = inst_.OpenStream(gate_.ClientKey(ctx));
  if (!slot.ok()) {
    return FinishedStream<v1::Chunk>(ToGrpcStatus(slot.status()));
  }
  std::vector<std::string> names(req->signals().begin(), req->signals().end());
  absl::StatusOr<std::shared_ptr<Subscription>> sub =
      inst_.Subscribe(names, req->decimation(), req->samples_per_chunk());
  if (!sub.ok()) return FinishedStream<v1::Chunk>(ToGrpcStatus(sub.status()));
  return StartSubscription(inst_, *std::move(slot), *std::move(sub));
}

// ---- queue -----------------------------------------------------------------

grpc::Status QueueServiceImpl::AddItem(grpc::ServerContext* ctx,
                                       const v1::AddItemRequest* req,
                                       v1::QueueItem* out) {
  DYNCLAMP_CHANGE(ctx)
  const ServiceLimits limits = limits_.Get();
  if (const std::size_t n = store_.size(); n >= limits.max_queue_items) {
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("queue: ", n,
                     " items wait, the daemon's limit (--max_queue_items); "
                     "remove some or let them run first")));
  }
  if (absl::Status s = CheckSpecLimits(req->run().spec(), limits, "run.spec");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  v1::AddItemRequest add = *req;
  absl::StatusOr<v1::RunProtocolRequest> run =
      inst_.FixQueuedRun(req->run(), req->keep_loaded_spec());
  if (!run.ok()) return ToGrpcStatus(run.status());
  *add.mutable_run() = *std::move(run);
  const grpc::Status s = Assign(
      store_.Add(add, gate_.Caller(ctx), absl::ToUnixNanos(absl::Now())), out);
  runner_.Notify();
  return s;
}

grpc::Status QueueServiceImpl::ListItems(grpc::ServerContext* ctx,
                                         const v1::ListItemsRequest*,
                                         v1::ListItemsResponse* out) {
  DYNCLAMP_READ(ctx)
  for (v1::QueueItem& item : store_.List()) *out->add_items() = std::move(item);
  return grpc::Status::OK;
}

grpc::Status QueueServiceImpl::GetItem(grpc::ServerContext* ctx,
                                       const v1::GetItemRequest* req,
                                       v1::QueueItem* out) {
  DYNCLAMP_READ(ctx)
  return Assign(store_.Get(req->id()), out);
}

grpc::Status QueueServiceImpl::UpdateItem(grpc::ServerContext* ctx,
                                          const v1::UpdateItemRequest* req,
                                          v1::QueueItem* out) {
  DYNCLAMP_CHANGE(ctx)
  if (absl::Status s =
          CheckSpecLimits(req->run().spec(), limits_.Get(), "run.spec");
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<v1::RunProtocolRequest> run =
      inst_.FixQueuedRun(req->run(), req->keep_loaded_spec());
  if (!run.ok()) return ToGrpcStatus(run.status());
  return Assign(store_.Update(req->id(), *run), out);
}

grpc::Status QueueServiceImpl::MoveItem(grpc::ServerContext* ctx,
                                        const v1::MoveItemRequest* req,
                                        v1::QueueItem* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(store_.Move(req->id(), req->position()), out);
}

grpc::Status QueueServiceImpl::RemoveItem(grpc::ServerContext* ctx,
                                          const v1::RemoveItemRequest* req,
                                          v1::QueueItem* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(store_.Remove(req->id()), out);
}

grpc::Status QueueServiceImpl::ClearQueue(grpc::ServerContext* ctx,
                                          const v1::ClearQueueRequest*,
                                          v1::QueueStatus* out) {
  DYNCLAMP_CHANGE(ctx)
  if (absl::Status s = store_.Clear(); !s.ok()) return ToGrpcStatus(s);
  *out = runner_.Status();
  return grpc::Status::OK;
}

grpc::Status QueueServiceImpl::StartQueue(grpc::ServerContext* ctx,
                                          const v1::StartQueueRequest*,
                                          v1::QueueStatus* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(runner_.Start(), out);
}

grpc::Status QueueServiceImpl::StopQueue(grpc::ServerContext* ctx,
                                         const v1::StopQueueRequest*,
                                         v1::QueueStatus* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(runner_.Stop(), out);
}

grpc::Status QueueServiceImpl::PauseQueue(grpc::ServerContext* ctx,
                                          const v1::PauseQueueRequest* req,
                                          v1::QueueStatus* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(runner_.Pause(req->immediately()), out);
}

grpc::Status QueueServiceImpl::ResumeQueue(grpc::ServerContext* ctx,
                                           const v1::ResumeQueueRequest*,
                                           v1::QueueStatus* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(runner_.Resume(), out);
}

grpc::Status QueueServiceImpl::AbortCurrent(grpc::ServerContext* ctx,
                                            const v1::AbortCurrentRequest*,
                                            v1::QueueStatus* out) {
  DYNCLAMP_CHANGE(ctx)
  return Assign(runner_.AbortCurrent(), out);
}

grpc::Status QueueServiceImpl::GetQueueStatus(grpc::ServerContext* ctx,
                                              const v1::GetQueueStatusRequest*,
                                              v1::QueueStatus* out) {
  DYNCLAMP_READ(ctx)
  *out = runner_.Status();
  return grpc::Status::OK;
}

grpc::Status QueueServiceImpl::ListHistory(grpc::ServerContext* ctx,
                                           const v1::ListHistoryRequest* req,
                                           v1::ListHistoryResponse* out) {
  DYNCLAMP_READ(ctx)
  for (v1::HistoryEntry& e : store_.History(req->limit()))
    *out->add_entries() = std::move(e);
  return grpc::Status::OK;
}

grpc::Status QueueServiceImpl::AcquireLock(grpc::ServerContext* ctx,
                                           const v1::AcquireLockRequest*,
                                           v1::LockStatus* out) {
  DYNCLAMP_READ(ctx)  // the role; the store decides who gets the lock
  return Assign(
      store_.AcquireLock(gate_.Caller(ctx), absl::ToUnixNanos(absl::Now())),
      out);
}

grpc::Status QueueServiceImpl::ReleaseLock(grpc::ServerContext* ctx,
                                           const v1::ReleaseLockRequest* req,
                                           v1::LockStatus* out) {
  DYNCLAMP_READ(ctx)  // the role; only the owner, or an admin who forces it
  if (req->force() && !gate_.IsAdmin(ctx)) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "force: releasing another operator's lock needs the "
                        "admin role");
  }
  return Assign(store_.ReleaseLock(gate_.Caller(ctx), req->force()), out);
}

grpc::Status QueueServiceImpl::GetLock(grpc::ServerContext* ctx,
                                       const v1::GetLockRequest*,
                                       v1::LockStatus* out) {
  DYNCLAMP_READ(ctx)
  *out = store_.GetLock();
  return grpc::Status::OK;
}

}  // namespace dynclamp::server

namespace dynclamp::server {

grpc::Status RecordingServiceImpl::ListRecordings(
    grpc::ServerContext* ctx, const v1::ListRecordingsRequest* req,
    v1::ListRecordingsResponse* out) {
  DYNCLAMP_READ(ctx)
  absl::StatusOr<std::vector<v1::Recording>> list =
      inst_.recordings().List(req->run_id(), req->limit());
  if (!list.ok()) return ToGrpcStatus(list.status());
  for (v1::Recording& r : *list) *out->add_recordings() = std::move(r);
  return grpc::Status::OK;
}

grpc::Status RecordingServiceImpl::DownloadRecording(
    grpc::ServerContext* ctx, const v1::DownloadRecordingRequest* req,
    grpc::ServerWriter<v1::RecordingChunk>* writer) {
  DYNCLAMP_READ(ctx)
  auto slot = inst_.OpenStream(gate_.ClientKey(ctx));
  if (!slot.ok()) return ToGrpcStatus(slot.status());
  const uint32_t chunk_bytes =
      req->chunk_bytes() == 0 ? kMaxChunkBytes : req->chunk_bytes();
  if (chunk_bytes > kMaxChunkBytes) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrFormat("chunk_bytes: %d is more than the %d a chunk can carry",
                        req->chunk_bytes(), kMaxChunkBytes)));
  }
  absl::StatusOr<v1::Recording> rec = inst_.recordings().FindForDownload(*req);
  if (!rec.ok()) return ToGrpcStatus(rec.status());
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(
      std::fopen(rec->path().c_str(), "rb"), &std::fclose);
  struct stat st {};
  if (file == nullptr || fstat(fileno(file.get()), &st) != 0) {
    return ToGrpcStatus(
        absl::NotFoundError(absl::StrCat("cannot read ", rec->path())));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (req->offset() > size) {
    return ToGrpcStatus(absl::OutOfRangeError(
        absl::StrFormat("offset: %d is beyond the end of %s (%d bytes)",
                        req->offset(), rec->name(), size)));
  }
  // The checksum is of the bytes read now, the ones before `offset`
  // included: it vouches for the file the client puts together.
  Sha256 hash;
  std::string buffer(chunk_bytes, '\0');
  uint64_t at = 0;
  auto read = [&](uint64_t n) -> absl::StatusOr<std::size_t> {
    const std::size_t got = std::fread(buffer.data(), 1, n, file.get());
    if (got != n) {
      return absl::DataLossError(absl::StrFormat(
          "%s: read %d of %d bytes at %d", rec->name(), got, n, at));
    }
    hash.Update(buffer.data(), got);
    at += got;
    return got;
  };
  while (at < req->offset()) {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    auto got = read(std::min<uint64_t>(chunk_bytes, req->offset() - at));
    if (!got.ok()) return ToGrpcStatus(got.status());
  }
  bool first = true;
  do {
    if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
    v1::RecordingChunk chunk;
    if (first) {
      chunk.set_name(rec->name());
      chunk.set_size_bytes(size);
      first = false;
    }
    chunk.set_offset(at);
    auto got = read(std::min<uint64_t>(chunk_bytes, size - at));
    if (!got.ok()) return ToGrpcStatus(got.status());
    chunk.set_data(buffer.data(), *got);
    if (at == size) chunk.set_sha256(hash.HexDigest());
    if (!writer->Write(chunk)) return grpc::Status::OK;  // client left
  } while (at < size);
  return grpc::Status::OK;
}

}  // namespace dynclamp::server
