// Redis for the library's tests: a real redis-server of the test's own
// (RedisServer, the project's one launcher: redis_launcher.hpp), one shared
// by the whole test process (shared_redis_url), and RawRedis, a plain
// connection by URL to poke the server as another program would.
//
// Thread safety: none; drive a server from the test's main thread.
#pragma once

#include <string>
#include <vector>

#include "redis_client.hpp"
#include "redis_launcher.hpp"

namespace pjx::testing {

// The URL of a Redis server for tests that neither stop nor restart it:
// $PJX_TEST_REDIS_URL when set (scripts/with-redis.sh sets it), otherwise
// one RedisServer started for the whole test process on first use.
std::string shared_redis_url();

// A plain connection by REDIS_URL (read with the library's parser).
class RawRedis {
 public:
  // Throws RedisError (a std::runtime_error) when it cannot connect or
  // AUTH/SELECT fail.
  explicit RawRedis(const std::string& url);

  // Runs a command; returns its reply as RedisReply::render() writes it.
  // Throws RedisError when the connection fails.
  std::string command(const std::vector<std::string>& args);
  // Kills, by id, every client whose name is `name`; returns how many.
  int kill_clients_named(const std::string& name);
  // The CLIENT LIST lines of clients named `name`.
  std::vector<std::string> clients_named(const std::string& name);

 private:
  RedisClient client_;
};

}  // namespace pjx::testing
