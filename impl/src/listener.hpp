// Listener: start(), stop(), poll_now() and one poll: the file check (I9),
// the snapshot read (snapshot_reader.hpp), the gap rule (gap_rule.hpp) and
// delivery to the handlers. Its thread is a PollLoop (poll_loop.hpp).
//
// Cursor rules and invariants (numbered; tests name them):
//   I1. While listening, the cursor only increases, except when the ids fell
//       below it (I14, gap_rule.hpp) or the file was replaced (I9).
//   I2. start() seeds the cursor at the highest id ever issued, read with
//       PRAGMA data_version in one snapshot (snapshot_reader.hpp), so rows
//       committed before start() returns are never replayed and rows
//       committed after are delivered. start() returns after seeding. Also
//       after stop(): start() first reopens the listener's connection when
//       the file at the path is no longer the one it has open (replaced or
//       deleted while stopped), seeds from the file now at the path and
//       flushes nothing (a restart, like a first start, begins at now).
//   I3. A poll reads, in one read transaction, the rows with id > cursor of
//       its own channel written by other instances, in id order, and the
//       highest id issued. A row is handed to the handler at most once per
//       listener: the cursor passes a row before its handler runs. After the
//       batch the cursor moves to the highest id issued in that snapshot
//       (rows of other channels and our own rows need no delivery).
//   I4. A malformed row (keys_json not a JSON array of strings) is skipped,
//       counted and warned about; it never stops the rows after it.
//   I5. A handler that throws is counted and warned about, and the
//       FlushHandler is called (kHandlerError): the row's keys may not have
//       been evicted, and the cursor has passed it. The rest of its batch is
//       still delivered.
//   I6. A failed poll (busy past the timeout, I/O error) changes nothing; it
//       is counted and the next interval retries.
//   I9. Every poll first checks that the file at the path is the one the
//       listener opened (device and inode, file_identity.hpp). When it was
//       replaced or deleted, both connections are reopened on the file now
//       at the path (a new one is created if it was deleted), the
//       FlushHandler is called (invalidations written to the old file in the
//       meantime are lost to this listener), and the new file is read from
//       its first row, so rows committed to it before the switch was noticed
//       are still delivered. The change watch and the doorbell (I12) use the
//       path resolved once at construction: after a symlink is pointed
//       elsewhere they stay with the first target, and delivery falls back
//       to the timed poll until the backend is built again. (A file replaced
//       while the old -wal/-shm stay beside it is read by SQLite through the
//       old WAL, by every process; replace a database with its sidecars.)
//  I15. No handler or flush handler runs after stop() returns (unless stop()
//       was called from one of them, or from the warning sink during a poll:
//       then it only asks the listener to stop). stop() clears `running`,
//       joins the poll thread, then takes poll_mu_ once: a poll_now() under
//       way on another thread finishes first, and a poll that takes poll_mu_
//       later sees `running` false and returns at once. Everything a poll
//       calls out to runs marked as inside the poll (InHandler), so a stop()
//       or poll_now() from there never waits for poll_mu_, which the poll
//       holds.
//
// Poller states (one thread per started listener):
//
//   [stopped] --start()--> [starting: open, seed cursor (I2)] --> [waiting]
//   [waiting] --poll_interval elapsed, a change wake (a doorbell, or a -wal
//             write: wake_scheduler.hpp), or poll_now()--> [polling]
//   [polling] --a -wal wake found nothing visible yet--> [waiting, re-poll at
//             wake + 0.2, 1, 5, 15, 40, 100 and 250 ms] (commits are written
//             before they show; a doorbell is rung after they show)
//   [polling] --WAL-index header or PRAGMA data_version unchanged--> [waiting]
//                                        (skipped_polls; header_skips without a read transaction)
//   [polling] --gap or stall (I8)--> [flushing] --> deliver --> [waiting]
//   [polling] --ids below the cursor (I14)--> [flushing, reseed] --> [waiting]
//   [polling] --file replaced or deleted (I9)--> [reopening] --> [flushing]
//   [polling] --error--> [waiting]                              (poll_errors, I6)
//   [waiting|polling] --stop()--> [stopping: finish the current row] --> [stopped]
//
// Locks: poll_mu_ serialises polls and handler calls (the handler never runs
// concurrently with itself); the writer's lock is taken under it only to
// reopen after a replaced file. start() and stop() are serialised by the
// caller (the backend's lifecycle lock), which is taken before poll_mu_.
//
// Thread safety: all methods are thread-safe, with start() and stop()
// serialised as above.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "event_log.hpp"
#include "file_identity.hpp"
#include "gap_rule.hpp"
#include "pjx/invalidation_backend.hpp"
#include "snapshot_reader.hpp"
#include "wake_scheduler.hpp"

