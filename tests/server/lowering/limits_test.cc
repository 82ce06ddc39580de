#include "server/lowering/limits.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace dynclamp::server {
namespace {

using ::testing::HasSubstr;

TEST(LimitsTest, TheDefaultsAreValidAndZeroIsNot) {
  EXPECT_TRUE(ValidateLimits(ServiceLimits{}).ok());
  ServiceLimits l;
  l.max_subscribers = 0;
  const absl::Status s = ValidateLimits(l);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("max_subscribers"));
  l = ServiceLimits{};
  l.max_cells = 1'000'000'000;
  EXPECT_THAT(ValidateLimits(l).message(), HasSubstr("max_cells"));
}

TEST(LimitsTest, ASpecOverALimitNamesItsPathTheCountAndTheFlag) {
  ServiceLimits l;
  l.max_cells = 2;
  l.max_synapses = 3;
  l.max_events_in_flight = 100;
  l.max_spec_bytes = 200;
  v1::Spec spec;
  spec.add_model_cells()->set_name("a");
  spec.add_artificial_cells()->set_name("b");
  EXPECT_TRUE(CheckSpecLimits(spec, l).ok());
  spec.add_model_cells()->set_name("c");
  absl::Status s = CheckSpecLimits(spec, l, "run.spec");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("run.spec: 3 model and artificial cells"));
  EXPECT_THAT(s.message(), HasSubstr("limit of 2 (--max_cells)"));

  spec.clear_model_cells();
  for (int i = 0; i < 2; ++i) spec.add_connections();
  spec.add_gap_junctions();
  spec.add_graded_synapses();
  s = CheckSpecLimits(spec, l);
  EXPECT_THAT(s.message(), HasSubstr("4 synapses"));
  EXPECT_THAT(s.message(), HasSubstr("--max_synapses"));

  spec.clear_connections();
  spec.set_max_events_in_flight(101);
  EXPECT_THAT(CheckSpecLimits(spec, l).message(),
              HasSubstr("--max_events_in_flight"));
  spec.set_max_events_in_flight(100);
  EXPECT_TRUE(CheckSpecLimits(spec, l).ok());

  spec.add_published_signals(std::string(300, 'x'));
  s = CheckSpecLimits(spec, l);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("--max_spec_bytes"));
}

TEST(LimitsTest, TheStoreTakesAWholeValidSetAndKeepsTheMessageSize) {
  LimitsStore store(ServiceLimits{});
  ServiceLimits l;
  l.max_queue_items = 5;
  ASSERT_TRUE(store.Set(l).ok());
  EXPECT_EQ(store.Get().max_queue_items, 5u);
  l.max_subscribers = 0;
  EXPECT_EQ(store.Set(l).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Get().max_subscribers, ServiceLimits{}.max_subscribers);
  l = store.Get();
  l.max_message_bytes = 1 << 10;
  EXPECT_THAT(store.Set(l).message(), HasSubstr("max_message_bytes"));
  EXPECT_EQ(LimitsFromProto(LimitsToProto(store.Get())).max_queue_items, 5u);
}

// Each limit is described once (LimitFields); the proto's field of the same
// name carries it, so none can be forgotten in GetConfig or SetLimits.
TEST(LimitsTest, EveryLimitHasItsProtoFieldAndRoundTrips) {
  const auto* d = v1::Limits::descriptor();
  EXPECT_EQ(static_cast<std::size_t>(d->field_count()), LimitFields().size())
      << "a Limits field without a limit, or the other way round";
  ServiceLimits l;
  uint64_t n = 1;
  for (const LimitField& f : LimitFields()) {
    const auto* field = d->FindFieldByName(f.name);
    ASSERT_NE(field, nullptr) << f.name;
    EXPECT_EQ(field->type(), google::protobuf::FieldDescriptor::TYPE_UINT64);
    l.*f.member = n++;
  }
  const ServiceLimits back = LimitsFromProto(LimitsToProto(l));
  for (const LimitField& f : LimitFields()) {
    EXPECT_EQ(back.*f.member, l.*f.member) << f.name;
  }
}

}  // namespace
}  // namespace dynclamp::server
