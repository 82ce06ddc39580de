// The gRPC services of dynclampd. Each method calls the Instrument and maps
// its absl::Status to the gRPC status with the same code and message, once,
// here. Streams (Subscribe, WatchRun) are callback reactors
// (stream_reactors.h) that hold no thread: a client that does not read
// stalls its own stream, whose subscription then loses samples, never the
// loop or other clients. Every stream finishes with a status: OK when the
// client cancels, UNAVAILABLE when the daemon shuts down, ABORTED when the
// rig is reconfigured.
//
// Threads: gRPC's handler and callback threads; all calls are thread-safe.
#ifndef DYNCLAMP_SERVER_API_GRPC_SERVICES_H_
#define DYNCLAMP_SERVER_API_GRPC_SERVICES_H_

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "dynclamp/v1/models.grpc.pb.h"
#include "dynclamp/v1/queue.grpc.pb.h"
#include "dynclamp/v1/recordings.grpc.pb.h"
#include "dynclamp/v1/rig.grpc.pb.h"
#include "dynclamp/v1/runs.grpc.pb.h"
#include "dynclamp/v1/stream.grpc.pb.h"
#include "server/api/auth/access.h"
#include "server/api/grpc_status.h"
#include "server/instrument/instrument.h"
#include "server/lowering/limits.h"
#include "server/queue/queue_runner.h"
#include "server/queue/queue_store.h"

namespace dynclamp::server {

// Every handler starts with one of these (AccessGate): READ for methods
// that only read, CHANGE for those that change the rig (role and lock).
#define DYNCLAMP_READ(ctx)                                \
  if (absl::Status gate = gate_.Allow(ctx); !gate.ok()) { \
    return ToGrpcStatus(gate);                            \
  }
#define DYNCLAMP_CHANGE(ctx)                               \
  if (absl::Status gate = gate_.Change(ctx); !gate.ok()) { \
    return ToGrpcStatus(gate);                             \
  }

class RigServiceImpl final : public v1::RigService::Service {
 public:
  RigServiceImpl(Instrument& inst, const AccessGate& gate)
      : inst_(inst), gate_(gate) {}
  grpc::Status GetRig(grpc::ServerContext*, const v1::GetRigRequest*,
                      v1::Rig* out) override;
  grpc::Status SetHolding(grpc::ServerContext*, const v1::SetHoldingRequest*,
                          v1::Rig* out) override;
  grpc::Status ConfigureChannels(grpc::ServerContext*,
                                 const v1::ConfigureChannelsRequest* req,
                                 v1::Rig* out) override;

 private:
  Instrument& inst_;
  const AccessGate& gate_;
};

class ModelServiceImpl final : public v1::ModelService::Service {
 public:
  ModelServiceImpl(Instrument& inst, const AccessGate& gate)
      : inst_(inst), gate_(gate) {}
  grpc::Status ListMechanisms(grpc::ServerContext*,
                              const v1::ListMechanismsRequest*,
                              v1::ListMechanismsResponse* out) override;
  grpc::Status ValidateSpec(grpc::ServerContext*,
                            const v1::ValidateSpecRequest* req,
                            v1::ValidateSpecResponse* out) override;
  grpc::Status LoadSpec(grpc::ServerContext*, const v1::LoadSpecRequest* req,
                        v1::LoadSpecResponse* out) override;
  grpc::Status GetLoadedSpec(grpc::ServerContext*,
                             const v1::GetLoadedSpecRequest*,
                             v1::LoadedSpec* out) override;
  grpc::Status SetParameter(grpc::ServerContext*,
                            const v1::SetParameterRequest* req,
                            v1::SetParameterResponse*) override;
  grpc::Status ListSignals(grpc::ServerContext*, const v1::ListSignalsRequest*,
                           v1::ListSignalsResponse* out) override;

 private:
  Instrument& inst_;
  const AccessGate& gate_;
};

class RunServiceImpl final : public v1::RunService::WithCallbackMethod_WatchRun<
                                 v1::RunService::Service> {
 public:
  RunServiceImpl(Instrument& inst, const AccessGate& gate)
      : inst_(inst), gate_(gate) {}
  grpc::Status StartRun(grpc::ServerContext*, const v1::StartRunRequest* req,
                        v1::Run* out) override;
  grpc::Status StopRun(grpc::ServerContext*, const v1::StopRunRequest*,
                       v1::Run* out) override;
  grpc::Status GetRun(grpc::ServerContext*, const v1::GetRunRequest*,
                      v1::Run* out) override;
  grpc::ServerWriteReactor<v1::Run>* WatchRun(
      grpc::CallbackServerContext* ctx, const v1::WatchRunRequest*) override;
  grpc::Status ClearFault(grpc::ServerContext*, const v1::ClearFaultRequest*,
                          v1::Run* out) override;
  grpc::Status RunProtocol(grpc::ServerContext*,
                           const v1::RunProtocolRequest* req,
                           v1::Run* out) override;
  grpc::Status ValidateProtocol(grpc::ServerContext*,
                                const v1::RunProtocolRequest* req,
                                v1::ProtocolCheck* out) override;
  grpc::Status PauseRun(grpc::ServerContext*, const v1::PauseRunRequest* req,
                        v1::Run* out) override;
  grpc::Status ResumeRun(grpc::ServerContext*, const v1::ResumeRunRequest*,
                         v1::Run* out) override;

 private:
  Instrument& inst_;
  const AccessGate& gate_;
};

class StreamServiceImpl final : public v1::StreamService::CallbackService {
 public:
  StreamServiceImpl(Instrument& inst, const AccessGate& gate)
      : inst_(inst), gate_(gate) {}
  grpc::ServerWriteReactor<v1::Chunk>* Subscribe(
      grpc::CallbackServerContext* ctx,
      const v1::SubscribeRequest* req) override;

