// Checks a database path before anything is opened, so that a path that can
// never give cross-process fan-out fails at construction with a message that
// names the value and the fix.
//
// Accepted: a file path (absolute or relative) whose parent directory exists
// and is writable (SQLite creates `<db>-wal` and `<db>-shm` beside the
// database), and `file:` URIs naming such a file. Rejected: ":memory:", "",
// memory or temporary URIs (mode=memory, file::memory:, empty URI path,
// vfs=memdb), a directory, a missing parent directory, an unwritable one.
#pragma once

#include <filesystem>
#include <string>

namespace pjx::detail {

struct DbLocation {
  std::string open_name;        // what to pass to sqlite3_open_v2
  bool uri = false;             // open with SQLITE_OPEN_URI
  std::filesystem::path file;   // the database file on disk
  bool exists = false;          // the file existed when checked
};

// Throws ConfigError.
DbLocation check_db_path(const std::string& db_path);

}  // namespace pjx::detail
