// RedisInvalidationBackend: publisher and subscriber over Redis pub/sub.
//
// Invariants (numbered; tests name them):
//   R1. start() returns only after Redis confirmed SUBSCRIBE on the
//       listener's connection, so a message published after start()
//       returns is delivered (unless that connection is lost later, see R4).
//   R2. The listener thread never blocks in a read: it poll()s the socket
//       together with the stop eventfd, and every connect, handshake and
//       backoff wait also watches the eventfd. stop() therefore returns
//       within a scheduling delay, whatever state the network is in.
//   R3. Messages are decoded and handed to the handler one at a time, in the
//       order Redis sent them; a malformed payload (not a JSON array of
//       strings) is counted and skipped, a throwing handler is counted; both
//       leave the listener running.
//   R4. A lost subscriber connection (EOF, reset, protocol error, a failed
//       health check) is counted once in connection_losses, and the
//       FlushHandler is called at once with kDisconnected: from then on the
//       cache keeps nothing (see FlushReason), since nothing published
//       reaches this process. Reconnect attempts follow after reconnect_min,
//       doubling up to reconnect_max. Once SUBSCRIBE is confirmed again,
//       `reconnects` is counted and the FlushHandler is called with
//       kReconnect *before* any message of the new subscription is
//       delivered: whatever was published while disconnected is covered by
//       the flush, whatever is published after is delivered. So no read is
//       staler than the time it takes to notice the loss (R6).
//   R6. Health check (health_check_interval > 0): while subscribed, the
//       listener sends PING once the connection has been quiet of PINGs for
//       health_check_interval, and expects the reply (["pong", ""] in
//       subscribed mode, or +PONG) within health_check_timeout. Messages
//       that arrive meanwhile are delivered as usual. No reply in time is
//       counted in health_check_failures and handled as a lost connection
//       (R4): a silent server or partition is noticed within interval +
//       timeout, not after TCP keepalive's minute. Interval 0: no PING.
//   R7. Sentinel (redis+sentinel:// URL): every connection, the listener's
//       and the publisher's, goes to the primary that the sentinels name
//       and that confirms its role (redis_sentinel.hpp, S1-S3). A failover
//       therefore reaches the listener as a lost connection (the old primary
//       died, or Sentinel closed its clients when it demoted it, or the
//       health check failed, R6): it flushes (kDisconnected), asks the
//       sentinels again, resubscribes to the new primary and flushes with
//       kReconnect (R4); a resubscription on another server than the
//       previous one counts in primary_switches.
//       The publisher reconnects the same way (R5); a PUBLISH is sent on a
//       connection whose role was checked within the last second, so a
//       publish during a switch either reaches a primary or throws.
//   R5. publish() sends PUBLISH on one mutex-guarded connection. When a
//       connection that was already open fails with an I/O error (not a
//       timeout), it reconnects and sends once more: the first PUBLISH may
//       or may not have reached Redis, and a duplicate eviction is harmless.
//       Any other failure (cannot connect, timeout, refused) throws
//       BackendError at once; every failure is counted and recorded.
//
// Listener states (one thread per started backend):
//
//   [stopped] --start(): connect, handshake, SUBSCRIBE confirmed (R1)--> [subscribed]
//   [subscribed] --message--> deliver (R3) --> [subscribed]
//   [subscribed] --interval elapsed: PING--> [awaiting pong] --pong--> [subscribed] (R6)
//   [awaiting pong] --message--> deliver (R3) --> [awaiting pong]
//   [subscribed, awaiting pong] --connection lost, no pong in time--> flush (R4) --> [backoff]
//   [backoff] --wait elapsed--> [reconnecting] --ok--> flush (R4) --> [subscribed]
//   [reconnecting] --failed--> [backoff, doubled]
//   [any] --stop()--> [stopped] (R2)
//
// Locks: lifecycle_mu serialises start()/stop(); publish_mu guards the
// publish connection; error_mu guards last_error. The subscriber connection,
// the handlers and the backoff state belong to the listener thread while it
// runs (start() sets them up before the thread starts).
#include "pjx/redis_backend.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>

