#include "scenario.hpp"

#include <set>

#include <gtest/gtest.h>

namespace pjx::harness {
namespace {

const std::vector<std::string> kChecks = {"fanout", "latency", "staleness", "rejection"};

Scenario parse(const std::string& text) { return parse_scenario(text, "s.toml", kChecks); }

// The message of the ScenarioError that parsing `text` throws.
std::string error_of(const std::string& text) {
  try {
    parse(text);
  } catch (const ScenarioError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return "";
}

constexpr const char* kMinimal = R"(name = "x"
guarantee = "g"
checks = ["fanout"]
workers = 2
)";

TEST(ScenarioLoad, ReadsACompleteScenario) {
  const Scenario s = parse(R"(
name = "pause-short"
guarantee = "A short pause loses nothing."
checks = ["staleness", "fanout"]
expect = "pass"
requires = ["stats"]
timing = "documented"
quiesce_timeout = "3s"
workers = 3

[check_params.staleness]
slack_ms = 300

[[worker]]
name = "late"
channel = "b"
env = { PJX_POLL_INTERVAL = "0.1" }
db = "{dir}/other.db"
start_at = "10 poll"

[workload]
publishes = 20
interval = "1 poll"
publishers = ["w0", "w1"]
shared_keys = 2
key_space = 10

[[publish]]
at = "1s"
worker = "w2"
keys = ["user:1"]
await = true

[[fault]]
action = "pause"
worker = "w2"
at = "5 poll"
duration = "0.5 retention"

[[fault]]
action = "clock_step"
worker = "w1"
at = "2s"
offset = "+1h"

[[file]]
path = "{dir}/notsqlite.db"
text = "hello"
)");
  EXPECT_EQ(s.name, "pause-short");
  EXPECT_EQ(s.checks, (std::vector<std::string>{"staleness", "fanout"}));
  EXPECT_EQ(s.check_params["staleness"]["slack_ms"], 300);
  EXPECT_EQ(s.requires_caps, std::vector<std::string>{"stats"});
  EXPECT_EQ(s.timing, "documented");
  ASSERT_EQ(s.workers.size(), 4u);
  EXPECT_EQ(s.workers[0].name, "w0");
  EXPECT_EQ(s.workers[3].name, "late");
  EXPECT_EQ(s.workers[3].channel, "b");
  EXPECT_EQ(s.workers[3].env.at("PJX_POLL_INTERVAL"), "0.1");
  EXPECT_EQ(s.workers[3].db, "{dir}/other.db");
  EXPECT_DOUBLE_EQ(s.workers[3].start_at->resolve_ms(Timing::quick()), 500);
  ASSERT_TRUE(s.workload.has_value());
  EXPECT_EQ(s.workload->publishes, 20);
  EXPECT_EQ(s.workload->publishers, (std::vector<std::string>{"w0", "w1"}));
  ASSERT_EQ(s.publishes.size(), 1u);
  EXPECT_TRUE(s.publishes[0].await);
  ASSERT_EQ(s.faults.size(), 2u);
  EXPECT_DOUBLE_EQ(s.faults[0].duration->resolve_ms(Timing::documented()), 2500);
  EXPECT_DOUBLE_EQ(s.faults[1].offset_s, 3600);
  ASSERT_EQ(s.files.size(), 1u);
  EXPECT_EQ(s.files[0].text, "hello");
}

TEST(ScenarioLoad, StorageFaultsNeedADurationAndVfsFaultAWorkerWithPjxWorkerFault) {
  std::string e = error_of(std::string(kMinimal) + "[[fault]]\naction = \"disk_full\"\nat = \"1 poll\"\n");
  EXPECT_NE(e.find("fault 'disk_full' needs 'duration'"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) +
               "[[fault]]\naction = \"vfs_fault\"\nworker = \"w0\"\nat = \"1 poll\"\nduration = \"1 poll\"\n");
  EXPECT_NE(e.find("PJX_WORKER_FAULT"), std::string::npos) << e;
  const Scenario s = parse(R"(name = "x"
guarantee = "g"
checks = ["fanout"]
[[worker]]
name = "f"
env = { PJX_WORKER_FAULT = "kind=write", PJX_WORKER_FAULT_ARMED = "0" }
[[fault]]
action = "vfs_fault"
worker = "f"
at = "1 poll"
duration = "2 poll"
[[fault]]
action = "disk_full"
at = "1 poll"
duration = "2 poll"
)");
  ASSERT_EQ(s.faults.size(), 2u);
  EXPECT_EQ(s.faults[0].worker, "f");
  EXPECT_TRUE(s.faults[1].is_window());
}

TEST(ScenarioLoad, StopNeedsAWorkerAndReplaceDbMayTakeItsSidecars) {
  std::string e = error_of(std::string(kMinimal) + "[[fault]]\naction = \"stop\"\nat = \"1 poll\"\n");
  EXPECT_NE(e.find("fault 'stop' needs 'worker'"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) +
               "[[fault]]\naction = \"lock\"\nat = \"1 poll\"\nduration = \"2 poll\"\nsidecars = true\n");
  EXPECT_NE(e.find("'sidecars' applies to delete_db and replace_db faults only"), std::string::npos) << e;
  const Scenario s = parse(std::string(kMinimal) +
                           "[[fault]]\naction = \"stop\"\nworker = \"w1\"\nat = \"1 poll\"\n"
                           "[[fault]]\naction = \"replace_db\"\nat = \"2 poll\"\nsidecars = true\n");
  ASSERT_EQ(s.faults.size(), 2u);
  EXPECT_EQ(s.faults[0].worker, "w1");
  EXPECT_FALSE(s.faults[0].is_window());
  EXPECT_TRUE(s.faults[1].sidecars);
}

TEST(ScenarioLoad, APowerLossTakesNoWorkerAndMayKeepAShareOfTheUnsyncedWrites) {
  const Scenario s = parse(std::string(kMinimal) + "[[fault]]\naction = \"power_loss\"\nat = \"1 poll\"\n" +
                           "[[fault]]\naction = \"power_loss\"\nat = \"3 poll\"\nkeep = 0.5\n");
  ASSERT_EQ(s.faults.size(), 2u);
  EXPECT_EQ(s.faults[0].keep, 0.0);
  EXPECT_EQ(s.faults[1].keep, 0.5);
  std::string e = error_of(std::string(kMinimal) +
                           "[[fault]]\naction = \"power_loss\"\nworker = \"w0\"\nat = \"1 poll\"\n");
  EXPECT_NE(e.find("fault 'power_loss' takes no 'worker'"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "[[fault]]\naction = \"power_loss\"\nat = \"1 poll\"\nkeep = 1.5\n");
  EXPECT_NE(e.find("a number from 0 to 1, got 1.5"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "[[fault]]\naction = \"replace_db\"\nat = \"1 poll\"\nkeep = 0.5\n");
  EXPECT_NE(e.find("'keep' applies to power_loss faults only"), std::string::npos) << e;
}

TEST(ScenarioLoad, AWriteMayInvalidateSeveralKeysIncludingItsOwn) {
  const std::string reads = std::string(kMinimal) + "[reads]\nops = 0\n";
  const Scenario s = parse(reads + "[[write]]\nat = \"1 poll\"\nworker = \"w0\"\nkey = \"a\"\n"
                                   "keys = [\"list\", \"a\"]\n");
  ASSERT_EQ(s.data_ops.size(), 1u);
  EXPECT_EQ(s.data_ops[0].keys, (std::vector<std::string>{"list", "a"}));
  const std::string e = error_of(reads + "[[write]]\nat = \"1 poll\"\nworker = \"w0\"\nkey = \"a\"\n"
                                         "keys = [\"list\"]\n");
  EXPECT_NE(e.find("must hold its 'key' \"a\""), std::string::npos) << e;
  EXPECT_NE(e.find("s.toml:"), std::string::npos) << e;
}

TEST(ScenarioLoad, AMountIsAFuseMirrorInsideTheRunDirectory) {
  const Scenario s = parse(std::string(kMinimal) + "[[mount]]\npath = \"{dir}/fuse\"\nfs = \"fuse\"\n");
  ASSERT_EQ(s.mounts.size(), 1u);
  EXPECT_EQ(s.mounts[0].path, "{dir}/fuse");
  std::string e = error_of(std::string(kMinimal) + "[[mount]]\npath = \"{dir}/n\"\nfs = \"nfs\"\n");
  EXPECT_NE(e.find("fs 'nfs' is not known"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "[[mount]]\npath = \"/mnt/x\"\nfs = \"fuse\"\n");
  EXPECT_NE(e.find("must be inside the run directory"), std::string::npos) << e;
}

TEST(ScenarioLoad, BadTomlNamesTheFileAndLine) {
  const std::string e = error_of("name = \"x\"\nguarantee = \"g\"\nchecks = [\"fanout\"\n");
  EXPECT_EQ(e.rfind("s.toml:", 0), 0u) << e;
  EXPECT_NE(e.find("s.toml:3:"), std::string::npos) << e;
}

TEST(ScenarioLoad, UnknownKeysAreRejectedWithTheirNameAndLine) {
  std::string e = error_of(std::string(kMinimal) + "colour = \"red\"\n");
  EXPECT_NE(e.find("unknown key 'colour'"), std::string::npos) << e;
  EXPECT_NE(e.find("s.toml:5:"), std::string::npos) << e;

  e = error_of(std::string(kMinimal) + "[workload]\npublishes = 3\ninterval = \"1 poll\"\nrat = 2\n");
  EXPECT_NE(e.find("unknown key 'rat' in [workload]"), std::string::npos) << e;
  EXPECT_NE(e.find("s.toml:8:"), std::string::npos) << e;

  e = error_of(std::string(kMinimal) +
               "[[fault]]\naction = \"pause\"\nworker = \"w0\"\nat = \"1s\"\n"
               "duration = \"1s\"\nduratoin = \"2s\"\n");
  EXPECT_NE(e.find("unknown key 'duratoin' in [[fault]]"), std::string::npos) << e;
}

TEST(ScenarioLoad, RejectsUnknownChecksActionsAndWorkers) {
  EXPECT_NE(error_of("name = \"x\"\nguarantee = \"g\"\nchecks = [\"fanut\"]\nworkers = 1\n")
                .find("unknown check 'fanut'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "[[fault]]\naction = \"explode\"\nat = \"1s\"\n")
                .find("unknown fault action 'explode'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) +
                     "[[fault]]\naction = \"kill\"\nworker = \"w9\"\nat = \"1s\"\n")
                .find("no worker named 'w9'"),
            std::string::npos);
  EXPECT_NE(error_of(std::string(kMinimal) + "[[fault]]\naction = \"pause\"\nworker = \"w1\"\n"
                                             "at = \"1s\"\n")
                .find("needs 'duration'"),
            std::string::npos);
}

TEST(ScenarioLoad, RejectsWrongTypesAndBadDurationsWithTheLine) {
  std::string e = error_of(std::string(kMinimal) + "expect = \"maybe\"\n");
  EXPECT_NE(e.find("expect must be"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "[workload]\npublishes = \"ten\"\n");
  EXPECT_NE(e.find("'publishes' in [workload] must be an integer"), std::string::npos) << e;
  EXPECT_NE(e.find("s.toml:6:"), std::string::npos) << e;
  e = error_of(std::string(kMinimal) + "[workload]\npublishes = 3\ninterval = \"3 polls\"\n");
  EXPECT_NE(e.find("bad duration \"3 polls\""), std::string::npos) << e;
  EXPECT_NE(e.find("s.toml:7:"), std::string::npos) << e;
}

TEST(ScenarioLoad, ExpectFatalNeedsAWhy) {
  const std::string e = error_of(
      "name = \"r\"\nguarantee = \"g\"\nchecks = [\"rejection\"]\n"
      "[[worker]]\nname = \"mem\"\ndb = \":memory:\"\nexpect_fatal = true\n");
  EXPECT_NE(e.find("no 'why'"), std::string::npos) << e;
}

TEST(ScenarioLoad, MissingFileIsAnError) {
  EXPECT_THROW(load_scenario("/nonexistent/dir/s.toml", kChecks), ScenarioError);
}

}  // namespace
}  // namespace pjx::harness

#ifdef PJX_SOURCE_DIR
#include <filesystem>

#include "check/checkers.hpp"

namespace pjx::harness {
namespace {

// Every scenario shipped in scenarios/ loads, and names are unique per folder.
TEST(ScenarioFiles, EveryShippedScenarioLoads) {
  namespace fs = std::filesystem;
  std::size_t loaded = 0;
  for (const char* folder : {"conformance", "repro"}) {
    std::set<std::string> names;
    const fs::path dir = fs::path(PJX_SOURCE_DIR) / "scenarios" / folder;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.path().extension() != ".toml") continue;
      const Scenario s = load_scenario(entry.path(), check_names());
      EXPECT_TRUE(names.insert(s.name).second) << s.name;
      EXPECT_EQ(s.name, entry.path().stem().string()) << "file name and name differ";
      ++loaded;
    }
  }
  EXPECT_GE(loaded, 14u);
}

}  // namespace
}  // namespace pjx::harness
#endif
