// FaultVfs: a fault-injecting SQLite VFS, for proving that every error path
// below SQLite is handled (in the spirit of SQLite's own test VFS and its
// fault-simulation loops, test/malloc_common.tcl).
//
// FaultVfs::install(name) registers a sqlite3_vfs shim called `name` over the
// default VFS (as it is at installation), never as the default. Open a
// database through it with SqliteOptions::vfs = name (or sqlite3_open_v2's
// zVfs). Every call passes through to the real VFS and file, except that an
// armed fault makes the Nth call of one kind, counted from arm(), fail with
// a chosen error: once, or (persistent) that call and every later call of
// the kind until clear() or the next arm().
//
// Kinds, and which calls count as each (calls on any file opened through the
// shim: the database, its -wal and -shm, journals, temporary files):
//
//   open       sqlite3_vfs::xOpen          delete     sqlite3_vfs::xDelete
//   access     sqlite3_vfs::xAccess        read       sqlite3_io_methods::xRead
//   write      xWrite                      sync       xSync
//   truncate   xTruncate                   file_size  xFileSize
//   lock       xLock (every call acquires; xUnlock and xCheckReservedLock
//              pass through uncounted, so a fault never leaks a held lock)
//   shm_map    xShmMap
//   shm_lock   xShmLock calls that acquire a lock (SQLITE_SHM_LOCK); calls
//              that release pass through uncounted, for the same reason
//
// xClose, xFileControl, xSectorSize, xDeviceCharacteristics, xShmBarrier,
// xShmUnmap, xFetch/xUnfetch and the VFS's other methods always pass through.
// An injected fault does not call the real method: the file is unchanged.
//
// Errors (FaultError) and the kinds they apply to:
//
//   io        every kind: the kind's own extended code (SQLITE_IOERR_READ,
//             _WRITE, _FSYNC, _TRUNCATE, _FSTAT, _LOCK, _SHMMAP, _SHMLOCK,
//             _DELETE, _ACCESS; SQLITE_IOERR for open)
//   full      write, truncate, sync, shm_map, open: SQLITE_FULL (disk full)
//   cantopen  open: SQLITE_CANTOPEN
//   busy      lock, shm_lock: SQLITE_BUSY (another process holds the lock)
//   readonly  open: the real open is made read-only, as SQLite does when the
//             file is on a read-only mount (open(O_RDWR) fails with EROFS);
//             the open succeeds and every write through that file is
//             refused with SQLITE_READONLY ("attempt to write a readonly
//             database"); a file that does not exist cannot be created
//
// Thread safety: all methods are thread-safe and lock-free on the call path
// (atomics): connections on many threads may use the shim while another
// thread arms, clears or reads counters. arm() takes effect atomically: a
// call sees either the previous fault or the new one, never a mix.
// A FaultVfs lives until the process exits (SQLite may hold files opened
// through it); install() with the same name returns the same object.
//
// Power loss (in the spirit of LazyFS, which keeps unsynced writes in a page
// cache it can drop): record_unsynced(log) makes the shim write down, before
// every xWrite and xTruncate of a main database or WAL file, what the call
// overwrites (the old bytes and the old size), and a mark after every xSync
// of such a file that succeeded, in a log that several processes may share.
// Once every process that wrote through it is dead, roll_back_unsynced(log)
// puts each file back as its last sync left it: what a power loss would leave
// if the disk kept nothing it had not been asked to make durable, or (with a
// PowerLossModel) some of it, in any combination. The model's limits:
// directory changes (creating, renaming, deleting a file) count as durable
// at once, and a write is kept whole or not at all (a real disk may keep
// part of one, though SQLite's pages are written whole). The -shm file is
// left as it is: the first process to open the database afterwards finds no
// other user and rebuilds it from the WAL, as after a real power loss.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pjx {

enum class FaultKind {
  kOpen,
  kDelete,
  kAccess,
  kRead,
  kWrite,
  kSync,
  kTruncate,
  kFileSize,
  kLock,
  kShmMap,
  kShmLock,
};
inline constexpr int kFaultKindCount = 11;

enum class FaultError { kIo, kFull, kCantOpen, kBusy, kReadonly };

// What to fail. Parsed from and printed as "kind=write,nth=5,error=full,persistent=1".
struct FaultSpec {
  FaultKind kind = FaultKind::kWrite;
  std::uint64_t nth = 1;  // >= 1: the Nth call of `kind` after arm() fails
  FaultError error = FaultError::kIo;
  bool persistent = false;  // also every later call of `kind`, until clear()
};

