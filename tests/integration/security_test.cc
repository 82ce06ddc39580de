// Security through the real daemon on loopback: tokens and roles on every
// method, TLS with and without client certificates, the --insecure rule,
// protected metrics, and the limits.
#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/generic/generic_stub.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "clients/cpp/client.h"
#include "clients/cpp/local_daemon.h"
#include "daemon_process.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/auth/access.h"
#include "server/api/auth/token_store.h"
#include "spec_files/spec_file.h"

namespace dynclamp::testing {
namespace {

using server::Role;
using ::testing::HasSubstr;

// One 50 ms sweep of nothing on cell0.
v1::RunProtocolRequest ShortRun() {
  v1::RunProtocolRequest run;
  run.mutable_protocol()->set_name("p");
  auto* epoch = run.mutable_protocol()->add_sweeps()->add_stimuli();
  epoch->set_cell("cell0");
  auto* e = epoch->add_epochs();
  e->set_duration_s(0.05);
  e->mutable_hold()->set_value(0);
  return run;
}

std::string TempDir(const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() /
                           absl::StrCat("security_test_", getpid(), "_", name))
                              .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// A daemon with a token file holding one token per role (and a second
// operator), plus whatever other flags a test gives.
class SecureDaemon {
 public:
  explicit SecureDaemon(const std::string& name,
                        std::vector<std::string> args = {}) {
    dir_ = TempDir(name);
    auto store = server::TokenStore::Open(dir_ + "/tokens", true);
    EXPECT_TRUE(store.ok()) << store.status();
    for (auto [who, role] :
         {std::pair{"olga", Role::kObserver},
          std::pair{"otto", Role::kOperator},
          std::pair{"opal", Role::kOperator}, std::pair{"ada", Role::kAdmin}}) {
      tokens_[who] = *(*store)->Issue(who, role, 1);
    }
    args.push_back("--token_file=" + dir_ + "/tokens");
    auto d = client::LocalDaemon::Start(DYNCLAMPD_PATH, args);
    EXPECT_TRUE(d.ok()) << d.status();
    if (d.ok()) daemon_ = *std::move(d);
  }
  ~SecureDaemon() {
    daemon_.reset();
    std::filesystem::remove_all(dir_);
  }
  bool ok() const { return daemon_ != nullptr; }
  std::string target() const { return daemon_->target(); }
  std::string Log() const { return daemon_->Log(); }
  const std::string& token(const std::string& who) { return tokens_[who]; }

  // A client with `who`'s token ("" : none).
  std::unique_ptr<client::Client> As(const std::string& who,
                                     client::ClientOptions options = {}) {
    if (!who.empty()) options.token = tokens_[who];
    options.operator_name = who.empty() ? "nobody" : who;
    auto c = client::Client::Connect(target(), options);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

 private:
  std::string dir_;
  std::map<std::string, std::string> tokens_;
  std::unique_ptr<client::LocalDaemon> daemon_;
};

const char* const kServices[] = {
    "dynclamp.v1.RigService",   "dynclamp.v1.ModelService",
    "dynclamp.v1.RunService",   "dynclamp.v1.StreamService",
    "dynclamp.v1.QueueService", "dynclamp.v1.FidelityService",
    "dynclamp.v1.AdminService"};

struct MethodCall {
  std::string path;
  bool streaming = false;
};

std::vector<MethodCall> EveryMethod() {
  // Loads each service's file into the generated pool.
  for (const auto* d :
       {v1::GetRigRequest::descriptor(), v1::LoadSpecRequest::descriptor(),
        v1::StartRunRequest::descriptor(), v1::SubscribeRequest::descriptor(),
        v1::AddItemRequest::descriptor(), v1::RunLabRequest::descriptor(),
        v1::CreateTokenRequest::descriptor()}) {
    (void)d;
  }
  std::vector<MethodCall> out;
  for (const char* name : kServices) {
    const auto* s =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    EXPECT_NE(s, nullptr) << name;
    if (s == nullptr) continue;
    for (int i = 0; i < s->method_count(); ++i) {
      out.push_back({"/" + s->full_name() + "/" + s->method(i)->name(),
                     s->method(i)->server_streaming()});
    }
  }
  return out;
}

// Calls `method` with an empty request and the given authorization header
// ("" : none); returns the status. A refusal comes at once; a streaming
// method that is allowed streams until the short deadline ends it.
grpc::Status RawCall(const std::string& target, const std::string& method,
                     bool streaming, const std::string& authorization) {
  auto channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(streaming ? 500 : 5000));
  if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1), response;
  grpc::Status result;
  absl::Notification done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   result = s;
                   done.Notify();
                 });
  done.WaitForNotification();
  return result;
}