#include "fork_guard.hpp"
#include "keys_json.hpp"
#include "pjx/errors.hpp"
#include "redis_connection.hpp"
#include "redis_sentinel.hpp"
#include "warning_limiter.hpp"

namespace pjx {
namespace {

using detail::RedisConnection;
using detail::RedisInterrupted;
using detail::RedisIoError;
using detail::RedisRefused;
using detail::RedisReply;
using SteadyClock = std::chrono::steady_clock;

// R7: how often a publish on a sentinel-found primary first asks ROLE.
constexpr std::chrono::seconds kPublisherRoleCheck{1};

std::string ms_text(std::chrono::milliseconds ms) { return std::to_string(ms.count()) + " ms"; }

void validate(const RedisOptions& options) {
  if (options.channel.empty()) {
    throw ConfigError(
        "channel \"\" is empty; pass a name that separates this application from others on the "
        "same Redis (the default is \"pyjinhx:invalidate\")");
  }
  for (auto [name, value] : {std::pair{"connect_timeout", options.connect_timeout},
                             std::pair{"command_timeout", options.command_timeout},
                             std::pair{"reconnect_min", options.reconnect_min}}) {
    if (value.count() <= 0) {
      throw ConfigError(std::string(name) + " " + ms_text(value) +
                        " must be positive; pass at least 1 ms (see RedisOptions for defaults)");
    }
  }
  for (auto [name, value] : {std::pair{"health_check_interval", options.health_check_interval},
                             std::pair{"health_check_timeout", options.health_check_timeout}}) {
    if (value.count() < 0) {
      throw ConfigError(std::string(name) + " " + ms_text(value) +
                        " is negative; pass 0 or more (health_check_interval 0 disables the "
                        "health check; the defaults are 1000 ms each)");
    }
  }
  if (options.health_check_interval.count() > 0 && options.health_check_timeout.count() <= 0) {
    throw ConfigError("health_check_timeout " + ms_text(options.health_check_timeout) +
                      " must be positive while health_check_interval is " +
                      ms_text(options.health_check_interval) +
                      "; pass at least 1 ms (default 1000 ms), or set health_check_interval to "
                      "0 to disable the health check");
  }
  if (options.reconnect_max < options.reconnect_min) {
    throw ConfigError(
        "reconnect_max " + ms_text(options.reconnect_max) + " is shorter than reconnect_min " +
        ms_text(options.reconnect_min) +
        "; make reconnect_max at least reconnect_min (the defaults are 1000 and 20 ms)");
  }
}

bool is_string(const redisReply* reply, std::string_view text) {
  return reply != nullptr &&
         (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS) &&
         std::string_view(reply->str, reply->len) == text;
}

// The reply to PING: ["pong", ""] on a subscribed RESP2 connection, +PONG
// otherwise (R6).
bool is_pong(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_STATUS) return is_string(&reply, "PONG");
  return reply.type == REDIS_REPLY_ARRAY && reply.elements == 2 &&
         is_string(reply.element[0], "pong");
}

// Milliseconds from now until `deadline` for poll(), rounded up, at least 0.
int poll_timeout_ms(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  if (left.count() <= 0) return 0;
  return static_cast<int>(std::min<long long>(left.count() + 1, 1'000'000));
}

}  // namespace

struct RedisInvalidationBackend::Impl {
  Impl(std::string url_text, RedisOptions opts)
      : text(std::move(url_text)),
        url(RedisUrl::parse(text)),
        masked(mask_redis_url(text)),
        options(std::move(opts)),
        warnings(options.on_warning) {}

  const std::string text;
  const RedisUrl url;
  const std::string masked;  // the URL as given, password masked
  const RedisOptions options;
  detail::WarningLimiter warnings;
  const detail::ForkGuard fork_guard;  // built before fork(): unusable in the child
  std::string fork_what() const { return "RedisInvalidationBackend for " + masked; }

