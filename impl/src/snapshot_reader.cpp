#include "snapshot_reader.hpp"

#include "event_log.hpp"
#include "pjx/errors.hpp"
#include "sqlite_backend_seams.hpp"

namespace pjx::detail {
namespace {

// Ends the read transaction of `log` after an error, if one is still open:
// SQLite may already have rolled it back (an I/O error does), and ending it
// again would fail and hide the error being reported.
void end_read_after_error(EventLog& log) {
  if (log.connection().in_transaction()) {
    try {
      log.end_read.step();
    } catch (const BackendError&) {  // the original error is the one to report
    }
  }
  log.end_read.reset();
}

// A read transaction that an earlier poll's error left open would make every
// BEGIN fail from now on.
void roll_back_stale_transaction(EventLog& log) {
  if (!log.connection().in_transaction()) return;
  try {
    log.rollback.step();
  } catch (...) {
    log.rollback.reset();
    throw;
  }
  log.rollback.reset();
}

void end_read(EventLog& log) {
  log.end_read.step();
  log.end_read.reset();
}

// The rows, the highest id and the ids present above `from`, inside the
// read transaction `snapshot.version` was read in.
void read_rows(EventLog& log, std::int64_t from, std::string_view channel, std::string_view instance_id,
               Snapshot& snapshot) {
  log.id_bounds.bind(1, from);
  log.id_bounds.step();
  snapshot.top = log.id_bounds.column_int64(0);
  snapshot.present = log.id_bounds.column_int64(1);  // ids in (from, top]
  log.id_bounds.reset();
  log.select_new.bind(1, from).bind(2, channel).bind(3, instance_id);
  while (log.select_new.step()) {
    snapshot.rows.push_back(LogRow{log.select_new.column_int64(0), std::string(log.select_new.column_text(1))});
  }
  log.select_new.reset();
}

}  // namespace

Seed read_seed(EventLog& log) {
  Seed seed;
  seed.mark.header = log.wal_index().read();  // before the transaction: it errs towards a poll
  log.begin_read.step();
  log.begin_read.reset();
  try {
    log.max_id.step();
    seed.top = log.max_id.column_int64(0);
    log.max_id.reset();
    run_start_seed_hook();
    log.data_version.step();
    seed.mark.data_version = log.data_version.column_int64(0);
    log.data_version.reset();
    end_read(log);
  } catch (...) {
    log.max_id.reset();
    log.data_version.reset();
    end_read_after_error(log);
    throw;
  }
  return seed;
}

std::optional<Snapshot> read_snapshot(EventLog& log, std::int64_t from, ChangeMark& mark, std::string_view channel,
                                      std::string_view instance_id, Unchanged* unchanged) {
  roll_back_stale_transaction(log);
  // Read before the transaction: a commit between the two is then in the
  // snapshot but not in the recorded header, and only costs the next poll
  // its shortcut.
  ChangeMark now{log.wal_index().read(), -1};
  if (now.header && now.header == mark.header) {
    if (unchanged != nullptr) *unchanged = Unchanged::kHeader;
    return std::nullopt;
  }
  // One read transaction for the version check and the rows: the version is
  // the snapshot's, and a poll that finds rows takes SQLite's read lock once
  // (each lock and unlock is an fcntl on the -shm file).
  log.begin_read.step();
  try {
    log.data_version.step();
    now.data_version = log.data_version.column_int64(0);
    log.data_version.reset();
    if (now.data_version == mark.data_version) {
      end_read(log);
      mark = now;
      if (unchanged != nullptr) *unchanged = Unchanged::kDataVersion;
      return std::nullopt;
    }
    Snapshot snapshot;
    read_rows(log, from, channel, instance_id, snapshot);
    end_read(log);  // ends the read transaction before handlers run
    mark = now;
    return snapshot;
  } catch (...) {
    log.data_version.reset();
    log.id_bounds.reset();
    log.select_new.reset();
    end_read_after_error(log);
    throw;
  }
}

std::int64_t count_lag(EventLog& log, std::int64_t cursor, std::string_view channel,
                       std::string_view instance_id) {
  auto& lag = log.count_lag;
  lag.bind(1, cursor).bind(2, channel).bind(3, instance_id);
  lag.step();
  const std::int64_t rows = lag.column_int64(0);
  lag.reset();
  return rows;
}

}  // namespace pjx::detail
