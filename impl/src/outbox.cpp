#include "outbox.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <string_view>
#include <system_error>
#include <utility>

#include "backend_context.hpp"
#include "checkpointer.hpp"
#include "doorbell.hpp"
#include "event_writer.hpp"
#include "pjx/errors.hpp"
#include "quoted.hpp"

namespace pjx::detail {
namespace {

using Steady = std::chrono::steady_clock;

// Backoff of the outbox retry: doubled after every failed attempt.
constexpr std::chrono::milliseconds kRetryFirst{10};
constexpr std::chrono::milliseconds kRetryMax{500};
constexpr std::chrono::milliseconds kDrainRetryMax{10};
// How much of an event's keys_json a warning shows.
constexpr std::size_t kKeysShownInMessages = 200;

std::int64_t steady_ns(Steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

Outbox::Outbox(BackendContext& ctx, EventWriter& writer, Doorbell& doorbell, Checkpointer& checkpointer)
    : ctx_(ctx), writer_(writer), doorbell_(doorbell), checkpointer_(checkpointer) {}

PublishResult Outbox::Locked::enqueue(std::string keys_json, std::size_t key_count, const std::string& cause) {
  BackendContext& ctx = owner_.ctx_;
  auto& outbox = owner_.outbox_;
  if (outbox.size() >= ctx.options.outbox_capacity) {
    count(ctx.counters.publish_failures);
    count(ctx.counters.outbox_overflows);
    const std::string message =
        "publish of " + std::to_string(key_count) + " key(s) was not committed nor queued: the outbox is full (" +
        std::to_string(outbox.size()) + " events = outbox_capacity " + std::to_string(ctx.options.outbox_capacity) +
        "; " + std::to_string(ctx.counters.outbox_overflows.load()) + " publishes refused so far) because " +
        cause +
        "; the database has not accepted a commit for a while: check what holds its lock, or raise "
        "outbox_capacity";
    ctx.record_error(message);
    throw BackendError(message, 0);
  }
  try {
    owner_.ensure_background_locked();  // first: an event is queued only with a thread to commit it
  } catch (const std::system_error& e) {
    count(ctx.counters.publish_failures);
    const std::string message = "publish of " + std::to_string(key_count) +
                                " key(s) was not committed nor queued: cannot start the outbox thread (" +
                                e.what() + ") after " + cause + "; raise the process's thread limit";
    ctx.record_error(message);
    throw BackendError(message, 0);
  }
  outbox.push_back(QueuedEvent{std::move(keys_json), key_count});
  count(ctx.counters.queued);
  owner_.bg_cv_.notify_all();
  return PublishResult::kQueued;
}

void Outbox::request_checkpoint() noexcept {
  try {
    if (checkpointer_.resting()) return;
    std::lock_guard lock(bg_mu_);
    checkpoint_wanted_ = true;
    // Also when a request is already pending: a drain_and_stop() may have
    // ended the thread that was to serve it.
    ensure_background_locked();
    bg_cv_.notify_all();
  } catch (const std::exception& e) {
    try {
      ctx_.record_error(std::string("cannot start the background checkpoint: ") + e.what());
    } catch (...) {  // out of memory: last_error keeps the previous error
    }
  }
}

std::size_t Outbox::depth() const {
  std::lock_guard lock(bg_mu_);
  return outbox_.size();
}

bool Outbox::on_background_thread() const noexcept { return bg_thread_id_.load() == std::this_thread::get_id(); }

void Outbox::ensure_background_locked() {
  if (bg_thread_.joinable() || bg_exit_) return;  // running, or being stopped (drain drops the rest)
  bg_thread_ = std::thread([this] { background_loop(); });
}

void Outbox::background_loop() {
  bg_thread_id_.store(std::this_thread::get_id());
  auto backoff = kRetryFirst;
  auto next_retry = Steady::now();
  bool drain_seen = false;
  std::unique_lock lock(bg_mu_);
  while (!bg_exit_) {
    if (draining_ != drain_seen) {
      drain_seen = draining_;
      if (draining_) {  // drain_and_stop() waits: retry now, then at most kDrainRetryMax apart
        backoff = kRetryFirst;
        next_retry = Steady::now();
      }
    }
    if (checkpoint_wanted_) {
      checkpoint_wanted_ = false;
      lock.unlock();
      checkpointer_.run();
      lock.lock();
      continue;
    }
    if (outbox_.empty()) {
      bg_cv_.wait(lock);
      continue;
    }
    if (Steady::now() < next_retry) {
      bg_cv_.wait_until(lock, next_retry);
      continue;
    }
    if (retry_unlocked(lock)) {
      backoff = kRetryFirst;
      if (outbox_.empty()) drained_cv_.notify_all();
    } else {
      backoff = std::min(backoff * 2, kRetryMax);
      next_retry = Steady::now() + (draining_ ? std::min(backoff, kDrainRetryMax) : backoff);
    }
  }
  lock.unlock();
  checkpointer_.close();
  bg_thread_id_.store(std::thread::id{});
}

bool Outbox::retry_unlocked(std::unique_lock<std::mutex>& lock) {
  lock.unlock();
  std::string warning;
  bool progressed = false;
  bool committed = false;
  try {
    progressed = retry_front(&warning, &committed);
  } catch (const std::exception& e) {  // bad_alloc and the like: the event stays queued
    ctx_.record_error(std::string("outbox retry failed (will retry): ") + e.what());
  }
  if (!warning.empty()) ctx_.warnings.warn("dropped", warning);
  if (committed) doorbell_.ring();
  lock.lock();
  return progressed;
}

bool Outbox::retry_front(std::string* warning, bool* committed) {
  auto writer = writer_.lock();
  std::string keys_json;
  std::size_t key_count = 0;
  {
    std::lock_guard bg(bg_mu_);
    if (outbox_.empty()) return true;  // only this thread removes events; defensive
    keys_json = outbox_.front().keys_json;
    key_count = outbox_.front().key_count;
  }
  const auto drop_front = [&](const std::string& why) {
    std::size_t left = 0;
    {
      std::lock_guard bg(bg_mu_);
      outbox_.pop_front();
      left = outbox_.size();
    }
    count(ctx_.counters.outbox_dropped);
    const std::string message = "a queued publish of " + std::to_string(key_count) + " key(s) " +
                                abbreviated(keys_json, kKeysShownInMessages) +
                                " was dropped, it cannot be committed: " + why + " (" + std::to_string(left) +
                                " still queued); listeners will not see it";
    ctx_.record_error(message);
    *warning = message;
  };
  try {
    writer.ensure_open();
    const std::string_view event[] = {keys_json};
    writer.commit(event);
  } catch (const BackendError& e) {
    const bool keep = writer.keeps_queued(e.code());  // before distrust: it may read the open connection
    writer.distrust_after(e.code());
    if (keep) {
      count(ctx_.counters.outbox_retries);
      ctx_.record_error(std::string("outbox retry failed (will retry): ") + e.what());
      if (!is_transient(e.code())) {
        ctx_.warnings.warn("outbox-waits", "queued publishes wait in the outbox: " + std::string(e.what()) +
                                               "; they are retried until the database accepts them or "
                                               "stop() gives up after outbox_drain_timeout");
      }
      return false;
    }
    drop_front(e.what());
    return true;
  } catch (const ConfigError& e) {
    drop_front(e.what());
    return true;
  }
  {
    std::lock_guard bg(bg_mu_);
    outbox_.pop_front();  // after the commit (I10)
  }
  count(ctx_.counters.outbox_committed);
  *committed = true;
  return true;
}

void Outbox::drain_and_stop() {
  std::unique_lock lock(bg_mu_);
  if (!bg_thread_.joinable() && outbox_.empty()) return;
  if (!outbox_.empty()) {
    const auto deadline = Steady::now() + ctx_.options.outbox_drain_timeout;
    ctx_.give_up_at_ns.store(steady_ns(deadline));
    draining_ = true;
    ensure_background_locked();
    bg_cv_.notify_all();
    drained_cv_.wait_until(lock, deadline, [this] { return outbox_.empty(); });
  }
  bg_exit_ = true;
  ctx_.give_up_at_ns.store(steady_ns(Steady::now()));  // cut a busy wait in progress short
  bg_cv_.notify_all();
  std::thread exiting = std::move(bg_thread_);
  lock.unlock();
  if (exiting.joinable()) exiting.join();
  lock.lock();
  const std::string message = drop_rest_locked();
  bg_exit_ = false;
  draining_ = false;
  ctx_.give_up_at_ns.store(kNever);
  lock.unlock();
  if (!message.empty()) ctx_.warnings.warn("dropped", message);
}

std::string Outbox::drop_rest_locked() {
  const std::size_t left = outbox_.size();
  if (left == 0) return {};
  std::uint64_t keys = 0;
  for (const auto& event : outbox_) keys += event.key_count;
  outbox_.clear();
  count(ctx_.counters.outbox_dropped, left);
  std::string message = std::to_string(left) + " queued publish(es) (" + std::to_string(keys) +
                        " keys) were dropped at stop: the database did not accept a commit within "
                        "outbox_drain_timeout " +
                        std::to_string(ctx_.options.outbox_drain_timeout.count()) +
                        " ms; listeners will not see them";
  ctx_.record_error(message);
  return message;
}

}  // namespace pjx::detail
