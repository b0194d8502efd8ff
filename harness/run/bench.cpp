#include "bench.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
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
#include <system_error>
#include <utility>

#include "child_process.hpp"
#include "command_line.hpp"
#include "db_probe.hpp"
#include "duration.hpp"
#include "event_loop.hpp"
#include "redis_server.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kMs = 1'000'000;
constexpr std::int64_t kSecond = 1'000 * kMs;
constexpr double kWalTargetBytes = 8.0 * 1024 * 1024;

struct Worker {
  std::unique_ptr<ChildProcess> proc;
  bool ready = false;
  bool stopped = false;
  std::string fatal;
  Json stats;  // the last `stats` answer
  std::function<void(const Json&)> on_event;
};

// Where the workers of one run meet: a SQLite file in the run's folder, or a
// Redis server (`redis_url` not empty).
struct PoolConfig {
  double poll_s = 0.05;
  std::string wake = "on";  // off | wal (wakes without doorbell) | on (wakes + doorbell)
  double retention_s = 600;
  std::string redis_url;
};

// W worker processes on one database (or Redis) and channel, on one io_context.
class Pool {
 public:
  Pool(const BenchOptions& o, const fs::path& dir, const std::string& channel, const PoolConfig& c)
      : options_(o), dir_(dir) {
    fs::create_directories(dir_);
    if (c.redis_url.empty()) {
      env_["PJX_INVALIDATION_DB"] = db().string();
    } else {
      env_["REDIS_URL"] = c.redis_url;
    }
    env_["PJX_INVALIDATION_CHANNEL"] = channel;
    env_["PJX_POLL_INTERVAL"] = format_seconds(c.poll_s);
    env_["PJX_RETENTION"] = format_seconds(c.retention_s);
    env_["PJX_WAKE_ON_CHANGE"] = c.wake == "off" ? "0" : "1";
    env_["PJX_DOORBELL"] = c.wake == "on" ? "1" : "0";
  }
  ~Pool() {
    // Destroying the processes kills what is still running.
    workers_.clear();
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  fs::path db() const { return dir_ / "pjx.db"; }

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
      } catch (const Json::exception&) {
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
    pump_until(
        [this] {
          for (auto& w : workers_) {
            if (!w->fatal.empty()) return true;
            if (w->proc->exited()) return true;
            if (!w->ready) return false;
          }
          return true;
        },
        monotonic_ns() + 60 * kSecond);
    for (auto& w : workers_) {
      if (!w->fatal.empty()) throw std::runtime_error("worker fatal: " + w->fatal);
      if (w->proc->exited() || !w->ready) {
        throw std::runtime_error("a worker did not become ready within 60 s (see " + dir_.string() +
                                 ")");
      }
    }
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
        monotonic_ns() + 10 * kSecond);
  }

  bool pump_until(const std::function<bool()>& done, std::int64_t deadline) {
    return harness::pump_until(io_, done, deadline);
  }
  void pump_for(std::int64_t ns) {
    pump_until([] { return false; }, monotonic_ns() + ns);
  }

 private:
  const BenchOptions& options_;
  fs::path dir_;
  std::map<std::string, std::string> env_;
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Unmeasured publishes before a latency run's events.
constexpr int kLatencyWarmups = 3;

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(rank));
  const auto hi = static_cast<std::size_t>(std::ceil(rank));
  return v[lo] + (v[hi] - v[lo]) * (rank - static_cast<double>(lo));
}

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }
double round6(double x) { return std::round(x * 1e6) / 1e6; }

std::int64_t stat_i(const Json& stats, const char* key) {
  if (!stats.is_object() || !stats.contains(key) || !stats[key].is_number()) return 0;
  return stats[key].get<std::int64_t>();
}
bool has_stat(const Json& stats, const char* key) {
  return stats.is_object() && stats.contains(key) && stats[key].is_number();
}

std::string read_small_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The kernel's CPU accounting of one process.
struct CpuSample {
  long long ticks = -1;  // utime + stime of the whole process (/proc/<pid>/stat), clock ticks
  std::int64_t ns = -1;  // time on a CPU of its live threads (/proc/<pid>/task/*/schedstat)
};