 private:
  Instrument& inst_;
  const AccessGate& gate_;
};

class QueueServiceImpl final : public v1::QueueService::Service {
 public:
  QueueServiceImpl(Instrument& inst, QueueStore& store, QueueRunner& runner,
                   const AccessGate& gate, const LimitsStore& limits)
      : inst_(inst),
        store_(store),
        runner_(runner),
        gate_(gate),
        limits_(limits) {}
  grpc::Status AddItem(grpc::ServerContext*, const v1::AddItemRequest*,
                       v1::QueueItem*) override;
  grpc::Status ListItems(grpc::ServerContext*, const v1::ListItemsRequest*,
                         v1::ListItemsResponse*) override;
  grpc::Status GetItem(grpc::ServerContext*, const v1::GetItemRequest*,
                       v1::QueueItem*) override;
  grpc::Status UpdateItem(grpc::ServerContext*, const v1::UpdateItemRequest*,
                          v1::QueueItem*) override;
  grpc::Status MoveItem(grpc::ServerContext*, const v1::MoveItemRequest*,
                        v1::QueueItem*) override;
  grpc::Status RemoveItem(grpc::ServerContext*, const v1::RemoveItemRequest*,
                          v1::QueueItem*) override;
  grpc::Status ClearQueue(grpc::ServerContext*, const v1::ClearQueueRequest*,
                          v1::QueueStatus*) override;
  grpc::Status StartQueue(grpc::ServerContext*, const v1::StartQueueRequest*,
                          v1::QueueStatus*) override;
  grpc::Status StopQueue(grpc::ServerContext*, const v1::StopQueueRequest*,
                         v1::QueueStatus*) override;
  grpc::Status PauseQueue(grpc::ServerContext*, const v1::PauseQueueRequest*,
                          v1::QueueStatus*) override;
  grpc::Status ResumeQueue(grpc::ServerContext*, const v1::ResumeQueueRequest*,
                           v1::QueueStatus*) override;
  grpc::Status AbortCurrent(grpc::ServerContext*,
                            const v1::AbortCurrentRequest*,
                            v1::QueueStatus*) override;
  grpc::Status GetQueueStatus(grpc::ServerContext*,
                              const v1::GetQueueStatusRequest*,
                              v1::QueueStatus*) override;
  grpc::Status ListHistory(grpc::ServerContext*, const v1::ListHistoryRequest*,
                           v1::ListHistoryResponse*) override;
  grpc::Status AcquireLock(grpc::ServerContext*, const v1::AcquireLockRequest*,
                           v1::LockStatus*) override;
  grpc::Status ReleaseLock(grpc::ServerContext*, const v1::ReleaseLockRequest*,
                           v1::LockStatus*) override;
  grpc::Status GetLock(grpc::ServerContext*, const v1::GetLockRequest*,
                       v1::LockStatus*) override;

 private:
  Instrument& inst_;
  QueueStore& store_;
  QueueRunner& runner_;
  const AccessGate& gate_;
  const LimitsStore& limits_;
};

class RecordingServiceImpl final : public v1::RecordingService::Service {
 public:
  // The most a download chunk carries: well under gRPC's 4 MiB message.
  static constexpr uint32_t kMaxChunkBytes = 1 << 20;

  RecordingServiceImpl(Instrument& inst, const AccessGate& gate)
      : inst_(inst), gate_(gate) {}
  grpc::Status ListRecordings(grpc::ServerContext*,
                              const v1::ListRecordingsRequest*,
                              v1::ListRecordingsResponse*) override;
  grpc::Status DownloadRecording(
      grpc::ServerContext*, const v1::DownloadRecordingRequest*,
      grpc::ServerWriter<v1::RecordingChunk>*) override;

 private:
  Instrument& inst_;
  const AccessGate& gate_;
};

}  // namespace dynclamp::server

#endif  // DYNCLAMP_SERVER_API_GRPC_SERVICES_H_
