#include "check/checkers.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "check/history_builder_for_test.hpp"

namespace pjx::harness {
namespace {

using testing::HistoryBuilder;

CheckResult check(const std::string& name, const HistoryBuilder& b,
                  const Json& params = Json::object()) {
  return run_check(name, b.build(), params);
}

bool has_line(const CheckResult& r, const std::string& needle) {
  for (const std::string& line : r.evidence) {
    if (line.find(needle) != std::string::npos) return true;
  }
  return false;
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

std::string dump(const CheckResult& r) { return r.to_json().dump(2); }

// Three workers on one channel; each publishes once and the other two
// receive it 20, 30 and 40 ms after the commit. Not finished.
HistoryBuilder healthy(std::vector<std::string> checks = {"fanout"},
                       const std::string& expect = "pass") {
  HistoryBuilder b(std::move(checks), expect);
  b.start_workers({"w0", "w1", "w2"})
      .fan(100, "w0", 1, 20)
      .fan(200, "w1", 2, 30)
      .fan(300, "w2", 3, 40);
  return b;
}

// ---------------------------------------------------------------- fanout

TEST(FanoutCheck, PassesWhenEveryOtherWorkerReceivesEachPublishOnce) {
  const CheckResult r = check("fanout", healthy().finish(400));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["events"], 3);
  EXPECT_EQ(r.metrics["required"], 6);
  EXPECT_EQ(r.metrics["deliveries"], 6);
  EXPECT_EQ(r.metrics["missing"], 0);
  EXPECT_EQ(r.metrics["workers"], 3);
}

TEST(FanoutCheck, FailsWithMissingWhenAReceiverSkipsARow) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1", "w2"}).fan(100, "w0", 1, 20, {"w2"}).finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["missing"], 1);
  EXPECT_TRUE(contains(r.summary, "1 missing")) << r.summary;
  EXPECT_TRUE(has_line(r, "w2 never received publish 1 from w0")) << dump(r);
}

TEST(FanoutCheck, FailsWhenThePublisherReceivesItsOwnPublish) {
  const CheckResult r = check("fanout", healthy().receive(150, "w0", 1).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["self_deliveries"], 1);
  EXPECT_TRUE(has_line(r, "w0 received its own publish 1")) << dump(r);
}

TEST(FanoutCheck, FailsOnADuplicateDelivery) {
  const CheckResult r = check("fanout", healthy().receive(150, "w1", 1).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["duplicates"], 1);
  EXPECT_TRUE(has_line(r, "w1 received publish 1 again")) << dump(r);
}

TEST(FanoutCheck, FailsWhenAPublishThatReportedErrorIsDelivered) {
  HistoryBuilder b = healthy();
  b.publish_op(350, "w0", 9).publish_error(351, "w0", 9).receive(370, "w1", 9).finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["uncommitted_deliveries"], 1);
  EXPECT_TRUE(has_line(r, "(not committed)")) << dump(r);
}

TEST(FanoutCheck, FailsOnAKeySetThatMatchesNoPublish) {
  const CheckResult r = check("fanout", healthy().receive_keys(150, "w1", {"x"}).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unmatched"], 1);
  EXPECT_TRUE(has_line(r, "w1 received keys [x]")) << dump(r);
}

// `after`: a publish begun before the last file swap may be lost with the
// old file (only the flush covers it); one begun after must reach everyone.
TEST(FanoutCheck, AfterAFileSwapOnlyLaterPublishesAreRequired) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1", "w2"})
      .fan(100, "w0", 1, 20, {"w2"})
      .fault(150, "replace_db", "instant")
      .fan(200, "w1", 2, 30)
      .finish(400);
  const Json after = {{"after", "replace_db"}};
  const CheckResult r = check("fanout", b, after);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["exempt"], 1);
  EXPECT_EQ(r.metrics["required"], 2);
  EXPECT_TRUE(contains(r.bound, "after the last replace_db")) << r.bound;
  EXPECT_EQ(check("fanout", b).verdict, "fail");  // without `after`, publish 1 is missing at w2

  HistoryBuilder late({"fanout"});
  late.start_workers({"w0", "w1", "w2"})
      .fault(150, "replace_db", "instant")
      .fan(200, "w1", 2, 30, {"w0"})  // a publisher still on the swapped-out file
      .finish(400);
  const CheckResult lost = check("fanout", late, after);
  EXPECT_EQ(lost.verdict, "fail") << dump(lost);
  EXPECT_TRUE(has_line(lost, "w0 never received publish 2 from w1")) << dump(lost);
}

TEST(FanoutCheck, AfterAFaultTheRunNeverInjectedIsAnError) {
  std::vector<Json> history = healthy().finish(400).build();
  history[0]["check_params"] = {{"fanout", {{"after", "replace_db"}}}};
  const ScenarioVerdict v = judge(history);
  EXPECT_EQ(v.verdict, "error");
  EXPECT_TRUE(contains(v.checks[0].summary, "never injected")) << v.checks[0].summary;
  history[0]["check_params"] = {{"fanout", {{"after", 3}}}};
  EXPECT_EQ(judge(history).verdict, "error");
}

TEST(FanoutCheck, FailsOnADeliveryToAnotherChannel) {
  HistoryBuilder b({"fanout"});
  b.worker("w3", {{"channel", "other"}})
      .start_workers({"w0", "w1", "w3"})
      .fan(100, "w0", 1, 20)
      .receive(130, "w3", 1)
      .finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["cross_channel"], 1);
  EXPECT_EQ(r.metrics["required"], 1);  // w3 is on another channel: not required
  EXPECT_TRUE(has_line(r, "w3 on channel \"other\" received publish 1")) << dump(r);
}

TEST(FanoutCheck, DoesNotRequireAWorkerThatBecameReadyAfterThePublishBegan) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1"})
      .fan(100, "w0", 1, 20)  // w2 is not running yet
      .spawn(150, "w2")
      .start(150, "w2")
      .fan(200, "w0", 2, 20)
      .finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["required"], 3);
}

TEST(FanoutCheck, ExcusesOnlyPausesLongerThanRetention) {
  // retention_ms is 1000: a 1200 ms pause excuses the missed row, a 500 ms one does not.
  HistoryBuilder long_pause({"fanout"});
  long_pause.start_workers({"w0", "w1", "w2"})
      .fault(100, "pause", "begin", "w2")
      .fan(200, "w0", 1, 20, {"w2"})
      .fault(1300, "pause", "end", "w2")
      .finish(1400);
  EXPECT_EQ(check("fanout", long_pause).verdict, "pass") << dump(check("fanout", long_pause));

  HistoryBuilder short_pause({"fanout"});
  short_pause.start_workers({"w0", "w1", "w2"})
      .fault(100, "pause", "begin", "w2")
      .fan(200, "w0", 1, 20, {"w2"})
      .fault(600, "pause", "end", "w2")
      .finish(1400);
  const CheckResult r = check("fanout", short_pause);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["missing"], 1);
}

