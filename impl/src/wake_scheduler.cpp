#include "wake_scheduler.hpp"

#include <algorithm>

namespace pjx::detail {

WakeScheduler::WakeScheduler(Time poll_interval, Time now) : interval_(poll_interval), next_timed_(now + poll_interval) {}

WakeScheduler::Time WakeScheduler::next_deadline() const {
  Time deadline = next_timed_;
  if (retry_ < kNoRetry) deadline = std::min<Time>(deadline, wake_at_ + kRetryOffsets[retry_]);
  return std::min(deadline, data_check_at_);
}

PollReason WakeScheduler::decide(const std::optional<WatchEvents>& events, Time now) {
  PollReason why = PollReason::kNone;
  if (events) {
    if (events->doorbell) {
      why = PollReason::kDoorbell;
      bell_ever_ = true;
      bell_heard_ = now;
    } else if (events->data && listening_ != Listen::kWrites) {
      // kMixed, or writes queued before kBells took effect.
      if (data_check_at_ == kNoDeadline) data_check_at_ = now + kDoorbellGrace;
    } else if (events->data) {
      why = PollReason::kWake;
    }
  }
  if (why == PollReason::kNone) {
    if (now >= data_check_at_) {
      why = PollReason::kWake;
    } else if (retry_ < kNoRetry && now >= wake_at_ + kRetryOffsets[retry_]) {
      why = PollReason::kRetry;
    } else if (now >= next_timed_) {
      why = PollReason::kTimed;
    }
  }
  // This poll sees every commit visible now: a write waiting for the
  // doorbell needs no poll of its own.
  if (why == PollReason::kDoorbell || why == PollReason::kWake) data_check_at_ = kNoDeadline;
  return why;
}

void WakeScheduler::on_poll_done(PollReason why, const PollOutcome& outcome, Time woke, Time now) {
  if (bell_ever_ && why == PollReason::kTimed && outcome.delivered > 0) {
    // A commit no wake announced: someone commits without ringing. (Not
    // counted from -wal wakes and re-polls: under load they often land
    // between a ringing publisher's COMMIT and its doorbell.)
    bellless_ever_ = true;
    bellless_seen_ = woke;
  }
  if (why == PollReason::kWake && outcome.skipped) {
    // A -wal wake that found nothing: a commit on its way (frames written,
    // not visible yet). An empty doorbell needs no re-poll: it is rung after
    // COMMIT returned, so an earlier poll took its commit.
    wake_at_ = woke;
    retry_ = 0;
  } else if (why == PollReason::kRetry && outcome.skipped) {
    ++retry_;
  } else if (why != PollReason::kTimed && !(why == PollReason::kDoorbell && outcome.skipped)) {
    // Found what a pending re-poll was waiting for. (An empty doorbell found
    // nothing: a -wal write's re-polls, an upstream commit on its way in
    // kMixed, go on.)
    retry_ = kNoRetry;
  }
  next_timed_ = now + interval_;
}

Listen WakeScheduler::wanted(Time now) const {
  const bool bells = bell_ever_ && now - bell_heard_ < kDoorbellMemory;
  const bool bellless = bellless_ever_ && now - bellless_seen_ < kBelllessMemory;
  return !bells ? Listen::kWrites : bellless ? Listen::kMixed : Listen::kBells;
}

bool WakeScheduler::empty_wake(PollReason why, const PollOutcome& outcome) noexcept {
  return outcome.skipped && (why == PollReason::kWake || why == PollReason::kDoorbell);
}

WakeMode WakeScheduler::mode_of(Listen listen) noexcept {
  switch (listen) {
    case Listen::kWrites: return WakeMode::kWrites;
    case Listen::kBells: return WakeMode::kDoorbell;
    case Listen::kMixed: return WakeMode::kMixed;
  }
  return WakeMode::kWrites;
}

}  // namespace pjx::detail
