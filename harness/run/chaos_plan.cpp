#include "chaos_plan.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "timeline.hpp"

namespace pjx::harness {
namespace {

// Durations are written in the timing's units, so that a plan drawn under
// quick timing reads (and replays) the same under documented timing.
Duration polls(double n) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.1f poll", std::round(n * 10) / 10);
  return parse_duration(buf);
}
Duration multiple(double n, const char* unit) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.2f %s", std::round(n * 100) / 100, unit);
  return parse_duration(buf);
}

class Draw {
 public:
  explicit Draw(std::uint64_t seed) : rng_(seed) {}
  double uniform(double lo, double hi) {
    return lo + (hi - lo) * static_cast<double>(rng_.next() >> 11) * 0x1.0p-53;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(rng_.below(n)); }
  bool chance(double p) { return uniform(0, 1) < p; }

 private:
  SplitMix64 rng_;
};

struct Window {
  double from = 0;  // polls
  double to = 0;
};

struct Planner {
  const ChaosConfig& config;
  const Timing& timing;
  Draw draw;
  double span;                  // polls of workload
  std::vector<std::string> names;
  std::vector<std::string> cpp;  // workers that run pjx-worker (io faults)
  std::vector<Window> refusing;  // readonly and disk-full windows: no restart inside
  std::vector<Window> blocking;  // and lock windows: no file operation of the harness inside
  std::vector<FaultSpec> faults;

  double retention_polls() const { return timing.retention_ms / timing.poll_ms; }
  double busy_polls() const { return timing.busy_timeout_ms / timing.poll_ms; }
  // A moment in [lo, hi] x span, in polls.
  double at(double lo = 0.05, double hi = 0.85) { return draw.uniform(lo, hi) * span; }
  const std::string& worker() { return names[draw.below(names.size())]; }

  void add(const std::string& action, double at_polls, const std::string& worker = "") {
    FaultSpec f;
    f.action = action;
    f.at = polls(at_polls);
    f.worker = worker;
    faults.push_back(std::move(f));
  }
  void add_window(const std::string& action, double at_polls, Duration length,
                  const std::string& worker = "") {
    add(action, at_polls, worker);
    faults.back().duration = std::move(length);
  }
  // The first moment >= t at which [t, t + len] meets no window of
  // `windows` (1 poll before and 2 after each kept clear).
  static double outside(double t, const std::vector<Window>& windows, double len = 0) {
    for (bool moved = true; moved;) {
      moved = false;
      for (const Window& w : windows) {
        if (t + len >= w.from - 1 && t < w.to + 2) {
          t = w.to + 2;
          moved = true;
        }
      }
    }
    return t;
  }
  double outside_refusing(double t) const { return outside(t, refusing); }
  // The harness copies, restores, replaces and deletes the file itself, on
  // its one thread: not while it holds the write lock (it would wait for
  // itself), nor on a full or read-only filesystem (its own write fails).
  double outside_blocking(double t) const { return outside(t, blocking); }

  void storage_windows(const std::string& kind) {
    if (kind == "disk-full") {
      // Mount faults on the run's folder do not nest: a filesystem mounted
      // over a read-only bind (or the reverse) cannot be undone in order.
      const double drawn = at(0.1, 0.7), len = draw.uniform(5, 15), t = outside(drawn, refusing, len);
      add_window("disk_full", t, polls(len));
      refusing.push_back({t, t + len});
      blocking.push_back({t, t + len});
    } else if (kind == "readonly") {
      const double drawn = at(0.1, 0.7), len = draw.uniform(3, 10), t = outside(drawn, refusing, len);
      add_window("readonly_dir", t, polls(len));
      refusing.push_back({t, t + len});
      blocking.push_back({t, t + len});
    } else if (kind == "lock") {
      std::vector<Window> locks;  // the harness holds one lock at a time
      for (int i = 0; i < 2; ++i) {
        const double len = draw.uniform(1.2, 2.5) * busy_polls();
        const double t = outside(at(), locks, len);
        add_window("lock", t, polls(len));
        blocking.push_back({t, t + len});
        locks.push_back({t, t + len});
      }
    }
  }

