// EventLog: one connection to the shared database with the event-log schema
// in place and the statements of one role (publisher or listener) prepared.
//
// On-disk contract (WIRE.md; shared with upstream Python workers):
//
//   CREATE TABLE pjx_invalidation (
//     id          INTEGER PRIMARY KEY AUTOINCREMENT,  -- commit order, never reused
//     instance_id TEXT NOT NULL,   -- 32 lowercase hex digits, one per backend object
//     channel     TEXT NOT NULL,   -- the publisher's channel
//     keys_json   TEXT NOT NULL,   -- JSON array of strings, sorted, no duplicates
//     created_at  REAL NOT NULL);  -- publisher's wall clock, UNIX seconds
//   CREATE INDEX ix_pjx_invalidation_created_at ON pjx_invalidation(created_at);
//
// Every connection: journal_mode=WAL (verified, not assumed), synchronous=
// NORMAL (a commit survives a process crash; WAL keeps the file consistent
// on power loss), journal_size_limit bounds the -wal file after checkpoints,
// and a busy handler with short sleeps bounded by busy_timeout (and by an
// optional give-up time the owner can move, so that a shutdown never waits a
// whole busy_timeout).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sqlite_db.hpp"
#include "wal_index_probe.hpp"

namespace pjx::detail {

// The schema above as every writer of the log creates it, if missing: the
// library (EventLog) and the micro benchmarks' upstream-pattern publisher.
inline constexpr std::string_view kCreateTableSql =
    "CREATE TABLE IF NOT EXISTS pjx_invalidation ("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "instance_id TEXT NOT NULL, "
    "channel TEXT NOT NULL, "
    "keys_json TEXT NOT NULL, "
    "created_at REAL NOT NULL)";
inline constexpr std::string_view kCreateIndexSql =
    "CREATE INDEX IF NOT EXISTS ix_pjx_invalidation_created_at "
    "ON pjx_invalidation(created_at)";

struct DbLocation;

class EventLog {
 public:
  // Opens (creating the file and schema if missing) and verifies the schema.
  // Throws ConfigError when the file is not a SQLite database or holds an
  // incompatible pjx_invalidation table; BackendError for anything else
  // (including a file or directory SQLite cannot open or write, with the fix
  // in the message, since on a running worker that can be transient).
  // `give_up_at_ns`, when not null, is a steady_clock reading (nanoseconds
  // since its epoch) after which the busy handler stops waiting even before
  // busy_timeout; it must outlive the EventLog.
  EventLog(const DbLocation& location, const std::string& display_name,
           std::chrono::milliseconds busy_timeout, std::atomic<std::uint64_t>* busy_waits,
           const std::string& vfs = {}, const std::atomic<std::int64_t>* give_up_at_ns = nullptr);

  Connection& connection() noexcept { return conn_; }
  // The WAL-index header of this connection's -shm (the listener's
  // shortcut for polls that find nothing; wal_index_probe.hpp).
  WalIndexProbe& wal_index() noexcept { return wal_index_; }

  // The writer's statements. `prune` deletes at most ?2 rows with
  // created_at < ?1, oldest first, through the created_at index.
  // `sequence` reads the highest id AUTOINCREMENT issued (no row: none yet).
  Statement begin_immediate, insert_event, prune, commit, rollback, sequence;
  // The listener's statements.
  Statement begin_read, end_read, select_new, max_id, data_version, count_lag, id_bounds;

 private:
  // WAL mode, pragmas, schema and its check; idempotent.
  void set_up(const std::string& display_name);
  Connection conn_;
  WalIndexProbe wal_index_{conn_.raw()};  // after conn_: it maps conn_'s -shm
};

}  // namespace pjx::detail
