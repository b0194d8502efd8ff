// Test support for the Redis backend: a real redis-server of the test's own
// and a raw client to poke it.
//
// RedisServer starts `redis-server` (found on PATH) on a free loopback port
// and on a Unix socket in a fresh temporary directory, with persistence off
// (--save "" --appendonly no), and returns once it answers PING. It can be
// stopped, killed, paused (SIGSTOP), resumed, and started again on the same
// port and socket. When redis-server is not installed the constructor throws
// std::runtime_error saying so and how to install it: tests never skip.
//
// Thread safety: none; drive a server from the test's thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "temp_dir.hpp"

namespace pjx::testing {

class RedisServer {
 public:
  struct Options {
    std::string password;  // --requirepass when not empty
  };
  RedisServer() : RedisServer(Options{}) {}
  explicit RedisServer(Options options);
  ~RedisServer();  // kills the server
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  int port() const noexcept { return port_; }
  const std::string& socket_path() const noexcept { return socket_path_; }
  // redis://127.0.0.1:PORT/DB, with ":PASSWORD@" (percent-encoded) when set.
  std::string url(int db = 0) const;
  // unix://[:PASSWORD@]SOCKET?db=DB
  std::string unix_url(int db = 0) const;
  pid_t pid() const noexcept { return pid_; }

  // Starts it again on the same port and socket (after stop() or kill()).
  void start();
  // SIGTERM (after SIGCONT) and waits for the exit.
  void stop();
  // SIGKILL and waits for the exit: connections drop without a goodbye.
  void kill();
  // stop() then start(): every client connection is closed.
  void restart();
  // SIGSTOP / SIGCONT: connections stay open but nothing is answered.
  void pause();
  void resume();
  // The server's log, for failure messages.
  std::string log() const;

 private:
  void spawn();
  bool wait_until_ready();  // false: the process exited
  void reap(int signal);

  Options options_;
  TempDir dir_;
  std::string executable_;
  std::string socket_path_;
  std::string log_path_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
};

// A loopback port nobody listens on now.
int free_loopback_port();

// The URL of a Redis server for tests that neither stop nor restart it:
// $PJX_TEST_REDIS_URL when set, otherwise one RedisServer started for the
// whole test process on first use.
std::string shared_redis_url();

// A plain hiredis connection, as another program would use Redis.
class RawRedis {
 public:
  // Throws std::runtime_error when it cannot connect (or AUTH/SELECT fail).
  explicit RawRedis(const std::string& url);
  ~RawRedis();
  RawRedis(const RawRedis&) = delete;
  RawRedis& operator=(const RawRedis&) = delete;

  // Runs a command; returns an integer reply as its decimal text, a string
  // or status reply as is, an error reply as "(error) ...", nil as "(nil)",
  // an array as "[a, b, ...]". Throws
  // std::runtime_error when the connection fails.
  std::string command(const std::vector<std::string>& args);
  // Kills, by id, every client whose name is `name`; returns how many.
  int kill_clients_named(const std::string& name);
  // The CLIENT LIST lines of clients named `name`.
  std::vector<std::string> clients_named(const std::string& name);

 private:
  void* context_ = nullptr;  // redisContext*
};

}  // namespace pjx::testing
