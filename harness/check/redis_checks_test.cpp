// The checks' Redis rules: fanout with params.self, crash_safety without a
// database, and the reconnect check (checkers.hpp, rule 14).
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "check/checkers.hpp"
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

std::string dump(const CheckResult& r) { return r.to_json().dump(2); }

// ---------------------------------------------------------------- fanout, self

// w0 and w1 each publish once; every worker, the publisher too, receives it.
HistoryBuilder echoed(bool w0_gets_its_own = true) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1", "w2"}).fan(100, "w0", 1, 20).fan(200, "w1", 2, 20);
  if (w0_gets_its_own) b.receive(121, "w0", 1);
  b.receive(221, "w1", 2);
  return b;
}

TEST(FanoutSelfRule, ExpectedPassesWhenEveryPublisherGetsItsOwnPublishOnce) {
  const CheckResult r = check("fanout", echoed().finish(400), {{"self", "expected"}});
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["own_required"], 2);
  EXPECT_EQ(r.metrics["own_delivered"], 2);
  EXPECT_EQ(r.metrics["self_deliveries"], 0);
}

TEST(FanoutSelfRule, ExpectedFailsWhenAPublisherDropsItsOwnPublish) {
  const CheckResult r = check("fanout", echoed(false).finish(400), {{"self", "expected"}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["missing"], 1);
  EXPECT_TRUE(has_line(r, "w0 never received its own publish 1")) << dump(r);
}

TEST(FanoutSelfRule, ExpectedStillFailsOnADuplicateOwnDelivery) {
  const CheckResult r =
      check("fanout", echoed().receive(130, "w0", 1).finish(400), {{"self", "expected"}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["duplicates"], 1);
}

TEST(FanoutSelfRule, AllowedNeitherRequiresNorForbidsOwnDeliveries) {
  EXPECT_EQ(check("fanout", echoed(false).finish(400), {{"self", "allowed"}}).verdict, "pass");
  EXPECT_EQ(check("fanout", echoed(true).finish(400), {{"self", "allowed"}}).verdict, "pass");
}

TEST(FanoutSelfRule, ForbiddenIsTheDefault) {
  const CheckResult r = check("fanout", echoed().finish(400));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["self_deliveries"], 2);
}

TEST(FanoutSelfRule, ABadValueIsAnErrorNamingTheParameter) {
  const CheckResult r = check("fanout", echoed().finish(400), {{"self", "sometimes"}});
  EXPECT_EQ(r.verdict, "error");
  EXPECT_NE(r.summary.find("\"self\""), std::string::npos) << r.summary;
}

TEST(CrashSafetyWithoutADatabase, PassesWithoutAnIntegrityProbeWhenTheScenarioSaysSo) {
  HistoryBuilder b({"crash_safety"});
  b.start_workers({"w0", "w1", "w2"})
      .fan(100, "w0", 1, 20)
      .fault(150, "kill", "instant", "w2")
      .exit(151, "w2", -9)
      .fan(200, "w0", 2, 20, {"w2"})
      .finish(400);
  EXPECT_EQ(check("crash_safety", b).verdict, "fail");  // the probe is required by default
  EXPECT_EQ(check("crash_safety", b, {{"integrity", false}}).verdict, "pass");
}

// ---------------------------------------------------------------- reconnect

HistoryBuilder& flushed_reconnect(HistoryBuilder& b, double ms, const std::string& w) {
  return b.ev(ms, w, "flushed", {{"reason", "reconnect"}});
}

// w2's subscription is killed at 150 ms; `react` adds what w2 does; publish 1
// before, 2 during the gap (w2 misses it), 3 after, unless told otherwise.
HistoryBuilder client_killed(const std::function<void(HistoryBuilder&)>& react) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1", "w2"})
      .fan(100, "w0", 1, 5)
      .fault(150, "client_kill", "instant", "w2");
  b.fan(160, "w0", 2, 5, {"w2"});
  react(b);
  b.fan(300, "w1", 3, 5).finish(500);
  return b;
}

