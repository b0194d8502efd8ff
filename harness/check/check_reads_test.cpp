// The stale_reads check (rule 17 in checkers.hpp) on synthetic histories:
// poll_interval 50 ms, so the default bound is 50 + 250 = 300 ms.
#include <gtest/gtest.h>

#include "check/checkers.hpp"
#include "check/history_builder_for_test.hpp"

namespace pjx::harness {
namespace {

using testing::HistoryBuilder;

CheckResult check_reads(const HistoryBuilder& b) {
  return run_check("stale_reads", b.build(), Json::object());
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string dump(const CheckResult& r) { return r.to_json().dump(2); }

// w1 caches k0 at version 0, w0 writes it at 100 ms (done 102 ms).
HistoryBuilder cached_then_written() {
  HistoryBuilder b({"stale_reads"});
  b.start_workers({"w0", "w1"})
      .read(60, "w1", 1, "k0", 0, /*hit=*/false)
      .write(100, "w0", 2, "k0", 1);
  return b;
}

TEST(StaleReadsCheck, PassesWhenEveryReadAfterTheBoundSeesTheWrite) {
  HistoryBuilder b = cached_then_written();
  b.receive_keys(104, "w1", {"e:2", "k0"}).read(500, "w1", 3, "k0", 1, false).finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["reads"], 2);
  EXPECT_EQ(r.metrics["checked_reads"], 1);
  EXPECT_EQ(r.metrics["stale_reads"], 0);
}

TEST(StaleReadsCheck, FailsOnACachedVersionOlderThanAWriteDoneBeforeTheBound) {
  HistoryBuilder b = cached_then_written();
  b.read(500, "w1", 3, "k0", 0, /*hit=*/true).finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["stale_reads"], 1);
  ASSERT_FALSE(r.evidence.empty());
  const std::string& line = r.evidence.front();
  EXPECT_TRUE(contains(line, "w1 read k0 (read 3")) << line;
  EXPECT_TRUE(contains(line, "got version 0; write 2 by w0 made version 1")) << line;
  EXPECT_TRUE(contains(line, "never received it, no flush")) << line;
  EXPECT_EQ(r.details["stale_reads"][0]["expected"], 1);
  EXPECT_EQ(r.details["stale_reads"][0]["write_id"], 2);
}

TEST(StaleReadsCheck, AReadWithinTheBoundMayStillReturnTheOldVersion) {
  HistoryBuilder b = cached_then_written();
  // 102 + 300 = 402 ms: a read that begins at 350 ms may be stale.
  b.read(350, "w1", 3, "k0", 0).read(600, "w1", 4, "k0", 1, false).finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_GT(r.metrics["max_read_lag_ms"].get<double>(), 200.0);
}

TEST(StaleReadsCheck, TheWritersOwnReadMustSeeItsWriteAtOnce) {
  HistoryBuilder b({"stale_reads"});
  b.start_workers({"w0", "w1"})
      .read(60, "w0", 1, "k0", 0, false)
      .write(100, "w0", 2, "k0", 1)
      .read(110, "w0", 3, "k0", 0)  // 8 ms after its own write: stale
      .write(200, "w1", 4, "k1", 1)
      .read(600, "w0", 5, "k1", 1, false)
      .finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["stale_reads"], 1);
  EXPECT_EQ(r.details["stale_reads"][0]["read_id"], 3);
}

TEST(StaleReadsCheck, APausedReaderHasTheBoundAfterItResumes) {
  auto run = [](double read_at) {
    HistoryBuilder b = cached_then_written();
    b.fault(90, "pause", "begin", "w1").fault(1500, "pause", "end", "w1");
    b.read(read_at, "w1", 3, "k0", 0).read(2400, "w1", 4, "k0", 1, false).finish(2500);
    return check_reads(b);
  };
  EXPECT_EQ(run(1700).verdict, "pass") << "within 300 ms of the resume";
  const CheckResult late = run(1900);
  EXPECT_EQ(late.verdict, "fail") << dump(late);
}

// The host stalled 150 ms within [commit, deadline] (102 + 300 = 402 ms):
// the deadline moves to 552 ms, and 50 ms more for a second stall in the
// part added.
TEST(StaleReadsCheck, AHostStallDefersTheDeadlineByItsLength) {
  auto run = [](double read_at, bool second_stall) {
    HistoryBuilder b = cached_then_written();
    b.host_lag(200, 350);
    if (second_stall) b.host_lag(500, 550);
    b.read(read_at, "w1", 3, "k0", 0).read(900, "w1", 4, "k0", 1, false).finish(1000);
    return check_reads(b);
  };
  EXPECT_EQ(run(540, false).verdict, "pass");
  const CheckResult late = run(560, false);
  EXPECT_EQ(late.verdict, "fail") << dump(late);
  EXPECT_EQ(run(590, true).verdict, "pass");
  EXPECT_EQ(run(610, true).verdict, "fail");
}

// A stall inside the reader's own pause delayed nothing the pause had not
// already excused (D3 gives 1500 + 300 = 1800 ms); one after the pause moves
// the deadline on.
TEST(StaleReadsCheck, AHostStallCountsOnlyAfterTheFaultThatMovedTheDeadline) {
  auto run = [](double read_at, double stall_from, double stall_to) {
    HistoryBuilder b = cached_then_written();
    b.fault(90, "pause", "begin", "w1").fault(1500, "pause", "end", "w1");
    b.host_lag(stall_from, stall_to);
    b.read(read_at, "w1", 3, "k0", 0).read(2400, "w1", 4, "k0", 1, false).finish(2500);
    return check_reads(b);
  };
  const CheckResult inside = run(1850, 500, 700);
  EXPECT_EQ(inside.verdict, "fail") << dump(inside);
  EXPECT_EQ(run(1850, 1600, 1700).verdict, "pass");
  EXPECT_EQ(run(1950, 1600, 1700).verdict, "fail");
}

