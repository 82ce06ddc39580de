#include "rt_engine/daq.h"

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

// A backend that records volts, to test what the base class does.
class RecordingDaq : public Daq {
 public:
  std::string Describe() const override { return "recording"; }
  std::vector<double> in_volts = {0.5, -0.65};
  std::vector<double> out_volts;
  int writes = 0;

 protected:
  absl::Status DoConfigure(const DaqConfig&) override {
    return absl::OkStatus();
  }
  DaqError DoReadVolts(std::span<double> v) noexcept override {
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = in_volts[i];
    return DaqError::kOk;
  }
  DaqError DoWriteVolts(std::span<const double> v) noexcept override {
    out_volts.assign(v.begin(), v.end());
    ++writes;
    return DaqError::kOk;
  }
};

DaqConfig Two() {
  DaqConfig c;
  c.channels = {{"a", 100, 400, 1000}, {"b", 20, 2000, 500}};
  return c;
}

TEST(DaqTest, ConfigureZeroesOutputs) {
  RecordingDaq d;
  ASSERT_TRUE(d.Configure(Two()).ok());
  EXPECT_EQ(d.writes, 1);
  EXPECT_EQ(d.out_volts, (std::vector<double>{0, 0}));
}

TEST(DaqTest, GainsConvertBothWays) {
  RecordingDaq d;
  ASSERT_TRUE(d.Configure(Two()).ok());
  double v[2];
  ASSERT_EQ(d.ReadInputs(v), DaqError::kOk);
  EXPECT_DOUBLE_EQ(v[0], 50.0);
  EXPECT_DOUBLE_EQ(v[1], -13.0);
  double i[2] = {200, -400};
  const auto r = d.WriteOutputs(i);
  EXPECT_EQ(r.clipped, 0u);
  EXPECT_DOUBLE_EQ(d.out_volts[0], 0.5);
  EXPECT_DOUBLE_EQ(d.out_volts[1], -0.2);
}

TEST(DaqTest, ClipsToEachChannelLimitAndCounts) {
  RecordingDaq d;
  ASSERT_TRUE(d.Configure(Two()).ok());
  double i[2] = {5000, -600};
  const auto r = d.WriteOutputs(i);
  EXPECT_EQ(r.clipped, 2u);
  EXPECT_DOUBLE_EQ(i[0], 1000);
  EXPECT_DOUBLE_EQ(i[1], -500);
  EXPECT_DOUBLE_EQ(d.out_volts[0], 2.5);
  EXPECT_EQ(d.clipped_total(), 2u);
  EXPECT_EQ(d.clipped_on(1), 1u);
  double nan_out[2] = {NAN, 1};
  d.WriteOutputs(nan_out);
  EXPECT_DOUBLE_EQ(d.out_volts[0], 0.0) << "NaN never reaches the amplifier";
}

TEST(DaqTest, BadConfigNamesTheField) {
  RecordingDaq d;
  DaqConfig c = Two();
  c.channels[1].current_limit_pa = 0;
  auto s = d.Configure(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("channels[1].current_limit_pa"),
            absl::string_view::npos)
      << s;
  c = Two();
  c.channels[1].name = "a";
  EXPECT_NE(d.Configure(c).message().find("channels[1].name"),
            absl::string_view::npos);
}

}  // namespace
}  // namespace dynclamp::rt
