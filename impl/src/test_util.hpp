// Helpers for the library's tests: raw access to a database file, as another
// program (or an upstream Python worker) would see it.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "pjx/sqlite_backend.hpp"

namespace pjx::testing {

// True once `condition` holds, checked every millisecond for up to `limit`.
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// A plain SQLite connection for inspecting and tampering with a database.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
      throw std::runtime_error("open " + path);
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close_v2(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  void exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string message = err ? err : "?";
      sqlite3_free(err);
      throw std::runtime_error(sql + ": " + message);
    }
  }

  // Runs `sql` with text parameters bound in order; returns rows of text.
  std::vector<std::vector<std::string>> query(const std::string& sql, const std::vector<std::string>& params = {}) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    }
    for (std::size_t i = 0; i < params.size(); ++i) {
      sqlite3_bind_text(stmt, static_cast<int>(i + 1), params[i].c_str(), -1, SQLITE_TRANSIENT);
    }
    std::vector<std::vector<std::string>> rows;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        const auto* text = sqlite3_column_text(stmt, c);
        row.emplace_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db_));
    return rows;
  }

  std::string scalar(const std::string& sql, const std::vector<std::string>& params = {}) {
    auto rows = query(sql, params);
    return rows.empty() || rows[0].empty() ? std::string() : rows[0][0];
  }

  // Overwrites this database in place (same file, same inode) with the
  // contents of `backup`, through SQLite's online backup API, as
  // `sqlite3 pjx.db ".restore backup.db"` does.
  void restore_from(const std::string& backup) {
    sqlite3* src = nullptr;
    if (sqlite3_open_v2(backup.c_str(), &src, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(src);
      throw std::runtime_error("open " + backup);
    }
    sqlite3_backup* copy = sqlite3_backup_init(db_, "main", src, "main");
    const int rc = copy ? sqlite3_backup_step(copy, -1) : SQLITE_ERROR;
    sqlite3_backup_finish(copy);
    sqlite3_close_v2(src);
    if (rc != SQLITE_DONE)
      throw std::runtime_error("restore from " + backup + ": " + sqlite3_errmsg(db_));
  }

  // Copies this database to `backup` through the online backup API.
  void back_up_to(const std::string& backup) {
    RawDb dest(backup);
    sqlite3_backup* copy = sqlite3_backup_init(dest.db_, "main", db_, "main");
    const int rc = copy ? sqlite3_backup_step(copy, -1) : SQLITE_ERROR;
    sqlite3_backup_finish(copy);
    if (rc != SQLITE_DONE)
      throw std::runtime_error("back up to " + backup + ": " + sqlite3_errmsg(dest.db_));
  }

  // Inserts a row as another publisher would (all values bound).
  void insert_row(const std::string& instance_id, const std::string& channel, const std::string& keys_json,
                  double created_at) {
    query("INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) VALUES (?1, ?2, ?3, ?4)",
          {instance_id, channel, keys_json, std::to_string(created_at)});
  }

 private:
  sqlite3* db_ = nullptr;
};

// Options for a backend that stays out of a test's way: no change wake, a
// poll interval and retention far longer than any test (polls happen only
// through poll_now()), warnings dropped.
inline SqliteOptions quiet_options() {
  using namespace std::chrono_literals;
  SqliteOptions o;
  o.wake_on_change = false;
  o.poll_interval = 3600s;
  o.retention = 7200s;
  o.on_warning = [](const std::string&) {};
  return o;
}

}  // namespace pjx::testing
