// ChildProcess: see child_process.hpp.
#include "child_process.hpp"

#include <csignal>
#include <utility>

namespace pjx::harness::testing {

namespace {
using SteadyClock = std::chrono::steady_clock;
constexpr std::chrono::seconds kWriteDeadline{5};
constexpr std::chrono::seconds kExitWait{5};
}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const EnvChanges& env) {
  // A child that exits early must fail send(), not kill the test with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::map<std::string, std::string> vars;
  for (const std::string& entry : pjx::testing::current_environment()) {
    const std::size_t eq = entry.find('=');
    if (eq != std::string::npos) vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const auto& [name, value] : env) {
    if (value) {
      vars[name] = *value;
    } else {
      vars.erase(name);
    }
  }
  std::vector<std::string> environment;
  for (const auto& [name, value] : vars) environment.push_back(name + "=" + value);
  pjx::testing::Subprocess::Handlers handlers;
  handlers.on_line = [this](std::string line) { lines_.push_back(std::move(line)); };
  // stderr appended to the test's own (reopened through /dev/stderr).
  proc_ = pjx::testing::Subprocess::spawn(io_, argv, environment, "/dev/stderr", std::move(handlers));
}

ChildProcess::~ChildProcess() {
  close_stdin();
  if (!wait_exit(kExitWait)) {
    proc_->signal(SIGKILL);
    wait_exit(kExitWait);
  }
}

bool ChildProcess::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  return pjx::testing::run_io_until(io_, done, SteadyClock::now() + timeout);
}

bool ChildProcess::send_line(std::string_view line) {
  if (proc_->write_failed()) return false;
  proc_->write_line(std::string(line));
  run_until([this] { return !proc_->writing() || proc_->write_failed(); }, kWriteDeadline);
  return !proc_->writing() && !proc_->write_failed();
}

void ChildProcess::close_stdin() { proc_->close_stdin(); }

std::optional<std::string> ChildProcess::read_line(std::chrono::milliseconds timeout) {
  run_until([this] { return !lines_.empty() || proc_->eof(); }, timeout);
  if (lines_.empty()) return std::nullopt;
  std::string line = std::move(lines_.front());
  lines_.pop_front();
  return line;
}

std::optional<nlohmann::json> ChildProcess::wait_event(
    const std::function<bool(const nlohmann::json&)>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    std::optional<std::string> line = read_line(std::max(left, std::chrono::milliseconds(0)));
    if (!line) return std::nullopt;
    nlohmann::json event = nlohmann::json::parse(*line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) continue;
    seen_.push_back(event);
    if (pred(event)) return event;
  }
}

std::optional<nlohmann::json> ChildProcess::wait_ev(std::string_view ev, std::chrono::milliseconds timeout) {
  return wait_event([ev](const nlohmann::json& e) { return e.value("ev", std::string()) == ev; }, timeout);
}

std::optional<int> ChildProcess::wait_exit(std::chrono::milliseconds timeout) {
  run_until([this] { return proc_->exited(); }, timeout);
  if (!proc_->exited()) return std::nullopt;
  return proc_->status();
}

}  // namespace pjx::harness::testing
