#include "checkpointer.hpp"

#include <sqlite3.h>

#include <exception>
#include <string>
#include <thread>

#include "backend_context.hpp"
#include "event_log.hpp"

namespace pjx::detail {
namespace {

std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

bool Checkpointer::resting() const noexcept { return steady_now_ns() < rest_until_ns_.load(); }

void Checkpointer::close() noexcept { checkpointer_.reset(); }

void Checkpointer::run() noexcept {
  try {
    const auto now_at_path = file_at_path(ctx_);
    if (!now_at_path) return;  // deleted: nothing to checkpoint until someone recreates it
    if (!checkpointer_ || now_at_path != checkpointer_file_) {
      checkpointer_.reset();
      // Opening waits as long as any connection may (a busy file being set
      // up); the checkpoint itself waits at most kCheckpointBusyWindow.
      checkpointer_ = open_current(ctx_, &checkpointer_file_, &ctx_.give_up_at_ns);
      auto started = std::make_shared<std::chrono::steady_clock::time_point>();
      checkpointer_->connection().set_busy_handler([started](int retries) {
        const auto now = std::chrono::steady_clock::now();
        if (retries == 0) *started = now;
        if (now - *started >= kCheckpointBusyWindow) return false;
        std::this_thread::sleep_for(std::chrono::microseconds(retries < 10 ? 100 : 1000));
        return true;
      });
    }
    sqlite3* db = checkpointer_->connection().raw();
    int log_pages = 0;
    int checkpointed = 0;
    // First copy what can be copied without the write lock (PASSIVE never
    // waits, and commits go on meanwhile), so that the RESTART, which holds
    // the write lock throughout, has only the frames committed since to sync
    // and copy: publishers wait for a short copy instead of a long one and
    // for a sync of a few frames instead of the whole unsynced WAL. A busy
    // PASSIVE (another checkpointer) changes nothing: RESTART waits for it.
    static_cast<void>(sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr));
    const int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_RESTART, &log_pages, &checkpointed);
    if (rc == SQLITE_OK) {
      count(ctx_.counters.checkpoints);
    } else if ((rc & 0xFF) == SQLITE_BUSY) {
      // A lock holder, a long reader or another checkpointer: what could be
      // copied was; rest before asking again so commits do not keep paying
      // the busy window.
      count(ctx_.counters.checkpoints_busy);
      rest_until_ns_.store(steady_now_ns() + std::chrono::nanoseconds(kCheckpointBackoff).count());
    } else {
      ctx_.warnings.warn("checkpoint", "background checkpoint of \"" + ctx_.db_path + "\" failed: " +
                                           sqlite3_errstr(rc) + "; the WAL grows until one succeeds");
    }
  } catch (const std::exception& e) {
    checkpointer_.reset();
    try {
      ctx_.warnings.warn("checkpoint", std::string("background checkpoint failed: ") + e.what() +
                                           "; the WAL grows until one succeeds");
    } catch (...) {  // out of memory while building the message
    }
  }
}

}  // namespace pjx::detail
