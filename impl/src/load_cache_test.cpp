// Tests of LoadCache: request-scoped and cross-request caching, eviction by
// dependency, publish order and failure, remote key sets, flushes, loads that
// overlap invalidations, and concurrency. A fake backend stands in for SQLite
// except in the last test, which uses two real backends on one file.
#include "pjx/load_cache.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"
#include "temp_dir.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;

// Records publishes; lets a test deliver remote key sets and flushes as the
// listener thread would, and make publish() fail.
class FakeBackend final : public InvalidationBackend {
 public:
  void publish(const KeySet& keys) override {
    std::function<void(const KeySet&)> hook;
    {
      std::lock_guard lock(mu_);
      if (fail_publish_) throw BackendError("fake publish failure", 5);
      published_.push_back(keys);
      hook = on_publish_;
    }
    if (hook) hook(keys);
  }
  void start(InvalidationHandler handler, FlushHandler on_flush) override {
    std::lock_guard lock(mu_);
    ++starts_;
    handler_ = std::move(handler);
    on_flush_ = std::move(on_flush);
  }
  void stop() override {
    std::lock_guard lock(mu_);
    ++stops_;
    handler_ = {};
    on_flush_ = {};
  }

  // Delivers `keys` as a key set published by another worker.
  void deliver(const KeySet& keys) {
    InvalidationHandler handler;
    {
      std::lock_guard lock(mu_);
      handler = handler_;
    }
    ASSERT_TRUE(handler) << "deliver() before start() or after stop()";
    handler(keys);
  }
  void send_flush(FlushReason reason) {
    FlushHandler on_flush;
    {
      std::lock_guard lock(mu_);
      on_flush = on_flush_;
    }
    ASSERT_TRUE(on_flush) << "the cache passed no flush handler";
    on_flush(reason);
  }

  void fail_publish(bool fail) {
    std::lock_guard lock(mu_);
    fail_publish_ = fail;
  }
  // Called after a successful publish was recorded, outside the fake's lock.
  void on_publish(std::function<void(const KeySet&)> hook) {
    std::lock_guard lock(mu_);
    on_publish_ = std::move(hook);
  }
  std::vector<KeySet> published() const {
    std::lock_guard lock(mu_);
    return published_;
  }
  int starts() const {
    std::lock_guard lock(mu_);
    return starts_;
  }
  int stops() const {
    std::lock_guard lock(mu_);
    return stops_;
  }

 private:
  mutable std::mutex mu_;
  InvalidationHandler handler_;
  FlushHandler on_flush_;
  bool fail_publish_ = false;
  std::function<void(const KeySet&)> on_publish_;
  std::vector<KeySet> published_;
  int starts_ = 0;
  int stops_ = 0;
};

// A loader that counts its calls and returns the call number.
struct CountingLoader {
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  LoadCache::Loader fn() const {
    return [c = calls] { return std::any(++*c); };
  }
  int count() const { return calls->load(); }
};

int as_int(const std::any& value) { return std::any_cast<int>(value); }

TEST(LoadCache, FlushReasonNamesMatchTheWorkerProtocol) {
  EXPECT_STREQ(to_string(FlushReason::kGap), "gap");
  EXPECT_STREQ(to_string(FlushReason::kStall), "stall");
  EXPECT_STREQ(to_string(FlushReason::kReplacedFile), "replaced_file");
  EXPECT_STREQ(to_string(FlushReason::kReconnect), "reconnect");
  EXPECT_STREQ(to_string(FlushReason::kHandlerError), "handler_error");
  EXPECT_STREQ(to_string(FlushReason::kDisconnected), "disconnected");
}

