// `pjx-harness bench`'s table on stdout (bench.hpp).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench.hpp"

namespace pjx::harness {
namespace {

std::string fmt(const Json& v) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    std::ostringstream s;
    s << std::fixed << std::setprecision(std::abs(d) >= 100 ? 0 : std::abs(d) >= 0.1 ? 2 : 4) << d;
    return s.str();
  }
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

struct Col {
  const char* title;
  const char* where;  // "p" params, "m" metrics
  const char* key;
};

// The columns of each bench's table.
const std::map<std::string, std::vector<Col>>& bench_columns() {
  static const std::map<std::string, std::vector<Col>> kCols = {
      {"latency",
       {{"backend", "p", "backend"},
        {"workers", "p", "workers"},
        {"poll_ms", "p", "poll_interval_ms"},
        {"wake", "p", "wake"},
        {"p50_ms", "m", "p50_ms"},
        {"p99_ms", "m", "p99_ms"},
        {"max_ms", "m", "max_ms"},
        {"p50/poll", "m", "p50_over_poll"},
        {"p99/poll", "m", "p99_over_poll"},
        {"max/poll", "m", "max_over_poll"},
        {"empty_wake_rate", "m", "empty_wake_rate"},
        {"doorbell_wakes", "m", "doorbell_wakes"},
        {"cpu%/worker", "m", "cpu_percent_per_worker"},
        {"deliveries", "m", "deliveries"},
        {"missing", "m", "missing"}}},
      {"idle",
       {{"backend", "p", "backend"},
        {"workers", "p", "workers"},
        {"poll_ms", "p", "poll_interval_ms"},
        {"wake", "p", "wake"},
        {"secs", "p", "duration_s"},
        {"cpu_ms/s/worker", "m", "cpu_ms_per_s_per_worker"},
        {"cpu%/worker", "m", "cpu_percent_per_worker"},
        {"ticks_ms/s/worker", "m", "cpu_ticks_ms_per_s_per_worker"}}},
      {"throughput",
       {{"publishers", "p", "publishers"},
        {"commits/s", "m", "commits_per_s"},
        {"p50_us", "m", "p50_us"},
        {"p99_us", "m", "p99_us"},
        {"p999_us", "m", "p999_us"},
        {"max_us", "m", "max_us"},
        {"errors", "m", "errors"},
        {"busy_waits", "m", "busy_waits"},
        {"lost", "m", "lost"}}},
      {"growth",
       {{"publishers", "p", "publishers"},
        {"retention_s", "p", "retention_s"},
        {"secs", "p", "duration_s"},
        {"commits/s", "m", "commits_per_s"},
        {"db_max", "m", "db_max_bytes"},
        {"db_bound", "m", "db_bound_bytes"},
        {"db_max/bound", "m", "db_max_over_bound"},
        {"wal_max", "m", "wal_max_bytes"},
        {"wal_final", "m", "wal_final_bytes"},
        {"wal_max/8MB", "m", "wal_max_over_target"},
        {"errors", "m", "errors"},
        {"lost", "m", "lost"}}}};
  return kCols;
}

}  // namespace

void print_bench_table(std::ostream& out, const Json& runs) {
  const auto& cols = bench_columns();
  for (const char* bench : {"latency", "idle", "throughput", "growth"}) {
    const auto& c = cols.at(bench);
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : runs) {
      if (r.value("bench", std::string()) != bench) continue;
      std::vector<std::string> row;
      for (const Col& col : c) {
        const Json& src = r[std::string(col.where) == "p" ? "params" : "metrics"];
        row.push_back(src.contains(col.key) ? fmt(src[col.key]) : "-");
      }
      rows.push_back(std::move(row));
    }
    if (rows.empty()) continue;
    std::vector<std::size_t> width;
    for (const Col& col : c) width.push_back(std::string(col.title).size());
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    out << "\n" << bench << "\n";
    for (std::size_t i = 0; i < c.size(); ++i) {
      out << std::setw(static_cast<int>(width[i])) << c[i].title
          << (i + 1 < c.size() ? "  " : "\n");
    }
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        out << std::setw(static_cast<int>(width[i])) << row[i]
            << (i + 1 < row.size() ? "  " : "\n");
      }
    }
  }
  // Configurations measured while the whole host stalled (host_stalls).
  std::size_t stalled = 0;
  double longest = 0;
  for (const auto& r : runs) {
    const Json& h = r.contains("host_stalls") ? r["host_stalls"] : Json();
    if (!h.is_object() || h.value("count", 0) == 0) continue;
    ++stalled;
    longest = std::max(longest, h.value("max_ms", 0.0));
  }
  if (stalled != 0) {
    char longest_text[32];
    std::snprintf(longest_text, sizeof longest_text, "%.1f", longest);
    out << "\nhost stalls: " << stalled << " of " << runs.size()
        << " configurations ran while the whole host stopped for 10 ms or more (longest "
        << longest_text << " ms); their figures include it (bench.json: host_stalls)\n";
  }
}

}  // namespace pjx::harness