TEST(SecurityTest, EveryMethodRefusesCallersWithoutAValidToken) {
  SecureDaemon d("no_token");
  ASSERT_TRUE(d.ok());
  const std::vector<MethodCall> methods = EveryMethod();
  ASSERT_GE(methods.size(), 40u);
  for (const MethodCall& m : methods) {
    for (const std::string& auth :
         {std::string(), std::string("Bearer dct_forged"),
          d.token("otto")}) {  // a token without "Bearer "
      const grpc::Status s = RawCall(d.target(), m.path, m.streaming, auth);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
          << m.path << " with '" << auth << "': " << s.error_message();
    }
  }
  // The health check stays open for supervisors.
  EXPECT_TRUE(d.As("")->CheckHealth().ok());
}

TEST(SecurityTest, EachRoleIsRefusedWhatIsAboveIt) {
  SecureDaemon d("roles");
  ASSERT_TRUE(d.ok());
  int denied = 0;
  for (const MethodCall& m : EveryMethod()) {
    const Role needed = **server::MethodRole(m.path);
    for (auto [who, role] :
         {std::pair{"olga", Role::kObserver},
          std::pair{"otto", Role::kOperator}, std::pair{"ada", Role::kAdmin}}) {
      if (m.path == "/dynclamp.v1.FidelityService/RunLab" && role >= needed) {
        continue;  // allowed, and it would run the lab for a minute
      }
      const grpc::Status s =
          RawCall(d.target(), m.path, m.streaming, "Bearer " + d.token(who));
      if (role < needed) {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << m.path << " as " << who << ": " << s.error_message();
        ++denied;
      } else {
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << m.path << " as " << who << ": " << s.error_message();
        EXPECT_NE(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
            << m.path << " as " << who;
      }
    }
  }
  EXPECT_GT(denied, 30);
}

TEST(SecurityTest, RefusedCallsChangeNothing) {
  SecureDaemon d("nothing_changes");
  ASSERT_TRUE(d.ok());
  auto olga = d.As("olga");
  auto otto = d.As("otto");
  auto nobody = d.As("");
  const v1::Spec spec = Yaml(kGaba);

  for (client::Client* c : {olga.get(), nobody.get()}) {
    EXPECT_FALSE(c->LoadSpec(spec).ok());
    EXPECT_FALSE(c->StartRun(0).ok());
    v1::AddItemRequest item;
    *item.mutable_run() = ShortRun();
    EXPECT_FALSE(c->AddQueueItem(item).ok());
    EXPECT_FALSE(c->AcquireLock().ok());
    v1::ConfigureChannelsRequest channels;
    EXPECT_FALSE(c->ConfigureChannels(channels).ok());
    EXPECT_FALSE(c->CreateToken("mallory", v1::ADMIN).ok());
  }
  EXPECT_FALSE(otto->CreateToken("mallory", v1::ADMIN).ok());
  EXPECT_FALSE(otto->RevokeToken("ada").ok());

  EXPECT_EQ(otto->GetLoadedSpec()->generation(), 0u);
  EXPECT_EQ(otto->GetRun()->state(), v1::IDLE);
  EXPECT_EQ(otto->ListQueue()->items_size(), 0);
  EXPECT_FALSE(otto->GetLock()->held());
  EXPECT_EQ(d.As("ada")->ListTokens()->tokens_size(), 4);

  // An observer streams; nobody else does, and gets no sample.
  ASSERT_TRUE(otto->StartRun(0).ok());
  int chunks = 0;
  v1::SubscribeRequest sub;
  sub.add_signals("cell0.v_mv");
  const absl::Status refused =
      nobody->Subscribe(sub, [&](const v1::Chunk&) { return ++chunks < 2; });
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(chunks, 0);
  EXPECT_TRUE(
      olga->Subscribe(sub, [&](const v1::Chunk&) { return ++chunks < 2; })
          .ok());
  EXPECT_EQ(chunks, 2);
}

TEST(SecurityTest, TheLockBelongsToTheTokenNotToAClaimedName) {
  SecureDaemon d("lock");
  ASSERT_TRUE(d.ok());
  auto otto = d.As("otto");
  ASSERT_TRUE(otto->AcquireLock().ok());
  EXPECT_EQ(otto->GetLock()->owner(), "otto");
  // Opal claims to be otto in the old metadata; the token says otherwise.
  client::ClientOptions spoof;
  spoof.token = d.token("opal");
  spoof.operator_name = "otto";
  auto opal = *client::Client::Connect(d.target(), spoof);
  const absl::Status s = opal->LoadSpec(Yaml(kGaba)).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("locked by 'otto'"));
  EXPECT_TRUE(otto->LoadSpec(Yaml(kGaba)).ok());
}

