#include "bench_figures.hpp"

#include <gtest/gtest.h>

namespace pjx::reports {
namespace {

using nlohmann::json;

BenchRun latency(const std::string& backend, const std::string& wake, int workers, double poll,
                 double p99) {
  BenchRun r;
  r.bench = "latency";
  r.params = {{"backend", backend}, {"wake", wake}, {"workers", workers}, {"poll_interval_ms", poll}};
  r.metrics = {{"p50_ms", p99 / 2}, {"p99_ms", p99}, {"max_ms", p99 * 1.5}, {"missing", 0}};
  return r;
}

std::vector<const BenchRun*> all(const std::vector<BenchRun>& runs) {
  std::vector<const BenchRun*> out;
  for (const BenchRun& r : runs) out.push_back(&r);
  return out;
}

TEST(BenchModes, OneSeriesPerModeNeverJoiningModes) {
  const std::vector<BenchRun> runs{latency("sqlite", "off", 1, 50, 50),
                                   latency("sqlite", "on", 1, 50, 0.4),
                                   latency("sqlite", "off", 4, 50, 49),
                                   latency("sqlite", "on", 4, 50, 0.5),
                                   latency("redis", "n/a", 1, 50, 0.2)};
  const auto series = mode_series(all(runs), "workers", "p99_ms");
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0].name, "SQLite, polling only (wake off)");
  EXPECT_EQ(series[0].points, (std::vector<svg::Point>{{1, 50}, {4, 49}}));
  EXPECT_EQ(series[1].name, "SQLite, wake on (doorbell)");
  EXPECT_EQ(series[2].name, "Redis pub/sub");
  EXPECT_NE(series[0].style, series[1].style);
  EXPECT_NE(series[1].style, series[2].style);
}

TEST(BenchRuns, SortByBackendPollWakeAndWorkers) {
  const std::vector<BenchRun> runs{latency("redis", "n/a", 1, 50, 0.2),
                                   latency("sqlite", "on", 4, 500, 1),
                                   latency("sqlite", "on", 1, 500, 1),
                                   latency("sqlite", "off", 16, 500, 490),
                                   latency("sqlite", "wal", 1, 50, 3)};
  const auto sorted = runs_of(runs, "latency");
  ASSERT_EQ(sorted.size(), 5u);
  EXPECT_EQ(sorted[0], &runs[4]);  // sqlite 50 wal
  EXPECT_EQ(sorted[1], &runs[3]);  // sqlite 500 off
  EXPECT_EQ(sorted[2], &runs[2]);  // sqlite 500 on 1
  EXPECT_EQ(sorted[3], &runs[1]);  // sqlite 500 on 4
  EXPECT_EQ(sorted[4], &runs[0]);  // redis
}

TEST(BenchRuns, WorstP99OverPollIsComputedWhenAbsent) {
  const std::vector<BenchRun> runs{latency("sqlite", "on", 1, 50, 5),
                                   latency("sqlite", "off", 1, 500, 495),
                                   latency("sqlite", "off", 1, 50, 52)};
  EXPECT_EQ(worst_p99_over_poll(all(runs)), 2u);
  EXPECT_EQ(column_text(runs[2], {"p99 / poll", false, "p99_over_poll", 1, ""}), "1.04");
  EXPECT_FALSE(worst_p99_over_poll({}));
}

TEST(BenchRuns, MissingDeliveriesAreFlagged) {
  BenchRun r = latency("sqlite", "wal", 16, 500, 12);
  EXPECT_FALSE(has_missing(r));
  r.metrics["missing"] = 2;
  EXPECT_TRUE(has_missing(r));
}

TEST(BenchColumns, ParamsAsGivenMetricsToThreeFiguresBytesInMiB) {
  BenchRun r;
  r.bench = "growth";
  r.params = {{"retention_s", 5.0}};
  r.metrics = {{"db_max_bytes", 3 * 1024 * 1024}, {"commits", 12600}, {"db_max_over_bound", 0.93621}};
  const auto& columns = summary_columns("growth");
  const auto find = [&columns](const std::string& key) {
    for (const Column& c : columns) {
      if (c.key == key) return c;
    }
    return Column{};
  };
  EXPECT_EQ(column_text(r, find("retention_s")), "5");
  EXPECT_EQ(column_text(r, find("db_max_bytes")), "3.00");
  EXPECT_EQ(column_text(r, find("db_max_over_bound")), "0.936");
  EXPECT_EQ(column_text(r, find("lost")), "");
  EXPECT_EQ(other_metrics(r), std::vector<std::string>{});
}

TEST(BenchHeadlines, P99OfEachModeAtTheLargestWorkerCount) {
  const std::vector<BenchRun> runs{latency("sqlite", "off", 1, 50, 50),
                                   latency("sqlite", "off", 16, 50, 49.6),
                                   latency("sqlite", "on", 16, 50, 3.2)};
  const auto lines = latency_headlines(all(runs));
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].workers, 16);
  ASSERT_EQ(lines[0].p99_ms.size(), 2u);
  EXPECT_EQ(lines[0].p99_ms[0].second, 49.6);
  EXPECT_EQ(lines[0].p99_ms[1].second, 3.2);
}

TEST(BenchRanges, AGroupPerPollAndWorkersWithPollAsReference) {
  const std::vector<BenchRun> runs{latency("sqlite", "off", 4, 50, 50),
                                   latency("sqlite", "on", 1, 50, 0.4),
                                   latency("sqlite", "on", 4, 50, 0.5)};
  const RangeData d = latency_by_mode(all(runs));
  ASSERT_EQ(d.groups.size(), 2u);
  EXPECT_EQ(d.groups[0].label, "1 worker");
  EXPECT_EQ(d.groups[1].sublabel, "poll_interval 50 ms");
  EXPECT_EQ(d.groups[1].reference, 50);
  ASSERT_EQ(d.series.size(), 2u);
  EXPECT_FALSE(d.series[0].values[0]);  // no wake-off run at 1 worker
  ASSERT_TRUE(d.series[1].values[1]);
  EXPECT_EQ(d.series[1].values[1]->mid, 0.5);
}

}  // namespace
}  // namespace pjx::reports
