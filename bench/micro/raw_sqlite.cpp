#include "raw_sqlite.hpp"

#include <memory>
#include <stdexcept>

#include "event_log.hpp"

namespace pjx::bench {
namespace {

// The schema: the library's own (event_log.hpp).
using detail::kCreateIndexSql;
using detail::kCreateTableSql;
constexpr const char* kInsert =
    "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) "
    "VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kPrune = "DELETE FROM pjx_invalidation WHERE created_at < ?1";

[[noreturn]] void fail(sqlite3* db, const std::string& path, const char* what) {
  throw std::runtime_error(std::string(what) + " on \"" + path +
                           "\" failed: " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory"));
}

void exec_on(sqlite3* db, const std::string& path, const char* sql) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail(db, path, sql);
}

// Prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path), sql_(sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail(db, path, sql);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  void bind(int index, std::string_view text) {
    check(sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                            SQLITE_TRANSIENT));
  }
  void bind(int index, double value) { check(sqlite3_bind_double(stmt_, index, value)); }
  // Runs to completion; returns the first column of the last row, if any.
  std::int64_t run() {
    std::int64_t result = 0;
    int rc = 0;
    while ((rc = sqlite3_step(stmt_)) == SQLITE_ROW) result = sqlite3_column_int64(stmt_, 0);
    if (rc != SQLITE_DONE) fail(db_, path_, sql_);
    sqlite3_reset(stmt_);
    return result;
  }

 private:
  void check(int rc) {
    if (rc != SQLITE_OK) fail(db_, path_, sql_);
  }
  sqlite3* db_;
  const std::string& path_;
  const char* sql_;
  sqlite3_stmt* stmt_ = nullptr;
};

sqlite3* open_db(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("open \"" + path + "\" failed: " + message);
  }
  return db;
}

// Closes the connection however the publish ends.
struct CloseOnExit {
  sqlite3* db;
  ~CloseOnExit() { sqlite3_close_v2(db); }
};

}  // namespace

void upstream_publish(const std::string& db_path, const EventRow& row, double now,
                      double retention_seconds, bool synchronous_full) {
  sqlite3* db = open_db(db_path);
  CloseOnExit closer{db};
  // Python executes these through cursors: each is prepared, stepped, finalized.
  { Stmt(db, db_path, "PRAGMA journal_mode=WAL").run(); }
  { Stmt(db, db_path, "PRAGMA busy_timeout=5000").run(); }
  if (!synchronous_full) exec_on(db, db_path, "PRAGMA synchronous=NORMAL");
  { Stmt(db, db_path, kCreateTableSql.data()).run(); }
  { Stmt(db, db_path, kCreateIndexSql.data()).run(); }
  // Python's sqlite3 opens a (deferred) transaction before the first DML.
  exec_on(db, db_path, "BEGIN");
  try {
    {
      Stmt insert(db, db_path, kInsert);
      insert.bind(1, row.instance_id);
      insert.bind(2, row.channel);
      insert.bind(3, row.keys_json);
      insert.bind(4, now);
      insert.run();
    }
    {
      Stmt prune(db, db_path, kPrune);
      prune.bind(1, now - retention_seconds);
      prune.run();
    }
    exec_on(db, db_path, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

struct BarePublisher::Impl {
  explicit Impl(const std::string& db_path) : db(open_db(db_path)), path(db_path) {}
  ~Impl() {
    insert.reset();
    prune.reset();
    begin.reset();
    commit.reset();
    sqlite3_close_v2(db);
  }
  sqlite3* db;
  std::string path;
  std::unique_ptr<Stmt> begin, insert, prune, commit;
};

BarePublisher::BarePublisher(const std::string& db_path) : impl_(new Impl(db_path)) {
  try {
    Impl& i = *impl_;
    sqlite3_busy_timeout(i.db, 5000);
    Stmt(i.db, i.path, "PRAGMA journal_mode=WAL").run();
    exec_on(i.db, i.path, "PRAGMA synchronous=NORMAL");
    exec_on(i.db, i.path, std::string(kCreateTableSql).c_str());
    exec_on(i.db, i.path, std::string(kCreateIndexSql).c_str());
    i.begin = std::make_unique<Stmt>(i.db, i.path, "BEGIN IMMEDIATE");
    i.insert = std::make_unique<Stmt>(i.db, i.path, kInsert);
    i.prune = std::make_unique<Stmt>(i.db, i.path, kPrune);
    i.commit = std::make_unique<Stmt>(i.db, i.path, "COMMIT");
  } catch (...) {
    delete impl_;
    throw;
  }
}

BarePublisher::~BarePublisher() { delete impl_; }

void BarePublisher::publish(const EventRow& row, double now, double retention_seconds) {
  Impl& i = *impl_;
  i.begin->run();
  try {
    i.insert->bind(1, row.instance_id);
    i.insert->bind(2, row.channel);
    i.insert->bind(3, row.keys_json);
    i.insert->bind(4, now);
    i.insert->run();
    i.prune->bind(1, now - retention_seconds);
    i.prune->run();
    i.commit->run();
  } catch (...) {
    sqlite3_exec(i.db, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

RawDb::RawDb(const std::string& db_path) : db_(open_db(db_path)), path_(db_path) {
  try {
    sqlite3_busy_timeout(db_, 5000);
    Stmt(db_, path_, "PRAGMA journal_mode=WAL").run();
    exec(kCreateTableSql);
    exec(kCreateIndexSql);
  } catch (...) {
    sqlite3_close_v2(db_);
    throw;
  }
}

RawDb::~RawDb() { sqlite3_close_v2(db_); }

void RawDb::exec(std::string_view sql) { exec_on(db_, path_, std::string(sql).c_str()); }

void RawDb::insert_rows(const EventRow& row, std::int64_t count,
                        const std::function<double(std::int64_t)>& created_at) {
  exec("BEGIN IMMEDIATE");
  try {
    Stmt insert(db_, path_, kInsert);
    for (std::int64_t i = 0; i < count; ++i) {
      insert.bind(1, row.instance_id);
      insert.bind(2, row.channel);
      insert.bind(3, row.keys_json);
      insert.bind(4, created_at(i));
      insert.run();
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

void RawDb::delete_all() { exec("DELETE FROM pjx_invalidation"); }

std::int64_t RawDb::count_rows() {
  return Stmt(db_, path_, "SELECT COUNT(*) FROM pjx_invalidation").run();
}

}  // namespace pjx::bench
