#include "redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>
#include <thread>

#include "child_process.hpp"
#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"
#include "leftovers.hpp"

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// sun_path holds 108 bytes with the terminating NUL; keep a margin.
constexpr std::size_t kMaxSocketPath = 100;

std::string errno_text(int err) { return std::generic_category().message(err); }

bool executable(const fs::path& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

// A TCP port on 127.0.0.1 that nothing listens on right now.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw RedisError("cannot create a socket to find a free port: " + errno_text(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int err = errno;
    ::close(fd);
    throw RedisError("cannot bind 127.0.0.1:0 to find a free port: " + errno_text(err));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

RedisReply convert(const redisReply* r) {
  RedisReply out;
  if (r == nullptr) return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.text.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(convert(r->element[i]));
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- find

fs::path find_redis_server() {
  if (const char* env = std::getenv("PJX_REDIS_SERVER"); env != nullptr && *env != '\0') {
    if (executable(env)) return env;
    throw RedisError(std::string("PJX_REDIS_SERVER=\"") + env +
                     "\" is not an executable file; point it at redis-server or unset it");
  }
  std::string looked;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      const fs::path candidate = fs::path(dir) / "redis-server";
      if (executable(candidate)) return candidate;
    }
    looked = "PATH, ";
  }
  for (const char* fixed : {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                            "/usr/sbin/redis-server"}) {
    if (executable(fixed)) return fixed;
  }
  throw RedisError("redis-server not found (looked in " + looked +
                   "/usr/bin, /usr/local/bin, /usr/sbin): install it (Debian: apt-get install "
                   "redis-server, or scripts/install-deps.sh), set PJX_REDIS_SERVER to its path, "
                   "or pass --redis-url URL of a running server");
}

// ---------------------------------------------------------------- endpoint

RedisEndpoint RedisEndpoint::from_url(std::string_view url) {
  pjx::RedisUrl parsed;
  try {
    parsed = pjx::RedisUrl::parse(url);
  } catch (const pjx::ConfigError& e) {
    throw RedisError(e.what());
  }
  RedisEndpoint e;
  if (parsed.kind == pjx::RedisUrl::Kind::kUnix) {
    e.socket = parsed.socket_path;
  } else {
    e.host = parsed.host;
    e.port = parsed.port;
  }
  e.username = parsed.username;
  e.password = parsed.password;
  e.db = parsed.db;
  return e;
}

std::string RedisEndpoint::describe() const {
  if (!socket.empty()) return "unix://" + socket.string();
  return host + ":" + std::to_string(port);
}

// ---------------------------------------------------------------- client

RedisClient::RedisClient(RedisEndpoint endpoint, std::chrono::milliseconds timeout)
    : endpoint_(std::move(endpoint)), timeout_(timeout) {
  connect();
}

RedisClient::~RedisClient() {
  if (ctx_ != nullptr) redisFree(ctx_);
}

void RedisClient::connect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  redisContext* c = endpoint_.socket.empty()
                        ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                        : redisConnectUnixWithTimeout(endpoint_.socket.c_str(), tv);
  if (c == nullptr || c->err != 0) {
    const std::string why = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    throw RedisError("cannot connect to Redis at " + endpoint_.describe() + ": " + why);
  }
  redisSetTimeout(c, tv);
  ctx_ = c;
  if (!endpoint_.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!endpoint_.username.empty()) auth.push_back(endpoint_.username);
    auth.push_back(endpoint_.password);
    checked(auth);
  }
  if (endpoint_.db != 0) checked({"SELECT", std::to_string(endpoint_.db)});
}

RedisReply RedisClient::command(const std::vector<std::string>& args) {
  if (ctx_ == nullptr) connect();
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (reply == nullptr) {
    const std::string why = ctx_->errstr;
    redisFree(ctx_);
    ctx_ = nullptr;
    throw RedisError("Redis at " + endpoint_.describe() + ": " +
                     (args.empty() ? std::string("command") : args[0]) + " failed: " + why);
  }
  RedisReply out = convert(reply);
  freeReplyObject(reply);
  return out;
}

RedisReply RedisClient::checked(const std::vector<std::string>& args) {
  RedisReply r = command(args);
  if (r.type == RedisReply::Type::kError) {
    std::string cmd;
    for (std::size_t i = 0; i < args.size() && i < 2; ++i) cmd += (i ? " " : "") + args[i];
    throw RedisError("Redis at " + endpoint_.describe() + " refused " + cmd + ": " + r.text);
  }
  return r;
}

void RedisClient::config_set(const std::string& name, const std::string& value) {
  checked({"CONFIG", "SET", name, value});
}

std::vector<RedisClientInfo> RedisClient::client_list() {
  const RedisReply r = checked({"CLIENT", "LIST"});
  std::vector<RedisClientInfo> out;
  std::stringstream lines(r.text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    RedisClientInfo info;
    std::stringstream fields(line);
    std::string field;
    while (fields >> field) {
      const std::size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      info.fields[field.substr(0, eq)] = field.substr(eq + 1);
    }
    info.id = info.fields["id"];
    info.name = info.fields["name"];
    out.push_back(std::move(info));
  }
  return out;
}

int RedisClient::kill_clients_named(const std::string& name) {
  int killed = 0;
  for (const RedisClientInfo& c : client_list()) {
    if (c.name != name || c.id.empty()) continue;
    const RedisReply r = command({"CLIENT", "KILL", "ID", c.id});
    if (r.type == RedisReply::Type::kInteger) killed += static_cast<int>(r.integer);
  }
  return killed;
}

