#include "timeline.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "plots.hpp"

namespace pjx::reports {
namespace {

using nlohmann::json;
constexpr std::int64_t kS = 1'000'000'000;  // ns per second
constexpr std::int64_t kT0 = 500 * kS;

json rec(std::int64_t t, json fields) {
  fields["t"] = kT0 + t;
  return fields;
}

std::vector<json> sample_history() {
  return {
      rec(0, {{"type", "meta"}, {"workers", {{{"name", "w1"}}, {{"name", "w0"}}}}}),
      rec(kS / 10, {{"type", "phase"}, {"name", "workload"}}),
      rec(kS, {{"type", "fault"}, {"action", "pause"}, {"phase", "begin"}, {"worker", "w1"}}),
      rec(kS + kS / 10, {{"type", "ev"}, {"worker", "w0"}, {"ev", "published"}, {"id", 3}}),
      rec(2 * kS, {{"type", "fault"}, {"action", "lock"}, {"phase", "begin"}}),
      rec(3 * kS, {{"type", "fault"}, {"action", "pause"}, {"phase", "end"}, {"worker", "w1"}}),
      rec(3 * kS + kS / 2,
          {{"type", "ev"}, {"worker", "w1"}, {"ev", "received"}, {"keys", {"e:3", "user:1"}}}),
      rec(4 * kS, {{"type", "fault"}, {"action", "kill"}, {"phase", "instant"}, {"worker", "zz"}}),
      rec(4 * kS + 1, {{"type", "exit"}, {"worker", "zz"}, {"status", -9}, {"expected", false}}),
      rec(6 * kS, {{"type", "ev"}, {"worker", "w0"}, {"ev", "flushed"}, {"reason", "gap"}}),
  };
}

TEST(Timeline, LanesFollowMetaOrderThenOtherNamesSorted) {
  const TimelineData d = build_timeline(sample_history(), json());
  EXPECT_EQ(d.lanes, (std::vector<std::string>{"w1", "w0", "zz"}));
  EXPECT_DOUBLE_EQ(d.end_s, 6.0);
}

TEST(Timeline, PairsFaultWindowsAndRunsUnendedOnesToTheEnd) {
  const TimelineData d = build_timeline(sample_history(), json());
  ASSERT_EQ(d.faults.size(), 3u);
  EXPECT_EQ(d.faults[0].action, "pause");
  EXPECT_EQ(d.faults[0].lane, std::optional<std::size_t>(0));
  EXPECT_DOUBLE_EQ(d.faults[0].from_s, 1.0);
  EXPECT_DOUBLE_EQ(d.faults[0].to_s, 3.0);
  EXPECT_FALSE(d.faults[0].open_ended);
  EXPECT_EQ(d.faults[1].action, "lock");
  EXPECT_FALSE(d.faults[1].lane);  // no worker: every lane
  EXPECT_TRUE(d.faults[1].open_ended);
  EXPECT_DOUBLE_EQ(d.faults[1].to_s, 6.0);
  EXPECT_TRUE(d.faults[2].instant);
}

TEST(Timeline, MarksPublishesDeliveriesFlushesAndExits) {
  const TimelineData d = build_timeline(sample_history(), json());
  ASSERT_EQ(d.marks.size(), 4u);
  EXPECT_EQ(d.marks[0].kind, TimelineData::MarkKind::kPublish);
  EXPECT_EQ(d.marks[0].lane, 1u);
  EXPECT_EQ(d.marks[1].kind, TimelineData::MarkKind::kDelivery);
  EXPECT_NE(d.marks[1].label.find("e:3"), std::string::npos);
  EXPECT_EQ(d.marks[2].kind, TimelineData::MarkKind::kExit);
  EXPECT_TRUE(d.marks[2].unexpected);
  EXPECT_EQ(d.marks[3].kind, TimelineData::MarkKind::kFlush);
  ASSERT_EQ(d.phases.size(), 1u);
  EXPECT_DOUBLE_EQ(d.phases[0].t_s, 0.1);
}

TEST(Timeline, StaleWindowsClosedNeverRunToTheEnd) {
  const json windows = json::array({
      {{"worker", "w1"},
       {"publish_id", 3},
       {"from_t", kT0 + kS},
       {"to_t", kT0 + 3 * kS},
       {"closed_by", "received"},
       {"ms", 2000}},
      {{"worker", "w1"},
       {"publish_id", 4},
       {"from_t", kT0 + 2 * kS},
       {"to_t", nullptr},
       {"closed_by", "never"},
       {"ms", 4000}},
  });
  const TimelineData d = build_timeline(sample_history(), windows);
  ASSERT_EQ(d.stale.size(), 2u);
  EXPECT_FALSE(d.stale[0].never);
  EXPECT_DOUBLE_EQ(d.stale[0].to_s, 3.0);
  EXPECT_TRUE(d.stale[1].never);
  EXPECT_DOUBLE_EQ(d.stale[1].to_s, 6.0);
}

// A stall of the host the harness measured is a band over every lane; on
// its own it asks for no timeline.
TEST(Timeline, DrawsAHostStallOverEveryLane) {
  std::vector<json> history = sample_history();
  history.push_back(
      rec(kS / 2, {{"type", "host_lag"}, {"t_end", kT0 + kS / 2 + kS / 10}, {"ms", 100.0}}));
  const TimelineData d = build_timeline(history, json());
  const auto stall = std::find_if(d.faults.begin(), d.faults.end(),
                                  [](const auto& f) { return f.action == "host_lag"; });
  ASSERT_NE(stall, d.faults.end());
  EXPECT_FALSE(stall->lane);
  EXPECT_DOUBLE_EQ(stall->from_s, 0.5);
  EXPECT_DOUBLE_EQ(stall->to_s, 0.6);
  EXPECT_EQ(stall->label, "the host stalled 100.0 ms (the harness's own thread did not run)");
  EXPECT_NE(timeline_svg(d, "t").find(">host stall window<"), std::string::npos);
  const std::vector<json> stall_only = {
      rec(0, {{"type", "meta"}}),
      rec(kS, {{"type", "host_lag"}, {"t_end", kT0 + 2 * kS}, {"ms", 1000.0}})};
  EXPECT_FALSE(wants_timeline(stall_only, json()));
}

TEST(Timeline, OnlyScenariosWithFaultsOrStaleWindowsGetOne) {
  const std::vector<json> quiet = {rec(0, {{"type", "meta"}})};
  EXPECT_FALSE(wants_timeline(quiet, json()));
  EXPECT_FALSE(wants_timeline(quiet, json::array()));
  EXPECT_TRUE(wants_timeline(quiet, json::array({json::object()})));
  EXPECT_TRUE(wants_timeline(sample_history(), json()));
}

TEST(TimelinePlot, HasALaneLabelPerWorkerAndALegendForEachFaultKind) {
  const std::string svg = timeline_svg(build_timeline(sample_history(), json()), "t");
  EXPECT_EQ(svg.rfind("<svg class=\"plot timeline\"", 0), 0u);
  for (const char* text : {">w0<", ">w1<", ">zz<", ">pause window<", ">lock window<", ">kill<",
                           ">publish<", ">delivery<", ">flush<", ">exit<"}) {
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  }
  EXPECT_NE(svg.find("time since the first history record (s)"), std::string::npos);
}

}  // namespace
}  // namespace pjx::reports

