// The poll loop's wake rules (wake_scheduler.hpp), driven through a
// ManualClock: ten minutes pass in a call, nothing sleeps.
#include "wake_scheduler.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>

#include "pjx/clock.hpp"

namespace pjx::detail {
namespace {

using namespace std::chrono_literals;
using Time = WakeScheduler::Time;

constexpr auto kInterval = 500ms;
constexpr WatchEvents kWrite{true, false};
constexpr WatchEvents kBell{false, true};
constexpr PollOutcome kFoundRows{1, false};
constexpr PollOutcome kFoundNothing{0, true};
constexpr PollOutcome kFoundOthersRows{0, false};  // a commit, none of it for us

class WakeSchedulerTest : public ::testing::Test {
 protected:
  Time now() const { return clock_.monotonic(); }
  // Decides at now() and, for a poll, reports `outcome` at the same time.
  PollReason wake(const std::optional<WatchEvents>& events, const PollOutcome& outcome) {
    const PollReason why = scheduler_.decide(events, now());
    if (why != PollReason::kNone) scheduler_.on_poll_done(why, outcome, now(), now());
    return why;
  }
  // What the poll thread does after each decision: listen as wanted.
  void follow() { scheduler_.set_listening(scheduler_.wanted(now())); }

  ManualClock clock_;
  WakeScheduler scheduler_{kInterval, clock_.monotonic()};
};

TEST_F(WakeSchedulerTest, TheFirstTimedPollIsDueOnePollIntervalAfterTheStart) {
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
  clock_.advance(kInterval - 1ns);
  EXPECT_EQ(scheduler_.decide(std::nullopt, now()), PollReason::kNone);
  clock_.advance(1ns);
  EXPECT_EQ(scheduler_.decide(std::nullopt, now()), PollReason::kTimed);
}

TEST_F(WakeSchedulerTest, TheNextTimedPollIsDueOnePollIntervalAfterThePollEnded) {
  clock_.advance(kInterval);
  const Time woke = now();
  ASSERT_EQ(scheduler_.decide(std::nullopt, woke), PollReason::kTimed);
  clock_.advance(30ms);  // the poll took 30 ms
  scheduler_.on_poll_done(PollReason::kTimed, kFoundNothing, woke, now());
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
}

TEST_F(WakeSchedulerTest, AWalWriteWakesAPollAtOnce) {
  EXPECT_EQ(scheduler_.decide(kWrite, now()), PollReason::kWake);
}

TEST_F(WakeSchedulerTest, AWalWakeThatFindsNothingIsLookedAtAgainAtTheRetryOffsets) {
  const Time woke = now();
  ASSERT_EQ(wake(kWrite, kFoundNothing), PollReason::kWake);
  for (const auto offset : WakeScheduler::kRetryOffsets) {
    EXPECT_EQ(scheduler_.next_deadline(), woke + offset);
    clock_.advance(woke + offset - now() - 1ns);
    EXPECT_EQ(scheduler_.decide(std::nullopt, now()), PollReason::kNone) << "before " << offset.count() << " us";
    clock_.advance(1ns);
    ASSERT_EQ(wake(std::nullopt, kFoundNothing), PollReason::kRetry) << "at " << offset.count() << " us";
  }
  // After the last look only the timed poll is left.
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
}

TEST_F(WakeSchedulerTest, ARePollThatFindsTheCommitEndsTheRetries) {
  ASSERT_EQ(wake(kWrite, kFoundNothing), PollReason::kWake);
  clock_.advance(WakeScheduler::kRetryOffsets[0]);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kRetry);
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
}

TEST_F(WakeSchedulerTest, ATimedPollLeavesPendingRetriesInPlace) {
  const Time woke = now();
  ASSERT_EQ(wake(kWrite, kFoundNothing), PollReason::kWake);
  scheduler_.on_poll_done(PollReason::kTimed, kFoundRows, now(), now());
  EXPECT_EQ(scheduler_.next_deadline(), woke + WakeScheduler::kRetryOffsets[0]);
}

TEST_F(WakeSchedulerTest, ADoorbellWakesAPollAndMovesTheListenerToDoorbellsOnly) {
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kWrites);
  EXPECT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kBells);
  EXPECT_FALSE(WakeScheduler::watches_writes(Listen::kBells));
  EXPECT_EQ(WakeScheduler::mode_of(Listen::kBells), WakeMode::kDoorbell);
}

TEST_F(WakeSchedulerTest, ADoorbellIsRememberedForTenMinutes) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(WakeScheduler::kDoorbellMemory - 1ns);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kBells);
  clock_.advance(1ns);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kWrites);
}

TEST_F(WakeSchedulerTest, EachDoorbellRestartsItsTenMinutes) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(9min);
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(9min);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kBells);
}

TEST_F(WakeSchedulerTest, ATimedPollThatDeliversAfterADoorbellMeansAPublisherThatDoesNotRing) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  follow();
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kTimed);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kMixed);
  EXPECT_TRUE(WakeScheduler::watches_writes(Listen::kMixed));
}

TEST_F(WakeSchedulerTest, ATimedPollThatDeliversNothingChangesNothing) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundOthersRows), PollReason::kTimed);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kBells);
}

TEST_F(WakeSchedulerTest, ATimedPollThatDeliversWithNoDoorbellEverHeardStaysOnWrites) {
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kTimed);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kWrites);
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kBells);  // that timed poll was not remembered
}

