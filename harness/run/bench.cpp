#include "bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <unistd.h>

#include "child_process.hpp"
#include "command_line.hpp"
#include "duration.hpp"
#include "event_loop.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSecond = 1'000 * kMs;

struct Worker {
  std::unique_ptr<ChildProcess> proc;
  bool ready = false;
  bool stopped = false;
  std::string fatal;
  Json stats;  // the last `stats` answer
  std::function<void(const Json&)> on_event;
};

// W worker processes on one database and channel, on one io_context.
class Pool {
 public:
  Pool(const BenchOptions& o, const fs::path& dir, const std::string& channel, double poll_s,
       bool wake)
      : options_(o), dir_(dir) {
    fs::create_directories(dir_);
    env_["PJX_INVALIDATION_DB"] = (dir_ / "pjx.db").string();
    env_["PJX_INVALIDATION_CHANNEL"] = channel;
    env_["PJX_POLL_INTERVAL"] = format_seconds(poll_s);
    env_["PJX_RETENTION"] = "600";
    env_["PJX_WAKE_ON_CHANGE"] = wake ? "1" : "0";
  }
  ~Pool() {
    // Destroying the processes kills what is still running.
    workers_.clear();
  }

  Worker& add() {
    auto w = std::make_unique<Worker>();
    Worker* wp = w.get();
    const std::string name = "w" + std::to_string(workers_.size());
    auto overrides = env_;
    overrides["PJX_WORKER_NAME"] = name;
    const std::vector<std::string> env = worker_environment(overrides);
    ChildProcess::Handlers h;
    h.on_line = [wp](std::string line) {
      Json ev;
      try {
        ev = Json::parse(line);
      } catch (const Json::parse_error&) {
        return;
      }
      if (!ev.is_object() || !ev.contains("ev") || !ev["ev"].is_string()) return;
      const std::string kind = ev["ev"].get<std::string>();
      if (kind == "ready") wp->ready = true;
      if (kind == "stopped") wp->stopped = true;
      if (kind == "fatal") wp->fatal = ev.value("message", std::string("fatal"));
      if (kind == "stats") wp->stats = ev;
      if (wp->on_event) wp->on_event(ev);
    };
    w->proc = ChildProcess::spawn(io_, split_command_line(options_.worker_cmd), env,
                                  dir_ / (name + ".stderr"), std::move(h));
    workers_.push_back(std::move(w));
    return *wp;
  }

  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }

  void start_all() {
    for (auto& w : workers_) w->proc->write_line(R"({"op":"start"})");
    const bool ok = pump_until(
        [this] {
          for (auto& w : workers_) {
            if (!w->fatal.empty()) return true;
            if (w->proc->exited()) return true;
            if (!w->ready) return false;
          }
          return true;
        },
        monotonic_ns() + 30 * kSecond);
    for (auto& w : workers_) {
      if (!w->fatal.empty()) throw std::runtime_error("worker fatal: " + w->fatal);
      if (w->proc->exited() || !w->ready) {
        throw std::runtime_error("a worker did not become ready (see " + dir_.string() + ")");
      }
    }
    (void)ok;
  }

  // Asks every worker in `which` for stats and waits for the answers.
  void collect_stats(const std::vector<Worker*>& which) {
    for (Worker* w : which) {
      w->stats = Json();
      w->proc->write_line(R"({"op":"stats"})");
    }
    pump_until(
        [&which] {
          return std::all_of(which.begin(), which.end(),
                             [](Worker* w) { return !w->stats.is_null() || w->proc->exited(); });
        },
        monotonic_ns() + 10 * kSecond);
  }

  void stop_all() {
    for (auto& w : workers_) {
      if (!w->proc->exited()) w->proc->write_line(R"({"op":"stop"})");
    }
    pump_until(
        [this] {
          return std::all_of(workers_.begin(), workers_.end(),
                             [](const auto& w) { return w->proc->exited(); });
        },
        monotonic_ns() + 5 * kSecond);
  }

  bool pump_until(const std::function<bool()>& done, std::int64_t deadline) {
    return harness::pump_until(io_, done, deadline);
  }
  void pump_for(std::int64_t ns) { pump_until([] { return false; }, monotonic_ns() + ns); }

 private:
  const BenchOptions& options_;
  fs::path dir_;
  std::map<std::string, std::string> env_;
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = static_cast<std::size_t>(std::ceil(rank));
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }

std::int64_t stat_i(const Json& stats, const char* key) {
  if (!stats.is_object() || !stats.contains(key) || !stats[key].is_number()) return 0;
  return stats[key].get<std::int64_t>();
}
bool has_stat(const Json& stats, const char* key) {
  return stats.is_object() && stats.contains(key) && stats[key].is_number();
}

