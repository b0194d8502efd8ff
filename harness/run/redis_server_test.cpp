// Needs redis-server (Debian package redis-server): without it these tests
// fail with find_redis_server()'s message, never skip.
#include "redis_server.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "pjx/redis_backend.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

class RedisServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::signal(SIGPIPE, SIG_IGN);
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/pjx-redis-test-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  RedisServerOptions options(const std::string& pubsub_limit = "") const {
    RedisServerOptions o;
    o.dir = dir_;
    if (!pubsub_limit.empty()) o.pubsub_limit = pubsub_limit;
    return o;
  }

  fs::path dir_;
};

TEST_F(RedisServerTest, StartsOnLoopbackWithPersistenceOffAndAnswersCommands) {
  RedisServer server(options());
  ASSERT_TRUE(server.running());
  EXPECT_GT(server.port(), 0);
  EXPECT_EQ(server.url(), "redis://127.0.0.1:" + std::to_string(server.port()));
  EXPECT_FALSE(server.version().empty());
  const RedisReply save = server.client().checked({"CONFIG", "GET", "save"});
  ASSERT_EQ(save.elements.size(), 2u);
  EXPECT_EQ(save.elements[1].text, "");
  const RedisReply aof = server.client().checked({"CONFIG", "GET", "appendonly"});
  ASSERT_EQ(aof.elements.size(), 2u);
  EXPECT_EQ(aof.elements[1].text, "no");
  // The TCP URL works as well as the socket.
  RedisClient tcp(RedisEndpoint::from_url(server.url()));
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
  RedisClient victim(RedisEndpoint::from_url(server.url()));
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

TEST_F(RedisServerTest, RestartKeepsThePortAndDropsEveryConnection) {
  RedisServer server(options());
  const int port = server.port();
  const pid_t pid = server.pid();
  RedisClient before(RedisEndpoint::from_url(server.url()));
  server.restart();
  EXPECT_EQ(server.port(), port);
  EXPECT_NE(server.pid(), pid);
  EXPECT_THROW(before.command({"PING"}), RedisError);  // the old connection is gone
  EXPECT_EQ(before.command({"PING"}).text, "PONG");    // and the next command reconnects
  server.kill();
  EXPECT_FALSE(server.running());
  EXPECT_THROW(server.client(), RedisError);
  server.start();
  EXPECT_EQ(server.client().command({"PING"}).text, "PONG");
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

TEST(RedisEndpoint, ParsesTheUrlFormsUsersWrite) {
  const RedisEndpoint a = RedisEndpoint::from_url("redis://:s3cret@example.org:6380/2");
  EXPECT_EQ(a.host, "example.org");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.password, "s3cret");
  EXPECT_EQ(a.db, 2);
  const RedisEndpoint b = RedisEndpoint::from_url("unix:///run/redis.sock?db=3");
  EXPECT_EQ(b.socket, "/run/redis.sock");
  EXPECT_EQ(b.db, 3);
  const RedisEndpoint c = RedisEndpoint::from_url("redis://[::1]:7000");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  try {
    RedisEndpoint::from_url("http://u:pw@host");
    FAIL();
  } catch (const RedisError& e) {
    EXPECT_EQ(std::string(e.what()).find("pw"), std::string::npos) << "password not masked";
  }
  EXPECT_THROW(RedisEndpoint::from_url("redis://host:port"), RedisError);
}

// The harness's command connection (nemesis, probes) must log in as the
// workers do: they read REDIS_URL with the library's parser.
TEST(RedisEndpoint, ReadsAUrlAsTheWorkersDo) {
  for (const char* url : {"redis://:p%40ss@127.0.0.1:6379/0", "redis://us%3Aer:p%2Fw@host:7000/3",
                          "unix://:s%20cret@/run/redis.sock?db=2"}) {
    const RedisEndpoint e = RedisEndpoint::from_url(url);
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
}  // namespace pjx::harness
