// Nemesis: the fault actions the runner applies to a scenario's database,
// files and clocks (process faults, SIGSTOP/SIGCONT/SIGKILL, go through
// ChildProcess::signal). Each is a small, blocking, bounded operation; the
// runner records a `fault` record around it.
//
// Thread safety: no shared state; each object is used by one thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

struct sqlite3;

namespace pjx::harness {

// Another process holding the database's write lock: BEGIN IMMEDIATE on a
// connection of the harness's own, held until release() or destruction.
class DbWriteLock {
 public:
  // Takes the lock, waiting at most `acquire_timeout_ms` for writers that
  // hold it. Throws std::runtime_error naming the database and SQLite's
  // error when it cannot (missing file, timeout).
  DbWriteLock(const std::filesystem::path& db, int acquire_timeout_ms);
  ~DbWriteLock();
  DbWriteLock(const DbWriteLock&) = delete;
  DbWriteLock& operator=(const DbWriteLock&) = delete;

  // Rolls back and closes. Idempotent.
  void release();

 private:
  sqlite3* db_ = nullptr;
};

// libfaketime's preload library found under /usr/lib/*/faketime/ (the
// thread-safe libfaketimeMT.so.1 preferred, else libfaketime.so.1), or
// empty when it is not installed.
std::filesystem::path find_libfaketime();

// Writes a libfaketime offset ("+3600", "-90.5": seconds) to `file`
// atomically (temporary file + rename), so that a process reading it with
// FAKETIME_NO_CACHE=1 never sees half a value. Throws std::runtime_error.
void write_faketime_offset(const std::filesystem::path& file, double offset_s);

// Unlinks the database file, and its -wal and -shm files when `sidecars`.
// Returns what was done.
std::string delete_db(const std::filesystem::path& db, bool sidecars);

// Writes a new, empty SQLite database beside `db` and renames it over `db`,
// as a deploy or restore that replaces the file would. With `sidecars`, the
// old -wal and -shm are unlinked first (as a deploy that ships the file alone
// onto a clean directory would), so that no process can be held on the old
// WAL and the new file's readers start from its first row. Returns what was
// done. Throws std::runtime_error.
std::string replace_db(const std::filesystem::path& db, bool sidecars);

// Copies the live database `db` into `snapshot` with SQLite's online backup
// API (a consistent copy while workers write). Returns what was done.
// Throws std::runtime_error.
std::string snapshot_db(const std::filesystem::path& db, const std::filesystem::path& snapshot);

// Restores `snapshot` into the live database `db` in place, as
// `sqlite3 db ".restore snapshot"` does: the backup API writes the old pages
// into the same file (same inode) through a connection of its own, so
// running workers see ids and sqlite_sequence go back. Returns what was
// done. Throws std::runtime_error.
std::string restore_db(const std::filesystem::path& db, const std::filesystem::path& snapshot);

// Makes `dir` read-only by bind-mounting it onto itself and remounting the
// bind read-only (needs root, or CAP_SYS_ADMIN). Files opened before keep
// their access; new opens and creations in `dir` fail with EROFS.
//
// Both mounting faults mount only inside the run's private mount namespace
// (mount_namespace.hpp), which dies with the run's last process; outside one
// they refuse, so a killed harness never leaves a mount on the host.
class ReadonlyBind {
 public:
  // Throws std::runtime_error with the system's reason when mounting fails,
  // or mount_faults_unavailable() when the process has no private namespace.
  explicit ReadonlyBind(const std::filesystem::path& dir);
  ~ReadonlyBind();
  ReadonlyBind(const ReadonlyBind&) = delete;
  ReadonlyBind& operator=(const ReadonlyBind&) = delete;

  // Unmounts. Idempotent. Returns an error message, or "" when it worked.
  std::string undo();

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

// A small, size-limited filesystem (tmpfs with size=`bytes`) mounted on
// `dir` for a whole run, so that a `disk_full` fault can really fill the
// disk under the workers. Needs root (or CAP_SYS_ADMIN). While mounted it
// hides what `dir` held; what is written to it is gone after unmounting.
class SizeLimitedFs {
 public:
  // Throws std::runtime_error saying that mounting a size-limited
  // filesystem needs root, with the system's reason, when mounting fails or
  // the process has no private mount namespace.
  SizeLimitedFs(const std::filesystem::path& dir, std::uint64_t bytes);
  ~SizeLimitedFs();
  SizeLimitedFs(const SizeLimitedFs&) = delete;
  SizeLimitedFs& operator=(const SizeLimitedFs&) = delete;

  // Unmounts (detaching lazily when a file is still open). Idempotent.
  // Returns an error message, or "" when it worked.
  std::string undo();

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

// Free bytes for an unprivileged writer on the filesystem holding `path`
// (statvfs f_bavail x f_frsize). Throws std::runtime_error.
std::uint64_t free_bytes(const std::filesystem::path& path);

struct FillResult {
  std::uint64_t written = 0;      // bytes in the filler file
  std::uint64_t free_before = 0;  // free bytes before filling
  std::uint64_t free_after = 0;   // free bytes left (0 on a full tmpfs)
};

// Fills the filesystem holding `filler` by writing `filler` (created or
// truncated) until the filesystem refuses more (ENOSPC), down to 512-byte
// writes. Throws std::runtime_error for any other write error.
FillResult fill_filesystem(const std::filesystem::path& filler);

// One worker without inotify, the machine's other processes untouched: the
// worker runs in a user namespace of its own (its uid and gid mapped to
// themselves, so the files it creates are owned as usual) whose
// user.max_inotify_instances is `instances`. The kernel checks that limit
// and every ancestor namespace's, so nobody else's limit changes. With 0,
// inotify_init1() fails with EMFILE, as when the per-user limit is
// exhausted.

// "" when this host lets a process limit itself so (Linux with user
// namespaces allowed), else the reason. Tries it in a short-lived child.
std::string inotify_limit_unavailable();

// The argv prefix that runs a command under the limit:
// {this executable, "with-inotify-limit", "<instances>", "--"}.
std::vector<std::string> inotify_limit_prefix(int instances);

// `pjx-harness with-inotify-limit N -- CMD [ARGS...]`: applies the limit to
// this process, then execvp(CMD). Returns only on failure: an exit status
// (126), having written the reason to stderr. REQUIRES: single-threaded
// (unshare(CLONE_NEWUSER) refuses multi-threaded callers).
int exec_with_inotify_limit(int argc, char** argv);

}  // namespace pjx::harness
