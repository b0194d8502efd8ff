// stats() reports every counter (backend_counters.hpp): each one is copied
// into the SqliteStats member of its name.
#include "backend_counters.hpp"

#include <gtest/gtest.h>

namespace pjx::detail {
namespace {

TEST(BackendCounters, EveryCounterAndGaugeIsCopiedToTheStatsMemberOfItsName) {
  BackendCounters counters;
  std::uint64_t next = 1;
#define PJX_SET_COUNTER(name) counters.name.store(next++);
  PJX_SQLITE_COUNTERS(PJX_SET_COUNTER)
#undef PJX_SET_COUNTER
  counters.wake_active.store(true);
  counters.wake_mode.store(WakeMode::kMixed);
  SqliteStats stats;
  counters.copy_to(stats);
  // In SqliteStats's order, by name, so that a counter copied to the wrong
  // member or not at all shows here.
  EXPECT_EQ(stats.published, 1u);
  EXPECT_EQ(stats.publish_commits, 2u);
  EXPECT_EQ(stats.publish_failures, 3u);
  EXPECT_EQ(stats.queued, 4u);
  EXPECT_EQ(stats.outbox_committed, 5u);
  EXPECT_EQ(stats.outbox_dropped, 6u);
  EXPECT_EQ(stats.outbox_overflows, 7u);
  EXPECT_EQ(stats.outbox_retries, 8u);
  EXPECT_EQ(stats.checkpoints, 9u);
  EXPECT_EQ(stats.checkpoints_busy, 10u);
  EXPECT_EQ(stats.rows_pruned, 11u);
  EXPECT_EQ(stats.busy_waits, 12u);
  EXPECT_EQ(stats.polls, 13u);
  EXPECT_EQ(stats.skipped_polls, 14u);
  EXPECT_EQ(stats.header_skips, 15u);
  EXPECT_EQ(stats.poll_errors, 16u);
  EXPECT_EQ(stats.rows_received, 17u);
  EXPECT_EQ(stats.keys_delivered, 18u);
  EXPECT_EQ(stats.malformed_rows, 19u);
  EXPECT_EQ(stats.handler_errors, 20u);
  EXPECT_EQ(stats.flushes, 21u);
  EXPECT_EQ(stats.gaps_detected, 22u);
  EXPECT_EQ(stats.missed_ids, 23u);
  EXPECT_EQ(stats.stalls_detected, 24u);
  EXPECT_EQ(stats.timed_polls, 25u);
  EXPECT_EQ(stats.wakes, 26u);
  EXPECT_EQ(stats.doorbell_wakes, 27u);
  EXPECT_EQ(stats.doorbells, 28u);
  EXPECT_EQ(stats.doorbell_failures, 29u);
  EXPECT_EQ(stats.empty_wakes, 30u);
  EXPECT_EQ(stats.wake_retries, 31u);
  EXPECT_EQ(stats.wake_failures, 32u);
  EXPECT_EQ(stats.reopens, 33u);
  EXPECT_TRUE(stats.wake_active);
  EXPECT_EQ(stats.wake_mode, WakeMode::kMixed);
  // What the counters do not hold is left alone.
  EXPECT_EQ(stats.cursor, 0);
  EXPECT_FALSE(stats.listening);
}

TEST(BackendCounters, CountAddsOneOrN) {
  std::atomic<std::uint64_t> counter{0};
  count(counter);
  count(counter, 5);
  EXPECT_EQ(counter.load(), 6u);
}

}  // namespace
}  // namespace pjx::detail