  std::atomic<std::uint64_t> published{0}, publish_failures{0}, messages_received{0},
      keys_delivered{0}, malformed_messages{0}, handler_errors{0}, flushes{0}, connection_losses{0},
      reconnects{0}, publisher_reconnects{0}, health_checks{0}, health_check_failures{0},
      primary_switches{0};
  std::atomic<bool> connected{false};

  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu
  std::string primary;     // guarded by error_mu: the listener's server ("host:port"), or ""

  detail::SentinelLocator locator{url};  // used for kSentinel only

  std::mutex publish_mu;
  std::unique_ptr<RedisConnection> publisher;  // guarded by publish_mu
  bool publisher_was_open = false;             // guarded by publish_mu
  SteadyClock::time_point publisher_verified{};  // guarded by publish_mu: last ROLE check (R7)

  std::mutex lifecycle_mu;
  std::thread thread;  // guarded by lifecycle_mu
  std::atomic<std::thread::id> listener_id{};
  std::atomic<bool> running{false};  // false asks the listener thread to exit
  int stop_fd = -1;                  // eventfd written by stop()

  // Owned by the listener thread while it runs; set up by start().
  std::unique_ptr<RedisConnection> subscriber;
  InvalidationHandler handler;
  FlushHandler on_flush;

  void record_error(const std::string& message) {
    std::lock_guard lock(error_mu);
    last_error = message;
  }

  std::string where() const { return "channel \"" + options.channel + "\" at " + masked; }

  // Connects, authenticates, names the connection, and returns it. With a
  // redis+sentinel:// URL, to the primary the sentinels name, once it
  // confirmed its role (R7).
  std::unique_ptr<RedisConnection> connect(const char* role, int wake_fd) {
    const std::string name = std::string("pjx-") + role + "-" + std::to_string(::getpid());
    if (url.kind == RedisUrl::Kind::kSentinel) {
      return locator.connect_primary(name, options.connect_timeout, options.command_timeout,
                                     wake_fd);
    }
    auto connection = std::make_unique<RedisConnection>(
        url, SteadyClock::now() + options.connect_timeout, wake_fd);
    connection->handshake(url, name, options.command_timeout, wake_fd);
    return connection;
  }

  // Records the server a new subscription is on; a different one than the
  // previous subscription's counts as a primary switch (R7).
  void note_primary(const std::string& peer) {
    std::lock_guard lock(error_mu);
    if (!primary.empty() && primary != peer) {
      primary_switches.fetch_add(1, std::memory_order_relaxed);
    }
    primary = peer;
  }

  // connect() plus SUBSCRIBE, returning once Redis confirmed it (R1).
  std::unique_ptr<RedisConnection> subscribe(int wake_fd) {
    auto connection = connect("sub", wake_fd);
    RedisReply reply = connection->command({"SUBSCRIBE", options.channel},
                                           SteadyClock::now() + options.command_timeout, wake_fd);
    if (reply->type == REDIS_REPLY_ERROR) {
      throw RedisRefused("Redis refused SUBSCRIBE: " + std::string(reply->str, reply->len));
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        !is_string(reply->element[0], "subscribe") ||
        !is_string(reply->element[1], options.channel)) {
      throw RedisIoError("unexpected reply to SUBSCRIBE: " + detail::describe(*reply), false);
    }
    note_primary(connection->peer());
    return connection;
  }

  void publish(const KeySet& keys);
  void publish_once(const std::string& payload);
  void listen_loop();
  void serve_subscription();  // until the connection is lost (throws) or stop
  bool wait_backoff(std::chrono::milliseconds delay) const;  // false: stop requested
  void deliver(const redisReply& reply);
  void notify_flush(FlushReason reason);
};

