// Outbox: publishes that could not commit for a transient reason, kept in
// order and committed by a background thread; the same thread runs the
// checkpoints (checkpointer.hpp).
//
//  I10. No lost publish. publish_result() returns kCommitted after its
//       commit (I7), or kQueued after appending the event to the outbox, or
//       throws having done neither; the caller learns which. An event is
//       queued when its commit failed for a transient reason (busy past
//       busy_timeout, I/O error, full disk) or when the outbox was not empty
//       (so the outbox is FIFO and commits happen in publish order; checked
//       again under the writer's lock, which every commit holds:
//       publisher.cpp). Only the background thread commits queued events,
//       front first, and removes an event only after its commit (under the
//       writer's lock). The outbox never holds more than outbox_capacity
//       events: a publish that finds it full throws. Every queued event ends
//       committed (outbox_committed) or dropped with a warning
//       (outbox_dropped: a non-transient error on retry, or stop()'s drain
//       ran out of outbox_drain_timeout).
//
// Background thread (one per backend, started when first needed: an event
// queued or a checkpoint wanted; joined by drain_and_stop()):
//
//   [idle] --event queued--> [retrying: commit the front event (I10)]
//   [retrying] --committed--> next event, or [idle] when the outbox is empty
//   [retrying] --transient failure--> [backoff 10 ms .. 500 ms] --> [retrying]
//   [retrying] --non-transient failure--> drop the event (warn, count) --> next
//   [idle|backoff] --checkpoint wanted (I11)--> [checkpointing] --> back
//   [any] --drain_and_stop(): drain--> [draining: retry at once, busy waits
//         cut at the drain deadline] --outbox empty or deadline--> [exited];
//         the rest is dropped (warn, count)
//
// Locks: the outbox's lock (bg_mu_) is taken after the writer's lock when
// both are held, never before it.
//
// Thread safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "pjx/sqlite_backend.hpp"

namespace pjx::detail {

class BackendContext;
class Checkpointer;
class Doorbell;
class EventWriter;

class Outbox {
 public:
  Outbox(BackendContext& ctx, EventWriter& writer, Doorbell& doorbell, Checkpointer& checkpointer);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // The outbox's lock and what may be done holding it.
  class Locked {
   public:
    bool empty() const noexcept { return owner_.outbox_.empty(); }
    std::size_t size() const noexcept { return owner_.outbox_.size(); }
    // Appends an event and returns kQueued, starting the background thread
    // if needed. Throws BackendError (counted in publish_failures, recorded)
    // when the outbox is full (also counted in outbox_overflows; the message
    // names outbox_capacity and `cause`) or the thread cannot start.
    // REQUIRES: outbox_capacity > 0.
    PublishResult enqueue(std::string keys_json, std::size_t key_count, const std::string& cause);

   private:
    friend class Outbox;
    explicit Locked(Outbox& owner) : owner_(owner), lock_(owner.bg_mu_) {}
    Outbox& owner_;
    std::lock_guard<std::mutex> lock_;
  };
  Locked lock() { return Locked(*this); }

  // Asks the background thread for a checkpoint unless the checkpointer
  // rests (I11). Called by the writer's WAL hook, the writer's lock held.
  // Never throws (a thread that cannot start is recorded as the last error).
  void request_checkpoint() noexcept;

  // Events waiting now (SqliteStats::outbox_depth).
  std::size_t depth() const;
  // True on the background thread (a warning sink called from there).
  bool on_background_thread() const noexcept;

  // Retries the outbox for up to outbox_drain_timeout, stops the background
  // thread and drops what is left (warned, counted). The thread starts again
  // when next needed. REQUIRES: not called on the background thread.
  void drain_and_stop();

 private:
  struct QueuedEvent {
    std::string keys_json;
    std::size_t key_count = 0;
  };
  // Starts the background thread unless it runs. REQUIRES: bg_mu_ held.
  void ensure_background_locked();
  void background_loop();
  // One retry of the front event, with bg_mu_ released around it (`lock`
  // is held on entry and on return). True when it made progress.
  bool retry_unlocked(std::unique_lock<std::mutex>& lock);
  // Commits the front event; false after a transient failure. A dropped
  // event's warning goes to `warning`, for the caller to pass on once it
  // holds no lock; `committed` says whether it was committed (true) or
  // dropped.
  bool retry_front(std::string* warning, bool* committed);
  // Drops what drain_and_stop() could not commit. Returns the warning, or "".
  // REQUIRES: bg_mu_ held, the thread joined.
  std::string drop_rest_locked();

  BackendContext& ctx_;
  EventWriter& writer_;
  Doorbell& doorbell_;
  Checkpointer& checkpointer_;

  mutable std::mutex bg_mu_;
  std::condition_variable bg_cv_;       // wakes the background thread
  std::condition_variable drained_cv_;  // the outbox became empty
  std::deque<QueuedEvent> outbox_;      // guarded by bg_mu_; FIFO
  std::thread bg_thread_;               // guarded by bg_mu_
  std::atomic<std::thread::id> bg_thread_id_{};  // the background thread, once it runs
  bool bg_exit_ = false;                // guarded by bg_mu_: the thread is asked to exit
  bool draining_ = false;               // guarded by bg_mu_: drain_and_stop() waits for the outbox
  bool checkpoint_wanted_ = false;      // guarded by bg_mu_
};

}  // namespace pjx::detail
