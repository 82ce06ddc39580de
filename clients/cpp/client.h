// Client: typed calls to dynclampd, with deadlines and errors as
// absl::Status (same code as the gRPC status; the message says which call
// failed and why). Streams are read with callbacks on the calling thread.
//
// Threads: a Client may be used from several threads at once (gRPC stubs are
// thread-safe). Stream calls block their caller until the stream ends, the
// callback returns false, or Cancel() is called from another thread.
#ifndef DYNCLAMP_CLIENTS_CPP_CLIENT_H_
#define DYNCLAMP_CLIENTS_CPP_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "dynclamp/v1/admin.grpc.pb.h"
#include "dynclamp/v1/fidelity.grpc.pb.h"
#include "dynclamp/v1/models.grpc.pb.h"
#include "dynclamp/v1/queue.grpc.pb.h"
#include "dynclamp/v1/recordings.grpc.pb.h"
#include "dynclamp/v1/rig.grpc.pb.h"
#include "dynclamp/v1/runs.grpc.pb.h"
#include "dynclamp/v1/stream.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace dynclamp::client {

struct ClientOptions {
  absl::Duration timeout = absl::Seconds(10);  // per unary call; connecting
  int max_receive_message_bytes = 64 << 20;
  // Sent with every call as "dynclamp-operator" (the rig lock's owner when
  // the daemon has no tokens; with tokens, the token's name is).
  std::string operator_name;
  // Sent with every call as "authorization: Bearer TOKEN".
  std::string token;
  // TLS: on with `tls`; the CA that signed the daemon's certificate (empty:
  // the system's roots), and a client certificate and key (PEM text) for
  // daemons that require one. `tls_server_name` overrides the name checked
  // against the certificate (default: the target's host).
  bool tls = false;
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem, tls_server_name;
};

