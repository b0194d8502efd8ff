// Subprocess: where the project's tests and test tools start a program as
// a child process (workers, redis-server, git). One layer for all of them;
// only a test that must run a *function* in a child forks on its own
// (child_process.hpp).
//
// The child gets exactly the argv and environment given, and its standard
// streams as Options say: pipes to the caller, a file, or the caller's.
// Everything happens on the thread that runs the
// io_context: completed stdout lines, the end of stdout and the exit are
// delivered to the handlers from inside io_context::run*(), and writes to
// stdin are queued and written asynchronously, so a child that stops
// reading can never block the caller.
//
// The child is started with SIGPIPE at its default action, an empty signal
// mask, and PR_SET_PDEATHSIG=SIGKILL (die_with_parent below), so it dies with
// its parent. Signals go through a pidfd, so a signal never reaches a
// recycled pid, and the exit is seen through the same pidfd.
//
// Lifetime: the io_context must outlive the Subprocess, and must not be run
// again after the Subprocess is destroyed (queued handlers refer to it).
// Destroying a running child kills it with SIGKILL and reaps it.
//
// Thread safety: none; use from the io_context's thread only.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pjx::testing {

class Subprocess {
 public:
  struct Handlers {
    std::function<void(std::string line)> on_line;  // one stdout line, without "\n"
    std::function<void()> on_eof;                   // stdout closed
    std::function<void(int status)> on_exit;        // exit code, or -signal
  };

  // Where the child's standard streams go.
  struct Options {
    enum class Stdio {
      kPipes,    // stdin and stdout pipes to the caller (Handlers), stderr appended to `file`
      kFile,     // stdin /dev/null, stdout and stderr appended to `file` (a server)
      kInherit,  // the caller's stdin, stdout and stderr
    };
    Stdio stdio = Stdio::kPipes;
    std::filesystem::path file;
    // setsid(): a terminal's SIGINT then reaches only the parent, which
    // stops the child itself.
    bool new_session = false;
    // Not empty: the child joins this network namespace (a /run/netns/NAME
    // entry of `ip netns add`) with setns(2) between fork and exec, so the
    // pid the caller signals is the program itself (no `ip netns exec`
    // between them). Needs CAP_SYS_ADMIN; spawn throws when the namespace
    // cannot be opened or joined.
    std::filesystem::path network_namespace = {};
  };

  // Starts argv[0] (searched in PATH when it holds no '/'). Throws
  // std::runtime_error naming the program and the reason (not found, not
  // executable, exec failed, cannot open the output file).
  // REQUIRES: called on the process's main thread (require_main_thread).
  static std::unique_ptr<Subprocess> spawn(boost::asio::io_context& io,
                                           const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env,
                                           const Options& options, Handlers handlers);
  // Pipes, with stderr appended to `stderr_file` (a worker).
  static std::unique_ptr<Subprocess> spawn(boost::asio::io_context& io,
                                           const std::vector<std::string>& argv,
                                           const std::vector<std::string>& env,
                                           const std::filesystem::path& stderr_file,
                                           Handlers handlers);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  int pid() const;
  // Queues `line` + "\n" for the child's stdin. Writes happen in order.
  void write_line(std::string line);
  // Closes the child's stdin once the lines queued so far are written (at
  // once when none are): the child reads end of input. Later lines are
  // dropped.
  void close_stdin();
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
  explicit Subprocess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// This process's environment as NAME=VALUE entries.
std::vector<std::string> current_environment();

// Runs handlers of `io` until `done()` holds, `deadline` passes (a timer
// wakes the loop then) or `stop()`, when given, holds; returns done(). The
// one event-loop wait of the tests and tools (the harness's pump_until is
// this with its clock's deadline).
bool run_io_until(boost::asio::io_context& io, const std::function<bool()>& done,
                  std::chrono::steady_clock::time_point deadline,
                  const std::function<bool()>& stop = {});

// Every process the tests and tools start calls this between fork and exec:
// the kernel then sends it SIGKILL when its parent dies, so that nothing
// outlives a killed harness or test (SIGKILL, the OOM killer, a CI timeout).
// It closes the classic race: when the parent died before the request took
// effect, getppid() no longer returns `parent` (the forking process's pid,
// read before fork()) and the child exits with 127. Async-signal-safe.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked exits, not the
// process: so processes are started from the main thread only, which lives
// as long as the process does.
void die_with_parent(pid_t parent);

// Throws std::logic_error naming `what` unless the caller is the process's
// main thread (see die_with_parent).
void require_main_thread(const char* what);

// Runs a program to completion and returns its stdout, or nullopt when it
// cannot be started, exits non-zero or does not finish within `timeout_ms`
// (it is killed then). stderr is discarded.
std::optional<std::string> run_for_output(const std::vector<std::string>& argv, int timeout_ms);

}  // namespace pjx::testing
