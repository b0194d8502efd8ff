// BackendContext: what every unit of one SqliteInvalidationBackend shares
// (publisher, outbox, checkpointer, listener): the path and options it was
// built with, its clock and instance_id, the checked location of the file,
// the warning sink, the counters, the last error, and the time at which busy
// waits give up.
//
// Built first, by the backend's constructor; it validates the options and the
// path, so a context exists only for a path and options the backend accepts.
//
// Thread safety: the const members are immutable; warnings, counters,
// give_up_at_ns and the last error are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <string>

#include "backend_counters.hpp"
#include "db_path.hpp"
#include "pjx/clock.hpp"
#include "pjx/sqlite_backend.hpp"
#include "warning_limiter.hpp"

namespace pjx::detail {

// give_up_at_ns when nothing gives up early.
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

class BackendContext {
 public:
  // Throws ConfigError for bad options (validate()) and for a path that
  // cannot work (check_db_path()); nothing is opened or created.
  BackendContext(std::string db_path, SqliteOptions options);
  BackendContext(const BackendContext&) = delete;
  BackendContext& operator=(const BackendContext&) = delete;

  const std::string db_path;
  const SqliteOptions options;
  const std::shared_ptr<const Clock> clock;
  const std::string instance_id;  // a UUID4 in 32 lowercase hex digits, new for every backend
  const DbLocation location;
  WarningLimiter warnings;
  BackendCounters counters;
  // Busy waits of the writing connections (the publisher's, the
  // checkpointer's) end at this steady-clock reading (ns since its epoch);
  // kNever except while stop() drains the outbox.
  std::atomic<std::int64_t> give_up_at_ns{kNever};

  // The most recent publish or poll error (SqliteStats::last_error).
  void record_error(const std::string& message);
  std::string last_error() const;

 private:
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
};

// "<s> s" with %g, for messages naming a duration option.
std::string seconds_text(Seconds s);

}  // namespace pjx::detail
