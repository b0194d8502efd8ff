// WorkerBackend construction: see worker_backend.hpp.
#include "worker_backend.hpp"

#include <string_view>
#include <utility>

#include "pjx/errors.hpp"

#ifndef PJX_WORKER_VERSION
#define PJX_WORKER_VERSION "unknown"
#endif

namespace pjx::harness {
namespace {

constexpr std::string_view kDbVariable = "PJX_INVALIDATION_DB";
// Stands in for an empty PJX_INVALIDATION_DB while the library's reader
// checks the other variables; never opened.
constexpr std::string_view kEmptyPathStandIn = ":memory:";

}  // namespace

std::string implementation_name() { return std::string("pjx-inval-cpp ") + PJX_WORKER_VERSION; }

Settings load_settings(const Settings::Getenv& getenv, const Defect* defect) {
  if (defect == nullptr || !defect->knobs.accept_memory) return Settings::from_env(getenv);
  bool empty_path = false;
  Settings settings = Settings::from_env([&](std::string_view name) -> std::optional<std::string> {
    std::optional<std::string> value = getenv(name);
    if (name == kDbVariable && value && value->empty()) {
      empty_path = true;
      return std::string(kEmptyPathStandIn);
    }
    return value;
  });
  if (empty_path && settings.backend == BackendKind::kSqlite) settings.db_path.clear();
  return settings;
}

nlohmann::json stats_to_json(const SqliteStats& stats) {
  nlohmann::json out = {
      {"published", stats.published},
      {"publish_commits", stats.publish_commits},
      {"wake_mode", pjx::to_string(stats.wake_mode)},
      {"publish_failures", stats.publish_failures},
      {"busy_waits", stats.busy_waits},
      {"polls", stats.polls},
      {"skipped_polls", stats.skipped_polls},
      {"header_skips", stats.header_skips},
      {"poll_errors", stats.poll_errors},
      {"rows_received", stats.rows_received},
      {"keys_delivered", stats.keys_delivered},
      {"malformed_rows", stats.malformed_rows},
      {"handler_errors", stats.handler_errors},
      {"flushes", stats.flushes},
      {"gaps_detected", stats.gaps_detected},
      {"missed_ids", stats.missed_ids},
      {"stalls_detected", stats.stalls_detected},
      {"reopens", stats.reopens},
      {"timed_polls", stats.timed_polls},
      {"wakes", stats.wakes},
      {"doorbell_wakes", stats.doorbell_wakes},
      {"doorbells", stats.doorbells},
      {"doorbell_failures", stats.doorbell_failures},
      {"empty_wakes", stats.empty_wakes},
      {"wake_retries", stats.wake_retries},
      {"wake_failures", stats.wake_failures},
      {"wake_active", stats.wake_active},
      {"queued", stats.queued},
      {"outbox_committed", stats.outbox_committed},
      {"outbox_dropped", stats.outbox_dropped},
      {"outbox_overflows", stats.outbox_overflows},
      {"outbox_retries", stats.outbox_retries},
      {"outbox_depth", stats.outbox_depth},
      {"checkpoints", stats.checkpoints},
      {"checkpoints_busy", stats.checkpoints_busy},
      {"rows_pruned", stats.rows_pruned},
      {"cursor", stats.cursor},
      {"lag", stats.lag},
      {"last_error", stats.last_error},
      {"listening", stats.listening},
  };
  out["since_last_poll_ns"] = stats.since_last_poll ? nlohmann::json(stats.since_last_poll->count())
                                                    : nlohmann::json(nullptr);
  return out;
}

nlohmann::json redis_stats_to_json(const RedisStats& stats) {
  return {
      {"backend", "redis"},
      {"published", stats.published},
      {"publish_failures", stats.publish_failures},
      {"messages_received", stats.messages_received},
      {"keys_delivered", stats.keys_delivered},
      {"malformed_messages", stats.malformed_messages},
      {"handler_errors", stats.handler_errors},
      {"flushes", stats.flushes},
      {"connection_losses", stats.connection_losses},
      {"reconnects", stats.reconnects},
      {"publisher_reconnects", stats.publisher_reconnects},
      {"health_checks", stats.health_checks},
      {"health_check_failures", stats.health_check_failures},
      {"connected", stats.connected},
      {"listening", stats.listening},
      {"last_error", stats.last_error},
  };
}

WorkerBackend make_worker_backend(const Settings& settings, const Defect* defect) {
  if (settings.backend == BackendKind::kNone) {
    throw ConfigError(
        "no invalidation backend is configured; set PJX_INVALIDATION_DB to a database file "
        "shared by the workers (or REDIS_URL), since a worker without a backend has nothing "
        "to test");
  }
  WorkerBackend out;
  if (defect == nullptr) {
    out.backend = settings.make_backend();
    out.impl = implementation_name();
    if (auto sqlite = std::dynamic_pointer_cast<SqliteInvalidationBackend>(out.backend)) {
      out.caps = {"stats", "flush", "rejects_memory", "reopen"};
      // Transient commit failures are kept and committed later, in order.
      if (settings.sqlite.outbox_capacity > 0) out.caps.emplace_back("outbox");
      // Commits wake its listener (I12): delivery well inside poll_interval.
      if (settings.sqlite.wake_on_change) out.caps.emplace_back("wakes");
      out.instance_id = sqlite->instance_id();
      std::weak_ptr<SqliteInvalidationBackend> weak = sqlite;
      out.stats = [weak] {
        auto backend = weak.lock();
        return backend ? stats_to_json(backend->stats()) : nlohmann::json::object();
      };
    }
    if (auto redis = std::dynamic_pointer_cast<RedisInvalidationBackend>(out.backend)) {
      // No database: nothing to reject as private; flushes after reconnects.
      out.caps = {"stats", "flush"};
      std::weak_ptr<RedisInvalidationBackend> weak = redis;
      out.stats = [weak] {
        auto backend = weak.lock();
        return backend ? redis_stats_to_json(backend->stats()) : nlohmann::json::object();
      };
    }
    return out;
  }

  if (settings.backend != BackendKind::kSqlite) {
    throw ConfigError("defect \"" + std::string(defect->name) +
                      "\" needs the SQLite backend; unset REDIS_URL and set PJX_INVALIDATION_DB");
  }
  validate(settings.sqlite);
  const bool let_through = defect->knobs.accept_memory && is_private_database(settings.db_path);
  if (!let_through) {
    // The library's constructor checks the path (and a file already there);
    // it creates nothing, so the probe is dropped at once.
    SqliteInvalidationBackend probe(settings.db_path, settings.sqlite);
  }
  auto mutant = std::make_shared<MutantBackend>(settings.db_path, settings.sqlite, defect->knobs);
  out.backend = mutant;
  out.impl = implementation_name() + " mutant:" + std::string(defect->name);
  out.caps = {"stats"};
  if (!defect->knobs.accept_memory) out.caps.emplace_back("rejects_memory");
  if (defect->knobs.claims_flush) out.caps.emplace_back("flush");  // the no-gap-detection defect
  if (defect->knobs.claims_outbox) out.caps.emplace_back("outbox");  // the outbox-claimed defect
  if (defect->knobs.claims_wakes) out.caps.emplace_back("wakes");    // the silent-wake-loss defect
  out.instance_id = mutant->instance_id();
  std::weak_ptr<MutantBackend> weak = mutant;
  out.stats = [weak] {
    auto backend = weak.lock();
    return backend ? stats_to_json(backend->stats()) : nlohmann::json::object();
  };
  return out;
}

}  // namespace pjx::harness
