// What the bench runs measure besides the workers' own events: the kernel's
// CPU accounting of a process, the machine's load, file sizes and a live
// database's footprint, and the rounding of the figures in bench.json.
//
// Thread safety: functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "bench_pool.hpp"
#include "check/history.hpp"

namespace pjx::harness {

double round3(double x);
double round6(double x);

// The p-th percentile of `values` by the project's one definition
// (check/stats.hpp: nearest rank, always a measured value), 0 when there are
// none.
double percentile_or_zero(const std::vector<double>& values, double p);

// The delivery figures of a latency run from its latencies (ms) and its
// poll interval: p50_ms, p99_ms, max_ms and each over poll_interval.
Json delivery_figures(const std::vector<double>& lat_ms, double poll_ms);

// A counter of a `stats` answer; 0 (has_stat false) when it has none.
std::int64_t stat_i(const Json& stats, const char* key);
bool has_stat(const Json& stats, const char* key);

// The kernel's CPU accounting of one process.
struct CpuSample {
  long long ticks = -1;  // utime + stime of the whole process (/proc/<pid>/stat), clock ticks
  std::int64_t ns = -1;  // time on a CPU of its live threads (/proc/<pid>/task/*/schedstat)
};

CpuSample cpu_of(int pid);
std::vector<CpuSample> cpu_of(const std::vector<BenchWorker*>& workers);

// CPU per worker per second of wall time between two samples, in ms: from
// schedstat (ns) and from utime+stime (ticks). Throws std::runtime_error
// when /proc cannot be read.
std::pair<double, double> cpu_ms_per_s(const std::vector<CpuSample>& before,
                                       const std::vector<CpuSample>& after, double elapsed_s);

// The CPU figures of bench.json from cpu_ms_per_s(): cpu_ms_per_s_per_worker,
// cpu_percent_per_worker, cpu_ticks_ms_per_s_per_worker.
Json cpu_metrics(std::pair<double, double> ms_per_s);

// The params of a run of `workers` listening workers: workers,
// poll_interval_ms, wake ("n/a" over Redis), backend.
Json listener_params(int workers, double poll_s, const std::string& wake,
                     const std::string& redis_url);

// The length of a clock tick in ms.
double tick_ms();

// "/proc/loadavg"'s three averages, "0.52 0.40 0.33".
std::string load_average();

// The size of a file; 0 when it does not exist.
std::uintmax_t size_or_zero(const std::filesystem::path& p);

// Page and row counts of a live database, read-only.
struct DbFootprint {
  std::int64_t pages = 0;
  std::int64_t free_pages = 0;
  std::int64_t page_size = 0;
  std::int64_t rows = 0;
  std::string error;
};

DbFootprint footprint(const std::filesystem::path& db);

}  // namespace pjx::harness
