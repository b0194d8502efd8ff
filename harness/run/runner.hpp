// Runner: runs one scenario against real worker processes and judges it.
//
// Phases (each recorded as a `phase` record in the history):
//   setup     create <dir>/<scenario>/, write the scenario's [[file]]s
//   start     spawn the workers, send `start`, wait for `ready` or `fatal`
//             (and, for a worker that must be rejected, its exit); a worker
//             that lacks a capability in `requires` makes the scenario `skip`
//   workload  the timeline: publishes, late worker starts, faults
//   heal      end every fault still active (SIGCONT, release the lock,
//             unmount), wait for every publish to be answered, then probe
//             the rows left in the database (`rows`)
//   quiesce   wait until every required delivery arrived (deadline
//             poll_interval + 2 s, or the scenario's quiesce_timeout), then
//             2 x poll_interval more to catch late or duplicate deliveries
//   check     probes while the workers run: journal_mode, sidecars; stats
//   teardown  `stop` every worker, SIGKILL what does not exit, then
//             `integrity` on a fresh connection
// then the checkers judge the history (check/checkers.hpp).
//
// One writer: everything, including the asio handlers that read worker
// output, runs on the calling thread, which alone appends to the history.
// Every wait has a deadline; a stopped worker is continued before it is
// asked to stop; a worker that does not exit is killed. The runner never
// hangs on a dead, stopped or silent worker.
//
// Thread safety: run_scenario() may be called from several threads at once
// for different scenarios and directories; the runner itself is
// single-threaded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "check/checkers.hpp"
#include "progress.hpp"
#include "scenario.hpp"

namespace pjx::harness {

struct RunOptions {
  std::string worker_cmd;              // the worker's command line (split like a shell)
  bool worker_cmd_is_default = true;   // not given by the user (left out of rerun commands)
  std::optional<std::string> timing;   // --timing; else the scenario's `timing`, else quick
  std::uint64_t seed = 1;
  std::filesystem::path dir;           // the scenario runs in dir/<name>/
  std::filesystem::path history_dir;   // histories and worker stderr files go here
  std::string run_id;                  // random hex; channels are "pjx-test:<run_id>[:name]"
  std::string harness_version;
  // The backend under test: "sqlite" (workers get PJX_INVALIDATION_DB) or
  // "redis" (workers get REDIS_URL; no database probes). The scenario must
  // apply to it (Scenario::for_backend() gives the variant to run).
  std::string backend = "sqlite";
  // redis: a running server's URL (--redis-url); empty: the runner starts its
  // own redis-server for each scenario in <dir>/<name>/redis/ and stops it at
  // the end. Faults that need the server itself (redis_restart, a
  // pubsub_limit) are `skip` against a given URL.
  std::string redis_url;
  // Progress lines within a long workload (progress.hpp); null: none.
  ProgressLog* progress = nullptr;
};

struct ScenarioResult {
  std::string name;
  std::string file;  // as shown to the user (relative to the working directory when inside it)
  std::string guarantee;
  std::string expect;
  std::string timing;
  std::string backend = "sqlite";  // the backend it ran against
  std::uint64_t seed = 1;
  ScenarioVerdict verdict;
  double duration_s = 0;
  std::filesystem::path history;  // the history file written
  std::string rerun;              // the command that reruns this scenario
  bool interrupted = false;       // SIGINT/SIGTERM arrived: stop running scenarios
  int interrupt_signal = 0;       // which of the two (the exit status is 128 + it)
};

// Runs `scenario` (as Scenario::for_backend(options.backend) gives it; the
// result's name is "redis/<name>" for the Redis backend). SIGINT and SIGTERM are caught while it runs: the
// scenario then ends through teardown with verdict `error` and
// `interrupted` set. Never throws for anything that happens while running
// (workers that crash, faults that fail, a worker command that does not
// exist): those end as verdict `error` or `skip` with the reason. Throws
// std::runtime_error only when the history file cannot be written.
ScenarioResult run_scenario(const Scenario& scenario, const RunOptions& options);

// The command that reruns one scenario with the same seed and timing.
std::string rerun_command(const std::string& file, const RunOptions& options,
                          const std::string& timing);

// `path` relative to the working directory when it lies inside it.
std::string display_path(const std::filesystem::path& path);

}  // namespace pjx::harness