// "open", "write", "shm_lock", ...; "io", "full", "cantopen", "busy", "readonly".
std::string_view to_string(FaultKind kind) noexcept;
std::string_view to_string(FaultError error) noexcept;
std::optional<FaultKind> parse_fault_kind(std::string_view text) noexcept;
std::optional<FaultError> parse_fault_error(std::string_view text) noexcept;

// Whether SQLite can meet `error` from a call of `kind` (the table above).
bool fault_applies(FaultKind kind, FaultError error) noexcept;

// The SQLite result code an injected fault returns.
// REQUIRES: fault_applies(kind, error).
int fault_result_code(FaultKind kind, FaultError error) noexcept;

// Parses "kind=K,nth=N,error=E,persistent=0|1": comma-separated key=value
// pairs, no spaces; `kind` is required, nth defaults to 1, error to io,
// persistent to 0. Throws std::invalid_argument naming the bad part and the
// accepted values: unknown or repeated key, unknown kind or error, an error
// that does not apply to the kind, nth not a positive integer, persistent not
// 0 or 1.
FaultSpec parse_fault_spec(std::string_view text);
std::string to_string(const FaultSpec& spec);

// Which unsynced changes a power loss keeps: none (keep = 0, the default:
// the disk kept exactly what was synced), or each with probability `keep`,
// drawn from `seed` (a disk that wrote some of its cache back in time, in
// no particular order: what synchronous=NORMAL must also survive).
struct PowerLossModel {
  double keep = 0;
  std::uint64_t seed = 1;
};

// What roll_back_unsynced did.
struct UnsyncedRollback {
  std::uint64_t records = 0;        // records read from the log
  std::uint64_t files = 0;          // files with unsynced changes
  std::uint64_t changes_undone = 0;  // writes and truncates lost
  std::uint64_t changes_kept = 0;    // unsynced writes and truncates the model kept
  std::uint64_t bytes_undone = 0;    // bytes written back
  std::int64_t last_sync_ns = 0;     // CLOCK_MONOTONIC of the last sync mark (0: none)
  std::vector<std::string> notes;    // files that were gone, a torn last record
};

// Undoes, file by file and newest first, every write and truncate recorded
// in the power-loss log at `log_path` after that file's last sync (or its
// last deletion), then makes again, in their order, those `model` keeps.
// REQUIRES: no process writes through the log any more (all
// of them were killed). Throws std::runtime_error naming the file when the
// log cannot be read or is not a power-loss log, or when a file cannot be
// written back.
UnsyncedRollback roll_back_unsynced(const std::string& log_path, const PowerLossModel& model = {});

class FaultVfs {
 public:
  // Registers the shim named `name` over the current default VFS, unless a
  // FaultVfs of that name is installed already (then returns it).
  // Throws std::invalid_argument for an empty name or one that another,
  // non-FaultVfs VFS is registered under; std::runtime_error when SQLite has
  // no default VFS or registration fails.
  static FaultVfs& install(const std::string& name = "pjx-fault");

  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  // The name to pass as SqliteOptions::vfs.
  const std::string& name() const noexcept;

  // Arms `spec`, replacing any armed fault: the spec.nth-th call of
  // spec.kind from now on fails. REQUIRES: spec.nth >= 1 and
  // fault_applies(spec.kind, spec.error); throws std::invalid_argument
  // otherwise (nothing armed then).
  void arm(const FaultSpec& spec);
  // Disarms: every call passes through again. Counters are kept.
  void clear() noexcept;
  // The armed fault, if any (a persistent one stays armed after it fired;
  // a one-shot one is reported until clear() even after it fired).
  std::optional<FaultSpec> armed() const noexcept;

  // Power loss: from now on, record what every write and truncate of a main
  // database or WAL file opened through the shim overwrites, and every sync
  // of one, into the log at `log_path` (created if missing, appended to).
  // Files opened before the call are recorded too. Throws std::runtime_error
  // naming the path when the log cannot be opened. A call whose record
  // cannot be written fails with SQLITE_IOERR_WRITE (or _TRUNCATE), so that
  // nothing is changed that the rollback could not undo.
  void record_unsynced(const std::string& log_path);
  // The log being recorded into, or "".
  std::string recording() const;

  // Calls of `kind` through the shim since installation or reset_counters()
  // (faulted calls included).
  std::uint64_t calls(FaultKind kind) const noexcept;
  // Faults injected since installation or reset_counters().
  std::uint64_t faults_injected() const noexcept;
  void reset_counters() noexcept;

  struct State;  // the shim's state, shared with its C callbacks

 private:
  explicit FaultVfs(State* state) : state_(state) {}
  State* state_;
};

}  // namespace pjx