// utime + stime of `pid` in clock ticks, or -1.
long long cpu_ticks(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return -1;
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

std::vector<bool> wake_modes(const std::string& wake) {
  if (wake == "on") return {true};
  if (wake == "off") return {false};
  return {false, true};
}

class Benches {
 public:
  Benches(const BenchOptions& o, std::ostream& progress) : o_(o), progress_(progress) {}

  fs::path next_dir(const std::string& name, std::string& channel) {
    ++n_;
    channel = "pjx-bench:" + o_.run_id + ":" + std::to_string(n_);
    return o_.dir / (std::to_string(n_) + "-" + name);
  }

  Json latency(int workers, double poll_s, bool wake) {
    std::string channel;
    const fs::path dir = next_dir("latency", channel);
    Pool pool(o_, dir, channel, poll_s, wake);
    Worker& pub = pool.add();
    std::vector<Worker*> receivers;
    // key -> receive time, per receiver
    std::vector<std::map<std::string, std::int64_t>> got(static_cast<std::size_t>(workers));
    for (int i = 0; i < workers; ++i) {
      Worker& r = pool.add();
      receivers.push_back(&r);
      auto* g = &got[static_cast<std::size_t>(i)];
      r.on_event = [g](const Json& ev) {
        if (ev.value("ev", std::string()) != "received" || !ev.contains("keys")) return;
        const std::int64_t t = ev.value("t", std::int64_t{0});
        for (const auto& k : ev["keys"]) {
          if (k.is_string()) g->emplace(k.get<std::string>(), t);
        }
      };
    }
    std::map<std::string, std::int64_t> published;
    std::int64_t errors = 0;
    bool answered = false;
    pub.on_event = [&](const Json& ev) {
      const std::string kind = ev.value("ev", std::string());
      if (kind == "published") {
        published["k" + std::to_string(ev.value("id", 0))] = ev.value("t", std::int64_t{0});
        answered = true;
      } else if (kind == "error") {
        ++errors;
        answered = true;
      }
    };
    pool.start_all();
    std::mt19937_64 rng(o_.seed + static_cast<std::uint64_t>(n_));
    const auto poll_ns = static_cast<std::int64_t>(poll_s * 1e9);
    std::uniform_int_distribution<std::int64_t> jitter(0, std::max<std::int64_t>(1, poll_ns / 3));
    for (int i = 0; i < o_.events; ++i) {
      answered = false;
      Json op = {{"op", "publish"}, {"id", i}, {"keys", {"k" + std::to_string(i)}}};
      pub.proc->write_line(op.dump());
      if (!pool.pump_until([&] { return answered || pub.proc->exited(); },
                           monotonic_ns() + 30 * kSecond)) {
        throw std::runtime_error("the publisher did not answer a publish within 30 s");
      }
      pool.pump_for(poll_ns / 3 + jitter(rng));
    }
    const auto all_in = [&] {
      for (const auto& g : got) {
        for (const auto& [k, t] : published) {
          if (g.count(k) == 0) return false;
        }
      }
      return true;
    };
    pool.pump_until(all_in, monotonic_ns() + poll_ns + 5 * kSecond);
    pool.collect_stats(receivers);
    std::vector<double> lat_ms;
    std::int64_t missing = 0;
    for (const auto& g : got) {
      for (const auto& [k, t] : published) {
        auto it = g.find(k);
        if (it == g.end()) {
          ++missing;
        } else {
          lat_ms.push_back(static_cast<double>(it->second - t) / 1e6);
        }
      }
    }
    std::int64_t wakes = 0, empty = 0, timed = 0;
    bool wake_stats = true;
    for (Worker* r : receivers) {
      wake_stats = wake_stats && has_stat(r->stats, "wakes");
      wakes += stat_i(r->stats, "wakes");
      empty += stat_i(r->stats, "empty_wakes");
      timed += stat_i(r->stats, "timed_polls");
    }
    pool.stop_all();
    const double poll_ms = poll_s * 1000.0;
    const double p50 = percentile(lat_ms, 50);
    const double mx = lat_ms.empty() ? 0 : *std::max_element(lat_ms.begin(), lat_ms.end());
    Json m = {{"p50_ms", round3(p50)},
              {"p99_ms", round3(percentile(lat_ms, 99))},
              {"max_ms", round3(mx)},
              {"p50_over_poll", round3(p50 / poll_ms)},
              {"max_over_poll", round3(mx / poll_ms)},
              {"deliveries", static_cast<std::int64_t>(lat_ms.size())},
              {"missing", missing},
              {"errors", errors}};
    if (wake_stats) {
      m["wakes"] = wakes;
      m["empty_wakes"] = empty;
      m["timed_polls"] = timed;
      m["empty_wake_rate"] = wakes > 0 ? round3(static_cast<double>(empty) / static_cast<double>(wakes)) : 0.0;
    }
    return {{"bench", "latency"},
            {"params",
             {{"workers", workers},
              {"poll_interval_ms", round3(poll_ms)},
              {"wake", wake ? "on" : "off"},
              {"backend", "sqlite"},
              {"events", o_.events}}},
            {"metrics", m}};
  }

  Json idle(int workers, double poll_s, bool wake, double duration_s) {
    std::string channel;
    const fs::path dir = next_dir("idle", channel);
    Pool pool(o_, dir, channel, poll_s, wake);
    for (int i = 0; i < workers; ++i) pool.add();
    pool.start_all();
    pool.pump_for(std::min<std::int64_t>(kSecond, static_cast<std::int64_t>(poll_s * 2e9)));
    std::vector<long long> before;
    for (auto& w : pool.workers()) before.push_back(cpu_ticks(w->proc->pid()));
    const std::int64_t t0 = monotonic_ns();
    pool.pump_for(static_cast<std::int64_t>(duration_s * 1e9));
    const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
    long long ticks = 0;
    for (std::size_t i = 0; i < pool.workers().size(); ++i) {
      const long long after = cpu_ticks(pool.workers()[i]->proc->pid());
      if (after < 0 || before[i] < 0) throw std::runtime_error("cannot read /proc/<pid>/stat");
      ticks += after - before[i];
    }
    pool.stop_all();
    const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
    const double cpu_ms = static_cast<double>(ticks) * tick_ms;
    const double per_s_per_worker = cpu_ms / elapsed / workers;
    return {{"bench", "idle"},
            {"params",
             {{"workers", workers},
              {"poll_interval_ms", round3(poll_s * 1000.0)},
              {"wake", wake ? "on" : "off"},
              {"backend", "sqlite"},
              {"duration_s", round3(elapsed)}}},
            {"metrics",
             {{"cpu_ms_per_s_per_worker", round3(per_s_per_worker)},
              {"cpu_percent_per_worker", round3(per_s_per_worker / 10.0)},
              {"cpu_ms_total", round3(cpu_ms)},
              {"tick_ms", round3(tick_ms)}}}};
  }

  Json throughput(int publishers, double duration_s) {
    std::string channel;
    const fs::path dir = next_dir("throughput", channel);
    const double poll_s = 0.05;
    Pool pool(o_, dir, channel, poll_s, true);
    Worker& listener = pool.add();
    std::set<std::string> heard;
    listener.on_event = [&heard](const Json& ev) {
      if (ev.value("ev", std::string()) != "received" || !ev.contains("keys")) return;
      for (const auto& k : ev["keys"]) {
        if (k.is_string()) heard.insert(k.get<std::string>());
      }
    };
    std::vector<Worker*> pubs;
    std::vector<std::string> acked;
    std::vector<double> lat_us;
    std::int64_t errors = 0;
    std::int64_t next_id = 0;
    bool running = false;
    int in_flight = 0;
    for (int i = 0; i < publishers; ++i) pubs.push_back(&pool.add());
    const auto send = [&next_id, &in_flight](Worker* w) {
      const std::int64_t id = next_id++;
      Json op = {{"op", "publish"}, {"id", id}, {"keys", {"t" + std::to_string(id)}}};
      w->proc->write_line(op.dump());
      ++in_flight;
    };
    for (Worker* w : pubs) {
      w->on_event = [&, w](const Json& ev) {
        const std::string kind = ev.value("ev", std::string());
        if (kind != "published" && kind != "error") return;
        --in_flight;
        if (kind == "published") {
          acked.push_back("t" + std::to_string(ev.value("id", std::int64_t{0})));
          lat_us.push_back(static_cast<double>(ev.value("t", std::int64_t{0}) -
                                               ev.value("t_begin", std::int64_t{0})) /
                           1e3);
        } else {
          ++errors;
        }
        if (running) send(w);
      };
    }
    pool.start_all();
    running = true;
    const std::int64_t t0 = monotonic_ns();
    for (Worker* w : pubs) send(w);
    pool.pump_for(static_cast<std::int64_t>(duration_s * 1e9));
    running = false;
    pool.pump_until([&in_flight] { return in_flight <= 0; }, monotonic_ns() + 30 * kSecond);
    const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
    const auto all_heard = [&] {
      return std::all_of(acked.begin(), acked.end(),
                         [&heard](const std::string& k) { return heard.count(k) != 0; });
    };
    pool.pump_until(all_heard, monotonic_ns() + 10 * kSecond);
    pool.collect_stats(pubs);
    std::int64_t busy = 0;
    for (Worker* w : pubs) busy += stat_i(w->stats, "busy_waits");
    std::int64_t lost = 0;
    for (const auto& k : acked) lost += heard.count(k) == 0 ? 1 : 0;
    pool.stop_all();
    const double mx = lat_us.empty() ? 0 : *std::max_element(lat_us.begin(), lat_us.end());
    return {{"bench", "throughput"},
            {"params", {{"publishers", publishers}, {"backend", "sqlite"},
                        {"duration_s", round3(elapsed)}}},
            {"metrics",
             {{"commits_per_s", round3(static_cast<double>(acked.size()) / elapsed)},
              {"commits", static_cast<std::int64_t>(acked.size())},
              {"p50_us", round3(percentile(lat_us, 50))},
              {"p99_us", round3(percentile(lat_us, 99))},
              {"p999_us", round3(percentile(lat_us, 99.9))},
              {"max_us", round3(mx)},
              {"errors", errors},
              {"busy_waits", busy},
              {"lost", lost}}}};
  }

 private:
  const BenchOptions& o_;
  std::ostream& progress_;
  int n_ = 0;
};

std::string fmt(const Json& v) {
  if (v.is_number_float()) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(v.get<double>() >= 100 ? 0 : 2) << v.get<double>();
    return s.str();
  }
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

}  // namespace

