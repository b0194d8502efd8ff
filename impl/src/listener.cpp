#include "listener.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "backend_context.hpp"
#include "event_log.hpp"
#include "event_writer.hpp"
#include "keys_json.hpp"
#include "pjx/errors.hpp"
#include "poll_loop.hpp"

namespace pjx::detail {
namespace {

// The listener whose poll (handler, flush handler, warning sink) this thread
// is running, if any: handlers also run inside poll_now() on the caller's
// thread, where stop() must not join and poll_now() must not lock poll_mu_
// again.
thread_local const void* t_in_handler_of = nullptr;

class InHandler {
 public:
  explicit InHandler(const void* listener) : previous_(std::exchange(t_in_handler_of, listener)) {}
  ~InHandler() { t_in_handler_of = previous_; }
  InHandler(const InHandler&) = delete;
  InHandler& operator=(const InHandler&) = delete;

 private:
  const void* previous_;
};

}  // namespace

Listener::Listener(BackendContext& ctx, EventWriter& writer) : ctx_(ctx), writer_(writer) {
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (stop_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
}

Listener::~Listener() { ::close(stop_fd_); }

void Listener::start(InvalidationHandler handler, FlushHandler on_flush) {
  if (running_.load()) return;               // second start is a no-op
  if (thread_.joinable()) thread_.join();  // a previous stop() from inside a handler
  std::unique_ptr<ChangeWatcher> watcher;
  {
    std::lock_guard poll(poll_mu_);
    try {
      // Seed from the file at the path now (I2): a reader an earlier start()
      // left open may hold a file replaced or deleted while stopped, and the
      // first poll's reopen (I9) would then read the new one from its first
      // row, replaying history. Nothing is flushed for it: a restarted
      // listener, like a new one, starts from now.
      if (!reader_ || file_at_path(ctx_) != reader_file_) {
        reader_.reset();
        open_reader();
      }
      replaced_pending_ = false;
      // Set up before the seed, so that no commit after it goes unnoticed.
      watcher = make_watcher(ctx_);
      const Seed seed = read_seed(*reader_);
      cursor_.store(seed.top);  // I2
      last_mark_ = seed.mark;  // the first poll skips if nobody commits
      handler_ = std::move(handler);
      on_flush_ = std::move(on_flush);
      last_poll_ns_.store(ctx_.clock->monotonic().count());
    } catch (const BackendError& e) {
      // Nothing listens: no watch either (it was set up before the seed).
      watcher.reset();
      ctx_.counters.wake_active.store(false);
      ctx_.counters.wake_mode.store(WakeMode::kPolling);
      ctx_.record_error(std::string("start failed: ") + e.what());
      throw;
    }
  }
  std::uint64_t drained = 0;
  while (::read(stop_fd_, &drained, sizeof drained) > 0) {
  }
  running_.store(true);
  thread_ = std::thread([this, watcher = std::move(watcher)]() mutable {
    poll_thread_id_.store(std::this_thread::get_id());
    PollLoop loop(ctx_, *Clock::system(), std::move(watcher), stop_fd_, running_, [this] { return poll_once(); });
    loop.run();
    poll_thread_id_.store(std::thread::id{});
  });
}

bool Listener::called_from_poll() const noexcept {
  return poll_thread_id_.load() == std::this_thread::get_id() || t_in_handler_of == this;
}

void Listener::request_stop() noexcept {
  running_.store(false);
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto n = ::write(stop_fd_, &one, sizeof one);
}

void Listener::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
  // Waits for a poll_now() under way on another thread, whose handler may be
  // running; any poll that takes poll_mu_ after this sees running_ false and
  // calls nothing (I15).
  std::lock_guard poll(poll_mu_);
}

std::size_t Listener::poll_now() {
  if (called_from_poll()) {
    throw std::logic_error("poll_now() called from the invalidation handler; it would deadlock");
  }
  if (!running_.load()) throw std::logic_error("poll_now() requires start()");
  return poll_once().delivered;
}

std::optional<std::chrono::nanoseconds> Listener::last_poll() const noexcept {
  const auto last = last_poll_ns_.load();
  if (last < 0) return std::nullopt;
  return std::chrono::nanoseconds(last);
}

void Listener::open_reader() { reader_ = open_current(ctx_, &reader_file_); }

void Listener::reopen_if_replaced() {
  const auto now_at_path = file_at_path(ctx_);
  if (now_at_path && now_at_path == reader_file_) return;
  replaced_pending_ = true;  // stays set if reopening fails, so the flush is not lost
  ctx_.warnings.warn("replaced", "the database file \"" + ctx_.db_path + "\" was " +
                                     (now_at_path ? "replaced" : "deleted") +
                                     " under this worker; reopening it and flushing the cache (invalidations "
                                     "sent to the old file in the meantime cannot be known)");
  writer_.lock().close();  // the only place the writer's lock is taken under poll_mu_
  reader_.reset();
  // Read the new file from its first row: rows other workers committed to it
  // before this listener noticed the switch are delivered after the flush
  // rather than skipped (retention bounds how many there are). Rewound
  // before opening, so that a failed open (retried by the next poll) does
  // not leave the old file's cursor on the new file.
  cursor_.store(0);
  last_mark_ = ChangeMark{};
  open_reader();
  count(ctx_.counters.reopens);
}

PollOutcome Listener::poll_once() {
  std::lock_guard lock(poll_mu_);
  // Checked under poll_mu_, which stop() takes once running_ is false: a
  // poll that got here after stop() cannot run a handler (I15).
  if (!running_.load()) return PollOutcome{0, true};
  // Everything this poll calls out to (handlers, the flush handler, the
  // warning sink) may call stop() or poll_now(): they must see that they
  // run inside this poll, which holds poll_mu_.
  const InHandler in_poll(this);
  const auto now = ctx_.clock->monotonic();
  const auto previous = std::chrono::nanoseconds(last_poll_ns_.load());
  const bool stalled = is_stall(previous, now, std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                   ctx_.options.retention));
  bool replaced = false;  // the database file was replaced or deleted (I9)
  std::int64_t from = 0;
  const std::optional<Snapshot> snapshot = read(&replaced, &from);
  last_poll_ns_.store(now.count());
  if (!snapshot) {
    // Nobody committed since the last poll: nothing new, nothing pruned.
    count(ctx_.counters.skipped_polls);
    if (replaced) notify_flush(FlushReason::kReplacedFile);
    return PollOutcome{0, true};
  }
  count(ctx_.counters.polls);
  const PollFacts facts{from, snapshot->top, snapshot->present, stalled, replaced, ctx_.options.detect_gaps};
  flush_if_missed(facts, assess_gap(facts), now - previous);
  return PollOutcome{deliver(snapshot->rows, snapshot->top), false};
}