CpuSample cpu_of(int pid) {
  CpuSample s;
  const fs::path proc = fs::path("/proc") / std::to_string(pid);
  const std::string text = read_small_file(proc / "stat");
  const auto close = text.rfind(')');
  if (close != std::string::npos && close + 2 < text.size()) {
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    long long utime = 0;
    long long stime = 0;
    // Fields after the command: state is field 3; utime 14, stime 15.
    for (int i = 3; i <= 15 && (rest >> field); ++i) {
      if (i == 14) utime = std::stoll(field);
      if (i == 15) stime = std::stoll(field);
    }
    s.ticks = utime + stime;
  }
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

std::vector<CpuSample> cpu_of(const std::vector<Worker*>& ws) {
  std::vector<CpuSample> out;
  out.reserve(ws.size());
  for (Worker* w : ws) out.push_back(cpu_of(w->proc->pid()));
  return out;
}

// CPU per worker per second of wall time between two samples, in ms: from
// schedstat (ns) and from utime+stime (ticks). Throws when /proc cannot be read.
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
  const double tick_ms = 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  const auto n = static_cast<double>(std::max<std::size_t>(1, before.size()));
  return {ns / 1e6 / elapsed_s / n, ticks * tick_ms / elapsed_s / n};
}

// --wake: off (timed polls only), wal (woken by the -wal file, no doorbell:
// what upstream publishers give a listener), on (wal + doorbell, the
// default); both = off and on; all = the three.
std::vector<std::string> wake_modes(const std::string& wake) {
  if (wake == "both") return {"off", "on"};
  if (wake == "all") return {"off", "wal", "on"};
  return {wake};
}

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

// Page and row counts of a live database, read-only.
struct DbFootprint {
  std::int64_t pages = 0;
  std::int64_t free_pages = 0;
  std::int64_t page_size = 0;
  std::int64_t rows = 0;
  std::string error;
};

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

// K publishers publishing back to back: each sends its next publish as soon
// as the previous one is answered.
class BackToBack {
 public:
  explicit BackToBack(std::vector<Worker*> pubs) : pubs_(std::move(pubs)) {
    for (Worker* w : pubs_) {
      w->on_event = [this, w](const Json& ev) {
        const std::string kind = ev.value("ev", std::string());
        if (kind != "published" && kind != "error") return;
        --in_flight_;
        if (kind == "published") {
          acked.push_back("t" + std::to_string(ev.value("id", std::int64_t{0})));
          lat_us.push_back(static_cast<double>(ev.value("t", std::int64_t{0}) -
                                               ev.value("t_begin", std::int64_t{0})) /
                           1e3);
        } else {
          ++errors;
        }
        if (running_) send(w);
      };
    }
  }
  void begin() {
    running_ = true;
    for (Worker* w : pubs_) send(w);
  }
  void end(Pool& pool) {
    running_ = false;
    pool.pump_until([this] { return in_flight_ <= 0; }, monotonic_ns() + 30 * kSecond);
  }

  std::vector<std::string> acked;
  std::vector<double> lat_us;
  std::int64_t errors = 0;

 private:
  void send(Worker* w) {
    const std::int64_t id = next_id_++;
    Json op = {{"op", "publish"}, {"id", id}, {"keys", {"t" + std::to_string(id)}}};
    w->proc->write_line(op.dump());
    ++in_flight_;
  }

  std::vector<Worker*> pubs_;
  std::int64_t next_id_ = 0;
  bool running_ = false;
  int in_flight_ = 0;
};

// Collects the keys a listener receives.
void listen_keys(Worker& w, std::set<std::string>& heard) {
  w.on_event = [&heard](const Json& ev) {
    if (ev.value("ev", std::string()) != "received" || !ev.contains("keys")) return;
    for (const auto& k : ev["keys"]) {
      if (k.is_string()) heard.insert(k.get<std::string>());
    }
  };
}

class Benches {
 public:
  explicit Benches(const BenchOptions& o) : o_(o) {}

  fs::path next_dir(const std::string& name, std::string& channel) {
    ++n_;
    channel = "pjx-bench:" + o_.run_id + ":" + std::to_string(n_);
    return o_.dir / (std::to_string(n_) + "-" + name);
  }

