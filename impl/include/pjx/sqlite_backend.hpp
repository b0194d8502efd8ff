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
// options rejected at construction with ConfigError.
//
// Files: the database and its `-wal`/`-shm` sidecars are created on first use
// (the first non-empty publish() or start()), not by the constructor, so a
// backend that never publishes nor listens leaves no file behind.
//
// Thread safety: all methods are thread-safe. The handler passed to start()
// runs on the backend's poll thread.
#pragma once

#include <chrono>
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
  // Receives operational warnings (poll errors, malformed rows, a throwing
  // handler), each kind rate-limited. Empty means: write them to stderr.
  std::function<void(const std::string& message)> on_warning;
};

// Counters since construction. Reading them is cheap except `lag`, which
// runs one query (0 when the database was never opened).
struct SqliteStats {
  std::uint64_t published = 0;         // publishes committed
  std::uint64_t publish_failures = 0;  // publishes that threw BackendError
  std::uint64_t busy_waits = 0;        // times a statement waited for a lock
  std::uint64_t polls = 0;             // polls that ran to completion
  std::uint64_t skipped_polls = 0;     // polls answered by PRAGMA data_version alone
  std::uint64_t poll_errors = 0;       // polls that failed (retried next interval)
  std::uint64_t rows_received = 0;     // rows of our channel from other instances
  std::uint64_t keys_delivered = 0;    // keys handed to the handler
  std::uint64_t malformed_rows = 0;    // rows skipped: keys_json not an array of strings
  std::uint64_t handler_errors = 0;    // handler calls that threw
  std::uint64_t flushes = 0;           // FlushHandler calls (gaps, stalls, reopens)
  std::uint64_t gaps_detected = 0;     // polls that found pruned unread ids
  std::uint64_t missed_ids = 0;        // unread ids found pruned (any channel: an upper bound)
  std::uint64_t stalls_detected = 0;   // polls after more than retention without one
  std::uint64_t timed_polls = 0;       // polls started by poll_interval elapsing
  std::uint64_t wakes = 0;             // polls started by a change notification
  std::uint64_t empty_wakes = 0;       // wakes that found no commit visible yet
  std::uint64_t wake_retries = 0;      // re-polls after an empty wake (0.2, 1, 5 ms)
  std::uint64_t wake_failures = 0;     // times the change watch could not be set up or broke
  bool wake_active = false;            // a change watch is in place now
  std::uint64_t reopens = 0;           // the file at the path was replaced or deleted: reopened + flushed
  std::int64_t cursor = 0;             // highest id read; only increases while listening
  std::int64_t lag = 0;                // rows on our channel from others above cursor
  // Time since the last successful poll; empty before the first one.
  std::optional<std::chrono::nanoseconds> since_last_poll;
  std::string last_error;  // the most recent publish or poll error, or ""
  bool listening = false;
};

class SqliteInvalidationBackend final : public InvalidationBackend {
 public:
  // Validates the path and options; opens the file only if it already
  // exists (to check that it is a SQLite database with a compatible schema).
  // Throws ConfigError naming the value and the fix for: ":memory:", "", a
  // `file:` URI of a memory or temporary database, a missing parent
  // directory, a directory, a file that is not a SQLite database, an
  // incompatible `pjx_invalidation` table, a directory where the -wal/-shm
  // files cannot be created, and bad options (see SqliteOptions).
  explicit SqliteInvalidationBackend(std::string db_path, SqliteOptions options = {});
  ~SqliteInvalidationBackend() override;  // stops the listener

  void publish(const KeySet& keys) override;
  void start(InvalidationHandler handler, FlushHandler on_flush = {}) override;
  void stop() override;

  // Runs one poll now on the caller's thread (serialised with the poll
  // thread) and returns the number of rows handed to the handler.
  // REQUIRES: start() was called. Throws BackendError if the poll fails.
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
