// ChildProcess: a worker process under test, spoken to over pipes (its stdin
// and stdout), for the worker's tests. A synchronous face on the project's
// one way to start a program (pjx::testing::Subprocess, impl/test_support):
// each call runs the Subprocess's event loop until it has what it waits for
// or its timeout passes, so a silent or dead child fails a test instead of
// hanging it. The child's stderr goes to the test's own stderr, so that it
// shows in the test log. The destructor closes stdin, waits a few seconds
// for the child to exit, then kills it.
//
// Thread safety: none; one test thread uses an object.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "subprocess.hpp"

namespace pjx::harness::testing {

class ChildProcess {
 public:
  // Environment changes: a value sets the variable, nullopt removes it.
  using EnvChanges = std::map<std::string, std::optional<std::string>>;

  // Starts argv[0] with the current environment plus `env`. Throws
  // std::runtime_error naming the program when it cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const EnvChanges& env);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return proc_->pid(); }

  // Writes `line` and '\n' to the child's stdin (within a few seconds).
  // Returns false if it failed: the child closed stdin or died.
  bool send_line(std::string_view line);
  bool send(const nlohmann::json& op) { return send_line(op.dump()); }
  void close_stdin();

  // The next line of stdout (without '\n'), or nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);

  // Reads events until one satisfies `pred` and returns it; returns nullopt
  // on EOF or timeout. Lines that are not JSON objects fail the predicate.
  // Every event read is also appended to seen().
  std::optional<nlohmann::json> wait_event(const std::function<bool(const nlohmann::json&)>& pred,
                                           std::chrono::milliseconds timeout);
  // Shorthand: the next event whose "ev" is `ev`.
  std::optional<nlohmann::json> wait_ev(std::string_view ev, std::chrono::milliseconds timeout);

  const std::vector<nlohmann::json>& seen() const { return seen_; }

  // Waits for the child to exit; returns its exit status, or -signal, or
  // nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);

 private:
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  boost::asio::io_context io_;
  std::deque<std::string> lines_;  // stdout lines not read yet
  std::unique_ptr<pjx::testing::Subprocess> proc_;
  std::vector<nlohmann::json> seen_;
};

}  // namespace pjx::harness::testing
