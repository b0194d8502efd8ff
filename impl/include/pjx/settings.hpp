// Settings: which invalidation backend a worker uses, read from the
// environment as pyjinhx's PjxSettings.from_env() does.
//
//   REDIS_URL                 selects the Redis backend (wins when both are set);
//                             redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or
//                             unix://[[USER]:PASSWORD@]/PATH[?db=DB] (RedisUrl);
//                             with Redis Sentinel, redis+sentinel://[[USER]:
//                             PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER_NAME[/DB]
//                             (the sentinels, port 26379 by default, and the
//                             name they monitor the primary under; the user,
//                             password and db are the primary's)
//   PJX_INVALIDATION_DB       selects the SQLite backend with this path
//   PJX_INVALIDATION_CHANNEL  channel (default "pyjinhx:invalidate"), for
//                             SQLite and Redis alike
//   PJX_POLL_INTERVAL         seconds between polls (default 0.5)
//   PJX_RETENTION             seconds rows are kept (default 5.0)
//   PJX_BUSY_TIMEOUT          seconds a statement waits for another process's
//                             lock (default 5; not in upstream: an extension
//                             of pjx-inval, maps to SqliteOptions::busy_timeout)
//   PJX_WAKE_ON_CHANGE        1/0: SqliteOptions::wake_on_change (default 1;
//                             an extension, like PJX_DETECT_GAPS below)
//   PJX_DETECT_GAPS           1/0: SqliteOptions::detect_gaps (default 1; 0
//                             reproduces upstream's silent loss after a stall)
//   PJX_DOORBELL              1/0: SqliteOptions::ring_doorbell (default 1)
//   PJX_OUTBOX_CAPACITY       events a publish may queue after a transient
//                             failure (default 1024; 0 disables the outbox,
//                             so such a publish throws, as upstream's does;
//                             SqliteOptions::outbox_capacity)
//   PJX_REDIS_HEALTH_CHECK_INTERVAL  seconds between PINGs on the Redis
//                             listener's connection (default 1; 0 disables;
//                             RedisOptions::health_check_interval)
//   PJX_REDIS_HEALTH_CHECK_TIMEOUT   seconds a PING may go unanswered before
//                             the connection counts as lost (default 1;
//                             RedisOptions::health_check_timeout)
//
// A REDIS_URL that RedisUrl::parse rejects throws ConfigError naming
// REDIS_URL with the password masked. The Redis backend's other options
// (connect/command timeouts, reconnect backoff) have no variables and keep
// their defaults. The two health-check variables are rounded to whole
// milliseconds; PJX_REDIS_HEALTH_CHECK_INTERVAL alone accepts 0.
//
// Neither REDIS_URL nor PJX_INVALIDATION_DB: no backend, and the load cache
// stays request-scoped. An empty REDIS_URL counts as unset; an empty
// PJX_INVALIDATION_DB is an error (the empty path is a private database that
// no other worker sees).
//
// Durations are decimal seconds ("0.5", "5", "2e-1"), parsed strictly: empty
// values, surrounding spaces, trailing junk, "nan", "inf", negative and zero
// values are rejected (zero only where it disables a feature, as for
// PJX_REDIS_HEALTH_CHECK_INTERVAL). Every variable that is set is checked,
// even when it does not apply to the chosen backend (such variables are also listed in
// `ignored`); for the SQLite backend the options are then checked together
// as the SqliteInvalidationBackend constructor does (e.g. retention must be
// at least poll_interval). A bad value throws ConfigError naming the
// variable, the value and the fix.
//
// Thread safety: a Settings is a plain value. from_env() reads the process
// environment with std::getenv, which races with setenv() in other threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pjx/invalidation_backend.hpp"
#include "pjx/redis_backend.hpp"
#include "pjx/sqlite_backend.hpp"

namespace pjx {

enum class BackendKind { kNone, kSqlite, kRedis };
// "none", "sqlite" or "redis".
const char* to_string(BackendKind kind) noexcept;

struct Settings {
  BackendKind backend = BackendKind::kNone;
  std::string db_path;    // for kSqlite
  std::string redis_url;  // for kRedis, as given (it may contain a password)
  SqliteOptions sqlite;   // channel, poll_interval, retention, busy_timeout
  RedisOptions redis;     // channel (the same as sqlite.channel), health check; others default
  // Names of variables that were set but do not apply to the chosen backend
  // (for example "PJX_INVALIDATION_DB" when REDIS_URL wins, or
  // "PJX_POLL_INTERVAL" with Redis or no backend, or an empty REDIS_URL),
  // separated by ", ", in the order of the table above; empty when none.
  // Callers may warn.
  std::string ignored;

  using Getenv = std::function<std::optional<std::string>(std::string_view name)>;
  // Reads the process environment.
  static Settings from_env();
  // Reads through `getenv` (which returns nullopt for an unset variable), for
  // tests and for embedding.
  static Settings from_env(const Getenv& getenv);

  // Builds the selected backend (a SqliteInvalidationBackend or a
  // RedisInvalidationBackend; neither connects yet), or returns nullptr for
  // kNone. Throws ConfigError when the backend cannot be built from these
  // settings, with any password in the Redis URL masked.
  std::shared_ptr<InvalidationBackend> make_backend() const;
};

}  // namespace pjx
