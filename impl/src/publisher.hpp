// Publisher: publish() from any thread, as group commits on the writer's
// connection (event_writer.hpp), behind the outbox when events wait there
// (outbox.hpp).
//
//  I13. Group commit. Publishes from several threads of one backend that
//       arrive while a commit is under way wait in a FIFO of tickets; the
//       first of them to find no commit under way (the leader) takes up to
//       kMaxGroup waiting events and commits them in one transaction (I7), in
//       arrival order, each its own row, stamped with one created_at. Every
//       publish still returns only with its own outcome (I10): committed,
//       queued (the whole group is queued, in order, when the commit failed
//       for a transient reason or the outbox was not empty) or failed, and
//       the group shares its fate because it is one transaction. A thread
//       publishing alone commits its event alone. The doorbell (I12) is rung
//       once per group, by its leader, after the group is done and the
//       leader's role released (a warning sink may publish). Nothing between
//       taking the role and releasing it can throw out of it.
//
// Locks: group_mu_ guards the tickets and is never held while another lock
// is taken; the leader then takes the writer's lock, and under it the
// outbox's.
//
// Thread safety: publish() is thread-safe.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <span>
#include <string>

#include "event_writer.hpp"
#include "outbox.hpp"
#include "pjx/sqlite_backend.hpp"

namespace pjx::detail {

class BackendContext;
class Doorbell;

// Most events one group commit writes: bounds how long the write lock is
// held (a row costs a few microseconds) and the memory of one commit.
constexpr std::size_t kMaxGroup = 128;

class Publisher {
 public:
  Publisher(BackendContext& ctx, EventWriter& writer, Outbox& outbox, Doorbell& doorbell);
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  // SqliteInvalidationBackend::publish_result() after the fork check.
  PublishResult publish(const KeySet& keys);

 private:
  // A publish waiting for, or taking part in, a group commit. Lives on its
  // publisher's stack; the leader fills in the outcome under the writer's
  // lock and then sets `done` under group_mu_, which the owner waits for.
  struct Ticket {
    enum class Outcome { kPending, kCommitted, kQueued, kFailed, kConfigFailed };
    std::string keys_json;
    std::size_t key_count = 0;
    Outcome outcome = Outcome::kPending;
    bool rings = false;   // the group committed and this is its leader's ticket: ring the doorbell
    std::string message;  // kQueued: the warning to pass on ("" for none); failures: the error
    int code = 0;         // kFailed: the SQLite extended result code, or 0
    bool done = false;    // guarded by group_mu_
    // Wakes this ticket's thread alone: when its group is done, or when it
    // is at the front with no commit under way (it leads next). One
    // condition variable per ticket, so a finished group wakes its members
    // and the next leader, not every waiting thread.
    std::condition_variable cv;
  };

  // Queues the ticket, waits until its group is done, leading a group when
  // at the front with no commit under way. Never throws once queued.
  void take_part(Ticket& ticket);
  // The leader's part: takes the group, commits it, hands out the outcomes.
  // REQUIRES: `g` holds group_mu_, `ticket` at the front, no leader.
  void lead(Ticket& ticket, std::unique_lock<std::mutex>& g) noexcept;
  // Turns a finished ticket into publish()'s result or exception.
  PublishResult finish(Ticket& ticket);
  // Commits the group in one transaction, or queues all of it (after a
  // transient failure, or behind queued events), or fails all of it; the
  // outcome goes to every ticket, never thrown. REQUIRES: the writer's lock
  // held (`writer`).
  void commit_group(EventWriter::Locked& writer, std::span<Ticket* const> group) noexcept;
  // Every ticket of the group fails with `message` (counted once each).
  void fail_all(std::span<Ticket* const> group, Ticket::Outcome outcome, const std::string& message,
                int code) noexcept;
  // Queues a ticket's event and sets its outcome (kQueued with `warning`,
  // or kFailed when the outbox refuses it). REQUIRES: `outbox` locked.
  void enqueue_ticket(Outbox::Locked& outbox, Ticket& ticket, const std::string& cause,
                      const std::string& warning) noexcept;

  BackendContext& ctx_;
  EventWriter& writer_;
  Outbox& outbox_;
  Doorbell& doorbell_;

  std::mutex group_mu_;
  std::deque<Ticket*> group_waiting_;  // guarded by group_mu_; FIFO; the front leads next
  bool group_leader_ = false;          // guarded by group_mu_: a thread is committing a group
  std::size_t last_group_size_ = 1;    // guarded by group_mu_
};

}  // namespace pjx::detail
