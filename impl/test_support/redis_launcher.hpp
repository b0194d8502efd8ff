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

}  // namespace pjx::testing
