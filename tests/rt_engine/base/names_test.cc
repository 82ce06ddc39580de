// Names and signal patterns: what becomes part of a signal or parameter
// path, and what a pattern (published_signals, a protocol's record) names.
#include "rt_engine/base/names.h"

#include <string>

#include "gtest/gtest.h"

namespace dynclamp::rt {
namespace {

TEST(NamesTest, NamesAreIdentifiersOfAtMost64Characters) {
  EXPECT_TRUE(IsValidName("cell0"));
  EXPECT_TRUE(IsValidName("_gaba2"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("2cells"));
  EXPECT_FALSE(IsValidName("na.m"));
  EXPECT_TRUE(IsValidName(std::string(64, 'a')));
  EXPECT_FALSE(IsValidName(std::string(65, 'a')));
  EXPECT_EQ(CheckName("x y", "conductances[0]", "name").message().substr(0, 21),
            "conductances[0].name:");
}

TEST(NamesTest, APatternIsANameOrAPrefixEndingInAStar) {
  EXPECT_TRUE(MatchesSignalPattern("na.m", "na.m"));
  EXPECT_FALSE(MatchesSignalPattern("na.m", "na.m2"));
  EXPECT_FALSE(MatchesSignalPattern("na", "na.m"));
  EXPECT_TRUE(MatchesSignalPattern("na.*", "na.m"));
  EXPECT_TRUE(MatchesSignalPattern("na.*", "na.h"));
  EXPECT_FALSE(MatchesSignalPattern("na.*", "nax.m"));
  EXPECT_TRUE(MatchesSignalPattern("net_*", "net_17.v_mv"));
  EXPECT_TRUE(MatchesSignalPattern("*", "anything"));
  EXPECT_FALSE(MatchesSignalPattern("", "a"));
  EXPECT_TRUE(MatchesSignalPattern("a*b", "a*b")) << "only a trailing star";
  EXPECT_FALSE(MatchesSignalPattern("a*b", "axb"));
}

}  // namespace
}  // namespace dynclamp::rt
