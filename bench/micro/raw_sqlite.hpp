// Direct SQLite C API access for the benchmarks, outside the library:
//
//  * upstream_publish(): one publish done the way the upstream Python backend
//    does it (WIRE.md): open a connection, PRAGMA journal_mode=WAL, PRAGMA
//    busy_timeout=5000, create the table and index if missing, then in one
//    transaction insert the row and prune rows older than retention, commit,
//    close. `synchronous` is left at SQLite's default (FULL), as Python's
//    sqlite3 module leaves it: every commit waits for an fsync of the WAL.
//    This is the baseline the library's publish() is compared with. With
//    `synchronous_full` false it sets synchronous=NORMAL first, as the
//    library does, which separates the cost of a connection per publish from
//    the cost of the fsync.
//  * BarePublisher: the floor a publish is compared with (issue 22): one kept
//    connection in WAL mode with synchronous=NORMAL and busy_timeout 5 s (as
//    the library sets), the insert and the prune (upstream's unbounded
//    DELETE) prepared once, then per publish BEGIN IMMEDIATE, insert, prune,
//    COMMIT. SQLite's own auto-checkpoint stays on, as in any program that
//    sets nothing. No outbox, no doorbell, no file check, no JSON encoding:
//    what the library adds on top of this is its overhead.
//  * RawDb: a connection used to set up tables of a chosen size quickly (many
//    rows in one transaction) and to count rows, so that set-up does not go
//    through the code being measured.
//
// Errors throw std::runtime_error naming the database and SQLite's message.
// Thread safety: a RawDb is used by one thread; upstream_publish() opens its
// own connection and may be called from any thread.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pjx::bench {

// The event-log row every helper writes (WIRE.md columns minus the id).
struct EventRow {
  std::string instance_id;  // 32 lowercase hex digits
  std::string channel;
  std::string keys_json;
};

// One upstream-style publish of `row` at wall time `now` (UNIX seconds),
// pruning rows with created_at < now - retention_seconds.
void upstream_publish(const std::string& db_path, const EventRow& row, double now,
                      double retention_seconds, bool synchronous_full = true);

class BarePublisher {
 public:
  // Opens (creating if missing) `db_path` as described above and creates the
  // event-log table and index if missing.
  explicit BarePublisher(const std::string& db_path);
  ~BarePublisher();
  BarePublisher(const BarePublisher&) = delete;
  BarePublisher& operator=(const BarePublisher&) = delete;

  // One insert-and-prune transaction for `row` at wall time `now`.
  void publish(const EventRow& row, double now, double retention_seconds);

 private:
  struct Impl;
  Impl* impl_;
};

class RawDb {
 public:
  // Opens (creating if missing) `db_path` in WAL mode with busy_timeout 5 s
  // and creates the event-log table and index if missing.
  explicit RawDb(const std::string& db_path);
  ~RawDb();
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Inserts `count` copies of `row` in one transaction, the i-th (from 0)
  // with created_at = created_at(i).
  void insert_rows(const EventRow& row, std::int64_t count,
                   const std::function<double(std::int64_t)>& created_at);
  // Deletes every row (ids keep increasing: the table is AUTOINCREMENT).
  void delete_all();
  std::int64_t count_rows();

 private:
  void exec(std::string_view sql);
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace pjx::bench
