// Needs redis-server (Debian package redis-server): without it these tests
// fail with find_redis_server()'s message, never skip.
#include "redis_launcher.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "pjx/redis_backend.hpp"
#include "redis_endpoint.hpp"
#include "temp_dir.hpp"

namespace pjx::testing {
namespace {

namespace fs = std::filesystem;

class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }

  RedisServerOptions options(const std::string& pubsub_limit = "") const {
    RedisServerOptions o;
    o.dir = dir_;
    if (!pubsub_limit.empty()) o.pubsub_limit = pubsub_limit;
    return o;
  }

  TempDir tmp_;
  const fs::path dir_ = tmp_.path();
};

TEST_F(RedisServerTest, StartsOnLoopbackWithPersistenceOffAndAnswersCommands) {
  RedisServer server(options());
  ASSERT_TRUE(server.running());
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.url(), "redis://127.0.0.1:" + std::to_string(server.port()) + "/0");
  EXPECT_EQ(server.unix_url(2), "unix://" + server.socket_path() + "?db=2");
  EXPECT_FALSE(server.version().empty());
  const RedisReply save = server.client().checked({"CONFIG", "GET", "save"});
  ASSERT_EQ(save.elements.size(), 2u);
  EXPECT_EQ(save.elements[1].text, "");
  const RedisReply aof = server.client().checked({"CONFIG", "GET", "appendonly"});
  ASSERT_EQ(aof.elements.size(), 2u);
  EXPECT_EQ(aof.elements[1].text, "no");
  // The TCP URL works as well as the socket.
  RedisClient tcp(redis_endpoint(server.url()));
  EXPECT_EQ(tcp.command({"PING"}).text, "PONG");
}

TEST_F(RedisServerTest, AppliesThePubsubOutputBufferLimit) {
  RedisServer server(options("64kb 0 0"));
  const RedisReply r = server.client().checked({"CONFIG", "GET", "client-output-buffer-limit"});
  ASSERT_EQ(r.elements.size(), 2u);
  EXPECT_NE(r.elements[1].text.find("pubsub 65536 0 0"), std::string::npos) << r.elements[1].text;
}

TEST_F(RedisServerTest, RejectsAMalformedPubsubLimitWithTheFix) {
  try {
    RedisServer server(options("64kb"));
    FAIL() << "a one-word limit was accepted";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("three words"), std::string::npos) << e.what();
  }
}

TEST_F(RedisServerTest, KillsAClientByItsName) {
  RedisServer server(options());
  RedisClient victim(redis_endpoint(server.url()));
  victim.checked({"CLIENT", "SETNAME", "pjx-sub-12345"});
  bool listed = false;
  for (const RedisClientInfo& c : server.client().client_list()) {
    if (c.name == "pjx-sub-12345") listed = true;
  }
  EXPECT_TRUE(listed);
  EXPECT_EQ(server.client().kill_clients_named("pjx-sub-12345"), 1);
  EXPECT_EQ(server.client().kill_clients_named("pjx-sub-12345"), 0);
  EXPECT_THROW(victim.command({"PING"}), RedisError);
}

TEST_F(RedisServerTest, ACrashAndAStartKeepThePortAndDropEveryConnection) {
  RedisServer server(options());
  const int port = server.port();
  const pid_t pid = server.pid();
  RedisClient before(redis_endpoint(server.url()));
  server.kill();
  server.start();
  EXPECT_EQ(server.port(), port);
  EXPECT_NE(server.pid(), pid);
  EXPECT_THROW(before.command({"PING"}), RedisError);  // the old connection is gone
  EXPECT_EQ(before.command({"PING"}).text, "PONG");    // and the next command reconnects
  server.kill();
  EXPECT_FALSE(server.running());
  EXPECT_THROW(server.client(), RedisError);
  server.start();
  EXPECT_EQ(server.client().command({"PING"}).text, "PONG");
  server.restart();  // stop (SIGTERM) and start
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(server.client().command({"PING"}).text, "PONG");
}