TEST(FanoutCheck, DoesNotRequireAWorkerKilledBeforeQuiesceEnds) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1", "w2"})
      .fault(150, "kill", "instant", "w2")
      .exit(151, "w2", -9, false)
      .fan(200, "w0", 1, 20, {"w2"})
      .finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["required"], 1);
}

TEST(FanoutCheck, FailsWhenNothingWasAcknowledged) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1"}).publish_op(100, "w0", 1).publish_error(101, "w0", 1).finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "fan-out not shown")) << r.summary;
}

TEST(FanoutCheck, ReportsReproducedWhenThePrivateDatabaseFailureIsExpected) {
  // :memory: workers: every publish is acknowledged and nothing is delivered.
  HistoryBuilder b({"fanout"}, "reproduced");
  b.start_workers({"w0", "w1"}).publish(100, "w0", 1).publish(200, "w1", 2).finish(400);
  const CheckResult r = check("fanout", b);
  EXPECT_EQ(r.verdict, "reproduced") << dump(r);
  EXPECT_EQ(r.metrics["missing"], 2);
}

TEST(FanoutCheck, FailsInReproducedModeWhenEverythingArrives) {
  const CheckResult r = check("fanout", healthy({"fanout"}, "reproduced").finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "expected the documented failure, saw none")) << r.summary;
}

TEST(FanoutCheck, CapsEvidenceAndCountsTheRest) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1"});
  for (int id = 1; id <= 30; ++id) b.publish(100 + 10 * id, "w0", id);
  b.finish(1000);
  const CheckResult r = check("fanout", b);
  ASSERT_EQ(r.evidence.size(), kEvidenceCap);
  EXPECT_EQ(r.evidence.back(), "... and 11 more: 11 missing");
  EXPECT_TRUE(contains(r.evidence.front(), "publish 1 ")) << r.evidence.front();
}

// ---------------------------------------------------------------- isolation

HistoryBuilder two_channels() {
  HistoryBuilder b({"isolation"});
  b.worker("w0", {{"channel", "a"}})
      .worker("w1", {{"channel", "a"}})
      .worker("w2", {{"channel", "b"}})
      .worker("w3", {{"channel", "b"}})
      .start_workers({"w0", "w1", "w2", "w3"})
      .fan(100, "w0", 1, 20)
      .fan(200, "w2", 2, 20);
  return b;
}

TEST(IsolationCheck, PassesWhenEachChannelKeepsItsDeliveries) {
  const CheckResult r = check("isolation", two_channels().finish(400));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["channels"], 2);
  EXPECT_EQ(r.metrics["within_channel"], 2);
}

TEST(IsolationCheck, FailsOnACrossChannelDeliveryAndCountsThePair) {
  const CheckResult r = check("isolation", two_channels().receive(150, "w3", 1).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["cross_channel"], 1);
  EXPECT_EQ(r.details["cross_pairs"]["\"a\" -> \"b\""], 1);
  EXPECT_TRUE(has_line(r, "\"a\" -> \"b\": 1 deliveries")) << dump(r);
}

TEST(IsolationCheck, FailsWhenNothingWasDelivered) {
  HistoryBuilder b({"isolation"});
  b.worker("w0", {{"channel", "a"}})
      .worker("w1", {{"channel", "b"}})
      .start_workers({"w0", "w1"})
      .publish(100, "w0", 1)
      .finish(400);
  const CheckResult r = check("isolation", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.summary, "nothing delivered, isolation not shown");
}

// ---------------------------------------------------------------- no_replay

HistoryBuilder late_starter() {
  HistoryBuilder b({"no_replay"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20).spawn(200, "w2").start(210, "w2");
  return b;
}

TEST(NoReplayCheck, PassesWhenALateStarterGetsOnlyNewPublishes) {
  const CheckResult r = check("no_replay", late_starter().fan(300, "w0", 2, 20).finish(400));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["earlier_publishes"], 1);
}

TEST(NoReplayCheck, FailsWhenALateStarterReceivesAnEarlierPublish) {
  const CheckResult r = check("no_replay", late_starter().receive(230, "w2", 1).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["replayed"], 1);
  EXPECT_TRUE(has_line(r, "w2 received publish 1 from w0")) << dump(r);
}

TEST(NoReplayCheck, FailsWhenNoPublishPrecedesAStart) {
  const CheckResult r = check("no_replay", healthy({"no_replay"}).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "scenario did not publish before a start")) << r.summary;
}

// ---------------------------------------------------------------- latency

TEST(LatencyCheck, PassesWithinPollIntervalPlusSlackAndReportsNearestRankPercentiles) {
  const CheckResult r = check("latency", healthy({"latency"}).finish(400));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.bound, "max <= poll_interval 50 ms + slack 250 ms, net of measured host stalls");
  // From the start of each publish call (the builder's t_begin, 1 ms before
  // its commit).
  EXPECT_EQ(r.measured, "max 41.0 ms");
  EXPECT_EQ(r.metrics["latency_p50_ms"], 31.0);
  EXPECT_EQ(r.metrics["latency_p99_ms"], 41.0);
  EXPECT_EQ(r.metrics["latency_max_ms"], 41.0);
  EXPECT_EQ(r.metrics["poll_interval_ms"], 50);
  EXPECT_EQ(r.metrics["workers"], 3);
  EXPECT_EQ(r.metrics["events"], 3);
  EXPECT_EQ(r.metrics["deliveries"], 6);
  EXPECT_EQ(r.details["latencies_ms"], Json({21.0, 21.0, 31.0, 31.0, 41.0, 41.0}));
  EXPECT_EQ(r.details["per_worker"]["w0"],
            Json({{"p50", 31.0}, {"p99", 41.0}, {"max", 41.0}, {"n", 2}}));
}

HistoryBuilder one_late_delivery() {
  HistoryBuilder b({"latency"});
  b.start_workers({"w0", "w1", "w2"}).fan(100, "w0", 1, 20, {"w2"}).receive(502, "w2", 1);
  return b;
}

TEST(LatencyCheck, FailsOnALateDeliveryAndNamesIt) {
  const CheckResult r = check("latency", one_late_delivery().finish(600));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["latency_max_ms"], 401.0);
  ASSERT_FALSE(r.evidence.empty());
  EXPECT_TRUE(contains(r.evidence[0], "w2 received publish 1 from w0 401.0 ms after its publish began"))
      << dump(r);
  EXPECT_TRUE(contains(r.summary, "1 of 2 deliveries took longer than 300 ms")) << r.summary;
}

TEST(LatencyCheck, TakesSlackFromParams) {
  const CheckResult r = check("latency", one_late_delivery().finish(600), {{"slack_ms", 500}});
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.bound, "max <= poll_interval 50 ms + slack 500 ms, net of measured host stalls");
}

