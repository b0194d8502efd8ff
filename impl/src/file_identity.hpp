// File identity: which file is at the database path, and connections opened
// on exactly that file (I9).
//
//   I9 (opening). The file a connection has open is the one at the path both
//       before and after its open: the open is repeated until they agree
//       (once more when the open created the file), so a file renamed onto
//       the path while a connection was being opened, which can take up to
//       busy_timeout, is not taken for the one SQLite opened.
//       (SQLITE_FCNTL_HAS_MOVED is not used: it stats the path SQLite
//       resolved, a symlink's target rather than the link, and compares only
//       the inode.) A symlinked path is checked as given, following the link
//       at every check, because that is the file every worker that opens the
//       path from now on gets: a file renamed onto the link or onto its
//       target, or the link pointed at another file, is another file.
//
// Each connection's owner (the publisher's EventWriter, the listener, the
// checkpointer, the lag query) keeps the FileId its connection opened and
// compares it with file_at_path() to notice a replaced or deleted file; what
// it then does is its own rule (I9 in listener.cpp and event_writer.hpp).
//
// Thread safety: free functions, thread-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

namespace pjx::detail {

class BackendContext;
class EventLog;

// A file's identity on this host: device and inode.
struct FileId {
  dev_t device = 0;
  ino_t inode = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
};

// The file at `path` now, following symlinks; nullopt when there is none.
std::optional<FileId> file_at(const std::filesystem::path& path);

// The file at the backend's database path now (ctx.location.file).
std::optional<FileId> file_at_path(const BackendContext& ctx);

// Opens a connection to the file at the path and sets `*identity` to that
// file (I9). The file at the path is read before and after the open, and the
// open is repeated until both name the same file: then the file SQLite opened
// in between is that one. When the open created the file (nothing there
// before) it is repeated once more. `give_up` as for EventLog. Throws as
// EventLog's constructor, and BackendError (SQLITE_BUSY, so retried) when the
// file at the path changed during kOpenAttempts opens.
std::unique_ptr<EventLog> open_current(BackendContext& ctx, std::optional<FileId>* identity,
                                       const std::atomic<std::int64_t>* give_up = nullptr);

// Opens of a connection before giving up on a file that keeps changing at
// the path while it is opened.
constexpr int kOpenAttempts = 5;

}  // namespace pjx::detail
