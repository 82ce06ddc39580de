// dynclampd: the dynamic-clamp daemon. Owns the rig and the clamp loop and
// serves the dynclamp.v1 gRPC API (plus grpc.health.v1.Health and server
// reflection). SIGTERM/SIGINT: outputs to 0, streams finished with a status,
// then exit. Its flags and what they mean: daemon_options.{h,cc}.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/resource_quota.h>
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rt_engine/loop/rt_thread.h"
#include "rt_engine/loop/termination.h"
#include "server/api/admin_service.h"
#include "server/api/auth/access.h"
#include "server/api/auth/token_store.h"
#include "server/api/fidelity_service.h"
#include "server/api/grpc_services.h"
#include "server/api/metrics.h"
#include "server/daemon/daemon_options.h"
#include "server/instrument/instrument.h"
#include "server/instrument/rig_check.h"
#include "server/queue/queue_runner.h"
#include "server/queue/queue_store.h"
#include "server/version.h"
#include "spec_files/spec_file.h"

namespace dynclamp::server {
namespace {

void Log(const std::string& line) {
  std::fprintf(stderr, "%s dynclampd: %s\n",
               absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::Now(),
                                absl::LocalTimeZone())
                   .c_str(),
               line.c_str());
}

int Fail(const absl::Status& status) {
  Log(absl::StrCat("cannot start: ", status.ToString()));
  return 2;
}

// --issue_token NAME:ROLE: adds a token to the file and prints it.
int IssueToken(const std::string& spec, const std::string& path) {
  std::pair<std::string, std::string> parts =
      absl::StrSplit(spec, absl::MaxSplits(':', 1));
  auto role = ParseRole(parts.second);
  if (!role.ok()) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--issue_token: NAME:ROLE; ", role.status().message())));
  }
  auto store = TokenStore::Open(path, /*create=*/true);
  if (!store.ok()) return Fail(store.status());
  auto token =
      (*store)->Issue(parts.first, *role, absl::ToUnixSeconds(absl::Now()));
  if (!token.ok()) {
    return Fail(absl::Status(
        token.status().code(),
        absl::StrCat("--issue_token: ", token.status().message())));
  }
  std::printf("%s\n", token->c_str());
  Log(absl::StrCat("issued a ", parts.second, " token '", parts.first, "' in ",
                   path, "; it is printed once and stored hashed"));
  return 0;
}

// TLS from the certificate files, or plain (the options allow it).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentials(
    const DaemonOptions& options) {
  if (options.tls_cert.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  for (auto [flag, path, out] :
       {std::tuple{"--tls_cert", options.tls_cert, &pair.cert_chain},
        std::tuple{"--tls_key", options.tls_key, &pair.private_key},
        std::tuple{"--tls_client_ca", options.tls_client_ca,
                   &ssl.pem_root_certs}}) {
    if (path.empty()) continue;
    auto text = spec_files::ReadTextFile(path);
    if (!text.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(flag, ": ", text.status().message()));
    }
    *out = *text;
  }
  ssl.pem_key_cert_pairs.push_back(pair);
  ssl.client_certificate_request =
      options.tls_client_ca.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  return grpc::SslServerCredentials(ssl);
}

absl::StatusOr<std::unique_ptr<TokenStore>> OpenTokens(
    const DaemonOptions& options) {
  if (options.token_file.empty()) return nullptr;
  auto tokens = TokenStore::Open(options.token_file, /*create=*/false);
  if (tokens.ok() && (*tokens)->List().empty()) {
    Log(absl::StrCat("WARNING: ", (*tokens)->path(),
                     " has no tokens: every call will be refused (dynclampd "
                     "--issue_token)"));
  }
  return tokens;
}

// Every thread's stack is resident and locked once a run locks the
// daemon's memory (mlockall): glibc's default of 8 MB per thread made each
// gRPC thread cost 8 MB of RAM. 2 MB is ample for any of ours.
void SmallerThreadStacks() {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, std::size_t{2} << 20);
  pthread_setattr_default_np(&attr);
  pthread_attr_destroy(&attr);
}