TEST(ReconnectCheck, PassesWhenTheKilledSubscriberFlushesAndMissesOnlyTheGap) {
  const CheckResult r =
      check("reconnect", client_killed([](HistoryBuilder& b) { flushed_reconnect(b, 190, "w2"); }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["disruptions"], 1);
  EXPECT_EQ(r.metrics["missed_while_disconnected"], 1);
  EXPECT_EQ(r.metrics["lost"], 0);
  EXPECT_EQ(r.metrics["max_flush_ms"], 40.0);
}

TEST(ReconnectCheck, FailsWhenTheSubscriberNeverFlushes) {
  const CheckResult r = check("reconnect", client_killed([](HistoryBuilder&) {}));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unflushed"], 1);
  EXPECT_TRUE(has_line(r, "w2 lost its connection (client_kill at")) << dump(r);
  // Without the flush, the publish it missed is not excused either.
  EXPECT_EQ(r.metrics["lost"], 1);
}

TEST(ReconnectCheck, FailsWhenTheFlushComesTooLate) {
  const CheckResult r =
      check("reconnect", client_killed([](HistoryBuilder& b) { flushed_reconnect(b, 250, "w2"); }),
            {{"flush_within_ms", 50}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["late_flushes"], 1);
  EXPECT_TRUE(has_line(r, "w2 flushed 100.0 ms after client_kill")) << dump(r);
}

TEST(ReconnectCheck, FailsWhenANewerPublishIsDeliveredBeforeTheFlush) {
  const CheckResult r = check("reconnect", client_killed([](HistoryBuilder& b) {
                                b.fan(200, "w0", 4, 5);           // reaches w2 at 207 ...
                                flushed_reconnect(b, 240, "w2");  // ... before its flush
                              }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["delivered_before_flush"], 1);
  EXPECT_TRUE(has_line(r, "w2 received publish 4")) << dump(r);
}

TEST(ReconnectCheck, FailsWhenAPublishCommittedWhileConnectedIsMissing) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1", "w2"})
      .fan(60, "w0", 1, 5, {"w1"})  // w1 was connected and still misses it
      .fault(150, "client_kill", "instant", "w2");
  flushed_reconnect(b, 180, "w2");
  b.fan(300, "w1", 3, 5).finish(500);
  const CheckResult r = check("reconnect", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["lost"], 1);
  EXPECT_TRUE(has_line(r, "w1 never received publish 1 from w0")) << dump(r);
}

// redis-server down from 150 to 250 ms; `during` adds the outage's publishes.
HistoryBuilder outage(const std::function<void(HistoryBuilder&)>& during) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 5).fault(150, "redis_restart", "begin");
  during(b);
  b.fault(250, "redis_restart", "end");
  flushed_reconnect(b, 280, "w0");
  flushed_reconnect(b, 290, "w1");
  b.fan(320, "w1", 3, 5).finish(500);
  return b;
}

TEST(ReconnectCheck, PassesWhenOutagePublishesReportErrorAndEveryoneFlushes) {
  const CheckResult r = check("reconnect", outage([](HistoryBuilder& b) {
                                b.publish_op(170, "w0", 2).publish_error(171, "w0", 2, "refused");
                              }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["disruptions"], 2);
  EXPECT_EQ(r.metrics["outage_errors"], 1);
}

TEST(ReconnectCheck, FailsWhenAPublishIsAcknowledgedWhileTheServerIsDown) {
  const CheckResult r =
      check("reconnect", outage([](HistoryBuilder& b) { b.publish(170, "w0", 2); }));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["acked_during_outage"], 1);
  EXPECT_TRUE(has_line(r, "was acknowledged at")) << dump(r);
}

TEST(ReconnectCheck, FailsWhenNoPublishIsSentDuringTheOutage) {
  const CheckResult r = check("reconnect", outage([](HistoryBuilder&) {}));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_NE(r.summary.find("no publish was sent during the outage"), std::string::npos)
      << r.summary;
}

// redis-server stopped (SIGSTOP) from 150 to 450 ms; `react` adds each
// worker's flushes. A publish during the stop reports an error.
HistoryBuilder silent_server(const std::function<void(HistoryBuilder&)>& react) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 5).fault(150, "redis_pause", "begin");
  b.publish_op(170, "w0", 2).publish_error(370, "w0", 2, "timed out");
  react(b);
  b.fault(450, "redis_pause", "end");
  b.fan(600, "w1", 3, 5).finish(800);
  return b;
}

HistoryBuilder& flushed_disconnected(HistoryBuilder& b, double ms, const std::string& w) {
  return b.ev(ms, w, "flushed", {{"reason", "disconnected"}});
}

