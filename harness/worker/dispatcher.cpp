// Dispatcher: see dispatcher.hpp.
#include "dispatcher.hpp"

#include <unistd.h>

#include <exception>
#include <stdexcept>
#include <utility>
#include <variant>

#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"

namespace pjx::harness {

using nlohmann::json;

// Passes everything to `inner` and reports each listener callback: `t` is
// taken on entry, the event is written once the cache has applied it.
// publish() is called only from the op loop's thread (directly or through
// the LoadCache), so last_queued_ needs no lock.
class ReportingBackend final : public InvalidationBackend {
 public:
  ReportingBackend(std::shared_ptr<InvalidationBackend> inner, EventSink& sink)
      : inner_(std::move(inner)),
        sqlite_(dynamic_cast<SqliteInvalidationBackend*>(inner_.get())),
        sink_(sink) {}

  void publish(const KeySet& keys) override {
    last_queued_ = false;
    if (sqlite_ != nullptr) {
      last_queued_ = sqlite_->publish_result(keys) == PublishResult::kQueued;
    } else {
      inner_->publish(keys);
    }
  }

  // Whether a publish() since the last call returned with its event queued
  // in the backend's outbox rather than committed; clears the mark.
  bool take_queued() { return std::exchange(last_queued_, false); }

  void start(InvalidationHandler handler, FlushHandler on_flush) override {
    EventSink& sink = sink_;
    inner_->start(
        [handler = std::move(handler), &sink](const KeySet& keys) {
          const std::int64_t t = monotonic_ns();
          if (handler) handler(keys);
          json event = make_event("received", t);
          event["keys"] = keys;
          sink.emit(event);
        },
        [on_flush = std::move(on_flush), &sink](FlushReason reason) {
          const std::int64_t t = monotonic_ns();
          if (on_flush) on_flush(reason);
          json event = make_event("flushed", t);
          event["reason"] = to_string(reason);
          sink.emit(event);
        });
  }

  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<InvalidationBackend> inner_;
  SqliteInvalidationBackend* sqlite_;  // inner_ when it is the library's SQLite backend
  EventSink& sink_;
  bool last_queued_ = false;
};

Dispatcher::Dispatcher(WorkerBackend backend, EventSink& sink)
    : backend_(std::move(backend)),
      sink_(sink),
      reporting_(std::make_shared<ReportingBackend>(backend_.backend, sink_)) {}

Dispatcher::~Dispatcher() { shutdown(); }

Dispatcher::Next Dispatcher::handle_line(std::string_view line) {
  if (is_blank(line)) return Next::kContinue;
  ParsedLine parsed = parse_line(line);
  if (const auto* bad = std::get_if<BadLine>(&parsed)) {
    json event = make_event("error");
    event["message"] = bad->message;
    event["bad_line"] = true;
    sink_.emit(event);
    return Next::kContinue;
  }
  const Op& op = std::get<Op>(parsed);
  if (!op.id_error.empty()) {
    error(op, op.id_error);
  } else if (op.name == "start") {
    on_start(op);
  } else if (op.name == "publish") {
    on_publish(op);
  } else if (op.name == "stats") {
    on_stats(op);
  } else if (op.name == "ping") {
    on_ping(op);
  } else if (op.name == "stop") {
    shutdown();
    sink_.emit(make_event("stopped", monotonic_ns()));
    return Next::kExit;
  } else {
    error(op,
          "unknown op \"" + op.name + "\"; this worker speaks start, publish, stats, ping, stop",
          /*unsupported=*/true);
  }
  return Next::kContinue;
}

void Dispatcher::shutdown() {
  cache_.reset();  // stops listening: no handler runs after this
  if (backend_.backend) backend_.backend->stop();
}

void Dispatcher::on_start(const Op& op) {
  if (!cache_) {
    try {
      cache_ = std::make_unique<LoadCache>(reporting_);
    } catch (const std::exception& e) {
      error(op, std::string("start failed: ") + e.what());
      return;
    }
  }
  json event = make_event("ready", monotonic_ns());
  event["caps"] = backend_.caps;
  event["pid"] = static_cast<std::int64_t>(::getpid());
  if (backend_.instance_id) event["instance_id"] = *backend_.instance_id;
  event["impl"] = backend_.impl;
  sink_.emit(event);
}

void Dispatcher::on_publish(const Op& op) {
  if (!op.id) {
    error(op, "publish needs an integer \"id\"");
    return;
  }
  KeySet keys;
  try {
    keys = parse_keys(op.fields);
  } catch (const std::invalid_argument& e) {
    error(op, e.what());
    return;
  }
  reporting_->take_queued();
  const std::int64_t t_begin = monotonic_ns();
  try {
    if (cache_) {
      cache_->invalidate(keys);
    } else {
      reporting_->publish(keys);  // before start: nothing cached to evict
    }
  } catch (const std::exception& e) {
    error(op, e.what());
    return;
  }
  json event = make_event("published", monotonic_ns());
  event["id"] = *op.id;
  event["t_begin"] = t_begin;
  if (reporting_->take_queued()) event["queued"] = true;
  sink_.emit(event);
}

void Dispatcher::on_stats(const Op& op) {
  if (!backend_.stats) {
    error(op, "this backend has no counters (no \"stats\" capability)", /*unsupported=*/true);
    return;
  }
  json event = make_event("stats", monotonic_ns());
  event.update(backend_.stats());
  if (cache_) {
    const LoadCacheStats cache = cache_->stats();
    event["cache"] = {
        {"hits", cache.hits},           {"misses", cache.misses},
        {"evictions", cache.evictions}, {"remote_invalidations", cache.remote_invalidations},
        {"flushes", cache.flushes},     {"entries", cache.entries}};
  }
  if (op.id) event["id"] = *op.id;
  sink_.emit(event);
}

void Dispatcher::on_ping(const Op& op) {
  json event = make_event("pong", monotonic_ns());
  if (op.id) event["id"] = *op.id;
  sink_.emit(event);
}

void Dispatcher::error(const Op& op, const std::string& message, bool unsupported) {
  json event = make_event("error");
  if (op.id) event["id"] = *op.id;
  event["op"] = op.name;
  event["message"] = message;
  if (unsupported) event["unsupported"] = true;
  sink_.emit(event);
}

}  // namespace pjx::harness