void WritePort(const std::string& path, int port) {
  if (!path.empty()) std::ofstream(path) << port << "\n";
}

// The rig is open and the clamp loop runs: serve the API (and metrics)
// until SIGTERM/SIGINT, then stop everything in order.
int Serve(const DaemonOptions& options,
          std::shared_ptr<grpc::ServerCredentials> credentials,
          Instrument& instrument, TokenStore* tokens, LimitsStore& limits,
          const absl::Notification& terminate,
          const dynclamp::rt::TerminationWatcher& watcher) {
  auto queue_store = QueueStore::Open(
      (std::filesystem::path(options.data_dir) / "queue.sqlite").string(),
      absl::ToUnixNanos(absl::Now()));
  if (!queue_store.ok()) return Fail(queue_store.status());
  if (const auto& lost = (*queue_store)->interrupted(); lost.has_value()) {
    Log(absl::StrCat("queue item ", lost->item_id(), " (", lost->name(),
                     ") was running when the daemon stopped: recorded as "
                     "interrupted; its file: ",
                     lost->nwb_path().empty() ? "none" : lost->nwb_path()));
  }
  QueueRunner queue_runner(instrument, **queue_store, options.queue);
  std::unique_ptr<MetricsServer> metrics;
  if (!options.metrics_listen.empty()) {
    MetricsServer::Authenticator auth;
    if (options.metrics_auth) {
      auth = [tokens](const std::string&, const std::string& password) {
        return tokens->Authenticate(password).ok();
      };
    }
    auto started = MetricsServer::Start(options.metrics_listen, instrument,
                                        &queue_runner, std::move(auth));
    if (!started.ok()) return Fail(started.status());
    metrics = *std::move(started);
  }
  AccessGate gate(tokens, queue_store->get());
  RigServiceImpl rig_service(instrument, gate);
  ModelServiceImpl model_service(instrument, gate);
  RunServiceImpl run_service(instrument, gate);
  StreamServiceImpl stream_service(instrument, gate);
  RecordingServiceImpl recording_service(instrument, gate);
  QueueServiceImpl queue_service(instrument, **queue_store, queue_runner, gate,
                                 limits);
  FidelityServiceImpl fidelity_service(options.lab_threads, gate, instrument,
                                       limits);
  v1::DaemonConfig config;
  config.set_listen(options.listen);
  config.set_tls(!options.tls_cert.empty());
  config.set_client_certificates_required(!options.tls_client_ca.empty());
  config.set_authentication(tokens != nullptr);
  config.set_metrics_listen(options.metrics_listen);
  config.set_metrics_protected(options.metrics_auth);
  AdminServiceImpl admin_service(tokens, limits, gate, config);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options.listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options.limits.max_message_bytes));
  // A client that stops reading for a while (a frozen viewer, a debugger)
  // keeps its stream and is told what it lost, for up to a minute: gRPC's
  // default of 20 s also became the socket's TCP_USER_TIMEOUT, which
  // reset the connection of a stream paused for 20 s. Beyond a minute of
  // silence (no keepalive answer, or no room in its window) the connection
  // is closed and everything it held is freed.
  // gRPC's synchronous server starts a thread per concurrent call (all but
  // the Subscribe and WatchRun reactors) with no bound of its own: cap
  // them (a call beyond gets RESOURCE_EXHAUSTED from gRPC).
  grpc::ResourceQuota quota("dynclampd");
  quota.SetMaxThreads(kMaxServerThreads);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kClientSilenceMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kClientSilenceMs);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(gate.InterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (grpc::Service* service : std::initializer_list<grpc::Service*>{
           &rig_service, &model_service, &run_service, &stream_service,
           &recording_service, &queue_service, &fidelity_service,
           &admin_service}) {
    builder.RegisterService(service);
  }
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on ", options.listen)));
  }
  WritePort(options.port_file, port);
  if (metrics != nullptr) WritePort(options.metrics_port_file, metrics->port());
  Log(absl::StrCat("version ", kVersion, "; serving on port ", port, " (",
                   options.listen, config.tls() ? ", TLS" : ", plain",
                   tokens != nullptr ? ", tokens" : ", no tokens",
                   "); rig: ", instrument.GetRig().description()));

  terminate.WaitForNotification();
  Log(absl::StrCat("signal ", watcher.received(),
                   ": stopping the clamp (outputs to 0) and closing streams"));
  server->GetHealthCheckService()->SetServingStatus(false);
  fidelity_service.Shutdown();  // a lab stops within about 100 ms
  queue_runner.Shutdown();      // a running item is recorded as interrupted
  instrument.Shutdown();        // every stream is told to finish
  // Wait for the streams to deliver their final status. A client that has
  // stopped reading holds its last write; past the wait, gRPC cancels it.
  if (!instrument.WaitStreamsClosed(absl::Seconds(2))) {
    Log("streams still open after 2 s (a client not reading): cancelled");
  }
  // No call is left of ours; the deadline covers other calls in flight
  // (gRPC waits it out whenever a client keeps an idle connection open,
  // so keep it short).
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(300));
  server->Wait();
  Log("stopped");
  return 0;
}

}  // namespace
}  // namespace dynclamp::server

