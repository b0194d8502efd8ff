// The growth bench (bench.hpp): K publishers back to back with retention R,
// one listener; the database and -wal sizes sampled every 100 ms, against
// the bound commits/s x R x bytes per row and the 8 MB WAL target.
#include <algorithm>
#include <vector>

#include "bench_kinds.hpp"
#include "bench_measure.hpp"
#include "bench_pool.hpp"
#include "event_loop.hpp"

namespace pjx::harness {
namespace {

constexpr double kWalTargetBytes = 8.0 * 1024 * 1024;
constexpr std::int64_t kSampleNs = 100 * kMs;

// The sizes of the database and its -wal file over a run.
struct FileGrowth {
  Json series = Json::array();  // [seconds, db bytes, wal bytes]
  std::uintmax_t db_max = 0, wal_max = 0, db_last = 0, wal_last = 0;
  std::uintmax_t wal_max_after_first_s = 0;

  void sample(const std::filesystem::path& db, double t) {
    db_last = size_or_zero(db);
    wal_last = size_or_zero(db.string() + "-wal");
    db_max = std::max(db_max, db_last);
    wal_max = std::max(wal_max, wal_last);
    if (t >= 1.0) wal_max_after_first_s = std::max(wal_max_after_first_s, wal_last);
    series.push_back({round3(t), db_last, wal_last});
  }
};

// Samples every 100 ms from `t0` until `duration_s` has passed; returns the
// elapsed seconds.
double sample_until(Pool& pool, FileGrowth& g, std::int64_t t0, double duration_s) {
  const auto end = t0 + static_cast<std::int64_t>(duration_s * 1e9);
  for (std::int64_t next = t0 + kSampleNs;; next += kSampleNs) {
    pool.pump_until([] { return false; }, std::min(next, end));
    g.sample(pool.db(), static_cast<double>(monotonic_ns() - t0) / 1e9);
    if (monotonic_ns() >= end) break;
  }
  return static_cast<double>(monotonic_ns() - t0) / 1e9;
}

Json growth_metrics(const FileGrowth& g, const DbFootprint& fp, const BackToBack& b2b,
                    double elapsed, double retention_s) {
  const double rate = static_cast<double>(b2b.acked.size()) / elapsed;
  const std::int64_t used_pages = fp.pages - fp.free_pages;
  const double row_bytes =
      fp.rows > 0 ? static_cast<double>(used_pages * fp.page_size) / static_cast<double>(fp.rows)
                  : 0.0;
  const double rows_bound = rate * retention_s;
  const double db_bound = rows_bound * row_bytes;
  Json m = {
      {"commits_per_s", round3(rate)},
      {"commits", static_cast<std::int64_t>(b2b.acked.size())},
      {"db_max_bytes", g.db_max},
      {"db_final_bytes", g.db_last},
      {"wal_max_bytes", g.wal_max},
      {"wal_final_bytes", g.wal_last},
      {"wal_max_after_1s_bytes", g.wal_max_after_first_s},
      {"wal_target_bytes", kWalTargetBytes},
      {"wal_max_over_target", round3(static_cast<double>(g.wal_max) / kWalTargetBytes)},
      {"rows_final", fp.rows},
      {"rows_bound", round3(rows_bound)},
      {"row_bytes", round3(row_bytes)},
      {"db_bound_bytes", round3(db_bound)},
      {"db_max_over_bound", db_bound > 0 ? round3(static_cast<double>(g.db_max) / db_bound) : 0.0},
      {"errors", b2b.errors},
      {"elapsed_s", round3(elapsed)}};
  if (!fp.error.empty()) m["footprint_error"] = fp.error;
  return m;
}

}  // namespace

Json growth_bench(BenchContext& ctx, int publishers, double duration_s) {
  std::string channel;
  const std::filesystem::path dir = ctx.next_dir("growth", channel);
  const double retention_s = ctx.options().retention_s;
  Pool pool(ctx.options(), dir, channel, {0.05, "on", retention_s, ""});
  PublishLoad load(pool, publishers);
  BackToBack& b2b = load.b2b();
  pool.start_all();
  FileGrowth growth;
  const std::int64_t t0 = monotonic_ns();
  b2b.begin();
  const double elapsed = sample_until(pool, growth, t0, duration_s);
  b2b.end(pool);
  const DbFootprint fp = footprint(pool.db());
  const PublishLoad::Outcome outcome = load.finish();
  Json m = growth_metrics(growth, fp, b2b, elapsed, retention_s);
  m["busy_waits"] = outcome.busy_waits;
  m["lost"] = outcome.lost;
  return {{"bench", "growth"},
          {"params",
           {{"publishers", publishers},
            {"backend", "sqlite"},
            {"retention_s", round3(retention_s)},
            {"duration_s", round3(duration_s)},
            {"sample_ms", 100}}},
          {"metrics", m},
          {"series", growth.series}};
}

}  // namespace pjx::harness