  void other(const std::string& kind) {
    if (kind == "pause") {
      for (int i = 0; i < 3; ++i) {
        const bool past = draw.chance(0.5);
        const double r = past ? draw.uniform(1.2, 3.0) : draw.uniform(0.2, 0.9);
        add_window("pause", at(), multiple(r, "retention"), worker());
      }
    } else if (kind == "kill" || kind == "kill-during-publish") {
      const int n = kind == "kill" ? 4 : 2;
      for (int i = 0; i < n; ++i) {
        const std::string w = worker();
        const double t = at(0.05, 0.75);
        add("kill", t, w);
        faults.back().during_publish = kind == "kill-during-publish";
        add("restart", outside_refusing(t + draw.uniform(2, 12)), w);
      }
    } else if (kind == "clock-step") {
      const std::string w = worker();
      const double t = at(0.05, 0.6);
      const bool ahead = draw.chance(0.5);
      add("clock_step", t, w);
      faults.back().offset = ahead ? "+3600s" : "-30s";
      faults.back().offset_s = ahead ? 3600 : -30;
      add("clock_step", t + draw.uniform(10, 40), w);
      faults.back().offset = "+0s";
      faults.back().offset_s = 0;
    } else if (kind == "io" && !cpp.empty()) {
      add_window("vfs_fault", at(), polls(draw.uniform(2, 10)), cpp[draw.below(cpp.size())]);
    } else if (kind == "replace") {
      add("replace_db", outside_blocking(at(0.2, 0.8)));
      faults.back().sidecars = draw.chance(0.5);
    } else if (kind == "delete") {
      add("delete_db", outside_blocking(at(0.2, 0.8)));
      faults.back().sidecars = true;
    } else if (kind == "power-loss" && cpp.size() == names.size()) {
      // Every worker dies and restarts: only where each records what it
      // writes (the cpp workers' power-loss log). Half the time the disk
      // also kept a random half of what was not synced.
      add("power_loss", outside_blocking(at(0.2, 0.8)));
      faults.back().keep = draw.chance(0.5) ? 0.5 : 0;
    } else if (kind == "restore") {
      const double snap = outside_blocking(at(0.05, 0.4));
      add("snapshot_db", snap);
      add("restore_db", outside_blocking(snap + draw.uniform(0.1, 0.5) * span));
    }
  }
};

std::uint64_t epoch_seed(std::uint64_t seed, int epoch) {
  // Two SplitMix64 steps apart per epoch: independent streams.
  SplitMix64 mix(seed * std::uint64_t{0x9E3779B97F4A7C15} + static_cast<std::uint64_t>(epoch) + 1);
  return mix.next() ^ mix.next();
}

}  // namespace

const std::vector<std::string>& chaos_fault_kinds() {
  static const std::vector<std::string> kinds = {
      "pause", "kill",      "kill-during-publish", "lock",    "clock-step", "io",
      "disk-full", "replace", "delete",            "restore", "readonly", "power-loss"};
  return kinds;
}

std::vector<std::string> chaos_fault_kinds_for(const std::string& backend) {
  if (backend == "redis") return {"pause", "kill", "kill-during-publish"};
  return chaos_fault_kinds();
}

std::vector<std::pair<std::string, std::string>> chaos_worker_impls(const ChaosConfig& config) {
  std::vector<std::pair<std::string, std::string>> out;
  int i = 0;
  for (const ChaosConfig::Impl& impl : config.mix) {
    for (int k = 0; k < impl.count; ++k) out.emplace_back("w" + std::to_string(i++), impl.name);
  }
  return out;
}

