// Child: runs a function in a forked child process and talks to it over two
// pipes with newline-terminated lines, the way SQLite's lock tests drive a
// second process. REQUIRES: the parent has no other threads when fork() is
// called (fork children before starting backends in the parent).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace pjx::testing {

// The child's end: lines to and from the parent.
class LinePipe {
 public:
  LinePipe(int read_fd, int write_fd) : read_fd_(read_fd), write_fd_(write_fd) {}
  void send(const std::string& line) const;
  // Waits up to `timeout` for a whole line; nullopt on timeout or EOF.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);

 private:
  int read_fd_;
  int write_fd_;
  std::string buffer_;
};

class Child {
 public:
  // Forks; the child runs `body` with its pipe and exits with its result.
  explicit Child(const std::function<int(LinePipe&)>& body);
  ~Child();  // kills the child if it is still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  void send(const std::string& line) { pipe_.send(line); }
  std::optional<std::string> receive(std::chrono::milliseconds timeout) { return pipe_.receive(timeout); }
  // Waits up to `limit` for the child to exit; returns its exit code, or
  // -signal. A child still running at the limit is killed: -SIGKILL, and
  // timed_out() is true.
  int wait(std::chrono::milliseconds limit = std::chrono::minutes(2));
  bool timed_out() const noexcept { return timed_out_; }
  void signal(int sig) const;
  pid_t pid() const noexcept { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool timed_out_ = false;
  int read_fd_ = -1;   // from the child
  int write_fd_ = -1;  // to the child
  LinePipe pipe_{-1, -1};
};

// How many threads of this process are blocked in the system call
// `syscall_nr` now (from /proc/self/task/*/syscall). A test that must fork
// while a thread runs waits for it to sleep in a known call first: a thread
// forked in the middle of an allocation or a SQLite call leaves its locks
// held forever in the child.
int threads_in_syscall(long syscall_nr);

}  // namespace pjx::testing
