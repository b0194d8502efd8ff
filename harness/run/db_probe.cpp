#include "db_probe.hpp"

#include <chrono>
#include <cstdio>
#include <fstream>

#include <sqlite3.h>

namespace pjx::harness {
namespace {

namespace fs = std::filesystem;

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::uintmax_t> size_of(const fs::path& p) {
  std::error_code ec;
  const auto size = fs::file_size(p, ec);
  if (ec) return std::nullopt;
  return size;
}

// Closes a connection on scope exit.
struct Connection {
  sqlite3* db = nullptr;
  ~Connection() {
    if (db != nullptr) sqlite3_close_v2(db);
  }
  std::string error() const { return db != nullptr ? sqlite3_errmsg(db) : "out of memory"; }
};

struct Statement {
  sqlite3_stmt* stmt = nullptr;
  ~Statement() {
    if (stmt != nullptr) sqlite3_finalize(stmt);
  }
};

std::string column_text(sqlite3_stmt* stmt, int i) {
  const unsigned char* text = sqlite3_column_text(stmt, i);
  return text != nullptr ? reinterpret_cast<const char*>(text) : "";
}

// The journal mode as the file header says: bytes 18 and 19 are 2 for WAL.
std::string header_journal_mode(const fs::path& db) {
  std::ifstream in(db, std::ios::binary);
  char header[20] = {};
  if (!in.read(header, sizeof header)) return "unknown";
  if (std::string(header, 15) != "SQLite format 3") return "not a database";
  return header[18] == 2 && header[19] == 2 ? "wal" : "delete";
}

}  // namespace

std::string sqlite_uri(const fs::path& path, const std::string& query) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  if (ec) abs = path;
  std::string out = "file:";
  for (const char c : abs.string()) {
    if (c == '%' || c == '?' || c == '#' || static_cast<unsigned char>(c) < 0x20) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned>(static_cast<unsigned char>(c)));
      out += buf;
    } else {
      out += c;
    }
  }
  if (!query.empty()) out += "?" + query;
  return out;
}

nlohmann::json DbInspection::to_json() const {
  nlohmann::json j;
  j["path"] = path.string();
  j["exists"] = exists;
  if (!error.empty()) j["error"] = error;
  j["journal_mode"] = journal_mode;
  j["has_table"] = has_table;
  nlohmann::json ch = nlohmann::json::object();
  for (const auto& [name, rows] : channels) ch[name] = rows;
  j["channels"] = ch;
  j["total_rows"] = total_rows;
  j["max_id"] = max_id;
  j["oldest_age_s"] = oldest_created_at ? nlohmann::json(inspected_at - *oldest_created_at)
                                        : nlohmann::json();
  j["newest_age_s"] = newest_created_at ? nlohmann::json(inspected_at - *newest_created_at)
                                        : nlohmann::json();
  j["wal_bytes"] = wal_size ? nlohmann::json(*wal_size) : nlohmann::json();
  j["shm_bytes"] = shm_size ? nlohmann::json(*shm_size) : nlohmann::json();
  return j;
}

DbInspection inspect_db(const fs::path& db) {
  DbInspection out;
  out.path = db;
  std::error_code ec;
  out.exists = fs::is_regular_file(db, ec);
  out.wal_size = size_of(fs::path(db.string() + "-wal"));
  out.shm_size = size_of(fs::path(db.string() + "-shm"));
  if (!out.exists) {
    out.error = fs::exists(db, ec) ? "not a regular file" : "no such file";
    return out;
  }
  out.immutable = !out.wal_size && !out.shm_size;
  Connection c;
  const std::string uri = sqlite_uri(db, out.immutable ? "mode=ro&immutable=1" : "mode=ro");
  if (sqlite3_open_v2(uri.c_str(), &c.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) !=
      SQLITE_OK) {
    out.error = "cannot open read-only: " + c.error();
    return out;
  }
  sqlite3_busy_timeout(c.db, 2000);
  if (out.immutable) {
    out.journal_mode = header_journal_mode(db);
  } else {
    Statement s;
    if (sqlite3_prepare_v2(c.db, "PRAGMA journal_mode", -1, &s.stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(s.stmt) == SQLITE_ROW) {
      out.journal_mode = column_text(s.stmt, 0);
    } else {
      out.error = "PRAGMA journal_mode failed: " + c.error();
      return out;
    }
  }
  {
    Statement s;
    if (sqlite3_prepare_v2(c.db,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                           -1, &s.stmt, nullptr) != SQLITE_OK) {
      out.error = "cannot read the schema: " + c.error();
      return out;
    }
    sqlite3_bind_text(s.stmt, 1, "pjx_invalidation", -1, SQLITE_STATIC);
    if (sqlite3_step(s.stmt) != SQLITE_ROW) {
      out.error = "cannot read the schema: " + c.error();
      return out;
    }
    out.has_table = sqlite3_column_int64(s.stmt, 0) > 0;
  }
  if (!out.has_table) return out;
  // One read transaction, so that the counts and ages agree.
  sqlite3_exec(c.db, "BEGIN", nullptr, nullptr, nullptr);
  {
    Statement s;
    if (sqlite3_prepare_v2(c.db,
                           "SELECT count(*), coalesce(max(id), 0), min(created_at), "
                           "max(created_at) FROM pjx_invalidation",
                           -1, &s.stmt, nullptr) != SQLITE_OK ||
        sqlite3_step(s.stmt) != SQLITE_ROW) {
      out.error = "cannot read pjx_invalidation: " + c.error();
      sqlite3_exec(c.db, "ROLLBACK", nullptr, nullptr, nullptr);
      return out;
    }
    out.inspected_at = wall_now();
    out.total_rows = sqlite3_column_int64(s.stmt, 0);
    out.max_id = sqlite3_column_int64(s.stmt, 1);
    if (sqlite3_column_type(s.stmt, 2) != SQLITE_NULL) {
      out.oldest_created_at = sqlite3_column_double(s.stmt, 2);
      out.newest_created_at = sqlite3_column_double(s.stmt, 3);
    }
  }
  {
    Statement s;
    if (sqlite3_prepare_v2(c.db,
                           "SELECT channel, count(*) FROM pjx_invalidation GROUP BY channel "
                           "ORDER BY channel",
                           -1, &s.stmt, nullptr) == SQLITE_OK) {
      while (sqlite3_step(s.stmt) == SQLITE_ROW) {
        out.channels.emplace_back(column_text(s.stmt, 0), sqlite3_column_int64(s.stmt, 1));
      }
    }
  }
  sqlite3_exec(c.db, "ROLLBACK", nullptr, nullptr, nullptr);
  return out;
}

std::string integrity_check(const fs::path& db) {
  std::error_code ec;
  if (!fs::exists(db, ec)) return "missing";
  Connection c;
  const std::string uri = sqlite_uri(db, "");
  if (sqlite3_open_v2(uri.c_str(), &c.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, nullptr) !=
      SQLITE_OK) {
    return "error: cannot open: " + c.error();
  }
  sqlite3_busy_timeout(c.db, 5000);
  Statement s;
  if (sqlite3_prepare_v2(c.db, "PRAGMA integrity_check", -1, &s.stmt, nullptr) != SQLITE_OK) {
    return "error: " + c.error();
  }
  std::string result;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(s.stmt)) == SQLITE_ROW) {
    if (!result.empty()) result += "; ";
    result += column_text(s.stmt, 0);
  }
  if (rc != SQLITE_DONE) return "error: " + c.error();
  return result;
}

}  // namespace pjx::harness
