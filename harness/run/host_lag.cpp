#include "host_lag.hpp"

#include <time.h>

#include <cerrno>
#include <utility>

#include "check/history.hpp"

namespace pjx::harness {

HostLagProbe::HostLagProbe(std::int64_t period_ns, std::int64_t threshold_ns)
    : period_ns_(period_ns), threshold_ns_(threshold_ns) {}

HostLagProbe::~HostLagProbe() { stop(); }

void HostLagProbe::start() {
  if (thread_.joinable()) return;
  windows_.clear();
  thread_ = std::jthread([this](const std::stop_token& stop) { sample(stop); });
}

std::vector<HostLagWindow> HostLagProbe::stop() {
  if (!thread_.joinable()) return {};
  thread_.request_stop();
  thread_.join();
  return std::exchange(windows_, {});
}

void HostLagProbe::sample(const std::stop_token& stop) {
  // At least one sample, however late the thread starts or stop() comes.
  std::int64_t deadline = monotonic_ns() + period_ns_;
  do {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(deadline / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(deadline % 1'000'000'000);
    // EINTR: a signal handled on this thread woke it early; sleep again.
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    const std::int64_t woke = monotonic_ns();
    if (woke - deadline >= threshold_ns_) windows_.push_back({deadline, woke});
    // After a stall, count the next period from now: one window per stall.
    deadline = (woke - deadline >= period_ns_ ? woke : deadline) + period_ns_;
  } while (!stop.stop_requested());
}

}  // namespace pjx::harness
