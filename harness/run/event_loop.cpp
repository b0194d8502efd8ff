#include "event_loop.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <chrono>
#include <memory>

#include "check/history.hpp"

extern char** environ;

namespace pjx::harness {

bool pump_until(boost::asio::io_context& io, const std::function<bool()>& done,
                std::int64_t deadline_ns, const std::function<bool()>& stop) {
  if (done()) return true;
  auto fired = std::make_shared<bool>(false);
  boost::asio::steady_timer timer(io);
  timer.expires_after(std::chrono::nanoseconds(std::max<std::int64_t>(0, deadline_ns - monotonic_ns())));
  timer.async_wait([fired](const boost::system::error_code&) { *fired = true; });
  while (!done() && !*fired && !(stop && stop())) {
    if (io.stopped()) io.restart();
    io.run_one();
  }
  timer.cancel();
  return done();
}

std::vector<std::string> worker_environment(const std::map<std::string, std::string>& overrides) {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string entry = *e;
    const std::string key = entry.substr(0, entry.find('='));
    if (key.rfind("PJX_", 0) == 0 || key == "REDIS_URL" || key.rfind("FAKETIME", 0) == 0) continue;
    if (overrides.count(key) != 0) continue;
    env.push_back(entry);
  }
  for (const auto& [k, v] : overrides) env.push_back(k + "=" + v);
  return env;
}

}  // namespace pjx::harness
