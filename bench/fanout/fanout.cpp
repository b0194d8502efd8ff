// pjx_bench_fanout: delivery latency of the library alone, across processes.
//
// One publisher (this process) and W listener processes (fork), each with its
// own SqliteInvalidationBackend on one database, and nothing else: no worker
// protocol, no pipes, no JSON. A listener's handler stores the time it ran
// (CLOCK_MONOTONIC, one clock for every process on the host) in shared
// memory; the publisher records when each publish() call began and returned.
// `pjx-harness bench --kind latency` measures the same path through real
// workers and their protocol; the difference between the two is what the
// protocol and the harness cost.
//
// Latency is measured from the start of the publish call, as the harness
// does: the commit happens inside the call, and woken listeners often run
// before the publisher returns from it. `after_return` is the same from the
// call's return (negative when the listener came first).
//
// The run: fork the listeners one at a time (each opens the database and
// start()s before the next is forked; the publisher's backend is created only
// after the last fork, so no process forks with threads running), publish
// --warmup events that are not measured (a listener hears the doorbell of the
// first one and switches to doorbell-only wakes), then --events measured
// events spaced by a random gap in [gap/2, 3*gap/2], then wait for every
// delivery (at most poll_interval + 5 s). The listeners' CPU per delivery is
// their getrusage() over the measured part divided by the events.
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <pjx/sqlite_backend.hpp>
#include <pjx/version.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../micro/bench_dir.hpp"
#include "bench.hpp"
#include "results.hpp"
#include "check/stats.hpp"

namespace {

using Json = nlohmann::json;
using pjx::harness::percentile;

std::int64_t monotonic_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::int64_t process_cpu_ns() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto us = [](const timeval& tv) { return static_cast<std::int64_t>(tv.tv_sec) * 1'000'000 + tv.tv_usec; };
  return (us(ru.ru_utime) + us(ru.ru_stime)) * 1000;
}

enum class Wake { kOff, kWal, kOn };

const char* wake_name(Wake w) {
  switch (w) {
    case Wake::kOff: return "off";
    case Wake::kWal: return "wal";
    case Wake::kOn: return "on";
  }
  return "?";
}

struct Config {
  std::vector<int> workers{1, 4, 16, 64};
  std::vector<std::string> wakes{"wal", "on"};
  int events = 200;
  int warmup = 3;
  double gap_ms = 20;
  double poll_s = 0.5;
  int runs = 1;
  std::string json_path;
  std::uint64_t seed = 1;
  bool spin = false;
};

// What a listener reports back, in shared memory.
struct ListenerSlot {
  std::atomic<int> state{0};  // 0 starting, 1 listening, 2 failed, 3 done
  std::int64_t cpu_at_start_ns = 0;
  std::int64_t cpu_at_end_ns = 0;
  std::uint64_t wakes = 0, doorbell_wakes = 0, empty_wakes = 0, timed_polls = 0;
  char error[512] = {};
};

// Shared memory for one run: W slots, then W x E receive times (0: not yet).
class SharedRun {
 public:
  SharedRun(int workers, int events) : workers_(workers), events_(events) {
    bytes_ = sizeof(ListenerSlot) * static_cast<std::size_t>(workers) +
             sizeof(std::atomic<std::int64_t>) * static_cast<std::size_t>(workers) * static_cast<std::size_t>(events);
    void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error(std::string("mmap of the shared results: ") + std::strerror(errno));
    base_ = p;
    for (int w = 0; w < workers; ++w) new (&slot(w)) ListenerSlot();
    for (std::size_t i = 0; i < static_cast<std::size_t>(workers) * static_cast<std::size_t>(events); ++i) {
      new (&times()[i]) std::atomic<std::int64_t>(0);
    }
  }
  ~SharedRun() { ::munmap(base_, bytes_); }
  SharedRun(const SharedRun&) = delete;
  SharedRun& operator=(const SharedRun&) = delete;

  ListenerSlot& slot(int w) { return static_cast<ListenerSlot*>(base_)[w]; }
  std::atomic<std::int64_t>& received(int w, int e) {
    return times()[static_cast<std::size_t>(w) * static_cast<std::size_t>(events_) + static_cast<std::size_t>(e)];
  }

 private:
  std::atomic<std::int64_t>* times() {
    return reinterpret_cast<std::atomic<std::int64_t>*>(static_cast<char*>(base_) +
                                                        sizeof(ListenerSlot) * static_cast<std::size_t>(workers_));
  }
  int workers_, events_;
  std::size_t bytes_ = 0;
  void* base_ = nullptr;
};

