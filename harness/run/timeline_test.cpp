#include "timeline.hpp"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace pjx::harness {
namespace {

Scenario scenario() {
  return parse_scenario(R"(
name = "t"
guarantee = "g"
checks = ["fanout"]
workers = 3
[workload]
publishes = 10
interval = "1 poll"
shared_keys = 2
[[fault]]
action = "pause"
worker = "w1"
at = "2 poll"
duration = "3 poll"
[[fault]]
action = "kill"
worker = "w2"
at = "4.5 poll"
during_publish = true
)",
                        "t.toml", {"fanout"});
}

using Kind = PlannedAction::Kind;

TEST(Timeline, SameSeedSamePlanOtherSeedOtherChoices) {
  const auto a = plan_timeline(scenario(), Timing::quick(), 7);
  const auto b = plan_timeline(scenario(), Timing::quick(), 7);
  const auto c = plan_timeline(scenario(), Timing::quick(), 8);
  ASSERT_EQ(a.size(), b.size());
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].keys, b[i].keys);
    EXPECT_EQ(a[i].candidates, b[i].candidates);
    differs = differs || a[i].keys != c[i].keys || a[i].candidates != c[i].candidates;
  }
  EXPECT_TRUE(differs);
}

TEST(Timeline, ActionsAreInTimeOrderWithUniqueIdsAndKeys) {
  const auto plan = plan_timeline(scenario(), Timing::quick(), 1);
  ASSERT_EQ(plan.size(), 10u + 2u + 1u);
  EXPECT_TRUE(std::is_sorted(plan.begin(), plan.end(), [](const auto& x, const auto& y) {
    return x.at_ns < y.at_ns;
  }));
  std::set<std::int64_t> ids;
  for (const PlannedAction& a : plan) {
    if (a.kind == Kind::kPublish || (a.kind == Kind::kFaultInstant && a.publish_id != 0)) {
      EXPECT_TRUE(ids.insert(a.publish_id).second);
      EXPECT_TRUE(std::is_sorted(a.keys.begin(), a.keys.end()));
      EXPECT_NE(std::find(a.keys.begin(), a.keys.end(), "e:" + std::to_string(a.publish_id)),
                a.keys.end());
      EXPECT_GE(a.keys.size(), 2u);  // e:<id> and at least one distinct shared key
    }
    if (a.kind == Kind::kPublish) {
      EXPECT_EQ(a.candidates.size(), 3u);
    }
  }
  // Ten publishes and the publish of the kill, numbered 1..11 in time order.
  EXPECT_EQ(ids, (std::set<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  const auto kill = std::find_if(plan.begin(), plan.end(),
                                 [](const auto& a) { return a.kind == Kind::kFaultInstant; });
  ASSERT_NE(kill, plan.end());
  EXPECT_EQ(kill->at_ns, 225'000'000);
  EXPECT_EQ(kill->publish_id, 6);
}

TEST(Timeline, WindowsBeginAndEndAtTheirTimes) {
  const auto plan = plan_timeline(scenario(), Timing::documented(), 1);
  std::int64_t begin = -1;
  std::int64_t end = -1;
  for (const PlannedAction& a : plan) {
    if (a.kind == Kind::kFaultBegin) begin = a.at_ns;
    if (a.kind == Kind::kFaultEnd) end = a.at_ns;
  }
  EXPECT_EQ(begin, 1'000'000'000);
  EXPECT_EQ(end, 2'500'000'000);
}

TEST(SplitMix64, BelowStaysInRangeAndCoversIt) {
  SplitMix64 rng(42);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t v = rng.below(5);
    ASSERT_LT(v, 5u);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5u);
}

}  // namespace
}  // namespace pjx::harness