TEST(StaleReadsCheck, ALockWindowDefersTheDeadlineToItsEndPlusAfterFault) {
  auto run = [](double read_at) {
    HistoryBuilder b = cached_then_written();
    b.fault(50, "lock", "begin", "").fault(1000, "lock", "end", "");
    b.read(read_at, "w1", 3, "k0", 0).read(3500, "w1", 4, "k0", 1, false).finish(4000);
    return check_reads(b);
  };
  // 1000 + 1500 + 50 = 2550 ms.
  EXPECT_EQ(run(2500).verdict, "pass");
  EXPECT_EQ(run(2600).verdict, "fail");
}

// A silent server (redis_pause) holds the invalidation back, but the
// reader's health check notices within after_silence_ms (3000) and its cache
// keeps nothing from then on: the deadline is the silence's begin + 3000 ms,
// not its end (a worker without the health check serves the old version
// until the end, and fails).
TEST(StaleReadsCheck, ASilentServerDefersTheDeadlineOnlyToItsBeginPlusAfterSilence) {
  auto run = [](double read_at) {
    HistoryBuilder b = cached_then_written();
    b.fault(80, "redis_pause", "begin").fault(8000, "redis_pause", "end");
    b.read(read_at, "w1", 3, "k0", 0).read(9000, "w1", 4, "k0", 1, false).finish(9500);
    return check_reads(b);
  };
  EXPECT_EQ(run(3000).verdict, "pass") << "within 80 + 3000 ms";
  const CheckResult late = run(3200);
  EXPECT_EQ(late.verdict, "fail") << dump(late);
  EXPECT_TRUE(contains(late.bound, "a silent Redis server 3000 ms after it fell silent"))
      << late.bound;
}

TEST(StaleReadsCheck, AWriteThatReportedErrorImposesNothing) {
  HistoryBuilder b({"stale_reads"});
  b.start_workers({"w0", "w1"})
      .read(60, "w1", 1, "k0", 0, false)
      .op(100, "w0", "write", {{"id", 2}, {"key", "k0"}, {"keys", {"e:2", "k0"}}})
      .ev(102, "w0", "error",
          {{"id", 2}, {"op", "write"}, {"message", "disk I/O error"}, {"version", 1}})
      .write(150, "w0", 3, "k1", 1)
      .read(600, "w1", 4, "k0", 0)
      .read(610, "w1", 5, "k1", 1, false)
      .finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
}

TEST(StaleReadsCheck, AVersionNoWriteCouldHaveMadeFails) {
  HistoryBuilder b = cached_then_written();
  b.read(500, "w1", 3, "k0", 2, false).finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_EQ(r.metrics["future_reads"], 1);
  EXPECT_TRUE(contains(r.evidence.front(), "which no write sent before")) << dump(r);
}

TEST(StaleReadsCheck, SlowReadsThatRacedNoWriteLeaveTheRaceUntested) {
  HistoryBuilder b = cached_then_written();
  b.read(500, "w1", 3, "k0", 1, false, /*slow_ms=*/100).finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(contains(r.summary, "race was not exercised")) << r.summary;
  // Marked as not shown (chaos counts it apart from violations).
  EXPECT_EQ(r.details.value("not_shown", false), true) << dump(r);
}

TEST(StaleReadsCheck, ASlowReadOverlappingAnotherWorkersWriteIsARace) {
  HistoryBuilder b({"stale_reads"});
  b.start_workers({"w0", "w1"})
      .read(60, "w1", 1, "race:0", 0, false, /*slow_ms=*/100)  // 60 .. 161 ms
      .write(90, "w0", 2, "race:0", 1)
      .read(600, "w1", 3, "race:0", 1, false)
      .finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "pass") << dump(r);
  EXPECT_EQ(r.metrics["races"], 1);
}

TEST(StaleReadsCheck, NoReadCheckedAgainstAnotherWorkersWriteShowsNothing) {
  HistoryBuilder b({"stale_reads"});
  b.start_workers({"w0", "w1"}).read(60, "w1", 1, "k0", 0, false).finish(900);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "fail") << dump(r);
  EXPECT_TRUE(contains(r.summary, "stale reads not tested")) << r.summary;
}

TEST(StaleReadsCheck, IsSkippedWhenNoWorkerSpeaksProtocolVersion2) {
  HistoryBuilder b({"stale_reads"});
  b.spawn(0, "w0").op(1, "w0", "start").ev(2, "w0", "ready", {{"caps", Json::array()}});
  b.finish(500);
  const CheckResult r = check_reads(b);
  EXPECT_EQ(r.verdict, "skip") << dump(r);
  EXPECT_TRUE(contains(r.summary, "`reads` capability")) << r.summary;
}

TEST(StaleReadsCheck, ReportsReproducedWhenStaleReadsAreTheExpectedIncident) {
  HistoryBuilder b({"stale_reads"}, "reproduced");
  b.start_workers({"w0", "w1"})
      .read(60, "w1", 1, "k0", 0, false)
      .write(100, "w0", 2, "k0", 1)
      .read(500, "w1", 3, "k0", 0)
      .finish(900);
  EXPECT_EQ(check_reads(b).verdict, "reproduced");
  HistoryBuilder fresh({"stale_reads"}, "reproduced");
  fresh.start_workers({"w0", "w1"})
      .read(60, "w1", 1, "k0", 0, false)
      .write(100, "w0", 2, "k0", 1)
      .read(500, "w1", 3, "k0", 1, false)
      .finish(900);
  EXPECT_EQ(check_reads(fresh).verdict, "fail");
}

}  // namespace
}  // namespace pjx::harness