Scenario plan_chaos_epoch(const ChaosConfig& config, int epoch, const Timing& timing) {
  if (config.workers < 2) throw std::invalid_argument("chaos needs at least 2 workers");
  int total = 0;
  for (const ChaosConfig::Impl& impl : config.mix) total += impl.count;
  if (total != config.workers) {
    throw std::invalid_argument("the mix gives " + std::to_string(total) + " workers, not " +
                                std::to_string(config.workers));
  }
  Planner p{config, timing, Draw(epoch_seed(config.seed, epoch)),
            config.epoch_s * 1000 / timing.poll_ms, {}, {}, {}, {}, {}};
  Scenario s;
  s.name = "chaos-" + std::to_string(config.seed) + "-" + std::to_string(epoch);
  s.guarantee =
      "Under faults composed at random, every invalidation reaches each worker or is covered by "
      "its flush in time, what workers serve is never staler than the bound, each publisher's "
      "order holds and the file stays intact.";
  s.checks = {"staleness", "stale_reads", "order"};
  // Chaos hunts lost and stale data, not latency (the latency scenarios hold
  // that): a whole second of slack, for listeners recovering from a fault on
  // a loaded host.
  s.check_params = {{"staleness", {{"slack_ms", 1000}}}, {"stale_reads", {{"slack_ms", 1000}}}};
  if (config.backend == "sqlite") s.checks.emplace_back("integrity");
  s.backends = {config.backend};
  s.backend = config.backend;

  const auto impls = chaos_worker_impls(config);
  for (std::size_t i = 0; i < impls.size(); ++i) {
    WorkerSpec w;
    w.name = impls[i].first;
    for (const ChaosConfig::Impl& impl : config.mix) {
      if (impl.name == impls[i].second) w.cmd = impl.cmd;
    }
    p.names.push_back(w.name);
    if (impls[i].second == "cpp") p.cpp.push_back(w.name);
    s.workers.push_back(std::move(w));
  }
  // One late start: the last worker joins during the workload.
  s.workers.back().start_at = polls(p.at(0.05, 0.3));

  std::vector<std::string> kinds = config.faults;
  const std::vector<std::string> possible = chaos_fault_kinds_for(config.backend);
  kinds.erase(std::remove_if(kinds.begin(), kinds.end(),
                             [&](const std::string& k) {
                               return std::find(possible.begin(), possible.end(), k) ==
                                      possible.end();
                             }),
              kinds.end());
  // Storage windows first: restarts are drawn outside them.
  for (const std::string& k : kinds) p.storage_windows(k);
  for (const std::string& k : kinds) p.other(k);
  if (std::find(kinds.begin(), kinds.end(), "io") != kinds.end()) {
    for (WorkerSpec& w : s.workers) {
      for (const FaultSpec& f : p.faults) {
        if (f.action == "vfs_fault" && f.worker == w.name) {
          w.env["PJX_WORKER_FAULT"] = "kind=write,nth=1,error=io,persistent=1";
          w.env["PJX_WORKER_FAULT_ARMED"] = "0";
        }
      }
    }
  }
  const bool power_loss = std::any_of(p.faults.begin(), p.faults.end(),
                                     [](const FaultSpec& f) { return f.action == "power_loss"; });
  if (power_loss) {
    // Frequent checkpoints: the WAL is synced, copied and restarted many
    // times in an epoch, so a power loss lands among all of that.
    for (WorkerSpec& w : s.workers) w.env["PJX_WORKER_CHECKPOINT_PAGES"] = "40";
  }
  std::stable_sort(p.faults.begin(), p.faults.end(), [&](const FaultSpec& a, const FaultSpec& b) {
    return a.at.resolve_ms(timing) < b.at.resolve_ms(timing);
  });
  s.faults = std::move(p.faults);

  WorkloadSpec work;
  work.publishes = static_cast<int>(p.span / 2);
  work.interval = polls(2);
  work.shared_keys = 1;
  // Every worker, the late one too once it is ready (an op goes to the first
  // candidate that can take it): with --mix, the late one is the upstream
  // emulation, whose publishes must reach the reference under faults too.
  work.publishers = p.names;
  s.workload = work;
  ReadsSpec reads;
  reads.ops = static_cast<int>(p.span);
  reads.interval = polls(1);
  reads.keys = 6;
  reads.write_percent = 30;
  reads.races = std::max(1, static_cast<int>(config.epoch_s / 5));
  reads.slow = polls(2);
  reads.bursts = std::max(1, static_cast<int>(config.epoch_s / 10));
  reads.burst_size = 4;
  reads.readers = p.names;
  s.reads = reads;
  // Time for the outbox to drain after the last fault, then the deliveries.
  s.quiesce_timeout = parse_duration("5s");
  return s;
}

}  // namespace pjx::harness
