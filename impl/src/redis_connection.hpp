// RedisConnection: one non-blocking socket to a Redis server, with hiredis
// used only for the protocol (redisFormatCommandArgv to encode commands, a
// redisReader to decode replies). The socket is ours, so every wait is a
// poll() that also watches an optional stop fd and ends at a deadline: no
// call blocks in the kernel past either (except name resolution, which
// getaddrinfo does synchronously). Writes use MSG_NOSIGNAL, so a peer that
// went away never raises SIGPIPE.
//
// Thread safety: none; one thread uses a connection at a time.
// Failure: every method that throws RedisIoError leaves the connection
// unusable (destroy it and connect anew); RedisInterrupted likewise.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "pjx/redis_backend.hpp"

namespace pjx::detail {

using RedisDeadline = std::chrono::steady_clock::time_point;

// The connection cannot be used any more: refused, reset, closed by the
// server, a protocol error, or the deadline passed (timed_out()).
class RedisIoError : public std::runtime_error {
 public:
  RedisIoError(const std::string& message, bool timed_out)
      : std::runtime_error(message), timed_out_(timed_out) {}
  bool timed_out() const noexcept { return timed_out_; }

 private:
  bool timed_out_;
};

// The server answered a handshake command with an error reply (AUTH refused,
// SELECT of a database that does not exist...).
class RedisRefused : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The stop fd became readable while waiting.
class RedisInterrupted : public std::runtime_error {
 public:
  RedisInterrupted() : std::runtime_error("interrupted by stop()") {}
};

struct RedisReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// "an error reply "WRONGPASS ..."", "integer 3", ... for messages.
std::string describe(const redisReply& reply);

class RedisConnection {
 public:
  // Connects to `url` by `deadline`, trying every address the host resolves
  // to. `stop_fd` (-1 for none) interrupts the wait. Throws RedisIoError or
  // RedisInterrupted.
  RedisConnection(const RedisUrl& url, RedisDeadline deadline, int stop_fd);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // AUTH when the URL has a password, SELECT when db is not 0, then
  // CLIENT SETNAME `client_name`; each command by its own deadline
  // now + command_timeout. Throws RedisRefused when the server answers one
  // of them with an error, RedisIoError, RedisInterrupted.
  void handshake(const RedisUrl& url, const std::string& client_name,
                 std::chrono::milliseconds command_timeout, int stop_fd);

  // Sends one command and waits for its reply, which may be an error reply.
  RedisReply command(std::initializer_list<std::string_view> args, RedisDeadline deadline,
                     int stop_fd);
  // Writes one command completely.
  void send(std::initializer_list<std::string_view> args, RedisDeadline deadline, int stop_fd);
  // Waits for and returns the next reply.
  RedisReply receive(RedisDeadline deadline, int stop_fd);
  // The next reply already read from the socket, or null. Throws
  // RedisIoError on a protocol error.
  RedisReply buffered();
  // Reads what the socket holds now, without waiting. Throws RedisIoError
  // when the server closed the connection or it failed.
  void read_available();

  int fd() const noexcept { return fd_; }
  // "127.0.0.1:6379" or the socket path, for messages.
  const std::string& peer() const noexcept { return peer_; }

 private:
  // Waits until fd_ is ready for `events`; throws on deadline or stop.
  void wait(short events, RedisDeadline deadline, int stop_fd, const char* what);
  [[noreturn]] void fail(const std::string& what, int error);

  int fd_ = -1;
  std::string peer_;
  redisReader* reader_ = nullptr;
};

}  // namespace pjx::detail
