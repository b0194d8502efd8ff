// Settings::from_env and make_backend: see pjx/settings.hpp for the contract.
#include "pjx/settings.hpp"

#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <system_error>
#include <vector>

#include "pjx/errors.hpp"
#include "quoted.hpp"

namespace pjx {
namespace {

constexpr std::string_view kRedisUrl = "REDIS_URL";
constexpr std::string_view kDb = "PJX_INVALIDATION_DB";
constexpr std::string_view kChannel = "PJX_INVALIDATION_CHANNEL";
constexpr std::string_view kPollInterval = "PJX_POLL_INTERVAL";
constexpr std::string_view kRetention = "PJX_RETENTION";
constexpr std::string_view kBusyTimeout = "PJX_BUSY_TIMEOUT";
constexpr std::string_view kWake = "PJX_WAKE_ON_CHANGE";
constexpr std::string_view kDetectGaps = "PJX_DETECT_GAPS";
constexpr std::string_view kDoorbell = "PJX_DOORBELL";
constexpr std::string_view kOutboxCapacity = "PJX_OUTBOX_CAPACITY";
constexpr std::string_view kHealthInterval = "PJX_REDIS_HEALTH_CHECK_INTERVAL";
constexpr std::string_view kHealthTimeout = "PJX_REDIS_HEALTH_CHECK_TIMEOUT";

using detail::quoted;

std::string assignment(std::string_view name, std::string_view value) {
  return std::string(name) + "=" + quoted(value);
}

// Parses a strictly positive, finite decimal number of seconds.
// With `zero_disables`, 0 is accepted too (it turns the feature off).
double parse_seconds(std::string_view name, const std::string& value, std::string_view example,
                     bool zero_disables = false) {
  const std::string fix = std::string("; set it to a ") +
                          (zero_disables ? "non-negative" : "positive") +
                          " decimal number of seconds such as " + std::string(example) +
                          (zero_disables ? " (0 disables it)" : "") +
                          ", or unset it to use the default";
  if (value.empty()) throw ConfigError(std::string(name) + " is set but empty" + fix);
  double seconds = 0;
  const char* first = value.data();
  const char* last = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(first, last, seconds, std::chars_format::general);
  if (ec == std::errc::result_out_of_range) {
    throw ConfigError(assignment(name, value) + " is out of range" + fix);
  }
  if (ec != std::errc{} || ptr != last) {
    throw ConfigError(assignment(name, value) + " is not a number of seconds" + fix);
  }
  if (!std::isfinite(seconds)) {
    throw ConfigError(assignment(name, value) + " is not a finite number of seconds" + fix);
  }
  if (seconds < 0 || (seconds == 0 && !zero_disables)) {
    throw ConfigError(assignment(name, value) +
                      (zero_disables ? " is negative" : " must be greater than zero") + fix);
  }
  return seconds;
}

// A Redis health-check duration in whole milliseconds (RedisOptions).
std::chrono::milliseconds parse_redis_ms(std::string_view name, const std::string& value,
                                         bool zero_disables) {
  const double seconds = parse_seconds(name, value, "1", zero_disables);
  const double ms = std::round(seconds * 1000.0);
  if (seconds > 0 && ms < 1.0) {
    throw ConfigError(assignment(name, value) +
                      " is shorter than one millisecond, the resolution of RedisOptions; set it "
                      "to at least 0.001 (the default is 1)");
  }
  if (ms > 86'400'000.0) {
    throw ConfigError(assignment(name, value) +
                      " is longer than a day; set it to a number of seconds such as 1");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

// Parses "1"/"true"/"on" and "0"/"false"/"off" (case as written).
bool parse_switch(std::string_view name, const std::string& value) {
  for (const char* yes : {"1", "true", "on", "yes"}) {
    if (value == yes) return true;
  }
  for (const char* no : {"0", "false", "off", "no"}) {
    if (value == no) return false;
  }
  throw ConfigError(assignment(name, value) + " is not a switch; set it to 1 or 0 (true/false, on/off), or "
                    "unset it to use the default (on)");
}

// A count of events: a non-negative decimal integer, at most a million.
std::size_t parse_outbox_capacity(const std::string& value) {
  const std::string fix =
      "; set it to a whole number of events from 0 (no outbox: a publish that meets a transient "
      "failure throws) to 1000000, or unset it to use the default (1024)";
  if (value.empty()) throw ConfigError(std::string(kOutboxCapacity) + " is set but empty" + fix);
  std::uint64_t n = 0;
  const char* last = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(value.data(), last, n);
  if (ec == std::errc::result_out_of_range || (ec == std::errc{} && ptr == last && n > 1'000'000)) {
    throw ConfigError(assignment(kOutboxCapacity, value) + " is too large" + fix);
  }
  if (ec != std::errc{} || ptr != last) {
    throw ConfigError(assignment(kOutboxCapacity, value) + " is not a whole number" + fix);
  }
  return static_cast<std::size_t>(n);
}

std::chrono::milliseconds parse_busy_timeout(const std::string& value) {
  const double seconds = parse_seconds(kBusyTimeout, value, "5");
  const double ms = std::round(seconds * 1000.0);
  if (ms < 1.0) {
    throw ConfigError(assignment(kBusyTimeout, value) +
                      " is shorter than one millisecond, the resolution of SQLite's busy "
                      "timeout; set it to at least 0.001 (the default is 5)");
  }
  if (ms > static_cast<double>(INT_MAX)) {
    throw ConfigError(assignment(kBusyTimeout, value) +
                      " is longer than SQLite's busy timeout allows (2147483.647 seconds); "
                      "set it to a smaller number of seconds such as 5");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

}  // namespace

const char* to_string(BackendKind kind) noexcept {
  switch (kind) {
    case BackendKind::kNone:
      return "none";
    case BackendKind::kSqlite:
      return "sqlite";
    case BackendKind::kRedis:
      return "redis";
  }
  return "unknown";
}

Settings Settings::from_env() {
  return from_env([](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

Settings Settings::from_env(const Getenv& getenv) {
  const std::optional<std::string> redis_url = getenv(kRedisUrl);
  const std::optional<std::string> db = getenv(kDb);
  const std::optional<std::string> channel = getenv(kChannel);
  const std::optional<std::string> poll_interval = getenv(kPollInterval);
  const std::optional<std::string> retention = getenv(kRetention);
  const std::optional<std::string> busy_timeout = getenv(kBusyTimeout);
  const std::optional<std::string> wake = getenv(kWake);
  const std::optional<std::string> detect_gaps = getenv(kDetectGaps);
  const std::optional<std::string> doorbell = getenv(kDoorbell);
  const std::optional<std::string> outbox_capacity = getenv(kOutboxCapacity);
  const std::optional<std::string> health_interval = getenv(kHealthInterval);
  const std::optional<std::string> health_timeout = getenv(kHealthTimeout);

  Settings settings;
  if (redis_url && !redis_url->empty()) {
    try {
      RedisUrl::parse(*redis_url);
    } catch (const ConfigError& e) {
      throw ConfigError(assignment(kRedisUrl, mask_redis_url(*redis_url)) +
                        " is not a usable Redis URL: " + e.what() +
                        " (or unset REDIS_URL to use the SQLite backend or none)");
    }
    settings.backend = BackendKind::kRedis;
    settings.redis_url = *redis_url;
  } else if (db) {
    if (db->empty()) {
      throw ConfigError(std::string(kDb) +
                        " is set but empty; the empty path opens a private temporary database "
                        "that no other worker sees, so no invalidation would reach them; set it "
                        "to the path of a database file shared by the workers, or unset it for "
                        "request-scoped caching without a backend");
    }
    settings.backend = BackendKind::kSqlite;
    settings.db_path = *db;
  }

  // Every variable that is set is checked, whether it applies or not.
  if (channel) {
    if (channel->empty()) {
      throw ConfigError(std::string(kChannel) +
                        " is set but empty; set it to a channel name such as "
                        "\"myapp:invalidate\", or unset it to use the default \"" +
                        SqliteOptions{}.channel + "\"");
    }
    settings.sqlite.channel = *channel;
    settings.redis.channel = *channel;
  }
  if (poll_interval) {
    settings.sqlite.poll_interval = Seconds(parse_seconds(kPollInterval, *poll_interval, "0.5"));
  }
  if (retention) {
    settings.sqlite.retention = Seconds(parse_seconds(kRetention, *retention, "5"));
  }
  if (busy_timeout) settings.sqlite.busy_timeout = parse_busy_timeout(*busy_timeout);
  if (wake) settings.sqlite.wake_on_change = parse_switch(kWake, *wake);
  if (detect_gaps) settings.sqlite.detect_gaps = parse_switch(kDetectGaps, *detect_gaps);
  if (doorbell) settings.sqlite.ring_doorbell = parse_switch(kDoorbell, *doorbell);
  if (outbox_capacity) settings.sqlite.outbox_capacity = parse_outbox_capacity(*outbox_capacity);
  if (health_interval) {
    settings.redis.health_check_interval = parse_redis_ms(kHealthInterval, *health_interval, true);
  }
  if (health_timeout) {
    settings.redis.health_check_timeout = parse_redis_ms(kHealthTimeout, *health_timeout, false);
  }

  const bool sqlite = settings.backend == BackendKind::kSqlite;
  const bool none = settings.backend == BackendKind::kNone;
  std::vector<std::string_view> ignored;
  if (redis_url && redis_url->empty()) ignored.push_back(kRedisUrl);
  if (db && !sqlite) ignored.push_back(kDb);
  if (channel && none) ignored.push_back(kChannel);
  if (poll_interval && !sqlite) ignored.push_back(kPollInterval);
  if (retention && !sqlite) ignored.push_back(kRetention);
  if (busy_timeout && !sqlite) ignored.push_back(kBusyTimeout);
  if (wake && !sqlite) ignored.push_back(kWake);
  if (detect_gaps && !sqlite) ignored.push_back(kDetectGaps);
  if (doorbell && !sqlite) ignored.push_back(kDoorbell);
  if (outbox_capacity && !sqlite) ignored.push_back(kOutboxCapacity);
  const bool redis = settings.backend == BackendKind::kRedis;
  if (health_interval && !redis) ignored.push_back(kHealthInterval);
  if (health_timeout && !redis) ignored.push_back(kHealthTimeout);
  for (std::string_view name : ignored) {
    if (!settings.ignored.empty()) settings.ignored += ", ";
    settings.ignored += name;
  }

  if (sqlite) {
    try {
      validate(settings.sqlite);
    } catch (const ConfigError& e) {
      std::string from;
      for (auto [name, value] :
           {std::pair{kChannel, &channel}, std::pair{kPollInterval, &poll_interval},
            std::pair{kRetention, &retention}, std::pair{kBusyTimeout, &busy_timeout}}) {
        if (!*value) continue;
        if (!from.empty()) from += ", ";
        from += assignment(name, **value);
      }
      if (from.empty()) from = "no option variables set, defaults used";
      throw ConfigError("the invalidation settings from the environment (" + from +
                        ") do not work together: " + e.what() +
                        " (change the environment variables accordingly)");
    }
  }
  return settings;
}

std::shared_ptr<InvalidationBackend> Settings::make_backend() const {
  switch (backend) {
    case BackendKind::kNone:
      return nullptr;
    case BackendKind::kSqlite:
      return std::make_shared<SqliteInvalidationBackend>(db_path, sqlite);
    case BackendKind::kRedis:
      try {
        return std::make_shared<RedisInvalidationBackend>(redis_url, redis);
      } catch (const ConfigError& e) {
        throw ConfigError(assignment(kRedisUrl, mask_redis_url(redis_url)) +
                          " cannot be used: " + e.what());
      }
  }
  throw ConfigError("unknown backend kind " + std::to_string(static_cast<int>(backend)) +
                    "; use kNone, kSqlite or kRedis");
}

}  // namespace pjx
