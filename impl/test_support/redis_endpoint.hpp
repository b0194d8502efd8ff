// redis_endpoint(): a REDIS_URL read as every worker reads it, with the
// library's parser (pjx::RedisUrl: percent-decoding, user, password, db),
// as a RedisClient endpoint. Header-only, for the targets that link the
// library (the Redis tests, the harness); pjx_testbed itself does not.
#pragma once

#include <string_view>

#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"
#include "redis_client.hpp"

namespace pjx::testing {

// Throws RedisError with the parser's message (URL masked, what is wrong,
// the fix).
inline RedisEndpoint redis_endpoint(std::string_view url) {
  RedisUrl parsed;
  try {
    parsed = RedisUrl::parse(url);
  } catch (const ConfigError& e) {
    throw RedisError(e.what());
  }
  RedisEndpoint e;
  if (parsed.kind == RedisUrl::Kind::kUnix) {
    e.socket = parsed.socket_path;
  } else {
    e.host = parsed.host;
    e.port = parsed.port;
  }
  e.username = parsed.username;
  e.password = parsed.password;
  e.db = parsed.db;
  return e;
}

}  // namespace pjx::testing
