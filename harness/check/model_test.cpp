#include "check/model.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

#include "check/history_builder_for_test.hpp"

namespace pjx::harness {
namespace {

using testing::HistoryBuilder;

TEST(HistoryModel, ARestartStartsANewIncarnationThatOwnsLaterEvents) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1"})
      .fault(100, "kill", "begin", "w1")
      .exit(101, "w1", -9, false)
      .fault(102, "kill", "end", "w1")
      .spawn(110, "w1")
      .start(120, "w1")
      .fan(200, "w0", 1, 10);
  const HistoryModel m = build_model(b.build());
  ASSERT_EQ(m.incarnations.size(), 3u);
  const Incarnation& first = m.incarnations[1];
  const Incarnation& second = m.incarnations[2];
  EXPECT_EQ(first.label(), "w1");
  EXPECT_EQ(second.label(), "w1#1");
  EXPECT_EQ(first.t_end(), HistoryBuilder::ns(100));  // the kill, before the exit
  EXPECT_EQ(first.exit_status, -9);
  EXPECT_FALSE(second.t_end().has_value());
  EXPECT_TRUE(first.deliveries.empty());
  ASSERT_EQ(second.deliveries.size(), 1u);
  EXPECT_EQ(m.deliveries[second.deliveries[0]].publish_id, 1);
  EXPECT_EQ(second.t_start_op, HistoryBuilder::ns(120));
}

// host_lag records come after the records of the time they cover (written
// when the probe stops): the model sorts them, and counts each stalled
// instant once.
TEST(HistoryModel, SortsHostLagsAndMeasuresTheStallWithinAnInterval) {
  HistoryBuilder b({"latency"});
  b.start_workers({"w0"}).host_lag(300, 400).host_lag(100, 150).host_lag(120, 180).finish(500);
  const HistoryModel m = build_model(b.build());
  ASSERT_EQ(m.host_lags.size(), 3u);
  EXPECT_EQ(m.host_lags[0].from, HistoryBuilder::ns(100));
  EXPECT_EQ(m.host_lags[2].from, HistoryBuilder::ns(300));
  EXPECT_EQ(m.host_lag_within(HistoryBuilder::ns(0), HistoryBuilder::ns(500)),
            HistoryBuilder::ns(80 + 100));
  EXPECT_EQ(m.host_lag_within(HistoryBuilder::ns(130), HistoryBuilder::ns(350)),
            HistoryBuilder::ns(50 + 50));
  EXPECT_EQ(m.host_lag_within(HistoryBuilder::ns(190), HistoryBuilder::ns(290)), 0);
  EXPECT_TRUE(m.anomalies.empty());
}

// A stall that begins just before the deadline counts whole, in one pass
// (the deadline moves past it); one that ends before `from` counts not at
// all, one that begins at or after the moved deadline neither; only the
// part of a stall after `from` counts.
TEST(HistoryModel, ExtendsADeadlineByTheStallsAfterAPoint) {
  HistoryBuilder b({"latency"});
  b.start_workers({"w0"}).host_lag(40, 60).host_lag(299, 399).host_lag(405, 430).finish(500);
  const HistoryModel m = build_model(b.build());
  const auto ns = [](double ms) { return HistoryBuilder::ns(ms); };
  EXPECT_EQ(m.extend_by_host_lag(ns(100), ns(300)), ns(300 + 100));
  EXPECT_EQ(m.extend_by_host_lag(ns(50), ns(300)), ns(300 + 10 + 100 + 25));
  EXPECT_EQ(m.extend_by_host_lag(ns(100), ns(299)), ns(299));
}

TEST(HistoryModel, AHostLagEndingBeforeItBeginsIsAnAnomaly) {
  HistoryBuilder b({"latency"});
  b.start_workers({"w0"}).host_lag(300, 200).finish(500);
  const HistoryModel m = build_model(b.build());
  ASSERT_EQ(m.anomalies.size(), 1u);
  EXPECT_NE(m.anomalies[0].find("host_lag"), std::string::npos) << m.anomalies[0];
  EXPECT_EQ(m.host_lag_within(HistoryBuilder::ns(0), HistoryBuilder::ns(500)), 0);
}

TEST(HistoryModel, TakesEachWorkersChannelFromMetaWorkersElseParams) {
  HistoryBuilder b({"isolation"});
  b.worker("w0", {{"channel", "a"}}).worker("w1").start_workers({"w0", "w1"});
  const HistoryModel m = build_model(b.build());
  EXPECT_EQ(m.incarnations[0].channel, "a");
  EXPECT_EQ(m.incarnations[1].channel, "c");
}

TEST(HistoryModel, MatchesDeliveriesToPublishesByTheirExactKeySet) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0", "w1"})
      .publish(100, "w0", 7)
      .receive_keys(110, "w1", {"k:7", "e:7", "k:7"})  // order and repeats do not matter
      .receive_keys(120, "w1", {"e:7"});               // a subset is no match
  const HistoryModel m = build_model(b.build());
  ASSERT_EQ(m.deliveries.size(), 2u);
  EXPECT_EQ(m.deliveries[0].publish_id, 7);
  EXPECT_EQ(m.deliveries[1].publish_id, kUnmatched);
  const Publish* p = m.find_publish(7);
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->acked());
  EXPECT_EQ(p->t_commit, HistoryBuilder::ns(102));
  EXPECT_EQ(p->begin(), HistoryBuilder::ns(101));
  EXPECT_EQ(m.deliveries_of(1, 7).size(), 1u);
}