// ---------------------------------------------------------------- server

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  if (options_.dir.empty()) throw RedisError("RedisServer needs a folder (options.dir)");
  executable_ = options_.executable.empty() ? find_redis_server() : options_.executable;
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) {
    throw RedisError("cannot create \"" + options_.dir.string() + "\" for redis-server: " +
                     ec.message());
  }
  socket_ = fs::absolute(options_.dir) / "redis.sock";
  if (socket_.string().size() > kMaxSocketPath) {
    // Named after this process, so that a later run removes it if the
    // harness is killed (leftovers.hpp).
    try {
      socket_dir_ = make_run_folder(temp_root(), "redis", false);
    } catch (const std::runtime_error& e) {
      throw RedisError(std::string("cannot create a folder for the redis-server socket: ") +
                       e.what());
    }
    socket_ = socket_dir_ / "redis.sock";
  }
  // A port that was free may be taken before redis-server binds it: retry.
  for (int attempt = 0;; ++attempt) {
    port_ = free_loopback_port();
    try {
      spawn_and_wait();
      return;
    } catch (const RedisError&) {
      if (attempt >= 2) {
        stop();
        if (!socket_dir_.empty()) fs::remove_all(socket_dir_, ec);
        throw;
      }
    }
  }
}

RedisServer::~RedisServer() {
  stop();
  std::error_code ec;
  if (!socket_dir_.empty()) fs::remove_all(socket_dir_, ec);
}

std::string RedisServer::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

std::string RedisServer::unix_url() const { return "unix://" + socket_.string(); }

std::string RedisServer::log_tail() const {
  std::ifstream in(options_.dir / "redis.log");
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  std::string out;
  const std::size_t from = lines.size() > 5 ? lines.size() - 5 : 0;
  for (std::size_t i = from; i < lines.size(); ++i) out += "\n  " + lines[i];
  return out.empty() ? " (its log is empty)" : out;
}

void RedisServer::spawn_and_wait() {
  client_.reset();
  std::error_code ec;
  fs::remove(socket_, ec);
  std::vector<std::string> pubsub = {"pubsub"};
  {
    std::stringstream words(options_.pubsub_limit);
    std::string w;
    while (words >> w) pubsub.push_back(w);
  }
  if (pubsub.size() != 4) {
    throw RedisError("pubsub output buffer limit \"" + options_.pubsub_limit +
                     "\" must be three words: <hard> <soft> <soft seconds>, e.g. \"64kb 0 0\"");
  }
  const fs::path dir = fs::absolute(options_.dir);
  std::vector<std::string> args = {executable_.string(),
                                   "--port", std::to_string(port_),
                                   "--bind", "127.0.0.1",
                                   "--unixsocket", socket_.string(),
                                   "--unixsocketperm", "700",
                                   "--save", "",
                                   "--appendonly", "no",
                                   "--daemonize", "no",
                                   "--dir", dir.string(),
                                   "--logfile", (dir / "redis.log").string(),
                                   "--client-output-buffer-limit"};
  args.insert(args.end(), pubsub.begin(), pubsub.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string devnull = "/dev/null";

  require_main_thread("RedisServer");
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw RedisError("cannot fork to start redis-server: " + errno_text(errno));
  if (pid == 0) {
    // Child: async-signal-safe calls only.
    die_with_parent(parent);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    const int null_fd = ::open(devnull.c_str(), O_RDWR);
    if (null_fd >= 0) {
      ::dup2(null_fd, 0);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
    }
    ::setsid();  // a terminal's SIGINT goes to the harness, which stops it
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;

  const auto deadline = Clock::now() + options_.start_timeout;
  std::string last;
  while (Clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw RedisError("redis-server (" + executable_.string() + ") exited at start (" +
                       (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                          : "signal " + std::to_string(WTERMSIG(status))) +
                       "); the end of " + (options_.dir / "redis.log").string() + ":" + log_tail());
    }
    try {
      RedisEndpoint e;
      e.socket = socket_;
      auto c = std::make_unique<RedisClient>(e, std::chrono::milliseconds(500));
      const RedisReply pong = c->command({"PING"});
      if (pong.type == RedisReply::Type::kStatus && pong.text == "PONG") {
        const RedisReply info = c->command({"INFO", "server"});
        const std::size_t v = info.text.find("redis_version:");
        if (v != std::string::npos) {
          const std::size_t end = info.text.find_first_of("\r\n", v);
          version_ = info.text.substr(v + 14, end - v - 14);
        }
        client_ = std::move(c);
        return;
      }
      last = pong.text;
    } catch (const RedisError& e) {
      last = e.what();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill();
  throw RedisError("redis-server did not answer PING within " +
                   std::to_string(options_.start_timeout.count()) + " ms (" + last +
                   "); the end of its log:" + log_tail());
}

void RedisServer::kill() {
  client_.reset();
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisServer::start() {
  if (pid_ > 0) return;
  spawn_and_wait();
}

void RedisServer::restart() {
  kill();
  spawn_and_wait();
}

void RedisServer::stop() {
  client_.reset();
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  int status = 0;
  while (Clock::now() < deadline) {
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill();
}

RedisClient& RedisServer::client() {
  if (pid_ <= 0) throw RedisError("redis-server is not running (killed or stopped)");
  if (!client_) {
    RedisEndpoint e;
    e.socket = socket_;
    client_ = std::make_unique<RedisClient>(e);
  }
  return *client_;
}

}  // namespace pjx::harness
