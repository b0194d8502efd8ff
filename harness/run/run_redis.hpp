// RunRedis: the Redis server a run's workers meet on (backend "redis"):
// the harness's own redis-server, started for the run in <run dir>/redis/,
// or a running one given with --redis-url. Also the command connection the
// nemesis and the probes use (CLIENT KILL, CLIENT LIST).
//
// A scenario with a `redis_failover` fault (hosts = true) gets a Sentinel
// setup instead of one server, laid out as Redis's documentation's
// three-box example:
//
//   host "redis"     the primary (redis-server)       sentinel s0
//   host "replica"   its replica (--replicaof)        sentinel s1
//   host "sentinel"  nothing else                     sentinel s2
//
// The sentinels monitor the primary as kMasterName with quorum 2,
// down-after-milliseconds kDownAfter and failover-timeout kFailoverTimeout,
// and the workers' REDIS_URL is redis+sentinel://S0,S1,S2/kMasterName/0.
// start() returns once the replica is in sync and every sentinel knows the
// replica and the two other sentinels, so a failover can be elected.
//
// Thread safety: none; the run's thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "net_hosts.hpp"
#include "redis_launcher.hpp"
#include "runner.hpp"
#include "scenario.hpp"
#include "worker_slots.hpp"

namespace pjx::harness {

class RunRedis {
 public:
  static constexpr const char* kMasterName = "pjx-primary";
  static constexpr const char* kReplicaHost = "replica";
  static constexpr const char* kSentinelHost = "sentinel";
  static constexpr std::chrono::milliseconds kDownAfter{500};
  static constexpr std::chrono::milliseconds kFailoverTimeout{2000};

  // Whether `scenario` runs on the Sentinel setup (it has a redis_failover
  // fault).
  static bool needs_sentinels(const Scenario& scenario);
  // The server hosts the scenario needs besides NetHosts::kRedisHost
  // (NetHosts's `servers`): {kReplicaHost, kSentinelHost} with sentinels.
  static std::vector<std::string> server_hosts(const Scenario& scenario);

  // Starts the own server (or takes options.redis_url) and gives every
  // worker slot REDIS_URL, then the scenario's environment overrides, where
  // "{redis_unix_url}" is the own server's unix socket. With `hosts` the
  // server runs on host "redis" and listens on its address, which REDIS_URL
  // names; with needs_sentinels() the Sentinel setup above. Throws Abort:
  // "skip" when the scenario needs the own server (redis_restart, a
  // pubsub_limit, {redis_unix_url}, hosts) but a URL was given, or
  // redis-sentinel is not installed; "error" when a server cannot be
  // started or the sentinels do not find each other.
  void start(const Scenario& scenario, const RunOptions& options,
             const std::filesystem::path& run_dir, Workers& workers,
             const NetHosts* hosts = nullptr);

  // The own server: the primary (the replica once promoted()); null with
  // --redis-url.
  pjx::testing::RedisServer* server() { return promoted_ ? replica_.get() : server_.get(); }
  const pjx::testing::RedisServer* server() const {
    return promoted_ ? replica_.get() : server_.get();
  }
  const std::string& url() const { return url_; }
  // A command connection to server(). Throws RedisError.
  pjx::testing::RedisClient& client();

  // Sentinel setup only (else null / empty): the replica, the sentinels.
  pjx::testing::RedisServer* replica() { return replica_.get(); }
  std::vector<pjx::testing::RedisSentinel*> sentinels();
  // "host:port" of the first primary and of the replica, as the sentinels
  // name them.
  std::string primary_address() const;
  std::string replica_address() const;
  // The sentinels promoted the replica: server() and client() are its.
  void set_promoted() { promoted_ = true; }
  bool promoted() const { return promoted_; }

  // Drops the command connection, stops the sentinels and the servers.
  void stop();

 private:
  void start_sentinels(const std::filesystem::path& run_dir, const NetHosts& hosts,
                       const pjx::testing::RedisServerOptions& primary_options);

  std::unique_ptr<pjx::testing::RedisServer> server_;
  std::unique_ptr<pjx::testing::RedisServer> replica_;
  std::vector<std::unique_ptr<pjx::testing::RedisSentinel>> sentinels_;
  std::unique_ptr<pjx::testing::RedisClient> client_;
  std::string url_;
  bool promoted_ = false;
};

}  // namespace pjx::harness