TEST(HistoryModel, AnErrorAnswerMeansThePublishDidNotCommit) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0"}).publish_op(100, "w0", 1).publish_error(101, "w0", 1, "locked");
  const HistoryModel m = build_model(b.build());
  EXPECT_FALSE(m.find_publish(1)->acked());
  EXPECT_EQ(m.find_publish(1)->error, "locked");
}

TEST(HistoryModel, PairsFaultWindowsAndEndsOpenOnesAtTheHistoryEnd) {
  HistoryBuilder b({"staleness"});
  b.start_workers({"w0", "w1"})
      .pause(100, 300, "w1")
      .fault(150, "clock_step", "instant")
      .fault(200, "lock", "begin")
      .phase(900, "teardown");
  const HistoryModel m = build_model(b.build());
  ASSERT_EQ(m.faults.size(), 3u);
  EXPECT_EQ(m.faults[0].action, "pause");
  EXPECT_EQ(m.faults[0].incarnation, 1u);
  EXPECT_DOUBLE_EQ(m.faults[0].ms(), 200);
  EXPECT_TRUE(m.faults[1].instant);
  EXPECT_EQ(m.faults[1].begin, m.faults[1].end);
  EXPECT_TRUE(m.faults[2].open);
  EXPECT_EQ(m.faults[2].end, HistoryBuilder::ns(900));
  EXPECT_EQ(m.faults_of(1, "pause").size(), 1u);
  EXPECT_TRUE(m.faults_of(0).empty());
}

TEST(HistoryModel, QuiesceEndsWhenTheNextPhaseBegins) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0"}).phase(400, "quiesce").phase(700, "check").phase(800, "teardown");
  EXPECT_EQ(build_model(b.build()).quiesce_end(), HistoryBuilder::ns(700));
  HistoryBuilder no_quiesce({"fanout"});
  no_quiesce.start_workers({"w0"}).phase(900, "teardown");
  EXPECT_EQ(build_model(no_quiesce.build()).quiesce_end(), HistoryBuilder::ns(900));
}

TEST(HistoryModel, ListsRecordsItCannotAttribute) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0"}).ev(100, "ghost", "received", {{"keys", {"x"}}});
  const HistoryModel m = build_model(b.build());
  ASSERT_EQ(m.anomalies.size(), 1u) << ::testing::PrintToString(m.anomalies);
  EXPECT_NE(m.anomalies[0].find("ghost"), std::string::npos);
  EXPECT_TRUE(m.deliveries.empty());
}

TEST(HistoryModel, NamesTheRecordThatLacksAField) {
  HistoryBuilder b({"fanout"});
  b.start_workers({"w0"}).op(100, "w0", "publish", {{"keys", {"a"}}});  // no id
  try {
    build_model(b.build());
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    // meta is record 1; setup, spawn, start phase, start op, ready, workload phase, then this.
    EXPECT_NE(std::string(e.what()).find("history record 8 (op)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("\"id\""), std::string::npos) << e.what();
  }
}

TEST(HistoryModel, RequiresPollIntervalAndRetentionInMeta) {
  std::vector<Json> history = HistoryBuilder({"fanout"}).build();
  history[0]["params"].erase("retention_ms");
  EXPECT_THROW(build_model(history), std::runtime_error);
}

}  // namespace
}  // namespace pjx::harness
