// RedisConnection: see redis_connection.hpp.
#include "redis_connection.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace pjx::detail {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(RedisDeadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return 0;
  // Round up so that a wait never ends just before the deadline and spins.
  return static_cast<int>(std::min<long long>(left.count() + 1, 1'000'000));
}

void set_common_options(int fd, bool tcp) {
  const int one = 1;
  if (tcp) {
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    // Notice a peer that vanished without a FIN (host down, partition) on an
    // otherwise idle subscriber connection within about a minute.
    ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    const int idle = 30, interval = 10, count = 3;
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  }
}

}  // namespace

std::string describe(const redisReply& reply) {
  switch (reply.type) {
    case REDIS_REPLY_ERROR:
      return "an error reply \"" + std::string(reply.str, reply.len) + "\"";
    case REDIS_REPLY_STATUS:
      return "status \"" + std::string(reply.str, reply.len) + "\"";
    case REDIS_REPLY_STRING:
      return "a string of " + std::to_string(reply.len) + " bytes";
    case REDIS_REPLY_INTEGER:
      return "integer " + std::to_string(reply.integer);
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_ARRAY:
      return "an array of " + std::to_string(reply.elements) + " elements";
    default:
      return "a reply of type " + std::to_string(reply.type);
  }
}

RedisConnection::RedisConnection(const RedisUrl& url, RedisDeadline deadline, int stop_fd) {
  reader_ = redisReaderCreate();
  if (reader_ == nullptr) throw std::bad_alloc();
  try {
    if (url.kind == RedisUrl::Kind::kUnix) {
      peer_ = url.socket_path;
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::memcpy(address.sun_path, url.socket_path.data(), url.socket_path.size());
      fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd_ < 0) fail("cannot create a socket", errno);
      if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        // A Unix socket connects at once or fails, except EAGAIN when the
        // server's backlog is full.
        if (errno != EAGAIN && errno != EINPROGRESS) fail("cannot connect", errno);
        wait(POLLOUT, deadline, stop_fd, "connecting");
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size);
        if (error != 0) fail("cannot connect", error);
      }
      set_common_options(fd_, false);
      return;
    }
    const std::string port = std::to_string(url.port);
    peer_ =
        (url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host) + ":" + port;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
      throw RedisIoError("cannot resolve host \"" + url.host + "\": " + ::gai_strerror(rc), false);
    }
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
    std::string last_error = "no address";
    for (const addrinfo* a = addresses.get(); a != nullptr; a = a->ai_next) {
      const int fd =
          ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) {
        last_error = std::strerror(errno);
        continue;
      }
      fd_ = fd;
      int error = 0;
      if (::connect(fd_, a->ai_addr, a->ai_addrlen) != 0) {
        error = errno;
        if (error == EINPROGRESS) {
          wait(POLLOUT, deadline, stop_fd, "connecting");  // throws on timeout or stop
          socklen_t size = sizeof error;
          ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &size);
        }
      }
      if (error == 0) {
        set_common_options(fd_, true);
        return;
      }
      last_error = std::strerror(error);
      ::close(fd_);
      fd_ = -1;
    }
    throw RedisIoError("cannot connect: " + last_error, false);
  } catch (...) {
    if (fd_ >= 0) ::close(fd_);
    redisReaderFree(reader_);
    throw;
  }
}

RedisConnection::~RedisConnection() {
  if (fd_ >= 0) ::close(fd_);
  redisReaderFree(reader_);
}

void RedisConnection::fail(const std::string& what, int error) {
  throw RedisIoError(what + ": " + std::strerror(error), false);
}

