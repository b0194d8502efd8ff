#include "run_loop.hpp"

#include <csignal>
#include <utility>

#include "event_loop.hpp"

namespace pjx::harness {

RunLoop::RunLoop(const std::filesystem::path& history_file)
    : history_(std::make_unique<HistoryWriter>(history_file)), signals_(io_, SIGINT, SIGTERM) {
  signals_.async_wait([this](const boost::system::error_code& error, int signal) {
    if (error) return;
    interrupted_ = true;
    interrupt_signal_ = signal;
  });
}

RunLoop::~RunLoop() { stop_catching_signals(); }

void RunLoop::stop_catching_signals() {
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  signals_.clear(ignored);
}

void RunLoop::record(Json r) {
  if (!r.contains("t")) r["t"] = monotonic_ns();
  history_->append(std::move(r));
}

void RunLoop::phase(const std::string& name) { record({{"type", "phase"}, {"name", name}}); }

void RunLoop::note(const std::string& message) { record({{"type", "note"}, {"message", message}}); }

void RunLoop::probe(const std::string& what, bool ok, Json value, Json detail) {
  record({{"type", "probe"},
          {"what", what},
          {"ok", ok},
          {"value", std::move(value)},
          {"detail", std::move(detail)}});
}

bool RunLoop::pump_until(const std::function<bool()>& done, std::int64_t deadline_ns) {
  const bool ok = harness::pump_until(io_, done, deadline_ns, [this] { return interrupted_; });
  if (interrupted_ && !teardown_started_) {
    throw Abort{"error", "interrupted by a signal (SIGINT or SIGTERM)"};
  }
  return ok;
}

void RunLoop::pump_for(std::int64_t ns) {
  pump_until([] { return false; }, monotonic_ns() + ns);
}

}  // namespace pjx::harness