TEST(ReconnectCheck, PassesWhenEveryListenerNoticesASilentServerAndFlushesAgainOnReconnect) {
  const CheckResult r = check("reconnect", silent_server([](HistoryBuilder& b) {
                                flushed_disconnected(b, 250, "w0");
                                flushed_disconnected(b, 260, "w1");
                                flushed_reconnect(b, 480, "w0");
                                flushed_reconnect(b, 490, "w1");
                              }),
                              {{"notice_within_ms", 200}});
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["silent_judged"], 2);
  EXPECT_EQ(r.metrics["unnoticed"], 0);
  EXPECT_EQ(r.metrics["max_notice_ms"], 110.0);
  EXPECT_EQ(r.metrics["max_flush_ms"], 40.0);  // the reconnect flush, after the end
  EXPECT_EQ(r.metrics["outage_errors"], 1);
}

TEST(ReconnectCheck, FailsWhenASilentServerGoesUnnoticed) {
  // w1 has no health check: its connection survived, it never flushed.
  const CheckResult r = check("reconnect", silent_server([](HistoryBuilder& b) {
                                flushed_disconnected(b, 250, "w0");
                                flushed_reconnect(b, 480, "w0");
                              }),
                              {{"notice_within_ms", 200}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unnoticed"], 1);
  EXPECT_TRUE(has_line(r, "w1 did not flush within 200 ms of redis_pause")) << dump(r);
  EXPECT_TRUE(has_line(r, "it never flushed")) << dump(r);
}

TEST(ReconnectCheck, FailsWhenASilentServerIsNoticedOnlyAfterItAnswersAgain) {
  // Without a health check, a flush comes only if something else breaks the
  // connection later: too late, the cache was kept through the silence.
  const CheckResult r = check("reconnect", silent_server([](HistoryBuilder& b) {
                                flushed_disconnected(b, 250, "w0");
                                flushed_reconnect(b, 480, "w0");
                                flushed_reconnect(b, 470, "w1");
                              }),
                              {{"notice_within_ms", 200}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unnoticed"], 1);
  EXPECT_TRUE(has_line(r, "its first flush came 320.0 ms after")) << dump(r);
}

TEST(ReconnectCheck, AFlushAtTheLossDoesNotStandInForTheOneAfterResubscribing) {
  // w1 flushed when it noticed the silence but not once subscribed again.
  // The second flush is required: it covers whatever was loaded between the
  // loss and the new subscription, and tells the cache it may keep entries
  // again.
  const CheckResult r = check("reconnect", silent_server([](HistoryBuilder& b) {
                                flushed_disconnected(b, 250, "w0");
                                flushed_disconnected(b, 260, "w1");
                                flushed_reconnect(b, 480, "w0");
                              }),
                              {{"notice_within_ms", 200}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unflushed"], 1);
  EXPECT_EQ(r.metrics["unnoticed"], 0);
}

TEST(ReconnectCheck, AShortSilenceIsNotJudgedForNoticing) {
  const CheckResult r = check("reconnect", silent_server([](HistoryBuilder& b) {
                                flushed_reconnect(b, 480, "w0");
                                flushed_reconnect(b, 490, "w1");
                              }));  // default 3000 ms: longer than the 300 ms silence
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["silent_judged"], 0);
}

TEST(ReconnectCheck, CountsAPauseAsADisruptionOnlyWhenTheScenarioSaysSo) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1", "w2"}).fan(100, "w0", 1, 5).pause(150, 300, "w2");
  b.fan(200, "w0", 2, 5, {"w2"});
  flushed_reconnect(b, 320, "w2");
  b.fan(400, "w1", 3, 5).finish(600);
  EXPECT_EQ(check("reconnect", b, {{"pause_disconnects", true}}).verdict, "pass");
  // Not a disruption: nothing excuses the missed publish 2.
  const CheckResult r = check("reconnect", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["lost"], 1);
}

TEST(ReconnectCheck, FailsWhenNoConnectionWasLost) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 5).finish(300);
  const CheckResult r = check("reconnect", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_NE(r.summary.find("no listener lost its connection"), std::string::npos) << r.summary;
}

TEST(ReconnectCheck, FailsWhenDeliveryDoesNotResume) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1", "w2"})
      .fan(100, "w0", 1, 5)
      .fault(150, "client_kill", "instant", "w2");
  flushed_reconnect(b, 190, "w2");
  b.fan(300, "w0", 3, 5, {"w2"}).finish(500);
  const CheckResult r = check("reconnect", b);
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_NE(r.summary.find("delivery did not resume"), std::string::npos) << r.summary;
}

// ---------------------------------------------------------------- failover

// Sentinel fails over: the primary killed at 1000 ms (dead at 1001), every
// sentinel still names it at the sweep of 2650 ms, one names the replica at
// the sweep of 2700 ms (the window's end). `during` adds publishes of the
// switch, `react` the workers' flushes; publish 9 after it reaches both.
HistoryBuilder failover(const std::function<void(HistoryBuilder&)>& during,
                        const std::function<void(HistoryBuilder&)>& react) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 5);
  b.record({{"type", "fault"},
            {"t", testing::HistoryBuilder::ns(1000)},
            {"action", "redis_failover"},
            {"phase", "begin"},
            {"params", Json::object()}});
  during(b);
  react(b);
  b.record({{"type", "fault"},
            {"t", testing::HistoryBuilder::ns(2700)},
            {"action", "redis_failover"},
            {"phase", "end"},
            {"params",
             {{"killed_t", testing::HistoryBuilder::ns(1001)},
              {"unswitched_t", testing::HistoryBuilder::ns(2650)},
              {"switch_ms", 1699.0}}}});
  b.fan(3500, "w1", 9, 5).finish(4000);
  return b;
}

