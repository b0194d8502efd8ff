// The throughput bench (bench.hpp): K publishers publishing back to back,
// one listener; commit latency and lost deliveries.
#include <algorithm>
#include <vector>

#include "bench_kinds.hpp"
#include "bench_measure.hpp"
#include "bench_pool.hpp"
#include "event_loop.hpp"

namespace pjx::harness {

Json throughput_bench(BenchContext& ctx, int publishers, double duration_s) {
  std::string channel;
  const std::filesystem::path dir = ctx.next_dir("throughput", channel);
  Pool pool(ctx.options(), dir, channel, {0.05, "on", 600, ""});
  PublishLoad load(pool, publishers);
  BackToBack& b2b = load.b2b();
  pool.start_all();
  const std::int64_t t0 = monotonic_ns();
  b2b.begin();
  pool.pump_for(static_cast<std::int64_t>(duration_s * 1e9));
  b2b.end(pool);
  const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
  const PublishLoad::Outcome outcome = load.finish();
  const auto& lat = b2b.lat_us;
  return {{"bench", "throughput"},
          {"params",
           {{"publishers", publishers}, {"backend", "sqlite"}, {"duration_s", round3(duration_s)}}},
          {"metrics",
           {{"commits_per_s", round3(static_cast<double>(b2b.acked.size()) / elapsed)},
            {"commits", static_cast<std::int64_t>(b2b.acked.size())},
            {"p50_us", round3(percentile_or_zero(lat, 50))},
            {"p99_us", round3(percentile_or_zero(lat, 99))},
            {"p999_us", round3(percentile_or_zero(lat, 99.9))},
            {"max_us", round3(percentile_or_zero(lat, 100))},
            {"errors", b2b.errors},
            {"busy_waits", outcome.busy_waits},
            {"lost", outcome.lost},
            {"elapsed_s", round3(elapsed)}}}};
}

}  // namespace pjx::harness
