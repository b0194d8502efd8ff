#include "redis_defects.hpp"

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "pjx/errors.hpp"

namespace pjx::harness {
namespace {

constexpr std::array<RedisDefect, 4> kRedisDefects = {{
    {"no-flush-on-reconnect",
     "Redis: swallows the flush after a lost connection (keeps a cache that may be stale)"},
    {"drop-own", "Redis: drops deliveries of key sets it published itself"},
    {"no-health-check",
     "Redis: never PINGs its subscription, so a silent server or partition goes unnoticed"},
    {"ack-failed-redis-publish",
     "Redis: answers `published` for a PUBLISH that failed (no primary, a lost connection)"},
}};

class NoFlushOnReconnect final : public InvalidationBackend {
 public:
  explicit NoFlushOnReconnect(std::shared_ptr<InvalidationBackend> inner)
      : inner_(std::move(inner)) {}
  void publish(const KeySet& keys) override { inner_->publish(keys); }
  void start(InvalidationHandler handler, FlushHandler on_flush) override {
    // The defect: every flush request is dropped, for any reason.
    (void)on_flush;
    inner_->start(std::move(handler), [](FlushReason) {});
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<InvalidationBackend> inner_;
};

class AckFailedPublish final : public InvalidationBackend {
 public:
  explicit AckFailedPublish(std::shared_ptr<InvalidationBackend> inner)
      : inner_(std::move(inner)) {}
  void publish(const KeySet& keys) override {
    try {
      inner_->publish(keys);
    } catch (const BackendError&) {
      // The defect: the failure is swallowed, the caller told it worked.
    }
  }
  void start(InvalidationHandler handler, FlushHandler on_flush) override {
    inner_->start(std::move(handler), std::move(on_flush));
  }
  void stop() override { inner_->stop(); }

 private:
  std::shared_ptr<InvalidationBackend> inner_;
};

class DropOwn final : public InvalidationBackend {
 public:
  explicit DropOwn(std::shared_ptr<InvalidationBackend> inner) : inner_(std::move(inner)) {}
  void publish(const KeySet& keys) override {
    {
      std::lock_guard lock(mutex_);
      ++own_[keys];
    }
    try {
      inner_->publish(keys);
    } catch (...) {
      forget(keys);
      throw;
    }
  }
  void start(InvalidationHandler handler, FlushHandler on_flush) override {
    inner_->start(
        [this, handler = std::move(handler)](const KeySet& keys) {
          if (forget(keys)) return;  // the defect: our own message is dropped
          if (handler) handler(keys);
        },
        std::move(on_flush));
  }
  void stop() override { inner_->stop(); }

 private:
  // True when `keys` was published here (and not yet seen back).
  bool forget(const KeySet& keys) {
    std::lock_guard lock(mutex_);
    auto it = own_.find(keys);
    if (it == own_.end()) return false;
    if (--it->second == 0) own_.erase(it);
    return true;
  }

  std::shared_ptr<InvalidationBackend> inner_;
  std::mutex mutex_;
  std::map<KeySet, int> own_;
};

}  // namespace

std::span<const RedisDefect> redis_defects() { return kRedisDefects; }

const RedisDefect* find_redis_defect(std::string_view name) {
  for (const RedisDefect& d : kRedisDefects) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

void adjust_redis_settings(Settings& settings, const RedisDefect& defect) {
  if (defect.name == "no-health-check") settings.redis.health_check_interval = {};
}

std::shared_ptr<InvalidationBackend> wrap_redis_defect(std::shared_ptr<InvalidationBackend> inner,
                                                       const RedisDefect& defect) {
  if (defect.name == "no-health-check") return inner;  // all in adjust_redis_settings
  if (defect.name == "no-flush-on-reconnect") {
    return std::make_shared<NoFlushOnReconnect>(std::move(inner));
  }
  if (defect.name == "ack-failed-redis-publish") {
    return std::make_shared<AckFailedPublish>(std::move(inner));
  }
  return std::make_shared<DropOwn>(std::move(inner));
}

WorkerBackend apply_redis_defect(WorkerBackend backend, const Settings& settings,
                                 const RedisDefect& defect) {
  if (settings.backend != BackendKind::kRedis) {
    throw ConfigError("defect \"" + std::string(defect.name) +
                      "\" breaks the Redis backend; set REDIS_URL (it is " +
                      to_string(settings.backend) + " now)");
  }
  backend.backend = wrap_redis_defect(std::move(backend.backend), defect);
  backend.impl += " mutant:" + std::string(defect.name);
  return backend;
}

}  // namespace pjx::harness
