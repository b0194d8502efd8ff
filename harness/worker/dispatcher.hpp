// Dispatcher: a worker's op loop body. It answers each op of
// harness/PROTOCOL.md (version 2) with its event, drives a WorkerCache
// around the worker's backend (invalidate = evict locally + publish), and
// reports what the backend's listener does (`received`, `flushed`) through
// the same sink. A publish the library's backend queued in its outbox
// instead of committing is answered `published` with `"queued": true`.
// `read` and `write` go through the cache to the truth store
// (truth_store.hpp) named by PJX_TRUTH_DB, opened at the first of them.
//
// Contract: handle_line() answers before it returns (so `published` for op
// N is written before op N+1 is read); no op ends the worker except `stop`.
// After `stop` (or shutdown()) no listener event is written any more.
//
// Thread safety: handle_line() and shutdown() are called from one thread
// (the op loop); listener events come from the backend's thread and go
// through the thread-safe EventSink.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <memory>
#include <optional>
#include <string_view>

#include "event_sink.hpp"
#include "pjx/load_cache.hpp"
#include "protocol.hpp"
#include "truth_store.hpp"
#include "worker_backend.hpp"
#include "worker_cache.hpp"

namespace pjx::harness {

class ReportingBackend;

class Dispatcher {
 public:
  enum class Next { kContinue, kExit };

  // `sink` must outlive the dispatcher. `truth_db`: the truth store's path
  // (PJX_TRUTH_DB), none when unset (then `read` and `write` answer
  // `error`). `cache_defect`: serve reads from a MutantCache with those
  // knobs instead of the library's LoadCache.
  Dispatcher(WorkerBackend backend, EventSink& sink,
             std::optional<std::filesystem::path> truth_db = std::nullopt,
             const CacheDefect* cache_defect = nullptr);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // The re-entrant handler mode (PJX_WORKER_HANDLER=reentrant): the
  // listener's handler reads the backend's counters and publishes when it
  // receives "echo-request", reported as `handler_published`. Call before
  // `start`.
  void set_reentrant(std::string worker_name);

  // Handles one line of input. Returns kExit after `stop` has been answered.
  Next handle_line(std::string_view line);

  // Stops listening and the backend (for EOF on stdin). Idempotent.
  void shutdown();

 private:
  void on_start(const Op& op);
  void on_publish(const Op& op);
  void on_read(const Op& op);
  void on_write(const Op& op);
  void on_burst(const Op& op);
  // Evicts and publishes `keys` (publishes only, before `start`); answers
  // `published` for `id` or `error` naming `op_name`. Thread-safe.
  void publish_and_answer(std::int64_t id, const KeySet& keys, const char* op_name);
  // The truth store, opened on first use; throws std::runtime_error.
  TruthStore& truth();
  void on_stats(const Op& op);
  void on_ping(const Op& op);
  void error(const Op& op, const std::string& message, bool unsupported = false);

  WorkerBackend backend_;
  EventSink& sink_;
  // Wraps backend_.backend: reports listener events, remembers whether the
  // last publish was queued.
  std::shared_ptr<ReportingBackend> reporting_;
  std::optional<std::filesystem::path> truth_db_;
  const CacheDefect* cache_defect_;
  std::unique_ptr<TruthStore> truth_;
  std::unique_ptr<WorkerCache> cache_;  // exists between start and stop
};

}  // namespace pjx::harness
