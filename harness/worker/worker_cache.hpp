// WorkerCache: the load cache a worker serves `read` ops from (protocol v2),
// in front of the worker's invalidation backend. The reference worker uses the
// library's pjx::LoadCache; the cache defects (`pjx-worker --defect NAME`,
// cache_defects() below) use MutantCache, a small independent cache that is
// correct except for the one rule its knob breaks, in front of the library's
// correct backend, so that only what the worker *serves* is wrong: its
// deliveries and flushes are still reported, and still right.
//
// The rule both follow (the library's invariant 2 in pjx/load_cache.hpp):
// after invalidate(keys), a remote key set or a flush, no entry depending on
// those keys is served, including the result of a load that was running
// while they were invalidated (it is returned to its caller, not cached);
// and between a flush with reason kDisconnected and the next kReconnect
// nothing is cached (invariant 5). Every entry here is one truth-store key whose value depends on that key
// alone.
//
// Thread safety: load() is called from the op loop; invalidate() from the op
// loop and from `burst` threads; the backend's handlers from its listener
// thread. All methods are thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "pjx/invalidation_backend.hpp"
#include "pjx/load_cache.hpp"

namespace pjx::harness {

class WorkerCache {
 public:
  using Loader = std::function<std::int64_t()>;
  virtual ~WorkerCache() = default;

  // The cached version of `key`, or loader()'s, cached unless `key` was
  // invalidated or the cache flushed while it ran. `hit` says which.
  virtual std::int64_t load(const std::string& key, const Loader& loader, bool& hit) = 0;
  // Evicts `keys` here, then publishes them through the backend (its
  // exceptions propagate; eviction has happened by then).
  virtual void invalidate(const KeySet& keys) = 0;
  virtual LoadCacheStats stats() const = 0;
};

// A cache defect: each knob's non-default value breaks one rule.
struct CacheKnobs {
  bool cache_overlapping_loads = false;  // stale-fill: caches a load that overlapped an
                                         // invalidation of its key
  bool ignore_flush = false;             // flush-not-applied: a flush from the backend is
                                         // reported but drops nothing
  bool first_key_only = false;           // evict-wrong-key: a remote key set evicts only
                                         // its first key (in sorted order)
};

struct CacheDefect {
  std::string_view name;
  std::string_view description;
  CacheKnobs knobs;
};

// Every cache defect pjx-worker offers, in a stable order.
std::span<const CacheDefect> cache_defects();
// The cache defect called `name`, or nullptr.
const CacheDefect* find_cache_defect(std::string_view name);

// The library's LoadCache over `backend` (starts it; stops it when destroyed).
// Throws what backend->start() throws.
std::unique_ptr<WorkerCache> make_library_cache(std::shared_ptr<InvalidationBackend> backend);
// A MutantCache with `knobs` over `backend` (starts it; stops it when
// destroyed). Throws what backend->start() throws.
std::unique_ptr<WorkerCache> make_mutant_cache(std::shared_ptr<InvalidationBackend> backend,
                                               CacheKnobs knobs);

}  // namespace pjx::harness
