// Clock: the only way pjx-inval reads time, so that tests can move it.
//
// Wall time (UNIX seconds) stamps `created_at` and decides what is pruned; it
// can step (NTP, manual change). Monotonic time measures polling and stalls;
// it never steps. SystemClock reads the real clocks; ManualClock only moves
// when a test moves it.
//
// Thread safety: implementations must be safe to call from several threads.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace pjx {

class Clock {
 public:
  virtual ~Clock() = default;
  // Seconds since the UNIX epoch, as Python's time.time().
  virtual double wall_seconds() const = 0;
  // A monotonic reading that also counts time the machine was suspended
  // (CLOCK_BOOTTIME on Linux), so that a stall across a suspend is seen.
  virtual std::chrono::nanoseconds monotonic() const = 0;

  // The process-wide real clock.
  static std::shared_ptr<const Clock> system();
};

// A clock for tests: starts at the given readings and moves only through
// advance() and step_wall().
class ManualClock final : public Clock {
 public:
  explicit ManualClock(double wall_seconds = 1'700'000'000.0,
                       std::chrono::nanoseconds monotonic = std::chrono::seconds(1000));
  double wall_seconds() const override;
  std::chrono::nanoseconds monotonic() const override;

  // Moves both clocks forward by `d`.
  void advance(std::chrono::nanoseconds d);
  // Steps only the wall clock, by `seconds` (may be negative), as NTP would.
  void step_wall(double seconds);

 private:
  std::atomic<double> wall_;
  std::atomic<std::int64_t> mono_ns_;
};

}  // namespace pjx
