// ChildProcess: one worker process driven over pipes, on an asio io_context.
//
// The child gets exactly the argv and environment given, stdin and stdout
// as pipes to the harness and stderr appended to a file. Everything happens
// on the thread that runs the io_context: completed stdout lines, the end of
// stdout and the exit are delivered to the handlers from inside
// io_context::run*(), and writes to stdin are queued and written
// asynchronously, so a child that stops reading can never block the caller.
//
// The child is started with SIGPIPE at its default action, an empty signal
// mask, and PR_SET_PDEATHSIG=SIGKILL (die_with_parent below), so it dies with
// the harness. Signals go through a pidfd where the kernel has one, so a
// signal never reaches a recycled pid.
//
// Lifetime: the io_context must outlive the ChildProcess, and must not be
// run again after the ChildProcess is destroyed (queued handlers refer to
// it). Destroying a running child kills it with SIGKILL and reaps it.
//
// Thread safety: none; use from the io_context's thread only.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <sys/types.h>

namespace pjx::harness {

class ChildProcess {
 public:
  struct Handlers {
    std::function<void(std::string line)> on_line;  // one stdout line, without "\n"
    std::function<void()> on_eof;                    // stdout closed
    std::function<void(int status)> on_exit;         // exit code, or -signal
  };

  // Starts argv[0] (searched in PATH when it holds no '/'). Throws
  // std::runtime_error naming the program and the reason (not found, not
  // executable, exec failed, cannot open the stderr file).
  // REQUIRES: called on the process's main thread (require_main_thread).
  static std::unique_ptr<ChildProcess> spawn(boost::asio::io_context& io,
                                             const std::vector<std::string>& argv,
                                             const std::vector<std::string>& env,
                                             const std::filesystem::path& stderr_file,
                                             Handlers handlers);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  int pid() const;
  // Queues `line` + "\n" for the child's stdin. Writes happen in order.
  void write_line(std::string line);
  // Writes queued or in flight.
  bool writing() const;
  // A write failed (the child closed stdin or died); later lines are dropped.
  bool write_failed() const;
  // Sends a signal. False when the child has exited or the kernel refused.
  bool signal(int sig);
  bool exited() const;
  int status() const;  // REQUIRES: exited()
  bool eof() const;    // stdout reached its end

  // Searches PATH for a program name; returns it unchanged when it holds '/'
  // and an empty path when not found.
  static std::filesystem::path find_program(const std::string& name);

 private:
  struct Impl;
  explicit ChildProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Every process the harness starts (workers, redis-server, probes) calls
// this between fork and exec: the kernel then sends it SIGKILL when its
// parent dies, so that nothing outlives a killed harness (SIGKILL, the OOM
// killer, a CI timeout). It closes the classic race: when the parent died
// before the request took effect, getppid() no longer returns `parent` (the
// forking process's pid, read before fork()) and the child exits with 127.
// Async-signal-safe.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the
// process: so processes are started from the main thread only, which lives
// as long as the harness does.
void die_with_parent(pid_t parent);

// Throws std::logic_error naming `what` unless the caller is the process's
// main thread (see die_with_parent).
void require_main_thread(const char* what);

// Runs a program to completion and returns its stdout, or nullopt when it
// cannot be started, exits non-zero or does not finish within `timeout_ms`
// (it is killed then). stderr is discarded.
std::optional<std::string> run_for_output(const std::vector<std::string>& argv, int timeout_ms);

}  // namespace pjx::harness
