// The Instrument's own decisions about the rig it builds.
#include "server/instrument/instrument.h"

#include <gtest/gtest.h>

#include <tuple>

#include "tests/server/instrument/one_cell_instrument.h"

namespace dynclamp::server {
namespace {

// Overruns fault the clamp by the rig's default unless a number is given:
// never on the simulated rig's nominal clock (an overrun harms no
// simulated cell), kDefaultMaxConsecutiveOverruns in a row on the wall
// clock, as on a board.
TEST(InstrumentTest, OverrunsFaultByTheRigsDefaultUnlessGiven) {
  using Clock = rt::SimRigConfig::Clock;
  for (const auto& [clock, given, expected] :
       {std::tuple{Clock::kNominal, -1, 0},
        std::tuple{Clock::kWallClock, -1, kDefaultMaxConsecutiveOverruns},
        std::tuple{Clock::kNominal, 7, 7},
        std::tuple{Clock::kWallClock, 0, 0}}) {
    InstrumentOptions o = testing::OneCellInstrument();
    o.sim.clock = clock;
    o.max_consecutive_overruns = given;
    auto inst = Instrument::Create(o);
    ASSERT_TRUE(inst.ok()) << inst.status();
    EXPECT_EQ((*inst)->engine().config().max_consecutive_overruns, expected)
        << "given " << given;
  }
}

}  // namespace
}  // namespace dynclamp::server