  Json latency(int workers, double poll_s, const std::string& wake, const std::string& redis_url) {
    std::string channel;
    const fs::path dir = next_dir("latency", channel);
    Pool pool(o_, dir, channel, {poll_s, wake, 600, redis_url});
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
    std::map<std::string, std::int64_t> returned;  // when each publish call returned (published.t)
    std::vector<double> call_ms;  // how long each publish call took (t - t_begin)
    std::int64_t errors = 0;
    bool answered = false;
    bool warming_up = true;  // the first publishes are not measured (see below)
    pub.on_event = [&](const Json& ev) {
      const std::string kind = ev.value("ev", std::string());
      if (kind == "published" && warming_up) {
        answered = true;
      } else if (kind == "published") {
        // From the start of the publish call (published.t_begin), for both
        // backends: the commit (or PUBLISH) happens somewhere inside the
        // call, and receivers often have the event before it returns (the
        // doorbell and Redis both wake them at once), so the call's end
        // would give negative latencies. This counts the publish's own
        // cost (tens of microseconds) in the latency.
        published["k" + std::to_string(ev.value("id", 0))] = ev.value("t_begin", std::int64_t{0});
        returned["k" + std::to_string(ev.value("id", 0))] = ev.value("t", std::int64_t{0});
        call_ms.push_back(
            static_cast<double>(ev.value("t", std::int64_t{0}) - ev.value("t_begin", std::int64_t{0})) / 1e6);
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
    // Warm-up, not measured: a listener wakes on -wal writes until it has
    // heard a doorbell, so the first publish of a run wakes every listener
    // on its first frame, as without the doorbell (at 64 workers that one
    // event is 2.5 % of the samples and set the p99). A long-running
    // deployment is past that; so is the measurement, after these.
    for (int i = 0; i < kLatencyWarmups; ++i) {
      answered = false;
      const std::string key = "warm-up-" + std::to_string(i);
      Json op = {{"op", "publish"}, {"id", -1 - i}, {"keys", {key}}};
      pub.proc->write_line(op.dump());
      if (!pool.pump_until([&] { return answered || pub.proc->exited(); }, monotonic_ns() + 30 * kSecond)) {
        throw std::runtime_error("the publisher did not answer a warm-up publish within 30 s");
      }
      pool.pump_until(
          [&] {
            for (const auto& g : got) {
              if (g.count(key) == 0) return false;
            }
            return true;
          },
          monotonic_ns() + poll_ns + 5 * kSecond);
    }
    warming_up = false;
    const std::vector<CpuSample> cpu0 = cpu_of(receivers);
    const std::int64_t t0 = monotonic_ns();
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
    const double load_s = static_cast<double>(monotonic_ns() - t0) / 1e9;
    const auto [load_ms, load_tick_ms] = cpu_ms_per_s(cpu0, cpu_of(receivers), load_s);
    pool.collect_stats(receivers);
    std::vector<double> lat_ms;
    std::vector<double> after_return_ms;  // the same from the call's return: negative when it came first
    std::int64_t missing = 0;
    for (const auto& g : got) {
      for (const auto& [k, t] : published) {
        auto it = g.find(k);
        if (it == g.end()) {
          ++missing;
        } else {
          lat_ms.push_back(static_cast<double>(it->second - t) / 1e6);
          after_return_ms.push_back(static_cast<double>(it->second - returned[k]) / 1e6);
        }
      }
    }
    std::int64_t wakes = 0, bells = 0, empty = 0, timed = 0, failures = 0;
    bool wake_stats = true;
    for (Worker* r : receivers) {
      wake_stats = wake_stats && has_stat(r->stats, "wakes");
      wakes += stat_i(r->stats, "wakes");
      bells += stat_i(r->stats, "doorbell_wakes");
      empty += stat_i(r->stats, "empty_wakes");
      timed += stat_i(r->stats, "timed_polls");
      failures += stat_i(r->stats, "wake_failures");
    }
    pool.stop_all();
    const double poll_ms = poll_s * 1000.0;
    const double p50 = percentile(lat_ms, 50);
    const double p99 = percentile(lat_ms, 99);
    const double mx = lat_ms.empty() ? 0 : *std::max_element(lat_ms.begin(), lat_ms.end());
    Json m = {{"p50_ms", round3(p50)},
              {"p99_ms", round3(p99)},
              {"max_ms", round3(mx)},
              {"publish_call_p50_ms", round3(percentile(call_ms, 50))},
              {"publish_call_p99_ms", round3(percentile(call_ms, 99))},
              {"p50_after_return_ms", round3(percentile(after_return_ms, 50))},
              {"p99_after_return_ms", round3(percentile(after_return_ms, 99))},
              {"p50_over_poll", round3(p50 / poll_ms)},
              {"p99_over_poll", round3(p99 / poll_ms)},
              {"max_over_poll", round3(mx / poll_ms)},
              {"deliveries", static_cast<std::int64_t>(lat_ms.size())},
              {"missing", missing},
              {"errors", errors},
              {"cpu_ms_per_s_per_worker", round6(load_ms)},
              {"cpu_percent_per_worker", round6(load_ms / 10.0)},
              {"cpu_ticks_ms_per_s_per_worker", round6(load_tick_ms)},
              {"load_s", round3(load_s)}};
    if (wake_stats) {
      m["wakes"] = wakes;
      m["doorbell_wakes"] = bells;
      m["empty_wakes"] = empty;
      m["timed_polls"] = timed;
      m["wake_failures"] = failures;
      m["empty_wake_rate"] =
          wakes > 0 ? round3(static_cast<double>(empty) / static_cast<double>(wakes)) : 0.0;
    }
    return {{"bench", "latency"},
            {"params",
             {{"workers", workers},
              {"poll_interval_ms", round3(poll_ms)},
              {"wake", redis_url.empty() ? wake : "n/a"},
              {"backend", redis_url.empty() ? "sqlite" : "redis"},
              {"latency_from", "publish_begin"},
              {"events", o_.events}}},
            {"metrics", m}};
  }

  Json idle(int workers, double poll_s, const std::string& wake, double duration_s,
            const std::string& redis_url) {
    std::string channel;
    const fs::path dir = next_dir("idle", channel);
    Pool pool(o_, dir, channel, {poll_s, wake, 600, redis_url});
    std::vector<Worker*> ws;
    for (int i = 0; i < workers; ++i) ws.push_back(&pool.add());
    pool.start_all();
    pool.pump_for(std::min<std::int64_t>(kSecond, static_cast<std::int64_t>(poll_s * 2e9)));
    const std::vector<CpuSample> before = cpu_of(ws);
    const std::int64_t t0 = monotonic_ns();
    pool.pump_for(static_cast<std::int64_t>(duration_s * 1e9));
    const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
    const auto [ms, tick_ms] = cpu_ms_per_s(before, cpu_of(ws), elapsed);
    pool.stop_all();
    return {{"bench", "idle"},
            {"params",
             {{"workers", workers},
              {"poll_interval_ms", round3(poll_s * 1000.0)},
              {"wake", redis_url.empty() ? wake : "n/a"},
              {"backend", redis_url.empty() ? "sqlite" : "redis"},
              {"duration_s", round3(duration_s)}}},
            {"metrics",
             {{"cpu_ms_per_s_per_worker", round6(ms)},
              {"cpu_percent_per_worker", round6(ms / 10.0)},
              {"cpu_ticks_ms_per_s_per_worker", round6(tick_ms)},
              {"elapsed_s", round3(elapsed)},
              {"tick_ms", round3(1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)))}}}};
  }