TEST_F(WakeSchedulerTest, ACommitWithoutADoorbellIsRememberedForTenMinutes) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kTimed);
  // Doorbells go on; the silent publisher is not heard from again.
  for (int minute = 1; minute < 10; ++minute) {
    clock_.advance(1min);
    ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
    EXPECT_EQ(scheduler_.wanted(now()), Listen::kMixed) << minute;
  }
  clock_.advance(WakeScheduler::kBelllessMemory - 9min);
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kBells);
}

TEST_F(WakeSchedulerTest, WithoutDoorbellsForTenMinutesAMixedListenerGoesBackToWrites) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kTimed);
  ASSERT_EQ(scheduler_.wanted(now()), Listen::kMixed);
  clock_.advance(WakeScheduler::kDoorbellMemory);
  EXPECT_EQ(scheduler_.wanted(now()), Listen::kWrites);
}

TEST_F(WakeSchedulerTest, InMixedAWriteWaitsItsGraceForADoorbellThenPolls) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kTimed);
  follow();
  ASSERT_EQ(scheduler_.listening(), Listen::kMixed);
  const Time written = now();
  EXPECT_EQ(scheduler_.decide(kWrite, written), PollReason::kNone);
  EXPECT_EQ(scheduler_.next_deadline(), written + WakeScheduler::kDoorbellGrace);
  clock_.advance(WakeScheduler::kDoorbellGrace / 2);
  EXPECT_EQ(scheduler_.decide(kWrite, now()), PollReason::kNone);  // a second write keeps the first deadline
  EXPECT_EQ(scheduler_.next_deadline(), written + WakeScheduler::kDoorbellGrace);
  clock_.advance(WakeScheduler::kDoorbellGrace / 2);
  EXPECT_EQ(wake(std::nullopt, kFoundRows), PollReason::kWake);
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
}

TEST_F(WakeSchedulerTest, InMixedTheDoorbellWithinTheGraceTakesTheWritesPoll) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  clock_.advance(kInterval);
  ASSERT_EQ(wake(std::nullopt, kFoundRows), PollReason::kTimed);
  follow();
  EXPECT_EQ(scheduler_.decide(kWrite, now()), PollReason::kNone);
  clock_.advance(WakeScheduler::kDoorbellGrace / 4);
  EXPECT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);  // no poll of the write's own
}

TEST_F(WakeSchedulerTest, WritesQueuedBeforeDoorbellsOnlyTookEffectWaitForTheirDoorbell) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  follow();
  ASSERT_EQ(scheduler_.listening(), Listen::kBells);
  EXPECT_EQ(scheduler_.decide(kWrite, now()), PollReason::kNone);
  clock_.advance(WakeScheduler::kDoorbellGrace);
  EXPECT_EQ(scheduler_.decide(std::nullopt, now()), PollReason::kWake);
}

TEST_F(WakeSchedulerTest, AnEmptyDoorbellNeitherRetriesNorCancelsAWritesRetries) {
  const Time woke = now();
  ASSERT_EQ(wake(kWrite, kFoundNothing), PollReason::kWake);
  clock_.advance(WakeScheduler::kRetryOffsets[0] / 2);
  ASSERT_EQ(wake(kBell, kFoundNothing), PollReason::kDoorbell);
  EXPECT_EQ(scheduler_.next_deadline(), woke + WakeScheduler::kRetryOffsets[0]);
}

TEST_F(WakeSchedulerTest, ADoorbellThatFindsTheCommitEndsTheRetries) {
  ASSERT_EQ(wake(kWrite, kFoundNothing), PollReason::kWake);
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
}

TEST_F(WakeSchedulerTest, ABrokenWatchDropsAWriteWaitingForItsDoorbell) {
  ASSERT_EQ(wake(kBell, kFoundRows), PollReason::kDoorbell);
  follow();
  ASSERT_EQ(scheduler_.decide(kWrite, now()), PollReason::kNone);
  scheduler_.on_watch_broken();
  EXPECT_EQ(scheduler_.next_deadline(), now() + kInterval);
}

TEST(WakeSchedulerRules, EmptyWakesAreWakesAndDoorbellsThatFoundNoCommit) {
  EXPECT_TRUE(WakeScheduler::empty_wake(PollReason::kWake, kFoundNothing));
  EXPECT_TRUE(WakeScheduler::empty_wake(PollReason::kDoorbell, kFoundNothing));
  EXPECT_FALSE(WakeScheduler::empty_wake(PollReason::kRetry, kFoundNothing));
  EXPECT_FALSE(WakeScheduler::empty_wake(PollReason::kTimed, kFoundNothing));
  EXPECT_FALSE(WakeScheduler::empty_wake(PollReason::kWake, kFoundOthersRows));
}

TEST(WakeSchedulerRules, ModesNameWhatWakesTheListener) {
  EXPECT_EQ(WakeScheduler::mode_of(Listen::kWrites), WakeMode::kWrites);
  EXPECT_EQ(WakeScheduler::mode_of(Listen::kBells), WakeMode::kDoorbell);
  EXPECT_EQ(WakeScheduler::mode_of(Listen::kMixed), WakeMode::kMixed);
}

}  // namespace
}  // namespace pjx::detail
