// Micro-benchmarks of pjx-inval (issue 4, part 1). Each benchmark uses a new
// database in its own BenchDir (under $PJX_BENCH_DIR when set). Nothing here
// asserts on times; a benchmark whose work went wrong (a publish failed, a
// poll returned the wrong number of rows) stops with SkipWithError.
//
// Names (see README.md for what each measures):
//   publish/threads:T                  SqliteInvalidationBackend::publish, T threads, one backend
//   upstream_publish/listener_open:L/sync_full:F
//                                      the upstream pattern (raw SQLite); L=1: another connection
//                                      is open; F=0: synchronous=NORMAL instead of upstream's FULL
//   bare_publish                       the floor: one kept raw connection, prepared insert and
//                                      prune in one transaction (raw_sqlite.hpp)
//   poll_idle                          poll_now() with nothing new (PRAGMA data_version only)
//   poll_new_rows/rows:N               poll_now() that reads and delivers N new rows
//   decode_keys/keys:N                 detail::decode_keys of a keys_json of N keys
//   load_cache_evict/entries:N         LoadCache::invalidate evicting N entries (local only)
//   publish_at_table_size/rows:S       publish on a table kept at S rows, each pruning one row
//   prune_burst/rows:S                 one publish that prunes S expired rows
#include <benchmark/benchmark.h>

#include <algorithm>
#include <any>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench_dir.hpp"
#include "check/stats.hpp"
#include "keys_json.hpp"  // private to the library: only for decode_keys
#include "pjx/clock.hpp"
#include "pjx/load_cache.hpp"
#include "pjx/sqlite_backend.hpp"
#include "raw_sqlite.hpp"

namespace pjx::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kDbName = "events.db";
constexpr const char* kChannel = "pyjinhx:invalidate";
// A listener that never polls by itself: benchmarks drive poll_now().
constexpr Seconds kNeverPoll{3600.0};

// A peer instance writing rows directly (not this process's backend).
EventRow peer_row() {
  return EventRow{"0123456789abcdef0123456789abcdef", kChannel, R"(["user:1"])"};
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

// Key sets cycled through by publishers: one key each, as a typical save.
std::vector<KeySet> publish_key_sets(int thread) {
  std::vector<KeySet> sets;
  for (int i = 0; i < 1024; ++i) {
    sets.push_back(KeySet{"user:" + std::to_string(thread) + ":" + std::to_string(i)});
  }
  return sets;
}

// Per-operation latencies of one thread, reported as counters p50_us and
// p99_us (averaged over threads when several threads report). Medians resist
// the scheduling noise of a shared machine better than the means the
// benchmark library reports.
class Latencies {
 public:
  explicit Latencies(const benchmark::State& state) {
    us_.reserve(static_cast<std::size_t>(
        std::min<benchmark::IterationCount>(state.max_iterations, 1 << 22)));
  }
  // Records one operation; returns its duration in seconds (for SetIterationTime).
  double add(Clock::duration d) {
    us_.push_back(micros(d));
    return std::chrono::duration<double>(d).count();
  }
  // Times and records op(). When it throws, skips the benchmark with the
  // message and returns nullopt: leave the loop.
  template <class Op>
  std::optional<double> time(benchmark::State& state, Op&& op) {
    const auto start = Clock::now();
    try {
      op();
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      return std::nullopt;
    }
    return add(Clock::now() - start);
  }
  void report(benchmark::State& state) {
    if (us_.empty()) return;
    // The project's one percentile definition (check/stats.hpp).
    state.counters["p50_us"] =
        benchmark::Counter(harness::percentile(us_, 50), benchmark::Counter::kAvgThreads);
    state.counters["p99_us"] =
        benchmark::Counter(harness::percentile(us_, 99), benchmark::Counter::kAvgThreads);
  }

 private:
  std::vector<double> us_;
};

// Options of every backend here. The benchmarks run in one process, so a
// network filesystem's unreliable locking cannot hurt them, and measuring such
// a filesystem is what PJX_BENCH_DIR is for: it is allowed.
SqliteOptions bench_options() {
  SqliteOptions options;
  options.allow_network_filesystem = true;
  return options;
}

// A listener driven only by poll_now(): no timed polls and no wake on change
// (which would let the poll thread take rows before poll_now() sees them).
SqliteOptions listener_options() {
  SqliteOptions options = bench_options();
  options.poll_interval = kNeverPoll;
  options.retention = Seconds(2 * kNeverPoll.count());
  options.wake_on_change = false;
  return options;
}

// ---------------------------------------------------------------------------
// publish() from one or several threads sharing one backend object.

std::unique_ptr<BenchDir> g_publish_dir;
std::unique_ptr<SqliteInvalidationBackend> g_publish_backend;

void BM_Publish(benchmark::State& state) {
  if (state.thread_index() == 0) {
    g_publish_dir = std::make_unique<BenchDir>();
    g_publish_backend =
        std::make_unique<SqliteInvalidationBackend>(g_publish_dir->file(kDbName), bench_options());
    g_publish_backend->publish(KeySet{"warm-up"});  // creates the file and schema
  }
  const auto key_sets = publish_key_sets(state.thread_index());
  Latencies latencies(state);
  std::size_t i = 0;
  for (auto _ : state) {
    const auto& keys = key_sets[i++ % key_sets.size()];
    if (!latencies.time(state, [&] { g_publish_backend->publish(keys); })) break;
  }
  latencies.report(state);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const auto stats = g_publish_backend->stats();
    state.counters["busy_waits"] = static_cast<double>(stats.busy_waits);
    // Threads publishing at once share commits (group commit).
    state.counters["events_per_commit"] =
        static_cast<double>(stats.published) /
        static_cast<double>(std::max<std::uint64_t>(1, stats.publish_commits));
    g_publish_backend.reset();
    g_publish_dir.reset();
  }
}
BENCHMARK(BM_Publish)
    ->Name("publish")
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->Threads(8)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// The floor under publish(): a bare insert-and-prune transaction on a kept
// connection (raw_sqlite.hpp), with another connection open as in
// publish/threads:1's deployment. The summary prints publish / bare.