TEST(LoadCache, WithoutBackendEntriesLiveOnlyInTheirRequest) {
  LoadCache cache;
  EXPECT_FALSE(cache.cross_request());
  CountingLoader loader;
  {
    auto request = cache.request();
    EXPECT_EQ(as_int(request.load("c", "k", {"x"}, loader.fn())), 1);
    EXPECT_EQ(as_int(request.load("c", "k", {"x"}, loader.fn())), 1);  // same request: hit
  }
  auto other = cache.request();
  EXPECT_EQ(as_int(other.load("c", "k", {"x"}, loader.fn())), 2);  // new request: loads again
  EXPECT_EQ(loader.count(), 2);
  const LoadCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.entries, 0u);  // nothing in the shared store
  EXPECT_EQ(cache.invalidate({"x"}), 0u);
}

TEST(LoadCache, WithBackendEntriesAreSharedAcrossRequests) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  EXPECT_TRUE(cache.cross_request());
  CountingLoader loader;
  EXPECT_EQ(as_int(cache.request().load("c", "k", {"x"}, loader.fn())), 1);
  EXPECT_EQ(as_int(cache.request().load("c", "k", {"x"}, loader.fn())), 1);
  EXPECT_EQ(as_int(cache.request().load("other", "k", {"x"}, loader.fn())), 2);  // other component
  EXPECT_EQ(loader.count(), 2);
  const LoadCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 2u);
  EXPECT_EQ(stats.entries, 2u);
}

TEST(LoadCache, ConstructorStartsAndDestructorStopsTheBackend) {
  auto backend = std::make_shared<FakeBackend>();
  {
    LoadCache cache(backend);
    EXPECT_EQ(backend->starts(), 1);
    EXPECT_EQ(backend->stops(), 0);
  }
  EXPECT_EQ(backend->stops(), 1);
}

TEST(LoadCache, InvalidateEvictsExactlyTheEntriesWhoseDependenciesIntersect) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  CountingLoader a, b, c, d;
  auto load_all = [&] {
    auto r = cache.request();
    r.load("a", "1", {"x", "y"}, a.fn());
    r.load("b", "1", {"y"}, b.fn());
    r.load("c", "1", {"z"}, c.fn());
    r.load("d", "1", {}, d.fn());
  };
  load_all();
  EXPECT_EQ(cache.invalidate({"y", "unrelated"}), 2u);
  EXPECT_EQ(cache.stats().entries, 2u);
  load_all();
  EXPECT_EQ(a.count(), 2);
  EXPECT_EQ(b.count(), 2);
  EXPECT_EQ(c.count(), 1);
  EXPECT_EQ(d.count(), 1);
  EXPECT_EQ(cache.invalidate({"x", "z"}), 2u);
  EXPECT_EQ(cache.stats().evictions, 4u);
  EXPECT_EQ(cache.stats().entries, 2u);  // b (y) and d (no dependencies)
}

TEST(LoadCache, EvictedEntriesLeaveNoDependencyIndexBehind) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  CountingLoader loader;
  cache.request().load("c", "k", {"x", "y"}, loader.fn());
  EXPECT_EQ(cache.invalidate({"y"}), 1u);
  // Reloaded with other dependencies: the old ones must no longer reach it.
  cache.request().load("c", "k", {"z"}, loader.fn());
  EXPECT_EQ(cache.invalidate({"x"}), 0u);
  EXPECT_EQ(cache.invalidate({"y"}), 0u);
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.invalidate({"z"}), 1u);
  EXPECT_EQ(cache.stats().entries, 0u);
}

