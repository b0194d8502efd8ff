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

TEST(Timeline, PublishesSentTogetherShareTheirTimeAndComeFromDifferentWorkers) {
  const Scenario s = parse_scenario(R"(
name = "t"
guarantee = "g"
checks = ["fanout"]
workers = 4
[workload]
publishes = 12
together = 3
interval = "2 poll"
)",
                                    "t.toml", {"fanout"});
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    const auto plan = plan_timeline(s, Timing::quick(), seed);
    ASSERT_EQ(plan.size(), 12u);
    for (std::size_t step = 0; step < 4; ++step) {
      std::set<std::string> first_choices;
      for (std::size_t k = 0; k < 3; ++k) {
        const PlannedAction& a = plan[step * 3 + k];
        EXPECT_EQ(a.at_ns, plan[step * 3].at_ns) << "step " << step;
        EXPECT_EQ(a.candidates.size(), 4u);
        first_choices.insert(a.worker());
      }
      EXPECT_EQ(first_choices.size(), 3u) << "step " << step << ", seed " << seed;
      if (step > 0) {
        EXPECT_GT(plan[step * 3].at_ns, plan[step * 3 - 1].at_ns);
      }
    }
  }
}

TEST(Timeline, MorePublishesTogetherThanPublishersIsRejectedWithTheFix) {
  try {
    parse_scenario(R"(
name = "t"
guarantee = "g"
checks = ["fanout"]
workers = 4
[workload]
publishes = 4
together = 3
interval = "1 poll"
publishers = ["w0", "w1"]
)",
                   "t.toml", {"fanout"});
    FAIL() << "accepted";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("together = 3"), std::string::npos) << what;
    EXPECT_NE(what.find("has 2"), std::string::npos) << what;
    EXPECT_NE(what.find("lower 'together'"), std::string::npos) << what;
  }
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

