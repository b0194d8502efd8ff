// `pjx-harness chaos`: seeded fault schedules composed at random, run as a
// series of epochs, each judged by the suite's checks, with proof that each
// fault kind reached the code path it targets, and a shrunk reproducer for
// the first violation.
//
// One epoch is one plan (chaos_plan.hpp) run by the ordinary runner in a
// fresh folder with fresh workers; its history is judged when it ends and
// only counters are kept, so a long soak holds one epoch's events in memory
// at a time. Violations are attributed to the implementation of the worker
// they name: those of the reference fail the run, those of an
// implementation listed in ChaosOptions::documented_failures (the upstream
// emulation: stale data after a stall past retention, a replaced file, a
// clock step) are counted and reported as what that implementation is
// documented to do.
//
// On the first violation of the reference the epoch's plan is written as
// `failing.toml` (`pjx-harness run failing.toml` replays it), then shrunk
// within a time budget: the faults after the first violation and the
// workload after it are cut, then faults are dropped (in halves, then one
// by one), workers the remaining faults do not need are dropped, and fault
// windows are halved, each step kept only when a rerun (several, since a
// real-process run is not deterministic) still fails one of the same
// checks. The smallest plan is `minimal.toml`, with the command that reruns
// it.
//
// Thread safety: single-threaded (it drives run_scenario()).
#pragma once

#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "chaos_plan.hpp"
#include "check/model.hpp"
#include "runner.hpp"

namespace pjx::harness {

struct ChaosOptions {
  ChaosConfig config;
  double duration_s = 120;       // workload time in all; epochs run until it is spent
  Timing timing = Timing::quick();
  RunOptions run;                // worker_cmd (the reference), dir, history_dir, backend, ...
  std::filesystem::path out;     // plans, histories, summary.json, failing.toml, minimal.toml
  bool doublecheck = false;      // run every plan twice; a differing verdict is reported
  bool require_effect = false;   // a fault kind that never reached its path is an error
  bool keep_going = false;       // go on after a violation (no shrinking)
  double shrink_budget_s = 300;  // 0: no shrinking
  int shrink_runs = 2;           // reruns per shrinking candidate
  std::set<std::string> documented_failures = {"python"};
  std::string command;           // the chaos command line, for the summary
};

// What the faults of one kind did over a run.
struct FaultEffect {
  int planned = 0;   // in the plans
  int applied = 0;   // recorded by the runner (a kill of a worker already gone is not)
  int reached = 0;   // reached the path it targets (see chaos.cpp, effect rules)
  int judged = 0;    // applied ones whose path can be told from the history
};

// One applied fault of a chaos kind: an entry of summary.json's `schedule`.
struct ChaosFault {
  int epoch = 0;
  std::string kind;    // the chaos kind: "pause", "power-loss", ...
  std::string worker;  // "" when the fault names no worker
  // Seconds of workload time: the epochs laid end to end by their workload
  // length (chaos_faults() gives them from its epoch's workload start).
  double begin_s = 0;
  double end_s = 0;             // == begin_s for an instant fault
  std::optional<bool> reached;  // by the effect rules; nullopt: not judged
};

struct ChaosSummary {
  int epochs = 0;
  int epochs_failed = 0;
  int epochs_error = 0;
  std::size_t publishes = 0;  // acknowledged publishes, writes and bursts' publishes
  std::size_t reads = 0;      // answered reads
  std::size_t flushes = 0;
  std::map<std::string, FaultEffect> effects;  // by chaos fault kind
  std::vector<ChaosFault> schedule;            // every applied fault, all epochs
  std::vector<double> epoch_workload_s;        // each epoch's workload length
  std::map<std::string, std::size_t> violations;  // reference, by check
  std::map<std::string, std::size_t> documented;  // "impl:check" -> count
  // Checks that failed only because the epoch did not exercise what they
  // judge (faults may disturb it: a race's writer killed): by check.
  std::map<std::string, std::size_t> not_exercised;
  std::vector<std::string> doublecheck_differences;
  std::vector<std::string> errors;  // epochs that could not run, with the reason
  std::string failing_plan;         // path of failing.toml, when one was written
  std::string minimal_plan;         // path of minimal.toml
  std::string rerun;                // the command that reruns the minimal plan
  int failing_faults = 0, minimal_faults = 0;
  int failing_ops = 0, minimal_ops = 0;
};

// Runs the chaos test, printing a progress line per epoch to `progress`
// (when not null) and the summary to `out`. Writes summary.json into
// options.out. Returns 0 (no violation of the reference, every epoch ran),
// 1 (a violation), 2 (an epoch could not run, or --require-effect and a
// fault kind never reached its path).
int run_chaos(const ChaosOptions& options, std::ostream& out, std::ostream* progress);

// The applied faults of chaos kinds in one epoch's history: its fault
// windows in begin order, without the helpers of another kind (a restart
// and the kill before it, a snapshot, a clock stepped back), each judged by
// the effect rules (chaos.cpp) under `timing`. Epoch 0; times in seconds
// from the history's workload start; an open window ends at the history's end.
std::vector<ChaosFault> chaos_faults(const HistoryModel& model, const Timing& timing);

// summary.json's `schedule`: one object per fault with epoch, kind, worker
// (null when none), begin_s and end_s (rounded to the millisecond) and
// reached (true, false or null).
Json chaos_schedule_json(const std::vector<ChaosFault>& schedule);

}  // namespace pjx::harness
