// RedisServer: the one redis-server launcher of the project. The Redis tests,
// the harness (a server per scenario, the benchmarks) and
// scripts/with-redis.sh (through pjx-with-redis) all start their servers
// with it.
//
// The server listens on 127.0.0.1 on a free port and on a unix socket, with
// persistence off (`--save "" --appendonly no`), its log and output in its
// folder, an optional password (--requirepass) and a configurable
// `client-output-buffer-limit pubsub` (the limit past which Redis
// disconnects a subscriber that does not read, e.g. one stopped with
// SIGSTOP). Construction returns once it answers PING.
//
//   RedisServer server;                             // in a fresh temporary folder
//   worker_env["REDIS_URL"] = server.url();          // redis://127.0.0.1:PORT/0
//   server.client().kill_clients_named("pjx-sub-4242");
//   server.kill(); server.start();                  // a crash: same port and socket
//
// It is started through Subprocess (subprocess.hpp) in a session of its
// own, so it dies with its parent even when that is killed; the destructor
// stops it. When redis-server is not installed the constructor throws
// RedisError saying how to install it: nothing that needs it skips.
//
// Thread safety: none; use each object from one thread (the main thread, as
// Subprocess requires).
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redis_client.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace pjx::testing {

// The redis-server executable: $PJX_REDIS_SERVER when set, else the first
// `redis-server` on PATH, else /usr/bin/redis-server, /usr/local/bin/
// redis-server, /usr/sbin/redis-server. Throws RedisError naming the places
// looked at and the Debian package when there is none.
std::filesystem::path find_redis_server();

// A TCP port on 127.0.0.1 that nothing listens on right now. Throws
// RedisError.
int free_loopback_port();

struct RedisServerOptions {
  // Folder for the log, the output and (when the path is short enough for
  // sun_path) the socket; created if missing. Empty: a fresh temporary
  // folder, removed with the server.
  std::filesystem::path dir;
  // Empty: find_redis_server().
  std::filesystem::path executable;
  // `client-output-buffer-limit pubsub`: "<hard> <soft> <soft seconds>",
  // as redis.conf writes it; Redis's default is "32mb 8mb 60".
  std::string pubsub_limit = "32mb 8mb 60";
  // --requirepass when not empty (URLs then carry it, percent-encoded).
  std::string password;
  // --replicaof REPLICA_OF_HOST PORT when above 0: a replica of that
  // server (with a password, --masterauth too).
  int replica_of = 0;
  std::string replica_of_host = "127.0.0.1";
  // How long a start waits for PING to answer.
  std::chrono::milliseconds start_timeout{20000};
  // Makes the socket's folder when `dir` is too long for a socket path;
  // empty: make_temp_dir(temp_root(), "pjx-redis-"). The folder is removed
  // with the server.
  std::function<std::filesystem::path()> make_socket_dir;
  // The TCP address it listens on, and the one url() names.
  std::string bind_address = "127.0.0.1";
  // Not empty: the server runs in this network namespace (a /run/netns/NAME
  // entry), joined between fork and exec (Subprocess::Options). Its unix
  // socket, a file, stays reachable from every network namespace, so
  // client() still works; `bind_address` must then be one of that
  // namespace's addresses.
  std::filesystem::path network_namespace;
};

class RedisServer {
 public:
  using Options = RedisServerOptions;

  RedisServer() : RedisServer(RedisServerOptions{}) {}
  // Starts the server and waits for PING. Throws RedisError (with the tail
  // of its log) when it cannot be found, exits, or does not answer in time.
  explicit RedisServer(RedisServerOptions options);
  // stop().
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts it again on the same port and socket, with the same options,
  // after stop() or kill(); does nothing while it runs. Throws RedisError
  // when it does not come back.
  void start();
  // SIGCONT, SIGTERM, and SIGKILL when it has not exited after 5 s;
  // returns once it is reaped. Idempotent.
  void stop();
  // SIGKILL (every client connection drops at once, as on a crash); returns
  // once it is reaped. Idempotent.
  void kill();
  // stop() then start(): every client connection is closed.
  void restart();
  // SIGSTOP / SIGCONT: connections stay open but nothing is answered.
  void pause();
  void resume();

  bool running() const { return proc_ != nullptr; }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  int port() const { return port_; }
  std::string socket_path() const { return socket_.string(); }
  // redis://[:PASSWORD@]BIND_ADDRESS:PORT/DB (what workers get in
  // REDIS_URL; 127.0.0.1 unless options.bind_address says otherwise).
  std::string url(int db = 0) const;
  // unix://[:PASSWORD@]/path/to/redis.sock?db=DB
  std::string unix_url(int db = 0) const;
  // "7.0.15", from INFO server (empty if unknown).
  const std::string& version() const { return version_; }
  const RedisServerOptions& options() const { return options_; }
  // The server's output and log, for failure messages.
  std::string log() const;

  // A command connection over the unix socket, opened on first use and
  // reopened after a restart. Throws RedisError when the server is down.
  RedisClient& client();

 private:
  void spawn();
  void wait_until_ready();
  // Sends `sig` and waits up to `timeout` for the exit; false on timeout.
  bool signal_and_wait(int sig, std::chrono::milliseconds timeout);
  std::string log_tail() const;
  RedisEndpoint socket_endpoint() const;

  RedisServerOptions options_;
  std::optional<TempDir> own_dir_;  // when options.dir is empty
  std::filesystem::path dir_;
  std::filesystem::path executable_;
  std::filesystem::path socket_dir_;  // made when dir is too long for sun_path
  std::filesystem::path socket_;
  int port_ = 0;
  bool paused_ = false;
  std::string version_;
  // Declared before the process: destroyed after it.
  boost::asio::io_context io_;
  std::unique_ptr<Subprocess> proc_;
  std::unique_ptr<RedisClient> client_;
};

// The redis-sentinel executable: $PJX_REDIS_SENTINEL when set, else the
// first `redis-sentinel` on PATH, else /usr/bin, /usr/local/bin, /usr/sbin.
// Throws RedisError naming the places looked at and the Debian package
// (redis-sentinel) when there is none.
std::filesystem::path find_redis_sentinel();

struct RedisSentinelOptions {
  // Folder for its config file (Sentinel rewrites it), log and output;
  // created if missing. Empty: a fresh temporary folder, removed with it.
  std::filesystem::path dir;
  // Empty: find_redis_sentinel().
  std::filesystem::path executable;
  // `sentinel monitor NAME PRIMARY_HOST PRIMARY_PORT QUORUM`.
  std::string master_name = "pjx-primary";
  std::string primary_host = "127.0.0.1";
  int primary_port = 0;
  int quorum = 2;
  // `sentinel down-after-milliseconds` and `sentinel failover-timeout`:
  // small values make a failover take a few seconds (Sentinel's defaults,
  // 30 s and 3 min, are for production).
  std::chrono::milliseconds down_after{1000};
  std::chrono::milliseconds failover_timeout{3000};
  // The primary's password (`sentinel auth-pass`), when it has one.
  std::string primary_password;
  std::chrono::milliseconds start_timeout{20000};
  // The TCP address it listens on and address() names.
  std::string bind_address = "127.0.0.1";
  // Not empty: it runs in this network namespace (/run/netns/NAME), as
  // RedisServerOptions::network_namespace; `bind_address` must then be one
  // of that namespace's addresses. client() then talks over its unix
  // socket, which every namespace reaches.
  std::filesystem::path network_namespace;
  // Makes the unix socket's folder when `dir` is too long for a socket
  // path (as RedisServerOptions::make_socket_dir).
  std::function<std::filesystem::path()> make_socket_dir;
};

// One redis-sentinel on 127.0.0.1 (a free port; options.bind_address
// elsewhere) and on a unix socket, monitoring one primary.
// Several started on the same primary find each other through it (hello
// messages every 2 s) and its replicas through its INFO. Started in a
// session of its own through Subprocess, as RedisServer; the destructor
// stops it.
//
//   RedisServer primary;
//   RedisServer::Options replica_options;
//   replica_options.replica_of = primary.port();
//   RedisServer replica(replica_options);
//   RedisSentinel::Options options;
//   options.primary_port = primary.port();
//   RedisSentinel s1(options), s2(options), s3(options);
//   s1.wait_until_knows(1, 2);  // the replica and the two other sentinels
//   // redis+sentinel://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/pjx-primary
//
// Thread safety: none (as RedisServer).
class RedisSentinel {
 public:
  using Options = RedisSentinelOptions;

  // Starts it and waits until it answers PING. Throws RedisError (with the
  // tail of its log) when it cannot be found, exits or does not answer.
  explicit RedisSentinel(RedisSentinelOptions options);
  ~RedisSentinel();  // stop()
  RedisSentinel(const RedisSentinel&) = delete;
  RedisSentinel& operator=(const RedisSentinel&) = delete;

  // SIGTERM (SIGKILL after 5 s); returns once it is reaped. Idempotent.
  void stop();

  int port() const { return port_; }
  pid_t pid() const { return proc_ ? proc_->pid() : -1; }
  // "BIND_ADDRESS:PORT", as it goes into a redis+sentinel:// URL.
  std::string address() const { return options_.bind_address + ":" + std::to_string(port_); }
  std::string socket_path() const { return socket_.string(); }
  // SENTINEL get-master-addr-by-name: "host:port" of the primary it names
  // now, or "" when it does not know the name. Throws RedisError.
  std::string primary_address();
  // Until it knows at least `replicas` replicas and `sentinels` other
  // sentinels of its primary (false when not within `timeout`).
  bool wait_until_knows(int replicas, int sentinels,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));
  // Its output and log, for failure messages.
  std::string log() const;
  // A command connection (opened on first use). Throws RedisError.
  RedisClient& client();

 private:
  void spawn();
  void wait_until_ready();

  RedisSentinelOptions options_;
  std::optional<TempDir> own_dir_;
  std::filesystem::path dir_;
  std::filesystem::path executable_;
  std::filesystem::path socket_dir_;  // made when dir is too long for sun_path
  std::filesystem::path socket_;
  int port_ = 0;
  boost::asio::io_context io_;
  std::unique_ptr<Subprocess> proc_;
  std::unique_ptr<RedisClient> client_;
};

// The URL of a redis+sentinel:// setup: every sentinel's address, then the
// master name and db.
std::string sentinel_url(const std::vector<const RedisSentinel*>& sentinels,
                         const std::string& master_name, const std::string& password = "",
                         int db = 0);

}  // namespace pjx::testing
