// Nemesis: the fault actions the runner applies to a scenario's database,
// files and clocks (process faults, SIGSTOP/SIGCONT/SIGKILL, go through
// ChildProcess::signal). Each is a small, blocking, bounded operation; the
// runner records a `fault` record around it.
//
// Thread safety: no shared state; each object is used by one thread.
#pragma once

#include <filesystem>
#include <string>

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
// as a deploy or restore that replaces the file would. Returns what was done.
// Throws std::runtime_error.
std::string replace_db(const std::filesystem::path& db);

// Makes `dir` read-only by bind-mounting it onto itself and remounting the
// bind read-only (needs root, or CAP_SYS_ADMIN). Files opened before keep
// their access; new opens and creations in `dir` fail with EROFS.
class ReadonlyBind {
 public:
  // Throws std::runtime_error with the system's reason when mounting fails.
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

}  // namespace pjx::harness
