// Doorbell: after a commit, tells listeners in other processes to poll now.
//
//  I12. The doorbell (`<db>-notify` beside the database file with every
//       symlink resolved, where SQLite puts -wal and -shm and where the
//       change watch looks, so that listeners and publishers that name the
//       file through different links meet; ring_doorbell) is touched only
//       after a COMMIT returned and without the write lock, so a listener it
//       wakes finds the commit; failing to ring is counted and warned about,
//       never turned into a failed publish. It is a hint outside the wire
//       format: upstream workers neither ring nor read it, and a listener
//       that stops waking on -wal writes because it hears doorbells goes
//       back to them as soon as a timed poll finds a commit that came
//       without one (wake_scheduler.hpp).
//
// Rung by the group commit's leader (publisher.cpp) and by the outbox after
// each queued event it commits (outbox.cpp).
//
// Thread safety: ring() is thread-safe.
#pragma once

#include <filesystem>

namespace pjx::detail {

class BackendContext;

class Doorbell {
 public:
  // Resolves the doorbell's path once (ctx.location.resolved).
  explicit Doorbell(BackendContext& ctx);

  // Touches the doorbell when options.ring_doorbell (doorbells, or
  // doorbell_failures and a warning). Never throws: the commit stands, and
  // listeners still find it by their -wal wake or timed poll.
  void ring() noexcept;

 private:
  BackendContext& ctx_;
  const bool enabled_;
  const std::filesystem::path file_;  // "<db>-notify" beside the resolved database file
};

}  // namespace pjx::detail