class Client {
 public:
  // Connects to `target` ("host:port"); Unavailable if nothing answers within
  // the timeout.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(
      const std::string& target, ClientOptions options = {});

  const std::string& target() const { return target_; }

  absl::StatusOr<v1::Rig> GetRig();
  absl::StatusOr<v1::Rig> SetHolding(const std::string& cell,
                                     double current_pa);
  absl::StatusOr<v1::Rig> ConfigureChannels(
      const v1::ConfigureChannelsRequest& request);
  absl::StatusOr<v1::ListMechanismsResponse> ListMechanisms();
  absl::StatusOr<v1::ValidateSpecResponse> ValidateSpec(const v1::Spec& spec);
  // `source`: the file as written, stored in later recordings.
  absl::StatusOr<v1::LoadSpecResponse> LoadSpec(const v1::Spec& spec,
                                                const std::string& source = "");
  absl::StatusOr<v1::LoadedSpec> GetLoadedSpec();
  absl::Status SetParameter(const std::string& name, double value);
  absl::StatusOr<v1::ListSignalsResponse> ListSignals();
  absl::StatusOr<v1::Run> StartRun(double duration_s = 0);
  absl::StatusOr<v1::Run> StopRun();
  absl::StatusOr<v1::Run> GetRun();
  absl::StatusOr<v1::Run> ClearFault();
  absl::StatusOr<v1::Run> RunProtocol(const v1::RunProtocolRequest& request);
  absl::StatusOr<v1::ProtocolCheck> ValidateProtocol(
      const v1::RunProtocolRequest& request);
  absl::StatusOr<v1::Run> PauseRun(bool immediately);
  absl::StatusOr<v1::Run> ResumeRun();

  // The queue, its history and the rig lock.
  absl::StatusOr<v1::QueueItem> AddQueueItem(const v1::AddItemRequest& r);
  absl::StatusOr<v1::ListItemsResponse> ListQueue();
  absl::StatusOr<v1::QueueItem> GetQueueItem(uint64_t id);
  absl::StatusOr<v1::QueueItem> MoveQueueItem(uint64_t id,
                                              const v1::Position& position);
  absl::StatusOr<v1::QueueItem> RemoveQueueItem(uint64_t id);
  absl::StatusOr<v1::QueueStatus> ClearQueue();
  absl::StatusOr<v1::QueueStatus> StartQueue();
  absl::StatusOr<v1::QueueStatus> StopQueue();
  absl::StatusOr<v1::QueueStatus> PauseQueue(bool immediately);
  absl::StatusOr<v1::QueueStatus> ResumeQueue();
  absl::StatusOr<v1::QueueStatus> AbortCurrent();
  absl::StatusOr<v1::QueueStatus> GetQueueStatus();
  absl::StatusOr<v1::ListHistoryResponse> ListHistory(uint32_t limit);
  absl::StatusOr<v1::LockStatus> AcquireLock();
  // `force`: another operator's lock (needs the admin role).
  absl::StatusOr<v1::LockStatus> ReleaseLock(bool force = false);
  absl::StatusOr<v1::LockStatus> GetLock();
  // The fidelity lab; it takes tens of seconds, so its deadline is
  // `timeout_s`, not the client's.
  absl::StatusOr<v1::LabReport> RunLab(const v1::RunLabRequest& request,
                                       double timeout_s);
  // Recordings in the daemon's data directory (newest first; run_id 0:
  // all), and one downloaded: `on_chunk` gets each chunk, the last with
  // the file's SHA-256.
  absl::StatusOr<v1::ListRecordingsResponse> ListRecordings(uint64_t run_id,
                                                            uint32_t limit);
  absl::Status DownloadRecording(
      const v1::DownloadRecordingRequest& request,
      const std::function<bool(const v1::RecordingChunk&)>& on_chunk);
  // Tokens and limits (admin role).
  absl::StatusOr<v1::CreatedToken> CreateToken(const std::string& name,
                                               v1::Role role);
  absl::Status RevokeToken(const std::string& name);
  absl::StatusOr<v1::ListTokensResponse> ListTokens();
  absl::StatusOr<v1::DaemonConfig> GetConfig();
  absl::StatusOr<v1::DaemonConfig> SetLimits(const v1::Limits& limits);
  // SERVING, NOT_SERVING ... of the daemon ("" service).
  absl::StatusOr<grpc::health::v1::HealthCheckResponse::ServingStatus>
  CheckHealth();

  // Calls `on_run` with the run now and at each change; returns when the
  // callback returns false (OK), the daemon ends the stream (its status), or
  // Cancel() is called (Cancelled).
  absl::Status WatchRun(const std::function<bool(const v1::Run&)>& on_run);
  // Calls `on_chunk` for the header chunk and then every data chunk.
  absl::Status Subscribe(const v1::SubscribeRequest& request,
                         const std::function<bool(const v1::Chunk&)>& on_chunk);
  // Cancels every stream this client has open.
  void Cancel() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Client(std::string target, ClientOptions options,
         std::shared_ptr<grpc::Channel> channel);
  // The client's deadline and AddIdentity.
  void SetDeadline(grpc::ClientContext& ctx) const;
  // Token and operator name.
  void AddIdentity(grpc::ClientContext& ctx) const;
  template <typename Req, typename Resp>
  absl::StatusOr<Resp> Queue(grpc::Status (v1::QueueService::Stub::*method)(
                                 grpc::ClientContext*, const Req&, Resp*),
                             const Req& request, const char* name);
  absl::Status ToStatus(const grpc::Status& s, const char* call) const;
  // Opens a server stream (cancelled by Cancel()) and reads it to its end.
  template <typename Stub, typename Req, typename T>
  absl::Status ServerStream(Stub& stub,
                            std::unique_ptr<grpc::ClientReader<T>> (
                                Stub::*method)(grpc::ClientContext*,
                                               const Req&),
                            const Req& request,
                            const std::function<bool(const T&)>& on_item,
                            const char* call);
  template <typename T>
  absl::Status ReadStream(grpc::ClientContext& ctx,
                          grpc::ClientReader<T>& reader,
                          const std::function<bool(const T&)>& on_item,
                          const char* call);

  std::string target_;
  ClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RigService::Stub> rig_;
  std::unique_ptr<v1::ModelService::Stub> models_;
  std::unique_ptr<v1::RunService::Stub> runs_;
  std::unique_ptr<v1::QueueService::Stub> queue_;
  std::unique_ptr<v1::StreamService::Stub> streams_;
  std::unique_ptr<v1::RecordingService::Stub> recordings_;
  std::unique_ptr<v1::FidelityService::Stub> fidelity_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  absl::Mutex mu_;
  std::vector<grpc::ClientContext*> open_streams_ ABSL_GUARDED_BY(mu_);
};

}  // namespace dynclamp::client

#endif  // DYNCLAMP_CLIENTS_CPP_CLIENT_H_
