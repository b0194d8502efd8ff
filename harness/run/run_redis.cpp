#include "run_redis.hpp"

#include <thread>

#include "leftovers.hpp"
#include "redis_endpoint.hpp"
#include "run_loop.hpp"

namespace pjx::harness {

namespace {

bool needs_own_server(const Scenario& scenario) {
  if (!scenario.redis_pubsub_limit.empty() || scenario.hosts) return true;
  if (RunRedis::needs_sentinels(scenario)) return true;
  for (const FaultSpec& f : scenario.faults) {
    if (f.action == "redis_restart" || f.action == "redis_pause") return true;
  }
  for (const WorkerSpec& w : scenario.workers) {
    for (const auto& [k, v] : w.env) {
      if (v.find("{redis_unix_url}") != std::string::npos) return true;
    }
  }
  return false;
}

}  // namespace

bool RunRedis::needs_sentinels(const Scenario& scenario) {
  for (const FaultSpec& f : scenario.faults) {
    if (f.action == "redis_failover") return true;
  }
  return false;
}

std::vector<std::string> RunRedis::server_hosts(const Scenario& scenario) {
  if (!needs_sentinels(scenario)) return {};
  return {kReplicaHost, kSentinelHost};
}

void RunRedis::start(const Scenario& scenario, const RunOptions& options,
                     const std::filesystem::path& run_dir, Workers& workers,
                     const NetHosts* hosts) {
  if (!options.redis_url.empty()) {
    if (needs_own_server(scenario)) {
      throw Abort{"skip",
                  "not runnable against an external server (--redis-url): its faults restart, "
                  "reconfigure or move redis-server (redis_restart, redis_pause, pubsub_limit, "
                  "hosts), which needs the harness's own server (leave out --redis-url)"};
    }
    url_ = options.redis_url;
  } else {
    pjx::testing::RedisServerOptions o;
    o.dir = run_dir / "redis";
    // Named after this process, so that a later run removes it if the
    // harness is killed (leftovers.hpp).
    o.make_socket_dir = [] { return make_run_folder(temp_root(), "redis", false); };
    if (!scenario.redis_pubsub_limit.empty()) o.pubsub_limit = scenario.redis_pubsub_limit;
    if (hosts != nullptr) {
      o.bind_address = hosts->address(NetHosts::kRedisHost);
      o.network_namespace = hosts->netns_path(NetHosts::kRedisHost);
    }
    if (needs_sentinels(scenario)) {
      try {
        pjx::testing::find_redis_sentinel();
      } catch (const pjx::testing::RedisError& e) {
        throw Abort{"skip", std::string("redis_failover needs Redis Sentinel: ") + e.what()};
      }
      if (hosts == nullptr) {
        throw Abort{"error", "redis_failover needs hosts = true (a host per server)"};
      }
    }
    try {
      server_ = std::make_unique<pjx::testing::RedisServer>(o);
    } catch (const std::exception& e) {
      throw Abort{"error",
                  std::string("cannot start redis-server for the Redis backend: ") + e.what()};
    }
    url_ = server_->url();
    if (needs_sentinels(scenario)) start_sentinels(run_dir, *hosts, o);
  }
  for (const auto& s : workers.all()) s->env["REDIS_URL"] = url_;
  // Environment overrides of the scenario come last, as for SQLite.
  const std::string unix_url = server_ ? server_->unix_url() : std::string();
  for (const auto& s : workers.all()) {
    for (const auto& [k, v] : s->spec->env) {
      s->env[k] =
          replace_all(replace_all(v, "{dir}", run_dir.string()), "{redis_unix_url}", unix_url);
    }
  }
}

void RunRedis::start_sentinels(const std::filesystem::path& run_dir, const NetHosts& hosts,
                               const pjx::testing::RedisServerOptions& primary_options) {
  using namespace std::chrono_literals;
  pjx::testing::RedisServerOptions r = primary_options;
  r.dir = run_dir / "redis-replica";
  r.bind_address = hosts.address(kReplicaHost);
  r.network_namespace = hosts.netns_path(kReplicaHost);
  r.replica_of = server_->port();
  r.replica_of_host = hosts.address(NetHosts::kRedisHost);
  try {
    replica_ = std::make_unique<pjx::testing::RedisServer>(r);
    // In sync before the sentinels look: their first INFO of the primary
    // then lists the replica (the next comes 10 s later).
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    for (;;) {
      const pjx::testing::RedisReply info = replica_->client().command({"INFO", "replication"});
      if (info.text.find("master_link_status:up") != std::string::npos) break;
      if (std::chrono::steady_clock::now() > deadline) {
        throw pjx::testing::RedisError("the replica did not sync with the primary within 15 s:" +
                                       info.text + "\nits log:\n" + replica_->log());
      }
      std::this_thread::sleep_for(20ms);
    }
    const char* places[] = {NetHosts::kRedisHost, kReplicaHost, kSentinelHost};
    for (int i = 0; i < 3; ++i) {
      pjx::testing::RedisSentinelOptions s;
      s.dir = run_dir / ("sentinel-" + std::to_string(i));
      s.master_name = kMasterName;
      s.primary_host = hosts.address(NetHosts::kRedisHost);
      s.primary_port = server_->port();
      s.quorum = 2;
      s.down_after = kDownAfter;
      s.failover_timeout = kFailoverTimeout;
      s.bind_address = hosts.address(places[i]);
      s.network_namespace = hosts.netns_path(places[i]);
      s.make_socket_dir = primary_options.make_socket_dir;
      sentinels_.push_back(std::make_unique<pjx::testing::RedisSentinel>(s));
    }
    // Hello messages every 2 s: each learns the others through the primary.
    for (const auto& s : sentinels_) {
      if (!s->wait_until_knows(1, 2, 20000ms)) {
        throw pjx::testing::RedisError("sentinel " + s->address() +
                                       " did not learn of the replica and the two other "
                                       "sentinels within 20 s; its log:\n" + s->log());
      }
    }
  } catch (const std::exception& e) {
    throw Abort{"error", std::string("cannot set up the primary, replica and sentinels: ") +
                             e.what()};
  }
  std::vector<const pjx::testing::RedisSentinel*> all;
  for (const auto& s : sentinels_) all.push_back(s.get());
  url_ = pjx::testing::sentinel_url(all, kMasterName);
}

std::vector<pjx::testing::RedisSentinel*> RunRedis::sentinels() {
  std::vector<pjx::testing::RedisSentinel*> out;
  for (const auto& s : sentinels_) out.push_back(s.get());
  return out;
}

std::string RunRedis::primary_address() const {
  return server_ ? server_->options().bind_address + ":" + std::to_string(server_->port()) : "";
}

std::string RunRedis::replica_address() const {
  return replica_ ? replica_->options().bind_address + ":" + std::to_string(replica_->port())
                  : "";
}

pjx::testing::RedisClient& RunRedis::client() {
  if (server() != nullptr) return server()->client();
  if (!client_)
    client_ = std::make_unique<pjx::testing::RedisClient>(pjx::testing::redis_endpoint(url_));
  return *client_;
}

void RunRedis::stop() {
  client_.reset();
  for (const auto& s : sentinels_) s->stop();  // first: no failover of their own meanwhile
  if (replica_) replica_->stop();
  if (server_) server_->stop();
}

}  // namespace pjx::harness