  Json throughput(int publishers, double duration_s) {
    std::string channel;
    const fs::path dir = next_dir("throughput", channel);
    Pool pool(o_, dir, channel, {0.05, "on", 600, ""});
    Worker& listener = pool.add();
    std::set<std::string> heard;
    listen_keys(listener, heard);
    std::vector<Worker*> pubs;
    for (int i = 0; i < publishers; ++i) pubs.push_back(&pool.add());
    BackToBack b2b(pubs);
    pool.start_all();
    const std::int64_t t0 = monotonic_ns();
    b2b.begin();
    pool.pump_for(static_cast<std::int64_t>(duration_s * 1e9));
    b2b.end(pool);
    const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
    const std::int64_t lost = wait_heard(pool, b2b.acked, heard);
    pool.collect_stats(pubs);
    std::int64_t busy = 0;
    for (Worker* w : pubs) busy += stat_i(w->stats, "busy_waits");
    pool.stop_all();
    const auto& lat = b2b.lat_us;
    const double mx = lat.empty() ? 0 : *std::max_element(lat.begin(), lat.end());
    return {
        {"bench", "throughput"},
        {"params",
         {{"publishers", publishers}, {"backend", "sqlite"}, {"duration_s", round3(duration_s)}}},
        {"metrics",
         {{"commits_per_s", round3(static_cast<double>(b2b.acked.size()) / elapsed)},
          {"commits", static_cast<std::int64_t>(b2b.acked.size())},
          {"p50_us", round3(percentile(lat, 50))},
          {"p99_us", round3(percentile(lat, 99))},
          {"p999_us", round3(percentile(lat, 99.9))},
          {"max_us", round3(mx)},
          {"errors", b2b.errors},
          {"busy_waits", busy},
          {"lost", lost},
          {"elapsed_s", round3(elapsed)}}}};
  }

