// SentinelLocator: finds the primary of a redis+sentinel:// URL and connects
// to it, as redis-py's Sentinel(...).master_for(NAME) does.
//
// Invariants (numbered; tests name them):
//   S1. The sentinels are asked in the URL's order, starting with the one
//       that last named a usable primary (redis-py moves that sentinel to
//       the front of its list): `SENTINEL get-master-addr-by-name NAME`, each
//       connect by now + connect_timeout and each reply by now +
//       command_timeout. A sentinel that cannot be reached, does not answer,
//       does not know NAME or names a primary that fails S2 is passed over
//       for the next; a primary address already tried in this round (all
//       sentinels name the dead primary during a failover) is not connected
//       to twice.
//   S2. A named primary is trusted only once it says so itself: after the
//       handshake (AUTH, SELECT, CLIENT SETNAME) the connection asks ROLE
//       (or, when ROLE is refused, INFO replication) and must read "master".
//       A replica (a demoted primary that restarted, a sentinel whose view
//       is stale) is passed over: a PUBLISH it accepted would reach only
//       its own subscribers.
//   S3. When no sentinel led to a verified primary, RedisIoError (not timed
//       out) names the master, every sentinel and what each one's attempt
//       met, and the fix. The worst case is one connect_timeout +
//       command_timeout per sentinel and per distinct primary address.
//
// Thread safety: connect_primary() may be called from several threads at
// once (the publisher and the listener); it shares only the index of the
// sentinel to ask first.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "pjx/redis_backend.hpp"
#include "redis_connection.hpp"

namespace pjx::detail {

// "host:port", IPv6 hosts in brackets.
std::string host_port_text(const RedisUrl::HostPort& at);

// S2: throws RedisIoError (not timed out) unless the server on `connection`
// reports role "master" through ROLE, or INFO replication when ROLE is
// refused; RedisRefused when it refuses both.
void verify_primary(RedisConnection& connection, RedisDeadline deadline, int stop_fd);

class SentinelLocator {
 public:
  // REQUIRES: url.kind == kSentinel; `url` outlives the locator.
  explicit SentinelLocator(const RedisUrl& url) : url_(url) {}

  // S1-S3: a connection to the verified primary, handshaken with the URL's
  // user, password and db and named `client_name`. Throws RedisIoError (S3)
  // or RedisInterrupted when `stop_fd` (-1: none) became readable.
  std::unique_ptr<RedisConnection> connect_primary(const std::string& client_name,
                                                   std::chrono::milliseconds connect_timeout,
                                                   std::chrono::milliseconds command_timeout,
                                                   int stop_fd);

 private:
  const RedisUrl& url_;
  std::atomic<std::size_t> first_{0};  // S1: the sentinel to ask first
};

}  // namespace pjx::detail
