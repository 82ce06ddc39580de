#include "server/api/grpc_status.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dynclamp::server {
namespace {

using ::testing::HasSubstr;

TEST(GrpcStatusTest, FieldIsThePathBeforeTheFirstColon) {
  EXPECT_EQ(FieldOfMessage("spec.conductances[0].g_max_ns: must be >= 0"),
            "spec.conductances[0].g_max_ns");
  EXPECT_EQ(FieldOfMessage("--sim_cells: unknown cell model 'x'"),
            "--sim_cells");
  EXPECT_EQ(FieldOfMessage("conductances[0] (gaba).constant.g_ns: bad"),
            "conductances[0].constant.g_ns")
      << "without the label";
  EXPECT_EQ(FieldOfMessage("cells[1] (xx… (300 characters)).cell: bad"),
            "cells[1].cell")
      << "a clipped label has parentheses of its own";
  EXPECT_EQ(FieldOfMessage("no such thing: here"), "") << "not a path";
  EXPECT_EQ(FieldOfMessage("no colon at all"), "");
  EXPECT_EQ(FieldOfMessage(": empty"), "");
}

TEST(GrpcStatusTest, InvalidArgumentCarriesABadRequestWithFieldAndReason) {
  const grpc::Status s = ToGrpcStatus(absl::InvalidArgumentError(
      "epochs[1].duration_s: must be at most 86400"));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "epochs[1].duration_s: must be at most 86400");
  google::rpc::Status rich;
  ASSERT_TRUE(rich.ParseFromString(s.error_details()));
  EXPECT_EQ(rich.code(), 3);
  ASSERT_EQ(rich.details_size(), 1);
  google::rpc::BadRequest bad;
  ASSERT_TRUE(rich.details(0).UnpackTo(&bad));
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "epochs[1].duration_s");
  EXPECT_EQ(bad.field_violations(0).description(), "must be at most 86400");

  const grpc::Status other =
      ToGrpcStatus(absl::NotFoundError("parameter: 'x' is not a parameter"));
  ASSERT_TRUE(rich.ParseFromString(other.error_details()));
  EXPECT_EQ(rich.details_size(), 0) << "only INVALID_ARGUMENT has a BadRequest";
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

// A 20 000-character name once came back whole, over what a default client
// accepts in its trailers.
TEST(GrpcStatusTest, LongMessagesAreCutAndSaySo) {
  const std::string name(20'000, 'x');
  const grpc::Status s =
      ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(name, ": bad")));
  EXPECT_LE(s.error_message().size(), kMaxErrorMessageBytes + 40);
  EXPECT_THAT(s.error_message(), HasSubstr("(20005 characters in all)"));
  EXPECT_LE(s.error_details().size(), 2 * kMaxErrorMessageBytes + 512);
  // Never inside a UTF-8 sequence.
  const std::string micro = ClipText(std::string(3, 'a') + "µµµµ", 4);
  EXPECT_EQ(micro.substr(0, 3), "aaa");
  EXPECT_THAT(micro, HasSubstr("(11 characters in all)"));
}

}  // namespace
}  // namespace dynclamp::server
