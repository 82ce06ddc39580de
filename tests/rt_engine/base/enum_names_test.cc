// EnumNames: each value's name, each name's value, and "?" for a value
// outside the enum; the engine's tables round-trip.
#include "rt_engine/base/enum_names.h"

#include <gtest/gtest.h>

#include "rt_engine/daq/daq.h"
#include "rt_engine/daq/sim/sim_cell.h"
#include "rt_engine/loop/clamp_engine.h"
#include "rt_engine/loop/wake.h"
#include "rt_engine/models/gate_kinetics.h"

namespace dynclamp::rt {
namespace {

enum class Colour : uint8_t { kRed = 1, kGreen, kBlue };
constexpr EnumNames<Colour, Colour::kRed, Colour::kBlue> kColours("red",
                                                                  "green",
                                                                  "blue");

TEST(EnumNamesTest, NamesAndValuesBothWaysFromTheFirstEnumerator) {
  static_assert(kColours.kCount == 3);
  static_assert(kColours.Name(Colour::kGreen)[0] == 'g', "usable constexpr");
  EXPECT_STREQ(kColours.Name(Colour::kRed), "red");
  EXPECT_STREQ(kColours.Name(Colour::kBlue), "blue");
  EXPECT_EQ(kColours.Find("green"), Colour::kGreen);
  EXPECT_EQ(kColours.Find("Green"), std::nullopt) << "exact names";
  EXPECT_EQ(kColours.Find(""), std::nullopt);
  EXPECT_STREQ(kColours.Name(static_cast<Colour>(0)), "?");
  EXPECT_STREQ(kColours.Name(static_cast<Colour>(4)), "?");
}

template <typename Table>
void ExpectRoundTrip(const Table& table) {
  for (std::size_t i = 0; i < Table::kCount; ++i) {
    const auto value = static_cast<typename Table::Value>(
        static_cast<std::size_t>(Table::kFirstValue) + i);
    const char* name = table.Name(value);
    EXPECT_NE(std::string(name), "?");
    EXPECT_EQ(table.Find(name), value) << name;
  }
}

TEST(EnumNamesTest, TheEnginesTablesRoundTrip) {
  ExpectRoundTrip(kDaqErrorNames);
  ExpectRoundTrip(kFaultReasonNames);
  ExpectRoundTrip(kIntegratorNames);
  ExpectRoundTrip(kRateFormNames);
  ExpectRoundTrip(kWakeStrategyNames);
  ExpectRoundTrip(SimCellConfig::kModelNames);
  EXPECT_STREQ(FaultReasonName(FaultReason::kOverruns),
               "too many consecutive overruns");
  EXPECT_EQ(IntegratorName(Integrator::kRk4), "rk4");
}

}  // namespace
}  // namespace dynclamp::rt
