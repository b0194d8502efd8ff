// WorkerCache: see worker_cache.hpp.
#include "worker_cache.hpp"

#include <any>
#include <map>
#include <mutex>
#include <utility>

namespace pjx::harness {

namespace {

constexpr CacheDefect kCacheDefects[] = {
    {"stale-fill", "caches a load that overlapped an invalidation of its key",
     {.cache_overlapping_loads = true}},
    {"flush-not-applied", "reports the backend's flushes but keeps every cached entry",
     {.ignore_flush = true}},
    {"evict-wrong-key", "a received key set evicts only its first key (in sorted order)",
     {.first_key_only = true}},
};

// The entry's component in the library's cache: one per truth-store key.
constexpr const char* kComponent = "truth";

class LibraryCache final : public WorkerCache {
 public:
  explicit LibraryCache(std::shared_ptr<InvalidationBackend> backend)
      : cache_(std::move(backend)) {}

  std::int64_t load(const std::string& key, const Loader& loader, bool& hit) override {
    hit = true;
    LoadCache::Request request = cache_.request();
    const std::any value = request.load(kComponent, key, {key}, [&loader, &hit] {
      hit = false;
      return std::any(loader());
    });
    return std::any_cast<std::int64_t>(value);
  }

  void invalidate(const KeySet& keys) override { cache_.invalidate(keys); }
  LoadCacheStats stats() const override { return cache_.stats(); }

 private:
  LoadCache cache_;
};

// Written from the rule in worker_cache.hpp, not from pjx::LoadCache: a map
// of versions, and per key the generation of its last invalidation, so that a
// load can tell whether its key was invalidated while it ran.
class MutantCache final : public WorkerCache {
 public:
  MutantCache(std::shared_ptr<InvalidationBackend> backend, CacheKnobs knobs)
      : backend_(std::move(backend)), knobs_(knobs) {
    backend_->start([this](const KeySet& keys) { on_remote(keys); },
                    [this](FlushReason reason) { on_flush(reason); });
  }
  ~MutantCache() override {
    try {
      backend_->stop();
    } catch (...) {
      // stop() is documented not to fail; a destructor must not throw.
    }
  }

  std::int64_t load(const std::string& key, const Loader& loader, bool& hit) override {
    std::uint64_t started = 0;
    {
      std::lock_guard lock(mu_);
      if (auto it = entries_.find(key); it != entries_.end()) {
        hit = true;
        ++stats_.hits;
        return it->second;
      }
      ++stats_.misses;
      started = generation_;
    }
    hit = false;
    const std::int64_t value = loader();
    std::lock_guard lock(mu_);
    const auto dirty = dirtied_at_.find(key);
    const bool overlapped = disconnected_ || flushed_at_ > started ||
                            (dirty != dirtied_at_.end() && dirty->second > started);
    if (overlapped && !knobs_.cache_overlapping_loads) {
      ++stats_.uncached_loads;
    } else {
      entries_[key] = value;
      stats_.entries = entries_.size();
    }
    return value;
  }

  void invalidate(const KeySet& keys) override {
    {
      std::lock_guard lock(mu_);
      evict_locked(keys.begin(), keys.end());
    }
    if (!keys.empty()) backend_->publish(keys);
  }

  LoadCacheStats stats() const override {
    std::lock_guard lock(mu_);
    return stats_;
  }

 private:
  template <typename It>
  void evict_locked(It first, It last) {
    for (It it = first; it != last; ++it) {
      dirtied_at_[*it] = ++generation_;
      stats_.evictions += entries_.erase(*it);
    }
    stats_.entries = entries_.size();
  }

  void on_remote(const KeySet& keys) {
    std::lock_guard lock(mu_);
    ++stats_.remote_invalidations;
    if (knobs_.first_key_only && !keys.empty()) {
      evict_locked(keys.begin(), std::next(keys.begin()));
    } else {
      evict_locked(keys.begin(), keys.end());
    }
  }

  void on_flush(FlushReason reason) {
    std::lock_guard lock(mu_);
    ++stats_.flushes;
    if (knobs_.ignore_flush) return;
    // Nothing is kept between a lost subscription and the next one.
    if (reason == FlushReason::kDisconnected) disconnected_ = true;
    if (reason == FlushReason::kReconnect) disconnected_ = false;
    flushed_at_ = ++generation_;
    entries_.clear();
    stats_.entries = 0;
  }

  std::shared_ptr<InvalidationBackend> backend_;
  const CacheKnobs knobs_;
  mutable std::mutex mu_;
  std::map<std::string, std::int64_t> entries_;       // guarded by mu_
  std::map<std::string, std::uint64_t> dirtied_at_;   // guarded by mu_
  std::uint64_t generation_ = 0;                      // guarded by mu_
  std::uint64_t flushed_at_ = 0;                      // guarded by mu_
  bool disconnected_ = false;                         // guarded by mu_
  LoadCacheStats stats_;                              // guarded by mu_
};

}  // namespace

std::span<const CacheDefect> cache_defects() { return kCacheDefects; }

const CacheDefect* find_cache_defect(std::string_view name) {
  for (const CacheDefect& d : kCacheDefects) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::unique_ptr<WorkerCache> make_library_cache(std::shared_ptr<InvalidationBackend> backend) {
  return std::make_unique<LibraryCache>(std::move(backend));
}

std::unique_ptr<WorkerCache> make_mutant_cache(std::shared_ptr<InvalidationBackend> backend,
                                               CacheKnobs knobs) {
  return std::make_unique<MutantCache>(std::move(backend), knobs);
}

}  // namespace pjx::harness
