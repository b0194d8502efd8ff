// Bench: `pjx-harness bench`, multi-process benchmarks against real worker
// processes (harness/PROTOCOL.md), written as bench.json (harness/HISTORY.md)
// runs that the reports library plots (reports/README.md).
//
//   latency     W receivers + 1 publisher; publish commit (published.t) to
//               delivery (received.t) per receiver; empty-wake rate from stats
//   idle        W idle workers; CPU from /proc/<pid>/stat utime+stime
//   throughput  K publishers publishing back to back, one listener; commit
//               latency (published.t - t_begin) and lost deliveries
//
// Thread safety: none; everything runs on the calling thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "check/history.hpp"

namespace pjx::harness {

struct BenchOptions {
  std::string kind = "all";  // latency | idle | throughput | all
  std::vector<int> workers{1, 4, 16};
  std::vector<double> poll_s{0.01, 0.05, 0.5};
  std::string wake = "both";  // on | off | both
  int events = 100;
  double duration_s = 0;  // 0: idle 30 s, throughput 10 s
  std::vector<int> publishers{1, 2, 4, 8};
  std::filesystem::path dir;  // a fresh folder per run is made inside it
  std::string worker_cmd;
  std::uint64_t seed = 1;
  std::string run_id;  // channels are "pjx-bench:<run_id>:<n>"
};

// Sets the --quick sizes (latency workers {1,4}, poll {0.05}, wake both,
// 20 events; idle 2 s; throughput publishers {1,2}, 2 s).
void apply_quick(BenchOptions& options);

// Runs the benches; returns the `runs` array of bench.json. Prints a line
// per run to `progress`. Throws std::runtime_error when a worker cannot be
// started or does not answer.
Json run_benches(const BenchOptions& options, std::ostream& progress);

// A readable table of `runs`.
void print_bench_table(std::ostream& out, const Json& runs);

// 0 when no run lost or missed a delivery and none had an error.
int bench_exit_code(const Json& runs);

}  // namespace pjx::harness
