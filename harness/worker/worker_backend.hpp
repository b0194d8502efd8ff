// WorkerBackend: the backend a pjx-worker process drives, with what the
// protocol needs to know about it (caps, instance id, counters), built from
// the environment either as the library's SqliteInvalidationBackend or, for
// `--defect NAME`, as a MutantBackend with that defect's knobs.
//
// Thread safety: construction functions are reentrant; the returned stats
// function may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "mutant_backend.hpp"
#include "pjx/invalidation_backend.hpp"
#include "pjx/settings.hpp"
#include "pjx/sqlite_backend.hpp"
#include "pjx/redis_backend.hpp"

namespace pjx::harness {

struct WorkerBackend {
  std::shared_ptr<InvalidationBackend> backend;  // never null
  std::vector<std::string> caps;                 // what ready.caps advertises
  std::string impl;                              // ready.impl
  std::optional<std::string> instance_id;        // ready.instance_id, when known
  // The counters of the `stats` event; empty when the backend has none (then
  // "stats" is not in caps and the op is answered as unsupported).
  std::function<nlohmann::json()> stats;
};

// Reads the configuration as Settings::from_env(getenv) does. For a defect
// with accept_memory, an empty PJX_INVALIDATION_DB is let through instead of
// being rejected. Throws ConfigError.
Settings load_settings(const Settings::Getenv& getenv, const Defect* defect);

// Builds the backend selected by `settings`: the library's when `defect` is
// null, a MutantBackend otherwise (SQLite only). The path and options are
// checked exactly as the library checks them, except that a defect with
// accept_memory lets private databases through. Throws ConfigError, also
// when no backend is configured at all.
WorkerBackend make_worker_backend(const Settings& settings, const Defect* defect);

// The counters of `stats` under the names of SqliteStats;
// `since_last_poll_ns` is null before the first poll.
nlohmann::json stats_to_json(const SqliteStats& stats);

// The counters of `stats` for the Redis backend, under the names of
// RedisStats, plus "backend": "redis".
nlohmann::json redis_stats_to_json(const RedisStats& stats);

// "pjx-inval-cpp <version>".
std::string implementation_name();

}  // namespace pjx::harness
