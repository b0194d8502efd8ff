// LoadCache: a worker's cache of load() results, shared across requests when
// an InvalidationBackend keeps the workers' caches coherent.
//
// An entry is keyed by (component, key) and records the reactive keys it
// depends on. invalidate(dirtied) evicts every entry whose dependencies
// intersect `dirtied` and, when a backend is configured and `propagate` is
// true, publishes `dirtied` so that the other workers evict theirs. Keys
// arriving from the backend evict without publishing again.
//
// Without a backend there is nothing to keep other workers coherent, so
// entries live only as long as the Request that loaded them (the documented
// "request-scoped" behaviour); LoadCache::invalidate() and flush() do not
// reach them, Request::invalidate() does. With a backend, entries are shared
// by every Request of the process until invalidated or flushed.
//
// Invariants of the shared store:
//  1. An entry is listed in the dependency index under each of its
//     dependencies, and the index lists nothing else.
//  2. After invalidate(d) (or a remote key set d, or a flush) returns, no
//     entry depending on a key of d is cached, including entries whose load
//     was running while d was invalidated: a load that overlaps an
//     invalidation of one of its dependencies returns its value to its
//     caller but does not cache it (counted in LoadCacheStats::uncached_loads).
//  3. Loaders, the backend and the observers are never called with the
//     cache's lock held: a slow loader or a blocking publish delays no one
//     else, and they may call back into the cache.
//  4. Evicting k entries costs O(k * d * log n) for entries of d
//     dependencies among n cached entries, however many entries share a
//     dependency: invalidating a key with m dependents holds the lock for
//     O(m log n) time, not O(m^2).
//  5. Between a flush with FlushReason::kDisconnected and the next flush with
//     kReconnect, the backend's listener cannot hear other workers'
//     invalidations, so nothing is cached: every load runs its loader
//     (counted in uncached_loads). A read is then at most as old as its load.
//
// Thread safety: all methods are thread-safe; a Request is used by one thread.
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "pjx/invalidation_backend.hpp"

namespace pjx {
namespace detail {
class ForkGuard;
}

struct LoadCacheStats {
  std::uint64_t hits = 0;                  // load() answered from a cache
  std::uint64_t misses = 0;                // load() that ran its loader
  std::uint64_t evictions = 0;             // entries evicted by local or remote invalidation
  std::uint64_t remote_invalidations = 0;  // key sets received from the backend
  std::uint64_t flushes = 0;               // whole-cache drops (gap, reconnect, ...)
  std::uint64_t uncached_loads = 0;  // loads not cached: a dependency was invalidated meanwhile
  std::uint64_t entries = 0;         // entries currently cached (shared store)
};

class LoadCache {
 public:
  using EntryKey = std::pair<std::string, std::string>;  // (component, key)
  using Loader = std::function<std::any()>;

  // Without a backend: request-scoped caching. With one: cross-request
  // caching; the constructor calls backend->start() with this cache's
  // handlers (a BackendError from start() escapes), and the destructor calls
  // backend->stop() before anything else, so no handler runs on a dying cache.
  // REQUIRES: the backend is not shared with another LoadCache.
  //
  // Fork: a cache with a backend belongs to the process that built it. In a
  // child forked afterwards (gunicorn --preload builds the app in the
  // master), nothing keeps it coherent (the listener thread stayed in the
  // parent, and the children would share the backend's instance_id), so
  // load() and invalidate() throw BackendError naming the fix: build the
  // backend and the LoadCache after the fork, in each worker (gunicorn's
  // post_fork hook). The destructor then leaves the backend alone.
  explicit LoadCache(std::shared_ptr<InvalidationBackend> backend = nullptr);
  ~LoadCache();
  LoadCache(const LoadCache&) = delete;
  LoadCache& operator=(const LoadCache&) = delete;

  bool cross_request() const noexcept { return backend_ != nullptr; }

  // One request's view of the cache. REQUIRES: does not outlive the cache.
  class Request {
   public:
    // Returns the cached value of (component, key), or runs `loader`, caches
    // its result with dependencies `depends_on`, and returns it. A loader
    // that throws caches nothing (the exception propagates). A result is not
    // cached when one of `depends_on` was invalidated while the loader ran
    // (invariant 2); it is still returned. An entry with no dependencies is
    // dropped only by flush().
    std::any load(const std::string& component, const std::string& key, const KeySet& depends_on,
                  const Loader& loader);

