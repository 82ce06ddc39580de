// The comedi backend against a fake board: discovery, conversions (checked
// against comedilib's own conversion functions), calibration choice,
// clipping, bad configurations, faults, and outputs at 0 V on every exit.
#include "rt_engine/daq/comedi/comedi_daq.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rt_engine/loop/clamp_engine.h"
#include "tests/rt_engine/daq/comedi/fake_comedi_device.h"

namespace dynclamp::rt {
namespace {

using testing::FakeBoard;
using testing::FakeComediDevice;

DaqConfig TwoCells() {
  DaqConfig d;
  for (int i = 0; i < 2; ++i) {
    DaqChannelConfig c;
    c.name = "cell" + std::to_string(i);
    c.input_gain_mv_per_v = 100;   // 10 mV/mV: 100 mV of Vm per V
    c.output_gain_pa_per_v = 400;  // e.g. a MultiClamp at 400 pA/V
    c.current_limit_pa = 2000;
    d.channels.push_back(c);
  }
  return d;
}

ComediConfig TwoChannels() {
  ComediConfig c;
  c.channels.resize(2);
  c.channels[1].input.channel = 1;
  c.channels[1].output.channel = 1;
  return c;
}

std::unique_ptr<ComediDaq> Make(std::shared_ptr<FakeBoard> board,
                                ComediConfig config = TwoChannels()) {
  return std::make_unique<ComediDaq>(std::move(config),
                                     std::make_unique<FakeComediDevice>(board));
}

// The raw code of 0 V on a +-10 V, 16-bit range: round(32767.5).
constexpr uint32_t kZeroCode = 32768;

TEST(ComediDaqTest, FindsSubdevicesAndConvertsThroughTheRange) {
  auto board = FakeBoard::Typical();
  auto daq = Make(board);
  ASSERT_TRUE(daq->Configure(TwoCells()).ok());
  EXPECT_EQ(daq->input_calibration(0), ComediDaq::Calibration::kRange);
  // Outputs at 0 V from the moment the device is configured.
  ASSERT_FALSE(board->writes.empty());
  EXPECT_EQ(board->writes.back(),
            (std::vector<uint32_t>{kZeroCode, kZeroCode}));
  // Reads: raw 49152 on +-10 V is -10 + 20 * 49152 / 65535 V.
  board->raw[{0, 0}] = 49152;
  board->raw[{0, 1}] = 0;
  std::vector<double> v(2);
  ASSERT_EQ(daq->ReadInputs(v), DaqError::kOk);
  EXPECT_NEAR(v[0], (-10 + 20.0 * 49152 / 65535) * 100, 1e-9);
  EXPECT_NEAR(v[1], -10 * 100.0, 1e-9);
  // Writes: 100 pA at 400 pA/V is 0.25 V.
  std::vector<double> i = {100, -4000};  // the second is clipped to -2000
  const DaqWriteResult w = daq->WriteOutputs(i);
  ASSERT_EQ(w.error, DaqError::kOk);
  EXPECT_EQ(w.clipped, 1u);
  EXPECT_EQ(board->raw[std::make_pair(1, 0)],
            static_cast<uint32_t>(std::lround((0.25 + 10) * 65535 / 20)));
  EXPECT_EQ(board->raw[std::make_pair(1, 1)],
            static_cast<uint32_t>(std::lround((-5.0 + 10) * 65535 / 20)));
  EXPECT_NE(daq->Describe().find("range (uncalibrated)"), std::string::npos);
}

TEST(ComediDaqTest, ConversionsMatchComedilibForTheSamePolynomial) {
  ConversionPolynomial to_v;  // a soft calibration of order 3
  to_v.order = 3;
  to_v.origin = 32767.5;
  to_v.c[0] = 0.0123;
  to_v.c[1] = 3.0518e-4;
  to_v.c[2] = 1.2e-12;
  to_v.c[3] = -4e-17;
  ConversionPolynomial from_v;
  from_v.order = 2;
  from_v.origin = 0.01;
  from_v.c[0] = 32727.1;
  from_v.c[1] = 3276.9;
  from_v.c[2] = 0.31;
  const comedi_polynomial_t to_c = to_v.ToComedi();
  const comedi_polynomial_t from_c = from_v.ToComedi();
  for (uint32_t raw : {0u, 1u, 1000u, 32767u, 32768u, 50000u, 65535u})
    EXPECT_NEAR(to_v.Eval(raw), comedi_to_physical(raw, &to_c), 1e-12);

  // The backend's output path against comedi_from_physical.
  auto board = FakeBoard::Typical();
  board->subdevices[1].flags = SDF_SOFT_CALIBRATED;
  board->subdevices[0].flags = SDF_SOFT_CALIBRATED;
  board->soft_file = board->default_calibration;
  for (int ch = 0; ch < 2; ++ch) {
    board->soft[{0, ch, 0, true}] = to_v;
    board->soft[{1, ch, 0, false}] = from_v;
  }
  auto daq = Make(board);
  ASSERT_TRUE(daq->Configure(TwoCells()).ok());
  EXPECT_EQ(daq->input_calibration(0), ComediDaq::Calibration::kSoft);
  EXPECT_EQ(daq->output_calibration(1), ComediDaq::Calibration::kSoft);
  for (double volts : {-4.9, -1.0, 0.0, 0.001, 2.5, 4.99}) {  // within 2 nA
    std::vector<double> i = {volts * 400, 0};
    ASSERT_EQ(daq->WriteOutputs(i).error, DaqError::kOk);
    EXPECT_EQ(board->raw[std::make_pair(1, 0)],
              comedi_from_physical(volts, &from_c))
        << volts << " V";
  }
  board->raw[{0, 0}] = 40000;
  std::vector<double> v(2);
  ASSERT_EQ(daq->ReadInputs(v), DaqError::kOk);
  EXPECT_NEAR(v[0], comedi_to_physical(40000, &to_c) * 100, 1e-9);
}

TEST(ComediDaqTest, CalibrationIsChosenByTheBoardAndFallsBackToTheRange) {
  // Hard-calibrated board with a converter: used.
  auto board = FakeBoard::Typical();
  ConversionPolynomial hard;
  hard.order = 1;
  hard.c[0] = -10.01;
  hard.c[1] = 20.0 / 65535;
  board->hard[{0, 0, 0, true}] = hard;
  auto daq = Make(board);
  ASSERT_TRUE(daq->Configure(TwoCells()).ok());
  EXPECT_EQ(daq->input_calibration(0), ComediDaq::Calibration::kHard);
  EXPECT_EQ(daq->input_calibration(1), ComediDaq::Calibration::kRange);
  // Soft-calibrated board whose file is missing: the range, said so.
  auto soft = FakeBoard::Typical();
  soft->subdevices[0].flags = SDF_SOFT_CALIBRATED;
  auto daq2 = Make(soft);
  ASSERT_TRUE(daq2->Configure(TwoCells()).ok());
  EXPECT_EQ(daq2->input_calibration(0), ComediDaq::Calibration::kRange);
  // A configured calibration file is the one read.
  soft->soft_file = "/etc/rig/board.cal";
  soft->soft[{0, 0, 0, true}] = hard;
  ComediConfig c = TwoChannels();
  c.calibration_file = "/etc/rig/board.cal";
  auto daq3 = Make(soft, c);
  ASSERT_TRUE(daq3->Configure(TwoCells()).ok());
  EXPECT_EQ(daq3->input_calibration(0), ComediDaq::Calibration::kSoft);
}

TEST(ComediDaqTest, BadConfigurationsAreRefusedWithTheFieldAndReason) {
  struct Case {
    const char* what;
    std::function<void(FakeBoard&, ComediConfig&, DaqConfig&)> edit;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"missing device",
       [](FakeBoard& b, ComediConfig& c, DaqConfig&) {
         b.missing_path = c.device = "/dev/comedi7";
       },
       "device '/dev/comedi7'"},
      {"channel beyond the board",
       [](FakeBoard&, ComediConfig& c, DaqConfig&) {
         c.channels[1].input.channel = 17;
       },
       "channels[1].input.channel: 17 is beyond the board's 16 analog inputs"},
      {"output channel beyond the board",
       [](FakeBoard&, ComediConfig& c, DaqConfig&) {
         c.channels[0].output.channel = 2;
       },
       "channels[0].output.channel: 2 is beyond"},
      {"range the board lacks",
       [](FakeBoard&, ComediConfig& c, DaqConfig&) {
         c.channels[0].input.range = 4;
       },
       "channels[0].input.range: 4, but the board has 2 ranges"},
      {"not an input subdevice",
       [](FakeBoard&, ComediConfig& c, DaqConfig&) {
         c.channels[0].input.subdevice = 2;
       },
       "channels[0].input.subdevice: 2 is not an analog input subdevice"},
      {"no analog output",
       [](FakeBoard& b, ComediConfig&, DaqConfig&) {
         b.subdevices[1].type = COMEDI_SUBD_DO;
       },
       "channels[0].output.subdevice: the board 'fake-6xxx' has no analog "
       "output"},
      {"one output for two cells",
       [](FakeBoard&, ComediConfig& c, DaqConfig&) {
         c.channels[1].output.channel = 0;
       },
       "channels[1].output.channel: 0 is already the output of channels[0]"},
      {"gain of zero",
       [](FakeBoard&, ComediConfig&, DaqConfig& d) {
         d.channels[1].output_gain_pa_per_v = 0;
       },
       "channels[1].output_gain_pa_per_v: must be finite and > 0"},
      {"channels missing",
       [](FakeBoard&, ComediConfig& c, DaqConfig&) { c.channels.pop_back(); },
       "comedi.channels: 1 given for 2 cells"},
  };
  for (const Case& k : cases) {
    auto board = FakeBoard::Typical();
    ComediConfig c = TwoChannels();
    DaqConfig d = TwoCells();
    k.edit(*board, c, d);
    auto daq = Make(board, c);
    const absl::Status s = daq->Configure(d);
    ASSERT_FALSE(s.ok()) << k.what;
    EXPECT_NE(s.message().find(k.expected), std::string::npos)
        << k.what << ": " << s;
  }
}

// The engine over the comedi backend: each fault ends in FAULT, outputs at
// 0 V, and a clear error; and every way out leaves 0 V on the outputs.
class ComediEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    board_ = FakeBoard::Typical();
    daq_ = Make(board_);
    ASSERT_TRUE(daq_->Configure(TwoCells()).ok());
    ClampEngineConfig ec;
    ec.period_ns = 50'000;
    ec.ring_capacity_frames = 64;
    engine_ = *ClampEngine::Create(*daq_, ec);
    ModelSetSpec spec;  // a 10 nS conductance pulling towards +50 mV
    ConductanceSpec g;
    g.name = "g";
    ConstantConductance::Params p;
    p.g_ns = 10;
    p.e_rev_mv = 50;
    g.model = p;
    spec.conductances = {g};
    ASSERT_TRUE(engine_->LoadModelSet(spec).ok());
    board_->raw[{0, 0}] = 32768 - 2130;  // about -65 mV
  }
  void Cycles(int n) {
    for (int k = 0; k < n; ++k) {
      t_ += 50'000;
      engine_->RunCycle(t_, t_, 50'000);
    }
  }
  uint32_t Out(int ch) { return board_->raw[std::make_pair(1, ch)]; }

  std::shared_ptr<FakeBoard> board_;
  std::unique_ptr<ComediDaq> daq_;
  std::unique_ptr<ClampEngine> engine_;
  int64_t t_ = 0;
};

