// Progress of a run on the terminal: one line per scenario ("[3/24] fanout
// ... pass (4.2 s, quick)") and, within a long scenario, a line every
// period with the workload's elapsed time, the time it has left and the
// events recorded so far, so that a run under `--timing documented` is not
// minutes of silence.
//
//   ProgressLog   what main prints: begin(label), report(...), end(outcome).
//                 Pure formatting over a stream; not thread-safe (one run at
//                 a time writes to it).
//   ProgressTicker  what the runner holds while its workload runs: a timer
//                 on the runner's io_context that calls ProgressLog::report
//                 every period. It fires only while the runner pumps that
//                 io_context (which is how the runner waits), on the
//                 runner's thread, so it needs no lock.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

namespace pjx::harness {

class ProgressLog {
 public:
  // Lines go to `out`; within a scenario, a report is printed at most every
  // `period` (the ticker's period).
  explicit ProgressLog(std::ostream& out,
                       std::chrono::milliseconds period = std::chrono::seconds(10));

  std::chrono::milliseconds period() const { return period_; }

  // A scenario starts: prints "<label> ... " (no newline yet).
  void begin(std::string label);
  // Within the scenario: "    workload 20 s of 60 s, about 40 s left, 1234
  // events so far" on a line of its own (the first report ends the begin()
  // line first).
  void report(double elapsed_s, double planned_s, std::size_t events);
  // The scenario ended: "<outcome>" on the begin() line, or, after reports,
  // "<label>: <outcome>" on a line of its own.
  void end(const std::string& outcome);

 private:
  std::ostream& out_;
  std::chrono::milliseconds period_;
  std::string label_;
  bool reported_ = false;
};

// The text of one report line (without indentation or newline).
std::string progress_text(double elapsed_s, double planned_s, std::size_t events);

class ProgressTicker {
 public:
  // Reports to `log` (nothing when null) every log->period() from now, as
  // time since `t0_ns` (monotonic) against `planned_ns`, with `events()`.
  ProgressTicker(boost::asio::io_context& io, ProgressLog* log, std::int64_t t0_ns,
                 std::int64_t planned_ns, std::function<std::size_t()> events);
  // Cancels the timer; a handler still queued does nothing.
  ~ProgressTicker();

  ProgressTicker(const ProgressTicker&) = delete;
  ProgressTicker& operator=(const ProgressTicker&) = delete;

 private:
  struct State;
  static void arm(const std::shared_ptr<State>& state, boost::asio::steady_timer* timer);

  // The timer is the ticker's, so it is gone before the io_context; a
  // handler still queued holds only the state, whose `active` is then false.
  std::unique_ptr<boost::asio::steady_timer> timer_;
  std::shared_ptr<State> state_;
};

}  // namespace pjx::harness