pjx::SqliteOptions options_for(const Config& c, Wake wake, const std::string& channel) {
  pjx::SqliteOptions o;
  o.channel = channel;
  o.poll_interval = pjx::Seconds(c.poll_s);
  o.wake_on_change = wake != Wake::kOff;
  o.ring_doorbell = wake == Wake::kOn;
  o.on_warning = [](const std::string& m) { std::cerr << "warning: " << m << "\n"; };
  return o;
}

// The event number of measured key "e<N>", or -1 (warm-up keys are "w<N>").
int event_index(const std::string& key, int events) {
  if (key.size() < 2 || key[0] != 'e') return -1;
  int n = 0;
  for (std::size_t i = 1; i < key.size(); ++i) {
    if (key[i] < '0' || key[i] > '9' || n > events) return -1;
    n = n * 10 + (key[i] - '0');
  }
  return n < events ? n : -1;
}

// The body of listener process `w`; never returns.
[[noreturn]] void listener_main(SharedRun& shared, int w, int events, const std::string& db,
                                const pjx::SqliteOptions& options, int stop_fd) {
  ListenerSlot& me = shared.slot(w);
  int code = 0;
  try {
    pjx::SqliteInvalidationBackend backend(db, options);
    backend.start([&shared, w, events](const pjx::KeySet& keys) {
      const std::int64_t t = monotonic_ns();
      for (const auto& k : keys) {
        const int e = event_index(k, events);
        std::int64_t unset = 0;
        if (e >= 0) shared.received(w, e).compare_exchange_strong(unset, t, std::memory_order_relaxed);
      }
    });
    me.cpu_at_start_ns = process_cpu_ns();
    me.state.store(1);
    char c = 0;
    while (::read(stop_fd, &c, 1) < 0 && errno == EINTR) {
    }
    me.cpu_at_end_ns = process_cpu_ns();
    const pjx::SqliteStats s = backend.stats();
    me.wakes = s.wakes;
    me.doorbell_wakes = s.doorbell_wakes;
    me.empty_wakes = s.empty_wakes;
    me.timed_polls = s.timed_polls;
    backend.stop();
    me.state.store(3);
  } catch (const std::exception& e) {
    std::snprintf(me.error, sizeof me.error, "%s", e.what());
    me.state.store(2);
    code = 1;
  }
  ::_exit(code);
}

double round3(double x) { return std::round(x * 1000.0) / 1000.0; }

