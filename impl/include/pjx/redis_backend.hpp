// RedisInvalidationBackend: fans out invalidations between workers on any
// number of hosts through Redis pub/sub, interoperating with upstream
// pyjinhx's Redis backend on the same channel. publish() sends
// `PUBLISH <channel> <payload>` where the payload is the JSON array of
// WIRE.md (sorted keys, no duplicates); a listener holds its own connection
// in SUBSCRIBE mode and hands every message on the channel to its handler.
//
// Differences from the SQLite backend, by design of Redis pub/sub:
//   * no retention: a message reaches the listeners subscribed at the moment
//     it is published and nobody else;
//   * at most once: a listener whose connection drops cannot know what it
//     missed, so it asks for a flush as soon as it notices the loss
//     (FlushReason::kDisconnected: the cache keeps nothing while
//     disconnected) and again once subscribed (kReconnect), and counts both;
//   * the payload carries no sender, so a worker that publishes also
//     receives its own keys back on its listener (as upstream does); evicting
//     them twice is harmless.
//
// Connections: one for publishing (opened by the first publish()), one per
// started listener, each authenticated (AUTH), on its db (SELECT) and named
// with CLIENT SETNAME: "pjx-pub-<pid>" and "pjx-sub-<pid>", <pid> being the
// process id in decimal, so that an operator or the harness can find a
// worker's connections in CLIENT LIST (and drop one with CLIENT KILL ID).
// Several backends in one process share these names.
//
// Sentinel: with a redis+sentinel:// URL (see RedisUrl) every connection
// goes to the primary that the sentinels name, asked in turn (each within
// connect_timeout and command_timeout), and only once that server confirms
// with ROLE that it is the primary. A failover reaches the listener as a
// lost connection: the old primary died, or Sentinel closed its clients
// when it demoted it, or the health check found it silent; the listener
// flushes (kDisconnected), asks the sentinels again, resubscribes to the
// new primary and flushes again (kReconnect), as after any reconnect, so
// every switch flushes. The publisher follows the same way; a publish
// during the switch either reaches the primary or throws BackendError.
// Not covered: a primary demoted by other means than Sentinel (REPLICAOF
// by hand) while the listener's connection stays open keeps that listener
// on it.
//
// Errors: BackendError::code() is 0 for every Redis failure; the message
// names the channel, the URL with its password masked, and the cause
// (refused, timed out, "Redis refused AUTH: WRONGPASS ...").
//
// Fork: a backend belongs to the process that built it. Built before
// fork() (gunicorn --preload), every child would share its instance_id and
// inherit the parent's Redis connections but not its threads; so in a child,
// publish(), start() throw BackendError naming the fix (build
// the backend after the fork, in each worker: gunicorn's post_fork hook),
// stop() does nothing, and the destructor leaks the object rather than
// close the inherited connections or join threads that are not there.
//
// Thread safety: all methods are thread-safe. The handler passed to start()
// runs on the backend's listener thread, one call at a time, in the order
// Redis delivered the messages. Host names are resolved with getaddrinfo(),
// which can block beyond connect_timeout when DNS is slow; every other wait
// honours the timeouts and, on the listener thread, stop().
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pjx/invalidation_backend.hpp"

namespace pjx {

// A parsed REDIS_URL. Accepted forms (the first three as redis-py and
// upstream accept them):
//   redis://[[username]:password@]host[:port][/db]
//   rediss://...   (refused: this build has no TLS; the error says so)
//   unix://[[username]:password@]/path/to/socket[?db=N]
//   redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/master_name[/db]
// Host may be a name, an IPv4 address or a bracketed IPv6 address; port
// defaults to 6379 (26379 for a sentinel) and db to 0. Percent-escapes in
// username, password and master name are decoded. The query may give db,
// username and password in every form.
//
// Sentinel (kSentinel): the hosts are Redis Sentinels, asked in turn for the
// primary that they monitor under master_name (the name of `sentinel monitor
// NAME ...`), as redis-py's Sentinel([(host, port), ...]).master_for(NAME)
// does. The user, password and db are the primary's (redis-py's
// connection_kwargs of master_for); the sentinels are asked without AUTH, as
// redis-py does when no sentinel_kwargs are given. Upstream pyjinhx hands
// REDIS_URL to redis.from_url(), which refuses this scheme: an upstream
// worker fails at start rather than silently using another Redis.
struct RedisUrl {
  enum class Kind { kTcp, kUnix, kSentinel };
  struct HostPort {
    std::string host;
    int port = 0;
    bool operator==(const HostPort&) const = default;
  };
  Kind kind = Kind::kTcp;
  std::string host;         // kTcp
  int port = 6379;          // kTcp
  std::string socket_path;  // kUnix
  std::vector<HostPort> sentinels;  // kSentinel: in the URL's order, never empty
  std::string master_name;          // kSentinel: never empty
  std::string username;     // empty: none (or the default user with a password)
  std::string password;     // empty: no AUTH
  int db = 0;               // SELECTed after connecting when not 0