TEST(SecurityTest, TokensIssuedAndRevokedByAnAdminTakeEffectAtOnce) {
  SecureDaemon d("admin");
  ASSERT_TRUE(d.ok());
  auto ada = d.As("ada");
  auto created = ada->CreateToken("tech", v1::OPERATOR);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->role(), v1::OPERATOR);
  client::ClientOptions options;
  options.token = created->token();
  auto tech = *client::Client::Connect(d.target(), options);
  EXPECT_TRUE(tech->LoadSpec(Yaml(kGaba)).ok());
  EXPECT_EQ(ada->CreateToken("tech", v1::ADMIN).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ada->CreateToken("bad name", v1::ADMIN).status().code(),
            absl::StatusCode::kInvalidArgument);

  ASSERT_TRUE(ada->RevokeToken("tech").ok());
  EXPECT_EQ(tech->GetRun().status().code(), absl::StatusCode::kUnauthenticated);
  const v1::DaemonConfig config = *ada->GetConfig();
  EXPECT_TRUE(config.authentication());
  EXPECT_FALSE(config.tls());
}

TEST(SecurityTest, BeyondLoopbackThePlainDaemonNeedsInsecure) {
  auto refused =
      client::LocalDaemon::Start(DYNCLAMPD_PATH, {"--listen=0.0.0.0:0"});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("has no TLS and tokens"));
  auto insecure = client::LocalDaemon::Start(
      DYNCLAMPD_PATH, {"--listen=0.0.0.0:0", "--insecure"});
  ASSERT_TRUE(insecure.ok()) << insecure.status();
  EXPECT_THAT((*insecure)->Log(),
              HasSubstr("INSECURE: serving on 0.0.0.0:0 without TLS and "
                        "tokens"));
  // Loopback stays quiet.
  auto quiet = client::LocalDaemon::Start(DYNCLAMPD_PATH, {});
  ASSERT_TRUE(quiet.ok());
  EXPECT_THAT((*quiet)->Log(), ::testing::Not(HasSubstr("INSECURE")));
  // Metrics beyond loopback need protection too.
  auto metrics = client::LocalDaemon::Start(DYNCLAMPD_PATH,
                                            {"--metrics_listen=0.0.0.0:0"});
  ASSERT_FALSE(metrics.ok());
  EXPECT_THAT(metrics.status().message(), HasSubstr("--metrics_auth"));
}

// ---- TLS -------------------------------------------------------------------

// A CA, a server certificate for 127.0.0.1 and a client certificate, made
// with the openssl tool.
class Pki {
 public:
  explicit Pki(const std::string& dir) : dir_(dir) {
    const std::string script = absl::StrCat(
        "set -e; cd ", dir,
        "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=testca "
        "-keyout ca.key -out ca.pem 2>/dev/null"
        "; for who in server client other; do openssl req -newkey rsa:2048 "
        "-nodes -subj /CN=$who -keyout $who.key -out $who.csr 2>/dev/null; "
        "done"
        "; printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.ext"
        "; openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null"
        "; openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -days 2 -out client.pem 2>/dev/null"
        "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "
        "/CN=otherca -keyout otherca.key -out otherca.pem 2>/dev/null"
        "; openssl x509 -req -in other.csr -CA otherca.pem -CAkey otherca.key "
        "-CAcreateserial -days 2 -out other.pem 2>/dev/null");
    ok_ = std::system(script.c_str()) == 0;
  }
  bool ok() const { return ok_; }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Pem(const std::string& name) const {
    return *spec_files::ReadTextFile(Path(name));
  }
  // The daemon's flags for its server certificate.
  std::vector<std::string> ServerFlags() const {
    return {"--tls_cert=" + Path("server.pem"),
            "--tls_key=" + Path("server.key")};
  }
  // A client that trusts the lab CA.
  client::ClientOptions Trusting(absl::Duration timeout) const {
    client::ClientOptions o;
    o.tls = true;
    o.tls_ca_pem = Pem("ca.pem");
    o.timeout = timeout;
    return o;
  }

