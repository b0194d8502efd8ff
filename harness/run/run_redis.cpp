#include "run_redis.hpp"

#include "leftovers.hpp"
#include "redis_endpoint.hpp"
#include "run_loop.hpp"

namespace pjx::harness {

namespace {

bool needs_own_server(const Scenario& scenario) {
  if (!scenario.redis_pubsub_limit.empty()) return true;
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

void RunRedis::start(const Scenario& scenario, const RunOptions& options,
                     const std::filesystem::path& run_dir, Workers& workers) {
  if (!options.redis_url.empty()) {
    if (needs_own_server(scenario)) {
      throw Abort{"skip",
                  "not runnable against an external server (--redis-url): its faults restart "
                  "or reconfigure redis-server (redis_restart, redis_pause, pubsub_limit), which needs the "
                  "harness's own server (leave out --redis-url)"};
    }
    url_ = options.redis_url;
  } else {
    pjx::testing::RedisServerOptions o;
    o.dir = run_dir / "redis";
    // Named after this process, so that a later run removes it if the
    // harness is killed (leftovers.hpp).
    o.make_socket_dir = [] { return make_run_folder(temp_root(), "redis", false); };
    if (!scenario.redis_pubsub_limit.empty()) o.pubsub_limit = scenario.redis_pubsub_limit;
    try {
      server_ = std::make_unique<pjx::testing::RedisServer>(o);
    } catch (const std::exception& e) {
      throw Abort{"error",
                  std::string("cannot start redis-server for the Redis backend: ") + e.what()};
    }
    url_ = server_->url();
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

pjx::testing::RedisClient& RunRedis::client() {
  if (server_) return server_->client();
  if (!client_)
    client_ = std::make_unique<pjx::testing::RedisClient>(pjx::testing::redis_endpoint(url_));
  return *client_;
}

void RunRedis::stop() {
  client_.reset();
  if (server_) server_->stop();
}

}  // namespace pjx::harness
