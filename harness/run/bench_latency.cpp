// The latency bench (bench.hpp): W receivers and one publisher; from the
// start of each publish call (published.t_begin) to its delivery
// (received.t) at each receiver, the receivers' CPU while the publishes
// arrive, and the wake counters of their stats.
#include <algorithm>
#include <map>
#include <random>
#include <stdexcept>
#include <vector>

#include "bench_kinds.hpp"
#include "bench_measure.hpp"
#include "bench_pool.hpp"
#include "event_loop.hpp"

namespace pjx::harness {
namespace {

// Unmeasured publishes before a latency run's events.
constexpr int kLatencyWarmups = 3;

std::int64_t int_of(const Json& ev, const char* key) { return ev.value(key, std::int64_t{0}); }

class LatencyRun {
 public:
  LatencyRun(BenchContext& ctx, int workers, double poll_s, const std::string& wake,
             const std::string& redis_url);
  Json run();

 private:
  void add_receivers(int workers);
  void on_publisher_event(const Json& ev);
  // Sends one publish and waits (30 s) for its answer.
  void publish_and_wait(std::int64_t id, const std::string& key, const char* what);
  void warm_up();
  void publish_events();
  bool all_in() const;
  Json delivery_metrics();
  Json wake_metrics() const;

  BenchContext& ctx_;
  const int workers_;
  const double poll_s_;
  const std::string wake_;
  const std::string redis_url_;
  const std::int64_t poll_ns_;
  std::string channel_;
  Pool pool_;
  BenchWorker& pub_;
  std::vector<BenchWorker*> receivers_;
  // key -> receive time, per receiver
  std::vector<std::map<std::string, std::int64_t>> got_;
  std::map<std::string, std::int64_t> published_;  // key -> published.t_begin
  std::map<std::string, std::int64_t> returned_;   // key -> when its publish call returned
  std::vector<double> call_ms_;                    // how long each publish call took
  std::int64_t errors_ = 0;
  bool answered_ = false;
  bool warming_up_ = true;  // the first publishes are not measured (warm_up())
};

LatencyRun::LatencyRun(BenchContext& ctx, int workers, double poll_s, const std::string& wake,
                       const std::string& redis_url)
    : ctx_(ctx),
      workers_(workers),
      poll_s_(poll_s),
      wake_(wake),
      redis_url_(redis_url),
      poll_ns_(static_cast<std::int64_t>(poll_s * 1e9)),
      pool_(ctx.options(), ctx.next_dir("latency", channel_), channel_,
            {poll_s, wake, 600, redis_url}),
      pub_(pool_.add()) {
  add_receivers(workers);
  pub_.on_event = [this](const Json& ev) { on_publisher_event(ev); };
}

void LatencyRun::add_receivers(int workers) {
  got_.resize(static_cast<std::size_t>(workers));
  for (int i = 0; i < workers; ++i) {
    BenchWorker& r = pool_.add();
    receivers_.push_back(&r);
    auto* g = &got_[static_cast<std::size_t>(i)];
    r.on_event = [g](const Json& ev) {
      if (ev.value("ev", std::string()) != "received" || !ev.contains("keys")) return;
      const std::int64_t t = int_of(ev, "t");
      for (const auto& k : ev["keys"]) {
        if (k.is_string()) g->emplace(k.get<std::string>(), t);
      }
    };
  }
}

void LatencyRun::on_publisher_event(const Json& ev) {
  const std::string kind = ev.value("ev", std::string());
  if (kind == "published" && !warming_up_) {
    // From the start of the publish call (published.t_begin), for both
    // backends: the commit (or PUBLISH) happens somewhere inside the call,
    // and receivers often have the event before it returns (the doorbell
    // and Redis both wake them at once), so the call's end would give
    // negative latencies. This counts the publish's own cost (tens of
    // microseconds) in the latency.
    const std::string key = "k" + std::to_string(ev.value("id", 0));
    published_[key] = int_of(ev, "t_begin");
    returned_[key] = int_of(ev, "t");
    call_ms_.push_back(static_cast<double>(int_of(ev, "t") - int_of(ev, "t_begin")) / 1e6);
  } else if (kind == "error") {
    ++errors_;
  } else if (kind != "published") {
    return;
  }
  answered_ = true;
}

void LatencyRun::publish_and_wait(std::int64_t id, const std::string& key, const char* what) {
  answered_ = false;
  Json op = {{"op", "publish"}, {"id", id}, {"keys", {key}}};
  pub_.proc->write_line(op.dump());
  if (!pool_.pump_until([&] { return answered_ || pub_.proc->exited(); },
                        monotonic_ns() + 30 * kSecond)) {
    throw std::runtime_error(std::string("the publisher did not answer ") + what + " within 30 s");
  }
}

// Warm-up, not measured: a listener wakes on -wal writes until it has heard
// a doorbell, so the first publish of a run wakes every listener on its
// first frame, as without the doorbell (at 64 workers that one event is
// 2.5 % of the samples and set the p99). A long-running deployment is past
// that; so is the measurement, after these.
void LatencyRun::warm_up() {
  for (int i = 0; i < kLatencyWarmups; ++i) {
    const std::string key = "warm-up-" + std::to_string(i);
    publish_and_wait(-1 - i, key, "a warm-up publish");
    pool_.pump_until(
        [&] {
          return std::all_of(got_.begin(), got_.end(),
                             [&key](const auto& g) { return g.count(key) != 0; });
        },
        monotonic_ns() + poll_ns_ + 5 * kSecond);
  }
  warming_up_ = false;
}

void LatencyRun::publish_events() {
  std::mt19937_64 rng(ctx_.options().seed + static_cast<std::uint64_t>(ctx_.run_number()));
  std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(1, poll_ns_ / 3));
  for (int i = 0; i < ctx_.options().events; ++i) {
    publish_and_wait(i, "k" + std::to_string(i), "a publish");
    pool_.pump_for(poll_ns_ / 3 + jitter(rng));
  }
}

bool LatencyRun::all_in() const {
  for (const auto& g : got_) {
    for (const auto& [k, t] : published_) {
      if (g.count(k) == 0) return false;
    }
  }
  return true;
}

Json LatencyRun::delivery_metrics() {
  std::vector<double> lat_ms;
  std::vector<double> after_return_ms;  // from the call's return: negative when it came first
  std::int64_t missing = 0;
  for (const auto& g : got_) {
    for (const auto& [k, t] : published_) {
      auto it = g.find(k);
      if (it == g.end()) {
        ++missing;
        continue;
      }
      lat_ms.push_back(static_cast<double>(it->second - t) / 1e6);
      after_return_ms.push_back(static_cast<double>(it->second - returned_[k]) / 1e6);
    }
  }
  Json m = delivery_figures(lat_ms, poll_s_ * 1000.0);
  m.update(Json{{"publish_call_p50_ms", round3(percentile_or_zero(call_ms_, 50))},
                {"publish_call_p99_ms", round3(percentile_or_zero(call_ms_, 99))},
                {"p50_after_return_ms", round3(percentile_or_zero(after_return_ms, 50))},
                {"p99_after_return_ms", round3(percentile_or_zero(after_return_ms, 99))},
                {"deliveries", static_cast<std::int64_t>(lat_ms.size())},
                {"missing", missing},
                {"errors", errors_}});
  return m;
}

// The receivers' wake counters; empty when a worker does not report them.
Json LatencyRun::wake_metrics() const {
  std::int64_t wakes = 0, bells = 0, empty = 0, timed = 0, failures = 0;
  for (BenchWorker* r : receivers_) {
    if (!has_stat(r->stats, "wakes")) return Json::object();
    wakes += stat_i(r->stats, "wakes");
    bells += stat_i(r->stats, "doorbell_wakes");
    empty += stat_i(r->stats, "empty_wakes");
    timed += stat_i(r->stats, "timed_polls");
    failures += stat_i(r->stats, "wake_failures");
  }
  return {{"wakes", wakes},
          {"doorbell_wakes", bells},
          {"empty_wakes", empty},
          {"timed_polls", timed},
          {"wake_failures", failures},
          {"empty_wake_rate",
           wakes > 0 ? round3(static_cast<double>(empty) / static_cast<double>(wakes)) : 0.0}};
}

Json LatencyRun::run() {
  pool_.start_all();
  warm_up();
  const std::vector<CpuSample> cpu0 = cpu_of(receivers_);
  const std::int64_t t0 = monotonic_ns();
  publish_events();
  pool_.pump_until([this] { return all_in(); }, monotonic_ns() + poll_ns_ + 5 * kSecond);
  const double load_s = static_cast<double>(monotonic_ns() - t0) / 1e9;
  const Json cpu = cpu_metrics(cpu_ms_per_s(cpu0, cpu_of(receivers_), load_s));
  pool_.collect_stats(receivers_);
  Json m = delivery_metrics();
  m.update(cpu);
  m["load_s"] = round3(load_s);
  m.update(wake_metrics());
  pool_.stop_all();
  Json params = listener_params(workers_, poll_s_, wake_, redis_url_);
  params["latency_from"] = "publish_begin";
  params["events"] = ctx_.options().events;
  return {{"bench", "latency"}, {"params", params}, {"metrics", m}};
}

}  // namespace

Json latency_bench(BenchContext& ctx, int workers, double poll_s, const std::string& wake,
                   const std::string& redis_url) {
  LatencyRun run(ctx, workers, poll_s, wake, redis_url);
  return run.run();
}

}  // namespace pjx::harness
