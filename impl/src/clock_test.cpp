#include "pjx/clock.hpp"

#include <gtest/gtest.h>

namespace pjx {
namespace {

TEST(ManualClock, MovesOnlyWhenTold) {
  ManualClock clock(100.0, std::chrono::seconds(5));
  EXPECT_DOUBLE_EQ(clock.wall_seconds(), 100.0);
  EXPECT_EQ(clock.monotonic(), std::chrono::seconds(5));
  clock.advance(std::chrono::milliseconds(1500));
  EXPECT_DOUBLE_EQ(clock.wall_seconds(), 101.5);
  EXPECT_EQ(clock.monotonic(), std::chrono::milliseconds(6500));
}

TEST(ManualClock, WallStepLeavesMonotonicAlone) {
  ManualClock clock(100.0, std::chrono::seconds(5));
  clock.step_wall(-30.0);
  EXPECT_DOUBLE_EQ(clock.wall_seconds(), 70.0);
  EXPECT_EQ(clock.monotonic(), std::chrono::seconds(5));
}

TEST(SystemClock, ReadsUnixTimeAndAMonotonicClock) {
  const auto clock = Clock::system();
  EXPECT_GT(clock->wall_seconds(), 1.6e9);  // after 2020
  const auto a = clock->monotonic();
  const auto b = clock->monotonic();
  EXPECT_LE(a, b);
}

}  // namespace
}  // namespace pjx
