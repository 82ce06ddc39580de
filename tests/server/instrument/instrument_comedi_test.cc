// The daemon's instrument on a comedi board (a fake one): runs drive the
// board; a failing board ends the run in FAULT with the reason; and every
// way out (stop, shutdown) leaves the outputs at 0 V.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "server/instrument/instrument.h"
#include "tests/server/instrument/one_cell_instrument.h"
#include "tests/rt_engine/daq/comedi/fake_comedi_device.h"

namespace dynclamp::server {
namespace {

using rt::testing::FakeBoard;
using rt::testing::FakeComediDevice;

constexpr uint32_t kZeroCode = 32768;  // 0 V on +-10 V, 16 bits

class InstrumentComediTest : public ::testing::Test {
 protected:
  void SetUp() override {
    board_ = FakeBoard::Typical();
    board_->raw[{0, 0}] = kZeroCode - 2130;  // about -65 mV at 100 mV/V
    // The comedi backend on a fake board, registered as a user's would be.
    backends_.Add(ComediBackend(
        [b = board_] { return std::make_unique<FakeComediDevice>(b); }));
    InstrumentOptions o = testing::OneCellInstrument();
    o.backend = "comedi";
    o.backends = &backends_;
    o.rig_file.set_backend("comedi");
    o.rig_file.set_device("/dev/comedi0");
    o.rig_file.add_channels();
    o.fanout.chunk_duration = absl::Milliseconds(1);
    auto inst = Instrument::Create(o);
    ASSERT_TRUE(inst.ok()) << inst.status();
    inst_ = *std::move(inst);
    v1::Spec spec;
    auto* c = spec.add_conductances();
    c->set_name("g");
    c->set_cell("cell0");
    c->mutable_constant()->set_g_ns(10);
    c->mutable_constant()->set_e_rev_mv(50);
    ASSERT_TRUE(inst_->LoadSpec(spec).ok());
  }
  uint32_t Out() { return board_->raw[std::make_pair(1, 0)]; }
  void WaitFor(const std::function<bool()>& done) {
    for (int k = 0; k < 400 && !done(); ++k)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }

  std::shared_ptr<FakeBoard> board_;
  DaqBackends backends_;
  std::unique_ptr<Instrument> inst_;
};

TEST_F(InstrumentComediTest, RunsDriveTheBoardAndStopsLeaveZero) {
  EXPECT_EQ(inst_->GetRig().backend(), "comedi");
  EXPECT_EQ(Out(), kZeroCode);  // 0 V as soon as the board is configured
  ASSERT_TRUE(inst_->StartRun(0).ok());
  WaitFor([&] { return Out() > kZeroCode + 100; });
  EXPECT_GT(Out(), kZeroCode + 100);  // ~1150 pA into the cell
  ASSERT_TRUE(inst_->StopRun().ok());
  EXPECT_EQ(Out(), kZeroCode);
  ASSERT_TRUE(inst_->StartRun(0).ok());
  WaitFor([&] { return Out() > kZeroCode + 100; });
  inst_->Shutdown();
  EXPECT_EQ(Out(), kZeroCode);
  inst_.reset();
  EXPECT_TRUE(board_->closed);
  EXPECT_EQ(Out(), kZeroCode);
}

TEST_F(InstrumentComediTest, ABoardThatFailsEndsInFaultWithTheReason) {
  ASSERT_TRUE(inst_->StartRun(0).ok());
  WaitFor([&] { return Out() > kZeroCode + 100; });
  board_->gone = true;
  WaitFor([&] { return inst_->GetRun().state() == v1::FAULT; });
  const v1::Run run = inst_->GetRun();
  EXPECT_EQ(run.state(), v1::FAULT);
  EXPECT_NE(run.fault_reason().find("DAQ device lost"), std::string::npos)
      << run.fault_reason();
  EXPECT_NE(run.fault_reason().find(std::strerror(ENODEV)), std::string::npos)
      << run.fault_reason();
  board_->gone = false;  // the board comes back: 0 V first, in FAULT
  WaitFor([&] { return Out() == kZeroCode; });
  EXPECT_EQ(Out(), kZeroCode);
}

}  // namespace
}  // namespace dynclamp::server
