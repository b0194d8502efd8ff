// TruthStore: see truth_store.hpp.
#include "truth_store.hpp"

#include <sqlite3.h>

#include <stdexcept>
#include <string>

namespace pjx::harness {

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS truth (key TEXT PRIMARY KEY, version INTEGER NOT NULL)";
// One statement: the row is created at version 1 or incremented, and the new
// version comes back in the same write transaction.
constexpr const char* kBump =
    "INSERT INTO truth (key, version) VALUES (?1, 1) "
    "ON CONFLICT (key) DO UPDATE SET version = version + 1 RETURNING version";
constexpr const char* kRead = "SELECT version FROM truth WHERE key = ?1";

}  // namespace

TruthStore::TruthStore(const std::filesystem::path& path, int busy_timeout_ms) : path_(path) {
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  // nullptr: SQLite's default VFS, whatever fault VFS the worker registered.
  if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    const std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("truth store " + path_.string() + ": cannot open: " + message +
                             "; PJX_TRUTH_DB must name a writable file path");
  }
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  // WAL lets readers of other workers go on while one worker bumps a version.
  if (sqlite3_exec(db_, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db_, "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_exec(db_, kSchema, nullptr, nullptr, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, kBump, -1, &bump_, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db_, kRead, -1, &read_, nullptr) != SQLITE_OK) {
    const std::string message = sqlite3_errmsg(db_);
    sqlite3_finalize(bump_);
    sqlite3_finalize(read_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("truth store " + path_.string() + ": " + message);
  }
}

TruthStore::~TruthStore() {
  sqlite3_finalize(bump_);
  sqlite3_finalize(read_);
  sqlite3_close(db_);
}

void TruthStore::fail(const std::string& what) const {
  throw std::runtime_error("truth store " + path_.string() + ": " + what + ": " +
                           sqlite3_errmsg(db_));
}

std::int64_t TruthStore::step_version(sqlite3_stmt* stmt, const std::string& key,
                                      const char* what) {
  sqlite3_reset(stmt);
  if (sqlite3_bind_text(stmt, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT) !=
      SQLITE_OK) {
    fail(what);
  }
  std::int64_t version = 0;
  int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) {
    version = sqlite3_column_int64(stmt, 0);
    rc = sqlite3_step(stmt);  // RETURNING commits when the statement finishes
  }
  if (rc != SQLITE_DONE) {
    sqlite3_reset(stmt);
    fail(what);
  }
  sqlite3_reset(stmt);
  return version;
}

std::int64_t TruthStore::bump(const std::string& key) {
  const std::int64_t version = step_version(bump_, key, "bump");
  if (version <= 0) throw std::runtime_error("truth store " + path_.string() + ": bump of \"" +
                                             key + "\" returned no version");
  return version;
}

std::int64_t TruthStore::read(const std::string& key) { return step_version(read_, key, "read"); }

}  // namespace pjx::harness
