// Tests of RedisInvalidationBackend with a redis+sentinel:// URL against real
// processes on loopback: a primary and a replica redis-server and three
// redis-sentinel (testing::RedisSentinel), with a small
// down-after-milliseconds so that a failover takes a few seconds. The
// primary is killed; the listener must follow the sentinels to the promoted
// replica, flush, and deliver afterwards, and every publish made meanwhile
// must either throw or be covered (delivered, or started before the flush).
// Also: a sentinel that names a replica is passed over (S2), and start()
// fails clearly when no sentinel leads to a primary (S3).
//
// Waits end at the first success; their limits (60 s for the failover)
// only turn a hang into a failure. The measured failover figures are test
// properties (and a "failover:" line on stdout).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"
#include "redis_server.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using testing::RedisSentinel;
using testing::RedisServer;
using Steady = std::chrono::steady_clock;

constexpr auto kFailoverWait = 60s;  // only turns a hang into a failure
const std::string kMaster = "pjx-primary";

std::string unique_channel() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return std::string("pjx-sentinel-test:") + info->name() + ":" + std::to_string(::getpid());
}

RedisOptions options_for(const std::string& channel) {
  RedisOptions options;
  options.channel = channel;
  options.reconnect_min = 10ms;
  options.reconnect_max = 100ms;
  options.on_warning = [](const std::string&) {};
  return options;
}

