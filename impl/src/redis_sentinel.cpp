// SentinelLocator: see redis_sentinel.hpp.
#include "redis_sentinel.hpp"

#include <algorithm>
#include <string_view>
#include <vector>

namespace pjx::detail {
namespace {

using Clock = std::chrono::steady_clock;

std::string text_of(const redisReply* reply) {
  if (reply == nullptr ||
      (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS)) {
    return {};
  }
  return std::string(reply->str, reply->len);
}

// The role in an INFO replication reply ("role:master\r\n..."), or "".
std::string role_in_info(std::string_view info) {
  const std::size_t at = info.find("role:");
  if (at == std::string_view::npos) return {};
  const std::size_t end = info.find_first_of("\r\n", at);
  return std::string(info.substr(at + 5, end == std::string_view::npos ? end : end - at - 5));
}

// Asks one sentinel for the primary's address (S1). Throws RedisIoError or
// RedisRefused naming what went wrong, RedisInterrupted.
RedisUrl::HostPort ask(const RedisUrl::HostPort& sentinel, const std::string& master,
                       std::chrono::milliseconds connect_timeout,
                       std::chrono::milliseconds command_timeout, int stop_fd) {
  RedisUrl endpoint;
  endpoint.kind = RedisUrl::Kind::kTcp;
  endpoint.host = sentinel.host;
  endpoint.port = sentinel.port;
  RedisConnection connection(endpoint, Clock::now() + connect_timeout, stop_fd);
  const RedisReply reply = connection.command({"SENTINEL", "get-master-addr-by-name", master},
                                              Clock::now() + command_timeout, stop_fd);
  if (reply->type == REDIS_REPLY_ERROR) {
    throw RedisRefused("it answered " + describe(*reply) +
                       " (is it a sentinel? Sentinels listen on port 26379 by default)");
  }
  if (reply->type == REDIS_REPLY_NIL) {
    throw RedisRefused("it does not monitor a master named \"" + master +
                       "\" (compare with its `sentinel monitor NAME ...` lines)");
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
    throw RedisIoError("unexpected reply " + describe(*reply), false);
  }
  RedisUrl::HostPort primary;
  primary.host = text_of(reply->element[0]);
  const std::string port = text_of(reply->element[1]);
  try {
    primary.port = std::stoi(port);
  } catch (const std::exception&) {
    primary.port = 0;
  }
  if (primary.host.empty() || primary.port < 1 || primary.port > 65535) {
    throw RedisIoError(
        "it named an unusable address \"" + primary.host + "\" port \"" + port + "\"", false);
  }
  return primary;
}

}  // namespace

std::string host_port_text(const RedisUrl::HostPort& at) {
  return (at.host.find(':') != std::string::npos ? "[" + at.host + "]" : at.host) + ":" +
         std::to_string(at.port);
}

void verify_primary(RedisConnection& connection, RedisDeadline deadline, int stop_fd) {
  std::string role;
  const RedisReply reply = connection.command({"ROLE"}, deadline, stop_fd);
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1) {
    role = text_of(reply->element[0]);
  } else {
    // ROLE refused (an ACL, a renamed command): INFO says it too.
    const RedisReply info = connection.command({"INFO", "replication"}, deadline, stop_fd);
    if (info->type == REDIS_REPLY_ERROR) {
      throw RedisRefused("it refused both ROLE (" + describe(*reply) + ") and INFO replication (" +
                         describe(*info) +
                         "), so it cannot be verified as the primary; allow the URL's user "
                         "ROLE (ACL: +role)");
    }
    role = role_in_info(text_of(info.get()));
  }
  if (role != "master") {
    throw RedisIoError("it reports role \"" + role +
                           "\", not \"master\" (a failover in progress, or a demoted primary)",
                       false);
  }
}

std::unique_ptr<RedisConnection> SentinelLocator::connect_primary(
    const std::string& client_name, std::chrono::milliseconds connect_timeout,
    std::chrono::milliseconds command_timeout, int stop_fd) {
  const std::size_t count = url_.sentinels.size();
  const std::size_t first = first_.load() % count;
  std::vector<RedisUrl::HostPort> tried;  // S1: primaries already connected to
  std::string failures;
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t index = (first + i) % count;
    const std::string sentinel = host_port_text(url_.sentinels[index]);
    RedisUrl::HostPort primary;
    try {
      primary =
          ask(url_.sentinels[index], url_.master_name, connect_timeout, command_timeout, stop_fd);
    } catch (const RedisInterrupted&) {
      throw;
    } catch (const std::exception& e) {
      failures += "; sentinel " + sentinel + ": " + e.what();
      continue;
    }
    const std::string named = "sentinel " + sentinel + " named primary " + host_port_text(primary);
    if (std::find(tried.begin(), tried.end(), primary) != tried.end()) {
      failures += "; " + named + ", already tried";
      continue;
    }
    tried.push_back(primary);
    RedisUrl endpoint = url_;  // the primary's user, password and db
    endpoint.kind = RedisUrl::Kind::kTcp;
    endpoint.host = primary.host;
    endpoint.port = primary.port;
    try {
      auto connection =
          std::make_unique<RedisConnection>(endpoint, Clock::now() + connect_timeout, stop_fd);
      connection->handshake(endpoint, client_name, command_timeout, stop_fd);
      verify_primary(*connection, Clock::now() + command_timeout, stop_fd);  // S2
      first_.store(index);
      return connection;
    } catch (const RedisInterrupted&) {
      throw;
    } catch (const std::exception& e) {
      failures += "; " + named + ": " + e.what();
    }
  }
  throw RedisIoError("no sentinel led to a usable primary of master \"" + url_.master_name + "\"" +
                         failures +
                         " (a failover takes the sentinels' down-after-milliseconds plus an "
                         "election; if this lasts, check that the sentinels run and monitor the "
                         "master under this name)",
                     false);
}

}  // namespace pjx::detail