 private:
  std::string dir_;
  bool ok_ = false;
};

TEST(SecurityTest, TlsServesOnlyClientsThatTrustItAndCarryAToken) {
  const std::string dir = TempDir("tls_pki");
  Pki pki(dir);
  ASSERT_TRUE(pki.ok());
  SecureDaemon d("tls", pki.ServerFlags());
  ASSERT_TRUE(d.ok());
  const client::ClientOptions tls = pki.Trusting(absl::Seconds(3));
  auto otto = d.As("otto", tls);
  ASSERT_NE(otto, nullptr);
  EXPECT_TRUE(otto->LoadSpec(Yaml(kGaba)).ok());
  EXPECT_TRUE(d.As("ada", tls)->GetConfig()->tls());

  // Plain text, or a CA that did not sign the server: no connection.
  client::ClientOptions plain;
  plain.timeout = absl::Seconds(2);
  plain.token = d.token("otto");
  EXPECT_EQ(client::Client::Connect(d.target(), plain).status().code(),
            absl::StatusCode::kUnavailable);
  client::ClientOptions wrong_ca = tls;
  wrong_ca.tls_ca_pem = pki.Pem("otherca.pem");
  EXPECT_EQ(client::Client::Connect(d.target(), wrong_ca).status().code(),
            absl::StatusCode::kUnavailable);
  // Over TLS, a token is still needed.
  client::ClientOptions no_token = tls;
  auto anonymous = *client::Client::Connect(d.target(), no_token);
  EXPECT_EQ(anonymous->GetRun().status().code(),
            absl::StatusCode::kUnauthenticated);
  std::filesystem::remove_all(dir);
}

TEST(SecurityTest, MutualTlsRefusesClientsWithoutACertificateFromTheCa) {
  const std::string dir = TempDir("mtls_pki");
  Pki pki(dir);
  ASSERT_TRUE(pki.ok());
  std::vector<std::string> flags = pki.ServerFlags();
  flags.push_back("--tls_client_ca=" + pki.Path("ca.pem"));
  SecureDaemon d("mtls", flags);
  ASSERT_TRUE(d.ok());
  client::ClientOptions tls = pki.Trusting(absl::Seconds(2));
  tls.token = d.token("olga");
  // No certificate, or one from another CA: refused during the handshake.
  for (const char* cert : {"", "other"}) {
    client::ClientOptions o = tls;
    if (*cert != '\0') {
      o.tls_cert_pem = pki.Pem(absl::StrCat(cert, ".pem"));
      o.tls_key_pem = pki.Pem(absl::StrCat(cert, ".key"));
    }
    auto c = client::Client::Connect(d.target(), o);
    if (c.ok()) {
      // Some TLS versions finish the handshake before checking; the first
      // call then fails.
      EXPECT_EQ((*c)->GetRun().status().code(), absl::StatusCode::kUnavailable)
          << cert;
    }
  }
  tls.tls_cert_pem = pki.Pem("client.pem");
  tls.tls_key_pem = pki.Pem("client.key");
  auto olga = client::Client::Connect(d.target(), tls);
  ASSERT_TRUE(olga.ok()) << olga.status();
  EXPECT_EQ((*olga)->GetRun()->state(), v1::IDLE);
  auto config = d.As("ada", tls)->GetConfig();
  ASSERT_TRUE(config.ok());
  EXPECT_TRUE(config->client_certificates_required());
  std::filesystem::remove_all(dir);
}

// ---- metrics ---------------------------------------------------------------

