#include "redis_launcher.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <system_error>
#include <thread>
#include <vector>

namespace pjx::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// sun_path holds 108 bytes with the terminating NUL; keep a margin.
constexpr std::size_t kMaxSocketPath = 100;

std::string errno_text(int err) { return std::generic_category().message(err); }

bool executable(const fs::path& p) { return !p.empty() && ::access(p.c_str(), X_OK) == 0; }

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

// The last 5 lines of a log, indented, for failure messages.
std::string tail_of(const std::string& text) {
  std::stringstream lines_in(text);
  std::vector<std::string> lines;
  for (std::string line; std::getline(lines_in, line);) lines.push_back(line);
  std::string out;
  const std::size_t from = lines.size() > 5 ? lines.size() - 5 : 0;
  for (std::size_t i = from; i < lines.size(); ++i) out += "\n  " + lines[i];
  return out.empty() ? " (its log is empty)" : out;
}

std::string read_all(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

namespace {

// `variable` when set, else `program` on PATH, else in /usr/bin,
// /usr/local/bin, /usr/sbin; throws RedisError naming `package` otherwise.
fs::path find_program(const char* variable, const std::string& program, const std::string& package,
                      const std::string& alternative) {
  if (const char* env = std::getenv(variable); env != nullptr && *env != '\0') {
    if (executable(env)) return env;
    throw RedisError(std::string(variable) + "=\"" + env +
                     "\" is not an executable file; point it at " + program + " or unset it");
  }
  std::string looked;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':')) {
      if (dir.empty()) continue;
      const fs::path candidate = fs::path(dir) / program;
      if (executable(candidate)) return candidate;
    }
    looked = "PATH, ";
  }
  for (const char* fixed : {"/usr/bin/", "/usr/local/bin/", "/usr/sbin/"}) {
    if (executable(fixed + program)) return fixed + program;
  }
  throw RedisError(program + " not found (looked in " + looked +
                   "/usr/bin, /usr/local/bin, /usr/sbin): install it (Debian: apt-get install " +
                   package + ", or scripts/install-deps.sh), set " + variable + " to its path" +
                   alternative);
}

// The folder a launched server works in: `wanted`, created when missing,
// or, when `wanted` is empty, a new temporary folder kept in `own` (removed
// with it). Throws RedisError naming `program` when it cannot be created.
fs::path working_dir(const fs::path& wanted, std::optional<TempDir>& own, const char* prefix,
                     const char* program) {
  if (wanted.empty()) {
    own.emplace(temp_root(), prefix);
    return own->path();
  }
  std::error_code ec;
  fs::create_directories(wanted, ec);
  if (ec) {
    throw RedisError("cannot create \"" + wanted.string() + "\" for " + program + ": " +
                     ec.message());
  }
  return fs::absolute(wanted);
}

// Waits until the just-started `proc` answers PING on `endpoint`, for up
// to `timeout`, and returns that connection. Throws RedisError naming
// `program` (and `executable`) with the end of its log (`log_tail()`) when it
// exits first (`proc` is then reset) or does not answer in time.
std::unique_ptr<RedisClient> wait_for_pong(boost::asio::io_context& io,
                                           std::unique_ptr<Subprocess>& proc,
                                           const RedisEndpoint& endpoint,
                                           std::chrono::milliseconds timeout, const char* program,
                                           const fs::path& executable, const fs::path& dir,
                                           const std::function<std::string()>& log_tail) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last;
  while (std::chrono::steady_clock::now() < deadline) {
    if (run_io_until(
            io, [&proc] { return proc->exited(); }, std::chrono::steady_clock::now() + 10ms)) {
      const int status = proc->status();
      proc.reset();
      throw RedisError(
          std::string(program) + " (" + executable.string() + ") exited at start (" +
          (status < 0 ? "signal " + std::to_string(-status) : "status " + std::to_string(status)) +
          "); the end of its log in " + dir.string() + ":" + log_tail());
    }
    try {
      auto c = std::make_unique<RedisClient>(endpoint, 500ms);
      const RedisReply pong = c->command({"PING"});
      if (pong.type == RedisReply::Type::kStatus && pong.text == "PONG") return c;
      last = pong.text;
    } catch (const RedisError& e) {
      last = e.what();
    }
  }
  throw RedisError(std::string(program) + " did not answer PING within " +
                   std::to_string(timeout.count()) + " ms (" + last + "); the end of its log:" +
                   log_tail());
}