int main(int argc, char** argv) {
  using namespace dynclamp::server;  // NOLINT: main is this file's caller
  SmallerThreadStacks();             // before any thread starts
  // A file size limit (ulimit -f) fails the write that crosses it, which
  // the recorder reports and the run ends on; by default it would kill the
  // daemon mid-experiment instead.
  std::signal(SIGXFSZ, SIG_IGN);
  absl::SetProgramUsageMessage(
      "dynclampd [--listen=127.0.0.1:50051] [--rig=sim] [--period_us=50] "
      "[--data_dir=./dynclamp-data]");
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<DaemonOptions> options = DaemonOptionsFromFlags();
  if (!options.ok()) return Fail(options.status());
  if (!options->issue_token.empty()) {
    return IssueToken(options->issue_token, options->token_file);
  }
  for (const std::string& warning : options->warnings) Log(warning);

  // Before any thread exists, so every thread inherits the CPU mask and the
  // signal mask: gRPC, streaming, recording and the lab compete for the
  // other CPUs, never the loop's.
  const absl::StatusOr<dynclamp::rt::CpuReservation> rt_cpu =
      dynclamp::rt::ReserveRtCpu(options->cpu);
  if (!rt_cpu.ok()) return Fail(rt_cpu.status());
  if (!rt_cpu->note.empty()) Log(absl::StrCat("--cpu: ", rt_cpu->note));
  options->instrument.loop.rt.cpu = rt_cpu->cpu;
  absl::Notification terminate;
  auto watcher = dynclamp::rt::TerminationWatcher::Install(
      [&terminate](int) { terminate.Notify(); });
  if (!watcher.ok()) return Fail(watcher.status());

  std::error_code ec;
  std::filesystem::create_directories(options->data_dir, ec);
  if (ec) {
    return Fail(absl::FailedPreconditionError(
        absl::StrCat("--data_dir: cannot create '", options->data_dir,
                     "': ", ec.message())));
  }
  // Tokens, TLS files and limits are checked before the rig is touched.
  auto tokens = OpenTokens(*options);
  if (!tokens.ok()) return Fail(tokens.status());
  auto credentials = ServerCredentials(*options);
  if (!credentials.ok()) return Fail(credentials.status());
  LimitsStore limits(options->limits);
  options->instrument.limits = &limits;

  auto instrument = Instrument::Create(options->instrument);
  if (!instrument.ok()) return Fail(instrument.status());
  if (options->rig_check) {
    auto report = CheckRig((*instrument)->engine().daq(), 20'000,
                           options->rig_check_loopback);
    if (!report.ok()) return Fail(report.status());
    std::printf("rig check of %s\n%s\n",
                (*instrument)->GetRig().description().c_str(),
                report->ToString().c_str());
    return 0;
  }
  return Serve(*options, *std::move(credentials), **instrument, tokens->get(),
               limits, terminate, **watcher);
}
