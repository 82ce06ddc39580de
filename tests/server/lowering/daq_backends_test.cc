// DAQ backends by name: the built-in ones, a bad name refused with the
// names there are, and a backend added by a test used by rig files and the
// Instrument as the built-in ones are, with no branch on its name.
#include "server/lowering/daq_backends.h"

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/instrument/instrument.h"
#include "server/lowering/rig_file.h"
#include "tests/server/instrument/one_cell_instrument.h"

namespace dynclamp::server {
namespace {

using ::testing::HasSubstr;

// A board that holds every input at -65 mV and counts what it writes.
class RestingBoard final : public rt::Daq {
 public:
  std::string Describe() const override { return "resting board"; }
  std::string LastErrorText() const override { return "cable unplugged"; }
  int writes = 0;

 protected:
  absl::Status DoConfigure(const rt::DaqConfig&) override {
    return absl::OkStatus();
  }
  rt::DaqError DoReadVolts(std::span<double> volts) noexcept override {
    for (double& v : volts) v = -0.65;  // at 100 mV/V
    return fail_ ? rt::DaqError::kReadFailed : rt::DaqError::kOk;
  }
  rt::DaqError DoWriteVolts(std::span<double>) noexcept override {
    fail_ = ++writes >= 200;
    return rt::DaqError::kOk;
  }
  bool fail_ = false;
};

DaqBackend RestingBackend() {
  DaqBackend b;
  b.name = "resting";
  b.check = [](const v1::RigFile& file) {
    return file.device() == "bench"
               ? absl::OkStatus()
               : absl::InvalidArgumentError("device: only 'bench'");
  };
  b.make =
      [](const v1::RigFile&,
         const rt::SimRigConfig&) -> absl::StatusOr<std::unique_ptr<rt::Daq>> {
    return std::make_unique<RestingBoard>();
  };
  return b;
}

v1::RigFile OneChannel(const std::string& backend, const std::string& device) {
  v1::RigFile file;
  file.set_backend(backend);
  file.set_device(device);
  v1::ChannelWiring* ch = file.add_channels();
  ch->set_input_gain_mv_per_v(100);
  ch->set_output_gain_pa_per_v(400);
  ch->set_current_limit_pa(2000);
  return file;
}

TEST(DaqBackendsTest, BuiltinAreSimAndComedi) {
  const DaqBackends& builtin = DaqBackends::Builtin();
  ASSERT_NE(builtin.Find("sim"), nullptr);
  EXPECT_TRUE(builtin.Find("sim")->simulated);
  ASSERT_NE(builtin.Find("comedi"), nullptr);
  EXPECT_FALSE(builtin.Find("comedi")->simulated);
  EXPECT_EQ(builtin.Find("resting"), nullptr);
  auto bad = builtin.Get("daq", "backend");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "backend: 'sim' or 'comedi', got 'daq'");
}

TEST(DaqBackendsTest, ARigFileIsCheckedByItsBackend) {
  EXPECT_THAT(LowerRigFile(OneChannel("comedi", "")).status().message(),
              HasSubstr("device: name the comedi device"));
  v1::RigFile sim = OneChannel("sim", "");
  sim.add_sim_cells("hh");
  sim.add_sim_cells("ca1");
  EXPECT_THAT(LowerRigFile(sim).status().message(),
              HasSubstr("sim_cells: 2 given for 1 channels"));
  sim.mutable_sim_cells()->RemoveLast();
  auto lowered = LowerRigFile(sim);
  ASSERT_TRUE(lowered.ok()) << lowered.status();
  EXPECT_EQ(lowered->sim_cells, std::vector<std::string>{"hh"});

  DaqBackends backends;
  backends.Add(RestingBackend());
  EXPECT_THAT(LowerRigFile(OneChannel("resting", "lab")).status().message(),
              HasSubstr("backend: 'sim' or 'comedi', got 'resting'"))
      << "not a built-in";
  EXPECT_THAT(
      LowerRigFile(OneChannel("resting", "lab"), backends).status().message(),
      HasSubstr("device: only 'bench'"));
  auto rig = LowerRigFile(OneChannel("resting", "bench"), backends);
  ASSERT_TRUE(rig.ok()) << rig.status();
  EXPECT_EQ(rig->backend, "resting");
  EXPECT_TRUE(rig->sim_cells.empty());
}

TEST(DaqBackendsTest, TheInstrumentRunsOnAnAddedBackendAndReportsItsErrors) {
  DaqBackends backends;
  backends.Add(RestingBackend());
  InstrumentOptions o = testing::OneCellInstrument();
  o.backend = "resting";
  o.backends = &backends;
  o.rig_file = OneChannel("resting", "bench");
  auto inst = Instrument::Create(o);
  ASSERT_TRUE(inst.ok()) << inst.status();
  EXPECT_EQ((*inst)->GetRig().backend(), "resting");
  EXPECT_EQ((*inst)->GetRig().description(), "resting board");
  EXPECT_EQ((*inst)->GetHealth().backend, "resting");
  ASSERT_TRUE((*inst)->StartRun(0).ok());
  for (int k = 0; k < 400 && (*inst)->GetRun().state() != v1::FAULT; ++k)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const v1::Run run = (*inst)->GetRun();
  ASSERT_EQ(run.state(), v1::FAULT);
  EXPECT_THAT(run.fault_reason(), HasSubstr("cable unplugged"));

  o.backend = "daq";
  EXPECT_EQ(Instrument::Create(o).status().message(),
            "backend: 'resting', got 'daq'");
}

}  // namespace
}  // namespace dynclamp::server
