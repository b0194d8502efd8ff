// Dispatcher: see dispatcher.hpp.
#include "dispatcher.hpp"

#include <unistd.h>

#include <chrono>
#include <exception>
#include <latch>
#include <stdexcept>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "pjx/errors.hpp"
#include "pjx/sqlite_backend.hpp"

namespace pjx::harness {

using nlohmann::json;

namespace {

// Whether this thread's last publish() was queued in the backend's outbox:
// per thread, since a `burst` publishes from several threads at once.
thread_local bool t_last_queued = false;

// Longest `slow_ms` a read may ask for: a loader that sleeps longer would hold
// the op loop past any deadline the harness keeps.
constexpr double kMaxSlowMs = 60'000;
// Most publishes in one `burst` (threads started at once).
constexpr std::size_t kMaxBurst = 64;

}  // namespace

// Passes everything to `inner` and reports each listener callback: `t` is
// taken on entry, the event is written once the cache has applied it.
// publish() remembers per thread whether the event was queued.
class ReportingBackend final : public InvalidationBackend {
 public:
  ReportingBackend(std::shared_ptr<InvalidationBackend> inner, EventSink& sink)
      : inner_(std::move(inner)),
        sqlite_(dynamic_cast<SqliteInvalidationBackend*>(inner_.get())),
        sink_(sink) {}

  void publish(const KeySet& keys) override {
    t_last_queued = false;
    if (sqlite_ != nullptr) {
      t_last_queued = sqlite_->publish_result(keys) == PublishResult::kQueued;
    } else {
      inner_->publish(keys);
    }
  }

  // Whether a publish() of this thread since the last call returned with its
  // event queued in the backend's outbox rather than committed; clears the
  // mark.
  static bool take_queued() { return std::exchange(t_last_queued, false); }

  // Called on the listener thread after the cache applied a received key
  // set and before `received` is written (the re-entrant handler mode).
  void set_after_receive(std::function<void(const KeySet&)> hook) { after_receive_ = std::move(hook); }

