#include "event_log.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <thread>

#include "db_path.hpp"
#include "pjx/errors.hpp"

namespace pjx::detail {
namespace {

// Sleeps of the busy handler, in microseconds: short first (a commit takes
// tens of microseconds), then 1 ms steps. SQLite's own handler sleeps up to
// 100 ms at a time, which gives publishes under contention a tail of tenths
// of seconds.
constexpr int kBusySleepsUs[] = {10, 20, 50, 100, 200, 500};
constexpr int kBusyMaxSleepUs = 1000;

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

[[noreturn]] void incompatible(const std::string& db, const std::string& what) {
  throw ConfigError("database \"" + db + "\" has a table pjx_invalidation that is not pyjinhx's event log (" +
                    what +
                    "); another program made it: point db_path at another file, or drop the table if "
                    "its rows are not needed");
}

// Verifies that an existing pjx_invalidation table can be shared with
// upstream: the five columns with compatible types, and AUTOINCREMENT (ids
// must never be reused, or a listener's cursor would skip new rows).
void check_schema(Connection& conn) {
  struct Column {
    std::string type;
    bool pk = false;
  };
  std::map<std::string, Column> columns;
  std::vector<std::string> required_extra;
  {
    Statement info = conn.prepare("SELECT name, type, pk, \"notnull\", dflt_value FROM pragma_table_info('pjx_invalidation')");
    while (info.step()) {
      const std::string name(info.column_text(0));
      columns[name] = Column{upper(std::string(info.column_text(1))), info.column_int64(2) != 0};
      const bool known = name == "id" || name == "instance_id" || name == "channel" ||
                         name == "keys_json" || name == "created_at";
      if (!known && info.column_int64(3) != 0 && info.column_is_null(4)) required_extra.push_back(name);
    }
  }
  const std::pair<const char*, const char*> expected[] = {
      {"id", "INTEGER"}, {"instance_id", "TEXT"}, {"channel", "TEXT"},
      {"keys_json", "TEXT"}, {"created_at", "REAL"}};
  for (const auto& [name, type] : expected) {
    const auto it = columns.find(name);
    if (it == columns.end()) incompatible(conn.name(), std::string("no column ") + name);
    if (it->second.type != type) {
      incompatible(conn.name(), std::string("column ") + name + " is " +
                                    (it->second.type.empty() ? "untyped" : it->second.type) + ", expected " + type);
    }
  }
  if (!columns["id"].pk) incompatible(conn.name(), "id is not the primary key");
  if (!required_extra.empty()) {
    incompatible(conn.name(), "extra NOT NULL column " + required_extra.front() + " without a default");
  }
  Statement sql = conn.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1");
  sql.bind(1, std::string_view("pjx_invalidation"));
  if (!sql.step() || upper(std::string(sql.column_text(0))).find("AUTOINCREMENT") == std::string::npos) {
    incompatible(conn.name(), "id is not AUTOINCREMENT, so ids of pruned rows could be reused");
  }
}

bool is_not_a_database(const BackendError& e) {
  return (e.code() & 0xFF) == SQLITE_NOTADB;
}

}  // namespace

void EventLog::set_up(const std::string& display_name) {
  try {
    const std::string mode = conn_.query_text("PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      throw ConfigError("database \"" + display_name + "\" could not be switched to WAL mode (it stays in \"" +
                        mode + "\" mode); WAL is what lets listeners read while others publish: put the "
                        "database on a local filesystem that supports shared memory");
    }
    conn_.exec("PRAGMA synchronous=NORMAL");
    conn_.exec("PRAGMA journal_size_limit=4194304");
    conn_.exec(kCreateTableSql);
    check_schema(conn_);
    conn_.exec(kCreateIndexSql);
  } catch (const BackendError& e) {
    if (is_not_a_database(e)) {
      throw ConfigError("\"" + display_name +
                        "\" exists but is not a SQLite database; point db_path at a new or an existing "
                        "pjx database file (nothing was written to this one)");
    }
    if ((e.code() & 0xFF) == SQLITE_CANTOPEN || (e.code() & 0xFF) == SQLITE_READONLY) {
      // A BackendError still: on a publish or a poll it is a run-time
      // failure like any other (a publish reports it, a poll is retried at
      // the next interval); the backend's constructor turns it into a
      // ConfigError.
      throw BackendError(std::string(e.what()) + "; SQLite must be able to write the database and create its "
                         "-wal and -shm files beside it: make the file and its directory writable for every worker",
                         e.code());
    }
    throw;
  }
}