// Many entries share the invalidated key and a second dependency. Each must
// leave the second dependency's index too: reloaded with other dependencies,
// none may be reached through it any more. No timing is asserted, but the
// size makes a quadratic eviction obvious: well under a second here, about
// 45 s with the former linear scan of each dependency's entries.
TEST(LoadCache, ManyDependentsOfOneKeyLeaveTheirOtherDependenciesCoherent) {
  constexpr std::size_t kDependents = 20000;
  constexpr std::size_t kOthers = 100;
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  auto load_dependents = [&](auto deps_of) {
    auto request = cache.request();
    for (std::size_t i = 0; i < kDependents; ++i) {
      request.load("e", std::to_string(i), deps_of(i), [i] { return std::any(i); });
    }
  };
  const auto original_deps = [](std::size_t i) {
    return KeySet{"hot", "shared", "u" + std::to_string(i)};
  };
  load_dependents(original_deps);
  for (std::size_t i = 0; i < kOthers; ++i) {
    cache.request().load("o", std::to_string(i), {"shared"}, [] { return std::any(0); });
  }
  ASSERT_EQ(cache.stats().entries, kDependents + kOthers);

  EXPECT_EQ(cache.invalidate({"hot"}), kDependents);
  EXPECT_EQ(cache.stats().entries, kOthers);
  load_dependents([](std::size_t) { return KeySet{"fresh"}; });
  EXPECT_EQ(cache.stats().misses, 2 * kDependents + kOthers);  // all reloaded
  EXPECT_EQ(cache.invalidate({"shared"}), kOthers);            // not the reloaded ones
  EXPECT_EQ(cache.invalidate({"u7", "hot"}), 0u);
  EXPECT_EQ(cache.stats().entries, kDependents);
  EXPECT_EQ(cache.invalidate({"fresh"}), kDependents);
  EXPECT_EQ(cache.stats().entries, 0u);

  // An entry reached through several dirtied keys is evicted (and counted) once.
  load_dependents(original_deps);
  backend->deliver({"shared", "hot", "u3"});
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().evictions, 3 * kDependents + kOthers);
  load_dependents(original_deps);
  EXPECT_EQ(cache.invalidate({"u3"}), 1u);
  EXPECT_EQ(cache.invalidate({"hot"}), kDependents - 1);
}

TEST(LoadCache, ReplacedEntryLeavesNoDependencyIndexBehind) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  // Two loads of one key racing: the first is still loading when the second
  // completes and caches with other dependencies; then the first caches too.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> loading;
  std::thread first([&] {
    cache.request().load("c", "k", {"old"}, [&] {
      loading.set_value();
      released.wait();
      return std::any(1);
    });
  });
  loading.get_future().wait();
  cache.request().load("c", "k", {"new"}, [] { return std::any(2); });
  release.set_value();
  first.join();
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(as_int(cache.request().load("c", "k", {}, [] { return std::any(3); })), 1);
  EXPECT_EQ(cache.invalidate({"new"}), 0u);  // the replaced entry's dependency is gone
  EXPECT_EQ(cache.invalidate({"old"}), 1u);
}

TEST(LoadCache, InvalidatePublishesTheDirtiedKeysAfterEvicting) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  cache.request().load("c", "k", {"x"}, [] { return std::any(1); });
  std::uint64_t entries_at_publish = 99;
  // Also shows that publish runs outside the cache's lock: stats() locks it.
  backend->on_publish([&](const KeySet&) { entries_at_publish = cache.stats().entries; });
  cache.invalidate({"x", "w"});
  EXPECT_EQ(entries_at_publish, 0u);
  ASSERT_EQ(backend->published().size(), 1u);
  EXPECT_EQ(backend->published()[0], (KeySet{"w", "x"}));
}

TEST(LoadCache, InvalidateWithoutPropagateOrKeysPublishesNothing) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  cache.request().load("c", "k", {"x"}, [] { return std::any(1); });
  EXPECT_EQ(cache.invalidate({"x"}, /*propagate=*/false), 1u);
  EXPECT_EQ(cache.invalidate({}), 0u);
  EXPECT_TRUE(backend->published().empty());
}

TEST(LoadCache, FailedPublishIsRethrownAndTheEvictionStands) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  CountingLoader loader;
  cache.request().load("c", "k", {"x"}, loader.fn());
  backend->fail_publish(true);
  EXPECT_THROW(cache.invalidate({"x"}), BackendError);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  cache.request().load("c", "k", {"x"}, loader.fn());
  EXPECT_EQ(loader.count(), 2);
}

