// SqliteInvalidationBackend: the reference implementation of pyjinhx's SQLite
// invalidation backend. Worker processes of one host share one database file
// in WAL mode; publish() appends a row to the event log `pjx_invalidation`,
// every listener polls the log every `poll_interval` and hands rows of its
// channel written by other instances to its handler. Rows older than
// `retention` are pruned by publishers. The on-disk format is shared with the
// upstream Python backend (see WIRE.md): both can use one file at once.
//
// What this implementation adds to upstream: two long-lived connections with
// prepared statements (one for publishing, one for the listener) instead of a
// connection per publish; publish() callable from many threads; a busy
// handler with short waits instead of SQLite's coarse sleeps; poll errors and
// malformed rows counted and reported instead of swallowed; bad paths and
// options rejected at construction with ConfigError; an outbox that keeps a
// publish that could not commit for a transient reason (the write lock held
// past busy_timeout, an I/O error, a full disk) and commits it in order from
// a background thread; checkpoints of the WAL on that background thread
// instead of inside publish(); a bounded prune per publish.
//
// Files: the database and its `-wal`/`-shm` sidecars are created on first use
// (the first non-empty publish() or start()), not by the constructor, so a
// backend that never publishes nor listens leaves no file behind. A db_path
// through symlinks (a linked directory or file) works: SQLite puts the
// sidecars beside the link's target, and the change watch and the doorbell
// file follow them there (resolved once, at construction). The check for a
// replaced file follows the link every time: a link pointed at another file
// is a replaced file (reopened, flushed), but the watch and the doorbell
// stay with the first target, so delivery is by the timed poll until the
// backend is built again.
//
// Fork: a backend belongs to the process that built it. Built before
// fork() (gunicorn --preload), every child would share its instance_id and
// inherit the parent's SQLite connections but not its threads; so in a child,
// publish(), start(), poll_now() throw BackendError naming the fix (build
// the backend after the fork, in each worker: gunicorn's post_fork hook),
// stop() does nothing, and the destructor leaks the object rather than
// close the inherited connections or join threads that are not there.
//
// Thread safety: all methods are thread-safe. The handler passed to start()
// runs on the backend's poll thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "pjx/clock.hpp"
#include "pjx/invalidation_backend.hpp"