namespace pjx::reports {
namespace {

TEST(Timeline, StaleReadsAreMarkedOnTheReadersLaneAndAskForATimeline) {
  const nlohmann::json reads = nlohmann::json::array(
      {{{"worker", "w1"}, {"key", "p0"}, {"version", 0}, {"expected", 1}, {"write_id", 25},
        {"t", 1'500'000'000}, {"deadline_t", 1'200'000'000}}});
  std::vector<nlohmann::json> plain = {{{"type", "meta"}, {"t", 1'000'000'000},
                                        {"workers", {{{"name", "w0"}}, {{"name", "w1"}}}}}};
  EXPECT_FALSE(wants_timeline(plain, nlohmann::json()));
  EXPECT_TRUE(wants_timeline(plain, nlohmann::json(), reads));
  const TimelineData d = build_timeline(plain, nlohmann::json(), reads);
  ASSERT_EQ(d.marks.size(), 1u);
  EXPECT_EQ(d.marks[0].kind, TimelineData::MarkKind::kStaleRead);
  EXPECT_EQ(d.marks[0].lane, 1u);
  EXPECT_DOUBLE_EQ(d.marks[0].t_s, 0.5);
  EXPECT_TRUE(d.marks[0].unexpected);
  EXPECT_EQ(d.marks[0].label,
            "w1 read p0: version 0, expected at least 1 (write e:25), 300.0 ms past its deadline");
}

}  // namespace
}  // namespace pjx::reports
