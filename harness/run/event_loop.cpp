#include "event_loop.hpp"

#include <algorithm>
#include <chrono>

#include "check/history.hpp"
#include "subprocess.hpp"

namespace pjx::harness {

bool pump_until(boost::asio::io_context& io, const std::function<bool()>& done,
                std::int64_t deadline_ns, const std::function<bool()>& stop) {
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::chrono::nanoseconds(std::max<std::int64_t>(0, deadline_ns - monotonic_ns()));
  return pjx::testing::run_io_until(io, done, deadline, stop);
}

std::vector<std::string> worker_environment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (const std::string& entry : pjx::testing::current_environment()) {
    const std::string key = entry.substr(0, entry.find('='));
    if (key.rfind("PJX_", 0) == 0 || key == "REDIS_URL" || key.rfind("FAKETIME", 0) == 0) continue;
    if (overrides.count(key) != 0) continue;
    env.push_back(entry);
  }
  for (const auto& [k, v] : overrides) env.push_back(k + "=" + v);
  return env;
}

}  // namespace pjx::harness