TEST(LoadCache, RemoteKeysEvictWithoutPublishing) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  std::vector<KeySet> seen;
  cache.on_remote([&](const KeySet& keys) {
    seen.push_back(keys);
    EXPECT_EQ(cache.stats().entries, 1u);  // applied before, and outside the lock
  });
  CountingLoader loader;
  cache.request().load("c", "k", {"x"}, loader.fn());
  cache.request().load("c", "other", {"y"}, loader.fn());
  backend->deliver({"x"});
  EXPECT_TRUE(backend->published().empty());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], KeySet{"x"});
  const LoadCacheStats stats = cache.stats();
  EXPECT_EQ(stats.remote_invalidations, 1u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.entries, 1u);
  cache.request().load("c", "k", {"x"}, loader.fn());
  EXPECT_EQ(loader.count(), 3);
}

TEST(LoadCache, FlushDropsEveryEntryAndTellsTheObserver) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  std::vector<FlushReason> reasons;
  cache.on_flush([&](FlushReason reason) {
    reasons.push_back(reason);
    EXPECT_EQ(cache.stats().entries, 0u);
  });
  auto fill = [&] {
    cache.request().load("a", "1", {"x"}, [] { return std::any(1); });
    cache.request().load("b", "1", {}, [] { return std::any(2); });
  };
  fill();
  backend->send_flush(FlushReason::kGap);
  EXPECT_EQ(cache.stats().entries, 0u);
  fill();
  cache.flush(FlushReason::kStall);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(reasons, (std::vector<FlushReason>{FlushReason::kGap, FlushReason::kStall}));
  EXPECT_EQ(cache.stats().flushes, 2u);
  EXPECT_TRUE(backend->published().empty());
  // The index went with the entries.
  fill();
  EXPECT_EQ(cache.invalidate({"x"}), 1u);
}

// Invariant 5: between kDisconnected and kReconnect the listener hears
// nothing, so an entry cached then could go stale unseen: loads run their
// loader every time. Caching resumes after kReconnect, and no other reason
// ends the disconnected state.
TEST(LoadCache, NothingIsCachedBetweenADisconnectAndTheReconnect) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  CountingLoader loader;
  auto load = [&] { return as_int(cache.request().load("c", "1", {"k"}, loader.fn())); };
  EXPECT_EQ(load(), 1);
  EXPECT_EQ(load(), 1);  // cached
  backend->send_flush(FlushReason::kDisconnected);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(load(), 2);
  EXPECT_EQ(load(), 3);  // not cached while disconnected
  backend->send_flush(FlushReason::kHandlerError);
  EXPECT_EQ(load(), 4);  // still disconnected
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().uncached_loads, 3u);
  backend->send_flush(FlushReason::kReconnect);
  EXPECT_EQ(load(), 5);
  EXPECT_EQ(load(), 5);  // cached again
  EXPECT_EQ(cache.stats().flushes, 3u);
}

// A load that began before the reconnect and ends after it overlapped a
// flush (invariant 2): it is returned, not cached.
TEST(LoadCache, ALoadSpanningTheReconnectIsNotCached) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  backend->send_flush(FlushReason::kDisconnected);
  const std::any value = cache.request().load("c", "1", {"k"}, [&] {
    backend->send_flush(FlushReason::kReconnect);
    return std::any(7);
  });
  EXPECT_EQ(as_int(value), 7);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().uncached_loads, 1u);
}

TEST(LoadCache, LoaderThatThrowsCachesNothing) {
  for (bool with_backend : {false, true}) {
    SCOPED_TRACE(with_backend ? "with backend" : "without backend");
    LoadCache cache(with_backend ? std::make_shared<FakeBackend>() : nullptr);
    auto request = cache.request();
    EXPECT_THROW(
        request.load("c", "k", {"x"}, []() -> std::any { throw std::runtime_error("db"); }),
        std::runtime_error);
    EXPECT_EQ(as_int(request.load("c", "k", {"x"}, [] { return std::any(7); })), 7);
    EXPECT_EQ(cache.stats().entries, with_backend ? 1u : 0u);
  }
}

