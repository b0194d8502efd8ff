#include "event_writer.hpp"

#include <cstdint>
#include <limits>
#include <utility>

#include "backend_context.hpp"
#include "event_log.hpp"
#include "pjx/errors.hpp"

namespace pjx::detail {

bool is_transient(int code) {
  // The file was replaced between our check of its inode and the write: the
  // next attempt opens the new one.
  if (code == SQLITE_READONLY_DBMOVED) return true;
  switch (code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_NOMEM:
    case SQLITE_PROTOCOL:
      return true;
    default:
      return false;
  }
}

EventWriter::EventWriter(BackendContext& ctx, std::function<void()> on_wal_full)
    : ctx_(ctx), on_wal_full_(std::move(on_wal_full)) {}

int EventWriter::on_wal_commit(void* self, sqlite3* /*db*/, const char* /*schema*/, int pages) {
  auto& writer = *static_cast<EventWriter*>(self);
  if (pages < 0 || static_cast<std::size_t>(pages) < writer.ctx_.options.checkpoint_pages) return SQLITE_OK;
  writer.on_wal_full_();  // noexcept by contract: nothing may unwind through SQLite
  return SQLITE_OK;
}

void EventWriter::Locked::ensure_open() {
  auto& writer = owner_.writer_;
  auto& writer_file = owner_.writer_file_;
  const auto now_at_path = file_at_path(owner_.ctx_);
  if (writer && now_at_path && now_at_path == writer_file) return;
  writer.reset();
  writer = open_current(owner_.ctx_, &writer_file, &owner_.ctx_.give_up_at_ns);
  if (owner_.ctx_.options.checkpoint_pages > 0) {
    // Replaces SQLite's auto-checkpoint on this connection (I11).
    sqlite3_wal_hook(writer->connection().raw(), &EventWriter::on_wal_commit, &owner_);
  }
}

void EventWriter::Locked::commit(std::span<const std::string_view> events) {
  const BackendContext& ctx = owner_.ctx_;
  const SqliteOptions& options = ctx.options;
  auto& log = *owner_.writer_;
  log.begin_immediate.step();
  log.begin_immediate.reset();
  // Read the clock once the write lock is ours: a time read before a long
  // wait for the lock would stamp the row (and prune) in the past, and the
  // next publisher's prune could delete it before anyone read it.
  try {
    const double now = ctx.clock->wall_seconds();
    for (const std::string_view keys_json : events) {
      log.insert_event.bind(1, std::string_view(ctx.instance_id))
          .bind(2, std::string_view(options.channel))
          .bind(3, keys_json)
          .bind(4, now);
      log.insert_event.step();
      log.insert_event.reset();
    }
    log.prune.bind(1, now - options.retention.count()).bind(2, static_cast<std::int64_t>(options.prune_limit));
    log.prune.step();
    log.prune.reset();
    const auto pruned = sqlite3_changes64(log.connection().raw());
    log.commit.step();
    log.commit.reset();
    count(owner_.ctx_.counters.rows_pruned, static_cast<std::uint64_t>(pruned));
  } catch (...) {
    log.insert_event.reset();
    log.prune.reset();
    log.commit.reset();
    if (log.connection().in_transaction()) {
      try {
        log.rollback.step();
      } catch (const BackendError&) {
        // The transaction is gone either way; the original error is the news.
      }
      log.rollback.reset();
    }
    throw;
  }
}

bool EventWriter::Locked::retryable(int code) {
  auto& writer = owner_.writer_;
  if (!is_transient(code)) return false;
  if ((code & 0xFF) != SQLITE_FULL || !writer) return true;
  try {
    auto& seq = writer->sequence;
    const bool exhausted = seq.step() && seq.column_int64(0) == std::numeric_limits<std::int64_t>::max();
    seq.reset();
    return !exhausted;
  } catch (const BackendError&) {
    writer->sequence.reset();
    return true;  // cannot tell: a full disk may fail this read too
  }
}

bool EventWriter::Locked::keeps_queued(int code) {
  const int primary = code & 0xFF;
  return primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN || retryable(code);
}

void EventWriter::Locked::distrust_after(int code) {
  if ((code & 0xFF) != SQLITE_BUSY) owner_.writer_.reset();
}

void EventWriter::Locked::close() { owner_.writer_.reset(); }

}  // namespace pjx::detail
