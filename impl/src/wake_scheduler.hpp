// WakeScheduler: the poll loop's wake rules, as a pure state machine. The
// poll thread (poll_loop.hpp) feeds it what the change watch reported and
// what each poll found, with the time of each (Clock::monotonic() readings),
// and asks it when to wake at the latest and whether to poll now. It reads
// no clock and does no I/O, so its rules, ten-minute memories included, are
// tested by passing times.
//
// Why the listener polls:
//
//   kTimed     poll_interval elapsed since the end of the last poll (the
//              safety net: wakes can be lost).
//   kWake      a -wal write (a commit on its way, from any publisher), or a
//              write that waited kDoorbellGrace for its doorbell in vain.
//   kDoorbell  a publisher rang after its COMMIT returned (I12).
//   kRetry     a -wal wake found nothing visible yet: the writer has written
//              its frames but not yet published the new WAL index header (or
//              is inside fsync). Looked at again at kRetryOffsets from the
//              wake (0.2, 1, 5, 15, 40, 100, 250 ms): on an idle machine the
//              first or second look finds it; on a saturated one the
//              publisher may not run again for tens of milliseconds. Each
//              look costs one read of the WAL-index header
//              (wal_index_probe.hpp), or a PRAGMA data_version where the
//              header cannot be read.
//
// How the listener treats -wal writes, given what it heard (Listen):
//
//   kWrites    no doorbell heard for kDoorbellMemory (upstream publishers,
//              or ours with the doorbell off): a write wakes a poll at once,
//              re-polled as above when the commit is not visible yet.
//   kBells     doorbells heard, and no commit without one seen for
//              kBelllessMemory: writes raise no event at all; only doorbells
//              wake. Listeners then stay asleep while a publisher writes its
//              commit, instead of waking on its first frame, finding
//              nothing, and taking the CPU from it (with 16 listeners on 2
//              cores, a millisecond or more).
//   kMixed     doorbells heard, but also, within kBelllessMemory, a commit
//              that came without one (a timed poll delivered rows): an
//              upstream publisher shares the file. A write waits
//              kDoorbellGrace for a doorbell, then polls (and re-polls) as in
//              kWrites.
//
// The cost of kBells: a non-ringing publisher's commit waits for the timed
// poll (the documented bound, poll_interval), which then moves the listener
// to kMixed for kBelllessMemory. So in a deployment that mixes upstream
// publishers with ours, the first upstream commit after ten quiet minutes is
// delivered by polling, the rest by wakes.
//
// Thread safety: none; the poll thread owns its scheduler.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>

#include "pjx/sqlite_backend.hpp"

namespace pjx::detail {

enum class Listen { kWrites, kBells, kMixed };
enum class PollReason { kNone, kDoorbell, kWake, kRetry, kTimed };

// What one poll found, as the scheduler needs it.
struct PollOutcome {
  std::size_t delivered = 0;
  bool skipped = false;  // header or data_version unchanged: no commit visible since the last poll
};

// What the change watch reported (ChangeWatcher::Events).
struct WatchEvents {
  bool data = false;      // the database or its -wal file was written
  bool doorbell = false;  // a publisher rang
};

class WakeScheduler {
 public:
  using Time = std::chrono::nanoseconds;  // a Clock::monotonic() reading

  static constexpr auto kDoorbellMemory = std::chrono::minutes(10);
  static constexpr auto kBelllessMemory = std::chrono::minutes(10);
  static constexpr auto kDoorbellGrace = std::chrono::microseconds(1000);
  static constexpr std::chrono::microseconds kRetryOffsets[] = {
      std::chrono::microseconds(200),   std::chrono::microseconds(1000),  std::chrono::microseconds(5000),
      std::chrono::microseconds(15000), std::chrono::microseconds(40000), std::chrono::microseconds(100000),
      std::chrono::microseconds(250000)};
  static constexpr Time kNoDeadline = Time::max();

  // The first timed poll is due at now + poll_interval.
  WakeScheduler(Time poll_interval, Time now);

  // When the poll thread must wake at the latest: the timed poll, the next
  // re-poll, or the end of a -wal write's doorbell grace.
  Time next_deadline() const;

  // The thread woke at `now`, with `events` when the watch reported some.
  // Returns why to poll now, or kNone to wait again (a wake about another
  // file, an early return, a write that waits for its doorbell).
  PollReason decide(const std::optional<WatchEvents>& events, Time now);

  // The poll decided at `woke` (decide()) ended at `now` with `outcome`:
  // re-polls are scheduled or cancelled, a commit that came without a
  // doorbell is remembered, and the next timed poll is due at now +
  // poll_interval.
  void on_poll_done(PollReason why, const PollOutcome& outcome, Time woke, Time now);

  // What the watch should listen for at `now`, given what was heard.
  Listen wanted(Time now) const;
  // What the watch listens for (set by the poll thread once it is set up).
  Listen listening() const noexcept { return listening_; }
  void set_listening(Listen listen) noexcept { listening_ = listen; }
  // The watch is gone: no write waits for its doorbell any more.
  void on_watch_broken() noexcept { data_check_at_ = kNoDeadline; }

  // True when a poll for `why` that found nothing was an empty wake.
  static bool empty_wake(PollReason why, const PollOutcome& outcome) noexcept;
  static WakeMode mode_of(Listen listen) noexcept;
  // Whether the watch must report -wal writes when listening so.
  static bool watches_writes(Listen listen) noexcept { return listen != Listen::kBells; }

 private:
  static constexpr std::size_t kNoRetry = std::size(kRetryOffsets);

  const Time interval_;
  Time next_timed_;
  std::size_t retry_ = kNoRetry;  // the next re-poll's offset, or kNoRetry
  Time wake_at_{};                // the -wal wake the re-polls count from
  // (Plain values, not std::optional: GCC 12 warns falsely about it here.)
  bool bell_ever_ = false, bellless_ever_ = false;
  Time bell_heard_{};     // the last doorbell, when bell_ever_
  Time bellless_seen_{};  // the last commit found without one, when bellless_ever_
  Time data_check_at_ = kNoDeadline;  // a write waiting for its doorbell (kMixed)
  Listen listening_ = Listen::kWrites;
};

}  // namespace pjx::detail
