#include "redis_server.hpp"

#include <chrono>
#include <cstdlib>

#include "redis_endpoint.hpp"

namespace pjx::testing {

std::string shared_redis_url() {
  if (const char* url = std::getenv("PJX_TEST_REDIS_URL"); url != nullptr && *url != '\0') {
    return url;
  }
  static RedisServer server;  // started on first use, stopped at exit
  return server.url();
}

RawRedis::RawRedis(const std::string& url)
    : client_(redis_endpoint(url), std::chrono::seconds(10)) {}

std::string RawRedis::command(const std::vector<std::string>& args) {
  return client_.command(args).render();
}

int RawRedis::kill_clients_named(const std::string& name) {
  return client_.kill_clients_named(name);
}

std::vector<std::string> RawRedis::clients_named(const std::string& name) {
  std::vector<std::string> lines;
  for (const RedisClientInfo& c : client_.clients_named(name)) lines.push_back(c.line);
  return lines;
}

}  // namespace pjx::testing
