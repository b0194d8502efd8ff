// Helpers shared by the scenario runner and the benchmarks, which both drive
// worker processes on one asio io_context from one thread.
#pragma once

#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace pjx::harness {

// Monotonic nanoseconds (check/history.hpp: monotonic_ns()).
inline constexpr std::int64_t kMs = 1'000'000;
inline constexpr std::int64_t kSecond = 1'000 * kMs;

// Runs handlers of `io` until `done()` holds or the monotonic clock passes
// `deadline_ns` (or `stop()`, when given, holds). Returns done().
// (subprocess.hpp's run_io_until with a monotonic_ns() deadline.)
bool pump_until(boost::asio::io_context& io, const std::function<bool()>& done,
                std::int64_t deadline_ns, const std::function<bool()>& stop = {});

// The environment for a worker: this process's environment without any
// PJX_*, REDIS_URL or FAKETIME* variable (the run's configuration must not
// leak in from the user's shell), plus `overrides`, as NAME=VALUE entries.
std::vector<std::string> worker_environment(const std::map<std::string, std::string>& overrides);

}  // namespace pjx::harness