namespace pjx {

using Seconds = std::chrono::duration<double>;

struct SqliteOptions {
  // Separates applications sharing one file. Must not be empty.
  std::string channel = "pyjinhx:invalidate";
  // Sleep between polls; delivery latency is spread over [0, poll_interval].
  // Must be positive and finite.
  Seconds poll_interval{0.5};
  // Rows older than this are pruned on publish. Must be finite and at least
  // poll_interval, or listeners would miss rows in normal running.
  Seconds retention{5.0};
  // How long a statement waits for another process's lock before failing.
  std::chrono::milliseconds busy_timeout{5000};
  // Where time comes from; nullptr means the real clocks.
  std::shared_ptr<const Clock> clock;
  // Detect missed invalidations and ask for a flush (FlushHandler): when rows
  // this listener had not read were pruned before it read them (a gap in the
  // AUTOINCREMENT ids, which sqlite_sequence reveals even when every row is
  // gone, so it works with upstream publishers too), and when it did not
  // poll for longer than `retention` while others committed (a paused
  // process, a suspended machine). false reproduces upstream exactly: such
  // rows are silently never seen.
  bool detect_gaps = true;
  // Wake the poll thread as soon as another process commits (Linux inotify
  // on the database's directory), so delivery takes about a millisecond
  // instead of up to poll_interval. The timed poll stays as the safety net,
  // and an idle listener still wakes only every poll_interval. When inotify
  // is unavailable the backend warns, counts it, and polls as before.
  bool wake_on_change = true;
  // After each commit, touch "<db>-notify" (a file of zero bytes beside the
  // database, created on first use with the database's permission bits) so
  // that listeners with wake_on_change in other processes poll at once,
  // instead of being woken by the -wal write before the commit is visible
  // and looking again a little later. Costs about 3 us per publish.
  // Upstream workers ignore the file. A listener that hears doorbells stops
  // waking on -wal writes until a timed poll finds a commit that came
  // without one (an upstream publisher's): that one commit waits up to
  // poll_interval, the following ones (for ten minutes) wake it again.
  bool ring_doorbell = true;
  // SQLite's locking is unreliable on network and FUSE filesystems (NFS,
  // CIFS/SMB, sshfs, ...): workers could corrupt the file or miss each
  // other's commits. Such a path is refused at construction unless this is
  // set, by someone who knows the filesystem's locking is sound.
  bool allow_network_filesystem = false;
  // Returns the filesystem type (statfs f_type) of a directory; nullptr
  // means statfs(2). For tests that pretend to be on NFS.
  std::function<std::int64_t(const std::string& directory)> filesystem_type;
  // The name of a registered sqlite3_vfs to open the database through; empty
  // means SQLite's default. For fault injection (pjx/fault_vfs.hpp) and for
  // embedders with their own VFS. Must name a registered VFS.
  std::string vfs;
  // Publishes that cannot commit for a transient reason (SQLITE_BUSY past
  // busy_timeout, SQLITE_LOCKED, SQLITE_IOERR*, SQLITE_FULL, SQLITE_NOMEM,
  // SQLITE_PROTOCOL) are kept in an ordered outbox of at most this many
  // events and committed by a background retry (backoff 10 ms doubling to
  // 500 ms; each attempt waits up to busy_timeout for the lock). While the
  // outbox is not empty, every new publish is queued behind it, so events
  // commit in publish order. A publish that finds the outbox full throws
  // BackendError. 0 disables the outbox: such a publish throws BackendError,
  // as upstream's does. Other errors (read-only or corrupt file, schema
  // mismatch, AUTOINCREMENT out of ids, which SQLite also reports as
  // SQLITE_FULL) always throw.
  std::size_t outbox_capacity = 1024;
  // How long stop() and the destructor keep retrying queued events before
  // giving up on the rest (each given-up event is counted in outbox_dropped
  // and warned about). Must not be negative; 0 gives up at once.
  std::chrono::milliseconds outbox_drain_timeout{5000};
  // The most expired rows one publish deletes (oldest first). A publish after
  // a quiet period would otherwise delete the whole backlog while holding the
  // write lock; the next publishes delete the rest. Must be at least 1.
  std::size_t prune_limit = 256;
  // When the WAL holds at least this many pages after one of our commits, the
  // background thread runs a RESTART checkpoint on its own connection, so
  // publish() never copies pages or fsyncs the database (SQLite's automatic
  // checkpoint, which runs inside the committing call, is switched off for
  // the publishing connection). That checkpoint waits at most 20 ms for the
  // write lock and for readers, then leaves what it could not copy for the
  // next one (counted in checkpoints_busy); once it completes, the next
  // commit starts the -wal file over and truncates it to 4 MiB
  // (journal_size_limit), which bounds the WAL under steady publishing.
  // 0 keeps SQLite's automatic PASSIVE checkpoint inside publish(), as
  // upstream has it.
  std::size_t checkpoint_pages = 1000;
  // Receives operational warnings (poll errors, malformed rows, a throwing
  // handler, queued or dropped publishes), each kind rate-limited. Empty
  // means: write them to stderr.
  std::function<void(const std::string& message)> on_warning;
};

// How a started listener is woken now (SqliteStats::wake_mode).
enum class WakeMode {
  kPolling,   // by its timed polls only: not started, wake_on_change off, or the watch broke
  kWrites,    // by -wal writes (no doorbell heard in the last 10 minutes): every commit wakes it,
              // often before the commit is visible, hence the re-polls
  kDoorbell,  // by doorbells only: publishers ring, and no commit came without a ring for
              // 10 minutes (a non-ringing publisher's next commit waits for the timed poll)
  kMixed,     // by both: a -wal write waits 1 ms for its doorbell, then polls (ringing and
              // non-ringing publishers share the file)
};
const char* to_string(WakeMode mode) noexcept;

// Counters since construction. Reading them is cheap except `lag`, which
// runs one query (0 when not listening) on a connection of its own: stats()
// never waits for a publish, even one waiting up to busy_timeout for another
// process's write lock, nor for a running handler.
struct SqliteStats {
  std::uint64_t published = 0;         // publishes committed by publish() itself
  // Write transactions those publishes took: fewer than `published` when
  // threads publishing at the same time shared a group commit (one
  // transaction, one row each).
  std::uint64_t publish_commits = 0;
  std::uint64_t publish_failures = 0;  // publishes that threw BackendError (nothing queued)
  // The outbox (SqliteOptions::outbox_capacity). Every publish that returned
  // kQueued ends as exactly one of outbox_committed and outbox_dropped, or is
  // still counted in outbox_depth: queued == committed + dropped + depth.
  std::uint64_t queued = 0;            // publishes that returned kQueued
  std::uint64_t outbox_committed = 0;  // queued events committed later, in order
  std::uint64_t outbox_dropped = 0;    // queued events given up (drain timed out at stop,
                                       // or a non-transient error on retry); each warned about
  std::uint64_t outbox_overflows = 0;  // publishes refused because the outbox was full
                                       // (also counted in publish_failures)
  std::uint64_t outbox_retries = 0;    // retry attempts that failed (and will be retried)
  std::size_t outbox_depth = 0;        // events waiting in the outbox now
  std::uint64_t checkpoints = 0;       // background checkpoints that copied the whole WAL back
  std::uint64_t checkpoints_busy = 0;  // background checkpoints that gave up on a lock or a reader
  std::uint64_t rows_pruned = 0;       // expired rows this backend deleted
  std::uint64_t busy_waits = 0;        // times a statement waited for a lock
  std::uint64_t polls = 0;             // polls that ran to completion
  std::uint64_t skipped_polls = 0;     // polls that found no commit since the last one
  // Of those, the ones answered by the WAL-index header in -shm, without a
  // read transaction; the rest read PRAGMA data_version (the header's
  // shortcut is not available on every VFS, or the header had moved).
  std::uint64_t header_skips = 0;
  std::uint64_t poll_errors = 0;       // polls that failed (retried next interval)
  std::uint64_t rows_received = 0;     // rows of our channel from other instances
  std::uint64_t keys_delivered = 0;    // keys handed to the handler
  std::uint64_t malformed_rows = 0;    // rows skipped: keys_json not an array of strings
  std::uint64_t handler_errors = 0;    // handler calls that threw
  std::uint64_t flushes = 0;           // FlushHandler calls (gaps, stalls, reopens, handler errors)
  std::uint64_t gaps_detected = 0;     // polls that found pruned unread ids
  std::uint64_t missed_ids = 0;        // unread ids found pruned (any channel: an upper bound)
  std::uint64_t stalls_detected = 0;   // polls after more than retention without one
  std::uint64_t timed_polls = 0;       // polls started by poll_interval elapsing
  std::uint64_t wakes = 0;             // polls started by a change notification
  std::uint64_t doorbell_wakes = 0;    // of the wakes, those started by a publisher's doorbell
  std::uint64_t doorbells = 0;         // commits this backend announced on the doorbell
  std::uint64_t doorbell_failures = 0; // doorbells that could not be rung (warned)
  std::uint64_t empty_wakes = 0;       // wakes whose poll found nothing new: a -wal write before
                                       // its commit was visible, or a doorbell whose commit an
                                       // earlier poll took
  std::uint64_t wake_retries = 0;      // re-polls after an empty wake (0.2, 1, 5, 15, 40, 100, 250 ms)
  std::uint64_t wake_failures = 0;     // times the change watch could not be set up or broke
  bool wake_active = false;            // a change watch is in place now
  WakeMode wake_mode = WakeMode::kPolling;
  std::uint64_t reopens = 0;           // the file at the path was replaced or deleted: reopened + flushed
  std::int64_t cursor = 0;             // highest id read; only increases while listening
  std::int64_t lag = 0;                // rows on our channel from others above cursor
  // Time since the last successful poll; empty before the first one.
  std::optional<std::chrono::nanoseconds> since_last_poll;
  std::string last_error;  // the most recent publish or poll error, or ""
  bool listening = false;
};

// What publish_result() did with an event.
enum class PublishResult {
  kCommitted,  // committed before returning (or the key set was empty)
  kQueued,     // a transient failure: kept in the outbox, committed later in order
};
const char* to_string(PublishResult result) noexcept;

class SqliteInvalidationBackend final : public InvalidationBackend {
 public:
  // Validates the path and options; opens the file only if it already
  // exists (to check that it is a SQLite database with a compatible schema).
  // Throws ConfigError naming the value and the fix for: ":memory:", "", a
  // `file:` URI of a memory or temporary database, a missing parent
  // directory, a directory, a file that is not a SQLite database, an
  // incompatible `pjx_invalidation` table, a directory where the -wal/-shm
  // files cannot be created or on a network filesystem (for a symlinked
  // file, also its target's directory), and bad options (see SqliteOptions).
  explicit SqliteInvalidationBackend(std::string db_path, SqliteOptions options = {});
  // Stops the listener and drains the outbox as stop() does.
  ~SqliteInvalidationBackend() override;

