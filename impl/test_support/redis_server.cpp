#include "redis_server.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "pjx/redis_backend.hpp"

namespace pjx::testing {
namespace {

using namespace std::chrono_literals;

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string percent_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    }
  }
  return out;
}

redisContext* connect_raw(const RedisUrl& url, std::chrono::milliseconds timeout) {
  const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                   static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  return url.kind == RedisUrl::Kind::kUnix
             ? redisConnectUnixWithTimeout(url.socket_path.c_str(), tv)
             : redisConnectWithTimeout(url.host.c_str(), url.port, tv);
}

std::string render(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(reply.integer);
    case REDIS_REPLY_ERROR:
      return "(error) " + std::string(reply.str, reply.len);
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      return std::string(reply.str, reply.len);
    case REDIS_REPLY_NIL:
      return "(nil)";
    default: {
      std::string out = "[";
      for (std::size_t i = 0; i < reply.elements; ++i) {
        if (i != 0) out += ", ";
        out += render(*reply.element[i]);
      }
      return out + "]";
    }
  }
}

}  // namespace

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    const int error = errno;
    ::close(fd);
    throw std::runtime_error(std::string("binding a loopback port: ") + std::strerror(error));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  executable_ = find_on_path("redis-server");
  if (executable_.empty()) {
    throw std::runtime_error(
        "redis-server is not installed (not found on PATH); the Redis tests need a real server: "
        "install the Debian package redis-server (scripts/install-deps.sh does)");
  }
  socket_path_ = dir_.file("redis.sock");
  log_path_ = dir_.file("redis.log");
  // A port that was free a moment ago can be taken before the server binds
  // it; try a few.
  for (int attempt = 0;; ++attempt) {
    port_ = free_loopback_port();
    spawn();
    if (wait_until_ready()) return;
    if (attempt == 4) {
      throw std::runtime_error("redis-server did not start; its log:\n" + log());
    }
  }
}

RedisServer::~RedisServer() {
  if (pid_ > 0) reap(SIGKILL);
}

std::string RedisServer::url(int db) const {
  std::string auth = options_.password.empty() ? "" : ":" + percent_encode(options_.password) + "@";
  return "redis://" + auth + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
}

std::string RedisServer::unix_url(int db) const {
  std::string auth = options_.password.empty() ? "" : ":" + percent_encode(options_.password) + "@";
  return "unix://" + auth + socket_path_ + "?db=" + std::to_string(db);
}

void RedisServer::spawn() {
  std::vector<std::string> args = {executable_,
                                   "--port",
                                   std::to_string(port_),
                                   "--bind",
                                   "127.0.0.1",
                                   "--unixsocket",
                                   socket_path_,
                                   "--unixsocketperm",
                                   "700",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_.path().string(),
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   log_path_};
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string startup_log = log_path_ + ".stdout";
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls: the parent may have other threads.
    const int fd = ::open(startup_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    // Dies with the test process, even when that crashes. (The server is
    // forked from the test's main thread, whose exit is what counts.)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  paused_ = false;
}

bool RedisServer::wait_until_ready() {
  const RedisUrl target = RedisUrl::parse("unix://" + socket_path_);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    // Any reply (PONG, or NOAUTH with a password) means it is serving.
    std::unique_ptr<redisContext, decltype(&redisFree)> c(connect_raw(target, 1000ms), &redisFree);
    if (c && c->err == 0) {
      auto* reply = static_cast<redisReply*>(redisCommand(c.get(), "PING"));
      if (reply != nullptr) {
        freeReplyObject(reply);
        // The TCP listener is set up before the Unix socket; both are ready.
        return true;
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  reap(SIGKILL);
  throw std::runtime_error("redis-server did not answer PING within 20 s; its log:\n" + log());
}

void RedisServer::reap(int signal) {
  if (pid_ <= 0) return;
  if (paused_) ::kill(pid_, SIGCONT);
  ::kill(pid_, signal);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(5ms);
  }
  pid_ = -1;
  paused_ = false;
}

void RedisServer::start() {
  if (pid_ > 0) return;
  spawn();
  if (!wait_until_ready()) {
    throw std::runtime_error("redis-server did not start again on port " + std::to_string(port_) +
                             "; its log:\n" + log());
  }
}

void RedisServer::stop() { reap(SIGTERM); }
void RedisServer::kill() { reap(SIGKILL); }

void RedisServer::restart() {
  stop();
  start();
}

void RedisServer::pause() {
  if (pid_ > 0 && ::kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisServer::resume() {
  if (pid_ > 0 && ::kill(pid_, SIGCONT) == 0) paused_ = false;
}

std::string RedisServer::log() const {
  std::string text;
  for (const std::string& path : {log_path_ + ".stdout", log_path_}) {
    std::ifstream in(path);
    std::stringstream buffer;
    buffer << in.rdbuf();
    text += buffer.str();
  }
  return text;
}

std::string shared_redis_url() {
  if (const char* url = std::getenv("PJX_TEST_REDIS_URL"); url != nullptr && *url != '\0') {
    return url;
  }
  static RedisServer server;  // started on first use, killed at exit
  return server.url();
}

RawRedis::RawRedis(const std::string& url_text) {
  const RedisUrl url = RedisUrl::parse(url_text);
  auto* c = connect_raw(url, 5000ms);
  if (c == nullptr || c->err != 0) {
    const std::string error = c != nullptr ? c->errstr : "out of memory";
    if (c != nullptr) redisFree(c);
    throw std::runtime_error("cannot connect to " + url.masked() + ": " + error);
  }
  context_ = c;
  const timeval tv{10, 0};
  redisSetTimeout(c, tv);
  if (!url.password.empty()) {
    const std::string reply = url.username.empty() ? command({"AUTH", url.password})
                                                   : command({"AUTH", url.username, url.password});
    if (reply != "OK") throw std::runtime_error("AUTH failed: " + reply);
  }
  if (url.db != 0) {
    const std::string reply = command({"SELECT", std::to_string(url.db)});
    if (reply != "OK") throw std::runtime_error("SELECT failed: " + reply);
  }
}

RawRedis::~RawRedis() { redisFree(static_cast<redisContext*>(context_)); }

std::string RawRedis::command(const std::vector<std::string>& args) {
  auto* c = static_cast<redisContext*>(context_);
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const auto& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* reply = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lengths.data()));
  if (reply == nullptr) throw std::runtime_error(std::string("Redis command failed: ") + c->errstr);
  std::string out = render(*reply);
  freeReplyObject(reply);
  return out;
}

std::vector<std::string> RawRedis::clients_named(const std::string& name) {
  std::vector<std::string> found;
  std::stringstream lines(command({"CLIENT", "LIST"}));
  std::string line;
  while (std::getline(lines, line)) {
    std::stringstream fields(line);
    std::string field;
    while (fields >> field) {
      if (field == "name=" + name) found.push_back(line);
    }
  }
  return found;
}

int RawRedis::kill_clients_named(const std::string& name) {
  int killed = 0;
  for (const std::string& line : clients_named(name)) {
    const std::size_t id = line.find("id=");
    const std::size_t end = line.find(' ', id);
    const std::string reply = command({"CLIENT", "KILL", "ID", line.substr(id + 3, end - id - 3)});
    if (reply == "1") ++killed;
  }
  return killed;
}

}  // namespace pjx::testing
