// The worker processes of one bench run (bench.hpp): a Pool of W workers on
// one database (or Redis server) and channel, driven on one io_context, and
// BackToBack, K publishers that each publish again as soon as the previous
// publish is answered.
//
// Thread safety: none; everything runs on the calling thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "bench.hpp"
#include "check/history.hpp"
#include "subprocess.hpp"

namespace pjx::harness {

struct BenchWorker {
  std::unique_ptr<pjx::testing::Subprocess> proc;
  bool ready = false;
  bool stopped = false;
  std::string fatal;
  Json stats;  // the last `stats` answer
  // Every protocol event, after the fields above are updated.
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

class Pool {
 public:
  // Creates `dir`; nothing is started.
  Pool(const BenchOptions& o, const std::filesystem::path& dir, const std::string& channel,
       const PoolConfig& c);
  // Kills what is still running.
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  std::filesystem::path db() const { return dir_ / "pjx.db"; }

  // Spawns worker "w<n>" (its stderr in the run's folder).
  BenchWorker& add();
  const std::vector<std::unique_ptr<BenchWorker>>& workers() const { return workers_; }

  // Sends `start` to every worker and waits up to 60 s for `ready`. Throws
  // std::runtime_error for a worker that is fatal, exits or stays silent.
  void start_all();
  // Asks every worker in `which` for stats and waits (10 s) for the answers.
  void collect_stats(const std::vector<BenchWorker*>& which);
  // Sends `stop` and waits (10 s) for every exit.
  void stop_all();

  bool pump_until(const std::function<bool()>& done, std::int64_t deadline_ns);
  void pump_for(std::int64_t ns);

  // Waits (up to 10 s) until `heard` holds every key of `acked`; returns
  // how many it still lacks.
  std::int64_t wait_heard(const std::vector<std::string>& acked,
                          const std::set<std::string>& heard);

 private:
  const BenchOptions& options_;
  std::filesystem::path dir_;
  std::map<std::string, std::string> env_;
  boost::asio::io_context io_;
  std::vector<std::unique_ptr<BenchWorker>> workers_;
};

// K publishers publishing back to back: each sends its next publish as soon
// as the previous one is answered, from begin() to end().
class BackToBack {
 public:
  explicit BackToBack(std::vector<BenchWorker*> publishers);
  void begin();
  // Stops sending and waits (30 s) for the publishes in flight.
  void end(Pool& pool);

  std::vector<std::string> acked;  // the key of each committed publish
  std::vector<double> lat_us;      // each commit's published.t - t_begin
  std::int64_t errors = 0;

 private:
  void send(BenchWorker* w);

  std::vector<BenchWorker*> pubs_;
  std::int64_t next_id_ = 0;
  bool running_ = false;
  int in_flight_ = 0;
};

// One listener and K publishers publishing back to back on a pool (the
// throughput and growth benches).
class PublishLoad {
 public:
  // Adds the listener, then the publishers, to `pool`.
  PublishLoad(Pool& pool, int publishers);

  struct Outcome {
    std::int64_t lost = 0;        // committed publishes the listener never heard
    std::int64_t busy_waits = 0;  // the publishers' busy_waits counters, summed
  };
  // After b2b().end(): waits for the listener (wait_heard), collects the
  // publishers' stats and stops every worker.
  Outcome finish();

  BackToBack& b2b() { return b2b_; }

 private:
  Pool& pool_;
  std::set<std::string> heard_;
  std::vector<BenchWorker*> pubs_;
  BackToBack b2b_;
};

}  // namespace pjx::harness
