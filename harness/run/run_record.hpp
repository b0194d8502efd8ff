// Result assembly: what a run writes about itself. The `meta` record that
// opens its history (harness/HISTORY.md: the scenario, its parameters, each
// worker's command and environment, the planned workload and faults), and
// the ScenarioResult built from the judged history.
//
// Thread safety: functions without shared state.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "check/history.hpp"
#include "run_redis.hpp"
#include "runner.hpp"
#include "scenario.hpp"
#include "timeline.hpp"
#include "worker_slots.hpp"

namespace pjx::harness {

// What the meta record describes.
struct RunFacts {
  const Scenario& scenario;
  const RunOptions& options;
  const Timing& timing;
  const Workers& workers;
  const std::vector<PlannedAction>& plan;
  std::string channel;
  std::filesystem::path db;     // SQLite: the database; unused for Redis
  std::filesystem::path truth;  // the [reads] truth store
  const RunRedis* redis;        // null for the SQLite backend
};

Json meta_record(const RunFacts& facts);

// The result of `scenario` before it runs: name ("redis/<name>" for the
// Redis backend), file, guarantee, expect, timing, seed, rerun command.
ScenarioResult new_result(const Scenario& scenario, const RunOptions& options,
                          const Timing& timing);

// Judges `history` into `result` and sets its duration from `started`.
void finish_result(ScenarioResult& result, const std::vector<Json>& history,
                   std::chrono::steady_clock::time_point started);

}  // namespace pjx::harness
