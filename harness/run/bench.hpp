// Bench: `pjx-harness bench`, multi-process benchmarks against real worker
// processes (harness/PROTOCOL.md), written as bench.json (harness/HISTORY.md)
// runs that the reports library plots (reports/README.md).
//
//   latency     W receivers + 1 publisher; start of the publish call
//               (published.t_begin) to delivery (received.t) per receiver,
//               wake modes off / wal / on (--wake); empty-wake rate from
//               stats; receivers' CPU while the publishes arrive ("under
//               load"), from the kernel's per-thread accounting
//   idle        W idle workers; CPU from /proc/<pid>/task/*/schedstat (ns)
//               and /proc/<pid>/stat utime+stime (clock ticks)
//   throughput  K publishers publishing back to back, one listener; commit
//               latency (published.t - t_begin) and lost deliveries
//   growth      K publishers back to back for 60 s with retention R, one
//               listener; database and -wal sizes sampled every 100 ms,
//               against the bound commits/s x R x bytes per row and the 8 MB
//               WAL target
//
// Every run uses a new folder under `dir` and a private channel
// ("pjx-bench:<run_id>:<n>"), so `--dir` on a target host's filesystem never
// touches a live deployment's channel. With `runs` > 1 each configuration is
// run that many times; `metrics` are the medians and `samples` the single
// runs. With backend "redis" or "both" the latency and idle benches also run
// over Redis pub/sub on loopback (a redis-server the harness starts).
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
  std::string kind = "all";                // latency | idle | throughput | growth | all
  std::vector<int> workers{1, 4, 16, 64};  // latency receivers
  std::vector<double> poll_s{0.01, 0.05, 0.5};
  std::string wake = "both";  // on | wal | off | both | all (see wake_modes in bench.cpp)
  int events = 40;            // publishes per latency run
  std::vector<int> idle_workers{4};
  double duration_s = 0;                    // 0: idle 10 s, throughput 10 s, growth 60 s
  std::vector<int> publishers{1, 2, 4, 8};  // throughput
  std::vector<int> growth_publishers{1, 4};
  double retention_s = 5;          // growth (latency, idle, throughput keep rows 600 s)
  int runs = 1;                    // repetitions of each configuration; metrics are medians
  std::string backend = "sqlite";  // sqlite | redis | both (latency and idle)
  std::filesystem::path dir;       // a fresh folder per run is made inside it
  std::string worker_cmd;
  std::uint64_t seed = 1;
  std::string run_id;  // channels are "pjx-bench:<run_id>:<n>"
};

// Sets the --quick sizes (latency workers {1,4}, poll {0.05}, wake both,
// 20 events; idle 2 s; throughput publishers {1,2}, 2 s; growth publishers
// {1}, 2 s; one run each).
void apply_quick(BenchOptions& options);

// Runs the benches; returns the `runs` array of bench.json. Prints a line
// per run to `progress`. Throws std::runtime_error when a worker cannot be
// started or does not answer, or when backend redis is asked for and no
// redis-server can be started.
Json run_benches(const BenchOptions& options, std::ostream& progress);

// A readable table of `runs`.
void print_bench_table(std::ostream& out, const Json& runs);

// 0 when no run lost or missed a delivery and none had an error.
int bench_exit_code(const Json& runs);

// The median of each numeric metric over `samples` (objects with the same
// keys): its p50 by the project's one percentile (check/stats.hpp, nearest
// rank: of an even number of runs the lower middle one, a value that was
// measured). A non-numeric value is taken from the first sample; the
// counters that must be 0 (missing, lost, errors) give their worst run.
// Empty input gives an empty object.
Json median_metrics(const std::vector<Json>& samples);

}  // namespace pjx::harness
