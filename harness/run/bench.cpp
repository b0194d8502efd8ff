#include "bench.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bench_kinds.hpp"
#include "bench_measure.hpp"
#include "check/stats.hpp"
#include "host_lag.hpp"
#include "redis_launcher.hpp"

namespace pjx::harness {
namespace {

// --wake: off (timed polls only), wal (woken by the -wal file, no doorbell:
// what upstream publishers give a listener), on (wal + doorbell, the
// default); both = off and on; all = the three.
std::vector<std::string> wake_modes(const std::string& wake) {
  if (wake == "both") return {"off", "on"};
  if (wake == "all") return {"off", "wal", "on"};
  return {wake};
}

}  // namespace

std::filesystem::path BenchContext::next_dir(const std::string& name, std::string& channel) {
  ++n_;
  channel = "pjx-bench:" + options_.run_id + ":" + std::to_string(n_);
  return options_.dir / (std::to_string(n_) + "-" + name);
}

Json median_metrics(const std::vector<Json>& samples) {
  Json out = Json::object();
  if (samples.empty()) return out;
  for (const auto& item : samples.front().items()) {
    // Named copies, not a structured binding: clang 14 cannot capture one.
    const std::string& key = item.key();
    const Json& first = item.value();
    std::vector<double> values;
    bool numeric = first.is_number();
    for (const Json& s : samples) {
      if (!s.contains(key) || !s[key].is_number()) {
        numeric = false;
        break;
      }
      values.push_back(s[key].get<double>());
    }
    if (!numeric) {
      out[key] = first;
      continue;
    }
    const double med = percentile(values, 50);
    const bool integral = std::all_of(samples.begin(), samples.end(), [&key](const Json& s) {
      return s[key].is_number_integer() || s[key].is_number_unsigned();
    });
    // Counters that must be 0 (missing, lost, errors) report their worst run.
    if (key == "missing" || key == "lost" || key == "errors") {
      out[key] = static_cast<std::int64_t>(*std::max_element(values.begin(), values.end()));
    } else if (integral && med == std::floor(med)) {
      out[key] = static_cast<std::int64_t>(med);
    } else {
      out[key] = round6(med);
    }
  }
  return out;
}

void apply_quick(BenchOptions& o) {
  o.workers = {1, 4};
  o.poll_s = {0.05};
  o.wake = "both";
  o.events = 20;
  o.idle_workers = {2};
  o.duration_s = 2;
  o.publishers = {1, 2};
  o.growth_publishers = {1};
  o.runs = 1;
}

namespace {

// What the host-lag probe saw during the runs of one configuration
// (host_lag.hpp): how many stalls of 10 ms or more, the longest, the sum.
Json host_stalls_json(const std::vector<HostLagWindow>& windows) {
  double max_ms = 0;
  double total_ms = 0;
  for (const HostLagWindow& w : windows) {
    max_ms = std::max(max_ms, w.ms());
    total_ms += w.ms();
  }
  return {{"count", windows.size()},
          {"max_ms", std::round(max_ms * 10) / 10},
          {"total_ms", std::round(total_ms * 10) / 10}};
}

// The runs of one invocation: each configuration run o.runs times, its
// metrics the medians, a progress line per configuration.
class BenchSession {
 public:
  BenchSession(const BenchOptions& o, std::ostream& progress)
      : o_(o), ctx_(o), progress_(progress) {
    // One redis-server on loopback for the whole bench (persistence off);
    // each run has its own channel on it.
    if (o.backend == "redis" || o.backend == "both") {
      pjx::testing::RedisServerOptions ro;
      ro.dir = o.dir / "redis";
      server_ = std::make_unique<pjx::testing::RedisServer>(ro);
      progress << "bench: redis-server " << server_->version() << " at " << server_->url() << "\n";
    }
  }

  Json run() {
    const bool all = o_.kind == "all";
    if (all || o_.kind == "latency") latency();
    if (all || o_.kind == "idle") idle();
    if (all || o_.kind == "throughput") {
      const double d = o_.duration_s > 0 ? o_.duration_s : 10;
      for (int k : o_.publishers) repeat([&] { return throughput_bench(ctx_, k, d); });
    }
    if (all || o_.kind == "growth") {
      const double d = o_.duration_s > 0 ? o_.duration_s : 60;
      for (int k : o_.growth_publishers) repeat([&] { return growth_bench(ctx_, k, d); });
    }
    return runs_;
  }

 private:
  bool sqlite() const { return o_.backend != "redis"; }
  std::string redis_url() const { return server_ ? server_->url() : std::string(); }

  void latency() {
    for (double p : o_.poll_s) {
      for (int w : o_.workers) {
        if (sqlite()) {
          for (const auto& wake : wake_modes(o_.wake)) {
            repeat([&] { return latency_bench(ctx_, w, p, wake, ""); });
          }
        }
        if (server_) repeat([&] { return latency_bench(ctx_, w, p, "off", redis_url()); });
      }
    }
  }

  void idle() {
    const double d = o_.duration_s > 0 ? o_.duration_s : 10;
    for (double p : o_.poll_s) {
      for (int w : o_.idle_workers) {
        if (!sqlite()) continue;
        for (const auto& wake : wake_modes(o_.wake)) {
          repeat([&] { return idle_bench(ctx_, w, p, wake, d, ""); });
        }
      }
    }
    if (!server_) return;
    for (int w : o_.idle_workers) {
      repeat([&] { return idle_bench(ctx_, w, 0.5, "off", d, redis_url()); });
    }
  }

  // Runs one configuration o.runs times; metrics are the medians.
  void repeat(const std::function<Json()>& once) {
    std::vector<Json> samples;
    Json first;
    const std::string load_before = load_average();
    HostLagProbe host_lag;  // stalls of the whole host while the runs went on
    host_lag.start();
    for (int i = 0; i < o_.runs; ++i) {
      Json r = once();
      samples.push_back(r["metrics"]);
      if (i == 0) first = std::move(r);
    }
    first["host_stalls"] = host_stalls_json(host_lag.stop());
    if (server_ && first["params"].value("backend", std::string()) == "redis") {
      first["params"]["redis_version"] = server_->version();
    }
    first["load_before"] = load_before;
    first["load_after"] = load_average();
    first["params"]["runs"] = o_.runs;
    if (o_.runs > 1) {
      first["metrics"] = median_metrics(samples);
      first["samples"] = samples;
      first.erase("series");  // only one run's series would be kept; drop it
    }
    progress_ << "bench " << first["bench"].get<std::string>() << " " << first["params"].dump()
              << " " << first["metrics"].dump() << "\n"
              << std::flush;
    runs_.push_back(std::move(first));
  }

  const BenchOptions& o_;
  BenchContext ctx_;
  std::ostream& progress_;
  std::unique_ptr<pjx::testing::RedisServer> server_;
  Json runs_ = Json::array();
};

}  // namespace

Json run_benches(const BenchOptions& o, std::ostream& progress) {
  if (o.runs < 1) throw std::runtime_error("--runs must be at least 1");
  BenchSession session(o, progress);
  return session.run();
}

int bench_exit_code(const Json& runs) {
  for (const auto& r : runs) {
    const Json& m = r["metrics"];
    if (m.value("missing", std::int64_t{0}) != 0 || m.value("lost", std::int64_t{0}) != 0 ||
        m.value("errors", std::int64_t{0}) != 0) {
      return 1;
    }
  }
  return 0;
}

}  // namespace pjx::harness