template <typename F>
bool eventually(F condition, std::chrono::milliseconds limit) {
  const auto deadline = Steady::now() + limit;
  while (Steady::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return condition();
}

double ms_between(Steady::time_point from, Steady::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

std::string address(const RedisServer& server) {
  return "127.0.0.1:" + std::to_string(server.port());
}

// Handler calls with the time they arrived.
class Recorder {
 public:
  struct Event {
    Steady::time_point at;
    bool flush = false;
    FlushReason reason{};
    KeySet keys;
  };
  InvalidationHandler handler() {
    return [this](const KeySet& keys) {
      std::lock_guard lock(mu_);
      events_.push_back({Steady::now(), false, {}, keys});
    };
  }
  FlushHandler flush_handler() {
    return [this](FlushReason reason) {
      std::lock_guard lock(mu_);
      events_.push_back({Steady::now(), true, reason, {}});
    };
  }
  std::vector<Event> events() {
    std::lock_guard lock(mu_);
    return events_;
  }
  bool got(const std::string& key) {
    std::lock_guard lock(mu_);
    return std::any_of(events_.begin(), events_.end(),
                       [&](const Event& e) { return e.keys.count(key) != 0; });
  }

 private:
  std::mutex mu_;
  std::vector<Event> events_;
};

// A primary, its replica, and `sentinel_count` sentinels monitoring it
// (quorum 2), once the sentinels know the replica and each other.
struct SentinelSetup {
  explicit SentinelSetup(int sentinel_count = 3) {
    RedisServer::Options replica_options;
    replica_options.replica_of = primary.port();
    replica = std::make_unique<RedisServer>(replica_options);
    const bool replicating = eventually(
        [&] {
          return replica->client()
                     .checked({"INFO", "replication"})
                     .text.find("master_link_status:up") != std::string::npos;
        },
        20s);
    if (!replicating) throw testing::RedisError("the replica did not connect to the primary");
    for (int i = 0; i < sentinel_count; ++i) {
      RedisSentinel::Options options;
      options.master_name = kMaster;
      options.primary_port = primary.port();
      options.quorum = 2;
      options.down_after = 500ms;
      options.failover_timeout = 2000ms;
      sentinels.push_back(std::make_unique<RedisSentinel>(options));
    }
    for (auto& s : sentinels) {
      if (!s->wait_until_knows(1, sentinel_count - 1)) {
        throw testing::RedisError("sentinel " + s->address() +
                                  " did not discover the replica and the other sentinels; its "
                                  "log:\n" +
                                  s->log());
      }
    }
  }
  std::string url() const {
    std::vector<const RedisSentinel*> all;
    for (const auto& s : sentinels) all.push_back(s.get());
    return testing::sentinel_url(all, kMaster);
  }

  RedisServer primary;
  std::unique_ptr<RedisServer> replica;
  std::vector<std::unique_ptr<RedisSentinel>> sentinels;
};

// R7, S1-S2: the primary is killed; the sentinels promote the replica. The
// listener follows them there, flushes, and delivers afterwards; the
// publisher follows too. Every publish made during the switch either threw
// BackendError or is covered: delivered, or followed by a flush.
TEST(RedisSentinel, ListenerAndPublisherFollowAFailoverFlushAndDeliverAfterwards) {
  SentinelSetup setup;
  const std::string channel = unique_channel();
  RedisInvalidationBackend listener(setup.url(), options_for(channel));
  RedisInvalidationBackend publisher(setup.url(), options_for(channel));
  Recorder recorder;
  listener.start(recorder.handler(), recorder.flush_handler());
  EXPECT_EQ(listener.stats().primary, address(setup.primary));
  publisher.publish({"before"});
  ASSERT_TRUE(eventually([&] { return recorder.got("before"); }, 20s));

  // Publishes all along the switch, each recorded as it ended.
  struct Publish {
    std::string key;
    bool ok = false;
    Steady::time_point start, done;
  };
  std::mutex publishes_mu;
  std::vector<Publish> publishes;
  std::atomic<bool> publishing{true};
  std::thread writer([&] {
    for (int i = 0; publishing.load(); ++i) {
      Publish p{"during:" + std::to_string(i), false, Steady::now(), {}};
      try {
        publisher.publish({p.key});
        p.ok = true;
      } catch (const BackendError&) {
      }
      p.done = Steady::now();
      {
        std::lock_guard lock(publishes_mu);
        publishes.push_back(p);
      }
      std::this_thread::sleep_for(20ms);
    }
  });

  const auto killed = Steady::now();
  setup.primary.kill();
  const bool switched =
      eventually([&] { return listener.stats().primary_switches >= 1; },
                 std::chrono::duration_cast<std::chrono::milliseconds>(kFailoverWait));
  // Once the listener is on the new primary, one more successful publish
  // must be delivered there.
  bool after_ok = false;
  std::string after_key;
  if (switched) {
    after_ok = eventually(
        [&] {
          std::lock_guard lock(publishes_mu);
          for (const auto& p : publishes) {
            if (p.ok && p.done > killed && recorder.got(p.key)) return true;
          }
          return false;
        },
        20s);
  }
  publishing.store(false);
  writer.join();
  listener.stop();
  ASSERT_TRUE(switched) << "the listener did not follow the failover: "
                        << listener.stats().last_error;
  ASSERT_TRUE(after_ok) << "no publish was delivered after the switch";

  const RedisStats s = listener.stats();
  EXPECT_EQ(s.primary, address(*setup.replica));
  EXPECT_EQ(s.primary_switches, 1u);
  EXPECT_GE(s.reconnects, 1u);

  // After the kill: kDisconnected when the loss is noticed (R4), then
  // kReconnect once subscribed on the new primary: the switch's flush.
  const auto events = recorder.events();
  std::vector<Steady::time_point> flushes;
  std::vector<FlushReason> reasons;
  for (const auto& e : events) {
    if (!e.flush || e.at < killed) continue;
    flushes.push_back(e.at);
    reasons.push_back(e.reason);
  }
  ASSERT_FALSE(flushes.empty()) << "no flush after the primary was killed";
  EXPECT_EQ(reasons.front(), FlushReason::kDisconnected);
  EXPECT_EQ(reasons.back(), FlushReason::kReconnect);
  const auto switch_flush = flushes.back();
  // Promptness bound against a large limit: the failover itself takes the
  // sentinels' 500 ms down-after plus an election, a few seconds.
  EXPECT_LT(ms_between(killed, switch_flush), 45'000.0);

  // None silently dropped: a publish that succeeded was delivered, or the
  // flush came after it started. (Redis ran it somewhere between its start
  // and its return; one it ran before the listener's SUBSCRIBE is covered by
  // the flush that follows the subscription, even when its reply reached
  // the publisher after that flush.)
  int errors = 0, succeeded = 0, delivered = 0;
  Steady::time_point first_delivery_after_flush{}, last_error{}, first_ok{};
  for (const auto& p : publishes) {
    if (!p.ok) {
      ++errors;
      last_error = p.done;
      continue;
    }
    ++succeeded;
    if (p.done > killed && first_ok == Steady::time_point{}) first_ok = p.done;
    const bool got = recorder.got(p.key);
    if (got) ++delivered;
    EXPECT_TRUE(got || switch_flush > p.start)
        << p.key << " was acknowledged but neither delivered nor covered by a flush";
  }
  for (const auto& e : events) {
    if (!e.flush && e.at > switch_flush) {
      first_delivery_after_flush = e.at;
      break;
    }
  }
  const double to_flush = ms_between(killed, switch_flush);
  const double to_loss_flush = ms_between(killed, flushes.front());
  ::testing::Test::RecordProperty("kill_to_loss_flush_ms", std::to_string(to_loss_flush));
  const double to_delivery = ms_between(killed, first_delivery_after_flush);
  ::testing::Test::RecordProperty("kill_to_flush_ms", std::to_string(to_flush));
  ::testing::Test::RecordProperty("kill_to_first_delivery_ms", std::to_string(to_delivery));
  ::testing::Test::RecordProperty("publish_errors", std::to_string(errors));
  const double to_publish_ok = ms_between(killed, first_ok);
  const double to_last_error = errors > 0 ? ms_between(killed, last_error) : 0.0;
  ::testing::Test::RecordProperty("kill_to_first_publish_ok_ms", std::to_string(to_publish_ok));
  std::printf(
      "failover: kill_to_loss_flush_ms=%.1f kill_to_flush_ms=%.0f kill_to_first_delivery_ms=%.0f "
      "kill_to_first_publish_ok_ms=%.0f kill_to_last_publish_error_ms=%.0f publishes=%zu "
      "succeeded=%d delivered=%d errors=%d flushes=%zu\n",
      to_loss_flush, to_flush, to_delivery, to_publish_ok, to_last_error, publishes.size(),
      succeeded, delivered, errors, flushes.size());
  EXPECT_GT(publisher.stats().publisher_reconnects, 0u);
}

// S2: a sentinel whose view is stale (here: one that monitors the replica
// under the master's name) is passed over for the next sentinel, and with
// no other sentinel, start() says what the server reported.
TEST(RedisSentinel, AServerThatIsNotThePrimaryIsPassedOver) {
  SentinelSetup setup(1);
  RedisSentinel::Options stale_options;
  stale_options.master_name = kMaster;
  stale_options.primary_port = setup.replica->port();
  stale_options.quorum = 1;
  stale_options.down_after = 60s;  // no failover of its own during the test
  RedisSentinel stale(stale_options);
  ASSERT_EQ(stale.primary_address(), address(*setup.replica));

  const std::string channel = unique_channel();
  RedisInvalidationBackend both(testing::sentinel_url({&stale, setup.sentinels[0].get()}, kMaster),
                                options_for(channel));
  both.start([](const KeySet&) {});
  EXPECT_EQ(both.stats().primary, address(setup.primary));
  both.publish({"k"});
  both.stop();

  RedisInvalidationBackend only_stale(testing::sentinel_url({&stale}, kMaster),
                                      options_for(channel));
  try {
    only_stale.start([](const KeySet&) {});
    FAIL() << "start() trusted a replica";
  } catch (const BackendError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("reports role \"slave\""), std::string::npos) << message;
    EXPECT_NE(message.find(stale.address()), std::string::npos) << message;
    EXPECT_NE(message.find("master \"" + kMaster + "\""), std::string::npos) << message;
  }
  EXPECT_THROW(only_stale.publish({"k"}), BackendError);
  EXPECT_EQ(only_stale.stats().published, 0u);
}

// S3: no sentinel reachable, or none that knows the name: start() and
// publish() throw BackendError naming the master, each sentinel and why.
TEST(RedisSentinel, StartFailsClearlyWhenNoSentinelLeadsToAPrimary) {
  const int dead1 = testing::free_loopback_port(), dead2 = testing::free_loopback_port();
  const std::string url = "redis+sentinel://127.0.0.1:" + std::to_string(dead1) +
                          ",127.0.0.1:" + std::to_string(dead2) + "/" + kMaster;
  RedisInvalidationBackend backend(url, options_for(unique_channel()));
  try {
    backend.start([](const KeySet&) {});
    FAIL() << "start() succeeded without a sentinel";
  } catch (const BackendError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("no sentinel led to a usable primary of master \"" + kMaster + "\""),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("sentinel 127.0.0.1:" + std::to_string(dead1) + ": cannot connect"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("sentinel 127.0.0.1:" + std::to_string(dead2) + ": cannot connect"),
              std::string::npos)
        << message;
  }
  EXPECT_THROW(backend.publish({"k"}), BackendError);

  SentinelSetup setup(1);
  RedisInvalidationBackend unknown(testing::sentinel_url({setup.sentinels[0].get()}, "no-such"),
                                   options_for(unique_channel()));
  try {
    unknown.start([](const KeySet&) {});
    FAIL() << "start() succeeded with an unknown master name";
  } catch (const BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("does not monitor a master named \"no-such\""),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace pjx
