// Checkpointer: copies the WAL back into the database on the background
// thread, so that publish() never does.
//
//  I11. Our publishing connection never checkpoints inside a commit (its WAL
//       hook replaces SQLite's auto-checkpoint, event_writer.hpp): once the
//       WAL holds checkpoint_pages pages the hook asks the background thread
//       (outbox.hpp), which runs a PASSIVE checkpoint (no write lock) and
//       then a RESTART one (write lock held, only the frames committed since
//       left to copy) on its own connection. Its busy handler gives up after
//       kCheckpointBusyWindow, so publishers and readers wait at most that
//       long; a checkpoint that gave up leaves what PASSIVE would have done
//       and is not asked for again for kCheckpointBackoff. PASSIVE alone
//       cannot bound the WAL under steady writes: the next writer restarts
//       the WAL (and journal_size_limit truncates it) only when every frame
//       was copied back, and with commits arriving during each checkpoint
//       that never happens. Other processes' connections (upstream workers)
//       keep their own auto-checkpoint, which is compatible.
//
// Thread safety: run() and close() on the background thread only; resting()
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "event_log.hpp"
#include "file_identity.hpp"

namespace pjx::detail {

class BackendContext;

// How long a checkpoint waits for the write lock and for readers of old WAL
// frames, and how long no checkpoint is asked for after one gave up.
constexpr std::chrono::milliseconds kCheckpointBusyWindow{20};
constexpr std::chrono::milliseconds kCheckpointBackoff{100};

class Checkpointer {
 public:
  explicit Checkpointer(BackendContext& ctx) : ctx_(ctx) {}
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // One PASSIVE then RESTART checkpoint of the file at the path (nothing
  // when there is none), on this checkpointer's connection, opened or
  // reopened as needed (I9). Counts checkpoints or checkpoints_busy; warns
  // about other failures. Never throws.
  void run() noexcept;
  // True within kCheckpointBackoff after a checkpoint gave up on a lock.
  bool resting() const noexcept;
  // Closes the connection (the background thread, as it exits).
  void close() noexcept;

 private:
  BackendContext& ctx_;
  std::unique_ptr<EventLog> checkpointer_;        // background thread only
  std::optional<FileId> checkpointer_file_;       // background thread only
  // No checkpoint is asked for before this steady-clock reading (ns).
  std::atomic<std::int64_t> rest_until_ns_{0};
};

}  // namespace pjx::detail
