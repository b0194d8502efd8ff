// Tests of RedisInvalidationBackend against a real redis-server: fan-out,
// channel isolation, own messages, every URL form (TCP, Unix socket,
// password, db), connection failures at start and at publish, stop() while
// the network is blocked, reconnect after a server restart and after
// CLIENT KILL (with the flush), the health check's PING noticing a silent
// (SIGSTOPped) server, malformed payloads, throwing handlers, and
// interoperation with redis-py publishing and listening as upstream does.
//
// Tests that need to stop, kill or block a server start their own
// (testing::RedisServer); the others use testing::shared_redis_url() (the
// server of $PJX_TEST_REDIS_URL when set) on a channel of their own.
// Waits for deliveries end at the first success; the 20 s limits only turn
// a hang into a failure. Bounds on promptness carry generous slack and the
// measured figures are recorded as test properties.
#include "pjx/redis_backend.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdio.h>   // popen
#include <stdlib.h>  // setenv
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "inbox.hpp"
#include "pjx/errors.hpp"
#include "redis_server.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using testing::Inbox;
using testing::RawRedis;
using testing::RedisServer;
using testing::shared_redis_url;
using Steady = std::chrono::steady_clock;

constexpr auto kWait = 20s;  // only turns a hang into a failure

// A channel no other test (or test process) uses.
std::string unique_channel() {
  static std::atomic<int> counter{0};
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("pjx-test:") + info->name() + ":" + std::to_string(::getpid()) + ":" +
         std::to_string(counter.fetch_add(1));
}