namespace pjx::harness {
namespace {

Scenario with_reads(const std::string& reads) {
  return parse_scenario(R"(
name = "r"
guarantee = "g"
checks = ["stale_reads"]
workers = 3
[workload]
publishes = 10
interval = "1 poll"
)" + reads,
                        "r.toml", {"stale_reads"});
}

TEST(TimelineReads, ReadsAndWritesLeaveThePublishesKeysAsTheyWereAndShareTheIds) {
  const auto plain = plan_timeline(with_reads(""), Timing::quick(), 3);
  const auto mixed = plan_timeline(
      with_reads("[reads]\nops = 40\ninterval = \"0.25 poll\"\nkeys = 3\nraces = 2\nbursts = 1\n"),
      Timing::quick(), 3);
  std::vector<std::vector<std::string>> plain_keys, mixed_keys;
  for (const auto& a : plain) {
    if (a.kind == Kind::kPublish) plain_keys.push_back(a.keys);
  }
  std::set<std::int64_t> ids;
  std::size_t reads = 0, writes = 0, slow = 0, bursts = 0;
  for (const auto& a : mixed) {
    if (a.kind == Kind::kPublish) {
      auto keys = a.keys;
      keys.erase(std::remove_if(keys.begin(), keys.end(),
                                [](const std::string& k) { return k.starts_with("e:"); }),
                 keys.end());
      mixed_keys.push_back(keys);
    }
    if (a.kind == Kind::kRead) ++reads;
    if (a.kind == Kind::kRead && a.slow_ms > 0) ++slow;
    if (a.kind == Kind::kWrite) {
      ++writes;
      EXPECT_NE(std::find(a.keys.begin(), a.keys.end(), a.key), a.keys.end());
      EXPECT_NE(std::find(a.keys.begin(), a.keys.end(), "e:" + std::to_string(a.publish_id)),
                a.keys.end());
    }
    if (a.kind == Kind::kBurst) {
      ++bursts;
      EXPECT_EQ(a.burst.size(), 4u);
      for (const auto& b : a.burst) EXPECT_TRUE(ids.insert(b.id).second) << b.id;
    }
    if (a.kind == Kind::kRead || a.kind == Kind::kWrite || a.kind == Kind::kBurst ||
        a.kind == Kind::kPublish) {
      EXPECT_TRUE(ids.insert(a.publish_id).second) << "id " << a.publish_id << " used twice";
    }
  }
  for (auto& keys : plain_keys) {
    keys.erase(std::remove_if(keys.begin(), keys.end(),
                              [](const std::string& k) { return k.starts_with("e:"); }),
               keys.end());
  }
  EXPECT_EQ(plain_keys, mixed_keys) << "the publishes draw from their own stream";
  EXPECT_EQ(reads + writes, 40u + 2 * 3);  // the ops, and each race: two reads and a write
  EXPECT_EQ(slow, 2u);
  EXPECT_EQ(bursts, 1u);
}

TEST(TimelineReads, ARaceIsASlowReadAWriteOfItsKeyFromAnotherWorkerThenAFollowUpRead) {
  const auto plan = plan_timeline(with_reads("[reads]\nraces = 1\nslow = \"2 poll\"\n"),
                                  Timing::quick(), 1);
  std::vector<const PlannedAction*> race;
  for (const auto& a : plan) {
    if (a.key == "race:0") race.push_back(&a);
  }
  ASSERT_EQ(race.size(), 3u);
  EXPECT_EQ(race[0]->kind, Kind::kRead);
  EXPECT_EQ(race[0]->slow_ms, 100);
  EXPECT_EQ(race[1]->kind, Kind::kWrite);
  EXPECT_NE(race[1]->worker(), race[0]->worker());
  EXPECT_GT(race[1]->at_ns, race[0]->at_ns);
  EXPECT_LT(race[1]->at_ns, race[0]->at_ns + 100'000'000);
  EXPECT_EQ(race[2]->kind, Kind::kRead);
  EXPECT_EQ(race[2]->worker(), race[0]->worker());
  EXPECT_EQ(race[2]->slow_ms, 0);
  // After the loader's pause and the check's default bound (poll + 250 ms).
  EXPECT_GT(race[2]->at_ns, race[1]->at_ns + 300'000'000);
}

TEST(TimelineReads, AWriteWithKeysPublishesEachOfThemWithItsId) {
  const auto plan = plan_timeline(
      with_reads("[reads]\nops = 0\n[[write]]\nat = \"1 poll\"\nworker = \"w0\"\nkey = \"m2\"\n"
                 "keys = [\"m2\", \"m1\"]\n"),
      Timing::quick(), 1);
  const PlannedAction* write = nullptr;
  for (const auto& a : plan) {
    if (a.kind == Kind::kWrite) write = &a;
  }
  ASSERT_NE(write, nullptr);
  EXPECT_EQ(write->key, "m2");
  EXPECT_EQ(write->keys, (std::vector<std::string>{"e:" + std::to_string(write->publish_id), "m1",
                                                   "m2"}));
}

TEST(ScenarioReads, ExplicitReadsAndWritesNeedAReadsTableAndAKnownWorker) {
  EXPECT_THROW(with_reads("[[read]]\nat = \"1 poll\"\nworker = \"w0\"\nkey = \"p\"\n"),
               ScenarioError);
  EXPECT_THROW(with_reads("[reads]\n[[write]]\nat = \"1 poll\"\nworker = \"w9\"\nkey = \"p\"\n"),
               ScenarioError);
  EXPECT_THROW(with_reads("[reads]\n[[write]]\nat = \"1 poll\"\nworker = \"w0\"\nkey = \"p\"\n"
                          "slow = \"1 poll\"\n"),
               ScenarioError)
      << "slow applies to reads";
  EXPECT_THROW(with_reads("[reads]\nwrite_percent = 101\n"), ScenarioError);
  EXPECT_THROW(with_reads("[reads]\nbogus = 1\n"), ScenarioError);
  const Scenario s =
      with_reads("[reads]\n[[read]]\nat = \"1 poll\"\nworker = \"w2\"\nkey = \"p\"\nslow = \"3 poll\"\n");
  ASSERT_EQ(s.data_ops.size(), 1u);
  EXPECT_FALSE(s.data_ops[0].write);
  EXPECT_EQ(s.data_ops[0].worker, "w2");
}

}  // namespace
}  // namespace pjx::harness
