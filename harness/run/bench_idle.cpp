// The idle bench (bench.hpp): W idle workers; CPU from the kernel's
// accounting while nothing is published.
#include <algorithm>
#include <vector>

#include "bench_kinds.hpp"
#include "bench_measure.hpp"
#include "bench_pool.hpp"
#include "event_loop.hpp"

namespace pjx::harness {

Json idle_bench(BenchContext& ctx, int workers, double poll_s, const std::string& wake,
                double duration_s, const std::string& redis_url) {
  std::string channel;
  const std::filesystem::path dir = ctx.next_dir("idle", channel);
  Pool pool(ctx.options(), dir, channel, {poll_s, wake, 600, redis_url});
  std::vector<BenchWorker*> ws;
  for (int i = 0; i < workers; ++i) ws.push_back(&pool.add());
  pool.start_all();
  pool.pump_for(std::min<std::int64_t>(kSecond, static_cast<std::int64_t>(poll_s * 2e9)));
  const std::vector<CpuSample> before = cpu_of(ws);
  const std::int64_t t0 = monotonic_ns();
  pool.pump_for(static_cast<std::int64_t>(duration_s * 1e9));
  const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
  Json m = cpu_metrics(cpu_ms_per_s(before, cpu_of(ws), elapsed));
  pool.stop_all();
  m["elapsed_s"] = round3(elapsed);
  m["tick_ms"] = round3(tick_ms());
  Json params = listener_params(workers, poll_s, wake, redis_url);
  params["duration_s"] = round3(duration_s);
  return {{"bench", "idle"}, {"params", params}, {"metrics", m}};
}

}  // namespace pjx::harness
