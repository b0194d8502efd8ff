// `backends`, `[backend.<name>]` and the Redis-only fault actions.
#include <gtest/gtest.h>

#include "scenario.hpp"

namespace pjx::harness {
namespace {

const std::vector<std::string> kChecks = {"fanout", "reconnect", "staleness"};

Scenario parse(const std::string& text) { return parse_scenario(text, "s.toml", kChecks); }

std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ScenarioError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

constexpr const char* kHead = R"(name = "x"
guarantee = "g"
checks = ["fanout"]
workers = 2
)";

TEST(ScenarioBackends, DefaultToSqliteOnly) {
  const Scenario s = parse(kHead);
  EXPECT_TRUE(s.applies_to("sqlite"));
  EXPECT_FALSE(s.applies_to("redis"));
  EXPECT_EQ(s.backend, "sqlite");
}

TEST(ScenarioBackends, ARedisTableOverridesChecksAndParamsForRedisOnly) {
  const Scenario s = parse(std::string(kHead) + R"(backends = ["sqlite", "redis"]
[check_params.fanout]
self = "forbidden"
[backend.redis]
why = "the publisher receives its own messages"
checks = ["fanout", "reconnect"]
check_params.fanout = { self = "expected" }
check_params.reconnect = { flush_within_ms = "2 poll" }
requires = ["flush"]
quiesce_timeout = "1s"
pubsub_limit = "64kb 0 0"
)");
  const Scenario sqlite = s.for_backend("sqlite");
  EXPECT_EQ(sqlite.checks, std::vector<std::string>{"fanout"});
  EXPECT_EQ(sqlite.check_params["fanout"]["self"], "forbidden");
  EXPECT_TRUE(sqlite.redis_pubsub_limit.empty());
  const Scenario redis = s.for_backend("redis");
  EXPECT_EQ(redis.backend, "redis");
  EXPECT_EQ(redis.checks, (std::vector<std::string>{"fanout", "reconnect"}));
  EXPECT_EQ(redis.check_params["fanout"]["self"], "expected");
  EXPECT_EQ(redis.resolved_check_params(Timing::quick())["reconnect"]["flush_within_ms"], 100);
  EXPECT_EQ(redis.requires_caps, std::vector<std::string>{"flush"});
  EXPECT_TRUE(redis.quiesce_timeout.has_value());
  EXPECT_EQ(redis.redis_pubsub_limit, "64kb 0 0");
}

TEST(ScenarioBackends, RejectsUnknownOrUnlistedBackendsByName) {
  EXPECT_NE(error_of(std::string(kHead) + "backends = [\"mysql\"]\n").find("unknown backend 'mysql'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kHead) + "backends = []\n").find("at least one"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kHead) + "[backend.redis]\nwhy = \"w\"\n")
                .find("does not list"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kHead) + "backends = [\"redis\"]\n[backend.redis]\nchecks = "
                                           "[\"fanout\"]\n")
                .find("missing key 'why'"),
            std::string::npos);
}

TEST(ScenarioBackends, RejectsAMalformedPubsubLimit) {
  EXPECT_NE(error_of(std::string(kHead) +
                     "backends = [\"redis\"]\n[backend.redis]\nwhy = \"w\"\npubsub_limit = \"1mb\"\n")
                .find("three words"),
            std::string::npos);
}

TEST(ScenarioBackends, RedisFaultsNeedARedisOnlyScenario) {
  const std::string fault = "[[fault]]\naction = \"client_kill\"\nworker = \"w1\"\nat = \"1 poll\"\n";
  EXPECT_NE(error_of(std::string(kHead) + fault).find("applies to the redis backend only"),
            std::string::npos);
  const Scenario s = parse(std::string(kHead) + "backends = [\"redis\"]\n" + fault +
                           "[[fault]]\naction = \"redis_restart\"\nat = \"2 poll\"\nduration = "
                           "\"3 poll\"\n");
  ASSERT_EQ(s.faults.size(), 2u);
  EXPECT_EQ(s.faults[0].worker, "w1");
  EXPECT_TRUE(s.faults[1].is_window());
  EXPECT_NE(error_of(std::string(kHead) + "backends = [\"redis\"]\n[[fault]]\naction = "
                                           "\"client_kill\"\nat = \"1 poll\"\n")
                .find("needs 'worker'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kHead) + "backends = [\"redis\"]\n[[fault]]\naction = "
                                           "\"lock\"\nat = \"1 poll\"\nduration = \"1s\"\n")
                .find("applies to the sqlite backend only"),
            std::string::npos);
}

TEST(ScenarioBackends, ReadsPadBytes) {
  const Scenario s = parse(std::string(kHead) +
                           "[workload]\npublishes = 2\ninterval = \"1 poll\"\npad_bytes = 4096\n");
  EXPECT_EQ(s.workload->pad_bytes, 4096);
}

TEST(ScenarioHosts, APartitionNamesItsHostsDirectionAndAbort) {
  const Scenario s = parse(std::string(kHead) + R"(backends = ["redis"]
hosts = true
[[fault]]
action = "partition"
hosts = ["w1", "redis"]
at = "1s"
duration = "2s"
direction = "out"
)");
  EXPECT_TRUE(s.hosts);
  ASSERT_EQ(s.faults.size(), 1u);
  EXPECT_EQ(s.faults[0].hosts, (std::vector<std::string>{"w1", "redis"}));
  EXPECT_EQ(s.faults[0].direction, "out");
  EXPECT_FALSE(s.faults[0].abort_server_side);
  EXPECT_TRUE(s.faults[0].is_window());
}

TEST(ScenarioHosts, AreRefusedWhereTheyCannotWork) {
  const std::string partition =
      "[[fault]]\naction = \"partition\"\nhosts = [\"w1\"]\nat = \"1s\"\nduration = \"2s\"\n";
  EXPECT_NE(error_of(std::string(kHead) + "hosts = true\n").find("only the Redis backend"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kHead) + "backends = [\"redis\"]\n" + partition)
                .find("needs hosts = true"),
            std::string::npos);
  const std::string redis_hosts = std::string(kHead) + "backends = [\"redis\"]\nhosts = true\n";
  EXPECT_NE(error_of(redis_hosts + "[[fault]]\naction = \"partition\"\nat = \"1s\"\nduration = "
                                   "\"2s\"\n")
                .find("needs 'hosts'"),
            std::string::npos);
  EXPECT_NE(error_of(redis_hosts + "[[fault]]\naction = \"partition\"\nhosts = [\"w9\"]\nat = "
                                   "\"1s\"\nduration = \"2s\"\n")
                .find("'w9' is neither a worker"),
            std::string::npos);
  EXPECT_NE(error_of(redis_hosts + partition + "direction = \"sideways\"\n").find("\"both\""),
            std::string::npos);
  EXPECT_NE(error_of(redis_hosts + "[[fault]]\naction = \"partition\"\nhosts = [\"redis\"]\nat = "
                                   "\"1s\"\nduration = \"2s\"\nabort_server_side = true\n")
                .find("worker hosts only"),
            std::string::npos);
  EXPECT_NE(error_of(redis_hosts + "[[fault]]\naction = \"partition\"\nhosts = [\"w1\"]\nat = "
                                   "\"1s\"\n")
                .find("needs 'duration'"),
            std::string::npos);
  EXPECT_NE(error_of(redis_hosts + "[[fault]]\naction = \"client_kill\"\nworker = \"w1\"\nat = "
                                   "\"1s\"\nhosts = [\"w1\"]\n")
                .find("partition faults only"),
            std::string::npos);
}

}  // namespace
}  // namespace pjx::harness