RedisInvalidationBackend::RedisInvalidationBackend(std::string url, RedisOptions options)
    : impl_(std::make_unique<Impl>(std::move(url), std::move(options))) {
  validate(impl_->options);
  impl_->stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->stop_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

RedisInvalidationBackend::~RedisInvalidationBackend() {
  if (impl_->fork_guard.forked()) {
    // In a child of the process that built it: its connections and thread
    // are the parent's. Leak everything rather than touch them.
    static_cast<void>(impl_.release());
    return;
  }
  stop();
  ::close(impl_->stop_fd);
}

void RedisInvalidationBackend::publish(const KeySet& keys) { impl_->publish(keys); }

void RedisInvalidationBackend::Impl::publish_once(const std::string& payload) {
  if (!publisher) {
    publisher = connect("pub", -1);
    publisher_verified = SteadyClock::now();
    if (publisher_was_open) publisher_reconnects.fetch_add(1, std::memory_order_relaxed);
    publisher_was_open = true;
  } else if (url.kind == RedisUrl::Kind::kSentinel &&
             SteadyClock::now() - publisher_verified >= kPublisherRoleCheck) {
    // R7: still the primary? (Sentinel closes the clients of a primary it
    // demotes, but another demotion would leave this connection open.)
    detail::verify_primary(*publisher, SteadyClock::now() + options.command_timeout, -1);
    publisher_verified = SteadyClock::now();
  }
  RedisReply reply = publisher->command({"PUBLISH", options.channel, payload},
                                        SteadyClock::now() + options.command_timeout, -1);
  if (reply->type == REDIS_REPLY_ERROR) {
    throw RedisRefused("Redis refused PUBLISH: " + std::string(reply->str, reply->len));
  }
  if (reply->type != REDIS_REPLY_INTEGER) {
    throw RedisIoError("unexpected reply to PUBLISH: " + detail::describe(*reply), false);
  }
  published.fetch_add(1, std::memory_order_relaxed);
}

void RedisInvalidationBackend::Impl::publish(const KeySet& keys) {
  fork_guard.check(fork_what());
  if (keys.empty()) return;
  const std::string payload = detail::encode_keys(keys);  // may throw invalid_argument
  const auto failure = [&](const std::exception& e) {
    publish_failures.fetch_add(1, std::memory_order_relaxed);
    const std::string message = "publish of " + std::to_string(keys.size()) + " key(s) to " +
                                where() + " failed: " + e.what();
    record_error(message);
    return BackendError(message, 0);
  };
  std::lock_guard lock(publish_mu);
  const bool was_open = publisher != nullptr;
  try {
    try {
      publish_once(payload);
    } catch (const RedisIoError& e) {
      publisher.reset();  // its state is unknown (a late reply would be misread)
      if (!was_open || e.timed_out()) throw;
      publish_once(payload);  // R5: a stale connection; once more on a new one
    }
  } catch (const RedisIoError& e) {
    publisher.reset();
    throw failure(e);
  } catch (const RedisRefused& e) {
    throw failure(e);  // the connection stays usable
  }
}

void RedisInvalidationBackend::start(InvalidationHandler handler, FlushHandler on_flush) {
  auto& d = *impl_;
  d.fork_guard.check(d.fork_what());
  std::lock_guard life(d.lifecycle_mu);
  if (d.running.load()) return;              // second start is a no-op
  if (d.thread.joinable()) d.thread.join();  // a previous stop() from inside a handler
  std::uint64_t drained = 0;
  while (::read(d.stop_fd, &drained, sizeof drained) > 0) {
  }
  try {
    d.subscriber = d.subscribe(-1);
  } catch (const RedisIoError& e) {
    const std::string message = "cannot subscribe to " + d.where() + ": " + e.what() +
                                (e.timed_out() || d.url.kind == RedisUrl::Kind::kSentinel
                                     ? ""
                                     : "; is redis-server running there?");
    d.record_error(message);
    throw BackendError(message, 0);
  } catch (const RedisRefused& e) {
    const std::string message = "cannot subscribe to " + d.where() + ": " + e.what();
    d.record_error(message);
    throw BackendError(message, 0);
  }
  d.handler = std::move(handler);
  d.on_flush = std::move(on_flush);
  d.connected.store(true);
  d.running.store(true);
  d.thread = std::thread([&d] { d.listen_loop(); });
}

void RedisInvalidationBackend::stop() {
  auto& d = *impl_;
  if (d.fork_guard.forked()) return;  // the listener is the parent's: nothing to stop here
  const auto request_exit = [&d] {
    d.running.store(false);
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(d.stop_fd, &one, sizeof one);
  };
  if (d.listener_id.load() == std::this_thread::get_id()) {
    request_exit();  // from a handler: the thread exits when it returns; joined later
    return;
  }
  std::lock_guard life(d.lifecycle_mu);
  request_exit();
  if (d.thread.joinable()) d.thread.join();
}

bool RedisInvalidationBackend::Impl::wait_backoff(std::chrono::milliseconds delay) const {
  const auto deadline = SteadyClock::now() + delay;
  while (running.load()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) return true;
    pollfd fd{stop_fd, POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(left.count()));
    if ((fd.revents & POLLIN) != 0) return false;
  }
  return false;
}

