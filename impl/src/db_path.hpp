// Checks a database path before anything is opened, so that a path that can
// never give cross-process fan-out fails at construction with a message that
// names the value and the fix.
//
// Accepted: a file path (absolute or relative) whose parent directory exists
// and is writable (SQLite creates `<db>-wal` and `<db>-shm` beside the
// database), and `file:` URIs naming such a file. Rejected: ":memory:", "",
// memory or temporary URIs (mode=memory, file::memory:, empty URI path,
// vfs=memdb), a directory, a missing parent directory, an unwritable one.
// A symlinked file has its sidecars beside its target, so the target's
// directory is checked too.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace pjx::detail {

struct DbLocation {
  std::string open_name;        // what to pass to sqlite3_open_v2
  bool uri = false;             // open with SQLITE_OPEN_URI
  std::filesystem::path file;   // the database file on disk
  // `file` made absolute with every symlink resolved (its directories and
  // the file itself, as SQLite does when it opens it): the directory where
  // SQLite puts -wal and -shm, which the change watcher watches and where
  // the doorbell rings.
  std::filesystem::path resolved;
  bool exists = false;          // the file existed when checked
};

using FilesystemTypeProbe = std::function<std::int64_t(const std::string& directory)>;

// The filesystem's name when its type (statfs f_type) is one whose POSIX
// locks or shared memory SQLite cannot rely on across processes, else "".
std::string unsafe_filesystem_name(std::int64_t type);

// statfs(2) f_type of a directory; -1 when it cannot be read.
std::int64_t statfs_type(const std::string& directory);

// Throws ConfigError. `probe` (statfs_type when empty) finds the type of the
// database's directory; a network or FUSE filesystem is refused unless
// `allow_network_filesystem`.
DbLocation check_db_path(const std::string& db_path, const FilesystemTypeProbe& probe = {},
                         bool allow_network_filesystem = false);

}  // namespace pjx::detail
