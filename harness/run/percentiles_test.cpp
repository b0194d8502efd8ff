// One percentile definition (check/stats.hpp) for everything that prints
// one: for the same latencies, bench.json's figures, the checker's and the
// report's CDF marks are the same numbers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "bench_measure.hpp"
#include "check/stats.hpp"
#include "pjx/reports/report.hpp"
#include "temp_dir.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST(Percentiles, BenchCheckerAndReportGiveTheSameP50AndP99) {
  // 1.5, 3, ..., 300 ms: nearest rank and interpolation disagree here
  // (p99: 297 ms by rank 198; 297.015 ms interpolated).
  std::vector<double> lat;
  for (int i = 1; i <= 200; ++i) lat.push_back(1.5 * i);
  const Json bench = delivery_figures(lat, 50.0);
  const Distribution checker = describe(lat);  // what check_timing reports
  EXPECT_DOUBLE_EQ(bench["p99_ms"].get<double>(), 297.0);
  EXPECT_DOUBLE_EQ(bench["p99_ms"].get<double>(), checker.p99);
  EXPECT_DOUBLE_EQ(bench["p50_ms"].get<double>(), checker.p50);
  EXPECT_DOUBLE_EQ(bench["max_ms"].get<double>(), checker.max);

  // The report draws the checker's figures on the CDF.
  pjx::testing::TempDir dir;
  const Json results = {
      {"tool", "pjx-harness"},
      {"scenarios",
       {{{"name", "latency"},
         {"verdict", "pass"},
         {"checks",
          {{{"name", "latency"},
            {"verdict", "pass"},
            {"metrics", {{"latency_p50_ms", checker.p50}, {"latency_p99_ms", checker.p99}}},
            {"details", {{"latencies_ms", lat}}}}}}}}}};
  std::ofstream(dir.path() / "results.json") << results.dump();
  pjx::reports::write_report({dir.path() / "results.json"}, dir.path() / "report");
  const std::string html = read_text(dir.path() / "report" / "index.html");
  EXPECT_NE(html.find(">p99 297 ms<"), std::string::npos);
  EXPECT_NE(html.find(">p50 150 ms<"), std::string::npos);
}

}  // namespace
}  // namespace pjx::harness
