// RedisServer: a redis-server child process that the harness starts and owns
// for a run (a conformance scenario, a benchmark), and RedisClient, a small
// synchronous command connection (hiredis) for the nemesis and the probes:
// CONFIG SET, CLIENT LIST, CLIENT KILL.
//
// The server listens on 127.0.0.1 on a free port and on a unix socket, with
// persistence off (`--save "" --appendonly no`), no protected mode, its log
// in `dir`, and a configurable `client-output-buffer-limit pubsub` (the limit
// past which Redis disconnects a subscriber that does not read, e.g. one
// stopped with SIGSTOP). Construction returns once it answers PING.
//
//   RedisServerOptions options;
//   options.dir = run_dir;
//   RedisServer server(options);
//   worker_env["REDIS_URL"] = server.url();        // redis://127.0.0.1:PORT
//   server.client().kill_clients_named("pjx-sub-4242");
//   server.restart();                               // same port and socket
//
// The server is started with PR_SET_PDEATHSIG=SIGKILL (die_with_parent,
// child_process.hpp), so it dies with the harness even when the harness is
// killed; the destructor stops it. A socket folder made because `dir` is too
// long for a socket path is named after the run (leftovers.hpp), so a later
// run removes it when this one was killed.
//
// Thread safety: none; use each object from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace pjx::harness {

// The server cannot be found, started or talked to. what() says why and,
// where there is one, the fix (e.g. "apt-get install redis-server").
class RedisError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The redis-server executable: $PJX_REDIS_SERVER when set, else the first
// `redis-server` on PATH, else /usr/bin/redis-server, /usr/local/bin/
// redis-server, /usr/sbin/redis-server. Throws RedisError naming the places
// looked at and the Debian package when there is none (never a silent skip).
std::filesystem::path find_redis_server();

// Where a RedisClient connects: a unix socket, else host:port; optional AUTH
// and SELECT.
struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::filesystem::path socket;  // used when not empty
  std::string username;
  std::string password;
  int db = 0;

  // Reads REDIS_URL as every worker does: with the library's parser
  // (pjx::RedisUrl, percent-decoding included). Throws RedisError with the
  // parser's message (URL masked, what is wrong, the fix).
  static RedisEndpoint from_url(std::string_view url);
  // "unix:///path" or "host:port", for messages.
  std::string describe() const;
};

// One entry of CLIENT LIST.
struct RedisClientInfo {
  std::string id;
  std::string name;                         // CLIENT SETNAME, may be empty
  std::map<std::string, std::string> fields;  // every field as listed (addr, cmd, flags, ...)
};

// A reply flattened for the harness's few commands.
struct RedisReply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string text;  // kString, kStatus, kError
  long long integer = 0;
  std::vector<RedisReply> elements;  // kArray
};

// A synchronous command connection. Each command gives up after `timeout`.
class RedisClient {
 public:
  // Connects (and AUTH/SELECT when the endpoint says so). Throws RedisError.
  explicit RedisClient(RedisEndpoint endpoint,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Sends one command (arguments binary-safe, never pasted into a string).
  // A Redis error reply is returned as Type::kError, not thrown. Throws
  // RedisError when the connection fails; the next command reconnects.
  RedisReply command(const std::vector<std::string>& args);
  // command() that throws RedisError for an error reply too.
  RedisReply checked(const std::vector<std::string>& args);

  // CONFIG SET name value. Throws RedisError.
  void config_set(const std::string& name, const std::string& value);
  // CLIENT LIST, parsed. Throws RedisError.
  std::vector<RedisClientInfo> client_list();
  // CLIENT KILL ID <id> for every client named `name`; returns how many were
  // killed (0 when none has that name). Throws RedisError.
  int kill_clients_named(const std::string& name);

  const RedisEndpoint& endpoint() const { return endpoint_; }

 private:
  void connect();

  RedisEndpoint endpoint_;
  std::chrono::milliseconds timeout_;
  redisContext* ctx_ = nullptr;
};

struct RedisServerOptions {
  // Folder for the log, the pid file and (when the path is short enough for
  // sun_path) the socket. Created if missing. Required.
  std::filesystem::path dir;
  // Empty: find_redis_server().
  std::filesystem::path executable;
  // `client-output-buffer-limit pubsub`: "<hard> <soft> <soft seconds>",
  // as redis.conf writes it; Redis's default is "32mb 8mb 60".
  std::string pubsub_limit = "32mb 8mb 60";
  // How long start waits for PING to answer.
  std::chrono::milliseconds start_timeout{10000};
};

class RedisServer {
 public:
  // Starts the server and waits for PING. Throws RedisError (with the tail
  // of its log) when it cannot be found, exits, or does not answer in time.
  explicit RedisServer(RedisServerOptions options);
  // Stops the server (SIGTERM, then SIGKILL after 2 s).
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Kills the server (SIGKILL: every client connection drops at once, as on
  // a crash) and starts it again on the same port and socket, with the same
  // options. Throws RedisError when it does not come back.
  void restart();
  // kill() then start() as two steps, for an outage window: kill() ends the
  // process (SIGKILL) and returns once it is reaped; start() brings it back.
  // Idempotent each.
  void kill();
  void start();
  // SIGTERM (then SIGKILL after 2 s); idempotent. The destructor calls it.
  void stop();

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  const std::filesystem::path& socket() const { return socket_; }
  // "redis://127.0.0.1:PORT" (what workers get in REDIS_URL).
  std::string url() const;
  // "unix:///path/to/redis.sock".
  std::string unix_url() const;
  // "7.0.15", from INFO server (empty if unknown).
  const std::string& version() const { return version_; }
  const RedisServerOptions& options() const { return options_; }

  // A command connection over the unix socket, opened on first use and
  // reopened after restart(). Throws RedisError when the server is down.
  RedisClient& client();

 private:
  void spawn_and_wait();
  std::string log_tail() const;

  RedisServerOptions options_;
  std::filesystem::path executable_;
  std::filesystem::path socket_dir_;  // a private folder when dir is too long for sun_path
  std::filesystem::path socket_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string version_;
  std::unique_ptr<RedisClient> client_;
};

}  // namespace pjx::harness
