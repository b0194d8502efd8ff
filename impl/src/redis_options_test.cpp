// Tests of RedisOptions validation by the RedisInvalidationBackend
// constructor (which does not connect): each bad value is refused with a
// ConfigError naming the option, the value and the fix.
#include <gtest/gtest.h>

#include <string>

#include "pjx/errors.hpp"
#include "pjx/redis_backend.hpp"

namespace pjx {
namespace {

using namespace std::chrono_literals;

// The message of the ConfigError the constructor throws for `options`.
std::string config_error(const RedisOptions& options) {
  try {
    RedisInvalidationBackend backend("redis://127.0.0.1:1", options);
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "the constructor accepted the options";
  return "";
}

TEST(RedisOptions, HealthCheckDefaultsToOneSecondIntervalAndTimeout) {
  const RedisOptions options;
  EXPECT_EQ(options.health_check_interval, 1000ms);
  EXPECT_EQ(options.health_check_timeout, 1000ms);
}

TEST(RedisOptions, ZeroIntervalDisablesTheHealthCheckAndIsAccepted) {
  RedisOptions options;
  options.health_check_interval = 0ms;
  options.health_check_timeout = 0ms;  // unused when disabled
  EXPECT_NO_THROW(RedisInvalidationBackend("redis://127.0.0.1:1", options));
}

TEST(RedisOptions, NegativeHealthCheckValuesAreRefusedNamingTheFix) {
  RedisOptions options;
  options.health_check_interval = -1ms;
  std::string message = config_error(options);
  EXPECT_NE(message.find("health_check_interval -1 ms is negative"), std::string::npos) << message;
  EXPECT_NE(message.find("0 disables"), std::string::npos) << message;
  options = {};
  options.health_check_timeout = -5ms;
  message = config_error(options);
  EXPECT_NE(message.find("health_check_timeout -5 ms is negative"), std::string::npos) << message;
}

TEST(RedisOptions, ZeroTimeoutIsRefusedWhileTheCheckIsOn) {
  RedisOptions options;
  options.health_check_timeout = 0ms;
  const std::string message = config_error(options);
  EXPECT_NE(message.find("health_check_timeout 0 ms must be positive while "
                         "health_check_interval is 1000 ms"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("set health_check_interval to 0"), std::string::npos) << message;
}

}  // namespace
}  // namespace pjx
