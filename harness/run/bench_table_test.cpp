#include <gtest/gtest.h>

#include <sstream>

#include "bench.hpp"

namespace pjx::harness {
namespace {

Json latency_run(Json host_stalls) {
  Json run = {{"bench", "latency"},
              {"params", {{"backend", "sqlite"}, {"workers", 4}, {"poll_interval_ms", 50.0}}},
              {"metrics", {{"p50_ms", 0.6}, {"p99_ms", 1.3}}}};
  if (!host_stalls.is_null()) run["host_stalls"] = std::move(host_stalls);
  return run;
}

// The table says when configurations ran while the whole host stalled, and
// says nothing when none did (or the file predates host_stalls).
TEST(BenchTable, SaysWhichConfigurationsRanThroughAHostStall) {
  std::ostringstream quiet;
  print_bench_table(quiet, Json::array({latency_run({{"count", 0}, {"max_ms", 0.0}}),
                                        latency_run(Json())}));
  EXPECT_EQ(quiet.str().find("host stalls"), std::string::npos) << quiet.str();

  std::ostringstream stalled;
  print_bench_table(stalled,
                    Json::array({latency_run({{"count", 2}, {"max_ms", 104.2}, {"total_ms", 121.5}}),
                                 latency_run({{"count", 1}, {"max_ms", 12.0}, {"total_ms", 12.0}}),
                                 latency_run({{"count", 0}, {"max_ms", 0.0}, {"total_ms", 0.0}})}));
  EXPECT_NE(stalled.str().find("host stalls: 2 of 3 configurations ran while the whole host "
                               "stopped for 10 ms or more (longest 104.2 ms)"),
            std::string::npos)
      << stalled.str();
}

}  // namespace
}  // namespace pjx::harness