// Collects warnings passed to RedisOptions::on_warning.
struct Warnings {
  std::mutex mu;
  std::vector<std::string> messages;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& m) {
      std::lock_guard lock(mu);
      messages.push_back(m);
    };
  }
  bool any_contains(const std::string& text) {
    std::lock_guard lock(mu);
    for (const auto& m : messages) {
      if (m.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

RedisOptions options_for(const std::string& channel) {
  RedisOptions options;
  options.channel = channel;
  options.reconnect_min = 10ms;
  options.reconnect_max = 200ms;
  return options;
}

template <typename F>
bool eventually(F condition) {
  const auto deadline = Steady::now() + kWait;
  while (Steady::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

double ms_since(Steady::time_point start) {
  return std::chrono::duration<double, std::milli>(Steady::now() - start).count();
}

std::string sub_name() { return "pjx-sub-" + std::to_string(::getpid()); }

TEST(RedisBackend, FansOutBetweenTwoBackendsAndDeliversOwnMessagesBack) {
  const std::string channel = unique_channel();
  RedisInvalidationBackend a(shared_redis_url(), options_for(channel));
  RedisInvalidationBackend b(shared_redis_url(), options_for(channel));
  Inbox inbox_a, inbox_b;
  a.start(inbox_a.handler());
  b.start(inbox_b.handler());
  a.publish({"user:1", "user:2"});
  b.publish({"ключ", "emoji:\xF0\x9F\x98\x80"});
  EXPECT_TRUE(inbox_b.wait_for({"user:1", "user:2"}));
  EXPECT_TRUE(inbox_a.wait_for({"ключ", "emoji:\xF0\x9F\x98\x80"}));
  // The payload carries no sender: each also receives its own (as upstream).
  EXPECT_TRUE(inbox_a.wait_for({"user:1", "user:2"}));
  EXPECT_TRUE(inbox_b.wait_for({"ключ", "emoji:\xF0\x9F\x98\x80"}));
  EXPECT_EQ(a.stats().published, 1u);
  EXPECT_TRUE(a.stats().connected);
  EXPECT_TRUE(a.stats().listening);
  a.stop();
  b.stop();
  EXPECT_EQ(a.stats().messages_received, 2u);
  EXPECT_EQ(a.stats().keys_delivered, 4u);
  EXPECT_FALSE(a.stats().listening);
  EXPECT_FALSE(a.stats().connected);
  EXPECT_EQ(a.stats().last_error, "");
}

TEST(RedisBackend, EmptyKeySetIsNotPublished) {
  RedisInvalidationBackend a(shared_redis_url(), options_for(unique_channel()));
  a.publish({});
  EXPECT_EQ(a.stats().published, 0u);
  EXPECT_THROW(a.publish({"bad\xFF"}), std::invalid_argument);
  EXPECT_EQ(a.stats().publish_failures, 0u);
}

TEST(RedisBackend, ChannelsAreIsolated) {
  const std::string one = unique_channel(), two = unique_channel();
  RedisInvalidationBackend on_one(shared_redis_url(), options_for(one));
  RedisInvalidationBackend on_two(shared_redis_url(), options_for(two));
  RedisInvalidationBackend publisher_one(shared_redis_url(), options_for(one));
  RedisInvalidationBackend publisher_two(shared_redis_url(), options_for(two));
  Inbox inbox_one, inbox_two;
  on_one.start(inbox_one.handler());
  on_two.start(inbox_two.handler());
  publisher_one.publish({"for-one"});
  ASSERT_TRUE(inbox_one.wait_for({"for-one"}));
  // A marker on channel two, published after: once it arrived, anything of
  // channel one that would wrongly reach two has arrived too (one server,
  // one connection per subscriber, in order).
  publisher_two.publish({"marker"});
  ASSERT_TRUE(inbox_two.wait_for({"marker"}));
  on_one.stop();
  on_two.stop();
  EXPECT_EQ(inbox_two.got(), std::vector<KeySet>{KeySet{"marker"}});
  EXPECT_EQ(inbox_one.got(), std::vector<KeySet>{KeySet{"for-one"}});
}

TEST(RedisBackend, StartTwiceIsANoOpStopIsIdempotentAndStartAgainWorks) {
  const std::string channel = unique_channel();
  RedisInvalidationBackend a(shared_redis_url(), options_for(channel));
  Inbox inbox;
  a.start(inbox.handler());
  a.start(inbox.handler());
  RawRedis raw(shared_redis_url());
  EXPECT_EQ(raw.command({"PUBSUB", "NUMSUB", channel}), "[" + channel + ", 1]");
  a.stop();
  a.stop();
  a.start(inbox.handler());
  a.publish({"again"});
  EXPECT_TRUE(inbox.wait_for({"again"}));
  a.stop();
  EXPECT_EQ(inbox.got().size(), 1u);  // subscribed once, not twice
}

TEST(RedisBackend, StopFromInsideTheHandlerEndsDelivery) {
  const std::string channel = unique_channel();
  RedisInvalidationBackend a(shared_redis_url(), options_for(channel));
  std::atomic<int> calls{0};
  a.start([&](const KeySet&) {
    ++calls;
    a.stop();
  });
  a.publish({"first"});
  ASSERT_TRUE(eventually([&] { return !a.stats().listening; }));
  a.stop();  // joins the thread
  EXPECT_EQ(calls.load(), 1);
}

TEST(RedisBackend, UnixSocketPasswordAndDbForms) {
  RedisServer::Options server_options;
  server_options.password = "s3cr:et@/x y";
  RedisServer server(server_options);
  const std::string channel = unique_channel();
  RedisInvalidationBackend listener(server.unix_url(3), options_for(channel));
  RedisInvalidationBackend publisher(server.url(5), options_for(channel));
  EXPECT_EQ(listener.url().kind, RedisUrl::Kind::kUnix);
  EXPECT_EQ(listener.url().password, "s3cr:et@/x y");
  Inbox inbox;
  listener.start(inbox.handler());
  publisher.publish({"over-unix"});
  EXPECT_TRUE(inbox.wait_for({"over-unix"}));
  // The subscriber authenticated, selected its db and named itself.
  RawRedis raw(server.url());
  const auto subs = raw.clients_named(sub_name());
  ASSERT_EQ(subs.size(), 1u);
  EXPECT_NE(subs[0].find(" db=3 "), std::string::npos) << subs[0];
  const auto pubs = raw.clients_named("pjx-pub-" + std::to_string(::getpid()));
  ASSERT_EQ(pubs.size(), 1u);
  EXPECT_NE(pubs[0].find(" db=5 "), std::string::npos) << pubs[0];
  listener.stop();

  // A wrong password and a missing one are refused with a message that
  // names the masked URL and the fix, and never shows the password.
  for (const std::string& url :
       {"redis://:wrong-s3cret@127.0.0.1:" + std::to_string(server.port()) + "/0",
        "unix://" + server.socket_path()}) {
    SCOPED_TRACE(url);
    RedisInvalidationBackend bad(url, options_for(channel));
    try {
      bad.start(inbox.handler());
      ADD_FAILURE() << "start() succeeded";
    } catch (const BackendError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(mask_redis_url(url)), std::string::npos) << message;
      EXPECT_NE(message.find("AUTH"), std::string::npos) << message;
      EXPECT_EQ(message.find("wrong-s3cret"), std::string::npos) << message;
      EXPECT_EQ(bad.stats().last_error, message);
    }
    EXPECT_THROW(bad.publish({"k"}), BackendError);
    EXPECT_EQ(bad.stats().publish_failures, 1u);
  }
  // A database beyond the server's 16.
  RedisInvalidationBackend no_db(server.url(99), options_for(channel));
  try {
    no_db.publish({"k"});
    ADD_FAILURE() << "publish() succeeded";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("SELECT 99"), std::string::npos) << e.what();
  }
}

TEST(RedisBackend, StartFailsClearlyOnADeadPortWithinConnectTimeout) {
  const int port = testing::free_loopback_port();
  const std::string url = "redis://:s3cret@127.0.0.1:" + std::to_string(port) + "/0";
  RedisOptions options = options_for(unique_channel());
  options.connect_timeout = 500ms;
  RedisInvalidationBackend a(url, options);
  const auto begin = Steady::now();
  try {
    a.start([](const KeySet&) {});
    ADD_FAILURE() << "start() succeeded on a dead port";
  } catch (const BackendError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("redis://:***@127.0.0.1:" + std::to_string(port)), std::string::npos)
        << message;
    EXPECT_NE(message.find("refused"), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
  }
  const double elapsed = ms_since(begin);
  ::testing::Test::RecordProperty("dead_port_start_ms", std::to_string(elapsed));
  EXPECT_LT(elapsed, 500 + 5000);  // connect_timeout + slack for a loaded machine
  EXPECT_FALSE(a.stats().listening);
}

TEST(RedisBackend, StartAndPublishGiveUpOnAServerThatDoesNotAnswer) {
  RedisServer server;
  RedisOptions options = options_for(unique_channel());
  options.connect_timeout = 300ms;
  options.command_timeout = 300ms;
  RedisInvalidationBackend a(server.url(), options);
  a.publish({"warm"});  // the publish connection is open
  server.pause();
  auto begin = Steady::now();
  EXPECT_THROW(a.start([](const KeySet&) {}), BackendError);
  const double start_ms = ms_since(begin);
  begin = Steady::now();
  try {
    a.publish({"k"});
    ADD_FAILURE() << "publish() succeeded on a paused server";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  const double publish_ms = ms_since(begin);
  server.resume();
  ::testing::Test::RecordProperty("paused_start_ms", std::to_string(start_ms));
  ::testing::Test::RecordProperty("paused_publish_ms", std::to_string(publish_ms));
  EXPECT_LT(start_ms, 300 + 300 * 3 + 5000);  // connect + handshake commands + slack
  EXPECT_LT(publish_ms, 300 + 5000);          // a timeout is not retried (R5)
  EXPECT_EQ(a.stats().publish_failures, 1u);
  a.publish({"after"});  // reconnects
  EXPECT_EQ(a.stats().publisher_reconnects, 1u);
}

// stop() is prompt whatever the listener is doing: sitting on a silent
// connection, or reconnecting to a port that accepts but never answers.
TEST(RedisBackend, StopIsPromptWhileTheNetworkIsBlocked) {
  RedisServer server;
  const std::string channel = unique_channel();
  RedisOptions options = options_for(channel);
  options.command_timeout = 60s;
  options.connect_timeout = 60s;
  {
    RedisInvalidationBackend a(server.url(), options);
    a.start([](const KeySet&) {});
    server.pause();
    const auto begin = Steady::now();
    a.stop();
    const double elapsed = ms_since(begin);
    ::testing::Test::RecordProperty("stop_with_paused_server_ms", std::to_string(elapsed));
    EXPECT_LT(elapsed, 2000);  // versus 60 s timeouts
    server.resume();
  }
  RedisInvalidationBackend a(server.url(), options);
  a.start([](const KeySet&) {});
  server.kill();
  // Something that accepts connections on the same port and never answers.
  const int hole = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(hole, 0);
  const int one = 1;
  ::setsockopt(hole, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(server.port()));
  ASSERT_EQ(::bind(hole, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(hole, 16), 0);
  ASSERT_TRUE(eventually([&] { return a.stats().connection_losses == 1; }));
  std::this_thread::sleep_for(200ms);  // let it reach the handshake's wait
  const auto begin = Steady::now();
  a.stop();
  const double elapsed = ms_since(begin);
  ::close(hole);
  ::testing::Test::RecordProperty("stop_while_reconnecting_ms", std::to_string(elapsed));
  EXPECT_LT(elapsed, 2000);
  EXPECT_EQ(a.stats().reconnects, 0u);
}

TEST(RedisBackend, ServerRestartReconnectsFlushesAndDeliveryResumes) {
  RedisServer server;
  const std::string channel = unique_channel();
  Warnings warnings;
  RedisOptions options = options_for(channel);
  options.on_warning = warnings.sink();
  RedisInvalidationBackend listener(server.url(), options);
  RedisInvalidationBackend publisher(server.url(), options_for(channel));
  Inbox inbox;
  listener.start(inbox.handler(), inbox.flush_handler());
  publisher.publish({"before"});
  ASSERT_TRUE(inbox.wait_for({"before"}));
  EXPECT_TRUE(inbox.flushes().empty());

  server.restart();
  ASSERT_TRUE(inbox.wait_for_flushes(2)) << listener.stats().last_error;
  EXPECT_EQ(inbox.flushes(),
            (std::vector<FlushReason>{FlushReason::kDisconnected, FlushReason::kReconnect}));
  // The second flush comes after the subscription is confirmed (R4): a publish now
  // is delivered. The publisher's stale connection is replaced and the
  // PUBLISH retried once (R5).
  publisher.publish({"after"});
  EXPECT_TRUE(inbox.wait_for({"after"}));
  const RedisStats s = listener.stats();
  EXPECT_EQ(s.connection_losses, 1u);
  EXPECT_EQ(s.reconnects, 1u);
  EXPECT_EQ(s.flushes, 2u);
  EXPECT_TRUE(s.connected);
  EXPECT_FALSE(s.last_error.empty());  // "lost ..." or a later "cannot resubscribe ..."
  EXPECT_EQ(publisher.stats().publisher_reconnects, 1u);
  EXPECT_EQ(publisher.stats().publish_failures, 0u);
  EXPECT_TRUE(warnings.any_contains("lost the subscription")) << "no warning";
}

TEST(RedisBackend, ReconnectKeepsTryingWithBackoffWhileTheServerIsDown) {
  RedisServer server;
  const std::string channel = unique_channel();
  Warnings warnings;
  RedisOptions options = options_for(channel);
  options.on_warning = warnings.sink();
  RedisInvalidationBackend listener(server.url(), options);
  Inbox inbox;
  listener.start(inbox.handler(), inbox.flush_handler());
  server.kill();
  ASSERT_TRUE(eventually(
      [&] { return listener.stats().last_error.find("cannot resubscribe") != std::string::npos; }));
  EXPECT_FALSE(listener.stats().connected);
  EXPECT_TRUE(listener.stats().listening);
  // Flushed once, at the loss (R4), however many attempts fail.
  EXPECT_EQ(inbox.flushes(), std::vector<FlushReason>{FlushReason::kDisconnected});
  server.start();
  ASSERT_TRUE(inbox.wait_for_flushes(2));
  EXPECT_EQ(inbox.flushes()[1], FlushReason::kReconnect);
  EXPECT_EQ(listener.stats().connection_losses, 1u);
  EXPECT_EQ(listener.stats().reconnects, 1u);
  RedisInvalidationBackend publisher(server.url(), options_for(channel));
  publisher.publish({"back"});
  EXPECT_TRUE(inbox.wait_for({"back"}));
  EXPECT_TRUE(warnings.any_contains("cannot resubscribe"));
}

TEST(RedisBackend, ClientKillOfTheSubscriberReconnectsFlushesAndDeliveryResumes) {
  const std::string channel = unique_channel();
  RedisInvalidationBackend listener(shared_redis_url(), options_for(channel));
  RedisInvalidationBackend publisher(shared_redis_url(), options_for(channel));
  Inbox inbox;
  listener.start(inbox.handler(), inbox.flush_handler());
  RawRedis raw(shared_redis_url());
  // Connections of earlier tests may take a moment to leave the list.
  ASSERT_TRUE(eventually([&] { return raw.clients_named(sub_name()).size() == 1; }));
  ASSERT_EQ(raw.kill_clients_named(sub_name()), 1);
  ASSERT_TRUE(inbox.wait_for_flushes(2)) << listener.stats().last_error;
  EXPECT_EQ(inbox.flushes(),
            (std::vector<FlushReason>{FlushReason::kDisconnected, FlushReason::kReconnect}));
  publisher.publish({"after-kill"});
  EXPECT_TRUE(inbox.wait_for({"after-kill"}));
  EXPECT_EQ(listener.stats().connection_losses, 1u);
  EXPECT_EQ(listener.stats().reconnects, 1u);
  // Named again after reconnecting.
  EXPECT_TRUE(eventually([&] { return raw.clients_named(sub_name()).size() == 1; }));
}

// Waits up to `limit` for `condition`; returns the milliseconds it took, or
// a negative number when it never held.
template <typename F>
double ms_until(F condition, std::chrono::milliseconds limit) {
  const auto begin = Steady::now();
  while (Steady::now() < begin + limit) {
    if (condition()) return ms_since(begin);
    std::this_thread::sleep_for(5ms);
  }
  return condition() ? ms_since(begin) : -1;
}

// R6: a server that stops answering (SIGSTOP: the connection stays open and
// silent, as in a partition without RST) is noticed by the unanswered PING,
// long before TCP keepalive would; once it answers again the listener
// resubscribes, flushes (kReconnect) and delivers.
TEST(RedisBackend, HealthCheckNoticesASilentServerAndTheListenerRecovers) {
  RedisServer server;
  const std::string channel = unique_channel();
  Warnings warnings;
  RedisOptions options = options_for(channel);
  options.on_warning = warnings.sink();
  options.health_check_interval = 200ms;
  options.health_check_timeout = 300ms;
  options.connect_timeout = 300ms;
  options.command_timeout = 300ms;
  RedisInvalidationBackend listener(server.url(), options);
  Inbox inbox;
  listener.start(inbox.handler(), inbox.flush_handler());
  // Answered health checks change nothing.
  ASSERT_TRUE(eventually([&] { return listener.stats().health_checks >= 3; }));
  EXPECT_EQ(listener.stats().health_check_failures, 0u);
  EXPECT_EQ(listener.stats().connection_losses, 0u);

  server.pause();
  const double detected_ms = ms_until([&] { return listener.stats().connection_losses >= 1; },
                                      10s);  // generous: 200 + 300 ms
  ::testing::Test::RecordProperty("silent_server_detected_ms", std::to_string(detected_ms));
  EXPECT_GE(detected_ms, 0) << "a silent server went unnoticed for 10 s";
  EXPECT_GE(listener.stats().health_check_failures, 1u);
  EXPECT_FALSE(listener.stats().connected);
  EXPECT_NE(listener.stats().last_error.find("no reply to PING"), std::string::npos)
      << listener.stats().last_error;
  EXPECT_TRUE(warnings.any_contains("lost the subscription"));
  // The cache was told at once, while the server is still silent (R4).
  EXPECT_EQ(inbox.flushes(), std::vector<FlushReason>{FlushReason::kDisconnected});
  server.resume();

  ASSERT_TRUE(inbox.wait_for_flushes(2)) << listener.stats().last_error;
  EXPECT_EQ(inbox.flushes()[1], FlushReason::kReconnect);
  EXPECT_GE(listener.stats().reconnects, 1u);
  RedisInvalidationBackend publisher(server.url(), options_for(channel));
  publisher.publish({"after-sigcont"});
  EXPECT_TRUE(inbox.wait_for({"after-sigcont"}));
  // Health checks go on after the reconnect, and are answered.
  const auto checks = listener.stats().health_checks;
  const auto failures = listener.stats().health_check_failures;
  ASSERT_TRUE(eventually([&] { return listener.stats().health_checks > checks + 2; }));
  EXPECT_EQ(listener.stats().health_check_failures, failures);
  EXPECT_TRUE(listener.stats().connected);
}

// R2 with R6: stop() does not wait for an outstanding PING's timeout.
TEST(RedisBackend, StopIsPromptWhileAPingIsUnanswered) {
  RedisServer server;
  RedisOptions options = options_for(unique_channel());
  options.health_check_interval = 50ms;
  options.health_check_timeout = 60s;
  RedisInvalidationBackend listener(server.url(), options);
  listener.start([](const KeySet&) {});
  ASSERT_TRUE(eventually([&] { return listener.stats().health_checks >= 1; }));
  server.pause();
  // Within 4 intervals a PING is outstanding: sent before the pause and not
  // answered, or sent after it.
  std::this_thread::sleep_for(200ms);
  const auto begin = Steady::now();
  listener.stop();
  const double elapsed = ms_since(begin);
  server.resume();
  ::testing::Test::RecordProperty("stop_with_unanswered_ping_ms", std::to_string(elapsed));
  EXPECT_LT(elapsed, 2000);  // versus the 60 s health_check_timeout
  EXPECT_EQ(listener.stats().health_check_failures, 0u);
}

// health_check_interval 0: no PING is ever sent, so a silent server goes
// unnoticed (as before the health check existed).
TEST(RedisBackend, HealthCheckIntervalZeroSendsNoPing) {
  RedisServer server;
  const std::string channel = unique_channel();
  RedisOptions options = options_for(channel);
  options.health_check_interval = 0ms;
  options.health_check_timeout = 100ms;
  RedisInvalidationBackend listener(server.url(), options);
  Inbox inbox;
  listener.start(inbox.handler(), inbox.flush_handler());
  RedisInvalidationBackend publisher(server.url(), options_for(channel));
  publisher.publish({"k"});
  ASSERT_TRUE(inbox.wait_for({"k"}));
  server.pause();
  std::this_thread::sleep_for(1s);
  server.resume();
  publisher.publish({"k2"});
  ASSERT_TRUE(inbox.wait_for({"k2"}));
  const RedisStats s = listener.stats();
  EXPECT_EQ(s.health_checks, 0u);
  EXPECT_EQ(s.health_check_failures, 0u);
  EXPECT_EQ(s.connection_losses, 0u);
  EXPECT_TRUE(inbox.flushes().empty());
}

// Messages that arrive while a PING waits for its PONG are delivered, in
// order with the rest, and the PONG is not taken for a message.
TEST(RedisBackend, MessagesArrivingDuringHealthChecksAreAllDelivered) {
  const std::string channel = unique_channel();
  RedisOptions options = options_for(channel);
  options.health_check_interval = 1ms;  // a PING is nearly always outstanding
  options.health_check_timeout = 5s;
  RedisInvalidationBackend listener(shared_redis_url(), options);
  Inbox inbox;
  listener.start(inbox.handler(), inbox.flush_handler());
  RedisInvalidationBackend publisher(shared_redis_url(), options_for(channel));
  ASSERT_TRUE(eventually([&] { return listener.stats().health_checks >= 5; }));
  constexpr int kCount = 300;
  for (int i = 0; i < kCount; ++i) publisher.publish({"key:" + std::to_string(i)});
  EXPECT_TRUE(inbox.wait_for({"key:" + std::to_string(kCount - 1)}));
  ASSERT_TRUE(eventually([&] { return listener.stats().keys_delivered == kCount; }));
  const RedisStats s = listener.stats();
  EXPECT_EQ(s.messages_received, static_cast<std::uint64_t>(kCount));
  EXPECT_EQ(s.malformed_messages, 0u);
  EXPECT_EQ(s.health_check_failures, 0u);
  EXPECT_EQ(s.connection_losses, 0u);
  EXPECT_TRUE(inbox.flushes().empty());
}

TEST(RedisBackend, PublishWhileTheServerIsDownThrowsAndIsCounted) {
  RedisServer server;
  const std::string channel = unique_channel();
  RedisInvalidationBackend publisher(server.url(), options_for(channel));
  publisher.publish({"up"});
  server.kill();
  for (int i = 0; i < 2; ++i) {  // a stale connection, then none at all
    try {
      publisher.publish({"k"});
      ADD_FAILURE() << "publish() succeeded while the server is down";
    } catch (const BackendError& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find(server.url()), std::string::npos) << message;
      EXPECT_NE(message.find(channel), std::string::npos) << message;
      EXPECT_NE(message.find("refused"), std::string::npos) << message;
    }
  }
  RedisStats s = publisher.stats();
  EXPECT_EQ(s.published, 1u);
  EXPECT_EQ(s.publish_failures, 2u);
  EXPECT_NE(s.last_error.find("publish of 1 key(s)"), std::string::npos) << s.last_error;
  server.start();
  publisher.publish({"up again"});
  s = publisher.stats();
  EXPECT_EQ(s.published, 2u);
  EXPECT_EQ(s.publisher_reconnects, 1u);
}

TEST(RedisBackend, MalformedPayloadsAreCountedAndSkipped) {
  const std::string channel = unique_channel();
  Warnings warnings;
  RedisOptions options = options_for(channel);
  options.on_warning = warnings.sink();
  RedisInvalidationBackend listener(shared_redis_url(), options);
  Inbox inbox;
  listener.start(inbox.handler());
  RawRedis raw(shared_redis_url());
  for (const std::string payload : {"not json", "{\"a\": 1}", "[1, 2]", "[\"ok\", null]", ""}) {
    EXPECT_EQ(raw.command({"PUBLISH", channel, payload}), "1");
  }
  EXPECT_EQ(raw.command({"PUBLISH", channel, "[\"fine\"]"}), "1");
  ASSERT_TRUE(inbox.wait_for({"fine"}));
  listener.stop();
  EXPECT_EQ(inbox.got(), std::vector<KeySet>{KeySet{"fine"}});
  const RedisStats s = listener.stats();
  EXPECT_EQ(s.malformed_messages, 5u);
  EXPECT_EQ(s.messages_received, 6u);
  EXPECT_EQ(s.keys_delivered, 1u);
  EXPECT_TRUE(warnings.any_contains("not valid JSON"));
}

TEST(RedisBackend, AThrowingHandlerIsCountedAndTheListenerContinues) {
  const std::string channel = unique_channel();
  Warnings warnings;
  RedisOptions options = options_for(channel);
  options.on_warning = warnings.sink();
  RedisInvalidationBackend listener(shared_redis_url(), options);
  Inbox inbox;
  auto record = inbox.handler();
  listener.start([&](const KeySet& keys) {
    if (keys.count("boom") != 0) throw std::runtime_error("handler failed on purpose");
    record(keys);
  });
  RedisInvalidationBackend publisher(shared_redis_url(), options_for(channel));
  publisher.publish({"boom"});
  publisher.publish({"next"});
  ASSERT_TRUE(inbox.wait_for({"next"}));
  EXPECT_EQ(listener.stats().handler_errors, 1u);
  EXPECT_TRUE(warnings.any_contains("handler failed on purpose"));
}

TEST(RedisBackend, AThrowingHandlerAsksForAFlushSinceItsKeysWereNotApplied) {
  const std::string channel = unique_channel();
  RedisOptions options = options_for(channel);
  options.on_warning = [](const std::string&) {};
  RedisInvalidationBackend listener(shared_redis_url(), options);
  std::mutex mu;
  std::vector<FlushReason> flushes;
  listener.start(
      [&](const KeySet& keys) {
        if (keys.count("boom") != 0) throw std::runtime_error("handler failed on purpose");
      },
      [&](FlushReason reason) {
        std::lock_guard lock(mu);
        flushes.push_back(reason);
      });
  RedisInvalidationBackend publisher(shared_redis_url(), options_for(channel));
  publisher.publish({"boom"});
  ASSERT_TRUE(eventually([&] { return listener.stats().flushes == 1; }));
  std::lock_guard lock(mu);
  EXPECT_EQ(flushes, std::vector<FlushReason>{FlushReason::kHandlerError});
}

TEST(RedisBackend, ABackendBuiltBeforeForkFailsInTheChildNamingTheFix) {
  const std::string channel = unique_channel();
  auto preloaded =
      std::make_unique<RedisInvalidationBackend>(shared_redis_url(), options_for(channel));
  preloaded->publish({"before-fork"});  // its connection is open now
  preloaded->start([](const KeySet&) {});
  testing::Child child([&](testing::LinePipe& pipe) {
    int failures = 0;
    for (const char* what : {"publish", "start"}) {
      try {
        if (std::string(what) == "publish") {
          preloaded->publish({"from-child"});
        } else {
          preloaded->start([](const KeySet&) {});
        }
        pipe.send(std::string(what) + ": no error");
        ++failures;
      } catch (const BackendError& e) {
        if (std::string(e.what()).find("post_fork") == std::string::npos) {
          pipe.send(std::string(what) + ": " + e.what());
          ++failures;
        }
      }
    }
    preloaded.reset();  // neither joins the parent's thread nor uses its sockets
    return failures;
  });
  EXPECT_EQ(child.wait(), 0);
  Inbox inbox;
  RedisInvalidationBackend listener(shared_redis_url(), options_for(channel));
  listener.start(inbox.handler());
  preloaded->publish({"parent-still-publishes"});
  EXPECT_TRUE(inbox.wait_for({"parent-still-publishes"}));
}

// ---- Interoperation with upstream: redis-py publishing json.dumps(sorted(keys))
// and listening with json.loads, as pyjinhx's Redis backend does.

// The Python that has redis-py: `python3` on PATH, or Debian's own when
// PATH leads to another installation (pyenv, a virtualenv) without it.
std::string python_with_redis() {
  for (const char* python : {"python3", "/usr/bin/python3"}) {
    const std::string probe = std::string(python) + " -c 'import redis' >/dev/null 2>&1";
    if (std::system(probe.c_str()) == 0) return python;
  }
  return "python3";  // fails with kRedisPyCheck's message
}

// Runs python with `script`; URL and channel go through the environment.
// Passes its output lines to `on_line` as they come (false stops).
int run_python(const std::string& script, const std::function<bool(const std::string&)>& on_line) {
  const std::string command = "timeout 60 " + python_with_redis() + " -c '" + script + "' 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char line[4096];
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    std::string text(line);
    if (!text.empty() && text.back() == '\n') text.pop_back();
    if (!on_line(text)) break;
  }
  return ::pclose(pipe);
}

constexpr const char* kRedisPyCheck =
    "try:\n"
    "    import redis\n"
    "except ImportError:\n"
    "    print(\"MISSING python3-redis: install the Debian package python3-redis "
    "(scripts/install-deps.sh does)\")\n"
    "    raise SystemExit(3)\n";

TEST(RedisInterop, UpstreamPublisherReachesOurListener) {
  const std::string channel = unique_channel();
  RedisInvalidationBackend listener(shared_redis_url(), options_for(channel));
  Inbox inbox;
  listener.start(inbox.handler());
  ::setenv("PJX_PY_URL", shared_redis_url().c_str(), 1);
  ::setenv("PJX_PY_CHANNEL", channel.c_str(), 1);
  const std::string script =
      std::string(kRedisPyCheck) +
      "import json, os\n"
      "r = redis.Redis.from_url(os.environ[\"PJX_PY_URL\"])\n"
      "keys = {\"b\", \"a\", \"\\u043a\\u043b\\u044e\\u0447\", \"\\U0001F600\", "
      "\"q\\\"uote\"}\n"
      "print(\"receivers\", r.publish(os.environ[\"PJX_PY_CHANNEL\"], "
      "json.dumps(sorted(keys))))\n";
  std::vector<std::string> output;
  const int rc = run_python(script, [&](const std::string& line) {
    output.push_back(line);
    return true;
  });
  ASSERT_EQ(rc, 0) << (output.empty() ? "" : output.front());
  ASSERT_FALSE(output.empty());
  EXPECT_EQ(output.back(), "receivers 1");
  EXPECT_TRUE(inbox.wait_for({"a", "b", "ключ", "\xF0\x9F\x98\x80", "q\"uote"}));
  EXPECT_EQ(listener.stats().malformed_messages, 0u);
}

TEST(RedisInterop, OurPublisherReachesAnUpstreamListener) {
  const std::string channel = unique_channel();
  ::setenv("PJX_PY_URL", shared_redis_url().c_str(), 1);
  ::setenv("PJX_PY_CHANNEL", channel.c_str(), 1);
  // Subscribes, says "ready", prints each key of the first message in hex.
  const std::string script = std::string(kRedisPyCheck) +
                             "import json, os, sys\n"
                             "r = redis.Redis.from_url(os.environ[\"PJX_PY_URL\"])\n"
                             "p = r.pubsub()\n"
                             "p.subscribe(os.environ[\"PJX_PY_CHANNEL\"])\n"
                             "while p.get_message(timeout=10)[\"type\"] != \"subscribe\": pass\n"
                             "print(\"ready\", flush=True)\n"
                             "while True:\n"
                             "    m = p.get_message(timeout=30)\n"
                             "    if m is None: print(\"timeout\"); break\n"
                             "    if m[\"type\"] != \"message\": continue\n"
                             "    for k in sorted(set(json.loads(m[\"data\"]))): "
                             "print(\"key\", k.encode().hex())\n"
                             "    print(\"end\", flush=True); break\n";
  RedisInvalidationBackend publisher(shared_redis_url(), options_for(channel));
  const KeySet keys = {"a", "b", "ключ", "\xF0\x9F\x98\x80", "q\"uote", "tab\t"};
  std::vector<std::string> output;
  const int rc = run_python(script, [&](const std::string& line) {
    output.push_back(line);
    if (line == "ready") publisher.publish(keys);
    return line != "end" && line != "timeout";
  });
  std::vector<std::string> expected = {"ready"};
  for (const auto& key : keys) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (char ch : key) {
      const auto c = static_cast<unsigned char>(ch);
      hex += kHex[c >> 4];
      hex += kHex[c & 0xF];
    }
    expected.push_back("key " + hex);
  }
  expected.push_back("end");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(output, expected);
}

}  // namespace
}  // namespace pjx