  // Throws ConfigError naming the (masked) URL, what is wrong and the fix.
  static RedisUrl parse(std::string_view url);
  // The URL with any password replaced by "***", for messages and logs.
  std::string masked() const;
};

// `url` with any password replaced by "***"; works on unparseable input too.
std::string mask_redis_url(std::string_view url);

struct RedisOptions {
  // The pub/sub channel; must not be empty. Same default as the SQLite backend.
  std::string channel = "pyjinhx:invalidate";
  // Connecting and each command give up after this long.
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds command_timeout{2000};
  // Reconnect backoff of the listener: starts at the minimum, doubles up to
  // the maximum, resets after a successful subscription.
  std::chrono::milliseconds reconnect_min{20};
  std::chrono::milliseconds reconnect_max{1000};
  // Liveness of the listener's connection: every health_check_interval it
  // sends PING on the subscribed connection; a reply must arrive within
  // health_check_timeout, or the connection counts as lost: a flush with
  // kDisconnected at once (the cache keeps nothing until resubscribed), then
  // reconnects, then a flush with kReconnect. A silent server (stopped, or
  // a partition without RST) is thus noticed within interval + timeout
  // instead of TCP keepalive's minute: no read is staler than
  // health_check_interval + health_check_timeout (2 s by default) plus a
  // scheduling delay, and a silent connection to a reachable server is
  // replaced within about that plus connect_timeout.
  // An interval of 0 disables the check; with an interval above 0 the
  // timeout must be positive.
  std::chrono::milliseconds health_check_interval{1000};
  std::chrono::milliseconds health_check_timeout{1000};
  // Receives operational warnings (connection lost, malformed message, a
  // throwing handler), each kind rate-limited. Empty means stderr.
  std::function<void(const std::string& message)> on_warning;
};

// Counters since construction.
struct RedisStats {
  std::uint64_t published = 0;           // PUBLISH commands that got a reply
  std::uint64_t publish_failures = 0;    // publishes that threw BackendError
  std::uint64_t messages_received = 0;   // messages on our channel, malformed ones included
  std::uint64_t keys_delivered = 0;      // keys handed to the handler
  std::uint64_t malformed_messages = 0;  // payloads that are not a JSON array of strings
  std::uint64_t handler_errors = 0;      // handler calls that threw
  std::uint64_t flushes = 0;  // FlushHandler calls (losses, reconnects, throwing handlers)
  std::uint64_t connection_losses = 0;      // listener connections lost
  std::uint64_t reconnects = 0;             // successful re-subscriptions
  std::uint64_t publisher_reconnects = 0;   // publish connection re-established
  std::uint64_t health_checks = 0;          // PINGs sent on the listener's connection
  std::uint64_t health_check_failures = 0;  // PINGs unanswered within health_check_timeout
  std::uint64_t primary_switches = 0;       // resubscriptions on another server than the last
                                            // one (with Sentinel: failovers the listener followed)
  bool connected = false;                   // the listener's subscription is confirmed now
  bool listening = false;
  std::string last_error;  // the most recent publish or listener error, or ""
  std::string primary;     // "host:port" (or socket path) of the listener's latest
                           // subscription, "" before the first
};

class RedisInvalidationBackend final : public InvalidationBackend {
 public:
  // Parses and validates `url` and options; does not connect (the first
  // publish() or start() does). Throws ConfigError for a bad URL or options.
  explicit RedisInvalidationBackend(std::string url, RedisOptions options = {});
  ~RedisInvalidationBackend() override;  // stops the listener

  // Sends PUBLISH on the publish connection (connecting if needed). When a
  // connection that was open fails (closed by the server, reset), it
  // reconnects and sends once more, so the keys may reach Redis twice
  // (harmless). Throws std::invalid_argument for a key that is not valid
  // UTF-8 (nothing sent), and BackendError, counted in publish_failures,
  // when Redis cannot be reached within connect_timeout, does not answer
  // within command_timeout (not retried), or refuses; the keys were then
  // not published (after a timeout: perhaps published, not confirmed).
  void publish(const KeySet& keys) override;
  // Connects, subscribes, and returns once Redis confirmed the subscription,
  // so a message published afterwards is delivered. A second call while
  // started is a no-op. Throws BackendError (and stays stopped) when Redis
  // cannot be reached within connect_timeout, a handshake command or
  // SUBSCRIBE gets no answer within command_timeout, or AUTH/SELECT are
  // refused. Once started, a lost connection is not an error: the listener
  // calls on_flush(kDisconnected), reconnects (see RedisOptions) and calls
  // on_flush(kReconnect).
  void start(InvalidationHandler handler, FlushHandler on_flush = {}) override;
  // Prompt (does not wait for a network timeout) and idempotent; returns once
  // the listener thread has exited, so no handler runs afterwards (called
  // from a handler, the thread exits as soon as that handler returns).
  void stop() override;

  RedisStats stats() const;
  const RedisUrl& url() const noexcept;
  const RedisOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace pjx