void RedisInvalidationBackend::Impl::notify_flush(FlushReason reason) {
  flushes.fetch_add(1, std::memory_order_relaxed);
  if (!on_flush) return;
  try {
    on_flush(reason);
  } catch (const std::exception& e) {
    handler_errors.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("handler", std::string("flush handler threw: ") + e.what());
  } catch (...) {
    handler_errors.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("handler", "flush handler threw a non-exception");
  }
}

void RedisInvalidationBackend::Impl::deliver(const redisReply& reply) {
  // Pub/sub pushes are ["message", channel, payload]; confirmations and
  // other pushes need nothing.
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 3 ||
      !is_string(reply.element[0], "message") || !is_string(reply.element[1], options.channel)) {
    return;
  }
  const redisReply* data = reply.element[2];
  messages_received.fetch_add(1, std::memory_order_relaxed);
  std::string why = "not a string";
  std::optional<KeySet> keys;
  if (data->type == REDIS_REPLY_STRING) {
    keys = detail::decode_keys(std::string_view(data->str, data->len), &why);
  }
  if (!keys) {  // R3
    malformed_messages.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("malformed", "skipped a message on " + where() + ": its payload is " + why +
                                   "; its publisher does not follow the wire format (a JSON "
                                   "array of key strings)");
    return;
  }
  keys_delivered.fetch_add(keys->size(), std::memory_order_relaxed);
  if (!handler) return;
  try {
    handler(*keys);
  } catch (const std::exception& e) {
    handler_errors.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("handler", std::string("invalidation handler threw: ") + e.what() +
                                 "; flushing the cache, since its keys may not have been evicted");
    notify_flush(FlushReason::kHandlerError);
  } catch (...) {
    handler_errors.fetch_add(1, std::memory_order_relaxed);
    warnings.warn(
        "handler",
        "invalidation handler threw a non-exception; flushing the cache, since its keys may "
        "not have been evicted");
    notify_flush(FlushReason::kHandlerError);
  }
}

void RedisInvalidationBackend::Impl::listen_loop() {
  listener_id.store(std::this_thread::get_id());
  auto backoff = options.reconnect_min;
  while (running.load()) {
    if (!subscriber) {  // R4
      if (!wait_backoff(backoff)) break;
      try {
        subscriber = subscribe(stop_fd);
      } catch (const RedisInterrupted&) {
        break;
      } catch (const std::exception& e) {
        const std::string message = "cannot resubscribe to " + where() + ": " + e.what() +
                                    "; retrying in " +
                                    ms_text(std::min(backoff * 2, options.reconnect_max));
        record_error(message);
        warnings.warn("reconnect", message);
        backoff = std::min(backoff * 2, options.reconnect_max);
        continue;
      }
      backoff = options.reconnect_min;
      reconnects.fetch_add(1, std::memory_order_relaxed);
      connected.store(true);
      warnings.warn("resubscribed", "resubscribed to " + where() +
                                        "; flushing the cache, since messages published while "
                                        "disconnected were lost");
      notify_flush(FlushReason::kReconnect);
      continue;
    }
    try {
      serve_subscription();
      break;  // returns only once stop() was asked
    } catch (const RedisInterrupted&) {
      break;
    } catch (const RedisIoError& e) {
      subscriber.reset();
      connected.store(false);
      connection_losses.fetch_add(1, std::memory_order_relaxed);
      const std::string message = "lost the subscription to " + where() + " (" + e.what() +
                                  "); flushing the cache, caching nothing until resubscribed, "
                                  "and reconnecting";
      record_error(message);
      warnings.warn("lost", message);
      notify_flush(FlushReason::kDisconnected);  // R4
    }
  }
  subscriber.reset();
  connected.store(false);
  listener_id.store(std::thread::id{});
}

