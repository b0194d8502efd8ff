// SqliteInvalidationBackend: the front door. It builds the units below, wires
// them together, and holds little else: the fork check, the lifecycle lock,
// and stats()'s own connection for the lag query.
//
// Where each part lives (each file states its invariants and its locks):
//
//   backend_context.hpp   the path, options, clock, instance_id, warnings and
//                         counters every unit shares
//   backend_counters.hpp  the counters and gauges stats() copies
//   file_identity.hpp     which file is at the path; opening a connection on
//                         exactly that file (I9)
//   event_writer.hpp      the publisher's connection and the commit
//                         transaction (I7, the publisher's side of I9, the
//                         WAL hook of I11)
//   publisher.hpp         publish(): tickets and group commit (I13)
//   outbox.hpp            the outbox, its background thread, the drain at
//                         stop (I10)
//   checkpointer.hpp      background checkpoints (I11)
//   doorbell.hpp          the doorbell after a commit (I12)
//   listener.hpp          start(), stop(), poll_now(), one poll, delivery: the
//                         cursor rules (I1 to I6, I9, I15) and the poller's
//                         states
//   poll_loop.hpp         the poll thread: ppoll, the change watch
//   wake_scheduler.hpp    the poll loop's wake rules: timed polls, wakes,
//                         re-polls, what a doorbell or its absence changes
//   snapshot_reader.hpp   what one poll reads, and start()'s seed (I2, I3)
//   gap_rule.hpp          the gap rule: pruned unread ids, stalls, ids below
//                         the cursor (I8, I14)
//
// Locks, in the order they may be taken: lifecycle_mu (here) serialises
// start() and stop(); the listener's poll lock serialises polls and handler
// calls; the writer's lock serialises commits (taken under the poll lock only
// to reopen after a replaced file); the outbox's lock guards the outbox and
// the background thread's state. The publisher's group lock guards the
// group-commit tickets and is never held while another lock is taken;
// lag_mu (here) guards stats()'s own connection and is taken alone, so
// stats() never waits behind a publish blocked on another process's lock.
// The poll thread sleeps in ppoll() on an eventfd (stop) and the change
// watcher's inotify fd.
#include "pjx/sqlite_backend.hpp"

#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <mutex>
#include <thread>
#include <utility>

#include "backend_context.hpp"
#include "checkpointer.hpp"
#include "doorbell.hpp"
#include "event_log.hpp"
#include "event_writer.hpp"
#include "file_identity.hpp"
#include "fork_guard.hpp"
#include "listener.hpp"
#include "outbox.hpp"
#include "pjx/errors.hpp"
#include "publisher.hpp"
#include "snapshot_reader.hpp"

namespace pjx {

using detail::seconds_text;

void validate(const SqliteOptions& options) {
  const double poll = options.poll_interval.count();
  const double retention = options.retention.count();
  if (!std::isfinite(poll) || poll <= 0) {
    throw ConfigError("poll_interval " + seconds_text(options.poll_interval) +
                      " must be a positive, finite number of seconds; the documented default is 0.5");
  }
  if (!std::isfinite(retention) || retention <= 0) {
    throw ConfigError("retention " + seconds_text(options.retention) +
                      " must be a positive, finite number of seconds; the documented default is 5.0");
  }
  if (retention < poll) {
    throw ConfigError("retention " + seconds_text(options.retention) + " is shorter than poll_interval " +
                      seconds_text(options.poll_interval) +
                      ", so rows would be pruned before listeners poll them; make retention at least "
                      "poll_interval (the defaults are 5.0 and 0.5)");
  }
  if (options.channel.empty()) {
    throw ConfigError("channel \"\" is empty; pass a name that separates this application from others "
                      "sharing the file (the default is \"pyjinhx:invalidate\")");
  }
  if (options.busy_timeout.count() < 0) {
    throw ConfigError("busy_timeout " + std::to_string(options.busy_timeout.count()) +
                      " ms is negative; pass 0 or more (upstream uses 5000)");
  }
  if (options.outbox_drain_timeout.count() < 0) {
    throw ConfigError("outbox_drain_timeout " + std::to_string(options.outbox_drain_timeout.count()) +
                      " ms is negative; pass 0 (give up on queued events at stop) or more (the default is 5000)");
  }
  if (options.prune_limit == 0) {
    throw ConfigError("prune_limit 0 would never delete expired rows; pass at least 1 (the default is 256)");
  }
  if (options.prune_limit > static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max())) {
    throw ConfigError("prune_limit " + std::to_string(options.prune_limit) +
                      " is too large for SQLite; pass at most 2^63 - 1 (the default is 256)");
  }
  if (!options.vfs.empty() && sqlite3_vfs_find(options.vfs.c_str()) == nullptr) {
    throw ConfigError("vfs \"" + options.vfs +
                      "\" is not a registered SQLite VFS; register it with sqlite3_vfs_register "
                      "before constructing the backend, or leave vfs empty for the default");
  }
}

const char* to_string(WakeMode mode) noexcept {
  switch (mode) {
    case WakeMode::kPolling: return "polling";
    case WakeMode::kWrites: return "writes";
    case WakeMode::kDoorbell: return "doorbell";
    case WakeMode::kMixed: return "mixed";
  }
  return "unknown";
}

const char* to_string(PublishResult result) noexcept {
  switch (result) {
    case PublishResult::kCommitted: return "committed";
    case PublishResult::kQueued: return "queued";
  }
  return "unknown";
}

struct SqliteInvalidationBackend::Impl {
  // Validates the options and the path (BackendContext) before building
  // anything else.
  Impl(std::string path, SqliteOptions opts)
      : ctx(std::move(path), std::move(opts)),
        doorbell(ctx),
        checkpointer(ctx),
        writer(ctx, [this] { outbox.request_checkpoint(); }),
        outbox(ctx, writer, doorbell, checkpointer),
        publisher(ctx, writer, outbox, doorbell),
        listener(ctx, writer) {}

