// Against a real board, when there is one: /dev/comedi0 (or
// $DYNCLAMP_COMEDI_DEVICE) with analog output 0 wired straight to analog
// input 0 (a BNC loopback cable instead of the amplifier; see
// docs/rig-setup.md). Skipped, and reported as skipped, otherwise.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "rt_engine/daq/comedi/comedi_daq.h"

namespace dynclamp::rt {
namespace {

std::string Device() {
  const char* d = std::getenv("DYNCLAMP_COMEDI_DEVICE");
  return d ? d : "/dev/comedi0";
}

TEST(ComediHardwareTest, LoopbackReadsBackWhatIsWritten) {
  if (!std::filesystem::exists(Device()))
    GTEST_SKIP() << "no board at " << Device()
                 << " (wire AO0 to AI0 and set DYNCLAMP_COMEDI_DEVICE to run)";
  ComediConfig config;
  config.device = Device();
  config.channels.resize(1);
  ComediDaq daq(config, MakeComediLibDevice());
  DaqConfig d;
  DaqChannelConfig ch;
  ch.name = "loopback";
  ch.input_gain_mv_per_v = 1000;   // mV per V: read volts x 1000
  ch.output_gain_pa_per_v = 1000;  // pA per V: write volts x 1000
  ch.current_limit_pa = 5000;      // +-5 V
  d.channels = {ch};
  ASSERT_TRUE(daq.Configure(d).ok());
  std::vector<double> v(1);
  for (double volts : {-4.0, -1.0, 0.0, 1.0, 4.0}) {
    std::vector<double> i = {volts * 1000};
    ASSERT_EQ(daq.WriteOutputs(i).error, DaqError::kOk);
    for (int k = 0; k < 10; ++k) ASSERT_EQ(daq.ReadInputs(v), DaqError::kOk);
    EXPECT_NEAR(v[0] / 1000, volts, 0.01) << volts << " V out";
  }
  ASSERT_EQ(daq.WriteZero(), DaqError::kOk);
}

}  // namespace
}  // namespace dynclamp::rt
