// The bench kinds of `pjx-harness bench` (bench.hpp describes each), one
// file each: bench_latency.cpp, bench_idle.cpp, bench_throughput.cpp,
// bench_growth.cpp. Each runs one configuration once and returns its run
// object of bench.json: {"bench", "params", "metrics"[, "series"]}.
//
// Thread safety: none; the calling thread.
#pragma once

#include <filesystem>
#include <string>

#include "bench.hpp"
#include "check/history.hpp"

namespace pjx::harness {

// The runs of one `bench` invocation: each gets a new folder under
// options.dir and a private channel "pjx-bench:<run_id>:<n>".
class BenchContext {
 public:
  explicit BenchContext(const BenchOptions& options) : options_(options) {}

  const BenchOptions& options() const { return options_; }
  // The number of the current run (1 for the first).
  int run_number() const { return n_; }
  // Starts the next run: its folder "<n>-<name>" and its channel.
  std::filesystem::path next_dir(const std::string& name, std::string& channel);

 private:
  const BenchOptions& options_;
  int n_ = 0;
};

// `redis_url` empty: SQLite with `wake`; else over that Redis server.
Json latency_bench(BenchContext& ctx, int workers, double poll_s, const std::string& wake,
                   const std::string& redis_url);
Json idle_bench(BenchContext& ctx, int workers, double poll_s, const std::string& wake,
                double duration_s, const std::string& redis_url);
Json throughput_bench(BenchContext& ctx, int publishers, double duration_s);
Json growth_bench(BenchContext& ctx, int publishers, double duration_s);

}  // namespace pjx::harness
