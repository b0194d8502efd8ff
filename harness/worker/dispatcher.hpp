// Dispatcher: a worker's op loop body. It answers each op of
// harness/PROTOCOL.md with its event, drives a LoadCache around the worker's
// backend (invalidate = evict locally + publish), and reports what the
// backend's listener does (`received`, `flushed`) through the same sink. A
// publish the library's backend queued in its outbox instead of committing
// is answered `published` with `"queued": true`.
//
// Contract: handle_line() answers before it returns (so `published` for op
// N is written before op N+1 is read); no op ends the worker except `stop`.
// After `stop` (or shutdown()) no listener event is written any more.
//
// Thread safety: handle_line() and shutdown() are called from one thread
// (the op loop); listener events come from the backend's thread and go
// through the thread-safe EventSink.
#pragma once

#include <memory>
#include <string_view>

#include "event_sink.hpp"
#include "pjx/load_cache.hpp"
#include "protocol.hpp"
#include "worker_backend.hpp"

namespace pjx::harness {

class ReportingBackend;

class Dispatcher {
 public:
  enum class Next { kContinue, kExit };

  // `sink` must outlive the dispatcher.
  Dispatcher(WorkerBackend backend, EventSink& sink);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Handles one line of input. Returns kExit after `stop` has been answered.
  Next handle_line(std::string_view line);

  // Stops listening and the backend (for EOF on stdin). Idempotent.
  void shutdown();

 private:
  void on_start(const Op& op);
  void on_publish(const Op& op);
  void on_stats(const Op& op);
  void on_ping(const Op& op);
  void error(const Op& op, const std::string& message, bool unsupported = false);

  WorkerBackend backend_;
  EventSink& sink_;
  // Wraps backend_.backend: reports listener events, remembers whether the
  // last publish was queued.
  std::shared_ptr<ReportingBackend> reporting_;
  std::unique_ptr<LoadCache> cache_;  // exists between start and stop
};

}  // namespace pjx::harness
