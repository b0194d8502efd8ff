// Results: what pjx-harness prints and writes after running or analysing
// scenarios: the table a person reads, the evidence and rerun command of
// each failure, results.json (schema in harness/HISTORY.md), JUnit XML, and
// the machine description recorded with them.
//
// Thread safety: functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "check/history.hpp"
#include "runner.hpp"

namespace pjx::harness {

// The project's version (impl/include/pjx/version.hpp, through CMake).
inline constexpr const char* kHarnessVersion = PJX_HARNESS_VERSION;

struct RunSummary {
  std::string command;     // the command line that ran, for the record
  std::string started_at;  // ISO 8601 UTC
  double duration_s = 0;
  std::string worker_cmd;
  std::string timing;  // "quick", "documented", or "mixed"
  std::uint64_t seed = 1;
  std::filesystem::path dir;  // the run directory (for the filesystem type)
  std::vector<ScenarioResult> results;
};

// hostname, kernel (uname), cpus, memory_gib, sqlite (library version) and
// the filesystem type of `dir` (from /proc/self/mounts, else statfs).
Json machine_info(const std::filesystem::path& dir);

// `git rev-parse --short HEAD` in the working directory, else in the source
// tree pjx-harness was built from, else "unknown".
std::string commit_id();

// The current UTC time as "2026-11-26T12:00:00Z".
std::string utc_now_iso();

// results.json for `summary`; history paths are made relative to the
// folder of `results_file`.
Json results_json(const RunSummary& summary, const std::filesystem::path& results_file);

// Writes results.json (creating its folder). Throws std::runtime_error.
void write_results(const RunSummary& summary, const std::filesystem::path& results_file);

// JUnit XML of results_json(summary), as pjx-report writes it (the one
// JUnit writer: pjx::reports::junit_xml): one testsuite, one testcase per
// scenario; `fail` and `error` verdicts become <failure>/<error> with the
// evidence, `skip` <skipped>.
std::string junit_xml(const RunSummary& summary);

// The table: scenario, guarantee (shortened), verdict, measured, bound; one
// row per check, then a summary line.
void print_table(std::ostream& out, const std::vector<ScenarioResult>& results);

// For each scenario that failed or could not run: its reason, the evidence
// of its failing checks and the command that reruns it.
// `histories_kept` false: the histories are removed with the run folder, so
// no path is printed for them.
void print_failures(std::ostream& out, const std::vector<ScenarioResult>& results,
                    bool histories_kept = true);

// 0 when every scenario held (pass, reproduced, skip), 1 when any failed,
// else 2 when any could not run (error).
int exit_code(const std::vector<ScenarioResult>& results);

// The reference profile (`conform --require-caps`): an implementation held
// to the reference's guarantees may not opt out of one by not advertising a
// capability. A scenario skipped because a worker lacks a capability it
// requires, and a check skipped because no worker has the capability it
// judges (stale_reads without `reads`), become `fail`, with the reason.
// Skips for what the host lacks (root, libfaketime, user namespaces) stay
// `skip`. Returns whether `result` changed.
bool apply_required_caps(ScenarioResult& result);

// A result rebuilt from a saved history and its verdict (for `analyze`).
ScenarioResult result_from_history(const std::filesystem::path& history_file,
                                   const std::vector<Json>& history);

}  // namespace pjx::harness