  void start(InvalidationHandler handler, FlushHandler on_flush) override {
    EventSink& sink = sink_;
    inner_->start(
        [handler = std::move(handler), &sink, this](const KeySet& keys) {
          const std::int64_t t = monotonic_ns();
          if (handler) handler(keys);
          if (after_receive_) after_receive_(keys);
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
  std::function<void(const KeySet&)> after_receive_;  // set before start()
};

Dispatcher::Dispatcher(WorkerBackend backend, EventSink& sink,
                       std::optional<std::filesystem::path> truth_db,
                       const CacheDefect* cache_defect)
    : backend_(std::move(backend)),
      sink_(sink),
      reporting_(std::make_shared<ReportingBackend>(backend_.backend, sink_)),
      truth_db_(std::move(truth_db)),
      cache_defect_(cache_defect) {}

void Dispatcher::set_reentrant(std::string worker_name) {
  // A handler that calls back into the backend, as application handlers do:
  // on a key set holding "echo-request" it reads the backend's counters and
  // publishes {"echo-reply:<worker>:<e:id>"} from the listener thread.
  reporting_->set_after_receive([this, worker_name = std::move(worker_name)](const KeySet& keys) {
    if (!keys.contains("echo-request")) return;
    std::string request_id;
    for (const std::string& k : keys) {
      if (k.starts_with("e:")) request_id = k;
    }
    json event = make_event("handler_published");
    if (backend_.stats) event["polls_seen"] = backend_.stats().value("polls", json());
    const KeySet reply = {"echo-reply:" + worker_name + ":" + request_id};
    const std::int64_t t_begin = monotonic_ns();
    try {
      reporting_->publish(reply);
    } catch (const std::exception& e) {
      json warning = make_event("warning", monotonic_ns());
      warning["message"] = std::string("publish from the handler failed: ") + e.what();
      sink_.emit(warning);
      return;
    }
    event["t"] = monotonic_ns();
    event["t_begin"] = t_begin;
    event["keys"] = reply;
    sink_.emit(event);
  });
}

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
  } else if (op.name == "read") {
    on_read(op);
  } else if (op.name == "write") {
    on_write(op);
  } else if (op.name == "burst") {
    on_burst(op);
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
          "unknown op \"" + op.name +
              "\"; this worker speaks start, publish, read, write, burst, stats, ping, stop",
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
      cache_ = cache_defect_ != nullptr ? make_mutant_cache(reporting_, cache_defect_->knobs)
                                        : make_library_cache(reporting_);
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
  event["protocol"] = 2;
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
  publish_and_answer(*op.id, keys, "publish");
}

void Dispatcher::publish_and_answer(std::int64_t id, const KeySet& keys, const char* op_name) {
  ReportingBackend::take_queued();
  const std::int64_t t_begin = monotonic_ns();
  try {
    if (cache_) {
      cache_->invalidate(keys);
    } else {
      reporting_->publish(keys);  // before start: nothing cached to evict
    }
  } catch (const std::exception& e) {
    json event = make_event("error");
    event["id"] = id;
    event["op"] = op_name;
    event["message"] = e.what();
    sink_.emit(event);
    return;
  }
  json event = make_event("published", monotonic_ns());
  event["id"] = id;
  event["t_begin"] = t_begin;
  if (ReportingBackend::take_queued()) event["queued"] = true;
  sink_.emit(event);
}

TruthStore& Dispatcher::truth() {
  if (!truth_) {
    if (!truth_db_) {
      throw std::runtime_error(
          "PJX_TRUTH_DB is not set: read and write need the truth store the harness names");
    }
    truth_ = std::make_unique<TruthStore>(*truth_db_, /*busy_timeout_ms=*/5000);
  }
  return *truth_;
}

namespace {

// The op's "key": a non-empty string. Throws std::invalid_argument.
std::string parse_key(const Op& op) {
  const auto it = op.fields.find("key");
  if (it == op.fields.end() || !it->is_string() || it->get<std::string>().empty()) {
    throw std::invalid_argument(op.name + " needs \"key\": a non-empty string");
  }
  return it->get<std::string>();
}

}  // namespace

void Dispatcher::on_read(const Op& op) {
  if (!op.id) return error(op, "read needs an integer \"id\"");
  if (!cache_) return error(op, "read before start: the cache exists once the worker listens");
  std::string key;
  double slow_ms = 0;
  try {
    key = parse_key(op);
    if (const auto it = op.fields.find("slow_ms"); it != op.fields.end()) {
      if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > kMaxSlowMs) {
        throw std::invalid_argument("read \"slow_ms\" must be a number of milliseconds in [0, " +
                                    std::to_string(static_cast<int>(kMaxSlowMs)) + "]");
      }
      slow_ms = it->get<double>();
    }
  } catch (const std::invalid_argument& e) {
    return error(op, e.what());
  }
  const std::int64_t t_begin = monotonic_ns();
  bool hit = false;
  std::int64_t version = 0;
  try {
    version = cache_->load(key, [this, &key, slow_ms] {
      const std::int64_t v = truth().read(key);
      // The race window: the value is read, and not yet cached.
      if (slow_ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(slow_ms));
      return v;
    }, hit);
  } catch (const std::exception& e) {
    return error(op, e.what());
  }
  json event = make_event("read_result", monotonic_ns());
  event["id"] = *op.id;
  event["key"] = key;
  event["version"] = version;
  event["hit"] = hit;
  event["t_begin"] = t_begin;
  sink_.emit(event);
}

void Dispatcher::on_write(const Op& op) {
  if (!op.id) return error(op, "write needs an integer \"id\"");
  std::string key;
  KeySet keys;
  try {
    key = parse_key(op);
    if (op.fields.contains("keys")) {
      keys = parse_keys(op.fields);
      if (!keys.contains(key)) {
        throw std::invalid_argument("write \"keys\" must contain its \"key\" \"" + key + "\"");
      }
    } else {
      keys = {key};
    }
  } catch (const std::invalid_argument& e) {
    return error(op, e.what());
  }
  ReportingBackend::take_queued();
  const std::int64_t t_begin = monotonic_ns();
  std::int64_t version = 0;
  try {
    version = truth().bump(key);
  } catch (const std::exception& e) {
    return error(op, std::string("the truth store was not changed: ") + e.what());
  }
  try {
    // As an application does after changing data: evict here, tell the others.
    if (cache_) {
      cache_->invalidate(keys);
    } else {
      reporting_->publish(keys);
    }
  } catch (const std::exception& e) {
    json event = make_event("error");
    event["id"] = *op.id;
    event["op"] = op.name;
    event["message"] = e.what();
    event["version"] = version;  // committed to the truth store, not published
    sink_.emit(event);
    return;
  }
  json event = make_event("written", monotonic_ns());
  event["id"] = *op.id;
  event["key"] = key;
  event["version"] = version;
  event["t_begin"] = t_begin;
  if (ReportingBackend::take_queued()) event["queued"] = true;
  sink_.emit(event);
}

void Dispatcher::on_burst(const Op& op) {
  if (!op.id) return error(op, "burst needs an integer \"id\"");
  struct Item {
    std::int64_t id;
    KeySet keys;
  };
  std::vector<Item> items;
  const auto list = op.fields.find("publishes");
  if (list == op.fields.end() || !list->is_array() || list->empty() || list->size() > kMaxBurst) {
    return error(op, "burst needs \"publishes\": an array of 1 to " + std::to_string(kMaxBurst) +
                         " {\"id\": integer, \"keys\": [strings]} objects");
  }
  for (const json& entry : *list) {
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_integer()) {
      return error(op, "each burst publish needs an integer \"id\"");
    }
    try {
      items.push_back({entry["id"].get<std::int64_t>(), parse_keys(entry)});
    } catch (const std::invalid_argument& e) {
      return error(op, std::string("burst publish ") + entry["id"].dump() + ": " + e.what());
    }
  }
  const std::int64_t t_begin = monotonic_ns();
  {
    // Every thread waits at the latch, so the publishes reach the backend
    // together and its group commit has something to group.
    std::latch go(static_cast<std::ptrdiff_t>(items.size()));
    std::vector<std::jthread> threads;
    threads.reserve(items.size());
    for (const Item& item : items) {
      threads.emplace_back([this, &item, &go] {
        go.arrive_and_wait();
        publish_and_answer(item.id, item.keys, "publish");
      });
    }
  }
  json event = make_event("burst_done", monotonic_ns());
  event["id"] = *op.id;
  event["t_begin"] = t_begin;
  event["publishes"] = items.size();
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
    event["cache"] = {{"hits", cache.hits},
                      {"misses", cache.misses},
                      {"evictions", cache.evictions},
                      {"remote_invalidations", cache.remote_invalidations},
                      {"flushes", cache.flushes},
                      {"uncached_loads", cache.uncached_loads},
                      {"entries", cache.entries}};
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
