// TruthStore: the application data a worker's reads and writes stand for, so
// that the harness can judge what a worker's cache serves (protocol v2 ops
// `read` and `write`, harness/PROTOCOL.md).
//
// One small SQLite file shared by every worker of a run (PJX_TRUTH_DB),
// separate from the invalidation event log. It holds one version per key:
//
//   CREATE TABLE truth (key TEXT PRIMARY KEY, version INTEGER NOT NULL)
//
// Invariants:
//  T1. A key's version starts at 0 (no row) and only increases, by exactly 1
//      per committed bump(), whichever process bumps it: versions of one key
//      are 1, 2, 3, ... in commit order.
//  T2. read() returns the version of the last bump() committed before it (it
//      runs in its own read transaction).
// It is opened with SQLite's default VFS, never through a worker's fault VFS,
// so that injected faults hit the event log alone.
//
// Thread safety: a TruthStore is used by one thread at a time (the worker's op
// loop; a `burst` does not touch it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

struct sqlite3;
struct sqlite3_stmt;

namespace pjx::harness {

class TruthStore {
 public:
  // Opens (creating if missing) the store at `path`, in WAL mode with a
  // busy timeout of `busy_timeout_ms`. Throws std::runtime_error naming the
  // path and SQLite's message.
  TruthStore(const std::filesystem::path& path, int busy_timeout_ms);
  ~TruthStore();
  TruthStore(const TruthStore&) = delete;
  TruthStore& operator=(const TruthStore&) = delete;

  // Increments `key`'s version in one write transaction and returns the new
  // version (T1). Throws std::runtime_error; then nothing changed.
  std::int64_t bump(const std::string& key);
  // The key's committed version, 0 when it was never bumped (T2). Throws
  // std::runtime_error.
  std::int64_t read(const std::string& key);

  const std::filesystem::path& path() const { return path_; }

 private:
  [[noreturn]] void fail(const std::string& what) const;
  std::int64_t step_version(sqlite3_stmt* stmt, const std::string& key, const char* what);

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* bump_ = nullptr;
  sqlite3_stmt* read_ = nullptr;
};

}  // namespace pjx::harness