TEST(LoadCache, LoadOverlappingAnInvalidationOfItsDependencyIsReturnedButNotCached) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  // The loader read the data, then someone changed it and invalidated.
  auto stale_value = cache.request().load("c", "k", {"x"}, [&] {
    cache.invalidate({"x"});
    return std::any(1);
  });
  EXPECT_EQ(as_int(stale_value), 1);
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().uncached_loads, 1u);
  // The same for a remote key set and for a flush.
  cache.request().load("c", "k", {"x"}, [&] {
    backend->deliver({"x"});
    return std::any(2);
  });
  cache.request().load("c", "k2", {"y"}, [&] {
    backend->send_flush(FlushReason::kReconnect);
    return std::any(3);
  });
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().uncached_loads, 3u);
  // An invalidation of an unrelated key does not prevent caching.
  cache.request().load("c", "k", {"x"}, [&] {
    cache.invalidate({"unrelated"});
    return std::any(4);
  });
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(as_int(cache.request().load("c", "k", {"x"}, [] { return std::any(5); })), 4);
}

TEST(LoadCache, InvalidationBeforeALoadStartsDoesNotPreventCachingIt) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  cache.invalidate({"x"});
  cache.request().load("c", "k", {"x"}, [] { return std::any(1); });
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().uncached_loads, 0u);
}

TEST(LoadCache, LongLoadStaysStaleThroughManyLaterInvalidationsAndLoads) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> loading;
  std::thread slow([&] {
    cache.request().load("slow", "k", {"k0"}, [&] {
      loading.set_value();
      released.wait();
      return std::any(0);
    });
  });
  loading.get_future().wait();
  cache.invalidate({"k0"});
  // Many invalidations of other keys, each followed by a short load, so that
  // the per-key bookkeeping is pruned while the slow load runs.
  for (int i = 1; i <= 500; ++i) {
    const std::string dep = "k" + std::to_string(i);
    cache.invalidate({dep});
    cache.request().load("fast", dep, {dep}, [i] { return std::any(i); });
  }
  release.set_value();
  slow.join();
  EXPECT_EQ(cache.stats().uncached_loads, 1u);
  EXPECT_EQ(cache.stats().entries, 500u);
  int calls = 0;
  cache.request().load("slow", "k", {"k0"}, [&] { return std::any(++calls); });
  EXPECT_EQ(calls, 1);
}

TEST(LoadCache, ObserversMayCallBackIntoTheCache) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  int reloaded = 0;
  cache.on_remote([&](const KeySet&) {
    cache.request().load("c", "k", {"x"}, [&] { return std::any(++reloaded); });
  });
  backend->deliver({"x"});
  EXPECT_EQ(reloaded, 1);
  EXPECT_EQ(cache.stats().entries, 1u);
  cache.on_remote({});
  backend->deliver({"x"});
  EXPECT_EQ(cache.stats().entries, 0u);
}

TEST(LoadCache, RequestInvalidateEvictsTheRequestsOwnEntriesWithoutABackend) {
  LoadCache cache;
  CountingLoader a, b, c, d;
  auto request = cache.request();
  auto load_all = [&] {
    request.load("a", "1", {"x", "y"}, a.fn());
    request.load("b", "1", {"y"}, b.fn());
    request.load("c", "1", {"z"}, c.fn());
    request.load("d", "1", {}, d.fn());
  };
  load_all();
  EXPECT_EQ(cache.invalidate({"y"}), 0u);  // the cache cannot reach request entries
  load_all();
  EXPECT_EQ(a.count(), 1);
  request.invalidate({"y", "unrelated"});
  load_all();
  EXPECT_EQ(a.count(), 2);
  EXPECT_EQ(b.count(), 2);
  EXPECT_EQ(c.count(), 1);
  EXPECT_EQ(d.count(), 1);
  EXPECT_EQ(cache.stats().evictions, 2u);
  EXPECT_EQ(cache.stats().entries, 0u);  // still nothing in the shared store
  request.invalidate({"x", "z"});
  load_all();
  EXPECT_EQ(a.count(), 3);
  EXPECT_EQ(b.count(), 2);
  EXPECT_EQ(c.count(), 2);
  EXPECT_EQ(cache.stats().evictions, 4u);
}

