#include "server/api/auth/access.h"

#include <google/protobuf/descriptor.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "dynclamp/v1/admin.grpc.pb.h"
#include "dynclamp/v1/fidelity.grpc.pb.h"
#include "dynclamp/v1/models.grpc.pb.h"
#include "dynclamp/v1/queue.grpc.pb.h"
#include "dynclamp/v1/rig.grpc.pb.h"
#include "dynclamp/v1/runs.grpc.pb.h"
#include "dynclamp/v1/stream.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dynclamp::server {
namespace {

using ::testing::HasSubstr;
using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

const char* const kServices[] = {
    "dynclamp.v1.RigService",   "dynclamp.v1.ModelService",
    "dynclamp.v1.RunService",   "dynclamp.v1.StreamService",
    "dynclamp.v1.QueueService", "dynclamp.v1.FidelityService",
    "dynclamp.v1.AdminService"};

// Loads each service's file into the generated pool.
void LinkServices() {
  (void)v1::GetRigRequest::descriptor();
  (void)v1::LoadSpecRequest::descriptor();
  (void)v1::StartRunRequest::descriptor();
  (void)v1::SubscribeRequest::descriptor();
  (void)v1::AddItemRequest::descriptor();
  (void)v1::RunLabRequest::descriptor();
  (void)v1::CreateTokenRequest::descriptor();
}

TEST(MethodRoleTest, EveryMethodOfEveryServiceIsClassified) {
  LinkServices();
  int methods = 0;
  for (const char* name : kServices) {
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string method =
          "/" + service->full_name() + "/" + service->method(i)->name();
      auto role = MethodRole(method);
      ASSERT_TRUE(role.ok()) << role.status();
      // Only the health check is public.
      EXPECT_TRUE(role->has_value()) << method;
      ++methods;
    }
  }
  EXPECT_GE(methods, 40);
}

TEST(MethodRoleTest, RolesFollowWhatTheMethodDoes) {
  EXPECT_EQ(**MethodRole("/dynclamp.v1.StreamService/Subscribe"),
            Role::kObserver);
  EXPECT_EQ(**MethodRole("/dynclamp.v1.RunService/GetRun"), Role::kObserver);
  EXPECT_EQ(**MethodRole("/dynclamp.v1.RunService/StartRun"), Role::kOperator);
  EXPECT_EQ(**MethodRole("/dynclamp.v1.ModelService/LoadSpec"),
            Role::kOperator);
  EXPECT_EQ(**MethodRole("/dynclamp.v1.QueueService/AddItem"), Role::kOperator);
  EXPECT_EQ(**MethodRole("/dynclamp.v1.AdminService/CreateToken"),
            Role::kAdmin);
  EXPECT_FALSE(MethodRole("/grpc.health.v1.Health/Check")->has_value());
  EXPECT_EQ(MethodRole("/dynclamp.v1.RunService/Nope").status().code(),
            absl::StatusCode::kNotFound);
}

class AccessGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = (std::filesystem::temp_directory_path() /
             ("access_test_" + std::to_string(getpid())))
                .string();
    std::filesystem::remove(path_);
    auto store = TokenStore::Open(path_, true);
    ASSERT_TRUE(store.ok());
    tokens_ = *std::move(store);
    observer_ = "Bearer " + *tokens_->Issue("olga", Role::kObserver, 1);
    operator_ = "Bearer " + *tokens_->Issue("otto", Role::kOperator, 1);
    admin_ = "Bearer " + *tokens_->Issue("ada", Role::kAdmin, 1);
  }
  void TearDown() override { std::filesystem::remove(path_); }

  absl::StatusOr<Principal> Call(const AccessGate& gate,
                                 const std::string& method,
                                 const std::string& authorization,
                                 const std::string& op = "") {
    Metadata md;
    if (!authorization.empty()) md.emplace("authorization", authorization);
    if (!op.empty()) md.emplace("dynclamp-operator", op);
    return gate.Authorize(method, md);
  }

  std::string path_;
  std::unique_ptr<TokenStore> tokens_;
  std::string observer_, operator_, admin_;
};

TEST_F(AccessGateTest, NoTokenOrABadOneIsUnauthenticated) {
  AccessGate gate(tokens_.get(), nullptr);
  const std::string get_run = "/dynclamp.v1.RunService/GetRun";
  auto none = Call(gate, get_run, "");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(none.status().message(), HasSubstr("Bearer"));
  EXPECT_EQ(Call(gate, get_run, "Bearer dct_00").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(Call(gate, get_run, observer_.substr(7)).status().code(),
            absl::StatusCode::kUnauthenticated);  // no "Bearer "
  EXPECT_TRUE(Call(gate, get_run, observer_).ok());
}

TEST_F(AccessGateTest, EachRoleReachesItsMethodsAndNoMore) {
  AccessGate gate(tokens_.get(), nullptr);
  const std::string read = "/dynclamp.v1.RigService/GetRig";
  const std::string change = "/dynclamp.v1.RunService/StartRun";
  const std::string admin = "/dynclamp.v1.AdminService/SetLimits";
  EXPECT_TRUE(Call(gate, read, observer_).ok());
  auto denied = Call(gate, change, observer_);
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(denied.status().message(), HasSubstr("needs the operator role"));
  EXPECT_THAT(denied.status().message(), HasSubstr("'olga' is observer"));
  EXPECT_TRUE(Call(gate, change, operator_).ok());
  EXPECT_EQ(Call(gate, admin, operator_).status().code(),
            absl::StatusCode::kPermissionDenied);
  auto ada = Call(gate, admin, admin_);
  ASSERT_TRUE(ada.ok());
  EXPECT_EQ(ada->name, "ada");
  // The health check needs no token; unknown methods are refused.
  EXPECT_TRUE(Call(gate, "/grpc.health.v1.Health/Check", "").ok());
  EXPECT_EQ(Call(gate, "/dynclamp.v1.RunService/Nope", admin_).status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(AccessGateTest, TheCallerIsTheTokensNameNotWhatItClaims) {
  AccessGate gate(tokens_.get(), nullptr);
  auto who = Call(gate, "/dynclamp.v1.RunService/StartRun", operator_, "ada");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->name, "otto");
}

TEST_F(AccessGateTest, WithoutTokensEveryoneIsAnAdminNamedByMetadata) {
  AccessGate gate(nullptr, nullptr);
  auto who = Call(gate, "/dynclamp.v1.AdminService/SetLimits", "", "carla");
  ASSERT_TRUE(who.ok());
  EXPECT_EQ(who->name, "carla");
  EXPECT_EQ(who->role, Role::kAdmin);
}

TEST_F(AccessGateTest, HandlersSeeTheInterceptorsDecisionAndFailClosed) {
  AccessGate gate(tokens_.get(), nullptr);
  grpc::ServerContext ctx;
  // Not seen by the interceptor: refused.
  EXPECT_EQ(gate.Allow(&ctx).code(), absl::StatusCode::kUnauthenticated);
  gate.Record(&ctx, Principal{"otto", Role::kOperator});
  EXPECT_TRUE(gate.Allow(&ctx).ok());
  EXPECT_TRUE(gate.Change(&ctx).ok());
  EXPECT_EQ(gate.Caller(&ctx), "otto");
  gate.Record(&ctx, absl::PermissionDeniedError("no"));
  EXPECT_EQ(gate.Change(&ctx).code(), absl::StatusCode::kPermissionDenied);
  gate.Forget(&ctx);
  EXPECT_EQ(gate.Allow(&ctx).code(), absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace dynclamp::server