std::optional<Snapshot> Listener::read(bool* replaced, std::int64_t* from) {
  const auto failed = [this](const char* what) {
    count(ctx_.counters.poll_errors);
    ctx_.record_error(std::string("poll failed: ") + what);
  };
  try {
    if (!reader_) open_reader();
    reopen_if_replaced();
    *from = cursor_.load();
    Unchanged unchanged = Unchanged::kDataVersion;
    auto snapshot = read_snapshot(*reader_, *from, last_mark_, ctx_.options.channel, ctx_.instance_id, &unchanged);
    // Taken only once the new file was read: a read that throws leaves the
    // flush owed to the next poll, which finds the file already reopened.
    *replaced = std::exchange(replaced_pending_, false);
    if (!snapshot && unchanged == Unchanged::kHeader) count(ctx_.counters.header_skips);
    return snapshot;
  } catch (const BackendError& e) {
    failed(e.what());
    throw;
  } catch (const ConfigError& e) {
    failed(e.what());
    throw BackendError(e.what(), 0);
  }
}

void Listener::flush_if_missed(const PollFacts& facts, const GapAssessment& assessment,
                               std::chrono::nanoseconds since_previous) {
  auto& counters = ctx_.counters;
  switch (assessment.verdict) {
    case GapVerdict::kNone: return;
    case GapVerdict::kReplacedFile:
      notify_flush(FlushReason::kReplacedFile);  // I9
      return;
    case GapVerdict::kRegression:  // I14
      count(counters.gaps_detected);
      cursor_.store(facts.top);  // the only move down while listening
      ctx_.warnings.warn("regression",
                         "the highest id issued (" + std::to_string(facts.top) + ") is below this listener's cursor (" +
                             std::to_string(facts.cursor) + ") in \"" + ctx_.db_path +
                             "\": the database was restored in place from a backup, or its table and "
                             "sqlite_sequence were emptied; flushing the cache and reading on from id " +
                             std::to_string(facts.top));
      notify_flush(FlushReason::kGap);
      return;
    case GapVerdict::kGap:  // I8
      count(counters.gaps_detected);
      count(counters.missed_ids, static_cast<std::uint64_t>(assessment.missing));
      ctx_.warnings.warn("gap", std::to_string(assessment.missing) + " row(s) after id " +
                                    std::to_string(facts.cursor) +
                                    " were pruned before this listener read them (it was stalled, or a "
                                    "publisher's clock is ahead); flushing the cache");
      notify_flush(FlushReason::kGap);
      return;
    case GapVerdict::kStall:  // I8
      count(counters.stalls_detected);
      ctx_.warnings.warn("stall", "no poll for " + std::to_string(since_previous.count() / 1'000'000) +
                                      " ms, longer than retention " + seconds_text(ctx_.options.retention) +
                                      " (process paused or machine suspended?); flushing the cache");
      notify_flush(FlushReason::kStall);
      return;
  }
}