TEST(LatencyCheck, ExcludesDeliveriesToAWorkerUnderAFault) {
  HistoryBuilder b = one_late_delivery();
  // The pause overlaps [commit, received] of w2's late delivery.
  std::vector<Json> history = b.pause(110, 200, "w2").finish(600).build();
  const CheckResult r = run_check("latency", history, Json::object());
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["excluded"], 1);
  EXPECT_EQ(r.metrics["deliveries"], 1);
}

TEST(LatencyCheck, FailsWhenP99ExceedsAnOptionalBound) {
  const CheckResult r = check("latency", healthy({"latency"}).finish(400), {{"p99_max_ms", 35}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(
      r.bound,
      "max <= poll_interval 50 ms + slack 250 ms and p99 <= 35 ms, net of measured host stalls");
  EXPECT_TRUE(has_line(r, "p99 41.0 ms > p99_max_ms 35")) << dump(r);
}

// A stall of the whole host the harness measured (its probe thread ran 150
// ms late) is not the worker's: the late delivery (401 ms, bound 300) spans
// it, and is judged on the 251 ms left.
TEST(LatencyCheck, SubtractsTheHostStallsWithinADelivery) {
  HistoryBuilder b = one_late_delivery();
  b.host_lag(200, 350).finish(600);
  const CheckResult r = check("latency", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["latency_max_ms"], 251.0);
  EXPECT_EQ(r.metrics["deliveries_net_of_host_lag"], 1);
  EXPECT_EQ(r.metrics["host_lag_max_ms"], 150.0);
  EXPECT_TRUE(contains(r.summary, "1 net of a host stall (up to 150.0 ms)")) << r.summary;
  EXPECT_TRUE(has_line(r, "251.0 ms after its publish began")) << dump(r);
  EXPECT_TRUE(has_line(r, "(raw 401.0 ms, of which 150.0 ms the host stalled)")) << dump(r);
}

// Only the part of a stall inside the delivery counts, each instant once:
// two overlapping windows [80, 200] and [150, 250] overlap the late
// delivery (publish call began at 101, received at 502) by 99 + 50 ms; one
// after it, not at all.
TEST(LatencyCheck, CountsOnlyTheStallInsideADeliveryOnce) {
  HistoryBuilder b = one_late_delivery();
  b.host_lag(80, 200).host_lag(150, 250).host_lag(510, 590).finish(600);
  const CheckResult r = check("latency", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["latency_max_ms"], 252.0);
  EXPECT_EQ(r.metrics["host_lag_windows"], 3);
}

// A stall shorter than the lateness does not excuse it.
TEST(LatencyCheck, StillFailsWhenTheDeliveryIsLateBeyondTheHostStall) {
  HistoryBuilder b = one_late_delivery();
  b.host_lag(200, 250).finish(600);
  const CheckResult r = check("latency", b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["latency_max_ms"], 351.0);
  EXPECT_TRUE(contains(r.summary, "1 of 2 deliveries took longer than 300 ms")) << r.summary;
}

TEST(LatencyCheck, FailsWhenNothingWasDelivered) {
  HistoryBuilder b({"latency"});
  b.start_workers({"w0", "w1"}).publish(100, "w0", 1).finish(400);
  const CheckResult r = check("latency", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "latency not shown")) << r.summary;
}

// ---------------------------------------------------------------- staleness

// w2 is paused for 1500 ms (retention 1000 ms) while w0 publishes; `after`
// adds what w2 does once resumed. Finished at 2500 ms.
HistoryBuilder stall(const std::string& expect,
                     const std::function<void(HistoryBuilder&)>& after = {}) {
  HistoryBuilder b({"staleness"}, expect);
  b.start_workers({"w0", "w1", "w2"})
      .fault(100, "pause", "begin", "w2")
      .fan(200, "w0", 1, 20, {"w2"})
      .fault(1600, "pause", "end", "w2");
  if (after) after(b);
  b.finish(2500);
  return b;
}

TEST(StalenessCheck, ReproducesMissedInvalidationsAfterAPauseLongerThanRetention) {
  const CheckResult r = check("staleness", stall("reproduced"));
  EXPECT_EQ(r.verdict, "reproduced") << dump(r);
  EXPECT_EQ(r.metrics["missed_events"], 1);
  EXPECT_EQ(r.metrics["stall_ms"], 1500.0);
  EXPECT_EQ(r.metrics["retention_ms"], 1000);
  EXPECT_EQ(r.metrics["stale_windows"], 2);
  ASSERT_FALSE(r.evidence.empty());
  EXPECT_TRUE(contains(r.evidence[0], "w2 never received or flushed for publish 1")) << dump(r);
}

// The same deadline as stale_reads: a lock holding a queued publish back
// extends it to the lock's end + 1500 ms + poll.
TEST(StalenessCheck, AWindowHeldBackByALockIsJudgedFromTheLocksEnd) {
  auto run = [](double delivered_at) {
    HistoryBuilder b({"staleness"});
    b.start_workers({"w0", "w1"}).fault(100, "lock", "begin");
    b.publish_op(110, "w0", 1).published_queued(120, "w0", 1);
    b.fault(1100, "lock", "end").receive(delivered_at, "w1", 1);
    b.finish(3500);
    return check("staleness", b);
  };
  EXPECT_EQ(run(2500).verdict, "pass") << "1.4 s after the lock: within 1550 ms";
  const CheckResult late = run(2800);
  EXPECT_EQ(late.verdict, "fail") << dump(late);
  EXPECT_TRUE(has_line(late, "ms over its bound")) << dump(late);
}

// A listener killed before its deadline is not judged: its cache is gone.
TEST(StalenessCheck, AListenerThatEndedBeforeItsDeadlineMissedNothing) {
  HistoryBuilder b({"staleness"});
  b.start_workers({"w0", "w1", "w2"});
  b.publish(100, "w0", 1).receive(110, "w1", 1);
  b.fault(150, "kill", "instant", "w2").exit(151, "w2", -9);
  b.fan(400, "w0", 2, 10, {"w2"});
  b.finish(1000);
  const CheckResult r = check("staleness", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["missed_events"], 0);
}

// Queued in w0's outbox, then w0 is killed: the event died with the process.
TEST(StalenessCheck, AQueuedPublishWhoseWorkerWasKilledIsNotJudged) {
  HistoryBuilder b({"staleness"});
  b.start_workers({"w0", "w1"}).fault(100, "lock", "begin");
  b.publish_op(110, "w0", 1).published_queued(120, "w0", 1);
  b.fault(150, "kill", "instant", "w0").exit(151, "w0", -9);
  b.fault(300, "lock", "end").finish(4000);
  const CheckResult r = check("staleness", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.details["stale_windows"][0]["closed_by"], "lost_with_publisher");
}

TEST(StalenessCheck, FailsInReproducedModeWhenNothingWasMissed) {
  const CheckResult r =
      check("staleness", stall("reproduced", [](HistoryBuilder& b) { b.receive(1620, "w2", 1); }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(
      r.summary, "expected missed invalidations after a pause longer than retention, saw none"))
      << r.summary;
}

TEST(StalenessCheck, PassesWhenThePausedWorkerFlushesSoonAfterResuming) {
  const CheckResult r =
      check("staleness", stall("pass", [](HistoryBuilder& b) { b.flushed(1650, "w2"); }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["flushed_events"], 1);
  EXPECT_EQ(r.metrics["missed_events"], 0);
  EXPECT_EQ(r.metrics["max_stale_ms"], 1448.0);  // commit at 202 ms, flush at 1650 ms
  const Json& windows = r.details["stale_windows"];
  ASSERT_EQ(windows.size(), 2u);
  EXPECT_EQ(windows[1]["worker"], "w2");
  EXPECT_EQ(windows[1]["closed_by"], "flushed");
  EXPECT_EQ(windows[1]["publish_id"], 1);
  EXPECT_EQ(windows[0]["closed_by"], "received");
}

TEST(StalenessCheck, FailsWhenTheFlushComesLongAfterResuming) {
  const CheckResult r =
      check("staleness", stall("pass", [](HistoryBuilder& b) { b.flushed(2000, "w2"); }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(has_line(r, "w2 stale 1798.0 ms for publish 1")) << dump(r);
  EXPECT_TRUE(has_line(r, "100.0 ms over its bound")) << dump(r);
}

TEST(StalenessCheck, FailsOnAMissedInvalidationWhenPassIsExpected) {
  const CheckResult r = check("staleness", stall("pass"));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["missed_events"], 1);
}

TEST(StalenessCheck, FailsWhenAnUnpausedWorkerStaysStaleTooLong) {
  HistoryBuilder b({"staleness"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 400).finish(1000);
  const CheckResult r = check("staleness", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(has_line(r, "w1 stale 400.0 ms")) << dump(r);
}

// ---------------------------------------------------------------- rejection

TEST(RejectionCheck, PassesWhenTheBadConfigurationIsRefused) {
  HistoryBuilder b({"rejection"});
  b.worker("w0", {{"expect_fatal", true}, {"why", ":memory: is private to each process"}})
      .spawn(1, "w0")
      .fatal(5, "w0", "db_path \":memory:\" gives each process a private database")
      .exit(6, "w0", 2);
  const CheckResult r = check("rejection", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_TRUE(has_line(r, "w0 (:memory: is private to each process): fatal \"db_path")) << dump(r);
}

TEST(RejectionCheck, FailsWhenTheWorkerBecameReadyOnMemory) {
  HistoryBuilder b({"rejection"});
  b.worker("w0", {{"expect_fatal", true}, {"why", ":memory: is private"}})
      .spawn(1, "w0")
      .start(5, "w0")
      .exit(100, "w0", 0);
  const CheckResult r = check("rejection", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(has_line(r, "became ready")) << dump(r);
  EXPECT_TRUE(has_line(r, "exited with status 0")) << dump(r);
}

TEST(RejectionCheck, FailsWhenAFatalWorkerExitsZero) {
  HistoryBuilder b({"rejection"});
  b.worker("w0", {{"expect_fatal", true}, {"why", "empty path"}})
      .spawn(1, "w0")
      .fatal(5, "w0", "empty path")
      .exit(6, "w0", 0);
  EXPECT_EQ(check("rejection", b).verdict, "fail");
}

TEST(RejectionCheck, FailsWhenNoWorkerIsExpectedToBeRejected) {
  const CheckResult r = check("rejection", healthy({"rejection"}).finish(400));
  EXPECT_EQ(r.verdict, "fail");
}

// ---------------------------------------------------------------- sidecars, integrity

HistoryBuilder probed(bool journal = true, bool sidecars = true, double integrity_ms = 1000) {
  HistoryBuilder b({"sidecars"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20);
  if (journal) b.probe(150, "journal_mode", "wal");
  if (sidecars) b.probe(160, "sidecars", {{"wal", true}, {"shm", true}});
  if (integrity_ms < 900) b.probe(integrity_ms, "integrity", "ok");
  b.finish(400);  // workers exit at 920 ms
  if (integrity_ms >= 900) b.probe(integrity_ms, "integrity", "ok");
  return b;
}

TEST(SidecarsCheck, PassesWithWalSidecarsWhileRunningAndIntegrityAfterStop) {
  const CheckResult r = check("sidecars", probed());
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["probes"], 3);
}

TEST(SidecarsCheck, FailsWhenAProbeIsMissing) {
  const CheckResult r = check("sidecars", probed(true, false));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.summary, "probe sidecars not recorded");
}

TEST(SidecarsCheck, FailsWhenTheJournalIsNotWal) {
  HistoryBuilder b = probed(false);
  std::vector<Json> history = b.build();
  Json probe = {{"type", "probe"},
                {"t", HistoryBuilder::ns(150)},
                {"what", "journal_mode"},
                {"ok", false},
                {"value", "delete"}};
  history.insert(history.begin() + 8, probe);
  const CheckResult r = run_check("sidecars", history, Json::object());
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(has_line(r, "journal_mode at +0.150 s: \"delete\", expected \"wal\"")) << dump(r);
}

TEST(SidecarsCheck, FailsWhenIntegrityIsCheckedBeforeTheWorkersStop) {
  const CheckResult r = check("sidecars", probed(true, true, 300));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "still running")) << r.summary;
}

TEST(IntegrityCheck, PassesOnlyWhenEveryProbeIsOk) {
  EXPECT_EQ(check("integrity", probed()).verdict, "pass");
  const CheckResult bad = check("integrity", probed().probe(1100, "integrity", "*** page 3 bad"));
  EXPECT_EQ(bad.verdict, "fail");
  EXPECT_EQ(bad.metrics["integrity_failures"], 1);
  EXPECT_TRUE(has_line(bad, "page 3 bad")) << dump(bad);
  const CheckResult none = check("integrity", healthy({"integrity"}).finish(400));
  EXPECT_EQ(none.verdict, "fail");
  EXPECT_EQ(none.summary, "probe integrity not recorded");
}

// ---------------------------------------------------------------- crash_safety

// w2 is killed at 150 ms, restarted at 250 ms; w0 publishes before and after.
HistoryBuilder crash(const std::set<std::string>& skip_first = {}) {
  HistoryBuilder b({"crash_safety"});
  b.start_workers({"w0", "w1", "w2"})
      .fan(100, "w0", 1, 20, skip_first)
      .fault(150, "kill", "begin", "w2")
      .exit(151, "w2", -9, false)
      .fault(152, "kill", "end", "w2")
      .spawn(250, "w2")
      .start(260, "w2");
  return b;
}

TEST(CrashSafetyCheck, PassesWhenNothingAcknowledgedIsLostAndSurvivorsKeepWorking) {
  HistoryBuilder b = crash();
  b.fan(300, "w0", 2, 20).finish(400).probe(1000, "integrity", "ok");
  const CheckResult r = check("crash_safety", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["kills"], 1);
  EXPECT_EQ(r.metrics["acked_after_kill"], 1);
  EXPECT_EQ(r.metrics["required"], 3);  // w1 for publish 1; w1 and the restarted w2 for publish 2
}

TEST(CrashSafetyCheck, FailsWhenAnAcknowledgedPublishIsLost) {
  HistoryBuilder b = crash({"w1"});
  b.fan(300, "w0", 2, 20).finish(400).probe(1000, "integrity", "ok");
  const CheckResult r = check("crash_safety", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["lost"], 1);
  EXPECT_TRUE(has_line(r, "w1 never received publish 1")) << dump(r);
}

TEST(CrashSafetyCheck, FailsWhenSurvivorsStopWorking) {
  HistoryBuilder b = crash();
  b.publish_op(300, "w0", 2).publish_error(301, "w0", 2).finish(400).probe(1000, "integrity", "ok");
  const CheckResult r = check("crash_safety", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "survivors stopped working")) << r.summary;
}

TEST(CrashSafetyCheck, FailsWithoutAKill) {
  const CheckResult r =
      check("crash_safety", healthy({"crash_safety"}).finish(400).probe(1000, "integrity", "ok"));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "no kill fault")) << r.summary;
}

// ---------------------------------------------------------------- outbox

// A lock from 100 to 200 ms; w0 (caps as given) publishes 1 at 110 ms and
// `answer`s it; w1 listens.
HistoryBuilder outbox_run(const Json& caps, const std::function<void(HistoryBuilder&)>& answer) {
  HistoryBuilder b({"outbox"});
  b.caps("w0", caps).start_workers({"w0", "w1"}).fault(100, "lock", "begin");
  b.publish_op(110, "w0", 1);
  answer(b);
  b.fault(200, "lock", "end");
  b.receive(230, "w1", 1);
  b.finish(400);
  return b;
}

const Json kOutboxCaps = {"stats", "flush", "outbox"};

TEST(OutboxCheck, PassesWhenAnOutboxWorkerQueuesWhatTheLockHoldsBack) {
  const CheckResult r = check(
      "outbox", outbox_run(kOutboxCaps, [](HistoryBuilder& b) { b.published_queued(160, "w0", 1); }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["queued"], 1);
  EXPECT_EQ(r.metrics["outbox_errors"], 0);
}

TEST(OutboxCheck, FailsWhenAnOutboxWorkerAnswersError) {
  const CheckResult r = check(
      "outbox", outbox_run(kOutboxCaps, [](HistoryBuilder& b) { b.publish_error(160, "w0", 1); }));
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["outbox_errors"], 1);
  EXPECT_TRUE(has_line(r, "answered error although it advertises `outbox`")) << dump(r);
}

TEST(OutboxCheck, CountsAPublishThatBeganJustBeforeTheWindow) {
  // Sent 50 ms before the lock (within busy_timeout + 500 ms), failed inside it.
  HistoryBuilder b({"outbox"});
  b.caps("w0", kOutboxCaps).start_workers({"w0", "w1"});
  b.publish_op(60, "w0", 1).fault(100, "lock", "begin").publish_error(160, "w0", 1);
  b.fault(200, "lock", "end").finish(400);
  EXPECT_EQ(check("outbox", b).verdict, "fail");
}

TEST(OutboxCheck, SkipsWithoutTheCapabilitySoThatTheProfileCanRequireIt) {
  const CheckResult r =
      check("outbox", outbox_run({"stats", "flush"}, [](HistoryBuilder& b) {
              b.publish_error(160, "w0", 1);
            }));
  EXPECT_EQ(r.verdict, "skip") << dump(r);
  EXPECT_TRUE(contains(r.summary, "`outbox` capability")) << r.summary;
}

TEST(OutboxCheck, FailsWhenNothingWasHeldBack) {
  // The publish committed at once: the window exercised nothing.
  const CheckResult r = check(
      "outbox", outbox_run(kOutboxCaps, [](HistoryBuilder& b) { b.published(112, "w0", 1); }));
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(contains(r.summary, "not exercised")) << r.summary;
}

// ---------------------------------------------------------------- lock_contention

// A lock from 100 to 200 ms; `during` adds what w0 does inside it, `after`
// what happens from 200 to 249 ms. Then w0 publishes 2 at 250 ms, delivered
// unless `deliver_after` is false.
HistoryBuilder locked(const std::function<void(HistoryBuilder&)>& during,
                      bool deliver_after = true,
                      const std::function<void(HistoryBuilder&)>& after = {}) {
  HistoryBuilder b({"lock_contention"});
  b.start_workers({"w0", "w1"}).fault(100, "lock", "begin");
  during(b);
  b.fault(200, "lock", "end");
  if (after) after(b);
  if (deliver_after) {
    b.fan(250, "w0", 2, 20);
  } else {
    b.publish_op(250, "w0", 2).publish_error(251, "w0", 2);
  }
  b.finish(400);
  return b;
}

TEST(LockContentionCheck, PassesWhenBlockedPublishesReportErrorAndDeliveryResumes) {
  const CheckResult r = check("lock_contention", locked([](HistoryBuilder& b) {
                                b.publish_op(110, "w0", 1).publish_error(160, "w0", 1);
                              }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["publish_errors"], 1);
  EXPECT_EQ(r.metrics["acked_during_lock"], 0);
  EXPECT_EQ(r.metrics["lock_ms"], 100.0);
  EXPECT_EQ(r.metrics["lost"], 0);
}

TEST(LockContentionCheck, FailsOnASilentDropUnderTheLock) {
  // Acknowledged during the lock, never delivered.
  const CheckResult r =
      check("lock_contention", locked([](HistoryBuilder& b) { b.publish(110, "w0", 1); }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["lost"], 1);
  EXPECT_EQ(r.metrics["acked_during_lock"], 1);
  EXPECT_TRUE(has_line(r, "w1 never received publish 1")) << dump(r);
}

TEST(LockContentionCheck, FailsOnAPublishLeftUnanswered) {
  const CheckResult r =
      check("lock_contention", locked([](HistoryBuilder& b) { b.publish_op(110, "w0", 1); }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unanswered"], 1);
  EXPECT_TRUE(contains(r.summary, "got neither published nor error")) << r.summary;
}

TEST(LockContentionCheck, FailsWhenDeliveryDoesNotResume) {
  const CheckResult r = check(
      "lock_contention",
      locked([](HistoryBuilder& b) { b.publish_op(110, "w0", 1).publish_error(160, "w0", 1); },
             /*deliver_after=*/false));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "delivery did not resume")) << r.summary;
}

TEST(LockContentionCheck, FailsWithoutALockWindow) {
  EXPECT_EQ(check("lock_contention", healthy({"lock_contention"}).finish(400)).verdict, "fail");
}

TEST(LockContentionCheck, PassesWhenAQueuedPublishIsDeliveredSoonAfterTheRelease) {
  const CheckResult r = check(
      "lock_contention",
      locked(
          [](HistoryBuilder& b) {
            b.publish_op(110, "w0", 1).published_queued(160, "w0", 1);
            b.publish_op(170, "w0", 3).published_queued(171, "w0", 3);
          },
          /*deliver_after=*/true,
          [](HistoryBuilder& b) { b.receive(230, "w1", 1).receive(231, "w1", 3); }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["queued"], 2);
  EXPECT_EQ(r.metrics["acked_during_lock"], 2);
  EXPECT_EQ(r.metrics["max_queued_delivery_ms"], 31.0);  // 231 - the release at 200
  EXPECT_EQ(r.metrics["queued_late"], 0);
  EXPECT_EQ(r.metrics["lost"], 0);
}

TEST(LockContentionCheck, FailsWhenAQueuedPublishIsNeverDelivered) {
  const CheckResult r = check("lock_contention", locked([](HistoryBuilder& b) {
                                b.publish_op(110, "w0", 1).published_queued(160, "w0", 1);
                              }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["lost"], 1);
  EXPECT_TRUE(has_line(r, "w1 never received publish 1")) << dump(r);
}

TEST(LockContentionCheck, FailsWhenAQueuedPublishArrivesPastItsBound) {
  const CheckResult r = check(
      "lock_contention",
      locked([](HistoryBuilder& h) { h.publish_op(110, "w0", 1).published_queued(160, "w0", 1); },
             /*deliver_after=*/true, [](HistoryBuilder& h) { h.receive(240, "w1", 1); }),
      {{"queued_bound_ms", 20}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["queued_late"], 1);
  EXPECT_EQ(r.metrics["queued_bound_ms"], 20.0);
  EXPECT_TRUE(contains(r.summary, "40.0 ms after the lock was released")) << r.summary;
}

// ---------------------------------------------------------------- disk_full, io_fault

// The disk is full from 100 to 200 ms (with `free_after` bytes left once
// filled); `during` adds what w0 does inside it; w0 publishes 2 at 250 ms.
HistoryBuilder disk_full(const std::function<void(HistoryBuilder&)>& during, double free_after = 0) {
  HistoryBuilder b({"disk_full"});
  b.start_workers({"w0", "w1"});
  b.record({{"type", "fault"},
            {"t", static_cast<std::int64_t>(100 * 1e6)},
            {"action", "disk_full"},
            {"phase", "begin"},
            {"params", {{"free_bytes_after", free_after}, {"filler_bytes", 8 << 20}}}});
  during(b);
  b.fault(200, "disk_full", "end");
  b.fan(250, "w0", 2, 20);
  b.finish(400);
  return b;
}

TEST(DiskFullCheck, PassesWhenPublishesReportErrorOrCommitAndDeliveryResumes) {
  const CheckResult r = check("disk_full", disk_full([](HistoryBuilder& b) {
                                b.publish_op(110, "w0", 1).publish_error(111, "w0", 1);
                                b.fan(150, "w0", 3, 20);  // acknowledged (queued, committed later)
                              }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["publish_errors"], 1);
  EXPECT_EQ(r.metrics["acked_during"], 1);
  EXPECT_EQ(r.metrics["lost"], 0);
}

TEST(DiskFullCheck, FailsOnAnAcknowledgedPublishLostWhileFull) {
  const CheckResult r = check("disk_full", disk_full([](HistoryBuilder& b) { b.publish(110, "w0", 1); }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["lost"], 1);
}

TEST(DiskFullCheck, FailsWhenTheFilesystemWasNotFull) {
  const CheckResult r = check("disk_full", disk_full(
                                               [](HistoryBuilder& b) {
                                                 b.publish_op(110, "w0", 1).publish_error(111, "w0", 1);
                                               },
                                               /*free_after=*/1 << 20));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "not full")) << r.summary;
}

TEST(DiskFullCheck, FailsWithoutAWindow) {
  EXPECT_EQ(check("disk_full", healthy({"disk_full"}).finish(400)).verdict, "fail");
}

TEST(IoFaultCheck, JudgesVfsFaultWindowsLikeLockContention) {
  HistoryBuilder b({"io_fault"});
  b.start_workers({"w0", "w1"}).fault(100, "vfs_fault", "begin", "w0");
  b.publish_op(110, "w0", 1);  // never answered
  b.fault(200, "vfs_fault", "end", "w0");
  b.fan(250, "w0", 2, 20);
  b.finish(400);
  const CheckResult r = check("io_fault", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unanswered"], 1);
  EXPECT_TRUE(contains(r.summary, "got neither published nor error")) << r.summary;
}

// ---------------------------------------------------------------- pruning

TEST(PruningCheck, PassesWhenNoRowOutlivesRetentionPlusSlack) {
  HistoryBuilder b = healthy({"pruning"});
  b.probe(390, "rows", {{"count", 3}, {"oldest_age_ms", 900}}).finish(400);
  const CheckResult r = check("pruning", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.bound,
            "oldest row <= retention 1000 ms + slack 600 ms; newest row - oldest row <= "
            "retention + 100 ms");
  EXPECT_EQ(r.metrics["oldest_age_ms"], 900.0);
}

TEST(PruningCheck, FailsWhenRowsOutliveRetentionBeforeTheNewestRowWheneverTheProbeRan) {
  // Pruned at 2 x retention: the oldest row is 1.5 s older than the newest,
  // though the probe ran at once (oldest_age 1500 ms passes the loose bound).
  HistoryBuilder b = healthy({"pruning"});
  b.probe(390, "rows", {{"count", 30}, {"oldest_age_ms", 1500}, {"newest_age_ms", 5}})
      .finish(400);
  const CheckResult r = check("pruning", b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(contains(r.summary, "pruned late")) << r.summary;
  EXPECT_EQ(r.metrics["row_span_ms"], 1495.0);
  HistoryBuilder ok = healthy({"pruning"});
  ok.probe(390, "rows", {{"count", 30}, {"oldest_age_ms", 1300}, {"newest_age_ms", 350}})
      .finish(400);
  EXPECT_EQ(check("pruning", ok).verdict, "pass") << "a late probe: 950 ms of span";
}

TEST(PruningCheck, FailsWhenRowsAreNeverPruned) {
  HistoryBuilder b = healthy({"pruning"});
  b.probe(390, "rows", {{"count", 3}, {"oldest_age_ms", 5000}}).finish(400);
  const CheckResult r = check("pruning", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "rows older than retention are kept: never pruned?"))
      << r.summary;
  EXPECT_EQ(check("pruning", b, {{"slack_ms", 4500}}).verdict, "pass");
}

TEST(PruningCheck, FailsWhenTheRowsProbeFailed) {
  HistoryBuilder b = healthy({"pruning"});
  b.probe(390, "rows", {{"count", 0}, {"oldest_age_ms", nullptr}}, /*ok=*/false).finish(400);
  const CheckResult r = check("pruning", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_TRUE(contains(r.summary, "probe rows at +0.390 s failed")) << r.summary;
}

TEST(PruningCheck, PassesWhenEveryRowWasPruned) {
  HistoryBuilder b = healthy({"pruning"});
  b.probe(390, "rows", {{"count", 0}, {"oldest_age_ms", nullptr}}).finish(400);
  EXPECT_EQ(check("pruning", b).verdict, "pass") << dump(check("pruning", b));
}

TEST(PruningCheck, FailsWithoutTheRowsProbe) {
  const CheckResult r = check("pruning", healthy({"pruning"}).finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.summary, "probe rows not recorded");
}

// ---------------------------------------------------------------- judge

TEST(Judge, TheWorstCheckDecidesAndMetricsAreTheUnion) {
  HistoryBuilder b = one_late_delivery();
  std::vector<Json> history = b.finish(600).build();
  history[0]["checks"] = {"fanout", "latency"};
  const ScenarioVerdict v = judge(history);
  EXPECT_EQ(v.verdict, "fail");
  ASSERT_EQ(v.checks.size(), 4u) << "fanout, latency, then the implicit exits and flush_causes";
  EXPECT_EQ(v.checks[0].verdict, "pass");
  EXPECT_EQ(v.checks[1].verdict, "fail");
  EXPECT_EQ(v.checks[2].name, "exits");
  EXPECT_EQ(v.checks[3].name, "flush_causes");
  EXPECT_TRUE(contains(v.reason, "fail: latency:")) << v.reason;
  EXPECT_EQ(v.metrics["missing"], 0);
  EXPECT_EQ(v.metrics["latency_max_ms"], 401.0);
}

TEST(Judge, PassesEachCheckItsParams) {
  HistoryBuilder b = one_late_delivery();
  b.check_params("latency", {{"slack_ms", 500}});
  const ScenarioVerdict v = judge(b.finish(600).build());
  EXPECT_EQ(v.verdict, "pass") << v.to_json().dump(2);
  EXPECT_EQ(v.reason, "all 3 checks passed");
}

TEST(Judge, OnNameClashesTheFirstChecksMetricWins) {
  // fanout counts 2 acknowledged publishes as events, latency only the 1 it measured.
  HistoryBuilder b({"fanout", "latency"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20).publish(200, "w0", 2).finish(400);
  std::vector<Json> history = b.build();
  EXPECT_EQ(judge(history).metrics["events"], 2);
  history[0]["checks"] = {"latency", "fanout"};
  EXPECT_EQ(judge(history).metrics["events"], 1);
}

TEST(Judge, ASkipRecordSkipsEveryCheck) {
  HistoryBuilder b = healthy({"fanout", "latency"});
  b.skip(5, "worker lacks capability flush").finish(400);
  const ScenarioVerdict v = judge(b.build());
  EXPECT_EQ(v.verdict, "skip");
  EXPECT_TRUE(contains(v.reason, "worker lacks capability flush")) << v.reason;
  ASSERT_EQ(v.checks.size(), 2u);
  EXPECT_EQ(v.checks[1].verdict, "skip");
}

TEST(Judge, AnErrorRecordBeatsASkip) {
  HistoryBuilder b = healthy();
  b.skip(5, "no faketime").error(6, "worker w1 crashed before the workload").finish(400);
  const ScenarioVerdict v = judge(b.build());
  EXPECT_EQ(v.verdict, "error");
  EXPECT_TRUE(contains(v.reason, "worker w1 crashed")) << v.reason;
}

TEST(Judge, AnUnknownCheckIsAnError) {
  const ScenarioVerdict v = judge(healthy({"fanout", "telepathy"}).finish(400).build());
  EXPECT_EQ(v.verdict, "error");
  EXPECT_TRUE(contains(v.checks[1].summary, "unknown check \"telepathy\"")) << v.checks[1].summary;
  EXPECT_TRUE(contains(v.checks[1].summary, "fanout, isolation")) << v.checks[1].summary;
}

TEST(Judge, BadCheckParamsAndUnreadableHistoriesAreErrors) {
  std::vector<Json> history = healthy({"latency"}).finish(400).build();
  history[0]["check_params"] = {{"latency", 5}};
  EXPECT_EQ(judge(history).verdict, "error");
  history[0]["check_params"] = {{"latency", {{"slack_ms", "lots"}}}};
  EXPECT_TRUE(contains(judge(history).checks[0].summary, "slack_ms")) << judge(history).reason;
  history = healthy({"latency"}).finish(400).build();
  history.push_back({{"type", "op"}, {"t", 1}, {"worker", "w0"}, {"op", "publish"}});
  const ScenarioVerdict v = judge(history);
  EXPECT_EQ(v.verdict, "error");
  EXPECT_TRUE(contains(v.reason, "history unreadable")) << v.reason;
}

TEST(Judge, NeedsMetaAndAtLeastOneCheck) {
  EXPECT_EQ(judge({}).verdict, "error");
  std::vector<Json> history = healthy().finish(400).build();
  history.erase(history.begin());
  EXPECT_EQ(judge(history).verdict, "error");
  history = healthy().finish(400).build();
  history[0]["checks"] = Json::array();
  EXPECT_EQ(judge(history).verdict, "error");
}

TEST(Judge, ReproducedWhenACheckReproducesTheDocumentedFailure) {
  std::vector<Json> history = stall("reproduced").probe(3100, "integrity", "ok").build();
  history[0]["checks"] = {"staleness", "integrity"};
  const ScenarioVerdict v = judge(history);
  EXPECT_EQ(v.verdict, "reproduced") << v.to_json().dump(2);
  EXPECT_EQ(v.checks[1].verdict, "pass");
  EXPECT_TRUE(contains(v.reason, "documented failure reproduced: staleness")) << v.reason;
}

TEST(Judge, FailsWhenAReproducedScenarioReproducesNothing) {
  std::vector<Json> history =
      healthy({"integrity"}, "reproduced").finish(400).probe(1000, "integrity", "ok").build();
  const ScenarioVerdict v = judge(history);
  EXPECT_EQ(v.checks[0].verdict, "pass");
  EXPECT_EQ(v.verdict, "fail");
  EXPECT_TRUE(contains(v.reason, "no check reproduced it")) << v.reason;
}

TEST(Judge, CombinesVerdictsErrorFailSkipReproducedPass) {
  EXPECT_EQ(worst_verdict("pass", "reproduced"), "reproduced");
  EXPECT_EQ(worst_verdict("reproduced", "skip"), "skip");
  EXPECT_EQ(worst_verdict("fail", "skip"), "fail");
  EXPECT_EQ(worst_verdict("fail", "error"), "error");
  EXPECT_EQ(worst_verdict("error", "pass"), "error");
}

TEST(CheckResult, SerialisesAsResultsJsonAndOmitsEmptyDetails) {
  const CheckResult fanout = check("fanout", healthy().finish(400));
  const Json j = fanout.to_json();
  EXPECT_EQ(j["name"], "fanout");
  EXPECT_EQ(j["verdict"], "pass");
  EXPECT_TRUE(j["evidence"].is_array());
  EXPECT_FALSE(j.contains("details"));
  const Json latency = check("latency", healthy({"latency"}).finish(400)).to_json();
  EXPECT_TRUE(latency["details"].contains("latencies_ms"));
  const Json v = judge(healthy().finish(400).build()).to_json();
  EXPECT_EQ(v["verdict"], "pass");
  EXPECT_EQ(v["checks"][0]["name"], "fanout");
}

// ---------------------------------------------------------------- exits, flush_causes

TEST(ExitsCheck, AWorkerThatDiesOnItsOwnFailsTheScenario) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1", "w2"}).fan(100, "w0", 1, 20).exit(150, "w2", -11, false);
  b.fan(200, "w0", 2, 20, {"w2"}).finish(600);
  const ScenarioVerdict v = judge(b.build());
  EXPECT_EQ(v.verdict, "fail") << v.to_json().dump(2);
  const CheckResult r = check("exits", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unexpected_exits"], 1);
  EXPECT_TRUE(has_line(r, "w2 exited on its own at +0.150 s (killed by signal 11")) << dump(r);
  EXPECT_EQ(check("exits", healthy().finish(400)).verdict, "pass");
}

TEST(FlushCausesCheck, AFlushWithoutAFaultFailsAndAStallAfterAPauseIsExplained) {
  HistoryBuilder spurious({"fanout"});
  spurious.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20).flushed(300, "w1").finish(600);
  const CheckResult bad = check("flush_causes", spurious);
  EXPECT_EQ(bad.verdict, "fail") << dump(bad);
  EXPECT_EQ(bad.metrics["unexplained_flushes"], 1);
  EXPECT_TRUE(has_line(bad, "w1 flushed its cache at +0.300 s")) << dump(bad);
  EXPECT_EQ(judge(spurious.build()).verdict, "fail");

  const CheckResult paused = check("flush_causes", stall("pass", [](HistoryBuilder& b) {
                                     b.ev(1650, "w2", "flushed", {{"reason", "stall"}});
                                   }));
  EXPECT_EQ(paused.verdict, "pass") << dump(paused);
  const CheckResult other = check("flush_causes", stall("pass", [](HistoryBuilder& b) {
                                    b.ev(1650, "w1", "flushed", {{"reason", "stall"}});
                                  }));
  EXPECT_EQ(other.verdict, "fail") << "w1 was not paused: " << dump(other);
  const CheckResult late = check("flush_causes", stall("pass", [](HistoryBuilder& b) {
                                   b.ev(1650 + 3500, "w2", "flushed", {{"reason", "gap"}});
                                 }));
  EXPECT_EQ(late.verdict, "fail") << "3.5 s after the pause ended: " << dump(late);
}

TEST(OrderCheck, ADeliveryThatOvertakesAnEarlierPublishOfTheSamePublisherFails) {
  HistoryBuilder in_order({"order"});
  in_order.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20).fan(200, "w0", 2, 20).finish(500);
  EXPECT_EQ(check("order", in_order).verdict, "pass") << dump(check("order", in_order));

  HistoryBuilder swapped({"order"});
  swapped.start_workers({"w0", "w1"})
      .publish(100, "w0", 1)
      .publish(110, "w0", 2)
      .receive(130, "w1", 2)
      .receive(140, "w1", 1)
      .finish(500);
  const CheckResult r = check("order", swapped);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["inversions"], 1);
  EXPECT_TRUE(has_line(r, "w1 received publish 2 of w0 at +0.130 s, before publish 1 (at +0.140 s)")) << dump(r);

  HistoryBuilder one({"order"});
  one.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20).finish(500);
  EXPECT_EQ(check("order", one).verdict, "fail") << "a single publish shows no order";
}

// After a restore in place the listener reads the restored rows again: a
// replay of the file's earlier history, not publish 1 overtaken by 2.
TEST(OrderCheck, ARowReadAgainAfterARestoreIsNotAnInversion) {
  auto run = [](const char* action) {
    HistoryBuilder b({"order"});
    b.start_workers({"w0", "w1", "w2"}).publish(100, "w0", 1).publish(110, "w0", 2);
    b.receive(130, "w1", 2).receive(131, "w2", 1).receive(132, "w2", 2);
    b.fault(200, action, "instant").flushed(210, "w1").receive(220, "w1", 1);
    return check("order", b.finish(500));
  };
  EXPECT_EQ(run("restore_db").verdict, "pass") << dump(run("restore_db"));
  EXPECT_EQ(run("replace_db").verdict, "pass");
  EXPECT_EQ(run("pause").verdict, "fail") << "a pause is no reason to deliver out of order";
}

TEST(StalenessCheck, AFlushDuringThePublishCallCoversIt) {
  // The row committed somewhere in [t_begin, t_commit]; w1 flushed (and
  // reseeded past it) before published.t was written.
  HistoryBuilder b({"staleness"});
  b.start_workers({"w0", "w1"})
      .fault(90, "restore_db", "instant")
      .publish_op(100, "w0", 1)
      .flushed(102.5, "w1")  // published(103) began at 102
      .published(103, "w0", 1)
      .finish(600);
  const CheckResult r = check("staleness", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["flushed_events"], 1);
  HistoryBuilder early({"staleness"});
  early.start_workers({"w0", "w1"})
      .fault(90, "restore_db", "instant")
      .flushed(95, "w1")
      .publish_op(100, "w0", 1)
      .published(103, "w0", 1)
      .finish(600);
  EXPECT_EQ(check("staleness", early).verdict, "fail") << "a flush before the call covers nothing";
}

TEST(FlushCausesCheck, AFlushJustBeforeTheFaultRecordIsExplained) {
  // The harness writes the record once it has replaced the file.
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20);
  b.ev(198, "w1", "flushed", {{"reason", "replaced_file"}}).fault(200, "replace_db", "instant");
  b.finish(600);
  EXPECT_EQ(check("flush_causes", b).verdict, "pass") << dump(check("flush_causes", b));
  HistoryBuilder long_before({"fanout"});
  long_before.start_workers({"w0", "w1"}).fan(100, "w0", 1, 20);
  long_before.ev(120, "w1", "flushed", {{"reason", "replaced_file"}});
  long_before.fault(900, "replace_db", "instant").finish(1200);
  EXPECT_EQ(check("flush_causes", long_before).verdict, "fail");
}

TEST(CheckNames, ListsEveryDocumentedCheck) {
  EXPECT_EQ(check_names(),
            (std::vector<std::string>{"fanout", "isolation", "no_replay", "latency", "staleness",
                                      "rejection", "sidecars", "integrity", "crash_safety",
                                      "lock_contention", "pruning", "reconnect", "disk_full",
                                      "io_fault", "wake_latency", "wake_fallback", "stale_reads",
                                      "exits", "flush_causes", "order", "outbox"}));
  EXPECT_EQ(implicit_checks(), (std::vector<std::string>{"exits", "flush_causes"}));
}

}  // namespace
}  // namespace pjx::harness
