// EventWriter: the publisher's connection and its write transaction, shared
// by the group commit (publisher.cpp) and the outbox's retries (outbox.cpp).
//
//   I7. A commit is one write transaction: insert the row of each event in
//       its group (I13; one row when a single thread publishes), then prune
//       rows of every channel with created_at < now - retention (at most
//       prune_limit of them, oldest first; later commits prune the rest).
//       All of it happens or none of it does. `now` is read after the write
//       lock is taken, so created_at follows commit order (also for an event
//       committed from the outbox: it is stamped when it commits).
//   I9 (publisher). Every commit first checks that the file at the path is
//       the one the connection opened (one stat(2)); when it was replaced or
//       deleted, the connection is reopened on the file now at the path (a
//       new one is created if it was deleted), so a publish never writes to
//       a file that is no longer at the path. The listener reopens it too
//       when it notices a replaced file (listener.cpp).
//  I11 (trigger). This connection never checkpoints inside a commit: its WAL
//       hook replaces SQLite's auto-checkpoint and asks for a background
//       checkpoint once the WAL holds checkpoint_pages pages
//       (checkpointer.hpp).
//
// Thread safety: every operation runs under the writer's lock, taken by
// lock(); the returned Locked is the only way to reach the connection.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>

#include "event_log.hpp"
#include "file_identity.hpp"

namespace pjx::detail {

class BackendContext;

class EventWriter {
 public:
  // `on_wal_full` is called on the committing thread, the lock held, after
  // a commit that left checkpoint_pages or more pages in the WAL (never when
  // checkpoint_pages is 0). It must not throw: the commit has happened.
  EventWriter(BackendContext& ctx, std::function<void()> on_wal_full);
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // The writer's lock and what may be done holding it.
  class Locked {
   public:
    // Opens the connection when it is not open, or when the file at the
    // path is no longer the one it has open (I9). Throws as open_current().
    void ensure_open();
    // One write transaction for the events (I7). REQUIRES: ensure_open()
    // succeeded, events not empty. Throws BackendError; rolled back then.
    void commit(std::span<const std::string_view> events);
    // True when a failure is worth retrying: is_transient(), except
    // SQLITE_FULL caused by AUTOINCREMENT having issued the largest id
    // (permanent; SQLite reports it as SQLITE_FULL too).
    bool retryable(int code);
    // True when an event already queued in the outbox stays queued after a
    // retry failed with `code`: retryable(), or a database this process
    // cannot write or open now (SQLITE_READONLY: a read-only mount or file;
    // SQLITE_CANTOPEN: a missing file in a read-only or missing directory).
    // An operator fixes those without restarting the workers, and the
    // caller was told the event would be committed; outbox_capacity and the
    // stop drain bound the wait. A first attempt that meets them fails
    // instead: its caller learns it at once.
    bool keeps_queued(int code);
    // After a failed commit: a connection that failed with anything but
    // SQLITE_BUSY (an I/O error, or SQLITE_READONLY from a connection SQLite
    // opened read-only because the file's mount was) is not trusted further
    // and is reopened by the next ensure_open().
    void distrust_after(int code);
    // Closes the connection (the next ensure_open() reopens it).
    void close();

   private:
    friend class EventWriter;
    explicit Locked(EventWriter& owner) : owner_(owner), lock_(owner.mu_) {}
    EventWriter& owner_;
    std::lock_guard<std::mutex> lock_;
  };
  Locked lock() { return Locked(*this); }

 private:
  // sqlite3_wal_hook callback: the WAL's size in pages after a commit.
  static int on_wal_commit(void* self, sqlite3* db, const char* schema, int pages);

  BackendContext& ctx_;
  const std::function<void()> on_wal_full_;
  std::mutex mu_;
  std::unique_ptr<EventLog> writer_;     // guarded by mu_
  std::optional<FileId> writer_file_;    // guarded by mu_: the file writer_ opened
};

// Failures that may go away by themselves: another process holds a lock, the
// disk is full or briefly failing, the file was replaced during the write.
// Read-only, corrupt or mismatched files do not.
bool is_transient(int code);

}  // namespace pjx::detail
