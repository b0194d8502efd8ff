#include "figures.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

namespace pjx::reports {
namespace {

using testing::testdata;

TEST(ParseBound, SumsTheMillisecondTerms) {
  EXPECT_EQ(parse_bound_ms("<= poll_interval 50 ms + slack 250 ms"), 300.0);
  EXPECT_EQ(parse_bound_ms("<= 120ms"), 120.0);
  EXPECT_EQ(parse_bound_ms("0 lost (received or flushed)"), std::nullopt);
  EXPECT_EQ(parse_bound_ms("within 2 s"), std::nullopt);
  EXPECT_EQ(parse_bound_ms("w2 50 msgs"), std::nullopt);
}

TEST(DecidingCheck, IsTheFirstCheckWithTheScenarioVerdict) {
  Scenario s;
  s.verdict = Verdict::kFail;
  s.checks.resize(3);
  s.checks[0].name = "a";
  s.checks[1].name = "b";
  s.checks[1].verdict = Verdict::kFail;
  s.checks[2].name = "c";
  s.checks[2].verdict = Verdict::kFail;
  EXPECT_EQ(deciding_check(s)->name, "b");
  s.verdict = Verdict::kError;
  EXPECT_EQ(deciding_check(s)->name, "a");
  EXPECT_EQ(deciding_check(Scenario{}), nullptr);
}

TEST(LatencyFigures, ComeFromTheLatencyCheckDetails) {
  const auto docs = load_results_file(testdata() / "results.json");
  const auto lat = latency_figures(docs.front().scenarios.front());
  ASSERT_TRUE(lat);
  EXPECT_EQ(lat->check, "latency");
  EXPECT_EQ(lat->latencies_ms.size(), 90u);
  EXPECT_EQ(lat->poll_interval_ms, 50.0);
  EXPECT_EQ(lat->bound_ms, 300.0);  // parsed from "<= poll_interval 50 ms + slack 250 ms"
  EXPECT_FALSE(latency_figures(docs.front().scenarios[1]));
}

TEST(LatencyFigures, PreferAnExplicitBoundAndFallBackToTheHistoryPollInterval) {
  Scenario s;
  s.history = std::make_shared<History>(History{
      {},
      "",
      {nlohmann::json{{"type", "meta"}, {"t", 0}, {"params", {{"poll_interval_ms", 75}}}}}});
  Check c;
  c.bound = "<= 999 ms";
  c.details = {{"latencies_ms", {1, "x", 2.5}}, {"bound_ms", 400}};
  s.checks.push_back(c);
  const auto lat = latency_figures(s);
  ASSERT_TRUE(lat);
  EXPECT_EQ(lat->latencies_ms, (std::vector<double>{1, 2.5}));
  EXPECT_EQ(lat->poll_interval_ms, 75.0);
  EXPECT_EQ(lat->bound_ms, 400.0);
}

TEST(ReasonText, PrefersTheNoteThenTheHistorySkipRecord) {
  Scenario s;
  s.verdict = Verdict::kSkip;
  s.history = std::make_shared<History>(
      History{{},
              "",
              {nlohmann::json{{"type", "meta"}, {"t", 0}},
               nlohmann::json{{"type", "skip"}, {"t", 1}, {"reason", "no faketime"}}}});
  EXPECT_EQ(reason_text(s), "no faketime");
  s.note = "worker lacks flush";
  EXPECT_EQ(reason_text(s), "worker lacks flush");
}

TEST(StaleWindows, ComeFromTheCheckDetails) {
  const auto docs = load_results_file(testdata() / "results.json");
  EXPECT_EQ(stale_windows(docs.front().scenarios[1]).size(), 9u);
  EXPECT_TRUE(stale_windows(docs.front().scenarios[0]).is_null());
}

}  // namespace
}  // namespace pjx::reports
