#include "server/instrument/rig_check.h"

#include <gtest/gtest.h>

#include "rt_engine/daq/comedi/comedi_daq.h"
#include "tests/rt_engine/daq/comedi/fake_comedi_device.h"

namespace dynclamp::server {
namespace {

TEST(RigCheckTest, TimesTheListsAndFitsALoopbackWire) {
  auto board = rt::testing::FakeBoard::Typical();
  board->loopback = true;
  rt::ComediConfig config;
  config.channels.resize(1);
  rt::ComediDaq daq(config,
                    std::make_unique<rt::testing::FakeComediDevice>(board));
  rt::DaqConfig d;
  rt::DaqChannelConfig ch;
  ch.name = "cell0";
  ch.input_gain_mv_per_v = 100;
  ch.output_gain_pa_per_v = 400;
  ch.current_limit_pa = 2000;
  d.channels = {ch};
  ASSERT_TRUE(daq.Configure(d).ok());
  const auto r = CheckRig(daq, 1000, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->cycles, 1000);
  EXPECT_GT(r->read_max_us, 0);
  EXPECT_GE(r->read_p99_us, r->read_p50_us);
  ASSERT_TRUE(r->loopback);
  EXPECT_NEAR(r->gain, 1.0, 1e-3);
  EXPECT_NEAR(r->offset_mv, 0.0, 0.5);  // a 16-bit code on +-10 V: 0.3 mV
  EXPECT_LT(r->worst_residual_mv, 0.5);
  EXPECT_EQ(board->raw[std::make_pair(1, 0)], 32768u);  // left at 0 V
  EXPECT_NE(r->ToString().find("loopback: gain"), std::string::npos);
  // A wire with a gain error and an offset is measured as such.
  board->subdevices[0].ranges[0] = {-10.2, 9.8, UNIT_volt};
  rt::ComediDaq skewed(config,
                       std::make_unique<rt::testing::FakeComediDevice>(board));
  ASSERT_TRUE(skewed.Configure(d).ok());
  const auto s = CheckRig(skewed, 10, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_NEAR(s->offset_mv, -200, 1);       // reads 0.2 V low
  EXPECT_FALSE(CheckRig(daq, 10, 3).ok());  // no channel 3
}

}  // namespace
}  // namespace dynclamp::server