Json run_once(const Config& c, Wake wake, int workers, std::uint64_t seed) {
  pjx::bench::BenchDir dir;
  const std::string db = dir.file("fanout.db");
  const std::string channel = "pjx-bench-fanout:" + std::to_string(::getpid()) + ":" + std::to_string(seed);
  SharedRun shared(workers, c.events);
  int stop_pipe[2];
  if (::pipe(stop_pipe) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  std::vector<pid_t> children;
  const auto reap = [&] {
    ::close(stop_pipe[1]);  // EOF: every listener stops
    stop_pipe[1] = -1;
    for (pid_t pid : children) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    ::close(stop_pipe[0]);
  };
  const pjx::SqliteOptions listen_opts = options_for(c, wake, channel);
  for (int w = 0; w < workers; ++w) {
    const pid_t pid = ::fork();
    if (pid < 0) {
      const std::string why = std::strerror(errno);
      reap();
      throw std::runtime_error("fork of listener " + std::to_string(w) + ": " + why);
    }
    if (pid == 0) {
      ::close(stop_pipe[1]);
      listener_main(shared, w, c.events, db, listen_opts, stop_pipe[0]);
    }
    children.push_back(pid);
    const std::int64_t deadline = monotonic_ns() + 30'000'000'000;
    while (shared.slot(w).state.load() == 0 && monotonic_ns() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (shared.slot(w).state.load() != 1) {
      const std::string why = shared.slot(w).error[0] != 0 ? shared.slot(w).error : "did not start within 30 s";
      reap();
      throw std::runtime_error("listener " + std::to_string(w) + ": " + why);
    }
  }

  std::vector<std::int64_t> began(static_cast<std::size_t>(c.events)), returned(began.size());
  {
    pjx::SqliteInvalidationBackend publisher(db, options_for(c, wake, channel));
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> gap(c.gap_ms / 2, c.gap_ms * 1.5);
    const auto pause = [&] {
      const auto ns = static_cast<std::int64_t>(gap(rng) * 1e6);
      if (!c.spin) {
        std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
        return;
      }
      const std::int64_t until = monotonic_ns() + ns;
      while (monotonic_ns() < until) {
      }
    };
    for (int i = 0; i < c.warmup; ++i) {
      publisher.publish({"w" + std::to_string(i)});
      pause();
    }
    for (int i = 0; i < c.events; ++i) {
      pause();
      pjx::KeySet keys{"e" + std::to_string(i)};
      began[static_cast<std::size_t>(i)] = monotonic_ns();
      publisher.publish(keys);
      returned[static_cast<std::size_t>(i)] = monotonic_ns();
    }
    const std::int64_t deadline = monotonic_ns() + static_cast<std::int64_t>((c.poll_s + 5) * 1e9);
    const auto all_in = [&] {
      for (int w = 0; w < workers; ++w) {
        for (int e = 0; e < c.events; ++e) {
          if (shared.received(w, e).load(std::memory_order_relaxed) == 0) return false;
        }
      }
      return true;
    };
    while (!all_in() && monotonic_ns() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  reap();

  std::vector<double> lat, after_return, complete, calls, cpu_us;
  std::int64_t missing = 0;
  std::uint64_t wakes = 0, bells = 0, empty = 0, timed = 0;
  std::string failures;
  for (int e = 0; e < c.events; ++e) {
    const auto i = static_cast<std::size_t>(e);
    calls.push_back(static_cast<double>(returned[i] - began[i]) / 1e6);
    std::int64_t last = 0;
    bool everyone = true;
    for (int w = 0; w < workers; ++w) {
      const std::int64_t t = shared.received(w, e).load();
      if (t == 0) {
        ++missing;
        everyone = false;
        continue;
      }
      lat.push_back(static_cast<double>(t - began[i]) / 1e6);
      after_return.push_back(static_cast<double>(t - returned[i]) / 1e6);
      last = std::max(last, t);
    }
    if (everyone) complete.push_back(static_cast<double>(last - began[i]) / 1e6);
  }
  for (int w = 0; w < workers; ++w) {
    ListenerSlot& s = shared.slot(w);
    if (s.state.load() != 3) {
      failures += "listener " + std::to_string(w) + ": " + (s.error[0] != 0 ? s.error : "did not stop cleanly") + "; ";
      continue;
    }
    cpu_us.push_back(static_cast<double>(s.cpu_at_end_ns - s.cpu_at_start_ns) / 1e3 / c.events);
    wakes += s.wakes;
    bells += s.doorbell_wakes;
    empty += s.empty_wakes;
    timed += s.timed_polls;
  }
  const auto pct = [](const std::vector<double>& v, double p) { return v.empty() ? 0.0 : round3(percentile(v, p)); };
  Json m = {{"p50_ms", pct(lat, 50)},
            {"p90_ms", pct(lat, 90)},
            {"p99_ms", pct(lat, 99)},
            {"max_ms", pct(lat, 100)},
            {"all_listeners_p50_ms", pct(complete, 50)},
            {"all_listeners_p99_ms", pct(complete, 99)},
            {"p50_after_return_ms", pct(after_return, 50)},
            {"p99_after_return_ms", pct(after_return, 99)},
            {"publish_call_p50_ms", pct(calls, 50)},
            {"publish_call_p99_ms", pct(calls, 99)},
            {"listener_cpu_us_per_event", pct(cpu_us, 50)},
            {"deliveries", static_cast<std::int64_t>(lat.size())},
            {"missing", missing},
            {"wakes", wakes},
            {"doorbell_wakes", bells},
            {"empty_wakes", empty},
            {"timed_polls", timed}};
  if (!failures.empty()) m["failures"] = failures;
  return m;
}

Wake parse_wake(const std::string& s) {
  if (s == "off") return Wake::kOff;
  if (s == "wal") return Wake::kWal;
  if (s == "on") return Wake::kOn;
  throw CLI::ValidationError("--wake", "'" + s + "' is not a wake mode: use off, wal or on");
}

void print_row(std::ostream& out, const Json& r) {
  const Json& m = r.at("metrics");
  char line[256];
  std::snprintf(line, sizeof line, "%-4s %7d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.1f %7lld %6lld %6lld\n",
                r.at("wake").get<std::string>().c_str(), r.at("workers").get<int>(), m.at("p50_ms").get<double>(),
                m.at("p99_ms").get<double>(), m.at("max_ms").get<double>(), m.at("all_listeners_p50_ms").get<double>(),
                m.at("all_listeners_p99_ms").get<double>(), m.at("publish_call_p50_ms").get<double>(),
                m.at("listener_cpu_us_per_event").get<double>(), m.at("missing").get<long long>(),
                m.at("empty_wakes").get<long long>(), m.at("timed_polls").get<long long>());
  out << line << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
  Config c;
  CLI::App app{"pjx_bench_fanout: cross-process delivery latency of the library alone (no worker protocol)"};
  app.add_option("--workers", c.workers, "listener processes per run (list)")->delimiter(',')->check(CLI::Range(1, 512));
  app.add_option("--wake", c.wakes, "wake modes (list): off (timed polls only), wal (-wal writes wake, no doorbell), on (doorbell)")
      ->delimiter(',');
  app.add_option("--events", c.events, "measured publishes per run")->check(CLI::Range(1, 100000));
  app.add_option("--warmup", c.warmup, "unmeasured publishes before them")->check(CLI::Range(0, 1000));
  app.add_option("--gap-ms", c.gap_ms, "mean gap between publishes (each drawn from [gap/2, 3 gap/2])")
      ->check(CLI::Range(0.0, 60000.0));
  app.add_option("--poll", c.poll_s, "poll_interval of every backend, seconds")->check(CLI::Range(0.001, 60.0));
  app.add_option("--runs", c.runs, "runs per configuration; figures are medians over runs")->check(CLI::Range(1, 100));
  app.add_option("--json", c.json_path, "write the results as JSON to this file");
  app.add_option("--seed", c.seed, "seed of the random gaps");
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "print no table (only errors; the JSON file is still written)");
  app.set_version_flag("--version", std::string("pjx_bench_fanout ") + pjx::kVersionString);
  app.footer(
      "Exit status:\n"
      "  0    every delivery arrived\n"
      "  1    some deliveries were missing or a listener failed (see the JSON)\n"
      "  2    the benchmark could not run (a bad option, a failed fork, an unwritable --json)\n"
      "  130  interrupted by SIGINT (killed by the signal; the listeners die with it)\n"
      "\n"
      "Environment:\n"
      "  PJX_BENCH_DIR  where the databases go (default: a folder under $TMPDIR, else /tmp)\n"
      "\n"
      "Examples:\n"
      "  pjx_bench_fanout --workers 16,64 --wake off,wal,on --runs 3 --json fanout.json\n"
      "  pjx_bench_fanout --workers 4 --poll 0.5 --wake off\n");
  app.add_flag("--spin", c.spin,
               "the publisher spins through the gaps instead of sleeping (keeps its CPU busy: separates the cost "
               "of waking an idle CPU from the library's)");
  // Exit status: 0 every delivery arrived, 1 some were missing or a listener
  // failed, 2 the bench could not run (a bad option, a failed fork).
  std::vector<Wake> wakes;
  try {
    app.parse(argc, argv);
    for (const auto& s : c.wakes) wakes.push_back(parse_wake(s));
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help exits 0
  }

  const auto base = pjx::bench::bench_base_dir();
  Json doc = {{"tool", "pjx_bench_fanout"},
              {"started_at", pjx::harness::utc_now_iso()},
              {"commit", pjx::harness::commit_id()},
              {"machine", pjx::harness::machine_info(base)},
              {"parameters",
               {{"events", c.events}, {"warmup", c.warmup}, {"gap_ms", c.gap_ms}, {"spin", c.spin}, {"poll_s", c.poll_s},
                {"runs", c.runs}, {"seed", c.seed}, {"dir", base.string()}}},
              {"results", Json::array()}};
  std::ostream silent(nullptr);  // discards what it is given
  std::ostream& out = quiet ? silent : std::cout;
  out << "pjx_bench_fanout: " << c.events << " events, gap " << c.gap_ms << " ms, poll " << c.poll_s
            << " s, medians of " << c.runs << " run(s); latency from the start of the publish call, ms\n"
            << "wake workers       p50       p99       max  all-p50   all-p99  call-p50  cpu-us/ev missing  empty  timed\n";
  bool ok = true;
  std::uint64_t seed = c.seed;
  for (const Wake wake : wakes) {
    for (const int workers : c.workers) {
      std::vector<Json> samples;
      for (int r = 0; r < c.runs; ++r) {
        try {
          samples.push_back(run_once(c, wake, workers, seed++));
        } catch (const std::exception& e) {
          std::cerr << "pjx_bench_fanout: wake " << wake_name(wake) << ", " << workers << " workers: " << e.what()
                    << "\n";
          return 2;
        }
        if (samples.back().contains("failures") || samples.back().at("missing").get<std::int64_t>() != 0) ok = false;
      }
      Json row = {{"wake", wake_name(wake)}, {"workers", workers}, {"metrics", pjx::harness::median_metrics(samples)}, {"samples", samples}};
      print_row(out, row);
      doc["results"].push_back(row);
    }
  }
  if (!c.json_path.empty()) {
    std::ofstream f(c.json_path);
    f << doc.dump(2) << "\n";
    if (!f) {
      std::cerr << "pjx_bench_fanout: cannot write " << c.json_path << "\n";
      return 2;
    }
  }
  if (!ok) std::cerr << "pjx_bench_fanout: deliveries were missing or a listener failed (see the JSON)\n";
  return ok ? 0 : 1;
}