// `dir`/`name` when that is short enough for a unix socket's path, else
// `name` in a folder made by `make_dir` (default: a temporary folder),
// stored in `made` for removal. Throws RedisError naming `program`.
fs::path socket_path_in(const fs::path& dir, const char* name,
                        const std::function<fs::path()>& make_dir, fs::path& made,
                        const char* program) {
  const fs::path wanted = dir / name;
  if (wanted.string().size() <= kMaxSocketPath) return wanted;
  try {
    made = make_dir ? make_dir() : make_temp_dir(temp_root(), "pjx-redis-");
  } catch (const std::runtime_error& e) {
    throw RedisError(std::string("cannot create a folder for the ") + program +
                     " socket: " + e.what());
  }
  return made / name;
}

}  // namespace

fs::path find_redis_server() {
  return find_program("PJX_REDIS_SERVER", "redis-server", "redis-server",
                      ", or pass --redis-url URL of a running server");
}

fs::path find_redis_sentinel() {
  return find_program("PJX_REDIS_SENTINEL", "redis-sentinel", "redis-sentinel", "");
}

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

RedisServer::RedisServer(RedisServerOptions options) : options_(std::move(options)) {
  executable_ = options_.executable.empty() ? find_redis_server() : options_.executable;
  dir_ = working_dir(options_.dir, own_dir_, "pjx-redis-", "redis-server");
  socket_ = socket_path_in(dir_, "redis.sock", options_.make_socket_dir, socket_dir_,
                           "redis-server");
  // A port that was free may be taken before redis-server binds it: retry.
  for (int attempt = 0;; ++attempt) {
    port_ = free_loopback_port();
    try {
      spawn();
      wait_until_ready();
      return;
    } catch (const RedisError&) {
      kill();
      if (attempt >= 4) {
        std::error_code ec;
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

std::string RedisServer::url(int db) const {
  const std::string auth =
      options_.password.empty() ? "" : ":" + percent_encode(options_.password) + "@";
  return "redis://" + auth + options_.bind_address + ":" + std::to_string(port_) + "/" +
         std::to_string(db);
}

std::string RedisServer::unix_url(int db) const {
  const std::string auth =
      options_.password.empty() ? "" : ":" + percent_encode(options_.password) + "@";
  return "unix://" + auth + socket_.string() + "?db=" + std::to_string(db);
}

std::string RedisServer::log() const {
  return read_all(dir_ / "redis.out") + read_all(dir_ / "redis.log");
}

std::string RedisServer::log_tail() const { return tail_of(log()); }

void RedisServer::spawn() {
  client_.reset();
  std::error_code ec;
  fs::remove(socket_, ec);
  std::vector<std::string> pubsub = {"pubsub"};
  {
    std::stringstream words(options_.pubsub_limit);
    for (std::string w; words >> w;) pubsub.push_back(w);
  }
  if (pubsub.size() != 4) {
    throw RedisError("pubsub output buffer limit \"" + options_.pubsub_limit +
                     "\" must be three words: <hard> <soft> <soft seconds>, e.g. \"64kb 0 0\"");
  }
  // clang-format off: option, value
  std::vector<std::string> args = {
      executable_.string(), "--port", std::to_string(port_), "--bind", options_.bind_address,
      "--unixsocket", socket_.string(), "--unixsocketperm", "700", "--save", "", "--appendonly",
      "no",
      // A replica's first sync starts at once
      // (Redis waits 5 s for more replicas).
      "--repl-diskless-sync-delay", "0", "--daemonize", "no", "--dir", dir_.string(), "--logfile",
      (dir_ / "redis.log").string(), "--client-output-buffer-limit"};
  // clang-format on
  args.insert(args.end(), pubsub.begin(), pubsub.end());
  if (options_.bind_address != "127.0.0.1") {
    // Protected mode answers every client from another host with DENIED
    // while the server has no password; off-loopback addresses are only
    // given for a private network namespace (the harness's hosts), where
    // nothing else can reach the server.
    args.push_back("--protected-mode");
    args.push_back("no");
  }
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  if (options_.replica_of > 0) {
    args.insert(args.end(), {"--replicaof", options_.replica_of_host,
                             std::to_string(options_.replica_of)});
    if (!options_.password.empty()) args.insert(args.end(), {"--masterauth", options_.password});
  }
  try {
    Subprocess::Options o{Subprocess::Options::Stdio::kFile, dir_ / "redis.out", true};
    o.network_namespace = options_.network_namespace;
    proc_ = Subprocess::spawn(io_, args, current_environment(), o, {});
  } catch (const std::runtime_error& e) {
    throw RedisError(std::string("cannot start redis-server: ") + e.what());
  }
  paused_ = false;
}

RedisEndpoint RedisServer::socket_endpoint() const {
  RedisEndpoint e;
  e.socket = socket_;
  e.password = options_.password;
  return e;
}

void RedisServer::wait_until_ready() {
  auto c = wait_for_pong(io_, proc_, socket_endpoint(), options_.start_timeout, "redis-server",
                         executable_, dir_, [this] { return log_tail(); });
  const RedisReply info = c->command({"INFO", "server"});
  const std::size_t v = info.text.find("redis_version:");
  if (v != std::string::npos) {
    const std::size_t end = info.text.find_first_of("\r\n", v);
    version_ = info.text.substr(v + 14, end - v - 14);
  }
  client_ = std::move(c);
}

bool RedisServer::signal_and_wait(int sig, std::chrono::milliseconds timeout) {
  proc_->signal(sig);
  return run_io_until(
      io_, [this] { return proc_->exited(); }, std::chrono::steady_clock::now() + timeout);
}

void RedisServer::start() {
  if (proc_) return;
  spawn();
  try {
    wait_until_ready();
  } catch (const RedisError&) {
    kill();
    throw;
  }
}

void RedisServer::stop() {
  client_.reset();
  if (!proc_) return;
  if (paused_) proc_->signal(SIGCONT);
  if (!signal_and_wait(SIGTERM, 5s)) signal_and_wait(SIGKILL, 10s);
  proc_.reset();  // reaps it when the SIGKILL is still on its way
  paused_ = false;
}

void RedisServer::kill() {
  client_.reset();
  if (!proc_) return;
  signal_and_wait(SIGKILL, 10s);
  proc_.reset();
  paused_ = false;
}

void RedisServer::restart() {
  stop();
  start();
}

void RedisServer::pause() {
  if (proc_ && proc_->signal(SIGSTOP)) paused_ = true;
}

void RedisServer::resume() {
  if (proc_ && proc_->signal(SIGCONT)) paused_ = false;
}

RedisClient& RedisServer::client() {
  if (!proc_) throw RedisError("redis-server is not running (killed or stopped)");
  if (!client_) client_ = std::make_unique<RedisClient>(socket_endpoint());
  return *client_;
}

}  // namespace pjx::testing

namespace pjx::testing {

RedisSentinel::RedisSentinel(RedisSentinelOptions options) : options_(std::move(options)) {
  if (options_.primary_port <= 0) {
    throw RedisError("RedisSentinel needs the primary's port (options.primary_port)");
  }
  executable_ = options_.executable.empty() ? find_redis_sentinel() : options_.executable;
  dir_ = working_dir(options_.dir, own_dir_, "pjx-sentinel-", "redis-sentinel");
  socket_ = socket_path_in(dir_, "sentinel.sock", options_.make_socket_dir, socket_dir_,
                           "redis-sentinel");
  // A port that was free may be taken before it binds it: retry.
  for (int attempt = 0;; ++attempt) {
    port_ = free_loopback_port();
    try {
      spawn();
      wait_until_ready();
      return;
    } catch (const RedisError&) {
      stop();
      if (attempt >= 4) {
        std::error_code ec;
        if (!socket_dir_.empty()) fs::remove_all(socket_dir_, ec);
        throw;
      }
    }
  }
}

RedisSentinel::~RedisSentinel() {
  stop();
  std::error_code ec;
  if (!socket_dir_.empty()) fs::remove_all(socket_dir_, ec);
}

void RedisSentinel::spawn() {
  client_.reset();
  // Sentinel needs a writable config file: it records what it learns there.
  const fs::path config = dir_ / "sentinel.conf";
  {
    std::ofstream out(config, std::ios::trunc);
    const std::string& name = options_.master_name;
    out << "port " << port_ << "\n"
        << "bind " << options_.bind_address << "\n"
        << "unixsocket " << socket_.string() << "\n"
        << "unixsocketperm 700\n"
        << "daemonize no\n"
        << "dir " << dir_.string() << "\n"
        << "logfile " << (dir_ / "sentinel.log").string() << "\n"
        << "sentinel monitor " << name << " " << options_.primary_host << " "
        << options_.primary_port << " "
        << options_.quorum << "\n"
        << "sentinel down-after-milliseconds " << name << " " << options_.down_after.count() << "\n"
        << "sentinel failover-timeout " << name << " " << options_.failover_timeout.count() << "\n"
        << "sentinel parallel-syncs " << name << " 1\n";
    if (!options_.primary_password.empty()) {
      out << "sentinel auth-pass " << name << " " << options_.primary_password << "\n";
    }
    if (!out) throw RedisError("cannot write " + config.string() + " for redis-sentinel");
  }
  std::error_code ec;
  fs::remove(socket_, ec);
  try {
    Subprocess::Options o{Subprocess::Options::Stdio::kFile, dir_ / "sentinel.out", true};
    o.network_namespace = options_.network_namespace;
    proc_ = Subprocess::spawn(io_, {executable_.string(), config.string()}, current_environment(),
                              o, {});
  } catch (const std::runtime_error& e) {
    throw RedisError(std::string("cannot start redis-sentinel: ") + e.what());
  }
}

std::string RedisSentinel::log() const {
  return read_all(dir_ / "sentinel.out") + read_all(dir_ / "sentinel.log");
}

void RedisSentinel::wait_until_ready() {
  RedisEndpoint e;
  e.socket = socket_;
  client_ = wait_for_pong(io_, proc_, e, options_.start_timeout, "redis-sentinel", executable_,
                          dir_, [this] { return tail_of(log()); });
}

void RedisSentinel::stop() {
  client_.reset();
  if (!proc_) return;
  proc_->signal(SIGTERM);
  if (!run_io_until(
          io_, [this] { return proc_->exited(); }, std::chrono::steady_clock::now() + 5s)) {
    proc_->signal(SIGKILL);
    run_io_until(
        io_, [this] { return proc_->exited(); }, std::chrono::steady_clock::now() + 10s);
  }
  proc_.reset();
}

RedisClient& RedisSentinel::client() {
  if (!proc_) throw RedisError("redis-sentinel is not running");
  if (!client_) {
    RedisEndpoint e;
    e.socket = socket_;
    client_ = std::make_unique<RedisClient>(e);
  }
  return *client_;
}

std::string RedisSentinel::primary_address() {
  const RedisReply reply =
      client().checked({"SENTINEL", "get-master-addr-by-name", options_.master_name});
  if (reply.type != RedisReply::Type::kArray || reply.elements.size() != 2) return "";
  return reply.elements[0].text + ":" + reply.elements[1].text;
}

bool RedisSentinel::wait_until_knows(int replicas, int sentinels,
                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const RedisReply r = client().checked({"SENTINEL", "replicas", options_.master_name});
    const RedisReply s = client().checked({"SENTINEL", "sentinels", options_.master_name});
    if (static_cast<int>(r.elements.size()) >= replicas &&
        static_cast<int>(s.elements.size()) >= sentinels) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
}

std::string sentinel_url(const std::vector<const RedisSentinel*>& sentinels,
                         const std::string& master_name, const std::string& password, int db) {
  std::string url = "redis+sentinel://";
  if (!password.empty()) url += ":" + percent_encode(password) + "@";
  for (std::size_t i = 0; i < sentinels.size(); ++i) {
    if (i != 0) url += ",";
    url += sentinels[i]->address();
  }
  return url + "/" + percent_encode(master_name) + "/" + std::to_string(db);
}

}  // namespace pjx::testing