void BM_BarePublish(benchmark::State& state) {
  BenchDir dir;
  const std::string path = dir.file(kDbName);
  std::unique_ptr<BarePublisher> publisher;
  std::unique_ptr<RawDb> listener;
  try {
    publisher = std::make_unique<BarePublisher>(path);
    listener = std::make_unique<RawDb>(path);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  EventRow row{"fedcba9876543210fedcba9876543210", kChannel, ""};
  Latencies latencies(state);
  std::int64_t i = 0;
  for (auto _ : state) {
    row.keys_json = "[\"user:" + std::to_string(i++ % 1024) + "\"]";
    if (!latencies.time(state, [&] { publisher->publish(row, wall_now(), 5.0); })) break;
  }
  latencies.report(state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BarePublish)->Name("bare_publish")->UseRealTime()->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// The upstream pattern: a connection per publish (raw_sqlite.hpp). With
// listener_open:1 another connection keeps the database open, as listeners of
// other workers do in a deployment, so closing does not checkpoint; with
// listener_open:0 every close is the last one, which checkpoints the WAL into
// the database and deletes the -wal and -shm files. sync_full:1 is upstream
// (synchronous=FULL: an fsync per commit); sync_full:0 sets synchronous=NORMAL
// as the library does, leaving only the cost of a connection per publish.

void BM_UpstreamPublish(benchmark::State& state) {
  BenchDir dir;
  const std::string path = dir.file(kDbName);
  std::unique_ptr<RawDb> listener;
  if (state.range(0) != 0) listener = std::make_unique<RawDb>(path);
  EventRow row{"fedcba9876543210fedcba9876543210", kChannel, ""};
  Latencies latencies(state);
  std::int64_t i = 0;
  for (auto _ : state) {
    // Upstream's json.dumps output for one key.
    row.keys_json = "[\"user:" + std::to_string(i++ % 1024) + "\"]";
    if (!latencies.time(state, [&] {
          upstream_publish(path, row, wall_now(), 5.0, /*synchronous_full=*/state.range(1) != 0);
        }))
      break;
  }
  latencies.report(state);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_UpstreamPublish)
    ->Name("upstream_publish")
    ->ArgNames({"listener_open", "sync_full"})
    ->Args({1, 1})
    ->Args({0, 1})
    ->Args({1, 0})
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// A poll that finds nothing new. Reported CPU time is the calling thread's:
// poll_now() runs the poll on it.

void BM_PollIdle(benchmark::State& state) {
  BenchDir dir;
  SqliteInvalidationBackend backend(dir.file(kDbName), listener_options());
  backend.start([](const KeySet&) {});
  backend.poll_now();  // remembers the data version
  const auto skipped_before = backend.stats().skipped_polls;
  Latencies latencies(state);
  for (auto _ : state) {
    const auto start = Clock::now();
    benchmark::DoNotOptimize(backend.poll_now());
    latencies.add(Clock::now() - start);
  }
  latencies.report(state);
  const auto skipped = backend.stats().skipped_polls - skipped_before;
  // 1.0 when every poll took the data_version fast path.
  state.counters["skipped_fraction"] =
      static_cast<double>(skipped) /
      static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
  backend.stop();
}
BENCHMARK(BM_PollIdle)->Name("poll_idle")->Unit(benchmark::kNanosecond);

// ---------------------------------------------------------------------------
// A poll that finds N new rows (one key each) written by another instance.
// Between polls the peer empties the table and writes N rows in one
// transaction; only poll_now() is timed (manual time).

void BM_PollNewRows(benchmark::State& state) {
  const auto rows = state.range(0);
  BenchDir dir;
  RawDb peer(dir.file(kDbName));
  SqliteInvalidationBackend backend(dir.file(kDbName), listener_options());
  std::size_t keys_seen = 0;
  backend.start([&keys_seen](const KeySet& keys) { keys_seen += keys.size(); });
  const EventRow row = peer_row();
  Latencies latencies(state);
  for (auto _ : state) {
    state.PauseTiming();
    peer.delete_all();
    peer.insert_rows(row, rows, [](std::int64_t) { return wall_now(); });
    state.ResumeTiming();
    const auto start = Clock::now();
    std::size_t delivered = 0;
    try {
      delivered = backend.poll_now();
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
    state.SetIterationTime(latencies.add(Clock::now() - start));
    if (delivered != static_cast<std::size_t>(rows)) {
      state.SkipWithError("poll_now() did not deliver every new row");
      break;
    }
  }
  benchmark::DoNotOptimize(keys_seen);
  latencies.report(state);
  state.SetItemsProcessed(state.iterations() * rows);
  backend.stop();
}
BENCHMARK(BM_PollNewRows)
    ->Name("poll_new_rows")
    ->ArgName("rows")
    ->Arg(1)
    ->Arg(100)
    ->Arg(10'000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// Decoding a keys_json payload of N keys ("component:item:000123" style).

void BM_DecodeKeys(benchmark::State& state) {
  KeySet keys;
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    char key[40];
    std::snprintf(key, sizeof key, "component:item:%06lld", static_cast<long long>(i));
    keys.insert(key);
  }
  const std::string payload = detail::encode_keys(keys);
  for (auto _ : state) {
    auto decoded = detail::decode_keys(payload);
    if (!decoded || decoded->size() != keys.size()) {
      state.SkipWithError("decode_keys() did not return the encoded keys");
      break;
    }
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload.size()));
}
BENCHMARK(BM_DecodeKeys)
    ->Name("decode_keys")
    ->ArgName("keys")
    ->Arg(1)
    ->Arg(10)
    ->Arg(1'000)
    ->Unit(benchmark::kNanosecond);

// ---------------------------------------------------------------------------
// LoadCache::invalidate({"k"}, propagate=false) evicting N entries that depend
// on "k" (each also depends on a key of its own), in a cache that also holds
// 10,000 unrelated entries. Loading the N entries is not timed.

constexpr int kUnrelatedEntries = 10'000;

void BM_LoadCacheEvict(benchmark::State& state) {
  const auto entries = state.range(0);
  BenchDir dir;
  auto backend = std::make_shared<SqliteInvalidationBackend>(dir.file(kDbName), listener_options());
  LoadCache cache(backend);
  {
    auto request = cache.request();
    for (int i = 0; i < kUnrelatedEntries; ++i) {
      const std::string key = "other:" + std::to_string(i);
      request.load("component", key, KeySet{key}, [i] { return std::any(i); });
    }
  }
  const KeySet dirtied{"k"};
  Latencies latencies(state);
  for (auto _ : state) {
    state.PauseTiming();
    {
      auto request = cache.request();
      for (std::int64_t i = 0; i < entries; ++i) {
        const std::string key = "item:" + std::to_string(i);
        request.load("component", key, KeySet{"k", key}, [i] { return std::any(i); });
      }
    }
    state.ResumeTiming();
    const auto start = Clock::now();
    const std::size_t evicted = cache.invalidate(dirtied, /*propagate=*/false);
    state.SetIterationTime(latencies.add(Clock::now() - start));
    if (evicted != static_cast<std::size_t>(entries)) {
      state.SkipWithError("invalidate() did not evict every dependent entry");
      break;
    }
  }
  latencies.report(state);
  state.SetItemsProcessed(state.iterations() * entries);
}
BENCHMARK(BM_LoadCacheEvict)
    ->Name("load_cache_evict")
    ->ArgName("entries")
    ->Arg(1)
    ->Arg(100)
    ->Arg(10'000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// ---------------------------------------------------------------------------
// Pruning. A ManualClock sets created_at and "now" exactly: the wall clock
// starts at a whole second and moves in steps of 2^-7 s, which doubles near
// 1.7e9 represent exactly, so the prune boundary never drifts.

constexpr std::chrono::nanoseconds kStep{7'812'500};  // 2^-7 s
constexpr double kStepSeconds = 0.0078125;
constexpr double kStartWall = 1'700'000'000.0;

// publish() on a table kept at S rows: the clock advances one step per
// publish and retention is S - 0.5 steps, so each publish inserts one row and
// prunes exactly the oldest one (steady state at S rows).
void BM_PublishAtTableSize(benchmark::State& state) {
  const auto rows = state.range(0);
  BenchDir dir;
  const std::string path = dir.file(kDbName);
  RawDb peer(path);
  peer.insert_rows(peer_row(), rows, [](std::int64_t i) {
    return kStartWall + static_cast<double>(i) * kStepSeconds;
  });
  auto clock =
      std::make_shared<ManualClock>(kStartWall + static_cast<double>(rows - 1) * kStepSeconds);
  SqliteOptions options = bench_options();
  options.clock = clock;
  options.retention = Seconds((static_cast<double>(rows) - 0.5) * kStepSeconds);
  options.poll_interval = Seconds(std::min(0.5, options.retention.count()));
  SqliteInvalidationBackend backend(path, options);
  const auto key_sets = publish_key_sets(0);
  std::size_t i = 0;
  Latencies latencies(state);
  for (auto _ : state) {
    clock->advance(kStep);
    if (!latencies.time(state, [&] { backend.publish(key_sets[i++ % key_sets.size()]); })) break;
  }
  latencies.report(state);
  const auto left = peer.count_rows();
  state.counters["table_rows"] = static_cast<double>(left);
  if (left != rows)
    state.SkipWithError("the table did not stay at its size: pruning is off by some rows");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PublishAtTableSize)
    ->Name("publish_at_table_size")
    ->ArgName("rows")
    ->Arg(1'000)
    ->Arg(10'000)
    ->Arg(100'000)
    ->Unit(benchmark::kMicrosecond);

// One publish that prunes S expired rows (as after a quiet period longer than
// retention following a burst). Writing the S rows is not timed (manual time).
void BM_PruneBurst(benchmark::State& state) {
  const auto rows = state.range(0);
  BenchDir dir;
  const std::string path = dir.file(kDbName);
  RawDb peer(path);
  auto clock = std::make_shared<ManualClock>(kStartWall);
  SqliteOptions options = bench_options();
  options.clock = clock;
  // The cost of one publish pruning all S rows (+ the previous iteration's
  // row): a publish prunes at most prune_limit rows (256 by default).
  options.prune_limit = static_cast<std::size_t>(rows) + 1;
  SqliteInvalidationBackend backend(path, options);
  const EventRow row = peer_row();
  const KeySet keys{"user:1"};
  Latencies latencies(state);
  for (auto _ : state) {
    state.PauseTiming();
    const double created = clock->wall_seconds();
    peer.insert_rows(row, rows, [created](std::int64_t) { return created; });
    clock->advance(std::chrono::seconds(6));  // past the default retention of 5 s
    state.ResumeTiming();
    const auto seconds = latencies.time(state, [&] { backend.publish(keys); });
    if (!seconds) break;
    state.SetIterationTime(*seconds);
    state.PauseTiming();
    const bool pruned = peer.count_rows() == 1;  // only the row just published
    state.ResumeTiming();
    if (!pruned) {
      state.SkipWithError("publish() did not prune every expired row");
      break;
    }
  }
  latencies.report(state);
  state.SetItemsProcessed(state.iterations() * rows);
}
BENCHMARK(BM_PruneBurst)
    ->Name("prune_burst")
    ->ArgName("rows")
    ->Arg(1'000)
    ->Arg(10'000)
    ->Arg(100'000)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace pjx::bench
