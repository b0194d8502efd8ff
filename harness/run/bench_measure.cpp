#include "bench_measure.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "check/stats.hpp"
#include "db_probe.hpp"

namespace pjx::harness {

namespace fs = std::filesystem;

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }
double round6(double x) { return std::round(x * 1e6) / 1e6; }

double percentile_or_zero(const std::vector<double>& values, double p) {
  return values.empty() ? 0.0 : percentile(values, p);
}

Json delivery_figures(const std::vector<double>& lat_ms, double poll_ms) {
  const double p50 = percentile_or_zero(lat_ms, 50);
  const double p99 = percentile_or_zero(lat_ms, 99);
  const double mx = percentile_or_zero(lat_ms, 100);
  return {{"p50_ms", round3(p50)},
          {"p99_ms", round3(p99)},
          {"max_ms", round3(mx)},
          {"p50_over_poll", round3(p50 / poll_ms)},
          {"p99_over_poll", round3(p99 / poll_ms)},
          {"max_over_poll", round3(mx / poll_ms)}};
}

std::int64_t stat_i(const Json& stats, const char* key) {
  if (!has_stat(stats, key)) return 0;
  return stats[key].get<std::int64_t>();
}

bool has_stat(const Json& stats, const char* key) {
  return stats.is_object() && stats.contains(key) && stats[key].is_number();
}

namespace {

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// utime + stime from /proc/<pid>/stat; -1 when it cannot be read.
long long cpu_ticks(const fs::path& proc) {
  const std::string text = read_small_file(proc / "stat");
  const auto close = text.rfind(')');
  if (close == std::string::npos || close + 2 >= text.size()) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  // Fields after the command: state is field 3; utime 14, stime 15.
  for (int i = 3; i <= 15 && (rest >> field); ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return utime + stime;
}

}  // namespace

CpuSample cpu_of(int pid) {
  CpuSample s;
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  s.ticks = cpu_ticks(proc);
  std::error_code ec;
  std::int64_t total = 0;
  bool any = false;
  for (const auto& task : fs::directory_iterator(proc / "task", ec)) {
    std::istringstream in(read_small_file(task.path() / "schedstat"));
    std::int64_t run_ns = 0;
    if (in >> run_ns) {
      total += run_ns;
      any = true;
    }
  }
  if (any) s.ns = total;
  return s;
}

std::vector<CpuSample> cpu_of(const std::vector<BenchWorker*>& workers) {
  std::vector<CpuSample> out;
  out.reserve(workers.size());
  for (BenchWorker* w : workers) out.push_back(cpu_of(w->proc->pid()));
  return out;
}

std::pair<double, double> cpu_ms_per_s(const std::vector<CpuSample>& before,
                                       const std::vector<CpuSample>& after, double elapsed_s) {
  double ns = 0;
  double ticks = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (before[i].ticks < 0 || after[i].ticks < 0) {
      throw std::runtime_error("cannot read /proc/<pid>/stat of a worker");
    }
    ticks += static_cast<double>(after[i].ticks - before[i].ticks);
    // A thread that exited between the samples takes its schedstat with it;
    // never count that as negative time.
    if (before[i].ns >= 0 && after[i].ns >= before[i].ns) {
      ns += static_cast<double>(after[i].ns - before[i].ns);
    }
  }
  const auto n = static_cast<double>(std::max<std::size_t>(1, before.size()));
  return {ns / 1e6 / elapsed_s / n, ticks * tick_ms() / elapsed_s / n};
}

Json cpu_metrics(std::pair<double, double> ms_per_s) {
  return {{"cpu_ms_per_s_per_worker", round6(ms_per_s.first)},
          {"cpu_percent_per_worker", round6(ms_per_s.first / 10.0)},
          {"cpu_ticks_ms_per_s_per_worker", round6(ms_per_s.second)}};
}

Json listener_params(int workers, double poll_s, const std::string& wake,
                     const std::string& redis_url) {
  return {{"workers", workers},
          {"poll_interval_ms", round3(poll_s * 1000.0)},
          {"wake", redis_url.empty() ? wake : "n/a"},
          {"backend", redis_url.empty() ? "sqlite" : "redis"}};
}

double tick_ms() { return 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)); }

std::string load_average() {
  std::istringstream in(read_small_file("/proc/loadavg"));
  std::string one, five, fifteen;
  in >> one >> five >> fifteen;
  return one + " " + five + " " + fifteen;
}

std::uintmax_t size_or_zero(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

DbFootprint footprint(const fs::path& db) {
  DbFootprint f;
  sqlite3* c = nullptr;
  const std::string uri = sqlite_uri(db, "mode=ro");
  if (sqlite3_open_v2(uri.c_str(), &c, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) !=
      SQLITE_OK) {
    f.error = c ? sqlite3_errmsg(c) : "out of memory";
    sqlite3_close(c);
    return f;
  }
  sqlite3_busy_timeout(c, 5000);
  const auto one = [&](const char* sql, std::int64_t& out) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(c, sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      out = sqlite3_column_int64(st, 0);
    } else if (f.error.empty()) {
      f.error = std::string(sql) + ": " + sqlite3_errmsg(c);
    }
    sqlite3_finalize(st);
  };
  one("PRAGMA page_count", f.pages);
  one("PRAGMA freelist_count", f.free_pages);
  one("PRAGMA page_size", f.page_size);
  one("SELECT count(*) FROM pjx_invalidation", f.rows);
  sqlite3_close(c);
  return f;
}

}  // namespace pjx::harness
