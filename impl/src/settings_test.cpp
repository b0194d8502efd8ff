// Tests of Settings: backend selection and precedence, every variable's valid
// and invalid values, the combined check, `ignored`, masking of Redis
// passwords in REDIS_URL errors, and make_backend() for each kind.
#include "pjx/settings.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>  // setenv, unsetenv

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "pjx/errors.hpp"
#include "temp_dir.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;
using Vars = std::map<std::string, std::string>;

Settings::Getenv fake_env(Vars vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Settings read(const Vars& vars) { return Settings::from_env(fake_env(vars)); }

// The message of the ConfigError that reading `vars` throws.
std::string config_error(const Vars& vars) {
  try {
    read(vars);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError was thrown";
  return "";
}

std::string make_backend_error(const Settings& settings) {
  try {
    settings.make_backend();
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "make_backend() threw no ConfigError";
  return "";
}

const Vars kDb = {{"PJX_INVALIDATION_DB", "/some/dir/inval.db"}};

Vars with(Vars vars, const std::string& name, const std::string& value) {
  vars[name] = value;
  return vars;
}

TEST(Settings, BackendKindNames) {
  EXPECT_STREQ(to_string(BackendKind::kNone), "none");
  EXPECT_STREQ(to_string(BackendKind::kSqlite), "sqlite");
  EXPECT_STREQ(to_string(BackendKind::kRedis), "redis");
}

TEST(Settings, NoVariablesMeansNoBackendAndDefaults) {
  const Settings settings = read({});
  EXPECT_EQ(settings.backend, BackendKind::kNone);
  EXPECT_EQ(settings.db_path, "");
  EXPECT_EQ(settings.redis_url, "");
  EXPECT_EQ(settings.ignored, "");
  EXPECT_EQ(settings.sqlite.channel, "pyjinhx:invalidate");
  EXPECT_EQ(settings.sqlite.poll_interval, Seconds(0.5));
  EXPECT_EQ(settings.sqlite.retention, Seconds(5.0));
  EXPECT_EQ(settings.sqlite.busy_timeout, 5000ms);
  EXPECT_EQ(settings.make_backend(), nullptr);
}

TEST(Settings, InvalidationDbSelectsSqlite) {
  const Settings settings = read(kDb);
  EXPECT_EQ(settings.backend, BackendKind::kSqlite);
  EXPECT_EQ(settings.db_path, "/some/dir/inval.db");
  EXPECT_EQ(settings.ignored, "");
}

TEST(Settings, RedisUrlWinsOverInvalidationDbWhichIsIgnored) {
  const Settings settings = read(with(kDb, "REDIS_URL", "redis://localhost:6379/0"));
  EXPECT_EQ(settings.backend, BackendKind::kRedis);
  EXPECT_EQ(settings.redis_url, "redis://localhost:6379/0");
  EXPECT_EQ(settings.db_path, "");
  EXPECT_EQ(settings.ignored, "PJX_INVALIDATION_DB");
}

// A Sentinel setup is a REDIS_URL too (redis+sentinel://, RedisUrl R7).
TEST(Settings, SentinelUrlSelectsRedisAndBuildsABackendWithoutConnecting) {
  const std::string url = "redis+sentinel://:p%40ss@s1.invalid,s2.invalid:5000/mymaster/2";
  const Settings settings = read(with(kDb, "REDIS_URL", url));
  EXPECT_EQ(settings.backend, BackendKind::kRedis);
  EXPECT_EQ(settings.redis_url, url);
  const auto backend = settings.make_backend();
  const auto* redis = dynamic_cast<RedisInvalidationBackend*>(backend.get());
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->url().kind, RedisUrl::Kind::kSentinel);
  EXPECT_EQ(redis->url().master_name, "mymaster");
  EXPECT_EQ(redis->url().sentinels.size(), 2u);
  EXPECT_EQ(redis->url().password, "p@ss");
  EXPECT_EQ(redis->url().db, 2);
}

TEST(Settings, EmptyRedisUrlCountsAsUnset) {
  const Settings sqlite = read(with(kDb, "REDIS_URL", ""));
  EXPECT_EQ(sqlite.backend, BackendKind::kSqlite);
  EXPECT_EQ(sqlite.ignored, "REDIS_URL");
  const Settings none = read({{"REDIS_URL", ""}});
  EXPECT_EQ(none.backend, BackendKind::kNone);
  EXPECT_EQ(none.ignored, "REDIS_URL");
}

TEST(Settings, EmptyInvalidationDbIsRejectedAsAPrivateDatabase) {
  const std::string message = config_error({{"PJX_INVALIDATION_DB", ""}});
  EXPECT_NE(message.find("PJX_INVALIDATION_DB is set but empty"), std::string::npos) << message;
  EXPECT_NE(message.find("private"), std::string::npos) << message;
  EXPECT_NE(message.find("unset it"), std::string::npos) << message;
  // With Redis selected, the empty path is merely ignored.
  const Settings redis = read({{"PJX_INVALIDATION_DB", ""}, {"REDIS_URL", "redis://h"}});
  EXPECT_EQ(redis.backend, BackendKind::kRedis);
  EXPECT_EQ(redis.ignored, "PJX_INVALIDATION_DB");
}

TEST(Settings, ReadsChannelPollIntervalRetentionAndBusyTimeout) {
  Vars vars = kDb;
  vars["PJX_INVALIDATION_CHANNEL"] = "myapp:inval";
  vars["PJX_POLL_INTERVAL"] = "0.25";
  vars["PJX_RETENTION"] = "12";
  vars["PJX_BUSY_TIMEOUT"] = "1.5";
  const Settings settings = read(vars);
  EXPECT_EQ(settings.sqlite.channel, "myapp:inval");
  EXPECT_EQ(settings.sqlite.poll_interval, Seconds(0.25));
  EXPECT_EQ(settings.sqlite.retention, Seconds(12.0));
  EXPECT_EQ(settings.sqlite.busy_timeout, 1500ms);
  EXPECT_EQ(settings.ignored, "");
}

TEST(Settings, WakeDoorbellAndGapDetectionSwitchesAreReadAndDefaultOn) {
  EXPECT_TRUE(read(kDb).sqlite.wake_on_change);
  EXPECT_TRUE(read(kDb).sqlite.detect_gaps);
  EXPECT_TRUE(read(kDb).sqlite.ring_doorbell);
  const Settings off = read(
      with(with(with(kDb, "PJX_WAKE_ON_CHANGE", "0"), "PJX_DETECT_GAPS", "false"), "PJX_DOORBELL", "off"));
  EXPECT_FALSE(off.sqlite.wake_on_change);
  EXPECT_FALSE(off.sqlite.detect_gaps);
  EXPECT_FALSE(off.sqlite.ring_doorbell);
  EXPECT_NE(config_error(with(kDb, "PJX_DOORBELL", "2")).find("PJX_DOORBELL=\"2\" is not a switch"),
            std::string::npos);
  EXPECT_TRUE(read(with(kDb, "PJX_WAKE_ON_CHANGE", "on")).sqlite.wake_on_change);
  const std::string message = config_error(with(kDb, "PJX_DETECT_GAPS", "maybe"));
  EXPECT_NE(message.find("PJX_DETECT_GAPS=\"maybe\" is not a switch"), std::string::npos) << message;
  EXPECT_NE(message.find("set it to 1 or 0"), std::string::npos) << message;
  EXPECT_EQ(read({{"PJX_WAKE_ON_CHANGE", "1"}}).ignored, "PJX_WAKE_ON_CHANGE");
  EXPECT_EQ(read({{"PJX_DOORBELL", "1"}}).ignored, "PJX_DOORBELL");
}

TEST(Settings, AcceptsDecimalSecondsInTheirUsualForms) {
  const std::vector<std::pair<std::string, double>> cases = {
      {"5", 5.0}, {"0.5", 0.5}, {"2e-1", 0.2}, {"1.", 1.0}, {"3.0", 3.0}, {"1E1", 10.0}};
  for (const auto& [text, seconds] : cases) {
    SCOPED_TRACE(text);
    EXPECT_DOUBLE_EQ(read(with(with(kDb, "PJX_POLL_INTERVAL", text), "PJX_RETENTION", "100"))
                         .sqlite.poll_interval.count(),
                     seconds);
    EXPECT_DOUBLE_EQ(read(with(with(kDb, "PJX_POLL_INTERVAL", "0.1"), "PJX_RETENTION", text))
                         .sqlite.retention.count(),
                     seconds);
    EXPECT_EQ(read(with(kDb, "PJX_BUSY_TIMEOUT", text)).sqlite.busy_timeout.count(),
              static_cast<long long>(seconds * 1000));
  }
}

TEST(Settings, PollIntervalThatIsNotANumberNamesVariableValueAndFix) {
  EXPECT_EQ(config_error(with(kDb, "PJX_POLL_INTERVAL", "abc")),
            "PJX_POLL_INTERVAL=\"abc\" is not a number of seconds; set it to a positive decimal "
            "number of seconds such as 0.5, or unset it to use the default");
}

TEST(Settings, RejectsEveryMalformedDuration) {
  const std::vector<std::string> bad = {"abc", "0.5s",  " 0.5",   "0.5 ", "+1", "0x10", "1,5",
                                        "nan", "NaN",   "inf",    "-inf", "-1", "0",    "0.0",
                                        "-0",  "1e999", "1e-999", "--1",  "."};
  for (const char* name : {"PJX_POLL_INTERVAL", "PJX_RETENTION", "PJX_BUSY_TIMEOUT"}) {
    for (const auto& value : bad) {
      SCOPED_TRACE(std::string(name) + "=" + value);
      // Checked whichever backend is selected: none, SQLite, Redis.
      for (const Vars& base : {Vars{}, kDb, Vars{{"REDIS_URL", "redis://h"}}}) {
        const std::string message = config_error(with(base, name, value));
        EXPECT_NE(message.find(std::string(name) + "=\"" + value + "\""), std::string::npos)
            << message;
        EXPECT_NE(message.find("set it to"), std::string::npos) << message;
      }
    }
    SCOPED_TRACE(name);
    const std::string empty = config_error(with(kDb, name, ""));
    EXPECT_NE(empty.find(std::string(name) + " is set but empty"), std::string::npos) << empty;
  }
}

TEST(Settings, MessagesShowControlCharactersEscaped) {
  const std::string message = config_error(with(kDb, "PJX_RETENTION", "5\n"));
  EXPECT_NE(message.find("PJX_RETENTION=\"5\\x0a\""), std::string::npos) << message;
}

TEST(Settings, BusyTimeoutMustFitSqlitesMilliseconds) {
  EXPECT_EQ(read(with(kDb, "PJX_BUSY_TIMEOUT", "0.001")).sqlite.busy_timeout, 1ms);
  std::string message = config_error(with(kDb, "PJX_BUSY_TIMEOUT", "0.0001"));
  EXPECT_NE(message.find("PJX_BUSY_TIMEOUT=\"0.0001\" is shorter than one millisecond"),
            std::string::npos)
      << message;
  message = config_error(with(kDb, "PJX_BUSY_TIMEOUT", "1e7"));
  EXPECT_NE(message.find("PJX_BUSY_TIMEOUT=\"1e7\" is longer"), std::string::npos) << message;
}

TEST(Settings, EmptyChannelIsRejected) {
  const std::string message = config_error(with(kDb, "PJX_INVALIDATION_CHANNEL", ""));
  EXPECT_NE(message.find("PJX_INVALIDATION_CHANNEL is set but empty"), std::string::npos)
      << message;
  EXPECT_NE(message.find("pyjinhx:invalidate"), std::string::npos) << message;
}

TEST(Settings, RetentionShorterThanPollIntervalFailsAsTheConstructorDoes) {
  SqliteOptions options;
  options.poll_interval = Seconds(2.0);
  options.retention = Seconds(1.0);
  std::string constructor_message;
  try {
    validate(options);
  } catch (const ConfigError& e) {
    constructor_message = e.what();
  }
  ASSERT_FALSE(constructor_message.empty()) << "validate() accepted retention < poll_interval";
  const std::string message =
      config_error(with(with(kDb, "PJX_POLL_INTERVAL", "2"), "PJX_RETENTION", "1"));
  EXPECT_NE(message.find(constructor_message), std::string::npos) << message;
  EXPECT_NE(message.find("from the environment"), std::string::npos) << message;
  EXPECT_NE(message.find("PJX_POLL_INTERVAL=\"2\", PJX_RETENTION=\"1\""), std::string::npos)
      << message;
  // Also when only one of them is set and the other is the default.
  EXPECT_NE(config_error(with(kDb, "PJX_POLL_INTERVAL", "10")).find("PJX_POLL_INTERVAL=\"10\""),
            std::string::npos);
}

TEST(Settings, OptionsThatDoNotApplyAreListedAsIgnoredAndNotCombined) {
  Vars vars = {{"PJX_INVALIDATION_CHANNEL", "c"},
               {"PJX_POLL_INTERVAL", "2"},
               {"PJX_RETENTION", "1"},
               {"PJX_BUSY_TIMEOUT", "1"}};
  const Settings none = read(vars);
  EXPECT_EQ(none.backend, BackendKind::kNone);
  EXPECT_EQ(none.ignored,
            "PJX_INVALIDATION_CHANNEL, PJX_POLL_INTERVAL, PJX_RETENTION, PJX_BUSY_TIMEOUT");
  vars["REDIS_URL"] = "redis://h";
  vars["PJX_INVALIDATION_DB"] = "x.db";
  const Settings redis = read(vars);
  EXPECT_EQ(redis.backend, BackendKind::kRedis);
  EXPECT_EQ(redis.sqlite.channel, "c");  // the channel applies to Redis too
  EXPECT_EQ(redis.ignored,
            "PJX_INVALIDATION_DB, PJX_POLL_INTERVAL, PJX_RETENTION, PJX_BUSY_TIMEOUT");
}

const Vars kRedis = {{"REDIS_URL", "redis://h"}};

TEST(Settings, RedisHealthCheckVariablesDefaultAndParseToMilliseconds) {
  EXPECT_EQ(read(kRedis).redis.health_check_interval, 1000ms);
  EXPECT_EQ(read(kRedis).redis.health_check_timeout, 1000ms);
  const Settings set = read(with(with(kRedis, "PJX_REDIS_HEALTH_CHECK_INTERVAL", "0.25"),
                                 "PJX_REDIS_HEALTH_CHECK_TIMEOUT", "2e0"));
  EXPECT_EQ(set.redis.health_check_interval, 250ms);
  EXPECT_EQ(set.redis.health_check_timeout, 2000ms);
  EXPECT_EQ(set.ignored, "");
  // 0 disables the check, and the backend accepts it.
  const Settings off = read(with(kRedis, "PJX_REDIS_HEALTH_CHECK_INTERVAL", "0"));
  EXPECT_EQ(off.redis.health_check_interval, 0ms);
  EXPECT_NE(off.make_backend(), nullptr);
  // Listed as ignored without Redis, still checked.
  EXPECT_EQ(read(with(kDb, "PJX_REDIS_HEALTH_CHECK_TIMEOUT", "1")).ignored,
            "PJX_REDIS_HEALTH_CHECK_TIMEOUT");
  EXPECT_EQ(read({{"PJX_REDIS_HEALTH_CHECK_INTERVAL", "1"}}).ignored,
            "PJX_REDIS_HEALTH_CHECK_INTERVAL");
}

TEST(Settings, RedisHealthCheckVariablesRejectBadValuesNamingTheFix) {
  for (const char* name : {"PJX_REDIS_HEALTH_CHECK_INTERVAL", "PJX_REDIS_HEALTH_CHECK_TIMEOUT"}) {
    for (const std::string value : {"abc", "-1", "nan", "inf", "1s", "", "0.0001", "1e9"}) {
      SCOPED_TRACE(std::string(name) + "=" + value);
      for (const Vars& base : {Vars{}, kDb, kRedis}) {
        const std::string message = config_error(with(base, name, value));
        EXPECT_NE(message.find(name), std::string::npos) << message;
        EXPECT_NE(message.find("set it to"), std::string::npos) << message;
      }
    }
  }
  // Zero only disables the interval; a zero timeout is an error.
  EXPECT_EQ(config_error(with(kRedis, "PJX_REDIS_HEALTH_CHECK_TIMEOUT", "0")),
            "PJX_REDIS_HEALTH_CHECK_TIMEOUT=\"0\" must be greater than zero; set it to a "
            "positive decimal number of seconds such as 1, or unset it to use the default");
  EXPECT_EQ(config_error(with(kRedis, "PJX_REDIS_HEALTH_CHECK_INTERVAL", "-1")),
            "PJX_REDIS_HEALTH_CHECK_INTERVAL=\"-1\" is negative; set it to a "
            "non-negative decimal number of seconds such as 1 (0 disables it), or unset it to "
            "use the default");
}

TEST(Settings, OutboxCapacityIsReadAndZeroDisablesTheOutbox) {
  EXPECT_EQ(read(kDb).sqlite.outbox_capacity, SqliteOptions{}.outbox_capacity);
  EXPECT_EQ(read(with(kDb, "PJX_OUTBOX_CAPACITY", "0")).sqlite.outbox_capacity, 0u);
  EXPECT_EQ(read(with(kDb, "PJX_OUTBOX_CAPACITY", "64")).sqlite.outbox_capacity, 64u);
  EXPECT_EQ(read(with(kDb, "PJX_OUTBOX_CAPACITY", "1000000")).sqlite.outbox_capacity, 1000000u);
  EXPECT_EQ(read(with(kRedis, "PJX_OUTBOX_CAPACITY", "0")).ignored, "PJX_OUTBOX_CAPACITY");
}

TEST(Settings, OutboxCapacityRejectsBadValuesNamingTheFix) {
  for (const std::string value : {"", "-1", "1.5", " 8", "8 ", "abc", "1000001", "1e3",
                                  "99999999999999999999999"}) {
    SCOPED_TRACE("PJX_OUTBOX_CAPACITY=" + value);
    const std::string message = config_error(with(kDb, "PJX_OUTBOX_CAPACITY", value));
    EXPECT_NE(message.find("PJX_OUTBOX_CAPACITY"), std::string::npos) << message;
    EXPECT_NE(message.find("set it to a whole number of events from 0"), std::string::npos)
        << message;
  }
  EXPECT_EQ(config_error(with(kDb, "PJX_OUTBOX_CAPACITY", "2000000")),
            "PJX_OUTBOX_CAPACITY=\"2000000\" is too large; set it to a whole number of events "
            "from 0 (no outbox: a publish that meets a transient failure throws) to 1000000, or "
            "unset it to use the default (1024)");
}

TEST(Settings, BadRedisUrlIsRejectedNamingRedisUrlWithThePasswordMasked) {
  struct Case {
    std::string url, shown, reason;
  };
  const std::vector<Case> cases = {
      {"rediss://:s3cret@cache/0", "REDIS_URL=\"rediss://:***@cache/0\"", "TLS"},
      {"redis://app:s3cret@cache:99999", "REDIS_URL=\"redis://app:***@cache:99999\"", "65535"},
      {"redis://cache:6379/0?password=s3cret&db=x",
       "REDIS_URL=\"redis://cache:6379/0?password=***&db=x\"", "database"},
      {"redis://s3cret@cache", "REDIS_URL=\"redis://***@cache\"", "ambiguous"},
      {"http://cache", "REDIS_URL=\"http://cache\"", "scheme"},
      {"redis+sentinel://:s3cret@s1:26379", "REDIS_URL=\"redis+sentinel://:***@s1:26379\"",
       "no master name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.url);
    const std::string message = config_error(with(kDb, "REDIS_URL", c.url));
    EXPECT_NE(message.find(c.shown), std::string::npos) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << message;
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    EXPECT_NE(message.find("unset REDIS_URL"), std::string::npos) << message;
  }
}

TEST(Settings, MakeBackendBuildsARedisBackendFromTheUrlAndChannelWithoutConnecting) {
  Vars vars = with(kDb, "REDIS_URL", "redis://app:p%40ss@cache.invalid:6380/2");
  vars["PJX_INVALIDATION_CHANNEL"] = "myapp:inval";
  const Settings settings = read(vars);
  ASSERT_EQ(settings.backend, BackendKind::kRedis);
  EXPECT_EQ(settings.redis.channel, "myapp:inval");
  const auto backend = settings.make_backend();
  const auto* redis = dynamic_cast<const RedisInvalidationBackend*>(backend.get());
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->url().host, "cache.invalid");
  EXPECT_EQ(redis->url().port, 6380);
  EXPECT_EQ(redis->url().db, 2);
  EXPECT_EQ(redis->url().username, "app");
  EXPECT_EQ(redis->url().password, "p@ss");
  EXPECT_EQ(redis->options().channel, "myapp:inval");
  EXPECT_EQ(redis->stats().published, 0u);
  // Options the constructor rejects come back naming REDIS_URL, masked.
  Settings bad = settings;
  bad.redis.channel = "";
  const std::string message = make_backend_error(bad);
  EXPECT_NE(message.find("REDIS_URL=\"redis://app:***@cache.invalid:6380/2\""), std::string::npos)
      << message;
  EXPECT_NE(message.find("channel \"\" is empty"), std::string::npos) << message;
  // The default channel when PJX_INVALIDATION_CHANNEL is unset.
  EXPECT_EQ(read({{"REDIS_URL", "redis://h"}}).redis.channel, "pyjinhx:invalidate");
}

TEST(Settings, MakeBackendBuildsASqliteBackendWithTheSettings) {
  testing::TempDir dir;
  const std::string db = (dir.path() / "inval.db").string();
  Vars vars = {{"PJX_INVALIDATION_DB", db},
               {"PJX_INVALIDATION_CHANNEL", "myapp"},
               {"PJX_POLL_INTERVAL", "0.05"},
               {"PJX_RETENTION", "3"},
               {"PJX_BUSY_TIMEOUT", "2"}};
  const auto backend = read(vars).make_backend();
  const auto* sqlite = dynamic_cast<const SqliteInvalidationBackend*>(backend.get());
  ASSERT_NE(sqlite, nullptr);
  EXPECT_EQ(sqlite->db_path(), db);
  EXPECT_EQ(sqlite->options().channel, "myapp");
  EXPECT_EQ(sqlite->options().poll_interval, Seconds(0.05));
  EXPECT_EQ(sqlite->options().retention, Seconds(3.0));
  EXPECT_EQ(sqlite->options().busy_timeout, 2000ms);
}

TEST(Settings, MakeBackendPassesOnTheConstructorsRejectionOfAMissingDirectory) {
  testing::TempDir dir;
  const Settings settings =
      read({{"PJX_INVALIDATION_DB", (dir.path() / "no/such/inval.db").string()}});
  EXPECT_THROW(settings.make_backend(), ConfigError);
}

// Sets (or unsets) a process environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

TEST(Settings, FromEnvReadsTheProcessEnvironment) {
  ScopedEnv redis("REDIS_URL", nullptr);
  ScopedEnv db("PJX_INVALIDATION_DB", "from-process-env.db");
  ScopedEnv channel("PJX_INVALIDATION_CHANNEL", nullptr);
  ScopedEnv poll("PJX_POLL_INTERVAL", "0.125");
  ScopedEnv retention("PJX_RETENTION", nullptr);
  ScopedEnv busy("PJX_BUSY_TIMEOUT", nullptr);
  const Settings settings = Settings::from_env();
  EXPECT_EQ(settings.backend, BackendKind::kSqlite);
  EXPECT_EQ(settings.db_path, "from-process-env.db");
  EXPECT_EQ(settings.sqlite.poll_interval, Seconds(0.125));
  EXPECT_EQ(settings.sqlite.retention, Seconds(5.0));
}

}  // namespace
}  // namespace pjx
