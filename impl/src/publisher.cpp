#include "publisher.hpp"

#include <array>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "backend_context.hpp"
#include "doorbell.hpp"
#include "keys_json.hpp"
#include "pjx/errors.hpp"

namespace pjx::detail {

Publisher::Publisher(BackendContext& ctx, EventWriter& writer, Outbox& outbox, Doorbell& doorbell)
    : ctx_(ctx), writer_(writer), outbox_(outbox), doorbell_(doorbell) {}

PublishResult Publisher::publish(const KeySet& keys) {
  if (keys.empty()) return PublishResult::kCommitted;
  std::string keys_json = encode_keys(keys);  // may throw invalid_argument
  if (ctx_.options.outbox_capacity > 0) {
    // Behind earlier events (I10), without waiting for the writer's lock,
    // which the background thread may hold for up to busy_timeout.
    auto outbox = outbox_.lock();
    if (!outbox.empty()) return outbox.enqueue(std::move(keys_json), keys.size(), "earlier events are queued");
  }
  Ticket ticket;
  ticket.keys_json = std::move(keys_json);
  ticket.key_count = keys.size();
  take_part(ticket);
  return finish(ticket);
}

void Publisher::take_part(Ticket& ticket) {
  std::unique_lock g(group_mu_);
  group_waiting_.push_back(&ticket);  // may throw: nothing is shared yet
  while (!ticket.done && (group_leader_ || group_waiting_.front() != &ticket)) ticket.cv.wait(g);
  if (!ticket.done) lead(ticket, g);
}

void Publisher::lead(Ticket& ticket, std::unique_lock<std::mutex>& g) noexcept {
  // At the front with no commit under way, so this ticket is the first of
  // the group (I13). Nothing below throws until the group is done: a leader
  // that left by an exception would leave its group, and every later
  // publisher, waiting forever.
  group_leader_ = true;
  if (group_waiting_.size() < last_group_size_) {
    // The last group's members were woken with this thread and are on their
    // way back with their next events: let them queue first (arrivals wait
    // behind a leader), or groups alternate between large and alone.
    g.unlock();
    std::this_thread::yield();
    g.lock();
  }
  std::array<Ticket*, kMaxGroup> members{};
  std::size_t count = 0;
  while (!group_waiting_.empty() && count < kMaxGroup) {
    members[count++] = group_waiting_.front();
    group_waiting_.pop_front();
  }
  const std::span<Ticket* const> group(members.data(), count);
  g.unlock();
  {
    auto writer = writer_.lock();
    commit_group(writer, group);
  }
  g.lock();
  last_group_size_ = count;
  for (Ticket* t : group) {
    t->done = true;
    if (t != &ticket) t->cv.notify_one();
  }
  group_leader_ = false;
  if (!group_waiting_.empty()) group_waiting_.front()->cv.notify_one();
}

PublishResult Publisher::finish(Ticket& ticket) {
  switch (ticket.outcome) {
    case Ticket::Outcome::kCommitted:
      // Once per group, by its leader, after the commit and outside every
      // lock and the leader's role (I12): a warning sink may publish.
      if (ticket.rings) doorbell_.ring();
      return PublishResult::kCommitted;
    case Ticket::Outcome::kQueued:
      // No lock held: the sink may call stats().
      if (!ticket.message.empty()) ctx_.warnings.warn("queued", ticket.message);
      return PublishResult::kQueued;
    case Ticket::Outcome::kConfigFailed: throw ConfigError(ticket.message);
    case Ticket::Outcome::kPending:
    case Ticket::Outcome::kFailed: break;
  }
  if (ticket.message.empty()) throw BackendError("publish was not committed: out of memory", 0);
  throw BackendError(ticket.message, ticket.code);
}

void Publisher::enqueue_ticket(Outbox::Locked& outbox, Ticket& ticket, const std::string& cause,
                               const std::string& warning) noexcept {
  try {
    outbox.enqueue(std::move(ticket.keys_json), ticket.key_count, cause);  // counts its own refusals
  } catch (const BackendError& e) {  // the outbox is full, or its thread cannot start: counted, recorded
    ticket.outcome = Ticket::Outcome::kFailed;
    ticket.code = e.code();
    try {
      ticket.message = e.what();
    } catch (...) {  // publish() throws its own message for an empty one
    }
    return;
  } catch (...) {  // out of memory: not queued, not counted yet
    count(ctx_.counters.publish_failures);
    ticket.outcome = Ticket::Outcome::kFailed;
    return;
  }
  ticket.outcome = Ticket::Outcome::kQueued;
  try {
    ticket.message = warning;
  } catch (...) {  // queued all the same; only the warning is lost
  }
}

void Publisher::fail_all(std::span<Ticket* const> group, Ticket::Outcome outcome, const std::string& message,
                         int code) noexcept {
  // Every ticket leaves with an outcome other than kPending, and each failed
  // one is counted once in publish_failures.
  for (Ticket* t : group) {
    t->outcome = outcome;
    t->code = code;
    try {
      t->message = message;
    } catch (...) {  // publish() throws its own message for an empty one
    }
  }
  count(ctx_.counters.publish_failures, group.size());
  try {
    ctx_.record_error(message);
  } catch (...) {  // out of memory: last_error keeps the previous error
  }
}

void Publisher::commit_group(EventWriter::Locked& writer, std::span<Ticket* const> group) noexcept {
  const bool outbox_on = ctx_.options.outbox_capacity > 0;
  try {
    std::size_t keys_in_group = 0;
    for (const Ticket* t : group) keys_in_group += t->key_count;
    const std::string what = group.size() == 1 ? "publish of " + std::to_string(keys_in_group) + " key(s)"
                                               : "group commit of " + std::to_string(group.size()) +
                                                     " publishes (" + std::to_string(keys_in_group) + " keys)";
    if (outbox_on) {
      // Checked again under the writer's lock, the lock the background
      // thread commits under: an event queued since must stay ahead (I10).
      auto outbox = outbox_.lock();
      if (!outbox.empty()) {
        for (Ticket* t : group) enqueue_ticket(outbox, *t, "earlier events are queued", "");
        return;
      }
    }
    try {
      writer.ensure_open();
      std::vector<std::string_view> events;
      events.reserve(group.size());
      for (const Ticket* t : group) events.emplace_back(t->keys_json);
      writer.commit(events);
      count(ctx_.counters.published, group.size());
      count(ctx_.counters.publish_commits);
      for (Ticket* t : group) t->outcome = Ticket::Outcome::kCommitted;
      group.front()->rings = true;  // the leader's own ticket
    } catch (const BackendError& e) {
      std::string message = what + " was not committed: " + e.what();
      if ((e.code() & 0xFF) == SQLITE_BUSY) {
        message += "; another process held the write lock for longer than busy_timeout " +
                   std::to_string(ctx_.options.busy_timeout.count()) + " ms";
      } else if ((e.code() & 0xFF) == SQLITE_READONLY) {
        message += "; this process cannot write the database (a read-only file, directory or mount): make it "
                   "writable, the next publish reopens it";
      }
      const bool queue = outbox_on && writer.retryable(e.code());  // before distrust: it may read the connection
      // Also when failing: a connection SQLite opened read-only (the mount
      // was read-only then) would refuse every later publish.
      writer.distrust_after(e.code());
      if (!queue) {
        fail_all(group, Ticket::Outcome::kFailed, message, e.code());
        return;
      }
      auto outbox = outbox_.lock();
      const std::string queued_message = message + "; queued in the outbox and retried in the background (" +
                                         std::to_string(outbox.size() + group.size()) + " waiting)";
      for (Ticket* t : group) enqueue_ticket(outbox, *t, message, queued_message);
      ctx_.record_error(queued_message);
    } catch (const ConfigError& e) {
      // The file appeared after construction and is not usable.
      fail_all(group, Ticket::Outcome::kConfigFailed, e.what(), 0);
    }
  } catch (...) {
    // Out of memory while building a message or the batch, or a Clock that
    // threw: whatever has no outcome yet fails (the transaction, if one was
    // begun, was rolled back by commit()).
    for (Ticket* t : group) {
      if (t->outcome != Ticket::Outcome::kPending) continue;
      count(ctx_.counters.publish_failures);
      t->outcome = Ticket::Outcome::kFailed;
    }
  }
}

}  // namespace pjx::detail
