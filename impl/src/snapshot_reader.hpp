// Snapshot reader: the listener's reads, each in one read transaction (one
// snapshot of the log).
//
//   I2 (seed). start() seeds the cursor at the highest id ever issued
//       (MAX(id), or sqlite_sequence when pruning emptied the table; 0 for a
//       new file). The seed and PRAGMA data_version are read in one read
//       transaction: a commit between two separate reads would be in the
//       version but not below the seed, and every poll would skip it until
//       someone else committed.
//   I3 (read). A poll reads, in one read transaction, the version, the rows
//       with id > cursor of its own channel written by other instances, in
//       id order, the highest id issued and how many ids above the cursor
//       still have a row (the gap rule's facts, gap_rule.hpp).
//
// Whether to read at all: a poll first compares the WAL-index header with
// the one read before the last read (wal_index_probe.hpp). Unchanged means
// no commit became visible since, and the poll ends there without a read
// transaction; changed, or no header (the probe cannot answer), and it
// reads, where PRAGMA data_version decides as before.
//
// A read transaction that an error left open is ended (or rolled back by
// the next read), so that every later BEGIN does not fail.
//
// Thread safety: functions over one EventLog, which one thread uses at a
// time (the listener's, under its poll lock).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wal_index_probe.hpp"

namespace pjx::detail {

class EventLog;

// A row of our channel from another instance.
struct LogRow {
  std::int64_t id = 0;
  std::string keys_json;
};

// What a listener keeps of its last read, to tell whether anything was
// committed since: the WAL-index header read just before that read's
// transaction (empty when the probe could not answer, or before any read),
// and PRAGMA data_version of the snapshot (-1 before any read).
struct ChangeMark {
  std::optional<WalIndexHeader> header;
  std::int64_t data_version = -1;
};

struct Seed {
  std::int64_t top = 0;  // the highest id ever issued
  ChangeMark mark;       // of the same snapshot
};

// How a poll was answered when nothing was committed since the last one.
enum class Unchanged { kHeader, kDataVersion };

struct Snapshot {
  std::int64_t top = 0;      // the highest id ever issued
  std::int64_t present = 0;  // rows with an id in (from, top]
  std::vector<LogRow> rows;  // id > from, our channel, other instances, id order
};

// Reads the cursor seed (I2). Throws BackendError.
Seed read_seed(EventLog& log);

// Reads what a poll from cursor `from` sees (I3), or nullopt when nobody
// committed since the read `mark` was taken at (nothing new, nothing
// pruned): the WAL-index header is as recorded, or the snapshot's
// data_version is. `*unchanged`, when not null, says which answered. A
// read that succeeds updates `mark`. Throws BackendError, leaving `mark`
// as it was; the read transaction is ended then.
std::optional<Snapshot> read_snapshot(EventLog& log, std::int64_t from, ChangeMark& mark, std::string_view channel,
                                      std::string_view instance_id, Unchanged* unchanged = nullptr);

// Rows of `channel` from other instances above `cursor` (SqliteStats::lag).
// Throws BackendError.
std::int64_t count_lag(EventLog& log, std::int64_t cursor, std::string_view channel,
                       std::string_view instance_id);

}  // namespace pjx::detail