TEST_F(ComediEngineTest, InjectsWhileRunning) {
  Cycles(5);
  EXPECT_EQ(engine_->state(), EngineState::kRunning);
  EXPECT_GT(Out(0), kZeroCode + 100);  // about +1150 pA: positive volts
}

TEST_F(ComediEngineTest, AReadThatFailsEndsInFaultWithOutputsAtZero) {
  Cycles(5);
  board_->fail_reads = 1;
  Cycles(3);
  EXPECT_EQ(engine_->state(), EngineState::kFault);
  EXPECT_EQ(engine_->fault_reason(), FaultReason::kDaqRead);
  EXPECT_EQ(Out(0), kZeroCode);
  EXPECT_EQ(Out(1), kZeroCode);
  EXPECT_EQ(daq_->last_error(), EIO);
}

TEST_F(ComediEngineTest, AWriteThatFailsEndsInFaultWithOutputsAtZero) {
  Cycles(5);
  board_->fail_writes = 1;
  Cycles(3);
  EXPECT_EQ(engine_->state(), EngineState::kFault);
  EXPECT_EQ(engine_->fault_reason(), FaultReason::kDaqWrite);
  EXPECT_EQ(Out(0), kZeroCode);
}

TEST_F(ComediEngineTest, ADeviceThatDisappearsEndsInFault) {
  Cycles(5);
  const uint32_t before = Out(0);
  board_->gone = true;
  Cycles(3);
  EXPECT_EQ(engine_->state(), EngineState::kFault);
  EXPECT_EQ(daq_->last_error(), ENODEV);
  // Nothing reaches a vanished device; when it comes back, the first
  // thing written is 0 V.
  EXPECT_EQ(Out(0), before);
  board_->gone = false;
  Cycles(1);
  EXPECT_EQ(Out(0), kZeroCode);
}

TEST_F(ComediEngineTest, EveryExitLeavesTheOutputsAtZero) {
  Cycles(5);
  ASSERT_NE(Out(0), kZeroCode);
  engine_->ZeroOutputs();  // the loop stops
  EXPECT_EQ(Out(0), kZeroCode);
  Cycles(5);
  ASSERT_NE(Out(0), kZeroCode);
  engine_.reset();
  daq_.reset();  // the daemon exits
  EXPECT_EQ(Out(0), kZeroCode);
  EXPECT_EQ(Out(1), kZeroCode);
  EXPECT_TRUE(board_->closed);
  EXPECT_TRUE(board_->written_before_close);
}

}  // namespace
}  // namespace dynclamp::rt