void RedisInvalidationBackend::Impl::serve_subscription() {
  const bool checking = options.health_check_interval.count() > 0;
  auto next_ping = SteadyClock::now() + options.health_check_interval;
  bool awaiting_pong = false;  // a PING is unanswered
  SteadyClock::time_point pong_deadline{};
  while (running.load()) {
    while (running.load()) {
      RedisReply reply = subscriber->buffered();
      if (!reply) break;
      if (awaiting_pong && is_pong(*reply)) {  // R6
        awaiting_pong = false;
        next_ping = SteadyClock::now() + options.health_check_interval;
        continue;
      }
      deliver(*reply);
    }
    if (!running.load()) return;
    int timeout = -1;
    if (checking) {
      if (awaiting_pong && SteadyClock::now() >= pong_deadline) {
        health_check_failures.fetch_add(1, std::memory_order_relaxed);
        throw RedisIoError(
            "no reply to PING within health_check_timeout " + ms_text(options.health_check_timeout),
            true);
      }
      if (!awaiting_pong && SteadyClock::now() >= next_ping) {
        awaiting_pong = true;
        pong_deadline = SteadyClock::now() + options.health_check_timeout;
        subscriber->send({"PING"}, pong_deadline, stop_fd);
        health_checks.fetch_add(1, std::memory_order_relaxed);
      }
      timeout = poll_timeout_ms(awaiting_pong ? pong_deadline : next_ping);
    }
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {subscriber->fd(), POLLIN, 0}};
    if (::poll(fds, 2, timeout) < 0 && errno != EINTR) {
      throw RedisIoError(std::string("poll failed: ") + std::strerror(errno), false);
    }
    if ((fds[0].revents & POLLIN) != 0) return;
    if (fds[1].revents != 0) subscriber->read_available();
  }
}

RedisStats RedisInvalidationBackend::stats() const {
  const auto& d = *impl_;
  RedisStats s;
  s.published = d.published.load();
  s.publish_failures = d.publish_failures.load();
  s.messages_received = d.messages_received.load();
  s.keys_delivered = d.keys_delivered.load();
  s.malformed_messages = d.malformed_messages.load();
  s.handler_errors = d.handler_errors.load();
  s.flushes = d.flushes.load();
  s.connection_losses = d.connection_losses.load();
  s.reconnects = d.reconnects.load();
  s.publisher_reconnects = d.publisher_reconnects.load();
  s.health_checks = d.health_checks.load();
  s.health_check_failures = d.health_check_failures.load();
  s.primary_switches = d.primary_switches.load();
  s.listening = d.running.load();
  s.connected = s.listening && d.connected.load();
  if (d.fork_guard.forked()) {  // error_mu may have been held by a thread of the parent
    s.listening = s.connected = false;
    s.last_error = "used after fork(): build the backend in each worker after the fork";
    return s;
  }
  std::lock_guard lock(d.error_mu);
  s.last_error = d.last_error;
  s.primary = d.primary;
  return s;
}

const RedisUrl& RedisInvalidationBackend::url() const noexcept { return impl_->url; }
const RedisOptions& RedisInvalidationBackend::options() const noexcept { return impl_->options; }

}  // namespace pjx
