// SummaryReporter: passes every report on to the reporter chosen by
// --benchmark_format (console or JSON) and keeps the runs, so that after the
// benchmarks have run print_summary() can write the figures that need two
// benchmarks at once: the ratio of the upstream publish pattern to the
// library's publish(), measured in the same run.
//
// With --benchmark_repetitions > 1 the summary uses each benchmark's median
// (the "median" aggregate, or the median of the repetitions when aggregates
// are not reported); with one repetition, the single result.
//
// Thread safety: used by the benchmark runner's main thread only.
#pragma once

#include <benchmark/benchmark.h>

#include <memory>
#include <ostream>
#include <vector>

namespace pjx::bench {

class SummaryReporter final : public benchmark::BenchmarkReporter {
 public:
  explicit SummaryReporter(std::unique_ptr<benchmark::BenchmarkReporter> inner);

  bool ReportContext(const Context& context) override;
  void ReportRuns(const std::vector<Run>& report) override;
  void Finalize() override;

  // Writes the summary (medians, publish throughput, upstream ratio, idle
  // poll CPU) to `out`; says so when a benchmark it needs did not run.
  void print_summary(std::ostream& out) const;

 private:
  std::unique_ptr<benchmark::BenchmarkReporter> inner_;
  std::vector<Run> runs_;
};

}  // namespace pjx::bench
