// summary.json's schedule: the applied faults of chaos kinds as the history
// shows them, with whether each reached its path, from synthetic histories.
#include <gtest/gtest.h>

#include "chaos.hpp"
#include "check/history_builder_for_test.hpp"

namespace pjx::harness {
namespace {

using testing::HistoryBuilder;

HistoryBuilder& fault_with(HistoryBuilder& b, double ms, const std::string& action, const std::string& phase,
                           const std::string& worker, const Json& params) {
  Json r = {{"type", "fault"}, {"t", HistoryBuilder::ns(ms)}, {"action", action}, {"phase", phase},
            {"params", params}};
  if (!worker.empty()) r["worker"] = worker;
  return b.record(std::move(r));
}

// Workload from 50 ms (quick timing: poll 50 ms, retention 500 ms).
HistoryModel history() {
  HistoryBuilder b({"staleness"});
  b.worker("w0").worker("w1").start_workers({"w0", "w1"});
  b.pause(1050, 2050, "w0");       // past retention, then w0 flushes: reached
  b.flushed(2100, "w0");
  b.pause(3050, 3250, "w1");       // shorter than retention: not judged
  fault_with(b, 4050, "kill", "instant", "w1", {{"reason", "restart"}});  // a restart's: left out
  fault_with(b, 4060, "restart", "instant", "w1", Json::object());       // a helper: left out
  fault_with(b, 5050, "kill", "instant", "w1", Json::object());          // instant: end == begin
  b.fault(6050, "lock", "begin").fault(7050, "lock", "end");             // nothing held back
  fault_with(b, 8050, "clock_step", "instant", "w0", {{"offset", "+0s"}});  // the step back
  b.fault(9050, "pause", "begin", "w0");                                  // never ended
  b.finish(9550);
  return build_model(b.build());
}

TEST(ChaosSchedule, ListsTheAppliedFaultsOfChaosKindsWithWhetherEachReachedItsPath) {
  const std::vector<ChaosFault> faults = chaos_faults(history(), Timing::quick());
  ASSERT_EQ(faults.size(), 5u);
  EXPECT_EQ(faults[0].kind, "pause");
  EXPECT_EQ(faults[0].worker, "w0");
  EXPECT_DOUBLE_EQ(faults[0].begin_s, 1.0);
  EXPECT_DOUBLE_EQ(faults[0].end_s, 2.0);
  EXPECT_EQ(faults[0].reached, std::optional<bool>(true));
  EXPECT_EQ(faults[1].reached, std::nullopt);
  EXPECT_EQ(faults[2].kind, "kill");
  EXPECT_DOUBLE_EQ(faults[2].begin_s, 5.0);
  EXPECT_DOUBLE_EQ(faults[2].end_s, faults[2].begin_s);
  EXPECT_EQ(faults[2].reached, std::optional<bool>(true));
  EXPECT_EQ(faults[3].kind, "lock");
  EXPECT_EQ(faults[3].worker, "");
  EXPECT_EQ(faults[3].reached, std::optional<bool>(false));
  EXPECT_EQ(faults[4].kind, "pause");
  EXPECT_GT(faults[4].end_s, 9.0);  // open: to the history's end
}

TEST(ChaosSchedule, WritesOneEntryPerFaultWithNullsForNoWorkerAndNotJudged) {
  std::vector<ChaosFault> faults = chaos_faults(history(), Timing::quick());
  faults.resize(4);
  faults[3].epoch = 2;
  faults[3].begin_s += 40.0004;  // two epochs of 20 s before it
  faults[3].end_s += 40.0004;
  const Json j = chaos_schedule_json(faults);
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[0], Json::parse(R"({"epoch":0,"kind":"pause","worker":"w0","begin_s":1.0,"end_s":2.0,
                                  "reached":true})"));
  EXPECT_TRUE(j[1]["reached"].is_null());
  EXPECT_EQ(j[3]["epoch"], 2);
  EXPECT_TRUE(j[3]["worker"].is_null());
  EXPECT_DOUBLE_EQ(j[3]["begin_s"].get<double>(), 46.0);
  EXPECT_DOUBLE_EQ(j[3]["end_s"].get<double>(), 47.0);
  EXPECT_EQ(j[3]["reached"], false);
  EXPECT_TRUE(chaos_schedule_json({}).is_array());
}

}  // namespace
}  // namespace pjx::harness