void apply_quick(BenchOptions& o) {
  o.workers = {1, 4};
  o.poll_s = {0.05};
  o.wake = "both";
  o.events = 20;
  o.duration_s = 2;
  o.publishers = {1, 2};
}

Json run_benches(const BenchOptions& o, std::ostream& progress) {
  Benches b(o, progress);
  Json runs = Json::array();
  const bool all = o.kind == "all";
  const auto log = [&progress](const Json& run) {
    progress << "bench " << run["bench"].get<std::string>() << " " << run["params"].dump() << " "
             << run["metrics"].dump() << "\n"
             << std::flush;
  };
  if (all || o.kind == "latency") {
    for (bool wake : wake_modes(o.wake)) {
      for (double p : o.poll_s) {
        for (int w : o.workers) {
          runs.push_back(b.latency(w, p, wake));
          log(runs.back());
        }
      }
    }
  }
  if (all || o.kind == "idle") {
    const double d = o.duration_s > 0 ? o.duration_s : 30;
    for (bool wake : wake_modes(o.wake)) {
      for (double p : o.poll_s) {
        for (int w : o.workers) {
          runs.push_back(b.idle(w, p, wake, d));
          log(runs.back());
        }
      }
    }
  }
  if (all || o.kind == "throughput") {
    const double d = o.duration_s > 0 ? o.duration_s : 10;
    for (int k : o.publishers) {
      runs.push_back(b.throughput(k, d));
      log(runs.back());
    }
  }
  return runs;
}

