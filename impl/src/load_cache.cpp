// LoadCache: see pjx/load_cache.hpp for the contract and its invariants.
#include "pjx/load_cache.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "fork_guard.hpp"

namespace pjx {

const char* to_string(FlushReason reason) noexcept {
  switch (reason) {
    case FlushReason::kGap:
      return "gap";
    case FlushReason::kStall:
      return "stall";
    case FlushReason::kReplacedFile:
      return "replaced_file";
    case FlushReason::kReconnect:
      return "reconnect";
    case FlushReason::kHandlerError:
      return "handler_error";
    case FlushReason::kDisconnected:
      return "disconnected";
  }
  return "unknown";
}

LoadCache::LoadCache(std::shared_ptr<InvalidationBackend> backend)
    : fork_guard_(std::make_unique<const detail::ForkGuard>()), backend_(std::move(backend)) {
  if (backend_) {
    backend_->start([this](const KeySet& keys) { apply_remote(keys); },
                    [this](FlushReason reason) { apply_flush(reason); });
  }
}

LoadCache::~LoadCache() {
  if (backend_ && !fork_guard_->forked()) {
    try {
      backend_->stop();
    } catch (...) {
      // stop() is documented not to fail; a destructor must not throw either.
    }
  }
}

std::any LoadCache::Request::load(const std::string& component, const std::string& key,
                                  const KeySet& depends_on, const Loader& loader) {
  EntryKey entry_key(component, key);
  if (!cache_.cross_request()) return load_local(std::move(entry_key), depends_on, loader);
  cache_.check_not_forked();

  Generation started = 0;
  {
    std::lock_guard lock(cache_.mu_);
    if (auto it = cache_.entries_.find(entry_key); it != cache_.entries_.end()) {
      ++cache_.stats_.hits;
      return it->second.value;
    }
    ++cache_.stats_.misses;
    started = cache_.generation_;
    cache_.running_loads_.insert(started);
  }
  std::any value;
  try {
    value = loader();
  } catch (...) {
    std::lock_guard lock(cache_.mu_);
    cache_.end_load_locked(started);
    throw;
  }
  cache_.insert(entry_key, value, depends_on, started);
  return value;
}

std::any LoadCache::Request::load_local(EntryKey entry_key, const KeySet& depends_on,
                                        const Loader& loader) {
  if (auto it = local_.find(entry_key); it != local_.end()) {
    cache_.count_local(true);
    return it->second.value;
  }
  cache_.count_local(false);
  const std::uint64_t started = generation_;
  ++running_loads_;
  std::any value;
  try {
    value = loader();
  } catch (...) {
    if (--running_loads_ == 0) dep_generation_.clear();
    throw;
  }
  bool stale = false;
  for (auto dep = depends_on.begin(); !stale && dep != depends_on.end(); ++dep) {
    auto it = dep_generation_.find(*dep);
    stale = it != dep_generation_.end() && it->second > started;
  }
  if (--running_loads_ == 0) dep_generation_.clear();
  if (stale) {
    cache_.count_local_uncached();
  } else {
    // A nested load of the same key may have cached it meanwhile; the outer
    // (later) result replaces it, as in the shared store.
    local_.insert_or_assign(std::move(entry_key), LocalEntry{value, depends_on});
  }
  return value;
}

void LoadCache::Request::invalidate(const KeySet& dirtied) {
  if (!dirtied.empty()) {
    ++generation_;
    if (running_loads_ > 0) {
      for (const auto& dep : dirtied) dep_generation_[dep] = generation_;
    }
    const std::size_t evicted = std::erase_if(local_, [&dirtied](const auto& kv) {
      const KeySet& deps = kv.second.depends_on;
      return std::any_of(deps.begin(), deps.end(),
                         [&dirtied](const std::string& dep) { return dirtied.contains(dep); });
    });
    if (evicted > 0) cache_.count_local_eviction(evicted);
  }
  cache_.invalidate(dirtied, /*propagate=*/true);
}

void LoadCache::count_local(bool hit) {
  std::lock_guard lock(mu_);
  ++(hit ? stats_.hits : stats_.misses);
}

void LoadCache::count_local_eviction(std::size_t evicted) {
  std::lock_guard lock(mu_);
  stats_.evictions += evicted;
}

void LoadCache::count_local_uncached() {
  std::lock_guard lock(mu_);
  ++stats_.uncached_loads;
}

void LoadCache::insert(const EntryKey& key, std::any value, const KeySet& depends_on,
                       Generation started) {
  std::lock_guard lock(mu_);
  bool stale = disconnected_ || flush_generation_ > started;  // invariant 5, then 2
  for (auto dep = depends_on.begin(); !stale && dep != depends_on.end(); ++dep) {
    auto it = dep_generation_.find(*dep);
    stale = it != dep_generation_.end() && it->second > started;
  }
  end_load_locked(started);
  if (stale) {
    ++stats_.uncached_loads;
    return;
  }
  // Two loads of one key may race; the later one replaces the earlier, whose
  // index entries must go with it (invariant 1).
  if (auto it = entries_.find(key); it != entries_.end()) erase_locked(it);
  entries_.emplace(key, Entry{std::move(value), depends_on});
  for (const auto& dep : depends_on) by_dep_[dep].insert(key);
  stats_.entries = entries_.size();
}

void LoadCache::end_load_locked(Generation started) {
  running_loads_.erase(running_loads_.find(started));
  if (running_loads_.empty()) {
    dep_generation_.clear();
    prune_threshold_ = 64;
  } else if (dep_generation_.size() > prune_threshold_) {
    // Invalidations at or before the oldest running load's start cannot make
    // any running load stale.
    const Generation oldest = *running_loads_.begin();
    std::erase_if(dep_generation_, [oldest](const auto& kv) { return kv.second <= oldest; });
    prune_threshold_ = std::max<std::size_t>(64, 2 * dep_generation_.size());
  }
}

void LoadCache::erase_locked(std::map<EntryKey, Entry>::iterator it) {
  for (const auto& dep : it->second.depends_on) {
    // A dependency being invalidated has already left the index as a whole.
    auto idx = by_dep_.find(dep);
    if (idx == by_dep_.end()) continue;
    idx->second.erase(it->first);
    if (idx->second.empty()) by_dep_.erase(idx);
  }
  entries_.erase(it);
}

std::size_t LoadCache::evict_locked(const KeySet& dirtied) {
  ++generation_;
  if (!running_loads_.empty()) {
    for (const auto& dep : dirtied) dep_generation_[dep] = generation_;
  }
  // Take the dirtied keys' sets out of the index whole (no per-entry work on
  // them), then unlink each victim from its other dependencies only.
  std::set<EntryKey> victims;
  for (const auto& dep : dirtied) {
    auto node = by_dep_.extract(dep);
    if (node.empty()) continue;
    if (victims.empty()) {
      victims = std::move(node.mapped());
    } else {
      victims.merge(node.mapped());
    }
  }
  std::size_t evicted = 0;
  for (const auto& victim : victims) {
    if (auto it = entries_.find(victim); it != entries_.end()) {
      erase_locked(it);
      ++evicted;
    }
  }
  stats_.evictions += evicted;
  stats_.entries = entries_.size();
  return evicted;
}

void LoadCache::check_not_forked() const {
  if (backend_) fork_guard_->check("LoadCache (cross-request, with an invalidation backend)");
}

std::size_t LoadCache::invalidate(const KeySet& dirtied, bool propagate) {
  check_not_forked();
  std::size_t evicted = 0;
  {
    std::lock_guard lock(mu_);
    evicted = evict_locked(dirtied);
  }
  if (backend_ && propagate && !dirtied.empty()) backend_->publish(dirtied);
  return evicted;
}

void LoadCache::apply_remote(const KeySet& keys) {
  std::function<void(const KeySet&)> observer;
  {
    std::lock_guard lock(mu_);
    evict_locked(keys);
    ++stats_.remote_invalidations;
    observer = remote_observer_;
  }
  if (observer) observer(keys);
}

void LoadCache::apply_flush(FlushReason reason) {
  std::function<void(FlushReason)> observer;
  {
    std::lock_guard lock(mu_);
    ++generation_;
    flush_generation_ = generation_;
    if (reason == FlushReason::kDisconnected) disconnected_ = true;  // invariant 5
    if (reason == FlushReason::kReconnect) disconnected_ = false;
    entries_.clear();
    by_dep_.clear();
    ++stats_.flushes;
    stats_.entries = 0;
    observer = flush_observer_;
  }
  if (observer) observer(reason);
}

void LoadCache::flush(FlushReason reason) { apply_flush(reason); }

LoadCacheStats LoadCache::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void LoadCache::on_remote(std::function<void(const KeySet&)> observer) {
  std::lock_guard lock(mu_);
  remote_observer_ = std::move(observer);
}

void LoadCache::on_flush(std::function<void(FlushReason)> observer) {
  std::lock_guard lock(mu_);
  flush_observer_ = std::move(observer);
}

}  // namespace pjx
