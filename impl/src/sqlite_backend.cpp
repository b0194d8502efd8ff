// SqliteInvalidationBackend: publisher and poller over the shared event log.
//
// Cursor rules and invariants (numbered; tests name them):
//   I1. While listening, the cursor only increases, except when the ids fell
//       below it (I14) or the file was replaced (I9).
//   I2. start() seeds the cursor at the highest id ever issued (MAX(id), or
//       sqlite_sequence when pruning emptied the table; 0 for a new file),
//       so rows committed before start() returns are never replayed and
//       rows committed after are delivered. start() returns after seeding.
//       Also after stop(): start() first reopens the listener's connection
//       when the file at the path is no longer the one it has open (replaced
//       or deleted while stopped), seeds from the file now at the path and
//       flushes nothing (a restart, like a first start, begins at now).
//       The seed and PRAGMA data_version are read in one read transaction
//       (one snapshot): a commit between two separate reads would be in the
//       version but not below the seed, and every poll would skip it until
//       someone else committed.
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
//   I7. A commit is one write transaction: insert the row of each event in
//       its group (I13; one row when a single thread publishes), then prune
//       rows of every channel with created_at < now - retention (at most
//       prune_limit of them, oldest first; later commits prune the rest).
//       All of it happens or none of it does. `now` is read after the write
//       lock is taken, so created_at follows commit order (also for an event
//       committed from the outbox: it is stamped when it commits).
//   I8. Ids are issued by AUTOINCREMENT and a rolled-back insert gives its
//       id back, so ids above the cursor are contiguous unless rows were
//       deleted. A missing id in (cursor, top], top being the highest id
//       issued (fewer rows there than top - cursor, counted in the poll's
//       snapshot) means rows were pruned before this listener read them: a
//       gap. The hole can be anywhere in the range, not only just above the
//       cursor: pruning goes by created_at, which need not follow id order
//       (upstream reads its clock before waiting for the lock; wall clocks
//       step back). With detect_gaps, a gap, or a poll that finds new commits after
//       more than `retention` without polling (a stall), calls the
//       FlushHandler once, before the rows of that poll are delivered.
//   I9. Every poll first checks that the file at the path is the one the
//       listener opened (device and inode). When it was replaced or
//       deleted, both connections are reopened on the file now at the path
//       (a new one is created if it was deleted), the FlushHandler is
//       called (invalidations written to the old file in the meantime are
//       lost to this listener), and the new file is read from its first
//       row, so rows committed to it before the switch was noticed are still
//       delivered. publish() checks the same before it writes, so it never
//       writes to a file that is no longer at the path. The file a connection
//       has open is the one at the path both before and after its open (the
//       open is repeated until they agree; once more when the open created
//       the file): a file renamed onto the path while a connection was being
//       opened, which can take up to busy_timeout, is not taken for the one
//       SQLite opened. (SQLITE_FCNTL_HAS_MOVED is not used: it stats the
//       path SQLite resolved, a symlink's target rather than the link, and
//       compares only the inode.) A symlinked path is checked as given,
//       following the link at every check, because that is the file every
//       worker that opens the path from now on gets: a file renamed onto the
//       link or onto its target, or the link pointed at another file, is a
//       replaced file, and the reopen follows the link anew. The change
//       watch and the doorbell (I12) use the path resolved once at
//       construction: after the link is pointed elsewhere they stay with
//       the first target, and delivery falls back to the timed poll until
//       the backend is built again. (A file replaced
//       while the old -wal/-shm stay beside it is read by SQLite through the
//       old WAL, by every process; replace a database with its sidecars.)
//  I10. No lost publish. publish_result() returns kCommitted after its
//       commit (I7), or kQueued after appending the event to the outbox, or
//       throws having done neither; the caller learns which. An event is
//       queued when its commit failed for a transient reason (busy past
//       busy_timeout, I/O error, full disk) or when the outbox was not empty
//       (so the outbox is FIFO and commits happen in publish order; checked
//       again under write_mu, the lock every commit holds). Only the
//       background thread commits queued events, front first, and removes an
//       event only after its commit (under write_mu). The outbox never holds
//       more than outbox_capacity events: a publish that finds it full
//       throws. Every queued event ends committed (outbox_committed) or
//       dropped with a warning (outbox_dropped: a non-transient error on
//       retry, or stop()'s drain ran out of outbox_drain_timeout).
//  I11. Our publishing connection never checkpoints inside a commit (its WAL
//       hook replaces SQLite's auto-checkpoint): once the WAL holds
//       checkpoint_pages pages the hook asks the background thread, which
//       runs a PASSIVE checkpoint (no write lock) and then a RESTART one
//       (write lock held, only the frames committed since left to copy) on
//       its own connection. Its busy handler
//       gives up after kCheckpointBusyWindow, so publishers and readers wait
//       at most that long; a checkpoint that gave up leaves what PASSIVE
//       would have done and is not tried again for kCheckpointBackoff.
//       PASSIVE alone cannot bound the WAL under steady writes: the next
//       writer restarts the WAL (and journal_size_limit truncates it) only
//       when every frame was copied back, and with commits arriving during
//       each checkpoint that never happens. Other processes' connections
//       (upstream workers) keep their own auto-checkpoint, which is
//       compatible.
//  I12. The doorbell (`<db>-notify` beside the database file with every
//       symlink resolved, where SQLite puts -wal and -shm and where the
//       change watch looks, so that listeners and publishers that name the
//       file through different links meet; ring_doorbell) is touched only after a
//       COMMIT returned and without write_mu, so a listener it wakes finds
//       the commit; failing to ring is counted and warned about, never
//       turned into a failed publish. It is a hint outside the wire format:
//       upstream workers neither ring nor read it, and a listener that stops
//       waking on -wal writes because it hears doorbells goes back to them
//       as soon as a timed poll finds a commit that came without one.
//  I13. Group commit. Publishes from several threads of one backend that
//       arrive while a commit is under way wait in a FIFO; the first of them
//       to find no commit under way (the leader) takes up to kMaxGroup
//       waiting events and commits them in one transaction, in arrival
//       order, each its own row, stamped with one created_at. Every publish
//       still returns only with its own outcome (I10): committed, queued
//       (the whole group is queued, in order, when the commit failed for a
//       transient reason or the outbox was not empty) or failed, and the
//       group shares its fate because it is one transaction. A thread
//       publishing alone commits its event alone, as before. The doorbell
//       is rung once per group, by its leader, after the group is done and
//       the leader's role released (a warning sink may publish). Nothing
//       between taking the role and releasing it can throw out of it.
//  I14. Ids never go back by themselves (AUTOINCREMENT), so a highest id
//       issued below the cursor means the file was rewritten in place: a
//       restore with the backup API (`sqlite3 pjx.db ".restore b.db"`, same
//       inode, so I9 does not see it) or the table and sqlite_sequence
//       emptied by hand. Every id up to the old cursor would be skipped
//       without a sign. With detect_gaps it is a gap: the FlushHandler is
//       called (kGap, counted in gaps_detected) and the cursor reseeded at
//       the highest id issued; the flush covers every row up to it. (A
//       restore that is not polled before the ids pass the old cursor again
//       cannot be told from normal running, apart from the gap it leaves.)
//  I15. No handler or flush handler runs after stop() returns (unless
//       stop() was called from one of them, or from the warning sink during
//       a poll: then it only asks the listener to stop). stop() clears
//       `running`, joins the poll thread, then takes poll_mu once: a
//       poll_now() under way on another thread finishes first, and a poll
//       that takes poll_mu later sees `running` false and returns at once.
//       Everything a poll calls out to runs marked as inside the poll
//       (t_in_handler_of), so a stop() or poll_now() from there never
//       waits for poll_mu, which the poll holds.
//
// Poller states (one thread per started backend):
//
//   [stopped] --start()--> [starting: open, seed cursor (I2)] --> [waiting]
//   [waiting] --poll_interval elapsed, a change wake (a doorbell, or a -wal
//             write: see Listen in poll_loop), or poll_now()--> [polling]
//   [polling] --a -wal wake found nothing visible yet--> [waiting, re-poll at
//             wake + 0.2, 1, 5, 15, 40, 100 and 250 ms] (commits are written
//             before they show; a doorbell is rung after they show)
//   [polling] --PRAGMA data_version unchanged--> [waiting]      (skipped_polls)
//   [polling] --gap or stall (I8)--> [flushing] --> deliver --> [waiting]
//   [polling] --ids below the cursor (I14)--> [flushing, reseed] --> [waiting]
//   [polling] --file replaced or deleted (I9)--> [reopening] --> [flushing]
//   [polling] --error--> [waiting]                              (poll_errors, I6)
//   [waiting|polling] --stop()--> [stopping: finish the current row] --> [stopped]
//
// Background thread (one per backend, started when first needed: an event
// queued or a checkpoint wanted; joined by stop() and the destructor):
//
//   [idle] --event queued--> [retrying: commit the front event (I10)]
//   [retrying] --committed--> next event, or [idle] when the outbox is empty
//   [retrying] --transient failure--> [backoff 10 ms .. 500 ms] --> [retrying]
//   [retrying] --non-transient failure--> drop the event (warn, count) --> next
//   [idle|backoff] --checkpoint wanted (I11)--> [checkpointing] --> back
//   [any] --stop(): drain--> [draining: retry at once, busy waits cut at the
//         drain deadline] --outbox empty or deadline--> [exited]; the rest is
//         dropped (warn, count)
//
// Locks: lifecycle_mu_ serialises start()/stop(); poll_mu_ serialises polls
// and handler calls (the handler never runs concurrently with itself);
// group_mu_ guards the group-commit queue and is never held while another
// lock is taken; write_mu_ serialises commits on the writer connection;
// lag_mu_ guards stats()'s own connection for the lag query and is taken
// alone, so stats() never waits behind a publish blocked on a lock;
// bg_mu_ guards the outbox and the background thread's state; the poll
// thread sleeps in ppoll() on an eventfd (stop) and the change watcher's
// inotify fd. Order: lifecycle_mu_ before poll_mu_ before write_mu_ (taken
// under poll_mu_ only to reopen after a replaced file) before bg_mu_.
#include "pjx/sqlite_backend.hpp"