void both_flush(HistoryBuilder& b) {
  flushed_disconnected(b, 1003, "w0");
  flushed_disconnected(b, 1004, "w1");
  flushed_reconnect(b, 2900, "w0");
  flushed_reconnect(b, 2950, "w1");
}

TEST(ReconnectCheckFailover, PassesWhenEveryListenerFlushesAtTheKillAndOnTheNewPrimary) {
  const CheckResult r = check(
      "reconnect",
      failover([](HistoryBuilder& b) { b.publish_op(1200, "w0", 2).publish_error(1300, "w0", 2); },
               both_flush));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["disruptions"], 2);
  EXPECT_EQ(r.metrics["outage_errors"], 1);
  EXPECT_EQ(r.details["failover"]["first_flush_after_kill_ms"], Json({3.0, 4.0}));
  EXPECT_EQ(r.details["failover"]["switch_flush_after_kill_ms"], Json({1900.0, 1950.0}));
}

TEST(ReconnectCheckFailover, FailsWhenAPublishIsAcknowledgedBeforeAnySentinelNamedTheNewPrimary) {
  // No server was the primary from the kill to 2650 ms: the acknowledgement
  // is a lie (a worker that swallowed the publish's error).
  const CheckResult r =
      check("reconnect", failover([](HistoryBuilder& b) { b.publish(1200, "w0", 2); }, both_flush));
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["acked_during_outage"], 1);
  EXPECT_TRUE(has_line(r, "while every sentinel still named the dead primary")) << dump(r);
}

TEST(ReconnectCheckFailover, AcceptsAPublishAcknowledgedOnceASentinelNamedTheNewPrimary) {
  // Acknowledged by the new primary before the listeners resubscribed: their
  // flushes on the new primary cover it.
  const CheckResult r =
      check("reconnect", failover([](HistoryBuilder& b) { b.publish(2660, "w0", 2); }, both_flush));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["failover_acked"], 1);
  EXPECT_EQ(r.metrics["acked_during_outage"], 0);
}

TEST(ReconnectCheckFailover, IsJudgedForNoticingHoweverShortTheSwitch) {
  // The window (1.7 s) is shorter than notice_within_ms (2 s), which would
  // exempt a silent server; w1 flushes only once resubscribed, 2.1 s after
  // the kill: it kept its cache while nothing could reach it.
  const CheckResult r = check(
      "reconnect",
      failover([](HistoryBuilder& b) { b.publish_op(1200, "w0", 2).publish_error(1300, "w0", 2); },
               [](HistoryBuilder& b) {
                 flushed_disconnected(b, 1003, "w0");
                 flushed_reconnect(b, 2900, "w0");
                 flushed_reconnect(b, 3100, "w1");
               }),
      {{"notice_within_ms", 2000}});
  EXPECT_EQ(r.verdict, "fail");
  EXPECT_EQ(r.metrics["unnoticed"], 1);
  EXPECT_TRUE(has_line(r, "w1 did not flush within 2000 ms of redis_failover")) << dump(r);
}

// ---------------------------------------------------------------- partitions

// A partition record (hosts = true): `hosts` cut from the others from
// begin_ms to end_ms.
HistoryBuilder& partition(HistoryBuilder& b, double begin_ms, double end_ms, const Json& hosts) {
  b.record({{"type", "fault"},
            {"t", testing::HistoryBuilder::ns(begin_ms)},
            {"action", "partition"},
            {"phase", "begin"},
            {"params", {{"hosts", hosts}, {"direction", "both"}}}});
  return b.record({{"type", "fault"},
                   {"t", testing::HistoryBuilder::ns(end_ms)},
                   {"action", "partition"},
                   {"phase", "end"},
                   {"params", {{"hosts", hosts}, {"direction", "both"}}}});
}

