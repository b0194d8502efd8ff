#include "host_lag.hpp"

#include <gtest/gtest.h>
#include <time.h>

#include "check/history.hpp"

namespace pjx::harness {
namespace {

// With a zero threshold every wake-up is a window: each lies within the
// probe's run, ends at or after it begins, and they come in time order.
// There is at least one even if the thread starts after the pause below
// (a loaded host): the probe always takes a first sample.
TEST(HostLagProbe, RecordsEachLateWakeAsAWindowInTimeOrder) {
  HostLagProbe probe(1'000'000, 0);
  const std::int64_t before = monotonic_ns();
  probe.start();
  timespec pause{0, 30'000'000};
  nanosleep(&pause, nullptr);
  const std::vector<HostLagWindow> windows = probe.stop();
  const std::int64_t after = monotonic_ns();
  ASSERT_FALSE(windows.empty());
  std::int64_t last = before;
  for (const HostLagWindow& w : windows) {
    EXPECT_GE(w.from, last);
    EXPECT_GE(w.to, w.from);
    EXPECT_LE(w.to, after);
    last = w.from;
  }
}

// A threshold no wake-up reaches: nothing is recorded. stop() twice, and
// stop() without start(), return nothing and do not block.
TEST(HostLagProbe, RecordsNothingBelowItsThresholdAndStopsTwice) {
  HostLagProbe probe(1'000'000, 3'600'000'000'000);
  EXPECT_TRUE(probe.stop().empty());
  probe.start();
  probe.start();  // already running: no second thread
  timespec pause{0, 10'000'000};
  nanosleep(&pause, nullptr);
  EXPECT_TRUE(probe.stop().empty());
  EXPECT_TRUE(probe.stop().empty());
}

}  // namespace
}  // namespace pjx::harness