#include <poll.h>
#include <sqlite3.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <span>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "change_watcher.hpp"
#include "db_path.hpp"
#include "event_log.hpp"
#include "fork_guard.hpp"
#include "keys_json.hpp"
#include "pjx/errors.hpp"
#include "quoted.hpp"
#include "sqlite_backend_seams.hpp"
#include "warning_limiter.hpp"

namespace pjx {
namespace {

// The backend whose handler or flush handler this thread is running, if any:
// handlers also run inside poll_now() on the caller's thread, where stop()
// must not join and poll_now() must not lock poll_mu again.
thread_local const void* t_in_handler_of = nullptr;

class InHandler {
 public:
  explicit InHandler(const void* backend) : previous_(std::exchange(t_in_handler_of, backend)) {}
  ~InHandler() { t_in_handler_of = previous_; }
  InHandler(const InHandler&) = delete;
  InHandler& operator=(const InHandler&) = delete;

 private:
  const void* previous_;
};

std::string new_instance_id() {
  std::random_device rd;
  std::uint64_t hi = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  std::uint64_t lo = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  hi = (hi & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return text;
}

std::string seconds_text(Seconds s) {
  char text[64];
  std::snprintf(text, sizeof text, "%g s", s.count());
  return text;
}

// Failures that may go away by themselves: another process holds a lock, the
// disk is full or briefly failing. Read-only, corrupt or mismatched files do
// not.
bool is_transient(int code) {
  // The file was replaced between our check of its inode and the write: the
  // next attempt opens the new one.
  if (code == SQLITE_READONLY_DBMOVED) return true;
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

// Backoff of the outbox retry: doubled after every failed attempt.
constexpr std::chrono::milliseconds kRetryFirst{10};
constexpr std::chrono::milliseconds kRetryMax{500};
constexpr std::chrono::milliseconds kDrainRetryMax{10};
// I11: how long the background checkpoint waits for the write lock and for
// readers of old WAL frames, and how long it rests after giving up.
constexpr std::chrono::milliseconds kCheckpointBusyWindow{20};
// How much of an event's keys_json a warning shows.
constexpr std::size_t kKeysShownInMessages = 200;
// Most events one group commit writes (I13): bounds how long the write lock
// is held (a row costs a few microseconds) and the memory of one commit.
constexpr std::size_t kMaxGroup = 128;
constexpr std::chrono::milliseconds kCheckpointBackoff{100};
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
// Opens of a connection before giving up on a file that keeps changing at
// the path while it is opened (I9).
constexpr int kOpenAttempts = 5;

std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::mutex g_seam_mu;
std::function<void()> g_start_seed_hook;  // guarded by g_seam_mu
std::function<void()> g_after_open_hook;  // guarded by g_seam_mu

// Ends the read transaction of `log` after an error, if one is still open:
// SQLite may already have rolled it back (an I/O error does), and ending it
// again would fail and hide the error being reported.
void end_read_after_error(detail::EventLog& log) {
  if (log.connection().in_transaction()) {
    try {
      log.end_read.step();
    } catch (const BackendError&) {  // the original error is the one to report
    }
  }
  log.end_read.reset();
}

void run_hook(const std::function<void()>& seam) {
  std::function<void()> hook;
  {
    std::lock_guard lock(g_seam_mu);
    hook = seam;
  }
  if (hook) hook();
}

}  // namespace

void detail::set_start_seed_hook(std::function<void()> hook) {
  std::lock_guard lock(g_seam_mu);
  g_start_seed_hook = std::move(hook);
}

void detail::set_after_open_hook(std::function<void()> hook) {
  std::lock_guard lock(g_seam_mu);
  g_after_open_hook = std::move(hook);
}

void validate(const SqliteOptions& options) {
  const double poll = options.poll_interval.count();
  const double retention = options.retention.count();
  if (!std::isfinite(poll) || poll <= 0) {
    throw ConfigError("poll_interval " + seconds_text(options.poll_interval) +
                      " must be a positive, finite number of seconds; the documented default is 0.5");
  }
  if (!std::isfinite(retention) || retention <= 0) {
    throw ConfigError("retention " + seconds_text(options.retention) +
                      " must be a positive, finite number of seconds; the documented default is 5.0");
  }
  if (retention < poll) {
    throw ConfigError("retention " + seconds_text(options.retention) + " is shorter than poll_interval " +
                      seconds_text(options.poll_interval) +
                      ", so rows would be pruned before listeners poll them; make retention at least "
                      "poll_interval (the defaults are 5.0 and 0.5)");
  }
  if (options.channel.empty()) {
    throw ConfigError("channel \"\" is empty; pass a name that separates this application from others "
                      "sharing the file (the default is \"pyjinhx:invalidate\")");
  }
  if (options.busy_timeout.count() < 0) {
    throw ConfigError("busy_timeout " + std::to_string(options.busy_timeout.count()) +
                      " ms is negative; pass 0 or more (upstream uses 5000)");
  }
  if (options.outbox_drain_timeout.count() < 0) {
    throw ConfigError("outbox_drain_timeout " + std::to_string(options.outbox_drain_timeout.count()) +
                      " ms is negative; pass 0 (give up on queued events at stop) or more (the default is 5000)");
  }
  if (options.prune_limit == 0) {
    throw ConfigError("prune_limit 0 would never delete expired rows; pass at least 1 (the default is 256)");
  }
  if (options.prune_limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    throw ConfigError("prune_limit " + std::to_string(options.prune_limit) +
                      " is too large for SQLite; pass at most 2^63 - 1 (the default is 256)");
  }
  if (!options.vfs.empty() && sqlite3_vfs_find(options.vfs.c_str()) == nullptr) {
    throw ConfigError("vfs \"" + options.vfs +
                      "\" is not a registered SQLite VFS; register it with sqlite3_vfs_register "
                      "before constructing the backend, or leave vfs empty for the default");
  }
}

struct SqliteInvalidationBackend::Impl {
  Impl(std::string path, SqliteOptions opts)
      : db_path(std::move(path)),
        options(std::move(opts)),
        clock(options.clock ? options.clock : Clock::system()),
        instance_id(new_instance_id()),
        warnings(options.on_warning) {}

  const std::string db_path;
  const SqliteOptions options;
  const std::shared_ptr<const Clock> clock;
  const std::string instance_id;
  const detail::ForkGuard fork_guard;  // built before fork(): unusable in the child
  std::string fork_what() const { return "SqliteInvalidationBackend for \"" + db_path + "\""; }
  detail::DbLocation location;
  // "<db>-notify", beside the file with its symlinks resolved (location.resolved).
  std::filesystem::path doorbell_file;
  detail::WarningLimiter warnings;

  // Counters (relaxed: each is independent).
  std::atomic<std::uint64_t> published{0}, publish_commits{0}, publish_failures{0}, busy_waits{0}, polls{0},
      skipped_polls{0}, poll_errors{0}, rows_received{0}, keys_delivered{0}, malformed_rows{0},
      handler_errors{0}, flushes{0}, gaps_detected{0}, missed_ids{0}, stalls_detected{0}, timed_polls{0},
      wakes{0}, doorbell_wakes{0}, empty_wakes{0}, wake_retries{0}, wake_failures{0}, doorbells{0}, doorbell_failures{0}, reopens{0}, queued{0},
      outbox_committed{0}, outbox_dropped{0}, outbox_overflows{0}, outbox_retries{0}, checkpoints{0}, checkpoints_busy{0},
      rows_pruned{0};
  std::atomic<bool> wake_active{false};
  std::atomic<WakeMode> wake_mode{WakeMode::kPolling};
  std::atomic<std::int64_t> cursor{0};
  std::atomic<std::int64_t> last_poll_ns{-1};  // monotonic; -1 = never

  mutable std::mutex error_mu;
  std::string last_error;  // guarded by error_mu

  // A publish waiting for, or taking part in, a group commit (I13). Lives on
  // its publisher's stack; the leader fills in the outcome under write_mu
  // and then sets `done` under group_mu, which the owner waits for.
  struct Ticket {
    enum class Outcome { kPending, kCommitted, kQueued, kFailed, kConfigFailed };
    std::string keys_json;
    std::size_t key_count = 0;
    Outcome outcome = Outcome::kPending;
    bool rings = false;   // the group committed and this is its leader's ticket: ring the doorbell
    std::string message;  // kQueued: the warning to pass on ("" for none); failures: the error
    int code = 0;         // kFailed: the SQLite extended result code, or 0
    bool done = false;    // guarded by group_mu
    // Wakes this ticket's thread alone: when its group is done, or when it
    // is at the front with no commit under way (it leads next). One
    // condition variable per ticket, so a finished group wakes its members
    // and the next leader, not every waiting thread.
    std::condition_variable cv;
  };
  std::mutex group_mu;
  std::deque<Ticket*> group_waiting;  // guarded by group_mu; FIFO; the front leads next
  bool group_leader = false;          // guarded by group_mu: a thread is committing a group
  std::size_t last_group_size = 1;    // guarded by group_mu

  mutable std::mutex write_mu;
  std::unique_ptr<detail::EventLog> writer;  // guarded by write_mu
  std::optional<std::pair<dev_t, ino_t>> writer_file;  // guarded by write_mu

  // stats()'s own connection for the lag query, so that stats() never
  // waits for write_mu (a publish holds it while it waits up to
  // busy_timeout for another process's write lock) nor for poll_mu (held
  // while handlers run). Taken with no other lock held.
  mutable std::mutex lag_mu;
  std::unique_ptr<detail::EventLog> lag_log;            // guarded by lag_mu
  std::optional<std::pair<dev_t, ino_t>> lag_log_file;  // guarded by lag_mu

  std::mutex poll_mu;
  std::unique_ptr<detail::EventLog> reader;  // guarded by poll_mu
  // The file the reader opened (device, inode), to notice a replaced or
  // deleted database. Guarded by poll_mu.
  std::optional<std::pair<dev_t, ino_t>> reader_file;
  std::int64_t last_data_version = -1;       // guarded by poll_mu
  InvalidationHandler handler;               // guarded by poll_mu
  FlushHandler on_flush;                     // guarded by poll_mu

  std::mutex lifecycle_mu;
  std::thread thread;  // guarded by lifecycle_mu
  std::atomic<std::thread::id> poll_thread_id{};

  std::atomic<bool> running{false};  // false asks the poll thread to exit
  int stop_fd = -1;                  // eventfd: written by stop() to end the sleep
  // Set up by start() before the cursor is seeded, so that no commit after
  // the seed goes unnoticed; then owned by the poll thread.
  std::unique_ptr<detail::ChangeWatcher> watcher;

  // The outbox and the background thread (I10, I11).
  struct QueuedEvent {
    std::string keys_json;
    std::size_t key_count = 0;
  };
  mutable std::mutex bg_mu;
  std::condition_variable bg_cv;       // wakes the background thread
  std::condition_variable drained_cv;  // the outbox became empty
  std::deque<QueuedEvent> outbox;      // guarded by bg_mu; FIFO
  std::thread bg_thread;               // guarded by bg_mu
  std::atomic<std::thread::id> bg_thread_id{};  // the background thread, once it runs
  bool bg_exit = false;                // guarded by bg_mu: the thread is asked to exit
  bool draining = false;               // guarded by bg_mu: stop() waits for the outbox
  bool checkpoint_wanted = false;      // guarded by bg_mu
  // No checkpoint is asked for before this steady-clock reading (I11).
  std::chrono::steady_clock::time_point checkpoint_rest_until{};  // guarded by bg_mu
  // Busy waits of the writer connections end at this steady-clock reading
  // (ns); kNever except while stop() drains.
  std::atomic<std::int64_t> give_up_at_ns{kNever};
  std::unique_ptr<detail::EventLog> checkpointer;  // owned by the background thread
  std::optional<std::pair<dev_t, ino_t>> checkpointer_file;  // owned by the background thread

  struct PollOutcome {
    std::size_t delivered = 0;
    bool skipped = false;  // data_version unchanged: no commit visible since the last poll
  };

  // (device, inode) of the file at the path now; nullopt when there is none.
  std::optional<std::pair<dev_t, ino_t>> file_at_path() const {
    struct stat st {};
    if (::stat(location.file.c_str(), &st) != 0) return std::nullopt;
    return std::pair{st.st_dev, st.st_ino};
  }

  // True when a failure is worth retrying: is_transient(), except SQLITE_FULL
  // caused by AUTOINCREMENT having issued the largest id (permanent; SQLite
  // reports it as SQLITE_FULL too). REQUIRES: write_mu held.
  bool retryable(int code) {
    if (!is_transient(code)) return false;
    if ((code & 0xFF) != SQLITE_FULL || !writer) return true;
    try {
      auto& seq = writer->sequence;
      const bool exhausted = seq.step() && seq.column_int64(0) == std::numeric_limits<std::int64_t>::max();
      seq.reset();
      return !exhausted;
    } catch (const BackendError&) {
      writer->sequence.reset();
      return true;  // cannot tell: a full disk may fail this read too
    }
  }

  // Opens the publisher's connection when it is not open, or when the file
  // at the path is no longer the one it has open (replaced or deleted), so
  // that a publish never goes to a file nobody else can see. One stat(2)
  // per publish. REQUIRES: write_mu held.
  void ensure_writer() {
    const auto now_at_path = file_at_path();
    if (writer && now_at_path && now_at_path == writer_file) return;
    writer.reset();
    writer = open_current(&writer_file, &give_up_at_ns);
    if (options.checkpoint_pages > 0) {
      // Replaces SQLite's auto-checkpoint on this connection (I11).
      sqlite3_wal_hook(writer->connection().raw(), &Impl::on_wal_commit, this);
    }
  }

  // sqlite3_wal_hook callback, called on the committing thread (write_mu
  // held) with the WAL's size in pages after the commit.
  static int on_wal_commit(void* self, sqlite3* /*db*/, const char* /*schema*/, int pages) {
    auto& d = *static_cast<Impl*>(self);
    if (pages < 0 || static_cast<std::size_t>(pages) < d.options.checkpoint_pages) return SQLITE_OK;
    // Nothing may unwind through SQLite: the commit has happened.
    try {
      std::lock_guard lock(d.bg_mu);
      if (std::chrono::steady_clock::now() >= d.checkpoint_rest_until) {
        d.checkpoint_wanted = true;
        // Also when a request is already pending: a stop() may have ended
        // the thread that was to serve it.
        d.ensure_background_locked();
        d.bg_cv.notify_all();
      }
    } catch (const std::exception& e) {
      d.record_error(std::string("cannot start the background checkpoint: ") + e.what());
    }
    return SQLITE_OK;
  }

  // Opens the listener's connection and remembers which file it opened.
  // REQUIRES: poll_mu held.
  void open_reader() { reader = open_current(&reader_file); }

  // When the file at the path is not the one the reader has open (it was
  // replaced or deleted): reopens both connections on the file now at the
  // path, rewinds the cursor to read that file from its start and sets
  // replaced_pending, since what was published meanwhile went to the other
  // file and the cache must be flushed.
  // REQUIRES: poll_mu held, reader open.
  void reopen_if_replaced();
  bool replaced_pending = false;  // a replaced file awaits its flush; guarded by poll_mu

  // Opens a connection to the file at the path and sets `*identity` to that
  // file (I9). The file at the path is read before and after the open, and
  // the open is repeated until both name the same file: then the file SQLite
  // opened in between is that one (no other file was at the path meanwhile).
  // When the open created the file (nothing there before) it is repeated
  // once more. Throws as open_log(), and BackendError (SQLITE_BUSY, so
  // retried) when the file at the path changed during kOpenAttempts opens.
  std::unique_ptr<detail::EventLog> open_current(
      std::optional<std::pair<dev_t, ino_t>>* identity,
      const std::atomic<std::int64_t>* give_up = nullptr) {
    for (int attempt = 1;; ++attempt) {
      const auto before = file_at_path();
      auto log = open_log(give_up);
      const auto after = file_at_path();
      if (before && before == after) {
        *identity = after;
        return log;
      }
      if (attempt == kOpenAttempts) {
        throw BackendError(
            "the database file \"" + db_path +
                "\" was replaced or deleted while it was being opened, " +
                std::to_string(kOpenAttempts) +
                " times in a row; stop whatever keeps replacing it (replace the database only "
                "while no worker opens it, in one rename with its -wal and -shm)",
            SQLITE_BUSY);
      }
    }
  }

  std::unique_ptr<detail::EventLog> open_log(const std::atomic<std::int64_t>* give_up = nullptr) {
    auto log = std::make_unique<detail::EventLog>(location, db_path, options.busy_timeout,
                                                  &busy_waits, options.vfs, give_up);
    run_hook(g_after_open_hook);
    return log;
  }

  void record_error(const std::string& message) {
    std::lock_guard lock(error_mu);
    last_error = message;
  }

  PublishResult publish(const KeySet& keys);
  // One write transaction for the events (I7). REQUIRES: write_mu held,
  // writer open, events not empty. Throws BackendError; rolled back then.
  void commit_locked(const std::vector<std::string_view>& events);
  // After a commit, without holding write_mu: touches the doorbell so that
  // listeners poll at once (options.ring_doorbell). A failure is counted and
  // warned about, never thrown: the commit stands, and listeners still find
  // it by their data wake or timed poll.
  void ring_doorbell() noexcept;
  // Commits the group in one transaction, or queues all of it (after a
  // transient failure, or behind queued events), or fails all of it; the
  // outcome goes to every ticket, never thrown. REQUIRES: write_mu held.
  void commit_group_locked(std::span<Ticket* const> group) noexcept;
  // Queues a ticket's event and sets its outcome (kQueued with `warning`,
  // or kFailed when the outbox refuses it). REQUIRES: bg_mu held.
  void enqueue_ticket_locked(Ticket& ticket, const std::string& cause, const std::string& warning) noexcept;
  // Appends to the outbox; throws BackendError when it is full.
  // REQUIRES: bg_mu held, outbox_capacity > 0.
  PublishResult enqueue_locked(std::string keys_json, std::size_t key_count, const std::string& cause);
  // Starts the background thread unless it runs. REQUIRES: bg_mu held.
  void ensure_background_locked();
  void background_loop();
  // Commits the front event of the outbox; false after a transient failure.
  // A dropped event's warning goes to `warning`, for the caller to pass on
  // once it holds no lock; `committed` says whether it was committed (true)
  // or dropped.
  bool retry_front(std::string* warning, bool* committed);
  void run_checkpoint();
  // Retries the outbox for up to outbox_drain_timeout, stops the background
  // thread and drops what is left (warned, counted).
  void drain_and_stop_background();
  PollOutcome poll_once();
  void notify_flush(FlushReason reason);
  void poll_loop();
  std::unique_ptr<detail::ChangeWatcher> make_watcher();
};

SqliteInvalidationBackend::SqliteInvalidationBackend(std::string db_path, SqliteOptions options)
    : impl_(std::make_unique<Impl>(std::move(db_path), std::move(options))) {
  validate(impl_->options);
  impl_->location = detail::check_db_path(impl_->db_path, impl_->options.filesystem_type,
                                          impl_->options.allow_network_filesystem);
  impl_->doorbell_file = detail::doorbell_path(impl_->location.resolved);
  if (impl_->location.exists) {
    // Check now that the existing file is a compatible database; keep the
    // connection as the publisher's.
    std::lock_guard lock(impl_->write_mu);
    try {
      impl_->ensure_writer();
    } catch (const BackendError& e) {
      // At construction a file SQLite cannot open or write is the caller's
      // to fix (permissions); later the same error is retried.
      const int primary = e.code() & 0xFF;
      if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) throw ConfigError(e.what());
      throw;
    }
  }
  // Last, so that a constructor that throws leaves no descriptor behind.
  impl_->stop_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (impl_->stop_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

SqliteInvalidationBackend::~SqliteInvalidationBackend() {
  if (impl_->fork_guard.forked()) {
    // In a child of the process that built it: closing the inherited SQLite
    // connections could checkpoint or delete the -wal the parent uses, and
    // its threads were not copied. Leak everything rather than touch it.
    static_cast<void>(impl_.release());
    return;
  }
  stop();
  ::close(impl_->stop_fd);
}

void SqliteInvalidationBackend::publish(const KeySet& keys) { impl_->publish(keys); }

PublishResult SqliteInvalidationBackend::publish_result(const KeySet& keys) { return impl_->publish(keys); }

const char* to_string(WakeMode mode) noexcept {
  switch (mode) {
    case WakeMode::kPolling: return "polling";
    case WakeMode::kWrites: return "writes";
    case WakeMode::kDoorbell: return "doorbell";
    case WakeMode::kMixed: return "mixed";
  }
  return "unknown";
}

const char* to_string(PublishResult result) noexcept {
  switch (result) {
    case PublishResult::kCommitted: return "committed";
    case PublishResult::kQueued: return "queued";
  }
  return "unknown";
}

void SqliteInvalidationBackend::Impl::commit_locked(const std::vector<std::string_view>& events) {
  auto& log = *writer;
  log.begin_immediate.step();
  log.begin_immediate.reset();
  // Read the clock once the write lock is ours: a time read before a long
  // wait for the lock would stamp the row (and prune) in the past, and the
  // next publisher's prune could delete it before anyone read it.
  try {
    const double now = clock->wall_seconds();
    for (const std::string_view keys_json : events) {
      log.insert_event.bind(1, std::string_view(instance_id))
          .bind(2, std::string_view(options.channel))
          .bind(3, keys_json)
          .bind(4, now);
      log.insert_event.step();
      log.insert_event.reset();
    }
    log.prune.bind(1, now - options.retention.count()).bind(2, static_cast<std::int64_t>(options.prune_limit));
    log.prune.step();
    log.prune.reset();
    const auto pruned = sqlite3_changes64(log.connection().raw());
    log.commit.step();
    log.commit.reset();
    rows_pruned.fetch_add(static_cast<std::uint64_t>(pruned), std::memory_order_relaxed);
  } catch (...) {
    log.insert_event.reset();
    log.prune.reset();
    log.commit.reset();
    if (log.connection().in_transaction()) {
      try {
        log.rollback.step();
      } catch (const BackendError&) {
        // The transaction is gone either way; the original error is the news.
      }
      log.rollback.reset();
    }
    throw;
  }
}

void SqliteInvalidationBackend::Impl::ring_doorbell() noexcept {
  if (!options.ring_doorbell) return;
  try {
    detail::ring_doorbell(doorbell_file, location.resolved);
    doorbells.fetch_add(1, std::memory_order_relaxed);
  } catch (const std::exception& e) {
    doorbell_failures.fetch_add(1, std::memory_order_relaxed);
    try {
      warnings.warn("doorbell", std::string("cannot ring the doorbell (") + e.what() +
                                    "); listeners in other processes still see the commit, by their -wal watch "
                                    "or their timed poll. Let this process write files in the database's "
                                    "directory, or set ring_doorbell = false (PJX_DOORBELL=0)");
    } catch (...) {  // out of memory while building the message: counted above
    }
  }
}

PublishResult SqliteInvalidationBackend::Impl::publish(const KeySet& keys) {
  fork_guard.check(fork_what());
  if (keys.empty()) return PublishResult::kCommitted;
  std::string keys_json = detail::encode_keys(keys);  // may throw invalid_argument
  if (options.outbox_capacity > 0) {
    // Behind earlier events (I10), without waiting for write_mu, which the
    // background thread may hold for up to busy_timeout.
    std::lock_guard bg(bg_mu);
    if (!outbox.empty()) return enqueue_locked(std::move(keys_json), keys.size(), "earlier events are queued");
  }
  Ticket ticket;
  ticket.keys_json = std::move(keys_json);
  ticket.key_count = keys.size();
  {
    std::unique_lock g(group_mu);
    group_waiting.push_back(&ticket);  // may throw: nothing is shared yet
    while (!ticket.done && (group_leader || group_waiting.front() != &ticket)) ticket.cv.wait(g);
    if (!ticket.done) {
      // Lead (I13): at the front with no commit under way, so this ticket
      // is the first of the group. Nothing below throws until the group is
      // done: a leader that left by an exception would leave its group, and
      // every later publisher, waiting forever.
      group_leader = true;
      if (group_waiting.size() < last_group_size) {
        // The last group's members were woken with this thread and are on
        // their way back with their next events: let them queue first
        // (arrivals wait behind a leader), or groups alternate between
        // large and alone.
        g.unlock();
        std::this_thread::yield();
        g.lock();
      }
      std::array<Ticket*, kMaxGroup> members{};
      std::size_t count = 0;
      while (!group_waiting.empty() && count < kMaxGroup) {
        members[count++] = group_waiting.front();
        group_waiting.pop_front();
      }
      const std::span<Ticket* const> group(members.data(), count);
      g.unlock();
      {
        std::lock_guard lock(write_mu);
        commit_group_locked(group);
      }
      g.lock();
      last_group_size = count;
      for (Ticket* t : group) {
        t->done = true;
        if (t != &ticket) t->cv.notify_one();
      }
      group_leader = false;
      if (!group_waiting.empty()) group_waiting.front()->cv.notify_one();
    }
  }
  switch (ticket.outcome) {
    case Ticket::Outcome::kCommitted:
      // Once per group, by its leader, after the commit and outside every
      // lock and the leader's role (I12): a warning sink may publish.
      if (ticket.rings) ring_doorbell();
      return PublishResult::kCommitted;
    case Ticket::Outcome::kQueued:
      if (!ticket.message.empty()) warnings.warn("queued", ticket.message);  // no lock held: the sink may call stats()
      return PublishResult::kQueued;
    case Ticket::Outcome::kConfigFailed: throw ConfigError(ticket.message);
    case Ticket::Outcome::kPending:
    case Ticket::Outcome::kFailed: break;
  }
  if (ticket.message.empty()) throw BackendError("publish was not committed: out of memory", 0);
  throw BackendError(ticket.message, ticket.code);
}

void SqliteInvalidationBackend::Impl::enqueue_ticket_locked(Ticket& ticket, const std::string& cause,
                                                            const std::string& warning) noexcept {
  try {
    enqueue_locked(std::move(ticket.keys_json), ticket.key_count, cause);  // counts its own refusals
  } catch (const BackendError& e) {  // the outbox is full, or its thread cannot start: counted, recorded
    ticket.outcome = Ticket::Outcome::kFailed;
    ticket.code = e.code();
    try {
      ticket.message = e.what();
    } catch (...) {  // publish() throws its own message for an empty one
    }
    return;
  } catch (...) {  // out of memory: not queued, not counted yet
    publish_failures.fetch_add(1, std::memory_order_relaxed);
    ticket.outcome = Ticket::Outcome::kFailed;
    return;
  }
  ticket.outcome = Ticket::Outcome::kQueued;
  try {
    ticket.message = warning;
  } catch (...) {  // queued all the same; only the warning is lost
  }
}

void SqliteInvalidationBackend::Impl::commit_group_locked(std::span<Ticket* const> group) noexcept {
  const bool outbox_on = options.outbox_capacity > 0;
  // Every ticket leaves with an outcome other than kPending, and each failed
  // one is counted once in publish_failures.
  const auto fail_all = [&](Ticket::Outcome outcome, const std::string& message, int code) noexcept {
    for (Ticket* t : group) {
      t->outcome = outcome;
      t->code = code;
      try {
        t->message = message;
      } catch (...) {  // publish() throws its own message for an empty one
      }
    }
    publish_failures.fetch_add(group.size(), std::memory_order_relaxed);
    try {
      record_error(message);
    } catch (...) {  // out of memory: last_error keeps the previous error
    }
  };
  try {
    std::size_t keys_in_group = 0;
    for (const Ticket* t : group) keys_in_group += t->key_count;
    const std::string what = group.size() == 1 ? "publish of " + std::to_string(keys_in_group) + " key(s)"
                                               : "group commit of " + std::to_string(group.size()) +
                                                     " publishes (" + std::to_string(keys_in_group) + " keys)";
    if (outbox_on) {
      // Checked again under write_mu, the lock the background thread
      // commits under: an event queued since must stay ahead (I10).
      std::lock_guard bg(bg_mu);
      if (!outbox.empty()) {
        for (Ticket* t : group) enqueue_ticket_locked(*t, "earlier events are queued", "");
        return;
      }
    }
    try {
      ensure_writer();
      std::vector<std::string_view> events;
      events.reserve(group.size());
      for (const Ticket* t : group) events.emplace_back(t->keys_json);
      commit_locked(events);
      published.fetch_add(group.size(), std::memory_order_relaxed);
      publish_commits.fetch_add(1, std::memory_order_relaxed);
      for (Ticket* t : group) t->outcome = Ticket::Outcome::kCommitted;
      group.front()->rings = true;  // the leader's own ticket
    } catch (const BackendError& e) {
      std::string message = what + " was not committed: " + e.what();
      if ((e.code() & 0xFF) == SQLITE_BUSY) {
        message += "; another process held the write lock for longer than busy_timeout " +
                   std::to_string(options.busy_timeout.count()) + " ms";
      }
      if (!outbox_on || !retryable(e.code())) {
        fail_all(Ticket::Outcome::kFailed, message, e.code());
        return;
      }
      // A connection that failed with an I/O error is not trusted further.
      if ((e.code() & 0xFF) != SQLITE_BUSY) writer.reset();
      std::lock_guard bg(bg_mu);
      const std::string queued_message = message + "; queued in the outbox and retried in the background (" +
                                         std::to_string(outbox.size() + group.size()) + " waiting)";
      for (Ticket* t : group) enqueue_ticket_locked(*t, message, queued_message);
      record_error(queued_message);
    } catch (const ConfigError& e) {
      // The file appeared after construction and is not usable.
      fail_all(Ticket::Outcome::kConfigFailed, e.what(), 0);
    }
  } catch (...) {
    // Out of memory while building a message or the batch, or a Clock that
    // threw: whatever has no outcome yet fails (the transaction, if one was
    // begun, was rolled back by commit_locked).
    for (Ticket* t : group) {
      if (t->outcome != Ticket::Outcome::kPending) continue;
      publish_failures.fetch_add(1, std::memory_order_relaxed);
      t->outcome = Ticket::Outcome::kFailed;
    }
  }
}

PublishResult SqliteInvalidationBackend::Impl::enqueue_locked(std::string keys_json, std::size_t key_count,
                                                              const std::string& cause) {
  if (outbox.size() >= options.outbox_capacity) {
    publish_failures.fetch_add(1, std::memory_order_relaxed);
    outbox_overflows.fetch_add(1, std::memory_order_relaxed);
    const std::string message =
        "publish of " + std::to_string(key_count) + " key(s) was not committed nor queued: the outbox is full (" +
        std::to_string(outbox.size()) + " events = outbox_capacity " + std::to_string(options.outbox_capacity) +
        "; " + std::to_string(outbox_overflows.load()) + " publishes refused so far) because " + cause +
        "; the database has not accepted a commit for a while: check what holds its lock, or raise "
        "outbox_capacity";
    record_error(message);
    throw BackendError(message, 0);
  }
  try {
    ensure_background_locked();  // first: an event is queued only with a thread to commit it
  } catch (const std::system_error& e) {
    publish_failures.fetch_add(1, std::memory_order_relaxed);
    const std::string message = "publish of " + std::to_string(key_count) +
                                " key(s) was not committed nor queued: cannot start the outbox thread (" +
                                e.what() + ") after " + cause + "; raise the process's thread limit";
    record_error(message);
    throw BackendError(message, 0);
  }
  outbox.push_back(QueuedEvent{std::move(keys_json), key_count});
  queued.fetch_add(1, std::memory_order_relaxed);
  bg_cv.notify_all();
  return PublishResult::kQueued;
}

void SqliteInvalidationBackend::Impl::ensure_background_locked() {
  if (bg_thread.joinable() || bg_exit) return;  // running, or being stopped (drain drops the rest)
  bg_thread = std::thread([this] { background_loop(); });
}

void SqliteInvalidationBackend::Impl::background_loop() {
  bg_thread_id.store(std::this_thread::get_id());
  using Steady = std::chrono::steady_clock;
  auto backoff = kRetryFirst;
  auto next_retry = Steady::now();
  bool drain_seen = false;
  std::unique_lock lock(bg_mu);
  while (!bg_exit) {
    if (draining != drain_seen) {
      drain_seen = draining;
      if (draining) {  // stop() waits: retry now, then at most kDrainRetryMax apart
        backoff = kRetryFirst;
        next_retry = Steady::now();
      }
    }
    if (checkpoint_wanted) {
      checkpoint_wanted = false;
      lock.unlock();
      run_checkpoint();
      lock.lock();
      continue;
    }
    if (outbox.empty()) {
      bg_cv.wait(lock);
      continue;
    }
    if (Steady::now() < next_retry) {
      bg_cv.wait_until(lock, next_retry);
      continue;
    }
    lock.unlock();
    std::string warning;
    bool progressed = false;
    bool committed = false;
    try {
      progressed = retry_front(&warning, &committed);
    } catch (const std::exception& e) {  // bad_alloc and the like: the event stays queued
      record_error(std::string("outbox retry failed (will retry): ") + e.what());
    }
    if (!warning.empty()) warnings.warn("dropped", warning);
    if (committed) ring_doorbell();
    lock.lock();
    if (progressed) {
      backoff = kRetryFirst;
      if (outbox.empty()) drained_cv.notify_all();
    } else {
      backoff = std::min(backoff * 2, kRetryMax);
      next_retry = Steady::now() + (draining ? std::min(backoff, kDrainRetryMax) : backoff);
    }
  }
  lock.unlock();
  checkpointer.reset();
  bg_thread_id.store(std::thread::id{});
}

bool SqliteInvalidationBackend::Impl::retry_front(std::string* warning, bool* committed) {
  std::lock_guard lock(write_mu);
  std::string keys_json;
  std::size_t key_count = 0;
  {
    std::lock_guard bg(bg_mu);
    if (outbox.empty()) return true;  // only this thread removes events; defensive
    keys_json = outbox.front().keys_json;
    key_count = outbox.front().key_count;
  }
  const auto drop_front = [&](const std::string& why) {
    std::size_t left = 0;
    {
      std::lock_guard bg(bg_mu);
      outbox.pop_front();
      left = outbox.size();
    }
    outbox_dropped.fetch_add(1, std::memory_order_relaxed);
    const std::string message = "a queued publish of " + std::to_string(key_count) + " key(s) " +
                                detail::abbreviated(keys_json, kKeysShownInMessages) +
                                " was dropped, it cannot be committed: " + why + " (" + std::to_string(left) +
                                " still queued); listeners will not see it";
    record_error(message);
    *warning = message;
  };
  try {
    ensure_writer();
    commit_locked({keys_json});
  } catch (const BackendError& e) {
    if (retryable(e.code())) {
      if ((e.code() & 0xFF) != SQLITE_BUSY) writer.reset();
      outbox_retries.fetch_add(1, std::memory_order_relaxed);
      record_error(std::string("outbox retry failed (will retry): ") + e.what());
      return false;
    }
    drop_front(e.what());
    return true;
  } catch (const ConfigError& e) {
    drop_front(e.what());
    return true;
  }
  {
    std::lock_guard bg(bg_mu);
    outbox.pop_front();  // after the commit (I10)
  }
  outbox_committed.fetch_add(1, std::memory_order_relaxed);
  *committed = true;
  return true;
}

void SqliteInvalidationBackend::Impl::run_checkpoint() {
  try {
    const auto now_at_path = file_at_path();
    if (!now_at_path) return;  // deleted: nothing to checkpoint until someone recreates it
    if (!checkpointer || now_at_path != checkpointer_file) {
      checkpointer.reset();
      // Opening waits as long as any connection may (a busy file being set
      // up); the checkpoint itself waits at most kCheckpointBusyWindow.
      checkpointer = open_current(&checkpointer_file, &give_up_at_ns);
      auto started = std::make_shared<std::chrono::steady_clock::time_point>();
      checkpointer->connection().set_busy_handler([started](int retries) {
        const auto now = std::chrono::steady_clock::now();
        if (retries == 0) *started = now;
        if (now - *started >= kCheckpointBusyWindow) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(retries < 10 ? 100 : 1000));
        return true;
      });
    }
    int log_pages = 0;
    int checkpointed = 0;
    // First copy what can be copied without the write lock (PASSIVE never
    // waits, and commits go on meanwhile), so that the RESTART, which holds
    // the write lock throughout, has only the frames committed since to sync
    // and copy: publishers wait for a short copy instead of a long one and
    // for a sync of a few frames instead of the whole unsynced WAL. A busy
    // PASSIVE (another checkpointer) changes nothing: RESTART waits for it.
    static_cast<void>(sqlite3_wal_checkpoint_v2(checkpointer->connection().raw(), nullptr,
                                                SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr));
    const int rc = sqlite3_wal_checkpoint_v2(checkpointer->connection().raw(), nullptr,
                                             SQLITE_CHECKPOINT_RESTART, &log_pages, &checkpointed);
    if (rc == SQLITE_OK) {
      checkpoints.fetch_add(1, std::memory_order_relaxed);
    } else if ((rc & 0xFF) == SQLITE_BUSY) {
      // A lock holder, a long reader or another checkpointer: what could be
      // copied was; rest before asking again so commits do not keep paying
      // the busy window.
      checkpoints_busy.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(bg_mu);
      checkpoint_rest_until = std::chrono::steady_clock::now() + kCheckpointBackoff;
    } else {
      warnings.warn("checkpoint", "background checkpoint of \"" + db_path + "\" failed: " +
                                      sqlite3_errstr(rc) + "; the WAL grows until one succeeds");
    }
  } catch (const std::exception& e) {
    checkpointer.reset();
    warnings.warn("checkpoint", std::string("background checkpoint failed: ") + e.what() +
                                    "; the WAL grows until one succeeds");
  }
}

void SqliteInvalidationBackend::Impl::drain_and_stop_background() {
  using Steady = std::chrono::steady_clock;
  std::unique_lock lock(bg_mu);
  if (!bg_thread.joinable() && outbox.empty()) return;
  if (!outbox.empty()) {
    const auto deadline = Steady::now() + options.outbox_drain_timeout;
    give_up_at_ns.store(steady_ns(deadline));
    draining = true;
    ensure_background_locked();
    bg_cv.notify_all();
    drained_cv.wait_until(lock, deadline, [this] { return outbox.empty(); });
  }
  bg_exit = true;
  give_up_at_ns.store(steady_ns(Steady::now()));  // cut a busy wait in progress short
  bg_cv.notify_all();
  std::thread exiting = std::move(bg_thread);
  lock.unlock();
  if (exiting.joinable()) exiting.join();
  lock.lock();
  const std::size_t left = outbox.size();
  std::string message;
  if (left > 0) {
    std::uint64_t keys = 0;
    for (const auto& event : outbox) keys += event.key_count;
    outbox.clear();
    outbox_dropped.fetch_add(left, std::memory_order_relaxed);
    message = std::to_string(left) + " queued publish(es) (" + std::to_string(keys) +
              " keys) were dropped at stop: the database did not accept a commit within outbox_drain_timeout " +
              std::to_string(options.outbox_drain_timeout.count()) + " ms; listeners will not see them";
    record_error(message);
  }
  bg_exit = false;
  draining = false;
  give_up_at_ns.store(kNever);
  lock.unlock();
  if (!message.empty()) warnings.warn("dropped", message);
}

void SqliteInvalidationBackend::start(InvalidationHandler handler, FlushHandler on_flush) {
  auto& d = *impl_;
  d.fork_guard.check(d.fork_what());
  std::lock_guard life(d.lifecycle_mu);
  if (d.running.load()) return;  // second start is a no-op
  if (d.thread.joinable()) d.thread.join();  // a previous stop() from inside a handler
  {
    std::lock_guard poll(d.poll_mu);
    try {
      // Seed from the file at the path now (I2): a reader an earlier start()
      // left open may hold a file replaced or deleted while stopped, and the
      // first poll's reopen (I9) would then read the new one from its first
      // row, replaying history. Nothing is flushed for it: a restarted
      // listener, like a new one, starts from now.
      if (!d.reader || d.file_at_path() != d.reader_file) {
        d.reader.reset();
        d.open_reader();
      }
      d.replaced_pending = false;
      d.watcher = d.make_watcher();
      // One read transaction for the seed and the data version (I2): a
      // commit between two separate reads would be counted in the version
      // but not in the seed, and the polls after it would skip it.
      auto& log = *d.reader;
      std::int64_t seed = 0;
      std::int64_t version = 0;
      log.begin_read.step();
      log.begin_read.reset();
      try {
        log.max_id.step();
        seed = log.max_id.column_int64(0);
        log.max_id.reset();
        run_hook(g_start_seed_hook);
        log.data_version.step();
        version = log.data_version.column_int64(0);
        log.data_version.reset();
        log.end_read.step();
        log.end_read.reset();
      } catch (...) {
        log.max_id.reset();
        log.data_version.reset();
        end_read_after_error(log);
        throw;
      }
      d.cursor.store(seed);           // I2
      d.last_data_version = version;  // the first poll skips if nobody commits
      d.handler = std::move(handler);
      d.on_flush = std::move(on_flush);
      d.last_poll_ns.store(d.clock->monotonic().count());
    } catch (const BackendError& e) {
      // Nothing listens: no watch either (it was set up before the seed).
      d.watcher.reset();
      d.wake_active.store(false);
      d.wake_mode.store(WakeMode::kPolling);
      d.record_error(std::string("start failed: ") + e.what());
      throw;
    }
  }
  std::uint64_t drained = 0;
  while (::read(d.stop_fd, &drained, sizeof drained) > 0) {
  }
  d.running.store(true);
  d.thread = std::thread([&d] { d.poll_loop(); });
}

void SqliteInvalidationBackend::stop() {
  auto& d = *impl_;
  if (d.fork_guard.forked()) return;  // the listener is the parent's: nothing to stop here
  const auto request_exit = [&d] {
    d.running.store(false);
    const std::uint64_t one = 1;
    [[maybe_unused]] const auto n = ::write(d.stop_fd, &one, sizeof one);
  };
  if (d.poll_thread_id.load() == std::this_thread::get_id() || t_in_handler_of == &d) {
    // From a handler (on the poll thread, or inside poll_now() on another):
    // joining here would wait for ourselves. The poll thread exits when it
    // sees the request; start() or the destructor joins it.
    request_exit();
    return;
  }
  std::lock_guard life(d.lifecycle_mu);
  request_exit();
  if (d.thread.joinable()) d.thread.join();
  {
    // Waits for a poll_now() under way on another thread, whose handler
    // may be running; any poll that takes poll_mu after this sees running
    // false and calls nothing (I15).
    std::lock_guard poll(d.poll_mu);
  }
  // From the background thread (a warning sink there): it cannot wait for
  // its own outbox nor join itself; the destructor drains and joins it.
  if (d.bg_thread_id.load() == std::this_thread::get_id()) return;
  d.drain_and_stop_background();
}

std::unique_ptr<detail::ChangeWatcher> SqliteInvalidationBackend::Impl::make_watcher() {
  if (!options.wake_on_change) return nullptr;
  try {
    auto created = std::make_unique<detail::ChangeWatcher>(location.resolved);
    wake_active.store(true);
    wake_mode.store(WakeMode::kWrites);  // the poll loop starts listening for writes
    return created;
  } catch (const std::system_error& e) {
    wake_failures.fetch_add(1, std::memory_order_relaxed);
    wake_active.store(false);
    warnings.warn("wake", std::string("cannot watch the database for changes (") + e.what() +
                              "); delivering by polling every " + seconds_text(options.poll_interval) +
                              " instead. Raise /proc/sys/fs/inotify/max_user_watches and max_user_instances");
    return nullptr;
  }
}

void SqliteInvalidationBackend::Impl::poll_loop() {
  using Steady = std::chrono::steady_clock;
  using std::chrono::microseconds;
  // After a wake that found no commit visible yet, look again at these
  // offsets from the wake: the writer has written its frames but not yet
  // published the new WAL index header (or is inside fsync). On an idle
  // machine the first or second look finds it; on a saturated one the
  // publisher may not run again for tens of milliseconds, so the looks go
  // on, further apart, until the timed poll takes over. Each costs one
  // PRAGMA data_version (a few microseconds).
  static constexpr microseconds kRetryOffsets[] = {microseconds(200),   microseconds(1000),
                                                   microseconds(5000),  microseconds(15000),
                                                   microseconds(40000), microseconds(100000),
                                                   microseconds(250000)};
  // How a listener treats writes to the -wal file, given what it heard:
  //
  //   kWrites    no doorbell heard (upstream publishers, or ours with the
  //              doorbell off): a write wakes a poll at once, re-polled as
  //              above when the commit is not visible yet.
  //   kBells     doorbells heard, and no commit without one seen for
  //              kBelllessMemory: writes raise no event at all; only
  //              doorbells wake. The listeners then stay asleep while a
  //              publisher writes its commit, instead of waking on its first
  //              frame, finding nothing, and taking the CPU from it (with
  //              16 listeners on 2 cores, a millisecond or more).
  //   kMixed     doorbells heard, but also, within kBelllessMemory, a commit
  //              that came without one (a timed poll delivered rows): an
  //              upstream publisher shares the file. A write waits
  //              kDoorbellGrace for a doorbell, then polls (and re-polls) as
  //              in kWrites.
  //
  // The cost of kBells: a non-ringing publisher's commit waits for the
  // timed poll (the documented bound, poll_interval), which then moves the
  // listener to kMixed for kBelllessMemory. So in a deployment that mixes
  // upstream publishers with ours, the first upstream commit after ten
  // quiet minutes is delivered by polling, the rest by wakes.
  enum class Listen { kWrites, kBells, kMixed };
  static constexpr auto kDoorbellMemory = std::chrono::minutes(10);
  static constexpr auto kBelllessMemory = std::chrono::minutes(10);
  static constexpr auto kDoorbellGrace = microseconds(1000);

  poll_thread_id.store(std::this_thread::get_id());
  const auto interval = std::chrono::duration_cast<Steady::duration>(options.poll_interval);
  auto next_timed = Steady::now() + interval;
  std::size_t retry = std::size(kRetryOffsets);  // none pending
  Steady::time_point wake_at;
  // (Plain values, not std::optional: GCC 12 warns falsely about it here.)
  bool bell_ever = false, bellless_ever = false;
  Steady::time_point bell_heard;     // the last doorbell, when bell_ever
  Steady::time_point bellless_seen;  // the last commit found without one, when bellless_ever
  constexpr auto kNoCheck = Steady::time_point::max();
  Steady::time_point data_check_at = kNoCheck;  // a write waiting for its doorbell (kMixed)
  Listen listening = Listen::kWrites;           // what the watch is set up for

  const auto watch_broke = [&](const std::system_error& e) {
    watcher.reset();
    data_check_at = kNoCheck;
    wake_active.store(false);
    wake_mode.store(WakeMode::kPolling);
    wake_failures.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("wake", std::string("the change watch broke (") + e.what() + "); polling every " +
                              seconds_text(options.poll_interval) + " until restarted");
  };

  // Sets the watch up for what was heard (after each poll, so that a
  // doorbell's poll switches it before the next commit).
  const auto update_listening = [&] {
    const auto now = Steady::now();
    const bool bells = bell_ever && now - bell_heard < kDoorbellMemory;
    const bool bellless = bellless_ever && now - bellless_seen < kBelllessMemory;
    const Listen want = !bells ? Listen::kWrites : bellless ? Listen::kMixed : Listen::kBells;
    if (!watcher || want == listening) return;
    try {
      if ((want == Listen::kBells) != (listening == Listen::kBells)) watcher->watch_writes(want != Listen::kBells);
      listening = want;
      wake_mode.store(want == Listen::kWrites  ? WakeMode::kWrites
                      : want == Listen::kBells ? WakeMode::kDoorbell
                                               : WakeMode::kMixed);
    } catch (const std::system_error& e) {
      watch_broke(e);
    }
  };

  while (running.load()) {
    update_listening();
    auto deadline = next_timed;
    if (retry < std::size(kRetryOffsets)) deadline = std::min(deadline, wake_at + kRetryOffsets[retry]);
    deadline = std::min(deadline, data_check_at);
    const auto left = std::max(Steady::duration::zero(), deadline - Steady::now());
    const auto left_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec timeout{static_cast<time_t>(left_ns / 1'000'000'000), static_cast<long>(left_ns % 1'000'000'000)};
    pollfd fds[2] = {{stop_fd, POLLIN, 0}, {watcher ? watcher->fd() : -1, POLLIN, 0}};
    const int ready = ::ppoll(fds, 2, &timeout, nullptr);
    if (!running.load()) break;
    if (ready < 0 && errno != EINTR) {
      warnings.warn("wait", std::string("ppoll failed: ") + std::strerror(errno));
    }

    enum class Why { kNone, kDoorbell, kWake, kRetry, kTimed } why = Why::kNone;
    const auto woke = Steady::now();
    if (watcher && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
      try {
        const auto events = watcher->drain();
        if (events.doorbell) {
          why = Why::kDoorbell;
          bell_ever = true;
          bell_heard = woke;
          update_listening();  // before the poll, so that its handler runs with the watch set
        } else if (events.data && listening != Listen::kWrites) {
          // kMixed, or writes queued before kBells took effect.
          if (data_check_at == kNoCheck) data_check_at = woke + kDoorbellGrace;
        } else if (events.data) {
          why = Why::kWake;
        }
      } catch (const std::system_error& e) {
        watch_broke(e);
      }
    }
    if (why == Why::kNone) {
      if (woke >= data_check_at) {
        why = Why::kWake;
      } else if (retry < std::size(kRetryOffsets) && woke >= wake_at + kRetryOffsets[retry]) {
        why = Why::kRetry;
      } else if (woke >= next_timed) {
        why = Why::kTimed;
      } else {
        continue;  // a wake about another file, or an early return
      }
    }
    // This poll sees every commit visible now: a data wake waiting for the
    // doorbell needs no poll of its own.
    if (why == Why::kDoorbell || why == Why::kWake) data_check_at = kNoCheck;
    switch (why) {
      case Why::kDoorbell:
        doorbell_wakes.fetch_add(1, std::memory_order_relaxed);
        wakes.fetch_add(1, std::memory_order_relaxed);
        break;
      case Why::kWake: wakes.fetch_add(1, std::memory_order_relaxed); break;
      case Why::kRetry: wake_retries.fetch_add(1, std::memory_order_relaxed); break;
      default: timed_polls.fetch_add(1, std::memory_order_relaxed); break;
    }
    PollOutcome outcome;
    try {
      outcome = poll_once();
    } catch (const BackendError& e) {
      // Counted and recorded by poll_once(); warn and retry next interval (I6).
      warnings.warn("poll", std::string("poll failed, retrying in ") + seconds_text(options.poll_interval) +
                                ": " + e.what());
    }
    if (outcome.skipped && (why == Why::kWake || why == Why::kDoorbell)) {
      empty_wakes.fetch_add(1, std::memory_order_relaxed);
    }
    if (bell_ever && why == Why::kTimed && outcome.delivered > 0) {
      // A commit no wake announced: someone commits without ringing. (Not
      // counted from -wal wakes and re-polls: under load they often land
      // between a ringing publisher's COMMIT and its doorbell.)
      bellless_ever = true;
      bellless_seen = woke;
    }
    update_listening();
    if (why == Why::kWake && outcome.skipped) {
      // A data wake that found nothing: a commit on its way (frames written,
      // not visible yet). An empty doorbell needs no re-poll: it is rung
      // after COMMIT returned, so an earlier poll took its commit.
      wake_at = woke;
      retry = 0;
    } else if (why == Why::kRetry && outcome.skipped) {
      ++retry;
    } else if (why != Why::kTimed && !(why == Why::kDoorbell && outcome.skipped)) {
      // Found what a pending re-poll was waiting for. (An empty doorbell
      // found nothing: a -wal write's re-polls, an upstream commit on its
      // way in kMixed, go on.)
      retry = std::size(kRetryOffsets);
    }
    next_timed = Steady::now() + interval;
  }
  watcher.reset();
  wake_active.store(false);
  wake_mode.store(WakeMode::kPolling);
  poll_thread_id.store(std::thread::id{});
}

void SqliteInvalidationBackend::Impl::reopen_if_replaced() {
  const auto now_at_path = file_at_path();
  if (now_at_path && now_at_path == reader_file) return;
  replaced_pending = true;  // stays set if reopening fails, so the flush is not lost
  warnings.warn("replaced", "the database file \"" + db_path + "\" was " +
                                (now_at_path ? "replaced" : "deleted") +
                                " under this worker; reopening it and flushing the cache (invalidations sent "
                                "to the old file in the meantime cannot be known)");
  {
    std::lock_guard lock(write_mu);  // the only place write_mu is taken under poll_mu
    writer.reset();
  }
  reader.reset();
  // Read the new file from its first row: rows other workers committed to it
  // before this listener noticed the switch are delivered after the flush
  // rather than skipped (retention bounds how many there are). Rewound
  // before opening, so that a failed open (retried by the next poll) does
  // not leave the old file's cursor on the new file.
  cursor.store(0);
  last_data_version = -1;
  open_reader();
  reopens.fetch_add(1, std::memory_order_relaxed);
}

void SqliteInvalidationBackend::Impl::notify_flush(FlushReason reason) {
  flushes.fetch_add(1, std::memory_order_relaxed);
  if (!on_flush) return;
  try {
    const InHandler in_handler(this);
    on_flush(reason);
  } catch (const std::exception& e) {
    handler_errors.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("handler", std::string("flush handler threw: ") + e.what());
  } catch (...) {
    handler_errors.fetch_add(1, std::memory_order_relaxed);
    warnings.warn("handler", "flush handler threw something that is not a std::exception");
  }
}

SqliteInvalidationBackend::Impl::PollOutcome SqliteInvalidationBackend::Impl::poll_once() {
  std::lock_guard lock(poll_mu);
  // Checked under poll_mu, which stop() takes once `running` is false: a
  // poll that got here after stop() cannot run a handler (I15).
  if (!running.load()) return PollOutcome{0, true};
  // Everything this poll calls out to (handlers, the flush handler, the
  // warning sink) may call stop() or poll_now(): they must see that they
  // run inside this poll, which holds poll_mu.
  const InHandler in_poll(this);
  struct Row {
    std::int64_t id;
    std::string keys_json;
  };
  std::vector<Row> rows;
  std::int64_t snapshot_top = 0;    // highest id issued in this poll's snapshot
  std::int64_t missing = 0;         // ids above the cursor pruned before we read them
  bool replaced = false;            // the database file was replaced or deleted (I9)
  const auto now = clock->monotonic().count();
  const auto previous = last_poll_ns.load();
  const bool stalled = previous >= 0 && now - previous > std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                            options.retention).count();
  try {
    if (!reader) open_reader();
    reopen_if_replaced();
    replaced = std::exchange(replaced_pending, false);
    auto& log = *reader;
    const std::int64_t from = cursor.load();
    // One read transaction for the version check and the rows: the version
    // is the snapshot's, and a poll that finds rows takes SQLite's read lock
    // once (each lock and unlock is an fcntl on the -shm file).
    if (log.connection().in_transaction()) {
      // A read transaction that an earlier poll's error left open would make
      // every BEGIN fail from now on.
      try {
        log.rollback.step();
      } catch (...) {
        log.rollback.reset();
        throw;
      }
      log.rollback.reset();
    }
    log.begin_read.step();
    std::int64_t version = 0;
    try {
      log.data_version.step();
      version = log.data_version.column_int64(0);
      log.data_version.reset();
      if (version == last_data_version) {
        // Nobody committed since the last poll: nothing new, nothing pruned.
        log.end_read.step();
        log.end_read.reset();
        skipped_polls.fetch_add(1, std::memory_order_relaxed);
        last_poll_ns.store(now);
        if (replaced) notify_flush(FlushReason::kReplacedFile);
        return PollOutcome{0, true};
      }
      log.id_bounds.bind(1, from);
      log.id_bounds.step();
      snapshot_top = log.id_bounds.column_int64(0);
      const std::int64_t present = log.id_bounds.column_int64(1);  // ids in (from, snapshot_top]
      log.id_bounds.reset();
      missing = snapshot_top > from ? snapshot_top - from - present : 0;  // I8
      log.select_new.bind(1, from)
          .bind(2, std::string_view(options.channel))
          .bind(3, std::string_view(instance_id));
      while (log.select_new.step()) {
        rows.push_back(Row{log.select_new.column_int64(0), std::string(log.select_new.column_text(1))});
      }
      log.select_new.reset();
      log.end_read.step();  // ends the read transaction before handlers run
      log.end_read.reset();
    } catch (...) {
      log.data_version.reset();
      log.id_bounds.reset();
      log.select_new.reset();
      end_read_after_error(log);
      throw;
    }
    last_data_version = version;
  } catch (const BackendError& e) {
    poll_errors.fetch_add(1, std::memory_order_relaxed);
    record_error(std::string("poll failed: ") + e.what());
    throw;
  } catch (const ConfigError& e) {
    poll_errors.fetch_add(1, std::memory_order_relaxed);
    record_error(std::string("poll failed: ") + e.what());
    throw BackendError(e.what(), 0);
  }
  polls.fetch_add(1, std::memory_order_relaxed);
  last_poll_ns.store(now);

  if (replaced) {
    notify_flush(FlushReason::kReplacedFile);  // I9
  } else if (options.detect_gaps && snapshot_top < cursor.load()) {  // I14
    const std::int64_t was = cursor.load();
    gaps_detected.fetch_add(1, std::memory_order_relaxed);
    cursor.store(snapshot_top);  // the only move down while listening
    warnings.warn("regression",
                  "the highest id issued (" + std::to_string(snapshot_top) +
                      ") is below this listener's cursor (" + std::to_string(was) + ") in \"" +
                      db_path +
                      "\": the database was restored in place from a backup, or its table and "
                      "sqlite_sequence were emptied; flushing the cache and reading on from id " +
                      std::to_string(snapshot_top));
    notify_flush(FlushReason::kGap);
  } else if (options.detect_gaps && (missing > 0 || stalled)) {  // I8
    if (missing > 0) {
      gaps_detected.fetch_add(1, std::memory_order_relaxed);
      missed_ids.fetch_add(static_cast<std::uint64_t>(missing), std::memory_order_relaxed);
      warnings.warn("gap", std::to_string(missing) + " row(s) after id " + std::to_string(cursor.load()) +
                               " were pruned before this listener read them (it was stalled, or a publisher's "
                               "clock is ahead); flushing the cache");
      notify_flush(FlushReason::kGap);
    } else {
      stalls_detected.fetch_add(1, std::memory_order_relaxed);
      warnings.warn("stall", "no poll for " + std::to_string((now - previous) / 1'000'000) +
                                 " ms, longer than retention " + seconds_text(options.retention) +
                                 " (process paused or machine suspended?); flushing the cache");
      notify_flush(FlushReason::kStall);
    }
  }

  std::size_t delivered = 0;
  bool finished = true;
  for (const auto& row : rows) {
    if (!running.load()) {  // stop() was called, possibly by the previous handler call
      finished = false;
      break;
    }
    cursor.store(row.id);  // I1, I3: passed before the handler runs
    std::string why;
    auto keys = detail::decode_keys(row.keys_json, &why);
    if (!keys) {  // I4
      malformed_rows.fetch_add(1, std::memory_order_relaxed);
      warnings.warn("malformed", "skipped row " + std::to_string(row.id) + " on channel \"" + options.channel +
                                     "\": keys_json is " + why + "; its publisher does not follow the wire format");
      continue;
    }
    rows_received.fetch_add(1, std::memory_order_relaxed);
    keys_delivered.fetch_add(keys->size(), std::memory_order_relaxed);
    ++delivered;
    if (!handler) continue;
    try {
      const InHandler in_handler(this);
      handler(*keys);
    } catch (const std::exception& e) {  // I5
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      warnings.warn("handler",
                    "invalidation handler threw on row " + std::to_string(row.id) + ": " +
                        e.what() +
                        "; flushing the cache, since its keys may not have been evicted");
      notify_flush(FlushReason::kHandlerError);
    } catch (...) {
      handler_errors.fetch_add(1, std::memory_order_relaxed);
      warnings.warn("handler",
                    "invalidation handler threw a non-exception on row " + std::to_string(row.id) +
                        "; flushing the cache, since its keys may not have been evicted");
      notify_flush(FlushReason::kHandlerError);
    }
  }
  if (finished && snapshot_top > cursor.load()) cursor.store(snapshot_top);  // I3
  return PollOutcome{delivered, false};
}

std::size_t SqliteInvalidationBackend::poll_now() {
  auto& d = *impl_;
  d.fork_guard.check(d.fork_what());
  if (d.poll_thread_id.load() == std::this_thread::get_id() || t_in_handler_of == &d) {
    throw std::logic_error("poll_now() called from the invalidation handler; it would deadlock");
  }
  if (!d.running.load()) throw std::logic_error("poll_now() requires start()");
  return d.poll_once().delivered;
}

SqliteStats SqliteInvalidationBackend::stats() const {
  auto& d = *impl_;
  SqliteStats s;
  s.published = d.published.load();
  s.publish_commits = d.publish_commits.load();
  s.publish_failures = d.publish_failures.load();
  s.busy_waits = d.busy_waits.load();
  s.polls = d.polls.load();
  s.skipped_polls = d.skipped_polls.load();
  s.poll_errors = d.poll_errors.load();
  s.rows_received = d.rows_received.load();
  s.keys_delivered = d.keys_delivered.load();
  s.malformed_rows = d.malformed_rows.load();
  s.handler_errors = d.handler_errors.load();
  s.flushes = d.flushes.load();
  s.gaps_detected = d.gaps_detected.load();
  s.missed_ids = d.missed_ids.load();
  s.stalls_detected = d.stalls_detected.load();
  s.cursor = d.cursor.load();
  // In a child after fork(), the locks below may have been held by threads
  // of the parent, and the lag query would use its connection.
  const bool forked = d.fork_guard.forked();
  if (forked) {
    s.last_error = "used after fork(): build the backend in each worker after the fork";
  } else {
    std::lock_guard lock(d.error_mu);
    s.last_error = d.last_error;
  }
  s.listening = d.running.load();
  s.timed_polls = d.timed_polls.load();
  s.wakes = d.wakes.load();
  s.doorbell_wakes = d.doorbell_wakes.load();
  s.doorbells = d.doorbells.load();
  s.doorbell_failures = d.doorbell_failures.load();
  s.empty_wakes = d.empty_wakes.load();
  s.wake_retries = d.wake_retries.load();
  s.wake_failures = d.wake_failures.load();
  s.wake_active = d.wake_active.load();
  s.wake_mode = d.wake_mode.load();
  s.reopens = d.reopens.load();
  s.queued = d.queued.load();
  s.outbox_committed = d.outbox_committed.load();
  s.outbox_dropped = d.outbox_dropped.load();
  s.outbox_overflows = d.outbox_overflows.load();
  s.outbox_retries = d.outbox_retries.load();
  s.checkpoints = d.checkpoints.load();
  s.checkpoints_busy = d.checkpoints_busy.load();
  s.rows_pruned = d.rows_pruned.load();
  if (!forked) {
    std::lock_guard lock(d.bg_mu);
    s.outbox_depth = d.outbox.size();
  }
  if (const auto last = d.last_poll_ns.load(); last >= 0) {
    s.since_last_poll = d.clock->monotonic() - std::chrono::nanoseconds(last);
  }
  if (forked) {
    s.listening = false;
  } else if (s.listening) {
    std::lock_guard lock(d.lag_mu);
    try {
      const auto now_at_path = d.file_at_path();
      if (!d.lag_log || !now_at_path || now_at_path != d.lag_log_file) {
        d.lag_log.reset();
        d.lag_log = d.open_current(&d.lag_log_file);
      }
      auto& lag = d.lag_log->count_lag;
      lag.bind(1, s.cursor).bind(2, std::string_view(d.options.channel)).bind(3, std::string_view(d.instance_id));
      lag.step();
      s.lag = lag.column_int64(0);
      lag.reset();
    } catch (const std::exception& e) {
      s.lag = -1;  // unknown; the reason is in last_error
      s.last_error = std::string("lag query failed: ") + e.what();
    }
  }
  return s;
}

const std::string& SqliteInvalidationBackend::instance_id() const noexcept { return impl_->instance_id; }
const std::string& SqliteInvalidationBackend::db_path() const noexcept { return impl_->db_path; }
const SqliteOptions& SqliteInvalidationBackend::options() const noexcept { return impl_->options; }

}  // namespace pjx