  Json growth(int publishers, double duration_s) {
    std::string channel;
    const fs::path dir = next_dir("growth", channel);
    Pool pool(o_, dir, channel, {0.05, "on", o_.retention_s, ""});
    const fs::path db = pool.db();
    const fs::path wal = db.string() + "-wal";
    Worker& listener = pool.add();
    std::set<std::string> heard;
    listen_keys(listener, heard);
    std::vector<Worker*> pubs;
    for (int i = 0; i < publishers; ++i) pubs.push_back(&pool.add());
    BackToBack b2b(pubs);
    pool.start_all();
    Json series = Json::array();  // [seconds, db bytes, wal bytes]
    std::uintmax_t db_max = 0, wal_max = 0, db_last = 0, wal_last = 0;
    std::uintmax_t wal_max_after_first_s = 0;
    const std::int64_t t0 = monotonic_ns();
    const auto end = t0 + static_cast<std::int64_t>(duration_s * 1e9);
    b2b.begin();
    for (std::int64_t next = t0 + 100 * kMs;; next += 100 * kMs) {
      pool.pump_until([] { return false; }, std::min(next, end));
      const double t = static_cast<double>(monotonic_ns() - t0) / 1e9;
      db_last = size_or_zero(db);
      wal_last = size_or_zero(wal);
      db_max = std::max(db_max, db_last);
      wal_max = std::max(wal_max, wal_last);
      if (t >= 1.0) wal_max_after_first_s = std::max(wal_max_after_first_s, wal_last);
      series.push_back({round3(t), db_last, wal_last});
      if (monotonic_ns() >= end) break;
    }
    const double elapsed = static_cast<double>(monotonic_ns() - t0) / 1e9;
    b2b.end(pool);
    const DbFootprint fp = footprint(db);
    const std::int64_t lost = wait_heard(pool, b2b.acked, heard);
    pool.collect_stats(pubs);
    std::int64_t busy = 0;
    for (Worker* w : pubs) busy += stat_i(w->stats, "busy_waits");
    pool.stop_all();
    const double rate = static_cast<double>(b2b.acked.size()) / elapsed;
    const std::int64_t used_pages = fp.pages - fp.free_pages;
    const double row_bytes =
        fp.rows > 0 ? static_cast<double>(used_pages * fp.page_size) / static_cast<double>(fp.rows)
                    : 0.0;
    const double rows_bound = rate * o_.retention_s;
    const double db_bound = rows_bound * row_bytes;
    Json m = {
        {"commits_per_s", round3(rate)},
        {"commits", static_cast<std::int64_t>(b2b.acked.size())},
        {"db_max_bytes", db_max},
        {"db_final_bytes", db_last},
        {"wal_max_bytes", wal_max},
        {"wal_final_bytes", wal_last},
        {"wal_max_after_1s_bytes", wal_max_after_first_s},
        {"wal_target_bytes", kWalTargetBytes},
        {"wal_max_over_target", round3(static_cast<double>(wal_max) / kWalTargetBytes)},
        {"rows_final", fp.rows},
        {"rows_bound", round3(rows_bound)},
        {"row_bytes", round3(row_bytes)},
        {"db_bound_bytes", round3(db_bound)},
        {"db_max_over_bound", db_bound > 0 ? round3(static_cast<double>(db_max) / db_bound) : 0.0},
        {"errors", b2b.errors},
        {"busy_waits", busy},
        {"lost", lost},
        {"elapsed_s", round3(elapsed)}};
    if (!fp.error.empty()) m["footprint_error"] = fp.error;
    return {{"bench", "growth"},
            {"params",
             {{"publishers", publishers},
              {"backend", "sqlite"},
              {"retention_s", round3(o_.retention_s)},
              {"duration_s", round3(duration_s)},
              {"sample_ms", 100}}},
            {"metrics", m},
            {"series", series}};
  }