TEST(LoadCache, RequestInvalidateWithABackendEvictsSharedEntriesAndPublishes) {
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  CountingLoader loader;
  cache.request().load("c", "k", {"x"}, loader.fn());
  cache.request().load("c", "other", {"y"}, loader.fn());
  auto request = cache.request();
  request.invalidate({"x"});
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  ASSERT_EQ(backend->published().size(), 1u);
  EXPECT_EQ(backend->published()[0], KeySet{"x"});
  request.load("c", "k", {"x"}, loader.fn());
  EXPECT_EQ(loader.count(), 3);
  request.invalidate({});
  EXPECT_EQ(backend->published().size(), 1u);
  backend->fail_publish(true);
  EXPECT_THROW(request.invalidate({"x"}), BackendError);
  EXPECT_EQ(cache.stats().entries, 1u);  // the eviction stands
}

TEST(LoadCache, RequestLoadOverlappingItsOwnInvalidationIsReturnedButNotCached) {
  LoadCache cache;
  auto request = cache.request();
  CountingLoader inner;
  // The loader read the data, then changed it and invalidated it.
  auto stale_value = request.load("c", "k", {"x"}, [&] {
    request.load("inner", "1", {"x"}, inner.fn());
    request.load("inner", "2", {"w"}, inner.fn());
    request.invalidate({"x"});
    return std::any(1);
  });
  EXPECT_EQ(as_int(stale_value), 1);
  EXPECT_EQ(cache.stats().uncached_loads, 1u);
  EXPECT_EQ(cache.stats().evictions, 1u);  // inner 1, loaded before the invalidation
  EXPECT_EQ(as_int(request.load("c", "k", {"x"}, [] { return std::any(2); })), 2);
  EXPECT_EQ(as_int(request.load("c", "k", {"x"}, [] { return std::any(3); })), 2);  // cached now
  request.load("inner", "1", {"x"}, inner.fn());
  request.load("inner", "2", {"w"}, inner.fn());
  EXPECT_EQ(inner.count(), 3);  // inner 2 stayed cached
  // An invalidation of an unrelated key does not prevent caching, nor does
  // one from a loader that threw earlier.
  EXPECT_THROW(request.load("t", "1", {"y"},
                            [&]() -> std::any {
                              request.invalidate({"y"});
                              throw std::runtime_error("db");
                            }),
               std::runtime_error);
  request.load("c", "k2", {"y"}, [&] {
    request.invalidate({"unrelated"});
    return std::any(4);
  });
  EXPECT_EQ(as_int(request.load("c", "k2", {"y"}, [] { return std::any(5); })), 4);
  EXPECT_EQ(cache.stats().uncached_loads, 1u);
}