  std::string fork_what() const { return "SqliteInvalidationBackend for \"" + ctx.db_path + "\""; }
  // The lag query of stats(), on its own connection. REQUIRES: lag_mu held.
  std::int64_t lag(std::int64_t cursor);

  detail::BackendContext ctx;
  const detail::ForkGuard fork_guard;  // built before fork(): unusable in the child
  detail::Doorbell doorbell;
  detail::Checkpointer checkpointer;
  detail::EventWriter writer;
  detail::Outbox outbox;
  detail::Publisher publisher;
  detail::Listener listener;

  std::mutex lifecycle_mu;  // serialises start() and stop()

  // stats()'s own connection for the lag query, so that stats() never waits
  // for the writer's lock (a publish holds it while it waits up to
  // busy_timeout for another process's write lock) nor for the poll lock
  // (held while handlers run). Taken with no other lock held.
  std::mutex lag_mu;
  std::unique_ptr<detail::EventLog> lag_log;     // guarded by lag_mu
  std::optional<detail::FileId> lag_log_file;    // guarded by lag_mu
};

std::int64_t SqliteInvalidationBackend::Impl::lag(std::int64_t cursor) {
  const auto now_at_path = detail::file_at_path(ctx);
  if (!lag_log || !now_at_path || now_at_path != lag_log_file) {
    lag_log.reset();
    lag_log = detail::open_current(ctx, &lag_log_file);
  }
  return detail::count_lag(*lag_log, cursor, ctx.options.channel, ctx.instance_id);
}

SqliteInvalidationBackend::SqliteInvalidationBackend(std::string db_path, SqliteOptions options)
    : impl_(std::make_unique<Impl>(std::move(db_path), std::move(options))) {
  if (impl_->ctx.location.exists) {
    // Check now that the existing file is a compatible database; keep the
    // connection as the publisher's.
    auto writer = impl_->writer.lock();
    try {
      writer.ensure_open();
    } catch (const BackendError& e) {
      // At construction a file SQLite cannot open or write is the caller's
      // to fix (permissions); later the same error is retried.
      const int primary = e.code() & 0xFF;
      if (primary == SQLITE_CANTOPEN || primary == SQLITE_READONLY) throw ConfigError(e.what());
      throw;
    }
  }
}

SqliteInvalidationBackend::~SqliteInvalidationBackend() {
  if (impl_->fork_guard.forked()) {
    // In a child of the process that built it: closing the inherited SQLite
    // connections could checkpoint or delete the -wal the parent uses, and
    // its threads were not copied. Leak everything rather than touch it.
    static_cast<void>(impl_.release());
    return;
  }
  stop();
}

void SqliteInvalidationBackend::publish(const KeySet& keys) { static_cast<void>(publish_result(keys)); }

PublishResult SqliteInvalidationBackend::publish_result(const KeySet& keys) {
  impl_->fork_guard.check(impl_->fork_what());
  return impl_->publisher.publish(keys);
}

void SqliteInvalidationBackend::start(InvalidationHandler handler, FlushHandler on_flush) {
  auto& d = *impl_;
  d.fork_guard.check(d.fork_what());
  std::lock_guard life(d.lifecycle_mu);
  d.listener.start(std::move(handler), std::move(on_flush));
}

void SqliteInvalidationBackend::stop() {
  auto& d = *impl_;
  if (d.fork_guard.forked()) return;  // the listener is the parent's: nothing to stop here
  if (d.listener.called_from_poll()) {
    // From a handler (on the poll thread, or inside poll_now() on another):
    // joining here would wait for ourselves. The poll thread exits when it
    // sees the request; start() or the destructor joins it.
    d.listener.request_stop();
    return;
  }
  std::lock_guard life(d.lifecycle_mu);
  d.listener.stop();
  // From the background thread (a warning sink there): it cannot wait for
  // its own outbox nor join itself; the destructor drains and joins it.
  if (d.outbox.on_background_thread()) return;
  d.outbox.drain_and_stop();
}

std::size_t SqliteInvalidationBackend::poll_now() {
  impl_->fork_guard.check(impl_->fork_what());
  return impl_->listener.poll_now();
}

SqliteStats SqliteInvalidationBackend::stats() const {
  auto& d = *impl_;
  SqliteStats s;
  d.ctx.counters.copy_to(s);
  s.cursor = d.listener.cursor();
  s.listening = d.listener.running();
  if (const auto last = d.listener.last_poll()) s.since_last_poll = d.ctx.clock->monotonic() - *last;
  // In a child after fork(), the locks below may have been held by threads
  // of the parent, and the lag query would use its connection.
  if (d.fork_guard.forked()) {
    s.last_error = "used after fork(): build the backend in each worker after the fork";
    s.listening = false;
    return s;
  }
  s.last_error = d.ctx.last_error();
  s.outbox_depth = d.outbox.depth();
  if (s.listening) {
    std::lock_guard lock(d.lag_mu);
    try {
      s.lag = d.lag(s.cursor);
    } catch (const std::exception& e) {
      s.lag = -1;  // unknown; the reason is in last_error
      s.last_error = std::string("lag query failed: ") + e.what();
    }
  }
  return s;
}

const std::string& SqliteInvalidationBackend::instance_id() const noexcept { return impl_->ctx.instance_id; }
const std::string& SqliteInvalidationBackend::db_path() const noexcept { return impl_->ctx.db_path; }
const SqliteOptions& SqliteInvalidationBackend::options() const noexcept { return impl_->ctx.options; }

}  // namespace pjx