EventLog::EventLog(const DbLocation& location, const std::string& display_name,
                   std::chrono::milliseconds busy_timeout, std::atomic<std::uint64_t>* busy_waits,
                   const std::string& vfs, const std::atomic<std::int64_t>* give_up_at_ns)
    : conn_(location.open_name, location.uri, display_name, vfs) {
  auto started = std::make_shared<std::chrono::steady_clock::time_point>();
  conn_.set_busy_handler([busy_timeout, busy_waits, started, give_up_at_ns](int retries) {
    const auto now = std::chrono::steady_clock::now();
    if (retries == 0) {
      *started = now;
      if (busy_waits != nullptr) busy_waits->fetch_add(1, std::memory_order_relaxed);
    }
    if (now - *started >= busy_timeout) return false;
    if (give_up_at_ns != nullptr && now.time_since_epoch().count() >= give_up_at_ns->load()) return false;
    const auto index = static_cast<std::size_t>(retries);
    const int sleep_us = index < std::size(kBusySleepsUs) ? kBusySleepsUs[index] : kBusyMaxSleepUs;
    std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    return true;
  });

  // Two processes opening a new file at once can get SQLITE_BUSY from the
  // switch to WAL without the busy handler being consulted (SQLite refuses
  // to wait where waiting could deadlock); the setup is idempotent, so it is
  // retried until busy_timeout.
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  for (int attempt = 0;; ++attempt) {
    try {
      set_up(display_name);
      break;
    } catch (const BackendError& e) {
      if ((e.code() & 0xFF) != SQLITE_BUSY || std::chrono::steady_clock::now() >= deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 << std::min(attempt, 4), 10)));
    }
  }

  begin_immediate = conn_.prepare("BEGIN IMMEDIATE");

  insert_event = conn_.prepare(
      "INSERT INTO pjx_invalidation (instance_id, channel, keys_json, created_at) VALUES (?1, ?2, ?3, ?4)");
  // Bounded: a publish after a quiet period must not delete the whole
  // backlog under the write lock; the next publishes take the rest.
  prune = conn_.prepare(
      "DELETE FROM pjx_invalidation WHERE id IN (SELECT id FROM pjx_invalidation "
      "WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)");
  commit = conn_.prepare("COMMIT");
  sequence = conn_.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'pjx_invalidation'");
  rollback = conn_.prepare("ROLLBACK");
  select_new = conn_.prepare(
      "SELECT id, keys_json FROM pjx_invalidation "
      "WHERE id > ?1 AND channel = ?2 AND instance_id != ?3 ORDER BY id");
  // The highest id ever issued: sqlite_sequence keeps it after the rows are
  // pruned (and it is never below MAX(id)).
  max_id = conn_.prepare(
      "SELECT MAX(COALESCE((SELECT MAX(id) FROM pjx_invalidation), 0), "
      "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'pjx_invalidation'), 0))");
  // The highest id issued, and how many ids in (?1, that id] are present:
  // fewer than the range holds means a hole (pruned unread rows). A range
  // scan of the primary key, bounded by retention.
  id_bounds = conn_.prepare(
      "WITH top(n) AS (SELECT MAX(COALESCE((SELECT MAX(id) FROM pjx_invalidation), 0), "
      "COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'pjx_invalidation'), 0))) "
      "SELECT n, (SELECT COUNT(*) FROM pjx_invalidation WHERE id > ?1 AND id <= n) FROM top");
  begin_read = conn_.prepare("BEGIN DEFERRED");
  end_read = conn_.prepare("COMMIT");
  data_version = conn_.prepare("PRAGMA data_version");
  count_lag = conn_.prepare(
      "SELECT COUNT(*) FROM pjx_invalidation WHERE id > ?1 AND channel = ?2 AND instance_id != ?3");
}

}  // namespace pjx::detail
