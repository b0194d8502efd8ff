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
//
// Thread safety: all methods are thread-safe and lock-free on the call path
// (atomics): connections on many threads may use the shim while another
// thread arms, clears or reads counters. arm() takes effect atomically: a
// call sees either the previous fault or the new one, never a mix.
// A FaultVfs lives until the process exits (SQLite may hold files opened
// through it); install() with the same name returns the same object.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

enum class FaultError { kIo, kFull, kCantOpen, kBusy };

// What to fail. Parsed from and printed as "kind=write,nth=5,error=full,persistent=1".
struct FaultSpec {
  FaultKind kind = FaultKind::kWrite;
  std::uint64_t nth = 1;  // >= 1: the Nth call of `kind` after arm() fails
  FaultError error = FaultError::kIo;
  bool persistent = false;  // also every later call of `kind`, until clear()
};

// "open", "write", "shm_lock", ...; "io", "full", "cantopen", "busy".
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
