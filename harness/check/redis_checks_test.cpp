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

}  // namespace
}  // namespace pjx::harness
