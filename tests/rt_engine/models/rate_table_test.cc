#include "rt_engine/models/rate_table.h"

#include <cmath>

#include "gtest/gtest.h"
#include "rt_engine/models/channel_presets.h"

namespace dynclamp::rt {
namespace {

GateSpec HhM() {
  auto p = std::get<HhChannel::Params>(*MakePreset("hh_na"));
  return p.gates[0];
}

TEST(RateTableTest, InterpolationIsCloseToDirectEvaluation) {
  auto ev = GateEvaluator::Create(HhM(), 6.3, "m");
  ASSERT_TRUE(ev.ok());
  const double dt = 0.05;
  auto table = RateTable::Build(*ev, TableRange{}, Integrator::kExpEuler, dt);
  ASSERT_TRUE(table.ok()) << table.status();
  for (double v = -99.97; v < 50; v += 0.731) {
    const GateRates r = *ev->Evaluate(v);
    const RateTable::Entry e = (*table)->Lookup(v);
    EXPECT_NEAR(e.inf, r.inf, 1e-5) << v;
    EXPECT_NEAR(e.coef, std::exp(-dt / r.tau_ms), 1e-5) << v;
  }
}

TEST(RateTableTest, OutOfRangeVoltageClampsToEdges) {
  auto ev = GateEvaluator::Create(HhM(), 6.3, "m");
  auto table = *RateTable::Build(*ev, TableRange{}, Integrator::kRk4, 0.05);
  EXPECT_DOUBLE_EQ(table->Lookup(-1000).inf, table->Lookup(-150).inf);
  EXPECT_DOUBLE_EQ(table->Lookup(1000).inf,
                   table->Lookup(table->v_max_mv()).inf);
  EXPECT_TRUE(std::isfinite(table->Lookup(NAN).inf)) << "NaN V must not index";
}

TEST(RateTableTest, RangeMustCoverPhysiology) {
  EXPECT_FALSE(ValidateTableRange({-80, 100, 0.1}, "t").ok());
  EXPECT_FALSE(ValidateTableRange({-150, 40, 0.1}, "t").ok());
  EXPECT_FALSE(ValidateTableRange({-150, 100, 0}, "t").ok());
  EXPECT_TRUE(ValidateTableRange({-100, 50, 0.1}, "t").ok());
  auto s = ValidateTableRange({-80, 100, 0.1}, "conductances[0] (na).table");
  EXPECT_NE(s.message().find("conductances[0] (na).table.v_min_mv"),
            absl::string_view::npos);
}

TEST(RateTableCacheTest, IdenticalGatesShareOneTable) {
  RateTableCache cache;
  auto a = cache.GetOrBuild(HhM(), 6.3, {}, Integrator::kExpEuler, 0.05, "a");
  auto b = cache.GetOrBuild(HhM(), 6.3, {}, Integrator::kExpEuler, 0.05, "b");
  auto c = cache.GetOrBuild(HhM(), 16.3, {}, Integrator::kExpEuler, 0.05, "c");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a->get(), b->get());
  EXPECT_NE(a->get(), c->get()) << "another temperature is another table";
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace dynclamp::rt