 private:
  // Waits (up to 10 s) until `heard` holds every acknowledged key; returns
  // how many it still lacks.
  static std::int64_t wait_heard(Pool& pool, const std::vector<std::string>& acked,
                                 const std::set<std::string>& heard) {
    const auto all_heard = [&] {
      return std::all_of(acked.begin(), acked.end(),
                         [&heard](const std::string& k) { return heard.count(k) != 0; });
    };
    pool.pump_until(all_heard, monotonic_ns() + 10 * kSecond);
    std::int64_t lost = 0;
    for (const auto& k : acked) lost += heard.count(k) == 0 ? 1 : 0;
    return lost;
  }

  const BenchOptions& o_;
  int n_ = 0;
};

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

}  // namespace

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

Json run_benches(const BenchOptions& o, std::ostream& progress) {
  if (o.runs < 1) throw std::runtime_error("--runs must be at least 1");
  Benches b(o);
  Json runs = Json::array();
  const bool all = o.kind == "all";
  const bool sqlite = o.backend != "redis";
  const bool redis = o.backend == "redis" || o.backend == "both";
  // One redis-server on loopback for the whole bench (persistence off); each
  // run has its own channel on it.
  std::unique_ptr<RedisServer> server;
  std::string redis_url;
  if (redis) {
    RedisServerOptions ro;
    ro.dir = o.dir / "redis";
    server = std::make_unique<RedisServer>(ro);
    redis_url = server->url();
    progress << "bench: redis-server " << server->version() << " at " << redis_url << "\n";
  }
  // Runs one configuration o.runs times; metrics are the medians.
  const auto repeat = [&](const std::function<Json()>& once) {
    std::vector<Json> samples;
    Json first;
    const std::string load_before = load_average();
    for (int i = 0; i < o.runs; ++i) {
      Json r = once();
      samples.push_back(r["metrics"]);
      if (i == 0) first = std::move(r);
    }
    if (server && first["params"].value("backend", std::string()) == "redis") {
      first["params"]["redis_version"] = server->version();
    }
    first["load_before"] = load_before;
    first["load_after"] = load_average();
    first["params"]["runs"] = o.runs;
    if (o.runs > 1) {
      first["metrics"] = median_metrics(samples);
      first["samples"] = samples;
      first.erase("series");  // only one run's series would be kept; drop it
    }
    progress << "bench " << first["bench"].get<std::string>() << " " << first["params"].dump()
             << " " << first["metrics"].dump() << "\n"
             << std::flush;
    runs.push_back(std::move(first));
  };
  if (all || o.kind == "latency") {
    for (double p : o.poll_s) {
      for (int w : o.workers) {
        if (sqlite) {
          for (const auto& wake : wake_modes(o.wake)) repeat([&] { return b.latency(w, p, wake, ""); });
        }
        if (redis) repeat([&] { return b.latency(w, p, "off", redis_url); });
      }
    }
  }
  if (all || o.kind == "idle") {
    const double d = o.duration_s > 0 ? o.duration_s : 10;
    for (double p : o.poll_s) {
      for (int w : o.idle_workers) {
        if (sqlite) {
          for (const auto& wake : wake_modes(o.wake)) repeat([&] { return b.idle(w, p, wake, d, ""); });
        }
      }
    }
    if (redis) {
      for (int w : o.idle_workers) repeat([&] { return b.idle(w, 0.5, "off", d, redis_url); });
    }
  }
  if (all || o.kind == "throughput") {
    const double d = o.duration_s > 0 ? o.duration_s : 10;
    for (int k : o.publishers) repeat([&] { return b.throughput(k, d); });
  }
  if (all || o.kind == "growth") {
    const double d = o.duration_s > 0 ? o.duration_s : 60;
    for (int k : o.growth_publishers) repeat([&] { return b.growth(k, d); });
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
