// ChildProcess: a worker process under test, spoken to over pipes (its stdin
// and stdout); its stderr is inherited so that it shows in the test log.
//
// Every read takes a timeout and uses poll(2), so a silent or dead child
// fails a test instead of hanging it. The destructor closes stdin, waits a
// few seconds for the child to exit, then kills it.
//
// Thread safety: none; one test thread uses an object.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pjx::harness::testing {

class ChildProcess {
 public:
  // Environment changes: a value sets the variable, nullopt removes it.
  using EnvChanges = std::map<std::string, std::optional<std::string>>;

  // Starts argv[0] (a path) with the current environment plus `env`.
  // Throws std::system_error when the process cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const EnvChanges& env);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Writes `line` and '\n' to the child's stdin. Returns false if it failed.
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
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
  std::optional<int> status_;
  std::vector<nlohmann::json> seen_;
};

}  // namespace pjx::harness::testing
