// The chaos plans: drawn from the seed alone, written as scenario files that
// read back the same, and within the rules chaos_plan.hpp states.
#include "chaos_plan.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "check/checkers.hpp"
#include "scenario_writer.hpp"

namespace pjx::harness {
namespace {

ChaosConfig config(std::uint64_t seed, std::vector<ChaosConfig::Impl> mix = {{"cpp", "pjx-worker", 4}}) {
  ChaosConfig c;
  c.seed = seed;
  c.workers = 0;
  for (const auto& m : mix) c.workers += m.count;
  c.mix = std::move(mix);
  c.faults = chaos_fault_kinds();
  return c;
}

std::string text(const Scenario& s) { return scenario_to_toml(s); }

TEST(ChaosPlan, TheSameSeedAndEpochGiveTheSamePlanAndOthersDiffer) {
  const Timing t = Timing::quick();
  EXPECT_EQ(text(plan_chaos_epoch(config(7), 3, t)), text(plan_chaos_epoch(config(7), 3, t)));
  EXPECT_NE(text(plan_chaos_epoch(config(7), 3, t)), text(plan_chaos_epoch(config(7), 4, t)));
  EXPECT_NE(text(plan_chaos_epoch(config(7), 3, t)), text(plan_chaos_epoch(config(8), 3, t)));
}

TEST(ChaosPlan, APlanIsAScenarioFileThatReadsBackTheSame) {
  const Scenario plan = plan_chaos_epoch(config(11), 0, Timing::quick());
  const std::string written = scenario_to_toml(plan, "a header\nof two lines");
  const Scenario again = parse_scenario(written, "plan.toml", check_names());
  EXPECT_EQ(scenario_to_toml(again, "a header\nof two lines"), written);
  EXPECT_EQ(again.faults.size(), plan.faults.size());
  EXPECT_EQ(written.rfind("# a header\n# of two lines\n", 0), 0u);
}

double at_ms(const FaultSpec& f) { return f.at.resolve_ms(Timing::quick()); }

TEST(ChaosPlan, KeepsRestartsAndTheHarnessesFileOperationsOutOfTheWindowsThatWouldRefuseThem) {
  for (std::uint64_t seed = 1; seed <= 40; ++seed) {
    const Scenario plan = plan_chaos_epoch(config(seed), 0, Timing::quick());
    std::vector<std::pair<double, double>> refusing, blocking;
    for (const FaultSpec& f : plan.faults) {
      if (!f.duration) continue;
      const std::pair<double, double> w{at_ms(f), at_ms(f) + f.duration->resolve_ms(Timing::quick())};
      if (f.action == "disk_full" || f.action == "readonly_dir") refusing.push_back(w);
      if (f.action == "disk_full" || f.action == "readonly_dir" || f.action == "lock") blocking.push_back(w);
    }
    for (std::size_t i = 0; i < refusing.size(); ++i) {
      for (std::size_t j = i + 1; j < refusing.size(); ++j) {
        EXPECT_TRUE(refusing[i].second < refusing[j].first || refusing[j].second < refusing[i].first)
            << "seed " << seed << ": a disk-full and a read-only window overlap (mounts on one folder do not nest)";
      }
    }
    std::vector<std::pair<double, double>> locks;
    for (const FaultSpec& f : plan.faults) {
      if (f.action != "lock") continue;
      const double from = at_ms(f), to = from + f.duration->resolve_ms(Timing::quick());
      for (const auto& [a, b] : locks) {
        EXPECT_TRUE(to < a || from > b) << "seed " << seed << ": the harness holds one lock at a time";
      }
      locks.emplace_back(from, to);
    }
    for (const FaultSpec& f : plan.faults) {
      const double t = at_ms(f);
      auto inside = [&](const std::vector<std::pair<double, double>>& ws) {
        return std::any_of(ws.begin(), ws.end(), [&](const auto& w) { return t >= w.first && t <= w.second; });
      };
      if (f.action == "restart") {
        EXPECT_FALSE(inside(refusing)) << "seed " << seed << " at " << t;
      }
      if (f.action == "snapshot_db" || f.action == "restore_db" || f.action == "replace_db" ||
          f.action == "delete_db") {
        EXPECT_FALSE(inside(blocking)) << "seed " << seed << " " << f.action << " at " << t;
      }
    }
  }
}

TEST(ChaosPlan, DrawsEveryKindAskedForAndPairsKillsWithRestarts) {
  const Scenario plan = plan_chaos_epoch(config(5), 0, Timing::quick());
  std::multiset<std::string> actions;
  for (const FaultSpec& f : plan.faults) actions.insert(f.action);
  for (const char* a : {"pause", "kill", "restart", "lock", "clock_step", "vfs_fault", "disk_full",
                        "replace_db", "delete_db", "snapshot_db", "restore_db", "readonly_dir"}) {
    EXPECT_GT(actions.count(a), 0u) << a;
  }
  EXPECT_EQ(actions.count("kill"), actions.count("restart"));
  EXPECT_TRUE(std::is_sorted(plan.faults.begin(), plan.faults.end(),
                             [](const FaultSpec& a, const FaultSpec& b) { return at_ms(a) < at_ms(b); }));
  // The io fault goes to a pjx-worker that starts with its fault disarmed.
  for (const FaultSpec& f : plan.faults) {
    if (f.action != "vfs_fault") continue;
    const WorkerSpec* w = plan.find_worker(f.worker);
    ASSERT_NE(w, nullptr);
    EXPECT_EQ(w->env.at("PJX_WORKER_FAULT_ARMED"), "0");
  }
}

TEST(ChaosPlan, TheMixGivesEachWorkerItsImplementationsCommand) {
  const ChaosConfig c = config(3, {{"cpp", "pjx-worker", 2}, {"python", "python3 up.py", 2}});
  const Scenario plan = plan_chaos_epoch(c, 0, Timing::quick());
  ASSERT_EQ(plan.workers.size(), 4u);
  EXPECT_EQ(*plan.workers[0].cmd, "pjx-worker");
  EXPECT_EQ(*plan.workers[3].cmd, "python3 up.py");
  for (const FaultSpec& f : plan.faults) {
    if (f.action == "vfs_fault") {
      EXPECT_TRUE(f.worker == "w0" || f.worker == "w1") << f.worker;
    }
  }
  EXPECT_EQ(chaos_worker_impls(c)[2], (std::pair<std::string, std::string>{"w2", "python"}));
  // The late worker (the last: an upstream one here) publishes and reads
  // too, once it is ready; by default a late starter would do neither.
  ASSERT_TRUE(plan.workers[3].start_at.has_value());
  const std::vector<std::string> all = {"w0", "w1", "w2", "w3"};
  EXPECT_EQ(plan.workload->publishers, all);
  EXPECT_EQ(plan.reads->readers, all);
}

TEST(ChaosPlan, RedisPlansHoldOnlyTheFaultsRedisHas) {
  ChaosConfig c = config(2);
  c.backend = "redis";
  const Scenario plan = plan_chaos_epoch(c, 0, Timing::quick());
  for (const FaultSpec& f : plan.faults) {
    EXPECT_TRUE(f.action == "pause" || f.action == "kill" || f.action == "restart") << f.action;
  }
  EXPECT_EQ(plan.backends, std::vector<std::string>{"redis"});
}

TEST(ScenarioWriter, EveryShippedScenarioReadsBackTheSame) {
  namespace fs = std::filesystem;
  std::size_t n = 0;
  for (const char* folder : {"conformance", "repro"}) {
    for (const auto& entry : fs::directory_iterator(fs::path(PJX_SOURCE_DIR) / "scenarios" / folder)) {
      if (entry.path().extension() != ".toml") continue;
      const Scenario s = load_scenario(entry.path(), check_names());
      const std::string once = scenario_to_toml(s);
      const std::string twice = scenario_to_toml(parse_scenario(once, entry.path().string(), check_names()));
      EXPECT_EQ(once, twice) << entry.path();
      ++n;
    }
  }
  EXPECT_GE(n, 20u);
}

TEST(ScenarioWriter, EscapesWhatTomlMust) {
  EXPECT_EQ(toml_string("a\"b\\c\nd\te\x01"), "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  EXPECT_EQ(toml_string("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
}

}  // namespace
}  // namespace pjx::harness