void RedisConnection::wait(short events, RedisDeadline deadline, int stop_fd, const char* what) {
  for (;;) {
    pollfd fds[2] = {{fd_, events, 0}, {stop_fd, POLLIN, 0}};
    const int ready = ::poll(fds, stop_fd >= 0 ? 2 : 1, remaining_ms(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      fail(std::string("poll failed while ") + what, errno);
    }
    if (stop_fd >= 0 && (fds[1].revents & POLLIN) != 0) throw RedisInterrupted();
    if (fds[0].revents != 0) return;  // ready, or an error the next call reports
    if (Clock::now() >= deadline) {
      throw RedisIoError(std::string("timed out ") + what, true);
    }
  }
}

void RedisConnection::send(std::initializer_list<std::string_view> args, RedisDeadline deadline,
                           int stop_fd) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  char* raw = nullptr;
  const int length =
      redisFormatCommandArgv(&raw, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (length < 0) throw std::bad_alloc();
  std::unique_ptr<char, decltype(&redisFreeCommand)> command(raw, &redisFreeCommand);
  std::size_t sent = 0;
  const auto total = static_cast<std::size_t>(length);
  while (sent < total) {
    const ssize_t n = ::send(fd_, command.get() + sent, total - sent, MSG_NOSIGNAL);
    if (n >= 0) {
      sent += static_cast<std::size_t>(n);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      wait(POLLOUT, deadline, stop_fd, "sending a command");
    } else if (errno != EINTR) {
      fail("sending a command failed", errno);
    }
  }
}

RedisReply RedisConnection::buffered() {
  void* reply = nullptr;
  if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
    throw RedisIoError(std::string("protocol error: ") + reader_->errstr, false);
  }
  return RedisReply(static_cast<redisReply*>(reply));
}

void RedisConnection::read_available() {
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n > 0) {
      if (redisReaderFeed(reader_, buffer, static_cast<std::size_t>(n)) != REDIS_OK) {
        throw std::bad_alloc();
      }
      if (static_cast<std::size_t>(n) < sizeof buffer) return;
      continue;
    }
    if (n == 0) throw RedisIoError("the server closed the connection", false);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail("reading failed", errno);
  }
}

RedisReply RedisConnection::receive(RedisDeadline deadline, int stop_fd) {
  for (;;) {
    if (RedisReply reply = buffered()) return reply;
    wait(POLLIN, deadline, stop_fd, "waiting for a reply");
    read_available();
  }
}

RedisReply RedisConnection::command(std::initializer_list<std::string_view> args,
                                    RedisDeadline deadline, int stop_fd) {
  send(args, deadline, stop_fd);
  return receive(deadline, stop_fd);
}

void RedisConnection::handshake(const RedisUrl& url, const std::string& client_name,
                                std::chrono::milliseconds command_timeout, int stop_fd) {
  const auto check = [&](RedisReply reply, const std::string& what) {
    if (reply->type == REDIS_REPLY_ERROR) {
      const std::string error(reply->str, reply->len);
      std::string message = "Redis refused " + what + ": " + error;
      if (error.starts_with("NOAUTH")) {
        message +=
            " (the server requires a password: put it in the URL as "
            "redis://:PASSWORD@host or unix://:PASSWORD@/path)";
      }
      throw RedisRefused(message);
    }
  };
  if (!url.password.empty()) {
    RedisReply reply = url.username.empty() ? command({"AUTH", url.password},
                                                      Clock::now() + command_timeout, stop_fd)
                                            : command({"AUTH", url.username, url.password},
                                                      Clock::now() + command_timeout, stop_fd);
    check(std::move(reply),
          "AUTH" + (url.username.empty() ? std::string() : " for user \"" + url.username + "\"") +
              "; check the user name and password in the URL");
  }
  if (url.db != 0) {
    const std::string db = std::to_string(url.db);
    check(command({"SELECT", db}, Clock::now() + command_timeout, stop_fd),
          "SELECT " + db + "; use a database number below the server's `databases` setting");
  }
  // The name only labels the connection in CLIENT LIST: a server that
  // refuses it (an ACL allowing only PUBLISH and SUBSCRIBE, a renamed
  // CLIENT command) is still usable, so an error reply is ignored. A lost
  // connection or a timeout still throws from command().
  [[maybe_unused]] const RedisReply named =
      command({"CLIENT", "SETNAME", client_name}, Clock::now() + command_timeout, stop_fd);
}

}  // namespace pjx::detail
