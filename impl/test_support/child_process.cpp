#include "child_process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace pjx::testing {

void LinePipe::send(const std::string& line) const {
  std::string data = line + "\n";
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(write_fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // the peer is gone; the reader will notice
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::optional<std::string> LinePipe::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{read_fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char chunk[4096];
    const ssize_t n = ::read(read_fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }
}

Child::Child(const std::function<int(LinePipe&)>& body) {
  int to_child[2];
  int from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe");
  }
  pid_ = ::fork();
  if (pid_ < 0) throw std::system_error(errno, std::generic_category(), "fork");
  if (pid_ == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    LinePipe pipe(to_child[0], from_child[1]);
    int code = 100;
    try {
      code = body(pipe);
    } catch (const std::exception& e) {
      pipe.send(std::string("exception: ") + e.what());
      code = 101;
    }
    ::_exit(code);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  read_fd_ = from_child[0];
  write_fd_ = to_child[1];
  pipe_ = LinePipe(read_fd_, write_fd_);
}

Child::~Child() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  ::close(read_fd_);
  ::close(write_fd_);
}

int Child::wait(std::chrono::milliseconds limit) {
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    const pid_t got = ::waitpid(pid_, &status, WNOHANG);
    if (got == pid_) break;
    if (got < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      // A hung child fails its test now, not the whole binary at ctest's timeout.
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
      reaped_ = true;
      timed_out_ = true;
      return -SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  reaped_ = true;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

void Child::signal(int sig) const { ::kill(pid_, sig); }

int threads_in_syscall(long syscall_nr) {
  int count = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "syscall");
    long nr = -1;
    // "running" (not in a system call) fails the read and counts as nothing.
    if (in >> nr && nr == syscall_nr) ++count;
  }
  return count;
}

}  // namespace pjx::testing
