#include "pjx/clock.hpp"

#include <time.h>

namespace pjx {
namespace {

std::int64_t read_ns(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class SystemClock final : public Clock {
 public:
  double wall_seconds() const override {
    return static_cast<double>(read_ns(CLOCK_REALTIME)) / 1e9;
  }
  std::chrono::nanoseconds monotonic() const override {
    return std::chrono::nanoseconds(read_ns(CLOCK_BOOTTIME));
  }
};

}  // namespace

std::shared_ptr<const Clock> Clock::system() {
  static const auto clock = std::make_shared<const SystemClock>();
  return clock;
}

ManualClock::ManualClock(double wall_seconds, std::chrono::nanoseconds monotonic)
    : wall_(wall_seconds), mono_ns_(monotonic.count()) {}

double ManualClock::wall_seconds() const { return wall_.load(); }

std::chrono::nanoseconds ManualClock::monotonic() const {
  return std::chrono::nanoseconds(mono_ns_.load());
}

void ManualClock::advance(std::chrono::nanoseconds d) {
  mono_ns_.fetch_add(d.count());
  wall_.fetch_add(static_cast<double>(d.count()) / 1e9);
}

void ManualClock::step_wall(double seconds) { wall_.fetch_add(seconds); }

}  // namespace pjx
