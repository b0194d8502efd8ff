// Tests of the change-wake checks: wake_latency and wake_fallback.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "check/checkers.hpp"
#include "check/history_builder_for_test.hpp"

namespace pjx::harness {
namespace {

using testing::HistoryBuilder;

std::string dump(const CheckResult& r) { return r.to_json().dump(2); }

bool has_line(const CheckResult& r, const std::string& needle) {
  for (const std::string& line : r.evidence) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

const Json kFallbackStats = {
    {"wakes", 0}, {"wake_failures", 1}, {"wake_active", false}, {"timed_polls", 40}, {"polls", 40}};
const Json kWakeStats = {{"wakes", 12}, {"wake_failures", 0}, {"wake_active", true}};
const char* kWarning =
    "cannot watch the database for changes (inotify_init1: Too many open files); polling every "
    "0.05 s instead";

// w0 publishes 10 times (poll_interval 50 ms); w1 (wakes) receives each
// `wake_ms` after the commit and "nowake" (inotify_instances 0) `poll_ms`
// after. Stats and warnings are the caller's.
// `caps`, when given, is what all three advertise.
HistoryBuilder run(double wake_ms, double poll_ms, const Json& caps = nullptr) {
  HistoryBuilder b({"wake_latency", "wake_fallback"});
  b.worker("w0").worker("w1").worker("nowake", {{"inotify_instances", 0}});
  if (!caps.is_null()) b.caps("w0", caps).caps("w1", caps).caps("nowake", caps);
  b.start_workers({"w0", "w1", "nowake"});
  for (int i = 1; i <= 10; ++i) {
    const double t = 100.0 * i;
    b.publish(t, "w0", i);
    b.receive(t + 2 + wake_ms, "w1", i);
    b.receive(t + 2 + poll_ms, "nowake", i);
  }
  return b;
}

HistoryBuilder& honest_stats(HistoryBuilder& b, double ms) {
  b.ev(ms, "w1", "stats", kWakeStats);
  return b.ev(ms, "nowake", "stats", kFallbackStats);
}

TEST(WakeLatencyCheck, PassesWhenCommitsWakeTheListener) {
  HistoryBuilder b = run(0.8, 30);
  honest_stats(b, 1200).finish(1300);
  const CheckResult r = run_check("wake_latency", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["wake_deliveries"], 10);  // nowake's deliveries are not counted
  EXPECT_DOUBLE_EQ(r.metrics["wake_latency_p99_ms"].get<double>(), 1.8);  // from t_begin, 1 ms before commit
  EXPECT_DOUBLE_EQ(r.metrics["wake_p95_max_ms"].get<double>(), 25.0);  // poll / 2
}

TEST(WakeLatencyCheck, FailsWhenDeliveriesWaitForTheTimedPoll) {
  HistoryBuilder b = run(45, 30);  // w1 behaves like a polling listener
  b.ev(1200, "w1", "stats", {{"wakes", 0}, {"wake_failures", 0}, {"wake_active", false}});
  b.finish(1300);
  const CheckResult r = run_check("wake_latency", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(has_line(r, "p95 46.0 ms > 25 ms")) << dump(r);
  EXPECT_TRUE(has_line(r, "w1 reported wake_active false")) << dump(r);
}

// Change wakes are the reference's capability: a polling-only worker is not
// held to poll_interval / 2, and a run with none that claims them is a skip
// (a failure under --require-caps), not a pass.
TEST(WakeLatencyCheck, JudgesOnlyWorkersThatAdvertiseWakes) {
  HistoryBuilder slow = run(45, 45, Json{"stats"});  // both deliver at the timed poll
  honest_stats(slow, 1200).finish(1300);
  const CheckResult none = run_check("wake_latency", slow.build(), Json::object());
  EXPECT_EQ(none.verdict, "skip") << dump(none);
  EXPECT_NE(none.summary.find("`wakes`"), std::string::npos) << none.summary;

  HistoryBuilder mixed = run(0.8, 45);  // w1 wakes; a polling worker beside it
  mixed.worker("poller").caps("poller", Json{"stats"}).start(50, "poller");
  for (int i = 1; i <= 10; ++i) mixed.receive(100.0 * i + 47, "poller", i);
  honest_stats(mixed, 1200).finish(1300);
  const CheckResult r = run_check("wake_latency", mixed.build(), Json::object());
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["wake_deliveries"], 10);  // w1's only
}

TEST(WakeLatencyCheck, TakesItsBoundFromParams) {
  HistoryBuilder b = run(30, 30);
  honest_stats(b, 1200).finish(1300);
  EXPECT_EQ(run_check("wake_latency", b.build(), {{"p95_max_ms", 35}}).verdict, "pass");
  EXPECT_EQ(run_check("wake_latency", b.build(), Json::object()).verdict, "fail");
  EXPECT_EQ(run_check("wake_latency", b.build(), {{"p95_max_ms", 35}, {"p99_max_ms", 20}}).verdict,
            "fail");
}

// A few deliveries held up by the scheduler do not fail it; a listener that
// waits for its timed poll on a sixth of them (one silent publisher of three)
// does.
TEST(WakeLatencyCheck, ToleratesAFewLateDeliveriesButNotASilentPublisher) {
  auto run_mixed = [](int late_every, double late_ms) {
    HistoryBuilder b({"wake_latency"});
    b.worker("w0").worker("w1");
    b.start_workers({"w0", "w1"});
    for (int i = 1; i <= 60; ++i) {
      const double t = 100 + 10.0 * i;
      b.publish(t, "w0", i);
      b.receive(t + 2 + (i % late_every == 0 ? late_ms : 0.5), "w1", i);
    }
    return b.finish(1300).build();
  };
  EXPECT_EQ(run_check("wake_latency", run_mixed(30, 40), Json::object()).verdict, "pass")
      << "2 late deliveries of 60";
  EXPECT_EQ(run_check("wake_latency", run_mixed(6, 40), Json::object()).verdict, "fail")
      << "10 late deliveries of 60";
}

TEST(WakeLatencyCheck, FailsWhenNothingWasMeasured) {
  HistoryBuilder b({"wake_latency"});
  b.start_workers({"w0", "w1"}).publish(100, "w0", 1).finish(300);  // w1 never receives
  const CheckResult r = run_check("wake_latency", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.measured, "no delivery measured");
}

TEST(WakeFallbackCheck, PassesWhenTheWorkerWarnsCountsAndKeepsPolling) {
  HistoryBuilder b = run(0.8, 30);
  b.ev(20, "nowake", "warning", {{"message", kWarning}});
  honest_stats(b, 1200).finish(1300);
  const CheckResult r = run_check("wake_fallback", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["fallback_workers"], 1);
  EXPECT_EQ(r.metrics["wake_failures"], 1);
  EXPECT_EQ(r.metrics["fallback_warnings"], 1);
  EXPECT_EQ(r.metrics["fallback_deliveries"], 10);
  EXPECT_DOUBLE_EQ(r.metrics["fallback_latency_max_ms"].get<double>(), 31);
  EXPECT_TRUE(has_line(r, "nowake warned at")) << dump(r);
}

TEST(WakeFallbackCheck, FailsWhenTheWakeSourceIsLostSilently) {
  // No warning, wake_failures 0: a worker that lost its wake source and said
  // nothing (it still delivers, by polling).
  HistoryBuilder b = run(0.8, 30);
  b.ev(1200, "w1", "stats", kWakeStats);
  b.ev(1200, "nowake", "stats", {{"wakes", 0}, {"wake_failures", 0}, {"wake_active", false}});
  b.finish(1300);
  const CheckResult r = run_check("wake_fallback", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(has_line(r, "nowake emitted no warning")) << dump(r);
  EXPECT_TRUE(has_line(r, "nowake reported wake_failures 0")) << dump(r);
}

TEST(WakeFallbackCheck, FailsWhenTheWorkerClaimsAnActiveWake) {
  HistoryBuilder b = run(0.8, 30);
  b.ev(20, "nowake", "warning", {{"message", kWarning}});
  b.ev(1200, "nowake", "stats", {{"wake_failures", 1}, {"wake_active", true}});
  b.finish(1300);
  const CheckResult r = run_check("wake_fallback", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(has_line(r, "nowake reported wake_active true")) << dump(r);
}

TEST(WakeFallbackCheck, FailsWhenTheFallbackDeliversLaterThanPolling) {
  HistoryBuilder b = run(0.8, 400);  // poll 50 ms + slack 250 ms = 300 ms
  b.ev(20, "nowake", "warning", {{"message", kWarning}});
  honest_stats(b, 1500).finish(1600);
  const CheckResult r = run_check("wake_fallback", b.build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["fallback_late"], 10);
  EXPECT_TRUE(has_line(r, "nowake received 401.0 ms after its publish began")) << dump(r);
}

TEST(WakeFallbackCheck, FailsWithoutStatsOrWithoutAWakelessWorker) {
  HistoryBuilder no_stats = run(0.8, 30);
  no_stats.ev(20, "nowake", "warning", {{"message", kWarning}}).finish(1300);
  const CheckResult r = run_check("wake_fallback", no_stats.build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(has_line(r, "nowake never answered stats")) << dump(r);

  HistoryBuilder none({"wake_fallback"});
  none.start_workers({"w0", "w1"}).fan(100, "w0", 1, 1).finish(300);
  const CheckResult n = run_check("wake_fallback", none.build(), Json::object());
  EXPECT_EQ(n.verdict, "fail") << dump(n);
  EXPECT_EQ(n.metrics["fallback_workers"], 0);
}

TEST(WakeFallbackCheck, NamesItsWorkersByParameterToo) {
  HistoryBuilder b({"wake_fallback"});
  b.start_workers({"w0", "w1"});
  b.ev(20, "w1", "warning", {{"message", "the change watch broke (IN_IGNORED); polling"}});
  for (int i = 1; i <= 3; ++i) {
    b.publish(100.0 * i, "w0", i).receive(100.0 * i + 20, "w1", i);
  }
  b.ev(500, "w1", "stats", kFallbackStats).finish(600);
  const CheckResult r = run_check("wake_fallback", b.build(), {{"workers", {"w1"}}});
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(run_check("wake_fallback", b.build(), {{"workers", "w1"}}).verdict, "error");
}

}  // namespace
}  // namespace pjx::harness