std::size_t Listener::deliver(const std::vector<LogRow>& rows, std::int64_t snapshot_top) {
  std::size_t delivered = 0;
  bool finished = true;
  for (const auto& row : rows) {
    if (!running_.load()) {  // stop() was called, possibly by the previous handler call
      finished = false;
      break;
    }
    cursor_.store(row.id);  // I1, I3: passed before the handler runs
    std::string why;
    auto keys = decode_keys(row.keys_json, &why);
    if (!keys) {  // I4
      count(ctx_.counters.malformed_rows);
      ctx_.warnings.warn("malformed", "skipped row " + std::to_string(row.id) + " on channel \"" +
                                          ctx_.options.channel + "\": keys_json is " + why +
                                          "; its publisher does not follow the wire format");
      continue;
    }
    count(ctx_.counters.rows_received);
    count(ctx_.counters.keys_delivered, keys->size());
    ++delivered;
    if (handler_) call_handler(row.id, *keys);
  }
  if (finished && snapshot_top > cursor_.load()) cursor_.store(snapshot_top);  // I3
  return delivered;
}

void Listener::call_handler(std::int64_t row_id, const KeySet& keys) {
  try {
    const InHandler in_handler(this);
    handler_(keys);
  } catch (const std::exception& e) {  // I5
    count(ctx_.counters.handler_errors);
    ctx_.warnings.warn("handler", "invalidation handler threw on row " + std::to_string(row_id) + ": " + e.what() +
                                      "; flushing the cache, since its keys may not have been evicted");
    notify_flush(FlushReason::kHandlerError);
  } catch (...) {
    count(ctx_.counters.handler_errors);
    ctx_.warnings.warn("handler", "invalidation handler threw a non-exception on row " + std::to_string(row_id) +
                                      "; flushing the cache, since its keys may not have been evicted");
    notify_flush(FlushReason::kHandlerError);
  }
}

void Listener::notify_flush(FlushReason reason) {
  count(ctx_.counters.flushes);
  if (!on_flush_) return;
  try {
    const InHandler in_handler(this);
    on_flush_(reason);
  } catch (const std::exception& e) {
    count(ctx_.counters.handler_errors);
    ctx_.warnings.warn("handler", std::string("flush handler threw: ") + e.what());
  } catch (...) {
    count(ctx_.counters.handler_errors);
    ctx_.warnings.warn("handler", "flush handler threw something that is not a std::exception");
  }
}

}  // namespace pjx::detail