// w2 is cut from 1000 to 9000 ms; publish 1 before, 2 during (w2 misses
// it), 3 after the heal.
HistoryBuilder w2_partitioned(const std::function<void(HistoryBuilder&)>& react) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1", "w2"}).fan(100, "w0", 1, 5);
  partition(b, 1000, 9000, Json{"w2"});
  b.fan(5000, "w0", 2, 5, {"w2"});
  react(b);
  b.fan(9500, "w1", 3, 5).finish(10000);
  return b;
}

TEST(ReconnectCheckPartition, PassesWhenTheHealthCheckFlushesWithinTheBoundOfTheStart) {
  const CheckResult r = check("reconnect", w2_partitioned([](HistoryBuilder& b) {
                                // The PING went unanswered: flushed at once ...
                                b.ev(3000, "w2", "flushed", {{"reason", "disconnected"}});
                                // ... and again once resubscribed after the heal.
                                flushed_reconnect(b, 9050, "w2");
                              }));
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["disruptions"], 1);  // w2 only: w0 and w1 were not cut
  EXPECT_EQ(r.metrics["silent_judged"], 1);
  EXPECT_EQ(r.metrics["max_notice_ms"], 2000.0);
  EXPECT_EQ(r.metrics["missed_while_disconnected"], 1);
  EXPECT_NE(r.bound.find("partition cutting the listener"), std::string::npos) << r.bound;
}

TEST(ReconnectCheckPartition, FailsWhenTheFlushComesOnlyAtTheHeal) {
  // What a backend without a health check, or one that flushes only once
  // resubscribed, does: stale for the partition's whole length.
  const CheckResult r = check(
      "reconnect", w2_partitioned([](HistoryBuilder& b) { flushed_reconnect(b, 9050, "w2"); }));
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["unnoticed"], 1);
  EXPECT_TRUE(has_line(r, "w2 did not flush within 3000 ms of partition at")) << dump(r);
  EXPECT_TRUE(has_line(r, "its first flush came 8050.0 ms after")) << dump(r);
}

TEST(ReconnectCheckPartition, ACutRedisHostCutsEveryWorker) {
  HistoryBuilder b({"reconnect"});
  b.start_workers({"w0", "w1"}).fan(100, "w0", 1, 5);
  partition(b, 1000, 5000, Json{"redis"});
  b.ev(2500, "w0", "flushed", {{"reason", "disconnected"}});
  b.ev(2600, "w1", "flushed", {{"reason", "disconnected"}});
  flushed_reconnect(b, 5050, "w0");
  flushed_reconnect(b, 5050, "w1");
  b.fan(6000, "w1", 2, 5).finish(7000);
  const CheckResult r = check("reconnect", b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["disruptions"], 2);
  EXPECT_EQ(r.metrics["silent_judged"], 2);
}

// w2 caches k0 (version 0) before the partition; w0 writes k0 (version 1)
// just after it began; w2 reads k0 again at `read_ms` and still gets 0.
HistoryBuilder stale_while_cut(double read_ms, bool partitioned = true) {
  HistoryBuilder b({"stale_reads"});
  b.start_workers({"w0", "w1", "w2"});
  b.read(500, "w2", 1, "k0", 0, false);
  if (partitioned) partition(b, 1000, 9000, Json{"w2"});
  b.write(1100, "w0", 2, "k0", 1);
  b.read(read_ms, "w2", 3, "k0", 0, true);
  b.read(read_ms + 10, "w1", 4, "k0", 1, false);
  return b.finish(10000);
}

TEST(StaleReadsPartition, AllowsTheHealthCheckBoundFromThePartitionsStart) {
  // 2999 ms after the partition began: within the bound (3000 ms).
  const CheckResult r = run_check("stale_reads", stale_while_cut(3999).build(), Json::object());
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_NE(r.bound.find("a partition cutting the reader from it 3000 ms after it began"),
            std::string::npos)
      << r.bound;
  // The same read without the partition is stale: the rule is what allows it.
  EXPECT_EQ(run_check("stale_reads", stale_while_cut(3999, false).build(), Json::object()).verdict,
            "fail");
}

TEST(StaleReadsPartition, FailsPastTheBoundHoweverLongThePartitionLasts) {
  const CheckResult r = run_check("stale_reads", stale_while_cut(4200).build(), Json::object());
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["stale_reads"], 1);
}

}  // namespace
}  // namespace pjx::harness