// GET http://127.0.0.1:port/metrics; returns the status line.
std::string HttpStatus(int port, const std::string& basic_auth) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "no connection";
  }
  std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!basic_auth.empty()) {
    request +=
        "Authorization: Basic " + absl::Base64Escape(basic_auth) + "\r\n";
  }
  request += "\r\n";
  (void)!write(fd, request.data(), request.size());
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) reply.append(buf, n);
  close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

TEST(SecurityTest, ProtectedMetricsNeedAToken) {
  const std::string dir = TempDir("metrics_port");
  const std::string port_file = dir + "/metrics_port";
  SecureDaemon d("metrics",
                 {"--metrics_auth", "--metrics_port_file=" + port_file});
  ASSERT_TRUE(d.ok());
  const int port = std::stoi(*spec_files::ReadTextFile(port_file));
  EXPECT_THAT(HttpStatus(port, ""), HasSubstr("401"));
  EXPECT_THAT(HttpStatus(port, "prometheus:dct_wrong"), HasSubstr("401"));
  EXPECT_THAT(HttpStatus(port, "prometheus:" + d.token("olga")),
              HasSubstr("200"));
  std::filesystem::remove_all(dir);
}

// ---- limits ----------------------------------------------------------------

TEST(SecurityTest, LimitsRefuseWithTheFieldAndChangeNothing) {
  SecureDaemon d("limits", {"--max_cells=2", "--max_subscribers=2",
                            "--max_queue_items=1", "--max_recorded_signals=1"});
  ASSERT_TRUE(d.ok());
  auto otto = d.As("otto");
  ASSERT_TRUE(otto->LoadSpec(Yaml(kGaba)).ok());
  const uint32_t generation = otto->GetLoadedSpec()->generation();

  v1::Spec cells = Yaml(kGaba);
  for (int i = 0; i < 3; ++i) {
    auto* a = cells.add_artificial_cells();
    a->set_name(absl::StrCat("s", i));
    a->mutable_net_stim()->set_interval_ms(10);
    a->mutable_net_stim()->set_number(1);
  }
  absl::Status s = otto->LoadSpec(cells).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("spec: 3 model and artificial cells"));
  EXPECT_THAT(s.message(), HasSubstr("--max_cells"));
  EXPECT_EQ(otto->GetLoadedSpec()->generation(), generation);

  // Streams: two at most.
  std::vector<std::unique_ptr<client::Client>> readers;
  std::vector<std::thread> threads;
  std::atomic<int> headers{0};
  v1::SubscribeRequest sub;
  sub.add_signals("cell0.v_mv");
  for (int i = 0; i < 2; ++i) {
    readers.push_back(d.As("olga"));
    threads.emplace_back([&, c = readers.back().get()] {
      (void)c->Subscribe(sub, [&](const v1::Chunk& chunk) {
        if (chunk.signals_size() > 0) ++headers;
        return true;
      });
    });
  }
  for (int i = 0; i < 500 && headers.load() < 2; ++i)
    absl::SleepFor(absl::Milliseconds(10));
  ASSERT_EQ(headers.load(), 2);
  s = d.As("olga")->Subscribe(sub, [](const v1::Chunk&) { return true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("--max_subscribers"));
  for (auto& r : readers) r->Cancel();
  for (auto& t : threads) t.join();

  // Recorded signals: the gaba conductance publishes more than one.
  const v1::RunProtocolRequest run = ShortRun();
  s = otto->RunProtocol(run).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("--max_recorded_signals"));
  EXPECT_EQ(otto->GetRun()->state(), v1::IDLE);

  // The queue: one item.
  v1::AddItemRequest item;
  *item.mutable_run() = run;
  ASSERT_TRUE(otto->AddQueueItem(item).ok());
  s = otto->AddQueueItem(item).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("--max_queue_items"));
  EXPECT_EQ(otto->ListQueue()->items_size(), 1);

  // An admin can raise a limit; a bad set is refused whole.
  auto ada = d.As("ada");
  v1::Limits limits = ada->GetConfig()->limits();
  limits.set_max_queue_items(2);
  ASSERT_TRUE(ada->SetLimits(limits).ok());
  EXPECT_TRUE(otto->AddQueueItem(item).ok());
  limits.set_max_cells(0);
  s = ada->SetLimits(limits).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("max_cells"));
  EXPECT_EQ(ada->GetConfig()->limits().max_cells(), 2u);
}

}  // namespace
}  // namespace dynclamp::testing