void print_bench_table(std::ostream& out, const Json& runs) {
  struct Col {
    const char* title;
    const char* where;  // "p" params, "m" metrics
    const char* key;
  };
  const std::map<std::string, std::vector<Col>> cols = {
      {"latency",
       {{"workers", "p", "workers"}, {"poll_ms", "p", "poll_interval_ms"}, {"wake", "p", "wake"},
        {"p50_ms", "m", "p50_ms"}, {"p99_ms", "m", "p99_ms"}, {"max_ms", "m", "max_ms"},
        {"p50/poll", "m", "p50_over_poll"}, {"max/poll", "m", "max_over_poll"},
        {"empty_wake_rate", "m", "empty_wake_rate"}, {"deliveries", "m", "deliveries"},
        {"missing", "m", "missing"}}},
      {"idle",
       {{"workers", "p", "workers"}, {"poll_ms", "p", "poll_interval_ms"}, {"wake", "p", "wake"},
        {"secs", "p", "duration_s"}, {"cpu_ms/s/worker", "m", "cpu_ms_per_s_per_worker"},
        {"cpu%/worker", "m", "cpu_percent_per_worker"}}},
      {"throughput",
       {{"publishers", "p", "publishers"}, {"commits/s", "m", "commits_per_s"},
        {"p50_us", "m", "p50_us"}, {"p99_us", "m", "p99_us"}, {"p999_us", "m", "p999_us"},
        {"max_us", "m", "max_us"}, {"errors", "m", "errors"}, {"busy_waits", "m", "busy_waits"},
        {"lost", "m", "lost"}}}};
  for (const char* bench : {"latency", "idle", "throughput"}) {
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
      out << std::setw(static_cast<int>(width[i])) << c[i].title << (i + 1 < c.size() ? "  " : "\n");
    }
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        out << std::setw(static_cast<int>(width[i])) << row[i] << (i + 1 < row.size() ? "  " : "\n");
      }
    }
  }
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
