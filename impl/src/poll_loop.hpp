// PollLoop: the poll thread of a started listener. It sleeps in ppoll() on
// the stop eventfd and the change watch until the WakeScheduler's next
// deadline (wake_scheduler.hpp has the wake rules), polls through the
// listener's poll function, feeds the outcome back, and sets the watch up
// for what the scheduler wants (-wal writes or doorbells only).
//
// The watch is a hint: when it cannot be set up or breaks, the loop warns,
// counts it (wake_failures) and goes on with timed polls alone.
//
// Time: the loop reads `clock` (Clock::monotonic()) for its deadlines and
// sleeps through them in ppoll(), in real time. The backend passes the real
// clock, also when SqliteOptions::clock is a ManualClock: timed polls then
// keep happening every poll_interval of real time, as the tests that use a
// ManualClock for created_at and stalls expect.
//
// Thread safety: run() on the poll thread; everything else is set up before.
#pragma once

#include <atomic>
#include <functional>
#include <memory>

#include "change_watcher.hpp"
#include "pjx/clock.hpp"
#include "wake_scheduler.hpp"

namespace pjx::detail {

class BackendContext;

// A change watch on the database's directory, or nullptr when wakes are off
// (wake_on_change) or inotify cannot be used (warned, counted). Sets the
// wake_active and wake_mode gauges.
std::unique_ptr<ChangeWatcher> make_watcher(BackendContext& ctx);

class PollLoop {
 public:
  // `poll` runs one poll (Listener::poll_once); it throws BackendError for a
  // failed poll. `stop_fd` is readable once `running` is false.
  PollLoop(BackendContext& ctx, const Clock& clock, std::unique_ptr<ChangeWatcher> watcher, int stop_fd,
           const std::atomic<bool>& running, std::function<PollOutcome()> poll);

  // Runs until `running` is false; then drops the watch (wake gauges reset).
  void run();

 private:
  WakeScheduler::Time now() const { return clock_.monotonic(); }
  // Sleeps until the scheduler's deadline, a watch event or stop_fd.
  // Returns whether the watch has events to read.
  bool wait();
  // Reads the watch's events; nullopt when it broke (warned, counted).
  std::optional<WatchEvents> read_events();
  // Sets the watch up for what the scheduler wants now.
  void update_listening();
  void watch_broke(const std::system_error& e);
  // Counts a poll by its reason (timed_polls, wakes, doorbell_wakes, wake_retries).
  void count_poll(PollReason why);
  // Runs one poll; a failed one is warned about and retried later (I6).
  PollOutcome poll_once();

  BackendContext& ctx_;
  const Clock& clock_;
  std::unique_ptr<ChangeWatcher> watcher_;
  const int stop_fd_;
  const std::atomic<bool>& running_;
  const std::function<PollOutcome()> poll_;
  WakeScheduler scheduler_;
};

}  // namespace pjx::detail
