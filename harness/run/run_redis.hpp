// RunRedis: the Redis server a run's workers meet on (backend "redis"):
// the harness's own redis-server, started for the run in <run dir>/redis/,
// or a running one given with --redis-url. Also the command connection the
// nemesis and the probes use (CLIENT KILL, CLIENT LIST).
//
// Thread safety: none; the run's thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "net_hosts.hpp"
#include "redis_launcher.hpp"
#include "runner.hpp"
#include "scenario.hpp"
#include "worker_slots.hpp"

namespace pjx::harness {

class RunRedis {
 public:
  // Starts the own server (or takes options.redis_url) and gives every
  // worker slot REDIS_URL, then the scenario's environment overrides, where
  // "{redis_unix_url}" is the own server's unix socket. With `hosts` the
  // server runs on host "redis" and listens on its address, which REDIS_URL
  // names. Throws Abort: "skip" when the scenario needs the own server
  // (redis_restart, a pubsub_limit, {redis_unix_url}, hosts) but a URL was
  // given, "error" when redis-server cannot be started.
  void start(const Scenario& scenario, const RunOptions& options,
             const std::filesystem::path& run_dir, Workers& workers,
             const NetHosts* hosts = nullptr);

  // The own server; null with --redis-url.
  pjx::testing::RedisServer* server() { return server_.get(); }
  const pjx::testing::RedisServer* server() const { return server_.get(); }
  const std::string& url() const { return url_; }
  // A command connection to the server. Throws RedisError.
  pjx::testing::RedisClient& client();
  // Drops the command connection and stops the own server.
  void stop();

 private:
  std::unique_ptr<pjx::testing::RedisServer> server_;
  std::unique_ptr<pjx::testing::RedisClient> client_;
  std::string url_;
};

}  // namespace pjx::harness
