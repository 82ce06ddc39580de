#include "rt_engine/daq/daq.h"

#include <cmath>

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
  double quantum_v = 0;  // > 0: outputs come out in steps of this
  VoltRange range;

 protected:
  absl::Status DoConfigure(const DaqConfig&) override {
    return absl::OkStatus();
  }
  DaqError DoReadVolts(std::span<double> v) noexcept override {
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = in_volts[i];
    return DaqError::kOk;
  }
  VoltRange OutputRange(std::size_t) const override { return range; }
  DaqError DoWriteVolts(std::span<double> v) noexcept override {
    if (quantum_v > 0)
      for (double& x : v) x = std::round(x / quantum_v) * quantum_v;
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

TEST(DaqTest, ALimitBeyondTheConvertersReachIsRefusedWithBothNumbers) {
  RecordingDaq d;
  DaqConfig c = Two();
  c.channels[0].current_limit_pa = 200000;  // 400 pA/V x 10 V = 4000 pA
  const absl::Status s = d.Configure(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("channels[0].current_limit_pa: 200000 pA is "
                             "beyond what the output can deliver"),
            std::string::npos)
      << s;
  EXPECT_NE(s.message().find("at most 4000 pA"), std::string::npos) << s;
  EXPECT_EQ(d.writes, 0);                 // nothing configured, nothing written
  c.channels[0].current_limit_pa = 4000;  // exactly the reach: fine
  EXPECT_TRUE(d.Configure(c).ok());
  // A converter that cannot go negative cannot clamp at all.
  RecordingDaq unipolar;
  unipolar.range = {0, 10};
  EXPECT_FALSE(unipolar.Configure(Two()).ok());
}

TEST(DaqTest, TheCurrentLeftIsTheOneTheConverterDelivered) {
  RecordingDaq d;
  d.quantum_v = 0.01;  // 4 pA steps on channel a, 20 pA on b
  ASSERT_TRUE(d.Configure(Two()).ok());
  double i[2] = {101.0, 5000.0};
  const DaqWriteResult r = d.WriteOutputs(i);
  EXPECT_EQ(r.clipped, 1u);
  EXPECT_DOUBLE_EQ(i[0], 100.0);  // 0.2525 V came out as 0.25 V
  EXPECT_DOUBLE_EQ(i[1], 500.0);  // clipped to b's limit
  EXPECT_EQ(d.clipped_on(1), 1u);
}

}  // namespace
}  // namespace dynclamp::rt
