#include "poll_loop.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "backend_context.hpp"
#include "pjx/errors.hpp"

namespace pjx::detail {

std::unique_ptr<ChangeWatcher> make_watcher(BackendContext& ctx) {
  if (!ctx.options.wake_on_change) return nullptr;
  try {
    auto created = std::make_unique<ChangeWatcher>(ctx.location.resolved);
    ctx.counters.wake_active.store(true);
    ctx.counters.wake_mode.store(WakeMode::kWrites);  // the poll loop starts listening for writes
    return created;
  } catch (const std::system_error& e) {
    count(ctx.counters.wake_failures);
    ctx.counters.wake_active.store(false);
    ctx.warnings.warn("wake", std::string("cannot watch the database for changes (") + e.what() +
                                  "); delivering by polling every " + seconds_text(ctx.options.poll_interval) +
                                  " instead. Raise /proc/sys/fs/inotify/max_user_watches and max_user_instances");
    return nullptr;
  }
}

PollLoop::PollLoop(BackendContext& ctx, const Clock& clock, std::unique_ptr<ChangeWatcher> watcher, int stop_fd,
                   const std::atomic<bool>& running, std::function<PollOutcome()> poll)
    : ctx_(ctx),
      clock_(clock),
      watcher_(std::move(watcher)),
      stop_fd_(stop_fd),
      running_(running),
      poll_(std::move(poll)),
      scheduler_(std::chrono::duration_cast<WakeScheduler::Time>(ctx.options.poll_interval), now()) {}

void PollLoop::run() {
  while (running_.load()) {
    update_listening();
    const bool watch_ready = wait();
    if (!running_.load()) break;
    const auto woke = now();
    const auto events = watch_ready ? read_events() : std::nullopt;
    const PollReason why = scheduler_.decide(events, woke);
    if (why == PollReason::kNone) continue;  // a wake about another file, or an early return
    // Before the poll, so that its handler runs with the watch set.
    if (why == PollReason::kDoorbell) update_listening();
    count_poll(why);
    const PollOutcome outcome = poll_once();
    if (WakeScheduler::empty_wake(why, outcome)) count(ctx_.counters.empty_wakes);
    scheduler_.on_poll_done(why, outcome, woke, now());
    update_listening();
  }
  watcher_.reset();
  ctx_.counters.wake_active.store(false);
  ctx_.counters.wake_mode.store(WakeMode::kPolling);
}

bool PollLoop::wait() {
  const auto left = std::max(WakeScheduler::Time::zero(), scheduler_.next_deadline() - now());
  const auto left_ns = left.count();
  timespec timeout{static_cast<time_t>(left_ns / 1'000'000'000), static_cast<long>(left_ns % 1'000'000'000)};
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {watcher_ ? watcher_->fd() : -1, POLLIN, 0}};
  const int ready = ::ppoll(fds, 2, &timeout, nullptr);
  if (ready < 0 && errno != EINTR && running_.load()) {
    ctx_.warnings.warn("wait", std::string("ppoll failed: ") + std::strerror(errno));
  }
  return watcher_ && (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
}

std::optional<WatchEvents> PollLoop::read_events() {
  try {
    const auto events = watcher_->drain();
    return WatchEvents{events.data, events.doorbell};
  } catch (const std::system_error& e) {
    watch_broke(e);
    return std::nullopt;
  }
}

void PollLoop::update_listening() {
  const Listen want = scheduler_.wanted(now());
  const Listen listening = scheduler_.listening();
  if (!watcher_ || want == listening) return;
  try {
    if (WakeScheduler::watches_writes(want) != WakeScheduler::watches_writes(listening)) {
      watcher_->watch_writes(WakeScheduler::watches_writes(want));
    }
    scheduler_.set_listening(want);
    ctx_.counters.wake_mode.store(WakeScheduler::mode_of(want));
  } catch (const std::system_error& e) {
    watch_broke(e);
  }
}

void PollLoop::watch_broke(const std::system_error& e) {
  watcher_.reset();
  scheduler_.on_watch_broken();
  ctx_.counters.wake_active.store(false);
  ctx_.counters.wake_mode.store(WakeMode::kPolling);
  count(ctx_.counters.wake_failures);
  ctx_.warnings.warn("wake", std::string("the change watch broke (") + e.what() + "); polling every " +
                                 seconds_text(ctx_.options.poll_interval) + " until restarted");
}

void PollLoop::count_poll(PollReason why) {
  auto& counters = ctx_.counters;
  switch (why) {
    case PollReason::kDoorbell:
      count(counters.doorbell_wakes);
      count(counters.wakes);
      break;
    case PollReason::kWake: count(counters.wakes); break;
    case PollReason::kRetry: count(counters.wake_retries); break;
    default: count(counters.timed_polls); break;
  }
}

PollOutcome PollLoop::poll_once() {
  try {
    return poll_();
  } catch (const BackendError& e) {
    // Counted and recorded by the listener; warn and retry next interval (I6).
    ctx_.warnings.warn("poll", std::string("poll failed, retrying in ") + seconds_text(ctx_.options.poll_interval) +
                                   ": " + e.what());
    return PollOutcome{};
  }
}

}  // namespace pjx::detail
