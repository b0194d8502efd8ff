// Deliberately broken Redis workers, for proving that the Redis checks
// (harness/check: reconnect, fanout with own deliveries) catch what they
// should. Each defect is a decorator around the worker's real backend (the
// library's RedisInvalidationBackend, built from REDIS_URL as usual) that
// breaks exactly one rule:
//
//   no-flush-on-reconnect  swallows FlushHandler calls: after a lost
//                          connection the cache keeps what it may have missed
//   drop-own               drops the deliveries of key sets this worker
//                          published itself (upstream's publisher receives
//                          them; the SQLite rule leaks into the Redis backend)
//   no-health-check        never PINGs its subscription (the library's
//                          backend with health_check_interval 0, as upstream
//                          and most clients run): a silent server or a
//                          partition without RST goes unnoticed until TCP
//                          keepalive gives up, and the cache is kept
//   ack-failed-redis-publish  answers `published` for a publish whose PUBLISH
//                          failed (BackendError swallowed): during an
//                          outage or a failover it reached nobody
//
// Selected like the SQLite defects: `pjx-worker --defect NAME` or
// PJX_WORKER_DEFECT=NAME; they need REDIS_URL. The worker keeps advertising
// the caps of the real backend (a defect lies about what it does).
//
// Thread safety: the decorators are as thread-safe as InvalidationBackend
// requires; their state is guarded by a mutex.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "pjx/invalidation_backend.hpp"
#include "pjx/settings.hpp"
#include "worker_backend.hpp"

namespace pjx::harness {

struct RedisDefect {
  std::string_view name;
  std::string_view description;
};

// Every Redis defect, in a stable order.
std::span<const RedisDefect> redis_defects();
// The Redis defect called `name`, or nullptr.
const RedisDefect* find_redis_defect(std::string_view name);

// What `defect` changes in the settings before the backend is built
// (no-health-check: the health check off); nothing for the others.
void adjust_redis_settings(Settings& settings, const RedisDefect& defect);

// `inner` wrapped in the decorator of `defect` (`inner` itself when the
// defect is all in the settings).
std::shared_ptr<InvalidationBackend> wrap_redis_defect(std::shared_ptr<InvalidationBackend> inner,
                                                       const RedisDefect& defect);

// The worker's backend with `defect` applied: the backend wrapped, `impl`
// ending in "mutant:<name>", caps and counters those of the real backend.
// Throws ConfigError when `settings` does not select the Redis backend.
WorkerBackend apply_redis_defect(WorkerBackend backend, const Settings& settings,
                                 const RedisDefect& defect);

}  // namespace pjx::harness