TEST_F(RedisServerTest, APasswordIsInItsUrlsAndInItsOwnConnection) {
  RedisServerOptions o = options();
  o.password = "p@ss w:rd";
  RedisServer server(o);
  EXPECT_EQ(server.client().command({"PING"}).text, "PONG");
  EXPECT_NE(server.url().find(":p%40ss%20w%3Ard@"), std::string::npos) << server.url();
  RedisClient tcp(redis_endpoint(server.url(3)));
  EXPECT_EQ(tcp.command({"PING"}).text, "PONG");
  RedisClient unix_socket(redis_endpoint(server.unix_url(1)));
  EXPECT_EQ(unix_socket.command({"PING"}).text, "PONG");
  RedisEndpoint no_password = redis_endpoint(server.url());
  no_password.password.clear();
  RedisClient anonymous(no_password);
  EXPECT_EQ(anonymous.command({"PING"}).type, RedisReply::Type::kError);
}

TEST_F(RedisServerTest, PausedItKeepsConnectionsButAnswersOnlyAfterResume) {
  RedisServer server(options());
  RedisClient c(redis_endpoint(server.url()), std::chrono::milliseconds(200));
  server.pause();
  EXPECT_THROW(c.command({"PING"}), RedisError);
  server.resume();
  EXPECT_EQ(c.command({"PING"}).text, "PONG");
  server.pause();
  server.stop();  // continued first, so that SIGTERM can end it
  EXPECT_FALSE(server.running());
}

TEST_F(RedisServerTest, WithoutAFolderItUsesATemporaryOneAndRemovesIt) {
  fs::path dir;
  {
    RedisServer server;
    dir = fs::path(server.socket_path()).parent_path();
    EXPECT_TRUE(fs::exists(dir / "redis.log"));
  }
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(RedisServerTest, AbsentExecutableIsAClearError) {
  ::setenv("PJX_REDIS_SERVER", (dir_ / "no-such-redis-server").c_str(), 1);
  EXPECT_THROW(find_redis_server(), RedisError);
  try {
    RedisServer server(options());
    FAIL() << "started without an executable";
  } catch (const RedisError& e) {
    EXPECT_NE(std::string(e.what()).find("PJX_REDIS_SERVER"), std::string::npos) << e.what();
  }
  ::unsetenv("PJX_REDIS_SERVER");
}

TEST(RedisEndpoint, ReadsTheUrlFormsUsersWrite) {
  const RedisEndpoint a = redis_endpoint("redis://:s3cret@example.org:6380/2");
  EXPECT_EQ(a.host, "example.org");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.db, 2);
  const RedisEndpoint b = redis_endpoint("unix:///run/redis.sock?db=3");
  EXPECT_EQ(b.socket, "/run/redis.sock");
  EXPECT_EQ(b.db, 3);
  const RedisEndpoint c = redis_endpoint("redis://[::1]:7000");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  try {
    redis_endpoint("http://u:pw@host");
    FAIL();
  } catch (const RedisError& e) {
    EXPECT_EQ(std::string(e.what()).find("pw"), std::string::npos) << "password not masked";
  }
  EXPECT_THROW(redis_endpoint("redis://host:port"), RedisError);
}

// The harness's command connection (nemesis, probes) must log in as the
// workers do: they read REDIS_URL with the library's parser.
TEST(RedisEndpoint, ReadsAUrlAsTheWorkersDo) {
  for (const char* url : {"redis://:p%40ss@127.0.0.1:6379/0", "redis://us%3Aer:p%2Fw@host:7000/3",
                          "unix://:s%20cret@/run/redis.sock?db=2"}) {
    const RedisEndpoint e = redis_endpoint(url);
    const pjx::RedisUrl w = pjx::RedisUrl::parse(url);
    EXPECT_EQ(e.password, w.password) << url;
    EXPECT_EQ(e.username, w.username) << url;
    EXPECT_EQ(e.db, w.db) << url;
    if (w.kind == pjx::RedisUrl::Kind::kUnix) {
      EXPECT_EQ(e.socket.string(), w.socket_path) << url;
    } else {
      EXPECT_EQ(e.host, w.host) << url;
      EXPECT_EQ(e.port, w.port) << url;
    }
  }
}

}  // namespace
}  // namespace pjx::testing