  // Publishes `keys`: commits one row, or, after a transient failure (see
  // SqliteOptions::outbox_capacity) or while earlier events wait in the
  // outbox, queues the event and returns kQueued; the background retry then
  // commits it after the events queued before it. A queued event is
  // delivered to listeners once committed; if it can never be committed it is
  // counted in SqliteStats::outbox_dropped and warned about.
  // Throws std::invalid_argument for a key that is not valid UTF-8, and
  // BackendError when the event was neither committed nor queued (a
  // non-transient error, the outbox disabled, or the outbox full: the message
  // names outbox_capacity); nothing was written or queued then.
  // Thread-safe. Threads that publish while another's commit is under way
  // share the next commit (group commit: one transaction, one row per
  // event, in arrival order, at most 128 events); each call still returns
  // its own event's outcome.
  PublishResult publish_result(const KeySet& keys);
  // publish_result() without the result: returns once committed or queued.
  void publish(const KeySet& keys) override;
  void start(InvalidationHandler handler, FlushHandler on_flush = {}) override;
  // Stops the listener (as InvalidationBackend::stop: it also waits for a
  // poll_now() under way on another thread, so no handler runs once it
  // returns), then drains the outbox: keeps retrying queued events for up to outbox_drain_timeout
  // and gives up on the rest (outbox_dropped, a warning). Publishing after stop() works as before.
  // Called from the handler, it only asks the listener to stop and does not drain; called from the
  // background thread (a warning sink there), it stops the listener and does not drain (the
  // destructor does).
  void stop() override;

  // Runs one poll now on the caller's thread (serialised with the poll
  // thread) and returns the number of rows handed to the handler; 0 when a
  // stop() on another thread got in first (no handler runs then).
  // REQUIRES: start() was called (std::logic_error otherwise, and from
  // inside a handler). Throws BackendError if the poll fails.
  std::size_t poll_now();

  SqliteStats stats() const;
  // 32 lowercase hex digits, new for every backend object (a UUID4).
  const std::string& instance_id() const noexcept;
  const std::string& db_path() const noexcept;
  const SqliteOptions& options() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Checks options as the constructor does; throws ConfigError. Exposed so
// that settings read from the environment fail with the same messages.
void validate(const SqliteOptions& options);

}  // namespace pjx