namespace pjx::detail {

class BackendContext;
class EventWriter;

class Listener {
 public:
  // Throws std::system_error when the stop eventfd cannot be made.
  Listener(BackendContext& ctx, EventWriter& writer);
  // REQUIRES: stopped (stop() returned true), or never started.
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Opens, seeds the cursor (I2), starts the poll thread. A second start is
  // a no-op. Throws BackendError or ConfigError (nothing listens then).
  // REQUIRES: serialised with stop().
  void start(InvalidationHandler handler, FlushHandler on_flush);
  // True when called from the poll thread or from inside a poll (a handler,
  // the flush handler, the warning sink): stop() must not wait then.
  bool called_from_poll() const noexcept;
  // Asks the poll thread to exit, without waiting (from inside a poll).
  void request_stop() noexcept;
  // Stops the poll thread and waits for a poll under way (I15).
  // REQUIRES: !called_from_poll(), serialised with start().
  void stop();
  // One poll on the caller's thread (SqliteInvalidationBackend::poll_now).
  std::size_t poll_now();

  bool running() const noexcept { return running_.load(); }
  std::int64_t cursor() const noexcept { return cursor_.load(); }
  // Clock::monotonic() of the last successful poll; nullopt before one.
  std::optional<std::chrono::nanoseconds> last_poll() const noexcept;

 private:
  PollOutcome poll_once();
  // The snapshot of one poll, after the file check; nullopt when nothing
  // was committed since the last poll. Counts and records a failure.
  std::optional<Snapshot> read(bool* replaced, std::int64_t* from);
  void open_reader();
  // When the file at the path is not the one the reader has open (it was
  // replaced or deleted): reopens both connections on the file now at the
  // path, rewinds the cursor to read that file from its start and sets
  // replaced_pending_, since what was published meanwhile went to the other
  // file and the cache must be flushed. REQUIRES: poll_mu_ held, reader open.
  void reopen_if_replaced();
  // Acts on the gap rule's verdict: counts, warns, reseeds (I14), flushes.
  void flush_if_missed(const PollFacts& facts, const GapAssessment& assessment,
                       std::chrono::nanoseconds since_previous);
  // Hands the rows to the handler (I1, I3, I4, I5); returns how many.
  std::size_t deliver(const std::vector<LogRow>& rows, std::int64_t snapshot_top);
  void call_handler(std::int64_t row_id, const KeySet& keys);
  void notify_flush(FlushReason reason);

  BackendContext& ctx_;
  EventWriter& writer_;

  std::mutex poll_mu_;
  std::unique_ptr<EventLog> reader_;      // guarded by poll_mu_
  std::optional<FileId> reader_file_;     // guarded by poll_mu_: the file reader_ opened
  ChangeMark last_mark_;                  // guarded by poll_mu_
  bool replaced_pending_ = false;         // guarded by poll_mu_: a replaced file awaits its flush
  InvalidationHandler handler_;           // guarded by poll_mu_
  FlushHandler on_flush_;                 // guarded by poll_mu_

  std::atomic<std::int64_t> cursor_{0};
  std::atomic<std::int64_t> last_poll_ns_{-1};  // Clock::monotonic(); -1 = never
  std::atomic<bool> running_{false};            // false asks the poll thread to exit
  int stop_fd_ = -1;                            // eventfd: written by stop() to end the sleep
  std::thread thread_;                          // serialised by start()/stop()'s caller
  std::atomic<std::thread::id> poll_thread_id_{};
};

}  // namespace pjx::detail
