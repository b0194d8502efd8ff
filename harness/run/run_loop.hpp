// RunLoop: the event loop and the history of one scenario run.
//
// One thread drives a run. The asio handlers that read worker output run
// inside pump_until(), on that thread, which alone appends to the history:
// the history has one writer. SIGINT and SIGTERM are caught while a RunLoop
// lives: the next pump_until() then throws Abort{"error", ...}, so the run
// ends through its teardown (workers continued and stopped, locks released,
// mounts undone) instead of the signal killing the harness. Once
// begin_teardown() is called, an interruption no longer throws: the teardown
// must finish.
//
// Lifetime: everything that queues handlers on io() (pjx::testing::Subprocess) must be
// destroyed before the RunLoop.
//
// Thread safety: none; one thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "check/history.hpp"

namespace pjx::harness {

// The run cannot go on: `kind` is "skip" (a facility the scenario needs is
// missing) or "error"; `reason` says why. Thrown by the steps of a run and
// recorded as the history's `skip` or `error` record.
struct Abort {
  std::string kind;
  std::string reason;
};

class RunLoop {
 public:
  // Creates the history file (HistoryWriter: throws std::runtime_error when
  // it cannot) and starts catching SIGINT and SIGTERM.
  explicit RunLoop(const std::filesystem::path& history_file);
  ~RunLoop();
  RunLoop(const RunLoop&) = delete;
  RunLoop& operator=(const RunLoop&) = delete;

  boost::asio::io_context& io() { return io_; }

  // Appends `r` to the history, with "t" = now unless it has one.
  void record(Json r);
  void phase(const std::string& name);
  void note(const std::string& message);
  void probe(const std::string& what, bool ok, Json value, Json detail = Json::object());

  // Runs handlers until `done()` holds or the monotonic clock passes
  // `deadline_ns`; returns done(). Throws Abort when a signal arrived and
  // the teardown has not begun.
  bool pump_until(const std::function<bool()>& done, std::int64_t deadline_ns);
  void pump_for(std::int64_t ns);

  void begin_teardown() { teardown_started_ = true; }
  // Stops catching signals (the default actions apply again).
  void stop_catching_signals();
  bool interrupted() const { return interrupted_; }
  int interrupt_signal() const { return interrupt_signal_; }  // SIGINT or SIGTERM, once interrupted

  const HistoryWriter& history() const { return *history_; }

 private:
  // Declared first so that it is destroyed last.
  boost::asio::io_context io_;
  std::unique_ptr<HistoryWriter> history_;
  boost::asio::signal_set signals_;
  bool interrupted_ = false;
  int interrupt_signal_ = 0;
  bool teardown_started_ = false;
};

}  // namespace pjx::harness