// Readers load entries computed from a versioned "database"; writers bump a
// version and then invalidate, some locally and some as remote key sets. When
// everything has stopped, no cached entry may be older than the database:
// a load that overlapped an invalidation of its dependencies must not have
// been cached.
TEST(LoadCache, ConcurrentLoadsAndInvalidationsNeverLeaveStaleEntries) {
  constexpr int kKeys = 6;
  constexpr int kIterations = 3000;
  auto backend = std::make_shared<FakeBackend>();
  LoadCache cache(backend);
  std::array<std::atomic<int>, kKeys> version{};
  auto dep = [](int i) { return "k" + std::to_string(i % kKeys); };
  auto entry_deps = [&](int i) { return KeySet{dep(i), dep(i + 1)}; };
  auto loader_for = [&](int i) {
    return [&version, i] {
      const int a = version[static_cast<std::size_t>(i % kKeys)].load();
      std::this_thread::yield();  // widen the window for an invalidation
      const int b = version[static_cast<std::size_t>((i + 1) % kKeys)].load();
      return std::any(std::pair<int, int>(a, b));
    };
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kIterations; ++n) {
        const int i = (n * 7 + t) % kKeys;
        cache.request().load("e", std::to_string(i), entry_deps(i), loader_for(i));
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kIterations / 3; ++n) {
        const int j = (n * 5 + t) % kKeys;
        version[static_cast<std::size_t>(j)].fetch_add(1);
        if (t == 0) {
          cache.invalidate({dep(j)});
        } else {
          backend->deliver({dep(j)});
        }
      }
    });
  }
  threads.emplace_back([&] {
    for (int n = 0; n < 50; ++n) cache.stats();
  });
  for (auto& thread : threads) thread.join();

  for (int i = 0; i < kKeys; ++i) {
    SCOPED_TRACE("entry " + std::to_string(i));
    const auto cached = std::any_cast<std::pair<int, int>>(
        cache.request().load("e", std::to_string(i), entry_deps(i), loader_for(i)));
    EXPECT_EQ(cached.first, version[static_cast<std::size_t>(i % kKeys)].load());
    EXPECT_EQ(cached.second, version[static_cast<std::size_t>((i + 1) % kKeys)].load());
  }
  const LoadCacheStats stats = cache.stats();
  EXPECT_EQ(stats.hits + stats.misses, 3u * kIterations + kKeys);
  EXPECT_EQ(backend->published().size(), static_cast<std::size_t>(kIterations / 3));
}

TEST(LoadCacheWithSqlite, InvalidationInOneCacheEvictsInTheOtherWithoutAnEcho) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "inval.db").string();
  SqliteOptions options;
  options.poll_interval = 10ms;
  auto backend_a = std::make_shared<SqliteInvalidationBackend>(db, options);
  auto backend_b = std::make_shared<SqliteInvalidationBackend>(db, options);
  LoadCache cache_a(backend_a);
  LoadCache cache_b(backend_b);

  std::mutex mu;
  std::condition_variable cv;
  std::vector<KeySet> received_b;
  int received_a = 0;
  cache_b.on_remote([&](const KeySet& keys) {
    std::lock_guard lock(mu);
    received_b.push_back(keys);
    cv.notify_all();
  });
  cache_a.on_remote([&](const KeySet&) {
    std::lock_guard lock(mu);
    ++received_a;
  });

  CountingLoader loader_a, loader_b;
  cache_a.request().load("c", "k", {"x"}, loader_a.fn());
  cache_b.request().load("c", "k", {"x"}, loader_b.fn());
  cache_b.request().load("c", "other", {"y"}, loader_b.fn());
  EXPECT_EQ(cache_a.invalidate({"x"}), 1u);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return !received_b.empty(); }))
        << "cache B never received the key set";
    EXPECT_EQ(received_b[0], KeySet{"x"});
  }
  EXPECT_EQ(cache_b.stats().entries, 1u);  // only "other" is left
  cache_b.request().load("c", "k", {"x"}, loader_b.fn());
  EXPECT_EQ(loader_b.count(), 3);
  EXPECT_EQ(backend_b->stats().published, 0u);  // B did not publish back
  EXPECT_EQ(backend_a->stats().published, 1u);
  // Let A poll a few more times: it must receive nothing (its own row is not
  // delivered to it and B published nothing).
  auto polls_of_a = [&] {
    const SqliteStats stats = backend_a->stats();
    return stats.polls + stats.skipped_polls;
  };
  const auto polls_before = polls_of_a();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (polls_of_a() < polls_before + 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_GE(polls_of_a(), polls_before + 3) << "backend A stopped polling";
  std::lock_guard lock(mu);
  EXPECT_EQ(received_a, 0);
  EXPECT_EQ(cache_a.stats().remote_invalidations, 0u);
}

}  // namespace
}  // namespace pjx