    // Evicts this request's own entries whose dependencies intersect
    // `dirtied` (without a backend), then calls cache.invalidate(dirtied,
    // true), whose exceptions propagate. Use this from request code so that
    // the request's own entries are evicted too: LoadCache::invalidate()
    // cannot reach them. A load of this request that is running when one of
    // its dependencies is invalidated here (a loader that invalidates) is
    // returned but not cached, as in the shared store (invariant 2). Local
    // evictions count in LoadCacheStats::evictions.
    void invalidate(const KeySet& dirtied);

   private:
    friend class LoadCache;
    struct LocalEntry {
      std::any value;
      KeySet depends_on;
    };
    explicit Request(LoadCache& cache) : cache_(cache) {}
    std::any load_local(EntryKey entry_key, const KeySet& depends_on, const Loader& loader);

    LoadCache& cache_;
    // Used only without a backend; the same staleness detection as the shared
    // store's, for loaders that call invalidate() on their own request.
    std::map<EntryKey, LocalEntry> local_;
    std::uint64_t generation_ = 0;
    std::map<std::string, std::uint64_t> dep_generation_;  // kept only while loads run
    std::size_t running_loads_ = 0;
  };
  Request request() { return Request(*this); }

  // Evicts every shared entry that depends on any of `dirtied`; publishes
  // `dirtied` through the backend when there is one, `propagate` is true and
  // `dirtied` is not empty. Returns the number of entries evicted. Eviction
  // happens before publish, so a failing publish (BackendError or
  // std::invalid_argument, rethrown) never leaves stale entries here; the
  // other workers were not told then.
  std::size_t invalidate(const KeySet& dirtied, bool propagate = true);

  // Drops every shared entry (and keeps loads running now from caching their
  // results). Does not publish anything. The backend calls this when it
  // cannot know which keys it missed.
  void flush(FlushReason reason);

  LoadCacheStats stats() const;

  // Observers, for tests and the harness: called after a remote key set has
  // been applied, and after any flush (from the backend or from flush()).
  // They run outside the cache's lock, on the thread that applied the change
  // (the backend's listener thread for remote key sets). Setting one replaces
  // the previous one; an empty function removes it.
  void on_remote(std::function<void(const KeySet&)> observer);
  void on_flush(std::function<void(FlushReason)> observer);

 private:
  struct Entry {
    std::any value;
    KeySet depends_on;
  };
  using Generation = std::uint64_t;

  void insert(const EntryKey& key, std::any value, const KeySet& depends_on, Generation started);
  // Marks the end of a shared-store load begun at `started`.
  void end_load_locked(Generation started);
  std::size_t evict_locked(const KeySet& dirtied);
  void erase_locked(std::map<EntryKey, Entry>::iterator it);
  void apply_remote(const KeySet& keys);
  void apply_flush(FlushReason reason);
  void count_local(bool hit);
  void count_local_eviction(std::size_t evicted);
  void count_local_uncached();

  // Throws BackendError when this process is a child forked after a
  // cross-request cache was built.
  void check_not_forked() const;

  std::unique_ptr<const detail::ForkGuard> fork_guard_;
  std::shared_ptr<InvalidationBackend> backend_;
  mutable std::mutex mu_;
  std::map<EntryKey, Entry> entries_;  // guarded by mu_
  // Dependency -> the entries that depend on it (invariant 1). A set per
  // dependency keeps removing one entry O(log n) (invariant 4).
  std::unordered_map<std::string, std::set<EntryKey>> by_dep_;  // guarded by mu_
  LoadCacheStats stats_;                                        // guarded by mu_
  std::function<void(const KeySet&)> remote_observer_;          // guarded by mu_
  std::function<void(FlushReason)> flush_observer_;             // guarded by mu_

  // Staleness detection for loads that run outside the lock (invariant 2).
  // Every invalidation or flush advances generation_. A load remembers the
  // generation it began at; it may cache its result only if neither a flush
  // nor an invalidation of one of its dependencies happened since. Per-key
  // generations are only needed while loads are running, so dep_generation_
  // is pruned of entries older than the oldest running load.
  Generation generation_ = 0;                         // guarded by mu_
  Generation flush_generation_ = 0;                   // guarded by mu_
  std::map<std::string, Generation> dep_generation_;  // guarded by mu_
  std::multiset<Generation> running_loads_;           // guarded by mu_
  // Between a kDisconnected flush and the next kReconnect (invariant 5).
  bool disconnected_ = false;         // guarded by mu_
  std::size_t prune_threshold_ = 64;  // guarded by mu_
};

}  // namespace pjx
