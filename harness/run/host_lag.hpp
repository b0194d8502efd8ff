// HostLagProbe: measures when this host did not run a thread that was ready,
// so that timing checks can tell a slow implementation from a stalled host.
//
// A thread sleeps to absolute deadlines `period` apart on CLOCK_MONOTONIC
// (the clock of every history record). When it wakes `threshold` or more
// after its deadline, the host did not run it for at least that long: a
// virtual machine descheduled by its hypervisor, every core busy, a cgroup
// throttled. The window [deadline, woke] is recorded. It under-states the
// stall (the stall may have begun before the deadline), so a check that
// subtracts it from a latency never excuses more than the host took.
//
// On a 2-core CI machine whose neighbours are busy, such stalls last about
// 100 ms and hit every process of the host at once (measured: the worst
// deliveries of a polling worker overlapped a stall this probe saw, and were
// of normal latency once it was subtracted). An implementation cannot cause
// what this probe measures by being slow itself, except by keeping every
// core busy, which the checks' evidence then shows as lag windows.
//
// Thread safety: start() and stop() from one thread; the sampling thread
// owns the windows until stop() joins it. Takes at least one sample, and
// stops within one period.
#pragma once

#include <cstdint>
#include <stop_token>
#include <thread>
#include <vector>

namespace pjx::harness {

struct HostLagWindow {
  std::int64_t from = 0;  // the deadline the probe missed (CLOCK_MONOTONIC ns)
  std::int64_t to = 0;    // when it ran again
  double ms() const { return static_cast<double>(to - from) / 1e6; }
};

class HostLagProbe {
 public:
  static constexpr std::int64_t kDefaultPeriodNs = 5'000'000;      // 5 ms
  static constexpr std::int64_t kDefaultThresholdNs = 10'000'000;  // 10 ms

  HostLagProbe(std::int64_t period_ns = kDefaultPeriodNs,
               std::int64_t threshold_ns = kDefaultThresholdNs);
  ~HostLagProbe();
  HostLagProbe(const HostLagProbe&) = delete;
  HostLagProbe& operator=(const HostLagProbe&) = delete;

  // Starts sampling; a second call while running does nothing.
  void start();
  // Stops sampling and returns the windows seen since start(), in time order.
  std::vector<HostLagWindow> stop();

 private:
  void sample(const std::stop_token& stop);

  const std::int64_t period_ns_;
  const std::int64_t threshold_ns_;
  std::vector<HostLagWindow> windows_;  // the sampling thread's until stop() joins it
  std::jthread thread_;
};

}  // namespace pjx::harness
