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
  log.begin_read.step();
  log.begin_read.reset();
  try {
    log.max_id.step();
    seed.top = log.max_id.column_int64(0);
    log.max_id.reset();
    run_start_seed_hook();
    log.data_version.step();
    seed.version = log.data_version.column_int64(0);
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

std::optional<Snapshot> read_snapshot(EventLog& log, std::int64_t from, std::int64_t last_version,
                                      std::string_view channel, std::string_view instance_id) {
  roll_back_stale_transaction(log);
  // One read transaction for the version check and the rows: the version is
  // the snapshot's, and a poll that finds rows takes SQLite's read lock once
  // (each lock and unlock is an fcntl on the -shm file).
  log.begin_read.step();
  try {
    Snapshot snapshot;
    log.data_version.step();
    snapshot.version = log.data_version.column_int64(0);
    log.data_version.reset();
    if (snapshot.version == last_version) {
      end_read(log);
      return std::nullopt;
    }
    read_rows(log, from, channel, instance_id, snapshot);
    end_read(log);  // ends the read transaction before handlers run
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
